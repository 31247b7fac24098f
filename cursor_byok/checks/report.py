"""`report`: a redacted description of this Cursor, to attach to a bug report or compare between machines.

It says what Cursor this is and how it keeps keys (OS, version and its source, journal mode, backups, the
safe-storage backend and its evidence, the key forms present, the profiles), and names every row and settings
field under the BYOK places (`cursorAuth/`, `secret://cursorAuth/`, the settings blob's BYOK fields) that this
tool does not know, with its type and size; other rows and fields are only counted. Never a value: no key,
token, e-mail or URL; base64, hex, URL and e-mail parts inside names are replaced by their kind and length.
It decrypts nothing, so it asks no keyring.
"""

from __future__ import annotations

import base64
import binascii
import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import __version__
from ..cursor import blob_patch, paths
from ..cursor.reading import cursor_facts
from ..cursor.rows import (
    BLOB_KEY,
    ENCRYPTED_ROW_PREFIXES,
    PLAIN_PREFIX,
    SECRET_PREFIX,
    as_text,
    blob_paths,
    ciphertext,
    encrypted_prefixes,
    is_cursor_own,
    parse_blob,
    raw_value,
)
from ..cursor.store import Store
from ..providers import registry
from ..results import Result, internal
from ..safestorage import oscrypt
from ..versions import FACT_ROWS
from .surroundings import side_copy_paths

MAX_GROUPS = 100  # prefixes counted one by one; the rest are counted together
OTHER = "(other prefixes)"
SECRET_ROWS = "secret://"
BYOK_ROW_PREFIXES = ("cursorAuth/", "secret://cursorAuth/")

# Names in the settings blob that look like BYOK settings (a newer Cursor's provider): worth naming when unknown.
BYOK_LOOKING = re.compile(r"(?i)(api_?key|key$|base_?url|byok|^use\w*key)")
# aiSettings fields this tool reads or knows (the per-surface selections; before 1.4 the other four).
KNOWN_AI_SETTINGS = frozenset({"modelConfig", "composerModel", "cmdKModel", "openAIModel", "regularChatModel"})
# Account and machine fields of the settings blob (cursor-storage.md, section 3): known, never BYOK data.
KNOWN_ACCOUNT_FIELDS = frozenset(
    {"cursorCreds", "membershipType", "availableDefaultModels2", "availableAPIKeyModels", "teamSettings"}
)

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>\[\]{}|\\^`]+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SEGMENT = re.compile(r"[A-Za-z0-9+=]+")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")


# --- names without values --------------------------------------------------------------------------


def redact(name: str) -> str:
    """A row or field name with its URL, e-mail, base64 and hex parts replaced by `<kind:length>` (the
    `secret://` that starts VS Code's secret rows is a prefix, not a URL)."""
    if name.startswith(SECRET_ROWS):
        return SECRET_ROWS + redact(name[len(SECRET_ROWS) :])
    name = _URL.sub(lambda m: f"<url:{len(m.group(0))}>", name)
    name = _EMAIL.sub(lambda m: f"<email:{len(m.group(0))}>", name)
    return _SEGMENT.sub(_segment, name)


def _segment(match: re.Match[str]) -> str:
    seg = match.group(0)
    kind = encoded_kind(seg)
    return f"<{kind}:{len(seg)}>" if kind else seg


def encoded_kind(seg: str) -> str | None:
    """ "hex" or "base64" when a part of a name is an encoded value rather than a word; None for a word."""
    if len(seg) < 8:
        return None
    digits = sum(c.isdigit() for c in seg)
    if _HEX.fullmatch(seg) and digits >= 3:
        return "hex"
    upper, lower = sum(c.isupper() for c in seg), sum(c.islower() for c in seg)
    if len(seg) >= 20 and ("=" in seg or "+" in seg or (digits >= 2 and upper >= 3 and lower >= 3)):
        return "base64"
    core = seg.rstrip("=")
    if len(core) % 4 == 1 or "=" in core:
        return None
    try:
        raw = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    readable = len(raw) >= 6 and all(32 <= b < 127 for b in raw)
    return "base64" if readable and sum(chr(b).isalnum() for b in raw) >= 0.7 * len(raw) else None


def value_type(value: Any) -> str:
    """What kind of value a row holds, never the value: text, json-<type>, buffer-json (<prefix>), blob."""
    if isinstance(value, (bytes, bytearray, memoryview)) and as_text(value) is None:
        return "blob"
    text = as_text(value) or ""
    try:
        data = oscrypt.decode_buffer_json(text)
    except ValueError:
        data = None
    if data is not None:
        if not data:
            return "buffer-json (empty)"
        return (
            f"buffer-json ({oscrypt.prefix_of(data)})"
            if oscrypt.has_version_prefix(data)
            else "buffer-json (no prefix)"
        )
    try:
        return "json-" + json_type(json.loads(text))
    except (ValueError, RecursionError):
        return "text"


