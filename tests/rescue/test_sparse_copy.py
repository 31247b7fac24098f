"""rescue.sparse_copy: a copied state.vscdb read without touching it.

The sparse copy must give exactly the ItemTable rows that a full copy of the
same files gives when SQLite opens it normally (the reference), whatever the
-wal holds: rows only in it, uncommitted trailing frames, frames left from an
older log, a database grown past the main file, damage. Every test checks
that the backup's folder is byte-for-byte, name-for-name and mtime-for-mtime
what it was, with the folder made read-only (0555; root ignores that, so the
names are what shows a file was created).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest
from helpers.paths import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.cursor.rows import ROW_KEYS, ROW_PREFIXES
from cursor_byok.errors import ByokError, DatabaseUnreadable, NotACursorDatabase
from cursor_byok.rescue import sparse_copy as sc
from cursor_byok.rescue import wal as walfile

PAGE_SIZES = (1024, 4096, 65536)
CHAT_MARK = b"CHAT-HISTORY-MARKER"
DELETED_MARK = b"DELETED-ITEM-MARKER"
SIDE = ("", "-wal", "-journal")
DEADLINE_S = 30


def index_max_local(page_size: int, reserved: int = 0) -> int:
    return (page_size - reserved - 12) * 64 // 255 - 23


ENCODING_NUMBERS = {"": 1, "UTF-16le": 2, "UTF-16be": 3}


def empty_database(page_size: int, reserved: int, encoding: str = "") -> bytes:
    """A one-page database whose pages keep `reserved` bytes unused (Python's sqlite3 cannot ask for that)."""
    header = struct.pack(">16sHBBBBBBIIIIIIIIIIII20xII", b"SQLite format 3\0", page_size % 65536, 1, 1, reserved,
                         64, 32, 32, 1, 1, 0, 0, 0, 4, 0, 0, ENCODING_NUMBERS[encoding], 0, 0, 0, 1,
                         3040001)  # fmt: skip
    usable = page_size - reserved
    leaf = struct.pack(">BHHHB", sc.TABLE_LEAF, 0, 0, usable % 65536, 0)
    return (header + leaf).ljust(page_size, b"\0")


# --- databases written as Cursor writes them ------------------------------------------------------------------------


class Live:
    """A database being written: WAL mode (or DELETE), no automatic checkpoint, copied at chosen moments."""

    def __init__(
        self, folder: Path, page_size: int, *, wal: bool = True, seed: int = 0, reserved: int = 0, encoding: str = ""
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.db = folder / "state.vscdb"
        self.page_size = page_size
        self.rng = random.Random(seed)
        if reserved:
            self.db.write_bytes(empty_database(page_size, reserved, encoding))
        self.conn = sqlite3.connect(self.db, isolation_level=None)
        self.conn.execute(f"PRAGMA page_size={page_size}")
        if encoding:
            self.conn.execute(f"PRAGMA encoding='{encoding}'")
        self.conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        for table in ("ItemTable", "cursorDiskKV"):
            self.conn.execute(f"CREATE TABLE {table} (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        self.counter = 0
        self.reserved = reserved

    def value(self, size: int) -> str | bytes:
        self.counter += 1
        text = f"v{self.counter}:" + self.rng.randbytes(size // 2 + 1).hex()[:size]
        return text.encode() if self.counter % 5 == 0 else text

    def items(self, count: int, *, big: int = 0, long_keys: int = 0, tag: str = "row", mark: bytes = b"") -> None:
        """Small rows, rows bigger than a page (overflow), rows whose key spills out of the index."""
        ps = self.page_size
        rows: list[tuple[str, object]] = [
            (f"{tag}.{i:05d}", self.value(self.rng.randint(5, 300))) for i in range(count)
        ]
        for i in range(big):  # a marked value ends with its mark: only its overflow pages hold it
            size = self.rng.randint(2 * ps, 3 * ps)
            rows.append((f"{tag}.big.{i}", b"f" * size + mark if mark else self.value(size)))
        key_len = index_max_local(ps, self.reserved)
        rows += [(f"{tag}.long.{i:03d}." + "k" * self.rng.randint(key_len + 10, key_len + ps), self.value(40))
                 for i in range(long_keys)]  # fmt: skip
        rows.append((f"{tag}.null", None))
        self.insert("ItemTable", rows)

    def chat(self, total: int) -> None:
        rows, used = [], 0
        while used < total:
            size = self.rng.randint(1000, 20000)
            rows.append(
                (f"bubbleId:{self.counter:08d}:{used}", CHAT_MARK + self.rng.randbytes(size // 2).hex().encode())
            )
            used += size
        self.insert("cursorDiskKV", rows)

    def insert(self, table: str, rows: list) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
        self.conn.execute("COMMIT")

    def sql(self, *statements: str) -> None:
        self.conn.execute("BEGIN")
        for s in statements:
            self.conn.execute(s)
        self.conn.execute("COMMIT")

    def checkpoint(self, mode: str = "TRUNCATE") -> None:
        busy, _, _ = self.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        assert busy == 0

    def backup(self, dest: Path) -> Path:
        """Copy the files as a backup tool would, while the database is open: never the -shm."""
        dest.mkdir(parents=True, exist_ok=True)
        for suffix in SIDE:
            if Path(f"{self.db}{suffix}").exists():
                shutil.copyfile(f"{self.db}{suffix}", dest / f"state.vscdb{suffix}")
        return dest / "state.vscdb"

    def close(self) -> None:
        self.conn.close()


def base_content(live: Live) -> None:
    long_keys = 24 if live.page_size > 4096 else 40
    live.items(150, big=6, long_keys=long_keys, tag="base")
    live.chat(1_500_000)
    live.items(40, tag="mid")
    live.chat(500_000)


# --- what SQLite reads ---------------------------------------------------------------------------------------------


def read_all(conn: sqlite3.Connection) -> tuple:
    """ItemTable through the table b-tree, through its index alone, and by key lookups (index then table)."""
    table = conn.execute("SELECT rowid, key, value, typeof(value) FROM ItemTable NOT INDEXED ORDER BY rowid").fetchall()
    index = [
        k for (k,) in conn.execute("SELECT key FROM ItemTable INDEXED BY sqlite_autoindex_ItemTable_1 ORDER BY key")
    ]
    looked = [conn.execute("SELECT value FROM ItemTable WHERE key = ?", (k,)).fetchone() for k in index[::3]]
    return table, index, looked


def reference_folder(db: Path, scratch: Path) -> Path:
    """A full copy of the files (never the -shm) in scratch/reference."""
    folder = scratch / "reference"
    folder.mkdir()
    for suffix in SIDE:
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", folder / f"state.vscdb{suffix}")
    return folder


def reference(db: Path, scratch: Path) -> tuple:
    """The rows of a full copy of the files, opened normally: SQLite recovers the -wal (or rolls back a -journal)."""
    conn = sqlite3.connect(reference_folder(db, scratch) / "state.vscdb")
    try:
        return read_all(conn)
    finally:
        conn.close()


def assert_overflow_everywhere(db: Path, page_size: int) -> None:
    """The reference copy has table overflow chains, and index cells that spill from interior pages too."""
    conn = sqlite3.connect(db)
    try:
        stats = "SELECT pagetype, max(mx_payload) FROM dbstat WHERE name = ? GROUP BY pagetype"
        table = dict(conn.execute(stats, ("ItemTable",)))
        index = dict(conn.execute(stats, ("sqlite_autoindex_ItemTable_1",)))
    finally:
        conn.close()
    assert "overflow" in table and table["leaf"] > page_size - 35
    assert index["internal"] > index_max_local(page_size) and "overflow" in index


def copy_rows(copy: sc.CopiedDatabase) -> tuple:
    conn = sqlite3.connect(copy.uri, uri=True)
    try:
        assert conn.execute("PRAGMA quick_check(ItemTable)").fetchone() == ("ok",)
        return read_all(conn)
    finally:
        conn.close()


# --- the backup stays as it was ------------------------------------------------------------------------------------


def tree_state(folder: Path) -> dict:
    state = {".": os.lstat(folder).st_mtime_ns}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            state[str(path.relative_to(folder))] = (info.st_mode, info.st_size, info.st_mtime_ns, content)
    return state


@pytest.fixture
def seal():
    """seal(folder): make it read-only (0555 folders, 0444 files) and check at the end that nothing changed."""
    sealed: list[tuple[Path, dict]] = []

    def do(folder: Path) -> Path:
        for root, dirs, files in os.walk(folder):
            for name in files:
                if not os.path.islink(Path(root) / name):
                    os.chmod(Path(root) / name, 0o444)
            for name in dirs:
                os.chmod(Path(root) / name, 0o555)
        os.chmod(folder, 0o555)
        sealed.append((folder, tree_state(folder)))
        return folder

    yield do
    for folder, before in sealed:
        after = tree_state(folder)
        for root, dirs, _files in os.walk(folder):
            for name in dirs:
                os.chmod(Path(root) / name, 0o755)
        os.chmod(folder, 0o755)
        assert after == before, f"the backup in {folder} changed"


@pytest.fixture
def workdir(tmp_path):
    with sc.private_tempdir(tmp_path) as folder:
        yield folder


def scenario_backup(tmp_path: Path, build: Callable[[Live], None], page_size: int, seal, damage=None) -> Path:
    """Cursor's usual content, then `build`; backed up while open, `damage`d, then sealed."""
    live = Live(tmp_path / "live", page_size)
    base_content(live)
    build(live)
    db = live.backup(tmp_path / "backup")
    live.close()
    if damage is not None:
        damage(db)
    seal(tmp_path / "backup")
    return db


def flip_wal(db: Path, offset: int, mask: int = 0x55) -> None:
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    data[offset] ^= mask
    wal.write_bytes(bytes(data))


def check_equal(db: Path, tmp_path: Path, workdir: Path, how: str = "sparse") -> sc.CopiedDatabase:
    want = reference(db, tmp_path)
    with sc.open_copy(db, workdir=workdir) as copy:
        assert copy.how == how, copy.reason
        got = copy_rows(copy)
    assert got[0] == want[0]  # every row, through the table
    assert got[1] == want[1]  # every key, through the index alone
    assert got[2] == want[2]  # lookups by key
    assert list(workdir.iterdir()) == []  # close() removed the copy
    return copy


def wal_of(db: Path) -> walfile.WalIndex:
    path = Path(f"{db}-wal")
    with open(path, "rb") as fh:
        return walfile.read_wal(fh, path.stat().st_size)


# --- the prototype: sparse copy == full copy --------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_rows_only_in_the_wal_and_the_database_grown_past_the_main_file(tmp_path, seal, workdir, page_size):
    def build(live: Live) -> None:
        live.checkpoint()
        live.items(60, big=3, long_keys=8, tag="walonly")
        live.sql("UPDATE ItemTable SET value = 'changed' WHERE key LIKE 'base.000%'",
                 "DELETE FROM ItemTable WHERE key LIKE 'mid.001%'")  # fmt: skip
        for n in range(3):  # the same rows rewritten commit after commit, as Cursor rewrites its key rows
            live.sql(f"UPDATE ItemTable SET value = 'key version {n}' WHERE key LIKE 'base.001%'")
            live.chat(150_000)

    db = scenario_backup(tmp_path, build, page_size, seal)
    index = wal_of(db)
    assert index.db_pages * page_size > db.stat().st_size  # grown inside the -wal
    copy = check_equal(db, tmp_path, workdir)
    assert_overflow_everywhere(tmp_path / "reference" / "state.vscdb", page_size)
    assert copy.wal_frames_used == index.committed_frames > 0
    assert copy.bytes_written < db.stat().st_size + Path(f"{db}-wal").stat().st_size


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_uncommitted_trailing_frames_with_good_salts_and_checksums_are_ignored(tmp_path, seal, workdir, page_size):
    live = Live(tmp_path / "live", page_size)
    base_content(live)
    live.checkpoint()
    live.items(20, tag="committed")
    live.conn.execute("PRAGMA cache_size=10")  # the open transaction spills its pages into the -wal
    live.conn.execute("BEGIN")
    live.conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", [(f"uncommitted.{i}", "x" * 3000) for i in range(300)])
    live.conn.execute("UPDATE ItemTable SET value = 'uncommitted' WHERE key LIKE 'base.%'")
    db = live.backup(tmp_path / "backup")  # a backup taken mid-transaction
    live.conn.execute("ROLLBACK")
    live.close()
    seal(tmp_path / "backup")
    index = wal_of(db)
    assert index.valid_frames > index.committed_frames > 0  # valid frames after the last commit
    copy = check_equal(db, tmp_path, workdir)
    assert copy.wal_frames_ignored >= index.valid_frames - index.committed_frames


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_frames_left_from_an_older_log_are_ignored(tmp_path, seal, workdir, page_size):
    def build(live: Live) -> None:
        live.checkpoint()
        live.items(200, big=4, long_keys=6, tag="oldgen")  # a long log ...
        live.chat(300_000)
        live.checkpoint("RESTART")  # ... folded into the main file: the next write restarts the log
        # A short new log over pages that the old frames after it hold older versions of.
        live.sql("DELETE FROM ItemTable WHERE key IN ('oldgen.00001', 'oldgen.00150', 'oldgen.00199')",
                 "UPDATE ItemTable SET value = 'new' WHERE key = 'base.00001'")  # fmt: skip

    db = scenario_backup(tmp_path, build, page_size, seal)
    index = wal_of(db)
    assert index.file_frames > index.valid_frames == index.committed_frames > 0  # old frames follow, old salts
    check_equal(db, tmp_path, workdir)


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_a_frame_damaged_in_the_middle_ends_the_log_there_as_in_sqlite(tmp_path, seal, workdir, page_size):
    def build(live: Live) -> None:
        live.checkpoint()
        for n in range(4):
            live.items(30, big=1, tag=f"commit{n}")

    seen = {}

    def damage(db: Path) -> None:
        seen["whole"] = wal_of(db)
        seen["frame"] = frame = seen["whole"].committed_frames // 2
        flip_wal(db, walfile.WAL_HEADER_SIZE + (frame - 1) * (walfile.FRAME_HEADER_SIZE + page_size) + 100)

    db = scenario_backup(tmp_path, build, page_size, seal, damage)
    assert wal_of(db).committed_frames < seen["frame"] <= seen["whole"].committed_frames
    check_equal(db, tmp_path, workdir)


@pytest.mark.parametrize("reserved, encoding", [(32, ""), (0, "UTF-16le"), (8, "UTF-16be")])
def test_reserved_bytes_and_utf16_schemas(tmp_path, seal, workdir, reserved, encoding):
    live = Live(tmp_path / "live", 4096, reserved=reserved, encoding=encoding)
    base_content(live)
    live.checkpoint()
    live.items(30, big=2, long_keys=6, tag="wal")
    header = live.db.read_bytes()[:100]
    assert header[sc.HDR_RESERVED] == reserved
    assert struct.unpack_from(">I", header, sc.HDR_TEXT_ENCODING)[0] == ENCODING_NUMBERS[encoding]
    db = live.backup(tmp_path / "backup")
    live.close()
    seal(db.parent)
    check_equal(db, tmp_path, workdir)


def test_the_statistics_sqlite_loads_on_open_are_copied(tmp_path, seal, workdir):
    def build(live: Live) -> None:
        live.checkpoint()
        live.conn.execute("ANALYZE")  # sqlite_stat1: read whenever SQLite loads the schema
        live.items(10, tag="after")

    db = scenario_backup(tmp_path, build, 4096, seal)
    check_equal(db, tmp_path, workdir)
    ref = sqlite3.connect(tmp_path / "reference" / "state.vscdb")
    want = ref.execute("SELECT * FROM sqlite_stat1 ORDER BY 1, 2").fetchall()
    ref.close()
    with sc.open_copy(db, workdir=workdir) as copy:
        conn = sqlite3.connect(copy.uri, uri=True)
        assert want and conn.execute("SELECT * FROM sqlite_stat1 ORDER BY 1, 2").fetchall() == want  # a failed load
        conn.close()  # of the statistics is silent in SQLite: only other query plans would show it


def rechecksum(db: Path, *, big_endian: bool, edit: Callable[[int, bytearray, int], None] | None = None) -> None:
    """Rewrite the -wal's checksums (as a big-endian machine writes them: magic 0x377f0683), after `edit`ing frames."""
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    index = wal_of(db)
    struct.pack_into(">I", data, 0, walfile.WAL_MAGIC | big_endian)
    sums = walfile.checksum(bytes(data[:24]), 0, 0, big_endian)
    struct.pack_into(">II", data, 24, *sums)
    frame_size = walfile.FRAME_HEADER_SIZE + index.page_size
    for n in range(index.valid_frames):
        at = walfile.WAL_HEADER_SIZE + n * frame_size
        if edit is not None:
            edit(n + 1, data, at)
        sums = walfile.checksum(bytes(data[at : at + 8]), *sums, big_endian)
        sums = walfile.checksum(bytes(data[at + walfile.FRAME_HEADER_SIZE : at + frame_size]), *sums, big_endian)
        struct.pack_into(">II", data, at + 16, *sums)
    wal.write_bytes(bytes(data))


def test_a_wal_with_big_endian_checksums(tmp_path, seal, workdir):
    before = {}

    def damage(db: Path) -> None:
        before["rows"] = reference(db, tmp_path / "as-written")
        rechecksum(db, big_endian=True)

    (tmp_path / "as-written").mkdir()
    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(40, big=2, tag="w")), 4096, seal, damage)
    assert wal_of(db).committed_frames > 0
    assert reference(db, tmp_path) == before["rows"]  # SQLite reads the rewritten log as the original
    shutil.rmtree(tmp_path / "reference")
    check_equal(db, tmp_path, workdir)


def test_a_commit_claiming_more_pages_than_a_file_can_hold(tmp_path, seal, workdir):
    """2**32 - 1 pages of 64 KiB: refused where the filesystem caps file sizes (ext4), else read as SQLite reads it."""

    def damage(db: Path) -> None:
        last = wal_of(db).committed_frames

        def huge(number: int, data: bytearray, at: int) -> None:
            if number == last:
                struct.pack_into(">I", data, at + 4, 2**32 - 1)

        rechecksum(db, big_endian=False, edit=huge)

    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(5, tag="w")), 65536, seal, damage)
    assert wal_of(db).db_pages == 2**32 - 1
    try:
        with sc.open_copy(db, workdir=workdir) as copy:
            got = copy_rows(copy)
    except NotACursorDatabase as exc:
        assert "more than a file can hold" in str(exc)
    else:
        assert got == reference(db, tmp_path)
    assert list(workdir.iterdir()) == []


def test_a_journal_that_is_not_hot_is_ignored_as_sqlite_ignores_it(tmp_path, seal, workdir):
    def damage(db: Path) -> None:
        Path(f"{db}-journal").write_bytes(bytes(512) + b"old bytes")  # a zeroed header: nothing to roll back

    db = scenario_backup(tmp_path, lambda live: live.checkpoint(), 1024, seal, damage)
    copy = check_equal(db, tmp_path, workdir)
    assert copy.how == "sparse"


def test_a_wal_with_a_damaged_header_adds_nothing(tmp_path, seal, workdir):
    def damage(db: Path) -> None:
        flip_wal(db, 13, 1)  # the checkpoint sequence number: the header checksum no longer matches

    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(30, tag="lost")), 4096, seal, damage)
    assert not wal_of(db).has_content
    copy = check_equal(db, tmp_path, workdir)
    assert copy.wal_frames_used == 0


