"""Where Cursor keeps its data, and whether Cursor is running. Reads only.

Resolution follows VS Code's order: $VSCODE_PORTABLE, $VSCODE_APPDATA, an
explicit user-data dir, then the per-OS default. Every function takes the
platform, environment and home folder as arguments so macOS and Windows
layouts can be tested anywhere.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Mapping

from ..errors import DatabaseNotFound, LinkedDatabase, ProfileNotFound, printable
from ..key_shapes import shown_path
from ..private_files import read_small
from ..processes import pid_alive

DB_RELATIVE = ("User", "globalStorage", "state.vscdb")
CODE_LOCK_LIMIT = 4096  # a PID; anything longer is not Cursor's
APP_NAMES = ("Cursor", "Cursor Nightly")


@dataclass(frozen=True)
class Installation:
    """One Cursor user-data dir (or a bare database file) and how it was found."""

    db_path: Path
    user_data_dir: Path | None
    source: str  # "--db", "CURSOR_STATE_DB", "--user-data-dir", "VSCODE_PORTABLE", "default", ...
    channel: str = "Cursor"

    @property
    def local_state(self) -> Path | None:
        return self.user_data_dir / "Local State" if self.user_data_dir else None

    @property
    def code_lock(self) -> Path | None:
        return self.user_data_dir / "code.lock" if self.user_data_dir else None


def _pure(platform: str) -> type[PurePath]:
    return PureWindowsPath if platform.startswith("win") else PurePosixPath


def platform_config_dir(platform: str, env: Mapping[str, str], home: str, app: str) -> PurePath:
    """The per-OS default user-data dir for `app` (section 1, step 4)."""
    P = _pure(platform)
    if platform == "darwin":
        return P(home) / "Library" / "Application Support" / app
    if platform.startswith("win"):
        appdata = env.get("APPDATA") or str(P(env.get("USERPROFILE", home)) / "AppData" / "Roaming")
        return P(appdata) / app
    xdg = env.get("XDG_CONFIG_HOME")
    base = P(xdg) if xdg and P(xdg).is_absolute() else P(home) / ".config"
    return base / app


def wsl_windows_dirs(env: Mapping[str, str], mnt: str = "/mnt/c/Users") -> list[PurePosixPath]:
    """Under WSL, a Windows Cursor's data sits on the Windows side."""
    if "WSL_DISTRO_NAME" not in env and "WSL_INTEROP" not in env:
        return []
    root = Path(mnt)
    try:
        users = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    return [PurePosixPath(u / "AppData" / "Roaming" / app) for u in users for app in APP_NAMES]


def candidate_installations(
    *,
    db: str | None = None,
    user_data_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: str | None = None,
) -> list[Installation]:
    """Every place a Cursor database may be, in precedence order.

    An explicit choice (option, then environment variable) is returned alone.
    """
    env = os.environ if env is None else env
    platform = platform or sys.platform
    home = home or env.get("HOME") or env.get("USERPROFILE") or str(Path.home())
    P = _pure(platform)

    if db:
        return [_from_db(Path(db), "--db")]
    if user_data_dir:
        return [_from_udd(P(user_data_dir), "--user-data-dir")]
    if env.get("CURSOR_STATE_DB"):
        return [_from_db(Path(env["CURSOR_STATE_DB"]), "CURSOR_STATE_DB")]
    if env.get("CURSOR_USER_DATA_DIR"):
        return [_from_udd(P(env["CURSOR_USER_DATA_DIR"]), "CURSOR_USER_DATA_DIR")]

    found: list[Installation] = []
    if env.get("VSCODE_PORTABLE"):
        found.append(_from_udd(P(env["VSCODE_PORTABLE"]) / "user-data", "VSCODE_PORTABLE"))
    if env.get("VSCODE_APPDATA"):
        found.append(_from_udd(P(env["VSCODE_APPDATA"]) / "Cursor", "VSCODE_APPDATA"))
    for app in APP_NAMES:
        found.append(_from_udd(platform_config_dir(platform, env, home, app), "default", app))
    if platform.startswith("linux"):
        for d in wsl_windows_dirs(env):
            found.append(_from_udd(d, "wsl", d.name))
    return found


