"""Cursor's state.vscdb through SQLAlchemy Core reflection.

The only module that imports SQLAlchemy. Reads open the file read-only
(`mode=ro`, never `immutable=1`, so rows still in `-wal` are seen; only
side copies with no sidecar files are opened as immutable snapshots; a hot
rollback journal left by a killed write is rolled back first) and only
look rows up by key through the unique index. Writes happen in one short
`BEGIN IMMEDIATE` transaction with a bounded busy timeout and text values,
with `secure_delete` on (a removed value is overwritten, not left in a free
page) and, after a write that removed a key, a checkpoint that empties -wal,
and never into a database whose schema holds triggers, views or other objects
Cursor does not make (checked again inside that transaction).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import quote

from ..errors import DatabaseBusy, DatabaseUnreadable, ForeignSchema, NotACursorDatabase
from ..key_shapes import shown_path
from ..lazy import LazyModule

if TYPE_CHECKING:
    import sqlalchemy
    import sqlalchemy.event
    import sqlalchemy.exc
    import sqlalchemy.pool
    from sqlalchemy import ColumnElement, Connection, Engine, Table
else:  # SQLAlchemy (a quarter of a second) loads when a database is opened: never for --help or `import cursor_byok`
    sqlalchemy = LazyModule("sqlalchemy")

T = TypeVar("T")

TABLES = ("ItemTable", "cursorDiskKV")
WRITE_BUSY_TIMEOUT_S = 2.0
CHECKPOINT_BUSY_S = 0.2  # a checkpoint holds back other writers while it waits for readers: keep that short
READ_BUSY_TIMEOUT_S = 2.0
SQLITE_MAGIC = b"SQLite format 3\x00"
# Cursor makes only its two tables and their UNIQUE(key) autoindexes; SQLite itself may add its statistics
# tables. Anything else (a trigger, a view, another table or index) is foreign: triggers run inside this
# tool's writes, so such a database is read but never written.
CURSOR_SCHEMA = frozenset({("table", t) for t in TABLES} | {("index", f"sqlite_autoindex_{t}_1") for t in TABLES})
SQLITE_OWN_TABLES = ("sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4", "sqlite_sequence")
WRITE_OPTION = "cursor_byok_write"  # execution option of the one connection that may take the write lock


SCHEMA_QUERY = "SELECT type, name, tbl_name FROM sqlite_master"
NOT_UTF8 = "Could not decode to UTF-8"  # pysqlite's message for such a text value, which it then quotes


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string that starts with prefix."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class RowWrite:
    """Set `key` to `value` in ItemTable, or delete the row when value is None.

    New values are always text; bytes appear only when undo restores a row
    that was stored as a BLOB.
    """

    key: str
    value: str | bytes | None
    # For the settings blob: the paths of the fields this write changes inside it (the undo journal keeps only those).
    fields: tuple[tuple[str, ...], ...] = ()


def _bound_as_text(value: str) -> ColumnElement[str]:
    """A value bound as TEXT: ItemTable's value column is declared BLOB, but Cursor stores text."""
    return sqlalchemy.type_coerce(value, sqlalchemy.Text())


def _uri(path: Path, mode: str, immutable: bool = False) -> str:
    return f"file:{quote(os.fsencode(path.resolve()))}?mode={mode}" + ("&immutable=1" if immutable else "")


