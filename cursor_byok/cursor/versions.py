"""What each Cursor version does: the version a database records, and what follows from it.

Pure functions over ItemTable rows; docs/cursor-versions.md is the same rule
in a table, with the evidence for each row. Where the evidence is thin the
answer is "unsure" and the caller falls back on the rows it finds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

# Rows that record Cursor's version, most direct first (seen from 0.16 to 3.7).
VERSION_ROWS = ("releaseNotes/lastVersion", "cursorupdate.lastUpdatedAndShown.version", "update/lastKnownVersion")
BACKUP_SWITCH_ROW = "cursor.storage.disableSqliteStorageBackup"
FACT_ROWS = (*VERSION_ROWS, BACKUP_SWITCH_ROW)

_VERSION = re.compile(r"(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?")

# Key forms a Cursor version reads.
PLAIN = "plaintext"
SECRET = "secret"
UNSURE = "unsure"

LAST_PLAIN_ONLY = (2, 1)  # plain cursorAuth/<x>Key rows still in use on 2.0 and 2.1
FIRST_SECRET = (2, 3)  # the 2.3 code reads secret://cursorAuth/*
FIRST_WITHOUT_BACKUPS = (3, 7)  # 3.7 turns state.vscdb.backup off


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


def key_form_read(version: str | None) -> str:
    """The key form this Cursor version reads: plaintext, secret, or unsure (2.2, or no version)."""
    if version is None:
        return UNSURE
    major_minor = version_tuple(version)[:2]
    if major_minor <= LAST_PLAIN_ONLY:
        return PLAIN
    if major_minor >= FIRST_SECRET:
        return SECRET
    return UNSURE


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

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "backups": self.backups}

    def describe(self) -> str:
        version = f"Cursor {self.version}" if self.version else "Cursor version not recorded"
        backups = {True: "makes state.vscdb.backup", False: "backups off", None: "backups unknown"}[self.backups]
        return f"{version}, {backups}"


def cursor_facts(rows: Mapping[str, Any], backup_exists: bool) -> CursorFacts:
    version = recorded_version(rows)
    if backups_switched_off(rows):
        backups: bool | None = False
    elif backup_exists:
        backups = True
    elif version is not None and version_tuple(version)[:2] < FIRST_WITHOUT_BACKUPS:
        backups = True
    else:
        backups = None
    return CursorFacts(version, backups)
