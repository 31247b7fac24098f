"""What each Cursor version does: the version a database records, and what follows from it.

Two tables decide, and every other module asks them: KEY_FORMS (Cursor
version -> the key form it reads and the form cursor-byok writes) and
ROW_BACKENDS (OS scheme and ciphertext prefix -> the safe-storage backend
that wrote a `secret://` row). Pure functions over ItemTable rows;
docs/cursor-versions.md is the same rule in a table, with the evidence for
each row. Where the evidence is thin the answer is KeyForm.UNSURE and the
caller falls back on the rows it finds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .model import KeyForm

# Rows that record Cursor's version, most direct first (seen from 0.16 to 3.7).
VERSION_ROWS = ("releaseNotes/lastVersion", "cursorupdate.lastUpdatedAndShown.version", "update/lastKnownVersion")
BACKUP_SWITCH_ROW = "cursor.storage.disableSqliteStorageBackup"
FACT_ROWS = (*VERSION_ROWS, BACKUP_SWITCH_ROW)

_VERSION = re.compile(r"(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?")

# Cursor version (major, minor) from which on -> (the key form it reads, the form cursor-byok writes).
# UNSURE written: the rows' evidence decides (changes.diff.choose_key_form).
KEY_FORMS: tuple[tuple[tuple[int, int], KeyForm, KeyForm], ...] = (
    ((0, 0), KeyForm.PLAINTEXT, KeyForm.PLAINTEXT),  # plain cursorAuth/<x>Key rows, still on 2.0 and 2.1
    ((2, 2), KeyForm.UNSURE, KeyForm.UNSURE),  # no evidence either way
    ((2, 3), KeyForm.SECRET, KeyForm.SECRET),  # the 2.3 code reads secret://cursorAuth/*
)
NO_VERSION = (KeyForm.UNSURE, KeyForm.UNSURE)  # a database that records no version: the rows decide

FIRST_WITHOUT_BACKUPS = (3, 7)  # 3.7 turns state.vscdb.backup off

# The safe-storage backend that wrote a secret:// row, by OS scheme and ciphertext prefix (Chromium's OSCrypt).
# A KEYRING row opens with the chosen Linux keyring (secret-service or kwallet, or the secret given);
# on macOS and Windows the chosen backend (or the secret given) opens it.
BASIC, KEYRING, KEYCHAIN, DPAPI = "basic", "keyring", "keychain", "dpapi"
ROW_BACKENDS: dict[tuple[str, bytes], str] = {
    ("linux", b"v10"): BASIC,  # no keyring: the fixed 'peanuts' key
    ("linux", b"v11"): KEYRING,
    ("macos", b"v10"): KEYCHAIN,
    ("windows", b"v10"): DPAPI,
}
_BACKEND_WORDS = {KEYRING: "a keyring: secret-service or kwallet"}


def _text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def parse_version(value: Any) -> str | None:
    """ "3.7.42" from a version row: plain text, a JSON string, or a JSON object with a version."""
    text = _text(value)
    if not text:
        return None
    text = text.strip()
    if text[:1] in '"{':
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict):
            doc = doc.get("version")
        text = doc if isinstance(doc, str) else ""
    m = _VERSION.match(text.strip().lstrip("vV"))  # "3.8.0-nightly.1", "v3.7.42": the leading x.y.z counts
    return m.group(0) if m else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def recorded_version(rows: Mapping[str, Any]) -> str | None:
    """The version the most direct of Cursor's version rows records (after a downgrade the newest
    row may be stale); None when none does."""
    return next((v for v in (parse_version(rows.get(r)) for r in VERSION_ROWS) if v), None)


def key_forms(version: str | None) -> tuple[KeyForm, KeyForm]:
    """(the key form this Cursor version reads, the form cursor-byok writes for it), from KEY_FORMS."""
    if version is None:
        return NO_VERSION
    major_minor = version_tuple(version)[:2]
    found = NO_VERSION
    for since, read, written in KEY_FORMS:
        if major_minor >= since:
            found = (read, written)
    return found


def key_form_read(version: str | None) -> KeyForm:
    """The key form this Cursor version reads: PLAINTEXT, SECRET, or UNSURE (2.2, or no version)."""
    return key_forms(version)[0]


def key_form_written(version: str | None) -> KeyForm:
    """The key form cursor-byok writes for this Cursor version; UNSURE: the rows decide."""
    return key_forms(version)[1]


def row_backend(scheme: str, prefix: bytes) -> str | None:
    """The backend that wrote a secret:// row with this prefix on this OS scheme; None for a prefix it never writes."""
    return ROW_BACKENDS.get((scheme, prefix))


def row_prefixes(scheme: str) -> tuple[bytes, ...]:
    """The ciphertext prefixes Cursor writes on this OS scheme."""
    return tuple(prefix for (s, prefix) in ROW_BACKENDS if s == scheme)


def prefix_written(scheme: str, backend: str) -> bytes:
    """The prefix a backend's new values get: basic's on Linux, else the keyring's (macOS, Windows: their one)."""
    wanted = BASIC if backend == BASIC else KEYRING
    prefixes = row_prefixes(scheme)
    return next((p for p in prefixes if ROW_BACKENDS[(scheme, p)] == wanted), prefixes[0])


def row_backend_words(scheme: str, prefix: bytes) -> str:
    """The backend of a row in words, as `where` shows it under "stored keys need"."""
    backend = row_backend(scheme, prefix)
    return "unknown" if backend is None else _BACKEND_WORDS.get(backend, backend)


def backups_switched_off(rows: Mapping[str, Any]) -> bool:
    text = _text(rows.get(BACKUP_SWITCH_ROW))
    return text is not None and text.strip().strip('"').lower() == "true"


@dataclass(frozen=True)
class CursorFacts:
    """What the database says about the Cursor that wrote it.

    `backups`: False when Cursor turned `state.vscdb.backup` off, True when it
    makes one (a backup file is there, or the version is one that makes them),
    None when unknown.
    """

    version: str | None
    backups: bool | None
    # Where the version comes from: "database" (Cursor's version rows), "product.json" (the installed app's,
    # when the database records none: for display and as a tie-break only), None when there is none.
    version_source: str | None = None
    version_file: str | None = None  # the product.json read, when that is the source

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "version_source": self.version_source}
        if self.version_file:
            out["version_file"] = self.version_file
        return {**out, "backups": self.backups}

    json = to_json  # the JSON form documents embed (results.jsonable)

    def describe(self) -> str:
        version = f"Cursor {self.version}" if self.version else "Cursor version not recorded"
        if self.version_source == PRODUCT_JSON:
            version += " (the installed app's; the database records none)"
        backups = {True: "makes state.vscdb.backup", False: "backups off", None: "backups unknown"}[self.backups]
        return f"{version}, {backups}"


DATABASE, PRODUCT_JSON = "database", "product.json"


def cursor_facts(rows: Mapping[str, Any], backup_exists: bool, installed: tuple[str, str] | None = None) -> CursorFacts:
    """What the rows say about Cursor; `installed` (version, product.json path) stands in for a version the
    database does not record, for display: backups are still decided from the database alone."""
    version = recorded_version(rows)
    if backups_switched_off(rows):
        backups: bool | None = False
    elif backup_exists:
        backups = True
    elif version is not None and version_tuple(version)[:2] < FIRST_WITHOUT_BACKUPS:
        backups = True
    else:
        backups = None
    if version is not None:
        return CursorFacts(version, backups, DATABASE)
    if installed is not None:
        return CursorFacts(installed[0], backups, PRODUCT_JSON, installed[1])
    return CursorFacts(None, backups)
