"""Undo journals: the old values of exactly what a write will change.

A journal is written (0600, fsynced, renamed into place) before the write
transaction starts. For a key row it stores the row's old value; for the
settings blob only the fields the write changes, each as the exact JSON text
it had (or that it was missing). New values are kept only as SHA-256 digests,
so `undo` can tell whether someone changed a row or a field since.

Format 3 (this one) is format 2 with, for each settings field whose new value
is not secret (a provider's on/off toggle, a model list), that new value
as its JSON text (`"new"`): what this write left,
so `list` and `doctor` can tell what Cursor changed since (checks/kept.py).
A key's new value is never kept, only its digest. Format 2 journals are read
as before (they only lack `"new"`).

Format 2 puts a one-line header (id, database, command, the rows
touched) before the body, and the database's tag in the file name
(`<id>.<tag>.json`), so listing reads only this database's files and only
their first line. An undo's header also names the journal it restored
(`"undoes": ID`; older undos are known by their command, `undo ID`), so a
write that an undo restored is known as undone (changes/history.py). Format 1
journals (the whole old blob in the body) are still read when they hold key
rows only; one that holds the settings blob is refused, since it would
restore the whole blob, not just the BYOK fields.

Journals live in the tool's own data dir (platformdirs), or
$CURSOR_BYOK_DATA_DIR. On POSIX, a data or journal folder that another user
owns, or that others may write to, is refused: its journals could be forged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

import platformdirs

from ..cursor import blob_patch
from ..cursor.paths import command_for
from ..cursor.rows import (
    BLOB_KEY,
    EXTRA_KEY_ROW,
    MODEL_BLOB_PATHS,
    PROVIDER_ROW,
    SECRET_PREFIX,
    blob_paths,
    is_encrypted_row,
    secret_row_kind,
)
from ..cursor.store import RowWrite
from ..errors import ByokError, InputError, NothingToUndo
from ..key_shapes import NOT_SHOWN, secret_in_path
from ..private_files import ensure_private_dir, open_regular, read_small, remove_stale_temps, write_private
from ..providers import registry

FORMAT = "cursor-byok-journal"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
HEADER_VERSIONS = (2, 3)  # formats whose first line is a header
HEADER_MAX = 64 * 1024  # a header line is far smaller; a longer first line is not a format-2 header
JOURNAL_MAX = 64 << 20  # a journal holds a few rows and settings fields; a larger file is not one
_TAG = re.compile(r"[0-9a-f]{12}")
_ID = re.compile(r"[0-9]{8}T[0-9]{6}(\.[0-9]{3})?Z-[0-9a-f]+")

# Rows a journal may restore: provider key rows, in plain or secret:// form, and
# unknown providers' secret:// rows, but never Cursor's own login and account rows
# (cursor.rows.is_cursor_own is the one list of those).
KEY_ROW_PREFIXES = ("cursorAuth/", "secret://cursorAuth/")


class JournalDamaged(InputError):
    """An undo journal exists for this database but cannot be trusted."""


class JournalRefused(InputError):
    """An undo journal would restore something this tool never writes, or is of a format it cannot use."""


class JournalUnsafe(JournalRefused):
    """An undo journal's old values are not what this tool writes (a wrong type, an endpoint no write would
    accept, JSON that would change other settings): it may be forged, so nothing of it is restored."""


# --- values -----------------------------------------------------------------------------


def digest(value: Any) -> str | None:
    if value is None:
        return None
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return hashlib.sha256(data).hexdigest()


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return {"base64": base64.b64encode(bytes(value)).decode()}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["base64"])
    return value


# --- folders ----------------------------------------------------------------------------


def data_dir() -> Path:
    override = os.environ.get("CURSOR_BYOK_DATA_DIR")
    if override:
        if secret_in_path(override):  # a key pasted as --data-dir would become a folder's name
            raise InputError(f"--data-dir (CURSOR_BYOK_DATA_DIR) {NOT_SHOWN} looks like a key; give a folder")
        return Path(override)
    return Path(platformdirs.user_data_path("cursor-byok", appauthor=False))


def journal_dir(folder: Path | None = None) -> Path:
    return Path(folder) if folder else data_dir() / "journals"


def check_owned(folder: Path) -> None:
    """Refuse a folder another user owns or others may write to (POSIX; on Windows the
    profile folder's ACL protects it). A missing folder is fine: the tool creates it 0700."""
    if not hasattr(os, "getuid"):
        return
    try:
        st = os.stat(folder)
    except OSError:
        return
    if st.st_uid != os.getuid():
        raise JournalRefused(
            f"{folder}: belongs to another user, so its undo journals could be forged; "
            "set CURSOR_BYOK_DATA_DIR to a folder of your own"
        )
    if stat.S_IMODE(st.st_mode) & 0o022:
        raise JournalRefused(
            f"{folder}: others may write to it, so its undo journals could be forged; "
            f"check what is in it, then `chmod 700 {folder}`"
        )


def _checked_dirs(folder: Path | None) -> Path:
    """The journal folder, after checking it and (for the default place) the data dir above it."""
    target = journal_dir(folder)
    if folder is None:
        check_owned(data_dir())
    check_owned(target)
    return target


def db_tag(db: Path) -> str:
    """12 hex digits naming the database in journal file names."""
    return hashlib.sha256(str(Path(db).resolve()).encode("utf-8")).hexdigest()[:12]


def new_id() -> str:
    """UTC time to the millisecond, then 6 random hex digits: ids sort in the order they were made.

    (Whole seconds alone let two writes within one second sort at random, so
    `undo` could pick the older one.)
    """
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000))
    return f"{stamp}.{now // 1_000_000 % 1000:03d}Z-{secrets.token_hex(3)}"