def _from_db(path: Path, source: str) -> Installation:
    """A database file; its user-data dir when it sits where Cursor keeps it.

    The path is resolved (relative paths, `..`, symlinks) and the layout is
    matched without regard to case (macOS and Windows file systems), so the
    running-Cursor check cannot be sidestepped by how the path is spelled.
    """
    resolved = Path(os.path.realpath(path))
    parts = resolved.parts
    udd = None
    if tuple(p.lower() for p in parts[-3:]) == tuple(p.lower() for p in DB_RELATIVE):
        udd = Path(*parts[:-3])
    return Installation(db_path=resolved, user_data_dir=udd, source=source)


def _from_udd(udd: PurePath, source: str, channel: str = "Cursor") -> Installation:
    udd_path = Path(udd)
    return Installation(db_path=udd_path.joinpath(*DB_RELATIVE), user_data_dir=udd_path, source=source, channel=channel)


def find_installations(
    *,
    db: str | None = None,
    user_data_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: str | None = None,
) -> list[Installation]:
    """Candidates whose database exists (explicit choices are kept even if missing)."""
    cands = candidate_installations(db=db, user_data_dir=user_data_dir, env=env, platform=platform, home=home)
    if cands and cands[0].source in ("--db", "--user-data-dir", "CURSOR_STATE_DB", "CURSOR_USER_DATA_DIR"):
        return cands
    return [c for c in cands if c.db_path.is_file()]


def resolve(
    *,
    db: str | None = None,
    user_data_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: str | None = None,
) -> Installation:
    """The installation a command works on: the first that exists."""
    found = find_installations(db=db, user_data_dir=user_data_dir, env=env, platform=platform, home=home)
    if not found:
        raise not_found(
            candidate_installations(db=db, user_data_dir=user_data_dir, env=env, platform=platform, home=home)
        )
    inst = found[0]
    if not inst.db_path.exists():
        if inst.user_data_dir is not None and Path(inst.user_data_dir).is_dir():
            raise DatabaseNotFound(
                f"{inst.user_data_dir} ({inst.source}) holds no database yet: start Cursor once and quit it, "
                f"so it creates {Path(*DB_RELATIVE)}; or check the folder (`cursor-byok where`)"
            )
        raise DatabaseNotFound(
            f"{shown_path(inst.db_path)}: no such file ({inst.source}); check the path or run `cursor-byok where`"
        )
    return inst


NOT_STARTED = "start Cursor once and quit it, so it creates its database"


def not_found(searched: list[Installation]) -> DatabaseNotFound:
    """No database in any place searched: the places (this OS's), and the step that fixes it."""
    places = "; ".join(str(c.db_path) for c in searched)
    return DatabaseNotFound(
        f"no Cursor database found (searched: {places}): Cursor has not run for this user yet, or keeps its data "
        f"elsewhere. {NOT_STARTED[0].upper()}{NOT_STARTED[1:]}; or pass --db FILE (a state.vscdb copied from "
        "elsewhere) or --user-data-dir DIR (a Cursor folder), or set CURSOR_STATE_DB"
    )


# --- profiles --------------------------------------------------------------------

STORAGE_JSON = ("User", "globalStorage", "storage.json")
STORAGE_JSON_LIMIT = 4 * 1024 * 1024
DEFAULT_PROFILE = "Default"


@dataclass(frozen=True)
class UserProfile:
    """One of VS Code's userDataProfiles (`--profile`): its own settings blob in its own database.

    Not a model.Profile, which is the BYOK settings read from a database."""

    name: str
    location: str
    db: Path

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "location": self.location, "db": str(self.db)}