def test_an_empty_wal_takes_the_sparse_copy_from_the_main_file_alone(tmp_path, seal, workdir):
    live = Live(tmp_path / "live", 4096)
    base_content(live)
    live.checkpoint()  # TRUNCATE: a 0-byte -wal stays while the database is open
    db = live.backup(tmp_path / "backup")
    live.close()
    assert Path(f"{db}-wal").stat().st_size == 0
    seal(tmp_path / "backup")
    check_equal(db, tmp_path, workdir)


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_no_wal_opens_in_place_and_creates_nothing(tmp_path, seal, workdir, page_size):
    live = Live(tmp_path / "live", page_size)  # WAL mode in the header, closed cleanly: no -wal left
    base_content(live)
    live.close()
    db = live.db
    assert not Path(f"{db}-wal").exists()
    seal(db.parent)
    copy = check_equal(db, tmp_path, workdir, how="in-place")
    assert copy.path == db and copy.bytes_written == 0


def test_a_rollback_journal_database_opens_in_place(tmp_path, seal, workdir):
    live = Live(tmp_path / "live", 4096, wal=False)
    base_content(live)
    live.close()
    seal(live.db.parent)
    check_equal(live.db, tmp_path, workdir, how="in-place")


def test_a_hot_journal_is_rolled_back_in_a_full_copy_announced_with_its_size(tmp_path, seal, workdir):
    live = Live(tmp_path / "live", 1024, wal=False)
    base_content(live)
    before = read_all(live.conn)
    live.conn.execute("PRAGMA cache_size=10")  # spill: the main file is written before the commit
    live.conn.execute("BEGIN")
    live.conn.execute("UPDATE ItemTable SET value = 'half-written'")
    live.conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", [(f"new.{i}", "y" * 900) for i in range(400)])
    db = live.backup(tmp_path / "backup")
    live.conn.execute("ROLLBACK")
    live.close()
    assert Path(f"{db}-journal").stat().st_size > 0
    seal(tmp_path / "backup")
    heard: list[sc.CopyProgress] = []
    with sc.open_copy(db, workdir=workdir, progress=heard.append) as copy:
        assert copy.how == "full" and "journal" in copy.reason
        assert copy_rows(copy) == before
    total = db.stat().st_size + Path(f"{db}-journal").stat().st_size
    assert heard[0].done == 0 and heard[0].total == total and heard[-1].done == total
    assert list(workdir.iterdir()) == []