# --- entries ----------------------------------------------------------------------------


@dataclass
class Entry:
    """One journal: its header, read first; the body (each row's old value) read when needed."""

    id: str
    created: str
    db: str
    command: str
    keys: tuple[str, ...]
    path: Path
    version: int = VERSION
    _rows: tuple[dict[str, Any], ...] | None = field(default=None, repr=False)
    _body_at: int = 0  # where the body starts in the file (format 2)
    undoes: str | None = None  # the journal an undo restored (header field "undoes")

    @property
    def undone_id(self) -> str | None:
        """The id of the journal this one undid: the header says it; an undo written before the header
        had that field is known by its command, `undo ID`."""
        if self.undoes:
            return self.undoes
        words = self.command.split(" ")
        return words[1] if len(words) == 2 and words[0] == "undo" and _ID.fullmatch(words[1]) else None

    @property
    def rows(self) -> tuple[dict[str, Any], ...]:
        """The body's rows: {"key", "old", "new_sha256"} or, for the settings blob, {"key", "fields", ...}."""
        if self._rows is None:
            self._rows = _read_body(self)
        return self._rows

    @property
    def damaged(self) -> bool:
        return not self.rows or not all(map(_row_ok, self.rows))

    @property
    def header_damaged(self) -> bool:
        """Damaged as far as the header tells (format 2: no rows named); older journals, read whole, in full."""
        return not self.keys if self._rows is None else self.damaged

    def refusal(self) -> str | None:
        """Why this journal must not be used, or None: it restores only what the tool writes."""
        for row in self.rows:
            key = row["key"]
            if "fields" in row:
                bad = [p for p in (f["path"] for f in row["fields"]) if not byok_blob_path(p)]
                if key != BLOB_KEY or bad:
                    what = ".".join(bad[0]) if bad else key
                    return f"it would restore {what}, which is not a BYOK setting this tool writes"
            elif key == BLOB_KEY and row["old"] is not None:
                return (
                    "it was written by an older cursor-byok (format 1) and restores the whole settings blob, "
                    "while this version restores only the BYOK fields inside it"
                )
            elif key != BLOB_KEY and not byok_row(key):
                return f"it would restore row {key!r}, which is not a provider key this tool writes"
        return None

    def old_values(self) -> dict[str, Any]:
        """Old values of the plain rows (the settings blob is restored field by field)."""
        return {r["key"]: _decode(r["old"]) for r in self.rows if "fields" not in r}

    def blob_fields(self) -> list[dict[str, Any]]:
        return [f for r in self.rows if "fields" in r for f in r["fields"]]


def byok_row(key: str) -> bool:
    """A provider key row (plain or secret://), not one of Cursor's own cursorAuth rows."""
    for prefix in KEY_ROW_PREFIXES:
        if key.startswith(prefix):
            name = key[len(prefix) :]
            if prefix == "cursorAuth/":
                return name in registry().key_row_names.values()
            return bool(name) and secret_row_kind(name) in (PROVIDER_ROW, EXTRA_KEY_ROW) and "/" not in name
    return False