def _read_json_file(path: Path, limit: int) -> Any:
    """A small regular JSON file's content; None when it is missing, too big, not a file or not JSON."""
    try:
        return json.loads(read_small(path, limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def _safe_location(location: object) -> bool:
    """A profile folder name that stays inside User/profiles (storage.json is not trusted)."""
    return (
        isinstance(location, str)
        and 0 < len(location) <= 255
        and location not in (".", "..")
        and not any(c in location for c in "/\\:\0")
    )


def profiles(inst: Installation) -> list[UserProfile]:
    """The installation's extra profiles, from storage.json (the default profile is not listed there)."""
    if inst.user_data_dir is None:
        return []
    doc = _read_json_file(Path(inst.user_data_dir).joinpath(*STORAGE_JSON), STORAGE_JSON_LIMIT)
    entries = doc.get("userDataProfiles") if isinstance(doc, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not _safe_location(entry.get("location")):
            continue
        location = entry["location"]
        given = entry.get("name")
        name = printable(given) if isinstance(given, str) else location  # one line: storage.json is not trusted
        db = Path(inst.user_data_dir) / "User" / "profiles" / location / "globalStorage" / "state.vscdb"
        out.append(UserProfile(name, location, db))
    return out


def select_profile(inst: Installation, wanted: str | None) -> UserProfile | None:
    """The profile named (by name or location, any letter case); None for the default profile."""
    if wanted is None:
        return None
    found = profiles(inst)
    if wanted.lower() == DEFAULT_PROFILE.lower():
        clash = [p for p in found if p.name.lower() == wanted.lower()]
        if clash:
            raise ProfileNotFound(
                f"--profile {wanted!r} is ambiguous: a profile of yours is named {clash[0].name!r} too; leave "
                f"--profile out for Cursor's default profile, or pass --profile {clash[0].location} for yours"
            )
        return None
    matchers: tuple[Callable[[UserProfile], bool], ...] = (
        lambda p: p.name == wanted or p.location == wanted,
        lambda p: p.name.lower() == wanted.lower(),
    )
    for match in matchers:
        hits = [p for p in found if match(p)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            shown = "; ".join(f"{p.name!r} (location {p.location})" for p in hits)
            raise ProfileNotFound(f"--profile {wanted!r} matches several profiles: {shown}; pass a location")
    names = ", ".join([DEFAULT_PROFILE, *(p.name for p in found)])
    raise ProfileNotFound(
        f"no profile {wanted!r} in {shown_path(inst.user_data_dir or inst.db_path)}; profiles: {names}"
    )


# --- is Cursor running? -------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """Why Cursor is believed to run: `how` is "code.lock" or "process"."""

    pid: int
    how: str
    name: str = ""


def lock_pid(inst: Installation) -> int | None:
    """The live PID in code.lock, if any."""
    if inst.code_lock is None:
        return None
    try:
        text = read_small(inst.code_lock, CODE_LOCK_LIMIT).decode("utf-8", "replace").strip()
        pid = int(text.split()[0]) if text else 0
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def is_cursor_process(name: str, exe: str = "") -> bool:
    """Cursor's main or helper process names; not cursor-agent or cursor-server."""
    if name in ("Cursor", "Cursor.exe", "cursor", "Cursor Helper"):
        return True
    return "/Cursor.app/Contents/MacOS/" in exe or "/tmp/.mount_Cursor" in exe


def cursor_processes(proc: str = "/proc") -> list[Running]:
    """Processes that look like Cursor (Linux /proc; `ps`/`tasklist` elsewhere).

    Windows never looks at a `proc` folder: under Wine, `\\proc` on the Z: drive
    is the host's /proc, whose processes are not Windows ones.
    """
    if sys.platform.startswith("win"):
        return _ps_processes()  # pragma: no cover - Windows
    if sys.platform.startswith("linux") or Path(proc).is_dir():
        return _linux_processes(Path(proc))
    return _ps_processes()  # pragma: no cover - macOS / Windows


def _linux_processes(proc: Path) -> list[Running]:
    out = []
    me = os.getpid()
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            name = (entry / "comm").read_text().strip()
            exe = os.readlink(entry / "exe") if name.lower() == "cursor" or "Cursor" in name else ""
        except OSError:
            continue
        if is_cursor_process(name, exe):
            out.append(Running(int(entry.name), "process", name))
    return out


def _ps_processes() -> list[Running]:  # pragma: no cover - macOS / Windows
    if sys.platform.startswith("win"):
        cmd = ["tasklist", "/FO", "CSV", "/NH"]
    else:
        cmd = ["ps", "-A", "-o", "pid=,comm="]
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in text.splitlines():
        if sys.platform.startswith("win"):
            cols = [c.strip('"') for c in line.split('","')]
            if len(cols) > 1 and cols[1].isdigit() and is_cursor_process(cols[0]):
                out.append(Running(int(cols[1]), "process", cols[0]))
        else:
            pid, _, comm = line.strip().partition(" ")
            base = comm.rsplit("/", 1)[-1]
            if pid.isdigit() and is_cursor_process(base, comm):
                out.append(Running(int(pid), "process", base))
    return out


def cursor_running(inst: Installation, proc: str = "/proc") -> Running | None:
    """Is Cursor running for this installation? code.lock first, then processes.

    A bare --db file outside a user-data dir layout gets no process check: it
    is a copy, not a live installation, unless it is the very file (a hard link,
    a bind mount) of a default installation's database whose Cursor runs.
    """
    pid = lock_pid(inst)
    if pid:
        return Running(pid, "code.lock")
    for other in same_file_elsewhere(inst):
        found = cursor_running(other, proc)
        if found:
            return Running(found.pid, f"{found.how} of {shown_path(other.db_path)}, the same file", found.name)
    if inst.user_data_dir is None:
        return None
    procs = cursor_processes(proc)
    return procs[0] if procs else None


def location_options(inst: Installation) -> tuple[str, ...]:
    """The global option that reaches this installation from any folder: `--user-data-dir DIR` or `--db FILE`,
    absolute; none when the tool finds it by default."""
    if inst.source == "default":
        return ()
    if inst.user_data_dir:
        return ("--user-data-dir", str(Path(inst.user_data_dir).resolve()))
    return ("--db", str(Path(inst.db_path).resolve()))


def command_for(inst: Installation | None, words: str, *, db: Path | str | None = None) -> str:
    """`cursor-byok [--user-data-dir D | --db F] WORDS`, ready to paste: it names the database the words are
    about unless the tool finds that one by default. Without an installation, `db` gives --db."""
    option: tuple[str, Path | str] | None = None
    if inst is not None and inst.source != "default":
        option = ("--user-data-dir", inst.user_data_dir) if inst.user_data_dir else ("--db", inst.db_path)
    elif inst is None and db is not None:
        option = ("--db", db)
    where = f" {option[0]} {shlex.quote(str(option[1]))}" if option else ""
    return f"cursor-byok{where} {words}"


# --- one file, several names -----------------------------------------------------------------------

EXPLICIT_SOURCES = ("--db", "CURSOR_STATE_DB")
EXPLICIT_ENV = ("CURSOR_STATE_DB", "CURSOR_USER_DATA_DIR")


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def same_file_elsewhere(inst: Installation, env: Mapping[str, str] | None = None) -> list[Installation]:
    """The default installations whose database is `inst`'s very file under another name (a hard link, a bind
    mount: the same device and inode), for a database chosen with --db; their Cursor's check applies to it."""
    if inst.source not in EXPLICIT_SOURCES:
        return []
    mine = _file_id(inst.db_path)
    if mine is None:
        return []
    base = {k: v for k, v in (os.environ if env is None else env).items() if k not in EXPLICIT_ENV}
    return [
        other
        for other in candidate_installations(env=base)
        if Path(other.db_path) != Path(inst.db_path) and _file_id(Path(other.db_path)) == mine
    ]


def refuse_other_names(inst: Installation) -> None:
    """LinkedDatabase (exit 15) for a database chosen with --db that has other names (see other_names)."""
    for other in same_file_elsewhere(inst):  # a bind mount: one name here, Cursor's elsewhere
        pending = [s for s in ("-wal", "-journal") if _non_empty(Path(f"{other.db_path}{s}"))]
        if pending:
            raise LinkedDatabase(
                f"{shown_path(inst.db_path)} is the very file of {shown_path(other.db_path)}, whose {pending[0]} "
                "holds changes SQLite has not put in the file yet (Cursor did not close cleanly?); a write through "
                "this name would not see them. Open Cursor once and quit it, or use Cursor's own path"
            )
    count = other_names(inst)
    if count:
        raise LinkedDatabase(
            f"{shown_path(inst.db_path)} has {count} other name(s) (hard links): SQLite keeps a -wal per name, so a "
            "write through this one could lose Cursor's own, and the running check cannot see which Cursor uses "
            "the others; nothing was written. Point --db at Cursor's own path, or at a copy (cp, not ln)"
        )


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def other_names(inst: Installation) -> int:
    """How many other names (hard links) the database chosen with --db has; 0 for any other choice.

    SQLite names its -wal and -journal after the name it opened: a write through one name and Cursor's
    through another each keep their own, and one loses the other's changes; nor can the running check tell
    which Cursor uses the other name."""
    if inst.source not in EXPLICIT_SOURCES:
        return 0
    try:
        return max(os.stat(inst.db_path).st_nlink - 1, 0)
    except OSError:
        return 0