def test_freed_pages_and_chat_history_are_never_copied(tmp_path, seal, workdir):
    def build(live: Live) -> None:
        live.checkpoint()
        live.items(0, big=5, tag="gone", mark=DELETED_MARK)
        live.sql("DELETE FROM ItemTable WHERE key LIKE 'gone.%'")  # their overflow pages go to the freelist

    db = scenario_backup(tmp_path, build, 4096, seal)
    assert DELETED_MARK in Path(f"{db}-wal").read_bytes() and CHAT_MARK in db.read_bytes()
    with sc.open_copy(db, workdir=workdir) as copy:
        data = copy.path.read_bytes()
        assert copy.how == "sparse" and DELETED_MARK not in data and CHAT_MARK not in data
        assert os.stat(copy.path).st_blocks * 512 <= copy.bytes_written + 64 * 1024  # holes cost nothing
        assert stat.S_IMODE(os.stat(copy.path).st_mode) == 0o600
        assert data[sc.HDR_WRITE_VERSION : sc.HDR_READ_VERSION + 1] == b"\x01\x01"


def test_a_symlinked_database_is_read_through_and_nothing_is_written_on_either_side(tmp_path, seal, workdir):
    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(30, tag="w")), 4096, seal)
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(db, linked / "state.vscdb")
    os.symlink(f"{db}-wal", linked / "state.vscdb-wal")
    seal(linked)
    check_equal(linked / "state.vscdb", tmp_path, workdir)


