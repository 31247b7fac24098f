"""A writable Store takes SQLite's write lock only inside write().

Cursor's SQLite driver gives up on a lock after about a second, so reads that
happen around a write (reflection, verification, quick_check) must not hold
it; on a multi-GB file a whole-file quick_check alone would take seconds.
"""

from __future__ import annotations

import sqlite3

import pytest

from cursor_byok.cursor.store import RowWrite, Store
from cursor_byok.samples.installs import create_db


@pytest.fixture
def wal_db(tmp_path):
    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1"}, wal=True, disk_kv_bytes=1)
    return db


def hold_write_lock(db) -> sqlite3.Connection:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_reads_on_a_writable_store_do_not_wait_for_the_write_lock(wal_db, monkeypatch):
    monkeypatch.setattr("cursor_byok.cursor.store.WRITE_BUSY_TIMEOUT_S", 0.0)
    other = hold_write_lock(wal_db)
    try:
        with Store(wal_db, writable=True) as st:  # reflection reads the schema
            assert st.get_items(["a"]) == {"a": "1"}
            assert st.quick_check() == "ok"
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_write_still_takes_the_lock_up_front(wal_db, monkeypatch):
    from cursor_byok.errors import DatabaseBusy

    monkeypatch.setattr("cursor_byok.cursor.store.WRITE_BUSY_TIMEOUT_S", 0.0)
    with Store(wal_db, writable=True) as st:
        other = hold_write_lock(wal_db)
        try:
            with pytest.raises(DatabaseBusy):
                st.write([RowWrite("a", "2")])
        finally:
            other.execute("ROLLBACK")
            other.close()
        st.write([RowWrite("a", "2")])
        assert st.get_items(["a"]) == {"a": "2"}


def test_quick_check_covers_a_named_table_only(wal_db):
    with Store(wal_db) as st:
        assert st.quick_check("cursorDiskKV") == "ok"
        with pytest.raises(ValueError):
            st.quick_check("sqlite_master; DROP TABLE ItemTable")