def _is_busy(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "locked" in text or "busy" in text


def check_sqlite_header(path: Path) -> None:
    """Refuse a file that is missing, unreadable, or not SQLite, before SQLite sees it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise DatabaseUnreadable(
            f"{shown_path(path)}: no such file; check the path or run `cursor-byok where`"
        ) from None
    except IsADirectoryError:
        raise DatabaseUnreadable(f"{shown_path(path)}: is a directory, not a state.vscdb file") from None
    except OSError as exc:
        raise DatabaseUnreadable(f"{shown_path(path)}: cannot read ({exc.strerror}); check its permissions") from None
    if head != SQLITE_MAGIC:
        raise NotACursorDatabase(
            f"{shown_path(path)}: not a SQLite file, so not a Cursor state database; point --db at state.vscdb"
        )


def rollback_pending(path: Path) -> bool:
    """True when a non-empty -journal may be hot: a write in rollback-journal mode was killed.

    SQLite rolls a hot journal back on the next open, as Cursor does at start,
    but a `mode=ro` connection cannot and fails ("attempt to write a readonly
    database"); so reads then open read-write (they still take no write lock).
    """
    try:
        return Path(f"{path}-journal").stat().st_size > 0
    except OSError:
        return False


def has_sidecar(path: Path) -> bool:
    """True when a -wal or -journal file next to the database may hold rows."""
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))


def restore_advice(path: Path) -> str:
    """What to do about a damaged database: a backup only when Cursor made one (3.7 makes none)."""
    backup = Path(f"{path}.backup")
    if backup.is_file():
        return f"quit Cursor and restore it from {backup.name}, or point --db elsewhere"
    return "point --db elsewhere (there is no state.vscdb.backup to restore from)"


def foreign_objects(rows: Iterable[tuple[Any, ...]]) -> list[str]:
    """Descriptions of the sqlite_master rows (type, name, tbl_name) that Cursor does not make."""
    out = []
    for kind, name, table in rows:
        if (kind, name) in CURSOR_SCHEMA or (kind == "table" and name in SQLITE_OWN_TABLES):
            continue
        where = f" on {ascii(str(table)[:64])}" if table and table != name else ""
        out.append(f"{kind} {ascii(str(name)[:64])}{where}")
    return out


class Store:
    """One Cursor state database. Use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = False, snapshot: bool = False) -> None:
        """`snapshot` opens a copy nobody writes (state.vscdb.backup, .corrupted.*)
        with `immutable=1`, so a read leaves no -wal/-shm files next to it. When a
        -wal or -journal file exists (rows immutable would miss) it opens plain read-only.
        """
        self.path = Path(path)
        self.writable = writable
        self.snapshot = snapshot and not writable and not has_sidecar(self.path)
        self.last_lock_hold: float | None = None  # seconds the last write() held the write lock
        check_sqlite_header(self.path)
        self._engine = self._make_engine()
        self.item_table, self.disk_table = self._reflect()

    # -- set-up ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        mode = "rw" if self.writable or (not self.snapshot and rollback_pending(self.path)) else "ro"
        timeout = WRITE_BUSY_TIMEOUT_S if self.writable else READ_BUSY_TIMEOUT_S
        conn = sqlite3.connect(
            _uri(self.path, mode, self.snapshot),
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        if self.writable:  # what a write deletes or replaces is overwritten with zeros, on every SQLite build
            conn.execute("PRAGMA secure_delete = ON")
        return conn

    def _make_engine(self) -> Engine:
        engine = sqlalchemy.create_engine("sqlite://", creator=self._connect, poolclass=sqlalchemy.pool.NullPool)

        # pysqlite's own transaction handling is off (isolation_level=None);
        # we emit BEGIN ourselves so a write takes the lock up front. Reads
        # (reflection, verification), even on a writable store, never take it.
        @sqlalchemy.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

        return engine

    def _reflect(self) -> tuple[Table, Table | None]:
        meta = sqlalchemy.MetaData()
        try:
            meta.reflect(self._engine, only=lambda name, _m: name in TABLES)
        except sqlalchemy.exc.OperationalError as exc:
            raise self._translate(exc) from None
        except sqlalchemy.exc.DatabaseError as exc:
            raise NotACursorDatabase(
                f"{shown_path(self.path)}: damaged or not a SQLite database ({exc.orig}); {restore_advice(self.path)}"
            ) from None
        # ItemTable(key, value) makes a Cursor state database; cursorDiskKV came
        # later (no global database up to 0.42 has it) and is never created here.
        missing = [] if "ItemTable" in meta.tables else ["ItemTable"]
        for name in TABLES:
            if name in meta.tables and {"key", "value"} - set(meta.tables[name].c.keys()):
                missing.append(f"{name}(key, value)")
        if missing:
            raise NotACursorDatabase(
                f"{shown_path(self.path)}: not a Cursor state database (missing {', '.join(missing)}); "
                "point --db at User/globalStorage/state.vscdb"
            )
        return meta.tables["ItemTable"], meta.tables.get("cursorDiskKV")

    def _translate(self, exc: Exception) -> Exception:
        orig = getattr(exc, "orig", exc)
        if _is_busy(exc):
            return DatabaseBusy(
                f"{shown_path(self.path)}: database is locked by another process; quit Cursor (or the other tool) "
                "and try again"
            )
        text = str(orig)
        if NOT_UTF8 in text:  # pysqlite quotes the row's text, which may be a key: never repeat it
            return NotACursorDatabase(
                f"{self.path}: a row holds text that is not UTF-8 (not shown: it may be a key), so the database "
                f"is damaged; {restore_advice(self.path)}"
            )
        if "not a database" in text or "malformed" in text:
            return NotACursorDatabase(
                f"{shown_path(self.path)}: damaged or not a SQLite database ({text}); {restore_advice(self.path)}"
            )
        return DatabaseUnreadable(f"{shown_path(self.path)}: cannot open ({text}); check the path and permissions")

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------

    def _run_read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self._engine.connect() as conn:
                return fn(conn)
        except sqlalchemy.exc.DBAPIError as exc:
            raise self._translate(exc) from None

    def get_items(self, keys: Iterable[str], prefixes: Iterable[str] = ()) -> dict[str, str | bytes]:
        """ItemTable rows with these exact keys or key prefixes, in one read transaction.

        Prefixes become `key >= p AND key < p'` range lookups, which use the
        index; `LIKE` would not.
        """
        t = self.item_table
        conds: list[ColumnElement[bool]] = [t.c.key.in_(list(keys))]
        conds += [sqlalchemy.and_(t.c.key >= p, t.c.key < prefix_upper_bound(p)) for p in prefixes]
        query = sqlalchemy.select(t.c.key, t.c.value).where(sqlalchemy.or_(*conds))
        return self._run_read(lambda conn: {k: v for k, v in conn.execute(query)})

    def items(self) -> dict[str, str | bytes]:
        """Every ItemTable row: for small databases (workspace stores), never for cursorDiskKV."""
        t = self.item_table
        return self._run_read(lambda conn: {k: v for k, v in conn.execute(sqlalchemy.select(t.c.key, t.c.value))})

    def keys(self) -> list[str]:
        """Every ItemTable key, no value (`report` counts rows by prefix): the index alone answers it."""
        t = self.item_table
        return self._run_read(lambda conn: [k for (k,) in conn.execute(sqlalchemy.select(t.c.key))])

    def foreign_schema(self) -> list[str]:
        """Schema objects Cursor does not make (triggers, views, other tables or indexes), described."""
        return self._run_read(lambda conn: foreign_objects(conn.exec_driver_sql(SCHEMA_QUERY).fetchall()))

    def check_writable(self) -> None:
        """Refuse (ForeignSchema, exit 4) a database whose schema holds objects Cursor does not make."""
        self._refuse_foreign(self.foreign_schema())

    def _refuse_foreign(self, found: list[str]) -> None:
        if not found:
            return
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise ForeignSchema(
            f"{shown_path(self.path)}: holds {', '.join(found[:3])}{more}, which Cursor does not make; triggers and "
            "views run inside every write, so cursor-byok will not write to this database and nothing was written. "
            "Inspect it with `sqlite3 state.vscdb .schema` and drop them, or point --db at Cursor's own file"
        )

    def journal_mode(self) -> str:
        return self._run_read(lambda conn: str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()))

    def quick_check(self, table: str = "ItemTable") -> str:
        """PRAGMA quick_check of one table and its index: by default ItemTable, the only one this tool writes.

        A check of the whole file reads every page of a multi-GB database (and
        SQLite older than 3.33, which takes no table name, still does that).
        """
        if table not in TABLES:
            raise ValueError(table)
        rows = self._run_read(lambda conn: conn.exec_driver_sql(f'PRAGMA quick_check("{table}")').fetchall())
        return "; ".join(str(r[0]) for r in rows)

    # -- writes ----------------------------------------------------------------

    def write(
        self,
        writes: Iterable[RowWrite],
        expect: Mapping[str, str | bytes | None] | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """Apply all writes in one BEGIN IMMEDIATE transaction, or none.

        `expect` maps row keys to the values the plan was made against; if a
        row changed since, the transaction is rolled back (DatabaseBusy says
        to retry). `on_step` is called before each SQL step (crash tests).
        """
        if not self.writable:
            raise RuntimeError("store opened read-only")
        writes = list(writes)
        step = on_step or (lambda _name: None)
        t = self.item_table
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                step("sql-begin")
                with conn.begin():  # BEGIN IMMEDIATE: the write lock is ours from here to COMMIT
                    locked_at = time.perf_counter()
                    self._check_unique_key(conn)
                    self._refuse_foreign(foreign_objects(conn.exec_driver_sql(SCHEMA_QUERY).fetchall()))
                    if expect:
                        self._check_unchanged(conn, expect)
                    for i, w in enumerate(writes):
                        step(f"sql-{i}")
                        if w.value is None:
                            conn.execute(sqlalchemy.delete(t).where(t.c.key == w.key))
                        else:
                            # The UNIQUE ... ON CONFLICT REPLACE column makes this an upsert;
                            # the column is declared BLOB but Cursor stores text: bind as TEXT.
                            # Only `undo` passes bytes: a row that was a BLOB, restored as it was.
                            value = w.value if isinstance(w.value, bytes) else _bound_as_text(w.value)
                            conn.execute(sqlalchemy.insert(t).values(key=w.key, value=value))
                    step("sql-commit")
                self.last_lock_hold = time.perf_counter() - locked_at
        except sqlalchemy.exc.DBAPIError as exc:
            raise self._translate(exc) from None

    def checkpoint(self) -> bool:
        """Copy every page of the -wal file into the database and truncate -wal to 0 bytes, so no old copy of a
        page (a key a write removed) stays in it; True when done (nothing to do outside WAL mode). Called after a
        write that removed a key, while Cursor is closed; a reader that holds the -wal makes it give up after
        CHECKPOINT_BUSY_S."""
        if not self.writable:
            raise RuntimeError("store opened read-only")

        def run(conn: Connection) -> bool:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(CHECKPOINT_BUSY_S * 1000)}")
            busy, _frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            return bool(busy == 0)

        return self._run_read(run)

    def _check_unique_key(self, conn: Connection) -> None:
        """Refuse to write unless ItemTable.key is UNIQUE, as in Cursor's schema: else each INSERT adds a duplicate."""
        for _seq, name, unique, _origin, partial in conn.exec_driver_sql('PRAGMA index_list("ItemTable")'):
            quoted = name.replace('"', '""')
            columns = [row[2] for row in conn.exec_driver_sql(f'PRAGMA index_info("{quoted}")')]
            if unique and not partial and columns == ["key"]:
                return
        raise NotACursorDatabase(
            f"{shown_path(self.path)}: ItemTable.key is not UNIQUE as in Cursor's schema, so a write would add "
            "duplicate rows; nothing was written. Point --db at Cursor's own state.vscdb"
        )

    def _check_unchanged(self, conn: Connection, expect: Mapping[str, str | bytes | None]) -> None:
        t = self.item_table
        rows = dict(conn.execute(sqlalchemy.select(t.c.key, t.c.value).where(t.c.key.in_(list(expect)))).all())
        for key, value in expect.items():
            if rows.get(key) != value:
                raise DatabaseBusy(
                    f"{shown_path(self.path)}: row {key!r} changed while planning; nothing was written, run the "
                    "command again"
                )


STREAM_DEADLINE_S = 5.0  # the most one side database may take to stream (there can be thousands)
PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the clock
# What sqlite_master says ItemTable is: Cursor's is a table. Names compare without regard to case, as in SQL.
ITEM_TABLE_KIND = "SELECT type FROM sqlite_master WHERE lower(name) = 'itemtable' AND type IN ('table', 'view')"


def stream_item_values(path: str | os.PathLike[str]) -> Iterator[tuple[str, bytes]]:
    """(key, value bytes) of every ItemTable row of a small side database, one row at a time.

    The audit reads every workspace database this way (there can be thousands).
    This is the one read that uses the sqlite3 module without SQLAlchemy: an
    engine and a schema reflection per file cost more than reading the file,
    and `Store.items()` holds the whole table at once. Here one plain
    read-only connection streams the rows, so memory is bounded by the
    largest value. Opened like a snapshot (immutable when no -wal/-journal is
    next to it), never written. ItemTable must be a table (a view over a
    recursive query never ends), and the whole read stops at STREAM_DEADLINE_S
    (a progress handler interrupts SQLite itself).
    """
    path = Path(path)
    check_sqlite_header(path)
    immutable = not has_sidecar(path)
    try:
        conn = sqlite3.connect(_uri(path, "ro", immutable), uri=True, timeout=READ_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise _plain_error(path, exc) from None
    conn.text_factory = bytes
    deadline = time.monotonic() + STREAM_DEADLINE_S
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)  # nonzero: interrupt
    try:
        kinds = [row[0] for row in conn.execute(ITEM_TABLE_KIND)]
        if kinds != [b"table"]:  # a view (over a recursive query, say) or a trigger's table of the same name
            what = "is missing" if not kinds else f"is of type {b'/'.join(kinds).decode('ascii', 'replace')}, not table"
            raise NotACursorDatabase(f"{shown_path(path)}: not a Cursor state database (ItemTable {what})")
        columns = {row[1] for row in conn.execute('PRAGMA table_info("ItemTable")')}
        if not {b"key", b"value"} <= columns:
            raise NotACursorDatabase(f"{shown_path(path)}: not a Cursor state database (missing ItemTable(key, value))")
        for key, value in conn.execute("SELECT key, value FROM ItemTable"):
            text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            yield text, value if isinstance(value, bytes) else str(value if value is not None else "").encode()
    except sqlite3.Error as exc:
        if time.monotonic() > deadline:
            raise DatabaseUnreadable(
                f"{shown_path(path)}: not read to the end within {STREAM_DEADLINE_S:g} s (a database that big or that "
                "slow is no workspace store Cursor keeps)"
            ) from None
        raise _plain_error(path, exc) from None
    finally:
        conn.close()


def _plain_error(path: Path, exc: sqlite3.Error) -> Exception:
    text = str(exc)
    if _is_busy(exc):
        return DatabaseBusy(f"{shown_path(path)}: database is locked by another process; quit Cursor and try again")
    if "not a database" in text or "malformed" in text:
        return NotACursorDatabase(f"{shown_path(path)}: damaged or not a SQLite database ({text})")
    return DatabaseUnreadable(f"{shown_path(path)}: cannot open ({text}); check the path and permissions")