def test_the_sqlite_check_catches_a_page_the_walk_missed_and_a_full_copy_follows(tmp_path, seal, workdir, monkeypatch):
    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(30, big=2, tag="w")), 4096, seal)
    real = sc._Pages.take

    def forgetful(self, pgno, what):
        data = real(self, pgno, what)
        if what.startswith("an overflow chain"):
            self.sink = lambda *_a: None  # from here on, pages are read but not written
        return data

    monkeypatch.setattr(sc._Pages, "take", forgetful)
    heard: list[sc.CopyProgress] = []
    with sc.open_copy(db, workdir=workdir, progress=heard.append) as copy:
        assert copy.how == "full" and "check" in copy.reason
        assert copy_rows(copy) == reference(db, tmp_path)
    assert heard and heard[0].done == 0


def test_without_holes_a_full_copy_is_made_and_announced(tmp_path, seal, workdir, monkeypatch):
    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(30, tag="w")), 1024, seal)
    monkeypatch.setattr(sc, "holes_supported", lambda _folder: False)
    heard: list[sc.CopyProgress] = []
    with sc.open_copy(db, workdir=workdir, progress=heard.append) as copy:
        assert copy.how == "full" and "sparse" in copy.reason
        assert not Path(f"{copy.path}-wal").exists() and not Path(f"{copy.path}-shm").exists()
        assert copy_rows(copy) == reference(db, tmp_path)
    sizes = db.stat().st_size + Path(f"{db}-wal").stat().st_size
    assert (heard[0].done, heard[0].total, heard[-1].done) == (0, sizes, sizes)
    assert list(workdir.iterdir()) == []