def byok_blob_path(path: Any) -> bool:
    """A path inside the settings blob that holds BYOK data (the fields of profile.BLOB_PATHS, model selections)."""
    if not isinstance(path, (list, tuple)) or not all(isinstance(p, str) for p in path):
        return False
    path = tuple(path)
    if path in blob_paths().values():
        return True
    return len(path) == 4 and path[:2] == ("aiSettings", "modelConfig") and path[3] == "modelName"


def _row_ok(row: Any) -> bool:
    """A journal row as record() writes it: a key, an old value (or changed fields), the new value's digest."""
    if not isinstance(row, dict) or not isinstance(row.get("key"), str):
        return False
    if "fields" in row:
        fields_ok = isinstance(row["fields"], list) and all(map(_field_ok, row["fields"]))
        return fields_ok and row.get("row") in (None, "created", "deleted")
    if "old" not in row:
        return False
    old, new = row["old"], row.get("new_sha256")
    old_ok = old is None or isinstance(old, str) or (isinstance(old, dict) and isinstance(old.get("base64"), str))
    return old_ok and (new is None or isinstance(new, str))


def _field_ok(f: Any) -> bool:
    return (
        isinstance(f, dict)
        and isinstance(f.get("path"), list)
        and all(isinstance(p, str) for p in f["path"])
        and (f.get("old") is None or isinstance(f.get("old"), str))
        and isinstance(f.get("absent_from", 0), int)
        and (f.get("new_sha256") is None or isinstance(f.get("new_sha256"), str))
        and (f.get("new") is None or isinstance(f.get("new"), str))
    )


# --- writing ----------------------------------------------------------------------------


def record(
    db: Path,
    rows: Mapping[str, Any],
    writes: Iterable[RowWrite],
    *,
    command: str,
    folder: Path | None = None,
    undoes: str | None = None,
) -> Entry:
    """Write the journal for `writes` against the current `rows`; an undo names the journal it restores (`undoes`)."""
    folder = ensure_private_dir(_checked_dirs(folder))
    remove_stale_temps(folder)  # remains of a journal write that was killed before its rename
    jid = new_id()
    body = tuple(_journal_row(w, rows.get(w.key)) for w in writes)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    resolved = str(Path(db).resolve())
    keys: list[str] = [r["key"] for r in body]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "id": jid,
        "created": created,
        "db": resolved,
        "command": command,
        "keys": keys,
        **({"undoes": undoes} if undoes else {}),
    }
    text = json.dumps(header)[:-1] + ",\n" + '"rows": ' + json.dumps(list(body), indent=1) + "}\n"
    path = write_private(folder / f"{jid}.{db_tag(db)}.json", text.encode("utf-8"))
    return Entry(jid, created, resolved, command, tuple(keys), path, VERSION, body, 0, undoes)


def _journal_row(write: RowWrite, old: Any) -> dict[str, Any]:
    """The old value of a plain row; for the settings blob, the old text of each field the write changes.

    A settings blob the write creates (a fresh install has none) or removes (an
    undo of that) is journaled field by field too, against an empty object,
    with `"row": "created"` or `"deleted"`, so undo and redo put it back
    exactly and never restore a whole blob.
    """
    paths = getattr(write, "fields", ())
    new = write.value
    texts = all(v is None or isinstance(v, str) for v in (old, new)) and not (old is None and new is None)
    if write.key != BLOB_KEY or not texts or not paths:
        return {"key": write.key, "old": _encode(old), "new_sha256": digest(new)}
    before, after = old if isinstance(old, str) else "{}", new if isinstance(new, str) else "{}"  # text or None
    fields = []
    for path in dict.fromkeys(tuple(p) for p in paths):
        span = blob_patch.locate(before, path)
        entry: dict[str, Any] = {"path": list(path)}
        if isinstance(span, tuple):
            entry["old"] = before[span[0] : span[1]]
        else:
            entry["old"], entry["absent_from"] = None, span
        new_text = blob_patch.raw_at(after, path)
        entry["new_sha256"] = digest(new_text)
        if new_text is not None and path in kept_paths():
            entry["new"] = new_text  # not a secret: what this write left, to tell later what Cursor changed
        fields.append(entry)
    row: dict[str, Any] = {"key": write.key, "fields": fields, "old_sha256": digest(old), "new_sha256": digest(new)}
    if old is None or new is None:
        row["row"] = "created" if old is None else "deleted"
    return row


def kept_paths() -> frozenset[tuple[str, ...]]:
    """Settings-blob paths whose new value a journal keeps in clear: the providers' toggles and the model lists.
    Never a key, nor a base URL or another setting that could hold one."""
    paths = blob_paths()
    return frozenset((*(paths[f] for f in registry().toggle_fields), *MODEL_BLOB_PATHS.values()))


