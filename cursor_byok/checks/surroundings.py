"""Read the files around a Cursor database for the audit. Read-only.

Backups and set-aside copies are opened as SQLite snapshots (no -wal/-shm left
behind) and decoded like the database itself; the -wal file, User/settings.json
and the ItemTable values of workspace databases are searched for provider-key
shapes. Nothing here judges what it finds: checks/audit.py does.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..changes import journal
from ..cursor.paths import Installation, command_for
from ..cursor.rows import PLAIN_PREFIX, ROW_PREFIXES, SECRET_PREFIX, as_text, plain_value, read_profile, row_keys
from ..cursor.store import Store, stream_item_values
from ..errors import ByokError
from ..model import Secret
from ..providers import registry
from ..safestorage import argv_json
from ..safestorage.backends import SafeStorage
from .audit import SCAN_OVERLAP, FileScan, FoundKey, SideCopy, Surroundings, key_strings

Progress = Callable[[int, int], None]  # (done, total)
FileProgress = Callable[[str, int, int], None]  # (path, bytes done, file size)
CHUNK = 4 * 1024 * 1024
PROGRESS_MIN_BYTES = 100 * 1024 * 1024  # files this large report their own progress
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


def display(path: Path, inst: Installation) -> str:
    """A path relative to the user-data dir when it is inside it."""
    base = inst.user_data_dir or inst.db_path.parent
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def side_copy_paths(db: Path) -> list[Path]:
    """state.vscdb.backup and state.vscdb.corrupted.* next to the database."""
    found = [db.with_name(db.name + ".backup"), *sorted(db.parent.glob(db.name + ".corrupted.*"))]
    return [p for p in found if p.is_file() and not p.name.endswith(SIDECAR_SUFFIXES)]


def workspace_dbs(user_data_dir: Path | None) -> list[Path]:
    if user_data_dir is None:
        return []
    return sorted(p for p in (user_data_dir / "User" / "workspaceStorage").glob("*/state.vscdb") if p.is_file())


def read_windows(path: Path, progress: FileProgress | None = None) -> Iterator[tuple[bytearray, int, bool, bool]]:
    """(buffer, size, first, last): the window is buffer[:size]. The file in windows that
    overlap by SCAN_OVERLAP bytes, so a key across a boundary is still seen whole in one.

    Every window is read into one reused buffer (never the whole file, never
    an mmap of it, whose pages would count as resident), so memory does not
    grow with the file. A window is only valid until the next one is read.
    """
    buf = bytearray(CHUNK + SCAN_OVERLAP)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size
        report = progress if progress is not None and total > PROGRESS_MIN_BYTES else None
        keep, first = 0, True
        while True:
            got = fh.readinto(view[keep:])
            if not got:
                return
            size = keep + got
            last = fh.tell() >= total
            yield buf, size, first, last
            if report is not None:
                report(str(path), fh.tell(), total)
            if last:
                return
            keep, first = min(SCAN_OVERLAP, size), False
            buf[:keep] = buf[size - keep : size]  # the tail of this window starts the next one


def found_in(
    data: bytes | bytearray, where: str = "", *, first: bool = True, last: bool = True, end: int | None = None
) -> list[FoundKey]:
    pairs = key_strings(data, first=first, last=last, end=end)
    return [FoundKey(vendor, Secret(value), where) for vendor, value in pairs]


def scan_raw(path: Path, progress: FileProgress | None = None) -> tuple[FoundKey, ...]:
    found: dict[str, FoundKey] = {}
    for buf, size, first, last in read_windows(path, progress):
        for key in found_in(buf, first=first, last=last, end=size):
            found.setdefault(key.secret.fingerprint, key)
    return tuple(found.values())


def read_side_copy(
    path: Path, inst: Installation, storage: SafeStorage, file_progress: FileProgress | None = None
) -> SideCopy:
    """A backup's profile; when SQLite cannot read it, the key shapes in its raw bytes."""
    name = display(path, inst)
    try:
        with Store(path, snapshot=True) as st:
            rows = st.get_items(row_keys(), ROW_PREFIXES)
    except ByokError as exc:
        try:
            found = scan_raw(path, file_progress)
        except OSError as os_exc:
            return SideCopy(name, None, f"{exc}; {os_exc.strerror}")
        return SideCopy(name, None, _short_error(exc), found)
    return SideCopy(name, read_profile(rows, storage), found=shadowed_plain_keys(rows))