def test_holes_are_supported_here(tmp_path):
    folder = tmp_path / "probe"
    folder.mkdir()
    assert sc.holes_supported(folder)
    assert list(folder.iterdir()) == []


# --- through Store ---------------------------------------------------------------------------------------------------


def test_store_reads_the_copy_like_a_full_copy(tmp_path, seal, workdir):
    def build(live: Live) -> None:
        live.checkpoint()
        live.insert("ItemTable", [(k, f"value of {k}") for k in ROW_KEYS])
        live.insert("ItemTable", [(p + "x", "under a prefix") for p in ROW_PREFIXES])

    db = scenario_backup(tmp_path, build, 4096, seal)
    reference(db, tmp_path)
    ref = sqlite3.connect(tmp_path / "reference" / "state.vscdb")
    want = dict(ref.execute("SELECT key, value FROM ItemTable"))
    ref.close()
    with sc.copied_store(db, workdir=workdir) as store:
        assert store.snapshot
        assert store.items() == want
        got = store.get_items(ROW_KEYS, ROW_PREFIXES)
        assert got and got == {k: v for k, v in want.items() if k in ROW_KEYS or k.startswith(tuple(ROW_PREFIXES))}
        assert store.quick_check() == "ok"
    assert list(workdir.iterdir()) == []