# --- reading ----------------------------------------------------------------------------


def _split_name(name: str) -> tuple[str, str | None]:
    """(id, database tag or None) from `<id>.<tag>.json` (format 2) or `<id>.json` (format 1)."""
    stem = name[: -len(".json")]
    head, _, tail = stem.rpartition(".")
    return (head, tail) if head and _TAG.fullmatch(tail) else (stem, None)


def _read_header(path: Path, whole: bool = False) -> Entry | None:
    """The entry of a journal from its first line (with `whole`, its body too, from the same read);
    a format-1 file is read whole. None when not a journal."""
    try:
        if whole:  # header and body in one read and one parse
            return _whole(json.loads(read_small(path, JOURNAL_MAX)), path)
        with open_regular(path) as fh:  # a FIFO or a device in the folder is not a journal, and never blocks
            first = fh.readline(HEADER_MAX)
            line = first.decode("utf-8").rstrip()
            if line.endswith(","):
                doc = json.loads(line[:-1] + "}")
                if doc.get("format") == FORMAT and doc.get("version") in HEADER_VERSIONS:
                    keys = tuple(k for k in doc["keys"] if isinstance(k, str))
                    return Entry(*_texts(doc), keys, path, doc["version"], None, len(first), _undoes(doc))
            doc = json.loads(first + _bounded_rest(fh, len(first)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return _whole(doc, path)


def _bounded_rest(fh: BinaryIO, already: int) -> bytes:
    """The rest of a journal file, at most JOURNAL_MAX in all (a larger one is not a journal)."""
    rest = fh.read(JOURNAL_MAX + 1 - already)
    if already + len(rest) > JOURNAL_MAX:
        raise ValueError("larger than any journal")
    return rest


def _texts(doc: dict[str, Any]) -> tuple[str, str, str, str]:
    """id, created, db and command as text, whatever a damaged or hand-edited file holds (they sort and print)."""
    jid, created, db, command = (str(doc[k]) for k in ("id", "created", "db", "command"))
    return jid, created, db, command


def _whole(doc: Any, path: Path) -> Entry | None:
    """An entry from a whole journal document (format 1, or a format-2 file rewritten on one line)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    version = doc.get("version")
    if version not in READABLE_VERSIONS:
        jid, created = str(doc.get("id", _split_name(path.name)[0])), str(doc.get("created", "?"))
        number = version if isinstance(version, int) else -1
        return Entry(jid, created, str(doc.get("db")), str(doc.get("command", "?")), (), path, number, ())
    try:
        rows = tuple(doc["rows"])
        keys = doc.get("keys") if version in HEADER_VERSIONS and isinstance(doc.get("keys"), list) else None
        if keys is None:
            keys = [r.get("key") for r in rows if isinstance(r, dict)]
        keys = tuple(k for k in keys if isinstance(k, str))
        return Entry(*_texts(doc), keys, path, version, rows, 0, _undoes(doc))
    except (KeyError, TypeError):
        return None


def _undoes(doc: dict[str, Any]) -> str | None:
    value = doc.get("undoes")
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _read_body(entry: Entry) -> tuple[dict[str, Any], ...]:
    """The rows of a format-2 journal: the file from the end of its header on."""
    try:
        with open_regular(entry.path) as fh:
            fh.seek(entry._body_at)
            return _parse_body(_bounded_rest(fh, entry._body_at))
    except (OSError, ValueError):
        return ()


def _parse_body(data: bytes) -> tuple[dict[str, Any], ...]:
    try:
        return tuple(json.loads(b"{" + data)["rows"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return ()


def _this_dbs_files(folder: Path, db: Path | None) -> Iterator[Path]:
    """Journal files, newest first; for `db`, only its own and those without a tag (format 1)."""
    tag = db_tag(db) if db is not None else None
    with os.scandir(folder) as listing:
        names = [e.name for e in listing if e.name.endswith(".json") and not e.name.startswith(".")]
    named = [(*_split_name(n), n) for n in names]
    for _jid, ftag, name in sorted(named, key=lambda t: t[0], reverse=True):
        if tag is None or ftag in (tag, None):
            yield folder / name


def entries(folder: Path | None = None, db: Path | None = None, *, bodies: bool = False) -> list[Entry]:
    """Journals, newest first; only those for `db` when given. Only headers are read (bodies load
    when used), unless `bodies` asks for every body, read in the same pass."""
    folder = _checked_dirs(folder)
    if not folder.is_dir():
        return []
    target = str(Path(db).resolve()) if db is not None else None
    found = []
    for path in _this_dbs_files(folder, db):
        entry = _read_header(path, bodies)
        if entry is not None and (target is None or entry.db == target):
            found.append(entry)
    return sorted(found, key=lambda e: e.id, reverse=True)


def usable(entry: Entry) -> Entry:
    """The entry, or a one-line refusal: damaged, of an unknown format, or restoring what the tool never writes."""
    if entry.version not in READABLE_VERSIONS:
        raise JournalRefused(
            f"{entry.path}: an undo journal of format {entry.version}, which this cursor-byok cannot read; "
            f"use the cursor-byok that wrote it, or delete it with `{_purge(entry)}`"
        )
    if entry.damaged:
        raise JournalDamaged(
            f"{entry.path}: this undo journal is damaged (a row lacks its key or old value); "
            "move it aside and run undo again, or restore by hand"
        )
    why = entry.refusal()
    if why:
        raise JournalRefused(
            f"{entry.path}: refused, {why}; restore by hand if you trust it, or delete it with `{_purge(entry)}`"
        )
    return entry


def find(journal_id: str | None, folder: Path | None = None, db: Path | None = None) -> Entry:
    """The given journal (or the newest) for `db`, checked with usable()."""
    found = entries(folder, db)
    if journal_id:
        found = [e for e in found if e.id == journal_id or e.id.startswith(journal_id)]
    if not found:
        what = f"journal {journal_id!r}" if journal_id else "journal for this database"
        raise NothingToUndo(f"no {what}; `{command_for(None, 'undo --list', db=db)}` shows what can be undone")
    return usable(found[0])


def _purge(entry: Entry) -> str:
    """The command that deletes this journal, naming its database so that it works when pasted."""
    return command_for(None, f"undo --purge {entry.id} --yes", db=entry.db)


EMPTY_SECRET = '{"type":"Buffer","data":[]}'


def key_rows(entry: Entry) -> list[str]:
    """Rows and settings fields whose old value, kept in this journal, is a key (plain or encrypted), or any
    encrypted row (an MCP token, an extension's secret): no write of this tool journals one, and undo refuses
    to restore one, but a journal that holds one holds a secret."""
    key_paths = {slot.blob for slot in registry().key_slots.values() if slot.blob}
    out = []
    for row in entry.rows if not entry.damaged else ():
        if "fields" in row:
            out += [".".join(f["path"]) for f in row["fields"] if tuple(f["path"]) in key_paths
                    and f["old"] not in (None, '""', "null", '"iam"')]  # fmt: skip
        elif (byok_row(row["key"]) or is_encrypted_row(row["key"])) and row["old"] not in (None, "", EMPTY_SECRET):
            out.append(row["key"])
    return out


def last_written(db: Path, prefix: str, folder: Path | None = None) -> dict[str, Entry]:
    """Rows under `prefix` whose last write by this tool (undo included) gave them a value: key -> that journal.

    Headers decide which journals matter; only their bodies are read.
    """
    last: dict[str, tuple[Entry, str | None]] = {}
    for entry in reversed(entries(folder, db)):  # oldest first
        if not any(isinstance(k, str) and k.startswith(prefix) for k in entry.keys) or entry.damaged:
            continue
        for row in entry.rows:
            key = row.get("key")
            if isinstance(key, str) and key.startswith(prefix):
                last[key] = (entry, row.get("new_sha256"))
    return {key: entry for key, (entry, new) in last.items() if new is not None}


def vanished_keys(db: Path, rows: Mapping[str, Any]) -> dict[str, str]:
    """Row -> note, for secret:// key rows this tool wrote that are gone now (Cursor deletes what it cannot decrypt)."""
    notes = {}
    try:
        written = last_written(db, SECRET_PREFIX)
    except ByokError:  # a journal folder the tool refuses: undo and writes say so; a read goes on
        return {}
    for key, entry in sorted(written.items()):
        if key not in rows:
            notes[key] = (
                f"{key}, written by cursor-byok on {entry.created} ({entry.command}), is gone: Cursor deletes a "
                "secret:// row it cannot decrypt, so unless you removed it since (in Cursor's settings, or with "
                "a write whose journal you purged), it was most likely encrypted with a secret this Cursor does "
                "not use. Check the backend `cursor-byok where` "
                "reports against the one Cursor uses (argv.json password-store, desktop), then import or set the "
                "key again with the matching --safe-storage"
            )
    return notes
