"""`where`: each Cursor installation found, how its keys are protected, and where its undo journals are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..changes import journal
from ..changes.write import stored_prefixes
from ..cursor import paths
from ..cursor.reading import cursor_facts
from ..cursor.rows import ENCRYPTED_ROW_PREFIXES
from ..cursor.store import Store
from ..errors import ByokError
from ..results import Result, omit_if_none
from ..safestorage import backends
from ..safestorage.backends import SafeStorage
from ..versions import FACT_ROWS, CursorFacts, row_backend_words


@dataclass(frozen=True)
class RunningInfo:
    pid: int
    how: str


@dataclass(frozen=True)
class SafeStorageInfo:
    backend: str
    scheme: str
    status: str
    chosen_by: str | None


@dataclass(frozen=True)
class JournalPlace:
    """Where this database's undo journals live: the tool's journal folder, files `<id>.<tag>.json`."""

    folder: str
    files: str
    count: int | None  # None: the folder is refused (another user's, writable by others)


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    location: str | None
    db: str


@dataclass(frozen=True)
class Found:
    """One Cursor installation, as `where` shows it."""

    db: str
    user_data_dir: str | None
    source: str
    channel: str
    size: int | None
    journal_mode: str | None
    local_state: bool
    cursor_running: RunningInfo | bool  # false when not running (the text says no), never null
    safe_storage: SafeStorageInfo
    cursor: CursorFacts | Mapping[str, None]
    rows_need: Mapping[str, str]
    undo_journals: JournalPlace
    profiles: tuple[ProfileInfo, ...]
    used: bool = False  # the one every other command works on
    error: str | None = omit_if_none()


@dataclass(frozen=True)
class Installations(Result):
    """Every installation found (`where`), the one the other commands use first."""

    installations: tuple[Found, ...]


def backends_needed(rows: Mapping[str, Any], scheme: str) -> dict[str, str]:
    """Ciphertext prefix of the stored encrypted rows (secret://, MCP tokens) -> the backend that decrypts them."""
    return {p.decode(errors="replace"): row_backend_words(scheme, p) for p in sorted(stored_prefixes(rows))}


def journal_place(inst: paths.Installation) -> JournalPlace:
    folder = journal.journal_dir()
    try:
        count: int | None = len(journal.entries(db=inst.db_path))
    except (ByokError, OSError):  # a folder refused (another user's, writable by others) is still named
        count = None
    return JournalPlace(str(folder), f"*.{journal.db_tag(inst.db_path)}.json", count)


def describe(inst: paths.Installation, storage: SafeStorage, *, used: bool) -> Found:
    """One installation: one open reads its journal mode, Cursor's facts and the secret:// rows."""
    size = inst.db_path.stat().st_size if inst.db_path.is_file() else None
    mode = error = None
    facts: CursorFacts | None = None
    rows_need: dict[str, str] = {}
    if size is not None:
        try:
            with Store(inst.db_path) as st:
                mode = st.journal_mode()
                rows = st.get_items(FACT_ROWS, ENCRYPTED_ROW_PREFIXES)
            facts = cursor_facts(inst, rows)
            rows_need = backends_needed(rows, storage.scheme)
        except ByokError as exc:
            error = str(exc)
    running = paths.cursor_running(inst)
    profiles = (ProfileInfo(paths.DEFAULT_PROFILE, None, str(inst.db_path)),
                *(ProfileInfo(p.name, p.location, str(p.db)) for p in paths.profiles(inst)))  # fmt: skip
    return Found(
        db=str(inst.db_path),
        user_data_dir=str(inst.user_data_dir) if inst.user_data_dir else None,
        source=inst.source,
        channel=inst.channel,
        size=size,
        journal_mode=mode,
        local_state=bool(inst.local_state and inst.local_state.is_file()),
        cursor_running=RunningInfo(running.pid, running.how) if running else False,
        safe_storage=SafeStorageInfo(storage.backend, storage.scheme, backends.probe(storage), storage.backend_reason),
        cursor=facts or {"version": None, "backups": None},
        rows_need=rows_need,
        undo_journals=journal_place(inst),
        profiles=profiles,
        used=used,
        error=error,
    )


def installations(
    found: list[paths.Installation], storage_for: Any, searched: list[paths.Installation]
) -> Installations:
    """The `where` result for the installations found (the first is used); none: DatabaseNotFound naming the
    paths searched."""
    if not found:
        raise paths.not_found(searched)
    return Installations(tuple(describe(inst, storage_for(inst), used=n == 0) for n, inst in enumerate(found)))