# --- the traps the module avoids ---------------------------------------------------------------------------------


def test_canary_mode_ro_would_create_a_file_beside_the_backup(tmp_path):
    """What the sealed checks guard against: plain mode=ro on a WAL backup writes beside it (or fails read-only)."""
    db = Live(tmp_path / "live", 1024)
    db.items(5)
    backup = db.backup(tmp_path / "backup")
    db.close()
    os.chmod(backup.parent, 0o555)
    try:
        before = set(os.listdir(backup.parent))
        try:
            conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
            conn.execute("SELECT count(*) FROM ItemTable").fetchone()
            conn.close()
            assert set(os.listdir(backup.parent)) - before == {"state.vscdb-shm"}  # root ignores 0555
        except sqlite3.OperationalError:
            assert os.geteuid() != 0
    finally:
        os.chmod(backup.parent, 0o755)


READ_ONLY_CHILD = """
import json, sqlite3, sys
from pathlib import Path
from cursor_byok.rescue import sparse_copy as sc
db, work = Path(sys.argv[1]), Path(sys.argv[2])
out = {}
try:
    sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM ItemTable").fetchone()
    out["mode_ro"] = "opened"
except sqlite3.Error as exc:
    out["mode_ro"] = str(exc)
with sc.open_copy(db, workdir=work) as copy:
    out["how"] = copy.how
    out["rows"] = sqlite3.connect(copy.uri, uri=True).execute("SELECT key, hex(value) FROM ItemTable").fetchall()
print(json.dumps(out))
"""


def read_only_mount_works() -> bool:
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=DEADLINE_S)
    return probe.returncode == 0


@pytest.mark.skipif(not read_only_mount_works(), reason="needs root and unshare -m for a read-only bind mount")
def test_on_a_read_only_mount_where_mode_ro_cannot_open_it(tmp_path, seal, workdir):
    """A real read-only filesystem (EROFS stops root too), in a mount namespace of its own."""
    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(30, big=2, tag="w")), 4096, seal)
    script = 'mount --bind -o ro "$1" "$1" && exec "$2" -c "$3" "$4" "$5"'
    argv = ["unshare", "-m", "sh", "-c", script, "sh", str(db.parent), sys.executable, READ_ONLY_CHILD, str(db),
            str(workdir)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(sc.__file__).resolve().parents[2])}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE_S, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mode_ro"] == "unable to open database file"  # the trap: no -shm in the backup
    ref = sqlite3.connect(reference_folder(db, tmp_path) / "state.vscdb")
    want = ref.execute("SELECT key, hex(value) FROM ItemTable").fetchall()
    ref.close()
    assert out["how"] == "sparse" and sorted(map(tuple, out["rows"])) == sorted(want)


def test_the_work_folder_must_be_private_and_elsewhere(tmp_path, seal):
    db = scenario_backup(tmp_path, lambda live: None, 1024, seal)
    with pytest.raises(ValueError, match="own folder"):
        os.chmod(db.parent, 0o700)
        try:
            sc.open_copy(db, workdir=db.parent)
        finally:
            os.chmod(db.parent, 0o555)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with pytest.raises(ValueError, match="private"):
        sc.open_copy(db, workdir=shared)


