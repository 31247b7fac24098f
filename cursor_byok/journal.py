"""Undo journals: the old values of exactly the rows a write will change.

A journal is written (0600, fsynced, renamed into place) before the write
transaction starts. It stores each row's old value and only a SHA-256 of the
new one, so `undo` can tell whether someone changed the row since.
Journals live in the tool's own data dir (platformdirs), or
$CURSOR_BYOK_DATA_DIR.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import InputError, NothingToUndo
from .files import ensure_private_dir, remove_stale_temps, write_private

FORMAT = "cursor-byok-journal"
VERSION = 1


def data_dir() -> Path:
    override = os.environ.get("CURSOR_BYOK_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_path("cursor-byok", appauthor=False))


def journal_dir(folder: Path | None = None) -> Path:
    return Path(folder) if folder else data_dir() / "journals"


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


@dataclass(frozen=True)
class Entry:
    """One journal: which database, which command, and each row's old value."""

    id: str
    created: str
    db: str
    command: str
    rows: tuple[dict, ...]  # {"key", "old", "new_sha256"}
    path: Path

    @property
    def damaged(self) -> bool:
        return not all(map(_row_ok, self.rows))

    def old_values(self) -> dict[str, Any]:
        return {r["key"]: _decode(r["old"]) for r in self.rows}


class JournalDamaged(InputError):
    """An undo journal exists for this database but cannot be trusted."""


def new_id() -> str:
    """UTC time to the millisecond, then 6 random hex digits: ids sort in the order they were made.

    (Whole seconds alone let two writes within one second sort at random, so
    `undo` could pick the older one.)
    """
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000))
    return f"{stamp}.{now // 1_000_000 % 1000:03d}Z-{secrets.token_hex(3)}"


def record(db: Path, rows: Mapping[str, Any], writes: Iterable, *, command: str, folder: Path | None = None) -> Entry:
    """Write the journal for `writes` against the current `rows`."""
    folder = ensure_private_dir(journal_dir(folder))
    remove_stale_temps(folder)  # remains of a journal write that was killed before its rename
    jid = new_id()
    entry_rows = tuple({"key": w.key, "old": _encode(rows.get(w.key)), "new_sha256": digest(w.value)} for w in writes)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "id": jid,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "db": str(Path(db).resolve()),
        "command": command,
        "rows": list(entry_rows),
    }
    path = write_private(folder / f"{jid}.json", json.dumps(doc, indent=1).encode("utf-8"))
    return Entry(jid, doc["created"], doc["db"], command, entry_rows, path)


def _row_ok(row: Any) -> bool:
    """A journal row as record() writes it: a key, an old value, the new value's digest."""
    if not isinstance(row, dict) or not isinstance(row.get("key"), str) or "old" not in row:
        return False
    old, new = row["old"], row.get("new_sha256")
    old_ok = old is None or isinstance(old, str) or (isinstance(old, dict) and isinstance(old.get("base64"), str))
    return old_ok and (new is None or isinstance(new, str))


def _load(path: Path) -> Entry | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        entry = Entry(doc["id"], doc["created"], doc["db"], doc["command"], tuple(doc["rows"]), path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return entry


def entries(folder: Path | None = None, db: Path | None = None) -> list[Entry]:
    """Journals, newest first; only those for `db` when given."""
    folder = journal_dir(folder)
    if not folder.is_dir():
        return []
    found = [e for e in map(_load, folder.glob("*.json")) if e is not None]
    if db is not None:
        target = str(Path(db).resolve())
        found = [e for e in found if e.db == target]
    return sorted(found, key=lambda e: e.id, reverse=True)


def find(journal_id: str | None, folder: Path | None = None, db: Path | None = None) -> Entry:
    found = entries(folder, db)
    if journal_id:
        found = [e for e in found if e.id == journal_id or e.id.startswith(journal_id)]
    if not found:
        what = f"journal {journal_id!r}" if journal_id else "journal for this database"
        raise NothingToUndo(f"no {what}; `cursor-byok undo --list` shows what can be undone")
    if found[0].damaged:
        raise JournalDamaged(
            f"{found[0].path}: this undo journal is damaged (a row lacks its key or old value); "
            "move it aside and run undo again, or restore by hand"
        )
    return found[0]


def last_written(db: Path, prefix: str, folder: Path | None = None) -> dict[str, Entry]:
    """Rows under `prefix` whose last write by this tool (undo included) gave them a value: key -> that journal."""
    last: dict[str, tuple[Entry, str | None]] = {}
    for entry in reversed(entries(folder, db)):  # oldest first
        for row in entry.rows:
            key = row.get("key") if isinstance(row, dict) else None
            if isinstance(key, str) and key.startswith(prefix):
                last[key] = (entry, row.get("new_sha256"))
    return {key: entry for key, (entry, new) in last.items() if new is not None}