def shadowed_plain_keys(rows: Mapping[str, Any]) -> tuple[FoundKey, ...]:
    """Plain cursorAuth/* key rows that a secret:// row for the same provider hides from read_profile:
    old keys left behind in a copy, which the audit must still see."""
    out = []
    for field, name in registry().key_row_names.items():
        if SECRET_PREFIX + name in rows and PLAIN_PREFIX + name in rows:
            value = plain_value(as_text(rows[PLAIN_PREFIX + name]) or "")
            if value:
                out.append(FoundKey(f"{field} (plain row {PLAIN_PREFIX + name})", Secret(value)))
    return tuple(out)


def _short_error(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def scan_file(path: Path, kind: str, inst: Installation, file_progress: FileProgress | None = None) -> FileScan:
    try:
        return FileScan(display(path, inst), kind, scan_raw(path, file_progress))
    except OSError as exc:
        return FileScan(display(path, inst), kind, error=f"cannot read ({exc.strerror})")


def scan_workspace(path: Path, inst: Installation) -> FileScan:
    """Key shapes in a workspace database's ItemTable values (never cursorDiskKV)."""
    name = display(path, inst)
    found: list[FoundKey] = []
    try:
        for row, data in stream_item_values(path):  # one row in memory at a time
            found += found_in(data, row)
    except ByokError as exc:
        return FileScan(name, "workspace", error=_short_error(exc))
    return FileScan(name, "workspace", tuple(found))


def gather(
    inst: Installation,
    storage: SafeStorage,
    progress: Progress | None = None,
    file_progress: FileProgress | None = None,
) -> Surroundings:
    """Read every file the audit looks at; `progress(done, total)` after each one, and
    `file_progress(path, bytes done, size)` while a raw scan reads a file over 100 MiB."""
    db = inst.db_path
    jobs: list[Callable[[], object]] = [
        partial(read_side_copy, p, inst, storage, file_progress) for p in side_copy_paths(db)
    ]
    wal = Path(f"{db}-wal")
    if wal.is_file():
        jobs.append(lambda: scan_file(wal, "wal", inst, file_progress))
    if inst.user_data_dir is not None:
        settings = inst.user_data_dir / "User" / "settings.json"
        if settings.is_file():
            jobs.append(lambda: scan_file(settings, "user-settings", inst))
    jobs += [partial(scan_workspace, p, inst) for p in workspace_dbs(inst.user_data_dir)]
    results = []
    for done, job in enumerate(jobs, 1):
        results.append(job())
        if progress is not None:
            progress(done, len(jobs))
    argv = storage.argv_json
    return Surroundings(
        password_store=argv_json.argv_password_store(argv),
        argv_json=_home_relative(argv),
        side_copies=tuple(r for r in results if isinstance(r, SideCopy)),
        scans=tuple(r for r in results if isinstance(r, FileScan)),
        foreign_schema=tuple(read_foreign_schema(db)),
        journals=journals_with_keys(db),
        tool=command_for(inst, "").rstrip(),
    )


def read_foreign_schema(db: Path) -> list[str]:
    """The schema objects of the database that Cursor does not make (nothing when it cannot be read)."""
    try:
        with Store(db) as st:
            return st.foreign_schema()
    except ByokError:
        return []


def journals_with_keys(db: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(id, rows) of this database's undo journals that keep an old key value."""
    try:
        found = journal.entries(db=db)
    except ByokError:  # a journal folder the tool refuses: undo and writes say so
        return ()
    return tuple((e.id, tuple(journal.key_rows(e))) for e in found if journal.key_rows(e))


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