def test_private_tempdir_is_0700_and_goes_away_even_on_an_exception(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(KeyError):
        with sc.private_tempdir(parent) as folder:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            (folder / "sub").mkdir()
            (folder / "sub" / "secret").write_text("x")
            os.chmod(folder / "sub", 0o500)
            raise KeyError("boom")
    assert list(parent.iterdir()) == []


# --- hostile copies ----------------------------------------------------------------------------------------------


def plain_db(tmp_path: Path, page_size: int = 1024) -> tuple[Path, sqlite3.Connection]:
    """A rollback-journal database to damage, with its dbstat page map at hand."""
    live = Live(tmp_path / "hostile", page_size, wal=False)
    live.items(200, big=4, long_keys=20, tag="h")
    live.chat(100_000)
    return live.db, live.conn


def pages_of(conn: sqlite3.Connection, name: str, kind: str) -> list[int]:
    rows = conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno", (name, kind))
    return [r[0] for r in rows]


def patch(db: Path, page_size: int, pgno: int, offset: int, raw: bytes) -> None:
    with open(db, "r+b") as fh:
        fh.seek((pgno - 1) * page_size + offset)
        fh.write(raw)


def first_child_offset(db: Path, page_size: int, pgno: int) -> int:
    with open(db, "rb") as fh:
        fh.seek((pgno - 1) * page_size)
        page = fh.read(page_size)
    return struct.unpack_from(">H", page, sc.INTERIOR_HEADER_SIZE)[0]


def damaged_copy(tmp_path: Path, damage: Callable[[Path, sqlite3.Connection], None], seal) -> Path:
    db, conn = plain_db(tmp_path)
    damage(db, conn)
    conn.close()
    Path(f"{db}-wal").write_bytes(b"")  # an empty -wal: the sparse path, which walks the trees
    seal(db.parent)
    return db


def refuses(db: Path, workdir: Path, match: str) -> str:
    with pytest.raises(NotACursorDatabase, match=match) as caught:
        sc.open_copy(db, workdir=workdir)
    message = str(caught.value)
    assert "\n" not in message and str(db) in message
    assert list(workdir.iterdir()) == []
    return message


def test_a_child_pointer_back_to_the_root_is_a_cycle(tmp_path, seal, workdir):
    def damage(db, conn):
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ItemTable'").fetchone()[0]
        inner = [p for p in pages_of(conn, "ItemTable", "internal") if p != root] or [root]
        patch(db, 1024, inner[0], first_child_offset(db, 1024, inner[0]), struct.pack(">I", root))

    refuses(damaged_copy(tmp_path, damage, seal), workdir, "a second time")


@pytest.mark.parametrize("child, why", [(0, "outside"), (10**6, "outside")])
def test_a_child_pointer_out_of_range_is_refused(tmp_path, seal, workdir, child, why):
    def damage(db, conn):
        inner = pages_of(conn, "sqlite_autoindex_ItemTable_1", "internal")[0]
        patch(db, 1024, inner, first_child_offset(db, 1024, inner), struct.pack(">I", child))

    refuses(damaged_copy(tmp_path, damage, seal), workdir, why)


def overflow_links(db: Path, conn: sqlite3.Connection) -> dict[int, int]:
    with open(db, "rb") as fh:
        links = {}
        for pgno in pages_of(conn, "ItemTable", "overflow"):
            fh.seek((pgno - 1) * 1024)
            links[pgno] = struct.unpack(">I", fh.read(4))[0]
    return links


def test_an_overflow_chain_cut_short_is_refused(tmp_path, seal, workdir):
    def damage(db, conn):
        middle = next(p for p, nxt in overflow_links(db, conn).items() if nxt)
        patch(db, 1024, middle, 0, b"\0\0\0\0")

    refuses(damaged_copy(tmp_path, damage, seal), workdir, "ends after")


def test_an_overflow_chain_that_loops_is_refused(tmp_path, seal, workdir):
    def damage(db, conn):
        middle = next(p for p, nxt in overflow_links(db, conn).items() if nxt)
        patch(db, 1024, middle, 0, struct.pack(">I", middle))

    refuses(damaged_copy(tmp_path, damage, seal), workdir, "a second time")


def test_a_page_that_is_not_a_btree_page_is_refused(tmp_path, seal, workdir):
    def damage(db, conn):
        patch(db, 1024, pages_of(conn, "ItemTable", "leaf")[0], 0, b"\x07")

    refuses(damaged_copy(tmp_path, damage, seal), workdir, "not a b-tree page")


def test_a_main_file_cut_short_under_its_wal_is_refused(tmp_path, seal, workdir):
    live = Live(tmp_path / "live", 1024)
    live.chat(200_000)
    live.items(100, big=3, tag="tail")  # ItemTable's pages at the end of the main file
    live.checkpoint()
    live.items(5, tag="wal")
    db = live.backup(tmp_path / "backup")
    live.close()
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size - 40 * 1024)
    seal(db.parent)
    refuses(db, workdir, "cut short")


