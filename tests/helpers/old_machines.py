"""Old machines' copies for the rescue tests: homes laid out as each system leaves them, read only.

A copy is a home folder (or a part of one) with Cursor's user-data dir where
that system keeps it, its database built by `cursor_byok.samples.installs`
(real SQLite, real OSCrypt ciphertext under the store's secret, made-up keys
in their real formats), rows written after the last checkpoint left only in
the copied `-wal` (the main file alone does not hold them), and the store file
a real producer made (a daemon, a public test file, a vector) where that
system keeps it. `tree_state` is what "the copy is unchanged" compares:
every name, type, size, mode, mtime and the bytes of every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cursor_byok.cursor.rows import SECRET_PREFIX
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, make_key, sample_keys
from helpers.paths import REPO

ROOT = REPO
FIXTURES = ROOT / "tests" / "fixtures" / "rescue"
UDD_IN_HOME = {
    "v11": (".config", "Cursor"),
    "basic": (".config", "Cursor"),
    "macos": ("Library", "Application Support", "Cursor"),
    "windows": ("AppData", "Roaming", "Cursor"),
}

# Unknown rows under secret://cursorAuth/: keys of providers this tool does not know travel (their name ends in
# Key, in any case); anything else is never exported.
UNKNOWN_KEYS = {"mistralKey": "sk-or-v1-" + "4" * 64, "togetherkey": "a1" * 32}
NOT_KEYS = {"authToken": "made-up-auth-token-value-0001", "sessionId": "made-up-session-id-value-0002"}


@dataclass
class OldHome:
    """A copied home: `root` to pass as --from, the keys a rescue must give (field -> value), values that must
    never come out, and which rows live only in the copied -wal."""

    root: Path
    udd: Path
    expected: dict[str, str]
    never: dict[str, str] = field(default_factory=dict)
    wal_only: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.udd / "User" / "globalStorage" / "state.vscdb"


def build_home(root: Path, generation: str, secret: bytes, *, seed: int = 3, wal: bool = True) -> OldHome:
    """A home at `root` with Cursor's data of `generation` (v11, basic, macos, windows) under `secret`.

    With `wal`, the Google key is replaced and a new unknown provider's key added after the last checkpoint:
    those two rows live only in the copied -wal."""
    rng = random.Random(seed)
    keys = sample_keys(rng)
    sample = Sample(generation=generation, secret=secret, keys=keys, extra_secrets={**UNKNOWN_KEYS, **NOT_KEYS},
                    settings=default_settings(), seed=seed)  # fmt: skip
    udd = root.joinpath(*UDD_IN_HOME[generation])
    expected = {**keys, **{f"extra.{n}": v for n, v in UNKNOWN_KEYS.items()}}
    if not wal:
        build_user_data_dir(udd, sample)
        return OldHome(root, udd, expected, dict(NOT_KEYS))
    staging = root.parent / f".{root.name}-staging"
    build_user_data_dir(staging, sample)
    late = {"google.key": make_key("google", rng), "extra.groqKey": "gsk_" + "Q7" * 26}
    codec = sample.codec()
    rows = {SECRET_PREFIX + "googleKey": late["google.key"], SECRET_PREFIX + "groqKey": late["extra.groqKey"]}
    rows = {name: ss.encode_buffer_json(codec.encrypt(value)) for name, value in rows.items()}
    leave_in_wal(staging, udd, rows)
    shutil.rmtree(staging)
    home = OldHome(root, udd, {**expected, **late}, dict(NOT_KEYS), rows)
    main = main_file_rows(home.db)
    assert all(main.get(name) != value for name, value in rows.items()), "the late rows must be only in the -wal"
    return home


def leave_in_wal(staging: Path, udd: Path, rows: dict[str, str]) -> None:
    """Write `rows` into the staging database with no checkpoint, then copy the user-data dir (main file and
    -wal, as a backup taken while Cursor ran; its -shm left behind) to `udd` while the writer is still open."""
    db = staging / "User" / "globalStorage" / "state.vscdb"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", list(rows.items()))
        conn.execute("COMMIT")
        assert Path(f"{db}-wal").stat().st_size > 0
        shutil.copytree(staging, udd, ignore=shutil.ignore_patterns("*-shm"))
    finally:
        conn.close()


def main_file_rows(db: Path) -> dict[str, str]:
    """The ItemTable rows of the main file alone (immutable: the -wal ignored, nothing created)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM ItemTable"))
    finally:
        conn.close()


def put(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- what "unchanged" means -------------------------------------------------------------------------------------


def tree_state(root: Path) -> dict[str, tuple]:
    """Every entry under `root` and root itself: its type, mode, size, mtime and, for a file, the SHA-256 of its
    bytes; for a symlink, its target. Symlinks are not followed."""
    out = {".": _entry(root)}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            path = Path(folder, name)
            out[str(path.relative_to(root))] = _entry(path)
    return out


def _entry(path: Path) -> tuple:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return ("file", info.st_mode, info.st_size, info.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return ("dir", info.st_mode, info.st_mtime_ns)


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def dpapi_vector(name: str) -> dict:
    return json.loads((FIXTURES / "dpapi" / name / "vector.json").read_text())
