"""Shared helpers for the crash and concurrency campaigns.

A `World` is one sample Cursor user-data dir (v11, made-up keys, some chat
rows in cursorDiskKV), the machine-secret file that decodes it, an age
identity and two bundles encrypted to it, each from a different made-up
source install. Everything is built in a tmp folder; the tool's undo
journals go to `world.data_dir` through CURSOR_BYOK_DATA_DIR.

The database is always inspected through SQLite itself (`dump`,
`integrity`), on a side copy when the tool must be the first to open the
crashed original.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import cursor_byok as api
from cursor_byok.bundle.age_envelope import generate_identity
from cursor_byok.safestorage.backends import SafeStorageConfig
from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, make_key, sample_keys
from helpers import crash_runner
from helpers.transfer import SAMPLE_ENDPOINTS

CLI = (sys.executable, "-m", "cursor_byok")
MACHINE_SECRET = b"crash-campaign-machine-pw"
SIDECARS = ("-wal", "-journal")
KILLED = -9  # subprocess returncode of a child ended by SIGKILL

Row = tuple[str, str]  # (table, key)


@dataclass
class World:
    root: Path
    udd: Path
    db: Path
    password_file: Path
    identity: Path
    bundles: tuple[Path, Path]
    data_dir: Path
    wal: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def journal_dir(self) -> Path:
        return self.data_dir / "journals"

    def group_args(self) -> list[str]:
        return [
            "--user-data-dir",
            str(self.udd),
            "--safe-storage",
            "password",
            "--safe-storage-scheme",
            "linux",
            "--safe-storage-password-file",
            str(self.password_file),
        ]

    def import_args(self, which: int = 0) -> list[str]:
        bundle, identity = str(self.bundles[which]), str(self.identity)
        return [*self.group_args(), "import", bundle, "-i", identity, "--yes", "--on-conflict", "replace",
                *SAMPLE_ENDPOINTS]  # fmt: skip

    def undo_args(self) -> list[str]:
        return [*self.group_args(), "undo", "--yes"]

    def journals(self) -> list[Path]:
        return sorted(self.journal_dir.glob("*.json")) if self.journal_dir.is_dir() else []


def clean_env(data_dir: Path, home: Path) -> dict[str, str]:
    """os.environ without Cursor, VS Code, XDG or desktop hints; journals in data_dir."""
    drop_prefixes = ("CURSOR_", "VSCODE_", "XDG_", "WSL_")
    drop = ("APPDATA", "USERPROFILE", "DESKTOP_SESSION", "DBUS_SESSION_BUS_ADDRESS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k not in drop}
    env.update(HOME=str(home), CURSOR_BYOK_DATA_DIR=str(data_dir), PYTHONDONTWRITEBYTECODE="1")
    return env


def _source_install(root: Path, seed: int) -> Path:
    rng = random.Random(seed)
    sample = Sample(
        generation="v11",
        secret=MACHINE_SECRET,
        keys=sample_keys(rng),
        extra_secrets={"mistralKey": make_key("openrouter", rng)},
        settings=default_settings(f"http://localhost:{11000 + seed}/v1"),
        seed=seed,
    )
    build_user_data_dir(root, sample)
    return root


def _seal_bundle(src_udd: Path, password_file: Path, recipient: str, out: Path, env: Mapping[str, str]) -> Path:
    config = SafeStorageConfig(choice="password", scheme="linux", password_file=str(password_file))
    ctx = api.Context(user_data_dir=str(src_udd), safe_storage=config, env=env, platform="linux")
    out.write_bytes(api.export_bundle(ctx, recipients=[recipient]).data)
    return out


def build_world(root: Path, *, wal: bool, seed: int = 11, disk_kv_bytes: int = 300_000) -> World:
    """A target install plus two bundles (0 and 1) whose keys all differ from it and from each other."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir(exist_ok=True)
    data_dir = root / "data"
    env = clean_env(data_dir, home)
    password_file = root / "machine.pw"
    password_file.write_text(MACHINE_SECRET.decode() + "\n")
    identity, recipient = generate_identity()
    identity_file = root / "id.key"
    identity_file.write_text(identity + "\n")
    rng = random.Random(seed)
    target = Sample(
        generation="v11",
        secret=MACHINE_SECRET,
        keys=sample_keys(rng),
        extra_secrets={"mistralKey": make_key("openrouter", rng)},
        settings=default_settings(),
        wal=wal,
        disk_kv_bytes=disk_kv_bytes,
        seed=seed,
    )
    udd = root / "cursor"
    db = build_user_data_dir(udd, target)
    bundles = tuple(
        _seal_bundle(
            _source_install(root / f"source-{i}", seed + 1 + i), password_file, recipient, root / f"bundle-{i}.age", env
        )
        for i in (0, 1)
    )
    return World(root, udd, db, password_file, identity_file, bundles, data_dir, wal, env)