def test_not_sqlite_files_are_refused(tmp_path, workdir, seal):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "empty.vscdb").write_bytes(b"")
    (folder / "text.vscdb").write_bytes(b"hello" * 100)
    (folder / "pagesize.vscdb").write_bytes(b"SQLite format 3\x00\x03\xe8" + bytes(1000))
    seal(folder)
    for name in ("empty.vscdb", "text.vscdb"):
        with pytest.raises(NotACursorDatabase, match="not a SQLite file"):
            sc.open_copy(folder / name, workdir=workdir)
    with pytest.raises(NotACursorDatabase, match="page size of 1000"):
        sc.open_copy(folder / "pagesize.vscdb", workdir=workdir)


def test_a_wal_of_an_unknown_version_is_refused_as_sqlite_refuses_it(tmp_path, seal, workdir):
    def damage(db: Path) -> None:
        wal = Path(f"{db}-wal")
        data = bytearray(wal.read_bytes())
        struct.pack_into(">I", data, 4, walfile.WAL_VERSION + 1)
        big_endian = bool(data[3] & 1)
        struct.pack_into(">II", data, 24, *walfile.checksum(bytes(data[:24]), 0, 0, big_endian))
        wal.write_bytes(bytes(data))

    db = scenario_backup(tmp_path, lambda live: (live.checkpoint(), live.items(5, tag="w")), 1024, seal, damage)
    with pytest.raises(sqlite3.Error):
        reference(db, tmp_path)
    refuses(db, workdir, "format version")


def test_a_wal_that_is_a_fifo_is_refused_without_waiting(tmp_path, workdir, seal):
    live = Live(tmp_path / "live", 1024)
    live.items(5)
    live.close()
    os.mkfifo(f"{live.db}-wal")
    seal(live.db.parent)
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(outcome, live.db, workdir), daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "open_copy blocked on a FIFO"
    assert isinstance(outcome[0], DatabaseUnreadable) and "not a regular file" in str(outcome[0])


def _capture(outcome: list[BaseException], db: Path, workdir: Path) -> None:
    try:
        sc.open_copy(db, workdir=workdir).close()
    except BaseException as exc:  # handed to the test's thread
        outcome.append(exc)


def test_a_missing_database_is_unreadable(tmp_path, workdir):
    with pytest.raises(DatabaseUnreadable, match="no such file"):
        sc.open_copy(tmp_path / "nothing.vscdb", workdir=workdir)


@pytest.fixture(scope="module")
def fuzz_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    live = Live(folder / "live", 1024)
    live.items(60, big=2, long_keys=6)
    live.checkpoint()
    live.items(20, tag="wal")
    db = live.backup(folder / "original")
    live.close()
    return db.read_bytes(), Path(f"{db}-wal").read_bytes()


FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))  # more for a longer hunt


@settings(max_examples=FUZZ_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.booleans(), st.integers(0, 2**31), st.integers(1, 255)), min_size=1, max_size=4))
def test_bytes_flipped_anywhere_give_rows_or_a_one_line_error(tmp_path_factory, fuzz_source, flips):
    folder = tmp_path_factory.mktemp("flipped")
    main, wal = (bytearray(b) for b in fuzz_source)
    for in_wal, where, mask in flips:
        target = wal if in_wal else main
        target[where % len(target)] ^= mask
    db = folder / "state.vscdb"
    db.write_bytes(bytes(main))
    Path(f"{db}-wal").write_bytes(bytes(wal))
    work = folder / "work"
    work.mkdir(mode=0o700)
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(outcome, db, work), daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "open_copy did not finish"
    if outcome:
        assert isinstance(outcome[0], ByokError), repr(outcome[0])
        assert "\n" not in str(outcome[0])
    assert list(work.iterdir()) == []
    assert sorted(os.listdir(folder)) == ["state.vscdb", "state.vscdb-wal", "work"]
    assert db.read_bytes() == main and Path(f"{db}-wal").read_bytes() == wal


# --- the benchmark script --------------------------------------------------------------------------------------------

BENCH = REPO / "scripts" / "bench_rescue.py"
BENCH_METRICS = {"rescue-in-place", "rescue-memory", "rescue-wal-scaling", "rescue-wal-cost", "rescue-full-copy",
                 "rescue-sparse-bytes", "rescue-cmd-in-place", "rescue-cmd-memory", "rescue-cmd-wal-scaling",
                 "rescue-cmd-wal-cost"}  # fmt: skip


@pytest.mark.slow
def test_bench_rescue_runs_end_to_end_on_tiny_samples(tmp_path):
    """No timing is asserted: the figures come from a real run of the script, not from the test suite."""
    argv = [sys.executable, str(BENCH), "--work", str(tmp_path), "--small-size", "5MB", "--big-size", "10MB",
            "--runs", "1", "--full-runs", "1", "--warmup", "0", "--json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert set(results) == BENCH_METRICS
    assert all(r["result"] in ("PASS", "FAIL", "INFO") for r in results.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rescue-run-")]  # its scratch links are gone
