"""Read the files around a Cursor database for the audit. Read-only.

Backups and set-aside copies are opened as SQLite snapshots (no -wal/-shm left
behind) and decoded like the database itself; the -wal file, User/settings.json
and the ItemTable values of workspace databases are searched for provider-key
shapes. Nothing here judges what it finds: audit.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from . import keyring
from .audit import SCAN_OVERLAP, FileScan, FoundKey, SideCopy, Surroundings, key_strings
from .errors import ByokError
from .locate import Installation
from .model import Secret

Progress = Callable[[int, int], None]  # (done, total)
CHUNK = 4 * 1024 * 1024
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


def read_chunks(path: Path) -> Iterator[tuple[bytes, bool, bool]]:
    """(data, first, last): the file in chunks overlapping by SCAN_OVERLAP bytes,
    so a key across a boundary is still seen whole in one of them."""
    with open(path, "rb") as fh:
        data, first = fh.read(CHUNK), True
        while data:
            block = fh.read(CHUNK)
            yield data, first, not block
            data, first = (data[-SCAN_OVERLAP:] + block if block else b""), False


def found_in(data: bytes, where: str = "", *, first: bool = True, last: bool = True) -> list[FoundKey]:
    return [FoundKey(vendor, Secret(value), where) for vendor, value in key_strings(data, first=first, last=last)]


def scan_raw(path: Path) -> tuple[FoundKey, ...]:
    found: dict[str, FoundKey] = {}
    for chunk, first, last in read_chunks(path):
        for key in found_in(chunk, first=first, last=last):
            found.setdefault(key.secret.fingerprint, key)
    return tuple(found.values())


def read_side_copy(path: Path, inst: Installation, storage) -> SideCopy:
    """A backup's profile; when SQLite cannot read it, the key shapes in its raw bytes."""
    from .profile import ROW_KEYS, ROW_PREFIXES, read_profile
    from .store import Store

    name = display(path, inst)
    try:
        with Store(path, snapshot=True) as st:
            rows = st.get_items(ROW_KEYS, ROW_PREFIXES)
    except ByokError as exc:
        try:
            found = scan_raw(path)
        except OSError as os_exc:
            return SideCopy(name, None, f"{exc}; {os_exc.strerror}")
        return SideCopy(name, None, _short_error(exc), found)
    return SideCopy(name, read_profile(rows, storage), found=shadowed_plain_keys(rows))


def shadowed_plain_keys(rows) -> tuple:
    """Plain cursorAuth/* key rows that a secret:// row for the same provider hides from read_profile:
    old keys left behind in a copy, which the audit must still see."""
    from .audit import FoundKey
    from .model import Secret
    from .profile import KEY_ROW_NAMES, PLAIN_PREFIX, SECRET_PREFIX, as_text, plain_value

    out = []
    for field, name in KEY_ROW_NAMES.items():
        if SECRET_PREFIX + name in rows and PLAIN_PREFIX + name in rows:
            value = plain_value(as_text(rows[PLAIN_PREFIX + name]) or "")
            if value:
                out.append(FoundKey(f"{field} (plain row {PLAIN_PREFIX + name})", Secret(value)))
    return tuple(out)


def _short_error(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def scan_file(path: Path, kind: str, inst: Installation) -> FileScan:
    try:
        return FileScan(display(path, inst), kind, scan_raw(path))
    except OSError as exc:
        return FileScan(display(path, inst), kind, error=f"cannot read ({exc.strerror})")


def scan_workspace(path: Path, inst: Installation) -> FileScan:
    """Key shapes in a workspace database's ItemTable values (never cursorDiskKV)."""
    from .store import Store

    name = display(path, inst)
    try:
        with Store(path, snapshot=True) as st:
            rows = st.items()
    except ByokError as exc:
        return FileScan(name, "workspace", error=_short_error(exc))
    found: list[FoundKey] = []
    for row, value in rows.items():
        data = value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value or b"")
        found += found_in(data, row)
    return FileScan(name, "workspace", tuple(found))


def gather(inst: Installation, storage, progress: Progress | None = None) -> Surroundings:
    """Read every file the audit looks at; `progress(done, total)` after each one."""
    db = inst.db_path
    jobs: list[Callable[[], object]] = [lambda p=p: read_side_copy(p, inst, storage) for p in side_copy_paths(db)]
    wal = Path(f"{db}-wal")
    if wal.is_file():
        jobs.append(lambda: scan_file(wal, "wal", inst))
    if inst.user_data_dir is not None:
        settings = inst.user_data_dir / "User" / "settings.json"
        if settings.is_file():
            jobs.append(lambda: scan_file(settings, "user-settings", inst))
    jobs += [lambda p=p: scan_workspace(p, inst) for p in workspace_dbs(inst.user_data_dir)]
    results = []
    for done, job in enumerate(jobs, 1):
        results.append(job())
        if progress is not None:
            progress(done, len(jobs))
    argv = storage.argv_json
    return Surroundings(
        password_store=keyring.argv_password_store(argv),
        argv_json=_home_relative(argv),
        side_copies=tuple(r for r in results if isinstance(r, SideCopy)),
        scans=tuple(r for r in results if isinstance(r, FileScan)),
    )


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def audit_document(ctx, *, progress: Progress | None = None) -> dict:
    """The `audit --json` document for the installation `ctx` (an api.Context) chooses."""
    from . import audit
    from .api import load_profile

    inst = ctx.installation()
    storage = ctx.storage_for(inst)
    profile, _ = load_profile(inst, storage)
    findings = audit.audit(profile, gather(inst, storage, progress))
    return audit.report_json(findings, db=str(inst.db_path))