# --- running the command line ---------------------------------------------------------

FOREIGN_CURSOR_RETRIES = 120  # x 0.5 s


def refused_for_a_foreign_cursor(exit_code: int, message: str) -> bool:
    """The run refused because some process on this machine is named like Cursor.

    The process check looks at the whole machine, so another test (ours, or a
    suite running beside this one) that starts a process named `cursor` would
    make an unrelated run refuse. Such a refusal happens before the journal and
    changes nothing, so the campaign runs it again once that process is gone.
    """
    return exit_code == 6 and "found by process" in message


def run_cli(
    world: World,
    args: Iterable[str],
    *,
    crash_at: int | None = None,
    crash_log: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    armed = crash_at is not None or crash_log is not None
    cli = [*(crash_runner.command(crash_at, crash_log) if armed else CLI), *args]
    for _ in range(FOREIGN_CURSOR_RETRIES):
        if crash_log is not None:
            crash_log.unlink(missing_ok=True)
        done = subprocess.run(cli, env=dict(world.env), capture_output=True, text=True, timeout=timeout)
        if not refused_for_a_foreign_cursor(done.returncode, done.stderr):
            return done
        time.sleep(0.5)
    return done


def start_cli(world: World, args: Iterable[str], *, crash_log: Path | None = None) -> subprocess.Popen:
    cli = [*crash_runner.command(None, crash_log), *args] if crash_log is not None else [*CLI, *args]
    return subprocess.Popen(cli, env=dict(world.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def crash_points(log: Path) -> list[str]:
    """The point names a run logged, in order."""
    if not log.exists():
        return []
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if " " in line]


# --- looking at the database ------------------------------------------------------------


def dump(db: Path) -> dict[Row, object]:
    """Every row of ItemTable and cursorDiskKV, values as SQLite returns them (type kept)."""
    conn = sqlite3.connect(db)
    try:
        out: dict[Row, object] = {}
        for table in ("ItemTable", "cursorDiskKV"):
            for key, value in conn.execute(f"SELECT key, value FROM {table}"):
                out[(table, key)] = value
        return out
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def side_copy(db: Path, dest_dir: Path) -> Path:
    """Copy the database with its -wal/-journal (as a crash left them) so it can be opened elsewhere."""
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
    dest_dir.mkdir(parents=True)
    target = dest_dir / db.name
    shutil.copyfile(db, target)
    for suffix in SIDECARS:
        side = Path(f"{db}{suffix}")
        if side.exists():
            shutil.copyfile(side, Path(f"{target}{suffix}"))
    return target


def changed_rows(before: Mapping[Row, object], after: Mapping[Row, object]) -> set[Row]:
    return {
        k
        for k in set(before) | set(after)
        if before.get(k, None) != after.get(k, None) or (k in before) != (k in after)
    }


def classify(state: Mapping[Row, object], old: Mapping[Row, object], new: Mapping[Row, object]) -> str:
    """ "old" or "new" when the target rows are all old or all new and nothing else moved; else what broke."""
    targets = changed_rows(old, new)
    others = (set(state) | set(old)) - targets
    moved = sorted(k for k in others if state.get(k) != old.get(k) or (k in state) != (k in old))
    if moved:
        return f"rows outside the write changed: {moved[:3]}"
    part = {k: state.get(k, _MISSING) for k in targets}
    if part == {k: old.get(k, _MISSING) for k in targets}:
        return "old"
    if part == {k: new.get(k, _MISSING) for k in targets}:
        return "new"
    mixed = sorted(k[1] for k in targets if part[k] == new.get(k, _MISSING))
    return f"mixed: {len(mixed)} of {len(targets)} target rows new ({mixed[:3]})"


_MISSING = object()


def temp_files(world: World) -> list[Path]:
    """Temp files of the tool's atomic writes, in the journal dir or next to the database."""
    found: list[Path] = []
    for folder in (world.journal_dir, world.db.parent, world.data_dir):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    return sorted(found)


# --- saving and restoring a state -------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    folder: Path


def save_state(world: World, folder: Path) -> Saved:
    """Copy the database files and the data dir (journals) aside."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "db").mkdir(parents=True)
    for path in world.db.parent.iterdir():
        shutil.copy2(path, folder / "db" / path.name)
    if world.data_dir.exists():
        shutil.copytree(world.data_dir, folder / "data")
    return Saved(folder)


def restore_state(world: World, saved: Saved) -> None:
    """Put the saved files back at the same paths (journals name the database by its path)."""
    for path in list(world.db.parent.iterdir()):
        path.unlink()
    for path in (saved.folder / "db").iterdir():
        shutil.copy2(path, world.db.parent / path.name)
    if world.data_dir.exists():
        shutil.rmtree(world.data_dir)
    if (saved.folder / "data").exists():
        shutil.copytree(saved.folder / "data", world.data_dir)


def journal_rows(path: Path) -> list[str]:
    return [r["key"] for r in json.loads(path.read_text())["rows"]]


# --- the command line in this process (for recovery steps and long series) -------------

_UNSET = (
    "CURSOR_STATE_DB",
    "CURSOR_USER_DATA_DIR",
    "VSCODE_PORTABLE",
    "VSCODE_APPDATA",
    "CURSOR_BYOK_DEBUG",
)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str


def invoke(world: World, args: Iterable[str], *, retry: bool = True) -> Outcome:
    """Run the CLI in this process (click's CliRunner): no interpreter start-up per call.

    `retry=False` for tests about the refusal itself (see refused_for_a_foreign_cursor).
    """
    from click.testing import CliRunner

    from cursor_byok.cli import main

    env: dict[str, str | None] = {name: None for name in _UNSET}
    env.update(CURSOR_BYOK_DATA_DIR=str(world.data_dir), HOME=world.env["HOME"])
    for _ in range(FOREIGN_CURSOR_RETRIES if retry else 1):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        if not (retry and refused_for_a_foreign_cursor(result.exit_code, result.output)):
            break
        time.sleep(0.5)
    return Outcome(result.exit_code, result.output)


# --- another writer that dies mid-transaction -------------------------------------------

_DYING_WRITER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 2")  # spill changed pages to the file before the commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE cursorDiskKV SET value = value || 'half-written'")
conn.execute("UPDATE ItemTable SET value = 'half-written'")
os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_writer_mid_transaction(db: Path) -> None:
    """A process that changed every row, spilled pages to disk, and was killed before COMMIT."""
    done = subprocess.run([sys.executable, "-c", _DYING_WRITER, str(db)], capture_output=True, timeout=60)
    assert done.returncode == KILLED, done.stderr


# --- another process holding the write lock ---------------------------------------------

_HOLDER = """
import sqlite3, sys, time
from pathlib import Path
db, seconds, after = sys.argv[1], float(sys.argv[2]), sys.argv[3]
conn = sqlite3.connect(db, timeout=0, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
if after:  # hold until the tool logs that it is about to BEGIN IMMEDIATE itself, then `seconds` more
    while "sql-begin" not in (Path(after).read_text() if Path(after).exists() else ""):
        time.sleep(0.005)
time.sleep(seconds)
conn.execute("ROLLBACK")
print("released", flush=True)
"""


def hold_write_lock(db: Path, seconds: float, *, after_log: Path | None = None) -> subprocess.Popen:
    """A process that holds BEGIN IMMEDIATE on db for `seconds` (counted from `after_log` showing sql-begin)."""
    from helpers.children import read_line

    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(seconds), str(after_log or "")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert read_line(proc).strip() == "locked"
    return proc


def wait_for_comm(pid: int, name: str, timeout: float = 10.0) -> None:
    """Wait until /proc shows the process under its new name (exec sets it after Popen returns)."""
    deadline = time.monotonic() + timeout
    comm = Path(f"/proc/{pid}/comm")
    while time.monotonic() < deadline:
        if comm.exists() and comm.read_text().strip() == name:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never showed up as {name!r}")
