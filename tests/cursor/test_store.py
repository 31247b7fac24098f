"""The SQLite layer: read-only reads that see -wal rows, locks, and all-or-nothing text writes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cursor_byok.cursor import store
from cursor_byok.cursor.rows import ROW_KEYS, ROW_PREFIXES
from cursor_byok.cursor.store import RowWrite, Store, foreign_objects
from cursor_byok.errors import DatabaseBusy, DatabaseUnreadable, NotACursorDatabase
from cursor_byok.samples.installs import create_db


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_of(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT key, value FROM ItemTable"))
    finally:
        conn.close()


@pytest.fixture
def small_db(tmp_path) -> Path:
    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1", "b": "2", "secret://cursorAuth/x": "3"})
    return db


# --- reading ---------------------------------------------------------------------------


def test_read_leaves_the_file_byte_identical(any_generation_dir):
    db = any_generation_dir.db
    before = sha256(db)
    siblings = sorted(p.name for p in db.parent.iterdir())
    with Store(db) as st:
        rows = st.get_items(ROW_KEYS, ROW_PREFIXES)
        st.journal_mode()
        st.quick_check()
    assert rows
    assert sha256(db) == before
    assert sorted(p.name for p in db.parent.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        n for n in siblings if not n.endswith(("-wal", "-shm"))
    ]


def test_read_sees_rows_that_are_only_in_the_wal(small_db):
    writer = sqlite3.connect(small_db, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO ItemTable VALUES ('only-in-wal', 'fresh')")
        wal = Path(str(small_db) + "-wal")
        assert b"only-in-wal" in wal.read_bytes()
        assert b"only-in-wal" not in small_db.read_bytes()
        before = sha256(small_db), sha256(wal)
        with Store(small_db) as st:
            assert st.get_items(["only-in-wal"]) == {"only-in-wal": "fresh"}
        assert (sha256(small_db), sha256(wal)) == before  # no checkpoint by a reader
    finally:
        writer.close()


def test_reads_never_open_immutable(small_db, monkeypatch):
    uris = []
    real_connect = sqlite3.connect

    def spy(database, *args, **kw):
        uris.append(database)
        return real_connect(database, *args, **kw)

    monkeypatch.setattr(sqlite3, "connect", spy)
    with Store(small_db) as st:
        st.get_items(["a"])
    assert uris
    for uri in uris:
        assert uri.startswith("file:") and "mode=ro" in uri
        assert "immutable" not in uri


def test_uri_quotes_odd_paths(tmp_path):
    db = tmp_path / "we?ird #dir%" / "state.vscdb"
    create_db(db, {"k": "v"})
    assert "?mode=ro" in store._uri(db, "ro") and "#" not in store._uri(db, "ro")
    with Store(db) as st:
        assert st.get_items(["k"]) == {"k": "v"}


def test_prefix_lookup_is_a_range_and_exact(tmp_path):
    db = tmp_path / "state.vscdb"
    keys = ["secret://a", "secret://cursorAuth/z", "secret:/0", "secret:/", "secret;", "Secret://a", "cursorAuth/b"]
    create_db(db, {k: k.upper() for k in keys})
    with Store(db) as st:
        got = st.get_items(["cursorAuth/b", "missing"], ["secret://"])
    assert got == {
        "secret://a": "SECRET://A",
        "secret://cursorAuth/z": "SECRET://CURSORAUTH/Z",
        "cursorAuth/b": "CURSORAUTH/B",
    }


def test_prefix_upper_bound():
    assert store.prefix_upper_bound("secret://") == "secret:/0"
    assert store.prefix_upper_bound("a") == "b"


def test_journal_mode_reports_wal_and_delete(tmp_path):
    wal, delete = tmp_path / "w.vscdb", tmp_path / "d.vscdb"
    create_db(wal, {}, wal=True)
    create_db(delete, {}, wal=False)
    with Store(wal) as a, Store(delete) as b:
        assert (a.journal_mode(), b.journal_mode()) == ("wal", "delete")
        assert a.quick_check() == "ok"


# --- files that are not Cursor databases -------------------------------------------------


def test_non_sqlite_file(tmp_path):
    bogus = tmp_path / "state.vscdb"
    bogus.write_text('{"this": "is json"}')
    with pytest.raises(NotACursorDatabase, match="not a SQLite file"):
        Store(bogus)


def test_sqlite_header_with_garbage_after_it(tmp_path):
    bogus = tmp_path / "state.vscdb"
    bogus.write_bytes(store.SQLITE_MAGIC + bytes(range(256)) * 20)
    with pytest.raises(NotACursorDatabase):
        Store(bogus)


def test_missing_item_table(tmp_path):
    db = tmp_path / "state.vscdb"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    conn.close()
    with pytest.raises(NotACursorDatabase, match="missing ItemTable"):
        Store(db)


def test_item_table_alone_is_a_cursor_database_and_cursor_disk_kv_is_never_created(tmp_path):
    """Every global database up to Cursor 0.42 has only ItemTable."""
    db = tmp_path / "state.vscdb"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    conn.execute("INSERT INTO ItemTable VALUES ('releaseNotes/lastVersion', '0.42.5')")
    conn.commit()
    conn.close()
    with Store(db, writable=True) as st:
        assert st.disk_table is None
        st.write([RowWrite("cursorAuth/openAIKey", "sk-test")])
        assert st.get_items(["releaseNotes/lastVersion"]) == {"releaseNotes/lastVersion": "0.42.5"}
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"ItemTable"}


def test_tables_without_key_and_value_columns(tmp_path):
    db = tmp_path / "state.vscdb"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE ItemTable (name TEXT, data BLOB)")
    conn.execute("CREATE TABLE cursorDiskKV (key TEXT, value BLOB)")
    conn.close()
    with pytest.raises(NotACursorDatabase, match=r"ItemTable\(key, value\)"):
        Store(db)


def test_empty_sqlite_file(tmp_path):
    db = tmp_path / "state.vscdb"
    sqlite3.connect(db).close()  # zero bytes: no header at all
    with pytest.raises(NotACursorDatabase):
        Store(db)


def test_missing_file(tmp_path):
    with pytest.raises(DatabaseUnreadable, match="no such file"):
        Store(tmp_path / "absent.vscdb")


def test_directory_instead_of_a_file(tmp_path):
    with pytest.raises(DatabaseUnreadable, match="directory"):
        Store(tmp_path)


def test_path_through_a_regular_file_cannot_be_read(tmp_path):
    # As root, chmod 000 does not stop a read; a path through a plain file does.
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseUnreadable, match="cannot read"):
        Store(tmp_path / "file" / "state.vscdb")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(small_db):
    small_db.chmod(0)
    try:
        with pytest.raises(DatabaseUnreadable, match="permissions"):
            Store(small_db)
    finally:
        small_db.chmod(0o600)


# --- locks -----------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO ItemTable VALUES ('held', 'x')")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def exclusive_lock():
    """Another process holding an EXCLUSIVE lock until the test releases it."""
    procs = []

    def hold(db: Path) -> subprocess.Popen:
        from helpers.children import read_line

        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert read_line(proc).strip() == "locked"
        return proc

    yield hold
    for proc in procs:
        release(proc)


def release(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_read_of_a_locked_rollback_journal_db_is_busy(tmp_path, exclusive_lock, monkeypatch):
    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1"}, wal=False)
    monkeypatch.setattr(store, "READ_BUSY_TIMEOUT_S", 0.05)
    holder = exclusive_lock(db)
    with pytest.raises(DatabaseBusy, match="locked"):
        with Store(db) as st:
            st.get_items(["a"])
    release(holder)
    with Store(db) as st:
        assert st.get_items(["a", "held"]) == {"a": "1"}


def test_read_during_a_wal_writer_is_not_blocked(tmp_path, exclusive_lock, monkeypatch):
    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1"}, wal=True)
    monkeypatch.setattr(store, "READ_BUSY_TIMEOUT_S", 0.05)
    exclusive_lock(db)
    with Store(db) as st:
        assert st.get_items(["a", "held"]) == {"a": "1"}


def test_write_to_a_locked_db_is_busy_and_writes_nothing(tmp_path, exclusive_lock, monkeypatch):
    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1"}, wal=True)
    monkeypatch.setattr(store, "WRITE_BUSY_TIMEOUT_S", 0.05)
    holder = exclusive_lock(db)
    with pytest.raises(DatabaseBusy):  # a writable store takes the write lock from the start
        with Store(db, writable=True) as st:
            st.write([RowWrite("a", "2")])
    release(holder)
    assert rows_of(db) == {"a": "1"}


# --- writing ---------------------------------------------------------------------------


def test_writes_are_text(small_db):
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("new", "value"), RowWrite("a", "changed")])
    conn = sqlite3.connect(small_db)
    types = dict(conn.execute("SELECT key, typeof(value) FROM ItemTable"))
    conn.close()
    assert types["new"] == "text" and types["a"] == "text"
    assert rows_of(small_db)["a"] == "changed"


def test_upsert_keeps_one_row_per_key(small_db):
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("a", "x"), RowWrite("a", "y")])
    conn = sqlite3.connect(small_db)
    assert conn.execute("SELECT count(*), max(value) FROM ItemTable WHERE key='a'").fetchone() == (1, "y")
    conn.close()


def test_text_is_stored_as_text_and_bytes_as_a_blob(small_db):
    """New values are text (Cursor reads TEXT); bytes are only undo putting a BLOB row back as it was."""
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("a", "text-value"), RowWrite("b", b"\xff\x00raw")])
    conn = sqlite3.connect(small_db)
    got = dict(conn.execute("SELECT key, typeof(value) || ':' || hex(value) FROM ItemTable WHERE key IN ('a','b')"))
    conn.close()
    assert got == {"a": "text:" + b"text-value".hex().upper(), "b": "blob:FF00726177"}


def test_failure_mid_write_rolls_everything_back(small_db):
    before = rows_of(small_db)

    def crash(step: str) -> None:
        if step == "sql-2":
            raise RuntimeError("simulated crash")

    with Store(small_db, writable=True) as st:
        with pytest.raises(RuntimeError, match="simulated"):
            st.write([RowWrite("a", "A"), RowWrite("b", None), RowWrite("c", "C")], on_step=crash)
    assert rows_of(small_db) == before


def test_write_steps_are_reported_in_order(small_db):
    steps = []
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("a", "A"), RowWrite("z", "Z")], on_step=steps.append)
    assert steps == ["sql-begin", "sql-0", "sql-1", "sql-commit"]


def test_rowwrite_none_deletes(small_db):
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("b", None), RowWrite("not-there", None)])
    assert rows_of(small_db) == {"a": "1", "secret://cursorAuth/x": "3"}


def test_expect_mismatch_writes_nothing(small_db):
    with Store(small_db, writable=True) as st:
        with pytest.raises(DatabaseBusy, match="changed"):
            st.write([RowWrite("a", "new")], expect={"a": "1", "b": "was-different"})
        st.write([RowWrite("a", "new")], expect={"a": "1", "b": "2", "gone": None})
    assert rows_of(small_db)["a"] == "new"


def test_read_only_store_refuses_to_write(small_db):
    before = sha256(small_db)
    with Store(small_db) as st:
        with pytest.raises(RuntimeError, match="read-only"):
            st.write([RowWrite("a", "x")])
    assert sha256(small_db) == before


def test_writable_store_opens_read_write_never_immutable(small_db, monkeypatch):
    uris = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda db, *a, **k: uris.append(db) or real_connect(db, *a, **k))
    with Store(small_db, writable=True) as st:
        st.write([RowWrite("a", "x")])
    assert uris and all("mode=rw" in u and "immutable" not in u for u in uris)


def test_foreign_schema_objects_are_named_and_cursors_own_are_not():
    rows = [
        ("table", "ItemTable", "ItemTable"),
        ("table", "cursorDiskKV", "cursorDiskKV"),
        ("index", "sqlite_autoindex_ItemTable_1", "ItemTable"),
        ("index", "sqlite_autoindex_cursorDiskKV_1", "cursorDiskKV"),
        ("table", "sqlite_stat1", "sqlite_stat1"),
        ("trigger", "grab\x1b[2J", "ItemTable"),
        ("view", "peek", "peek"),
    ]
    assert foreign_objects(rows) == ["trigger 'grab\\x1b[2J' on 'ItemTable'", "view 'peek'"]