def json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), "unknown")


def size_of(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(bytes(value))
    return len(str(value).encode("utf-8", "replace"))


# --- the result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """A row or settings field under the BYOK places that this tool does not know: name (redacted), type, size."""

    place: str  # "row" or "settings blob"
    name: str
    type: str
    size: int
    # worth a `doctor` pointer: a cursorAuth/ row, or a field that looks like a BYOK setting (an unknown
    # provider's secret://cursorAuth key is not: list shows it and export carries it)
    notable: bool = internal(True)


@dataclass(frozen=True)
class Backend:
    """The safe-storage backend this tool would use, why, and the evidence the rows give."""

    name: str
    scheme: str
    chosen_by: str
    row_prefixes: tuple[str, ...]  # the ciphertext prefixes of the encrypted rows stored (v10, v11)


@dataclass(frozen=True)
class CursorReport(Result):
    """`report`: this Cursor, redacted (see the module docstring)."""

    tool: str
    os: str
    machine: str
    channel: str
    version: str | None
    version_source: str | None  # "database", "product.json" or None
    journal_mode: str | None
    backups: bool | None  # Cursor makes state.vscdb.backup: true, false (3.7 on), null unknown
    side_copies: int  # state.vscdb.backup and state.vscdb.corrupted.* files next to the database
    backend: Backend
    key_forms: Mapping[str, int]  # how the stored keys are kept -> how many
    profiles: int  # the default profile and every other one
    unknown: tuple[Unknown, ...]
    ignored: tuple[str, ...]  # settings people believe in that are set here; Cursor does not read them
    other_rows: Mapping[str, int]  # rows outside the BYOK places, counted by prefix
    other_blob_fields: int  # settings-blob fields that are no BYOK data, counted


# --- what is known ------------------------------------------------------------------------------------


def known_rows() -> tuple[frozenset[str], frozenset[str]]:
    """(names known after `cursorAuth/`, names known after `secret://cursorAuth/`): the providers' rows."""
    names = frozenset(registry().key_row_names.values())
    return names, names


def blob_places() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(top-level BYOK fields, container -> its known sub-fields), from the registry and the model lists."""
    top: set[str] = set()
    inner: dict[str, set[str]] = {}
    for path in blob_paths().values():
        top.add(path[0])
        if len(path) > 1:
            inner.setdefault(path[0], set()).add(path[1])
    inner.setdefault("aiSettings", set()).update(KNOWN_AI_SETTINGS)
    return frozenset(top), {k: frozenset(v) for k, v in inner.items()}


# --- the parts ----------------------------------------------------------------------------------------


def row_unknowns(rows: Mapping[str, Any], myths: Iterable[str]) -> list[Unknown]:
    """Rows under cursorAuth/ and secret://cursorAuth/ that are neither a provider's key row, one of Cursor's
    own account rows, nor a setting people believe in (those are `ignored`)."""
    plain, secret = known_rows()
    skip = set(myths)
    out = []
    for key in sorted(rows):
        if key in skip:
            continue
        for prefix, known in ((SECRET_PREFIX, secret), (PLAIN_PREFIX, plain)):
            if key.startswith(prefix):
                name = key[len(prefix) :]
                if name not in known and not is_cursor_own(name):
                    extra = prefix == SECRET_PREFIX  # an unknown provider's key: list and export carry it
                    out.append(Unknown("row", redact(key), value_type(rows[key]), size_of(rows[key]), not extra))
                break
    return out


def blob_unknowns(blob: Mapping[str, Any], myths: Iterable[str]) -> tuple[list[Unknown], int]:
    """(settings fields this tool does not know that sit where BYOK data lives or look like it, how many other
    top-level fields there are)."""
    top, inner = blob_places()
    skip = set(myths) | KNOWN_ACCOUNT_FIELDS
    out, others = [], 0
    for name, value in blob.items():
        if name in inner and isinstance(value, dict):
            for sub, subvalue in value.items():
                if sub not in inner[name]:
                    notable = name != "aiSettings"  # aiSettings holds many non-BYOK fields in 3.x
                    out.append(Unknown("settings blob", redact(f"{name}.{sub}"), *_field(subvalue), notable))
        elif name not in top and name not in skip and BYOK_LOOKING.search(name):
            out.append(Unknown("settings blob", redact(name), *_field(value)))
        elif name not in top:
            others += 1
    return sorted(out, key=lambda u: u.name), others


def _field(value: Any) -> tuple[str, int]:
    return json_type(value), len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def key_forms(rows: Mapping[str, Any], blob: Mapping[str, Any]) -> dict[str, int]:
    """How the stored keys are kept, counted, from the rows alone (nothing is decrypted)."""
    found: dict[str, int] = {}

    def count(form: str) -> None:
        found[form] = found.get(form, 0) + 1

    for key, value in rows.items():
        if key.startswith(SECRET_PREFIX) and not _own(key[len(SECRET_PREFIX) :]):
            blob_bytes = ciphertext(value)
            if blob_bytes:
                count(f"encrypted ({blob_bytes[:3].decode()})")
            elif raw_value(value):
                count("raw (written by another tool)")
        elif key.startswith(PLAIN_PREFIX) and key[len(PLAIN_PREFIX) :] in registry().key_row_names.values():
            count("plaintext row")
    for slot in registry().key_slots.values():
        held = blob_patch.get_path(dict(blob), slot.blob) if slot.blob else None
        if isinstance(held, str) and held and held not in registry().role_markers:
            count("settings-json")
    return dict(sorted(found.items()))


def _own(name: str) -> bool:
    return is_cursor_own(name)


def row_groups(keys: Iterable[str]) -> dict[str, int]:
    """Rows outside the BYOK places, counted by prefix (the part up to the first `/`, `.` or `:`), redacted."""
    counts: dict[str, int] = {}
    for key in keys:
        if key.startswith(BYOK_ROW_PREFIXES) or key == BLOB_KEY:
            continue
        if key.startswith(SECRET_ROWS):
            group = SECRET_ROWS
        else:
            m = re.match(r"[^/.:]*[/.:]?", key)
            group = redact(m.group(0) if m else key)
        counts[group] = counts.get(group, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ordered[:MAX_GROUPS])
    rest = sum(n for _g, n in ordered[MAX_GROUPS:])
    return {**kept, **({OTHER: rest} if rest else {})}


# --- the report -----------------------------------------------------------------------------------------


def read_rows(db: Any) -> tuple[dict[str, Any], list[str], str | None]:
    """(the rows under the BYOK places and Cursor's facts, every ItemTable key, the journal mode)."""
    with Store(db) as st:
        rows = st.get_items((BLOB_KEY, *FACT_ROWS), (*BYOK_ROW_PREFIXES, *ENCRYPTED_ROW_PREFIXES))
        return rows, st.keys(), st.journal_mode()


def unknown_entries(rows: Mapping[str, Any]) -> tuple[list[Unknown], int, list[str]]:
    """(the unknown rows and fields, how many other blob fields, the settings people believe in found)."""
    blob = parse_blob(rows, [])
    myths = registry().myths
    row_myths = [m.name for _p, m in myths if m.place == "row"]
    blob_myths = [m.name for _p, m in myths if m.place == "blob"]
    found_blob, others = blob_unknowns(blob, blob_myths)
    ignored = [n for n in row_myths if n in rows] + [n for n in blob_myths if n in blob]
    return [*row_unknowns(rows, row_myths), *found_blob], others, ignored


def home_relative(text: str) -> str:
    """Text with the home folder written `~` (a path in it names the user)."""
    home = str(Path.home())
    return text.replace(home, "~") if len(home) > 1 else text


def describe(inst: Any, storage: Any) -> CursorReport:
    """The report of one installation (`storage`: its SafeStorage, whose backend is only named, never asked)."""
    rows, keys, mode = read_rows(inst.db_path)
    facts = cursor_facts(inst, rows)
    found, others, ignored = unknown_entries(rows)
    backend = Backend(
        storage.backend,
        storage.scheme,
        redact(home_relative(storage.backend_reason)),
        tuple(sorted(p.decode(errors="replace") for p in encrypted_prefixes(rows))),
    )
    return CursorReport(
        tool=f"cursor-byok {__version__}",
        os=platform.system() or "unknown",
        machine=platform.machine() or "unknown",
        channel=inst.channel,
        version=facts.version,
        version_source=facts.version_source,
        journal_mode=mode,
        backups=facts.backups,
        side_copies=len(side_copy_paths(inst.db_path)),
        backend=backend,
        key_forms=key_forms(rows, parse_blob(rows, [])),
        profiles=1 + len(paths.profiles(inst)),
        unknown=tuple(found),
        ignored=tuple(ignored),
        other_rows=row_groups(keys),
        other_blob_fields=others,
    )
