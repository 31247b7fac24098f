"""An old machine's copied state.vscdb, read without changing a byte of it or creating a file beside it.

SQLite cannot be trusted near a backup: `mode=ro` on a WAL database creates a
`-shm` beside it (through a symlink too), and fails on a read-only mount
without one; `immutable=1` creates nothing but ignores the `-wal`, which may
hold the newest key. So `open_copy` chooses:

- **in place**, opened with `immutable=1`, when no `-wal` and no `-journal`
  file sits beside the database: nothing is copied or created (an empty
  `-wal` still takes the sparse copy, as Store opens `immutable=1` only with
  no such file beside it);
- a **sparse copy** into the caller's private folder otherwise: the `-wal` is
  parsed as SQLite parses it (`wal.py`), and only the pages a read of
  ItemTable needs (page 1, the sqlite_schema tree, ItemTable's table and
  index trees with every overflow chain, the statistics SQLite loads on
  open) are written at their offsets, each in its newest committed version,
  into a 0600 file of the database's size, with holes elsewhere. Free pages
  and chat history (cursorDiskKV) are never copied. Page 1 is switched to the
  rollback format (header bytes 18 and 19 = 1), and SQLite's own
  `PRAGMA quick_check` of ItemTable must pass on the copy;
- a **full copy** (announced with its size through `progress` first) when a
  sparse one cannot serve: a hot `-journal` (a write was cut short and SQLite
  must roll it back), a folder whose filesystem has no holes (HFS+, FAT, or
  Windows, where this module does not mark files sparse), or a sparse copy
  that SQLite's check refuses. SQLite then recovers the copy in the private
  folder and folds it into one self-contained file. A `-journal` that names a
  super-journal is never rolled back (SQLite would delete the file it names,
  anywhere): it is taken as committed, as SQLite takes it wherever that
  super-journal is absent.

Every case yields a path to open with `mode=ro&immutable=1` (`CopiedDatabase.uri`,
or `cursor.store.Store(path, snapshot=True)`: no `-wal` or `-journal` is ever
beside it). Damage found on the way (a page out of range, a cycle, an overflow
chain cut short, a main file cut short) is a one-line `NotACursorDatabase`,
as Store reports a damaged database; a source that cannot be read is
`DatabaseUnreadable`. Work is bounded: every page is read at most once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sqlite3
import stat
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import quote

from ..cursor.store import Store, has_sidecar
from ..errors import ByokError, DatabaseUnreadable, NotACursorDatabase
from .wal import WalIndex, WalVersionError, read_wal, valid_page_size

# The database header: the first 100 bytes of page 1.
SQLITE_MAGIC = b"SQLite format 3\x00"
DB_HEADER_SIZE = 100
HDR_PAGE_SIZE = 16  # u16; 1 stands for 65536
HDR_WRITE_VERSION = 18  # 1: rollback journal, 2: WAL
HDR_READ_VERSION = 19
HDR_RESERVED = 20  # u8: bytes at the end of each page that b-trees leave alone
HDR_PAYLOAD_FRACTIONS = 21  # three u8 that SQLite requires to be 64, 32, 32
HDR_CHANGE_COUNTER = 24
HDR_PAGE_COUNT = 28  # u32, trusted only when the change counter equals HDR_VERSION_VALID_FOR
HDR_TEXT_ENCODING = 56  # u32: 1 UTF-8, 2 UTF-16le, 3 UTF-16be
HDR_VERSION_VALID_FOR = 92
PAYLOAD_FRACTIONS = b"\x40\x20\x20"
ROLLBACK_FORMAT = 1
MIN_USABLE_SIZE = 480
PENDING_BYTE = 0x40000000  # SQLite never uses the page that holds this byte (its lock bytes)
ENCODINGS = {1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # a rollback journal's header; its super-journal trailer's end

# A b-tree page: its header (at 100 on page 1), then the cell pointer array.
BT_TYPE = 0
BT_CELL_COUNT = 3  # u16
BT_RIGHT_CHILD = 8  # u32, interior pages only
LEAF_HEADER_SIZE, INTERIOR_HEADER_SIZE = 8, 12
INDEX_INTERIOR, TABLE_INTERIOR, INDEX_LEAF, TABLE_LEAF = 2, 5, 10, 13
TABLE_PAGES, INTERIOR_PAGES = {TABLE_INTERIOR, TABLE_LEAF}, {INDEX_INTERIOR, TABLE_INTERIOR}
MIN_CELL_SIZE = 4
CHILD_POINTER_SIZE = 4
MAX_DEPTH = 20  # SQLite's BTCURSOR_MAX_DEPTH: a deeper tree is corrupt
OVERFLOW_NEXT_SIZE = 4  # an overflow page: the next page's number, then payload
U16, U32 = struct.Struct(">H"), struct.Struct(">I")

SCHEMA_ROOT = 1  # sqlite_schema: (type, name, tbl_name, rootpage, sql)
SCHEMA_TYPE, SCHEMA_NAME, SCHEMA_TABLE, SCHEMA_ROOTPAGE = 0, 1, 2, 3
ITEM_TABLE = "itemtable"  # SQLite names are case-insensitive
LOADED_ON_OPEN = frozenset({"sqlite_stat1", "sqlite_stat4"})  # read when SQLite loads the schema (errors ignored)

COPY_CHUNK = 8 * 2**20
HOLE_PROBE_SIZE = 8 * 2**20
FULL_COPY_SPARE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class CopyProgress:
    """A full copy under way: why it is needed, bytes copied so far and in all (announced first with done=0)."""

    reason: str
    done: int
    total: int


Progress = Callable[[CopyProgress], None]


class _Damage(Exception):
    """Damage found while walking the files; open_copy turns it into NotACursorDatabase naming the file."""


class _SparseRefused(Exception):
    """The sparse copy was made but SQLite's check refuses it: make a full copy instead."""


@dataclass
class CopiedDatabase:
    """A database to open with `mode=ro&immutable=1` (`uri`); close() removes what was copied for it.

    `how` is "in-place" (the source itself), "sparse" or "full"; `reason`
    says why in one line.
    """

    path: Path
    how: str
    reason: str
    pages_copied: int = 0
    bytes_written: int = 0
    wal_frames_used: int = 0  # committed -wal frames the copy holds
    wal_frames_ignored: int = 0  # frames SQLite would not use either (uncommitted, invalid, an older log)
    _remove: Path | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"file:{quote(os.fsencode(self.path.resolve()))}?mode=ro&immutable=1"

    def close(self) -> None:
        target, self._remove = self._remove, None
        if target is not None:
            _remove_tree(target)

    def __enter__(self) -> CopiedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the source files --------------------------------------------------------------------------------------------


@dataclass
class _Sources:
    """The database and its -wal, open for reading only; `journal_hot` when a -journal must be rolled back."""

    db: Path
    main: BinaryIO
    main_size: int
    wal: BinaryIO | None
    wal_size: int
    journal_hot: bool


def _open_regular(path: Path, *, required: bool) -> tuple[BinaryIO, int] | None:
    """A regular file open read-only (O_NONBLOCK: a FIFO never blocks the open); None when absent and not required."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DatabaseUnreadable(f"{path}: not a regular file; point at the copied state.vscdb")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        if required:
            raise DatabaseUnreadable(f"{path}: no such file; check the path of the copied state.vscdb") from None
        return None
    except OSError as exc:
        raise DatabaseUnreadable(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    fh = open(fd, "rb", buffering=0)
    size = os.fstat(fd)
    if not stat.S_ISREG(size.st_mode):  # replaced between stat and open
        fh.close()
        raise DatabaseUnreadable(f"{path}: not a regular file; point at the copied state.vscdb")
    return fh, size.st_size


@contextlib.contextmanager
def _open_sources(db: Path) -> Iterator[_Sources]:
    with contextlib.ExitStack() as stack:
        main = _open_regular(db, required=True)
        assert main is not None
        stack.callback(main[0].close)
        wal = _open_regular(Path(f"{db}-wal"), required=False)
        if wal is not None:
            stack.callback(wal[0].close)
        journal = _open_regular(Path(f"{db}-journal"), required=False)
        hot = False
        if journal is not None:  # hot as SQLite judges it (hasHotJournal): not empty, first byte not zero
            with journal[0] as fh:
                hot = journal[1] > 0 and main[1] > 0 and fh.read(1) not in (b"", b"\x00")
                hot = hot and not _names_super_journal(fh, journal[1])
        wal_fh, wal_size = wal if wal is not None else (None, 0)
        yield _Sources(db, main[0], main[1], wal_fh, wal_size, hot)


def _names_super_journal(fh: BinaryIO, size: int) -> bool:
    """True when a -journal may name a super-journal (it ends with the journal magic: pager.c, readSuperJournal).

    Rolling such a journal back, SQLite opens the file it names, reads it as a list of child journals and
    deletes it when none of them points back (pager_delsuper): in a hostile copy the name can be any file of
    this machine, or of the copy. So the journal is taken as SQLite takes it when that super-journal is absent,
    as it is on any machine but the old one: the transaction committed, nothing to roll back.
    """
    if size < len(JOURNAL_MAGIC):
        return False
    fh.seek(size - len(JOURNAL_MAGIC))
    return fh.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC


# --- geometry: page size, database size ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    page_size: int
    usable: int
    encoding: str
    file_pages: int  # the size SQLite sees: the -wal's last commit, else the main file's
    db_pages: int  # the pages SQLite uses: page 1's count when valid, else file_pages

    @property
    def pending_page(self) -> int:
        return PENDING_BYTE // self.page_size + 1


def _page_size(header: bytes) -> int:
    raw = U16.unpack_from(header, HDR_PAGE_SIZE)[0]
    return 65536 if raw == 1 else raw


def _check_header(header: bytes, where: str) -> int:
    """The page size of a database header; _Damage unless SQLite would accept it."""
    if header[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise _Damage(f"{where} is not a SQLite header")
    size = _page_size(header)
    if not valid_page_size(size):
        raise _Damage(f"{where} gives a page size of {size}, which SQLite does not use")
    if header[HDR_PAYLOAD_FRACTIONS : HDR_PAYLOAD_FRACTIONS + 3] != PAYLOAD_FRACTIONS:
        raise _Damage(f"{where} holds payload fractions SQLite refuses")
    if size - header[HDR_RESERVED] < MIN_USABLE_SIZE:
        raise _Damage(f"{where} reserves {header[HDR_RESERVED]} bytes per page, leaving too few for b-trees")
    return size


def _read_main_header(src: _Sources) -> int:
    src.main.seek(0)
    header = src.main.read(DB_HEADER_SIZE)
    if len(header) < DB_HEADER_SIZE or header[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise NotACursorDatabase(f"{src.db}: not a SQLite file, so not a Cursor state database")
    try:
        return _check_header(header, "its header")
    except _Damage as exc:
        raise _damaged(src.db, str(exc)) from None


def _index_wal(src: _Sources, page_size: int) -> WalIndex:
    if src.wal is None:
        return WalIndex()
    try:
        index = read_wal(src.wal, src.wal_size)
    except WalVersionError as exc:
        raise _Damage(str(exc)) from None
    if index.has_content and index.page_size != page_size:
        raise _Damage(f"its -wal has {index.page_size}-byte pages and the database {page_size}-byte pages")
    return index


def _geometry(page1: bytes, page_size: int, file_pages: int) -> _Geometry:
    if _check_header(page1, "page 1") != page_size:
        raise _Damage("page 1 gives another page size than the main file's header")
    counted = U32.unpack_from(page1, HDR_PAGE_COUNT)[0]
    changes = page1[HDR_CHANGE_COUNTER : HDR_CHANGE_COUNTER + 4]
    valid = changes == page1[HDR_VERSION_VALID_FOR : HDR_VERSION_VALID_FOR + 4]
    db_pages = counted if counted and valid else file_pages
    if db_pages > file_pages:
        raise _Damage(f"page 1 counts {db_pages} pages but the files hold {file_pages}")
    encoding = ENCODINGS.get(U32.unpack_from(page1, HDR_TEXT_ENCODING)[0] & 3, "utf-8")
    return _Geometry(page_size, page_size - page1[HDR_RESERVED], encoding, file_pages, db_pages)


# --- pages ---------------------------------------------------------------------------------------------------------


def _read_page(src: _Sources, index: WalIndex, page_size: int, pgno: int) -> bytes:
    """Page n as SQLite sees it: its newest committed -wal frame, else the main file."""
    offset = index.frames.get(pgno)
    fh = src.wal
    if offset is None or fh is None:
        offset, fh = (pgno - 1) * page_size, src.main
        if offset + page_size > src.main_size:
            raise _Damage(f"page {pgno} lies past the end of the main file, which is cut short")
    fh.seek(offset)
    data = fh.read(page_size)
    if len(data) != page_size:
        raise _Damage(f"page {pgno} could not be read whole (the file shrank?)")
    return data


class _Pages:
    """The pages of one database, each handed out once by `take` and passed to `sink` (which writes the copy).

    A second visit of a page is a cycle or a page in two places: damage.
    That bounds the work by the database's page count.
    """

    def __init__(self, src: _Sources, index: WalIndex, geo: _Geometry, sink: Callable[[int, bytes], None]) -> None:
        self.src, self.index, self.geo, self.sink = src, index, geo, sink
        self.seen: set[int] = set()

    def take(self, pgno: int, what: str) -> bytes:
        if not 1 <= pgno <= self.geo.db_pages or pgno == self.geo.pending_page:
            raise _Damage(f"{what} points to page {pgno}, outside the database's {self.geo.db_pages} pages")
        if pgno in self.seen:
            raise _Damage(f"{what} points to page {pgno} a second time (a cycle, or a page used twice)")
        self.seen.add(pgno)
        data = _read_page(self.src, self.index, self.geo.page_size, pgno)
        self.sink(pgno, data)
        return data


# --- b-trees -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    child: int | None  # left child of an interior cell
    payload_size: int
    start: int  # where the local payload begins
    local: int  # payload bytes on the page
    overflow: int  # first overflow page, 0 when the payload is all local


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(8):
        if pos >= end:
            raise _Damage("a number runs past its cell")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    if pos >= end:
        raise _Damage("a number runs past its cell")
    return (value << 8) | data[pos], pos + 1


def _local_size(payload: int, kind: int, usable: int) -> int:
    """Payload bytes kept on the page (btreeParseCellAdjustSizeForOverflow): table leaves and index cells differ."""
    min_local = (usable - 12) * 32 // 255 - 23
    max_local = usable - 35 if kind == TABLE_LEAF else (usable - 12) * 64 // 255 - 23
    if payload <= max_local:
        return payload
    surplus = min_local + (payload - min_local) % (usable - 4)
    return surplus if surplus <= max_local else min_local


def _cell(page: bytes, pos: int, kind: int, usable: int) -> _Cell:
    child = None
    if kind in INTERIOR_PAGES:
        child = U32.unpack_from(page, pos)[0]
        pos += CHILD_POINTER_SIZE
    if kind == TABLE_INTERIOR:
        _varint(page, pos, usable)  # the rowid: only checked to lie on the page
        return _Cell(child, 0, pos, 0, 0)
    size, pos = _varint(page, pos, usable)
    if kind == TABLE_LEAF:
        _rowid, pos = _varint(page, pos, usable)
    local = _local_size(size, kind, usable)
    spills = local < size
    if pos + local + (OVERFLOW_NEXT_SIZE if spills else 0) > usable:
        raise _Damage("a cell runs past the end of its page")
    overflow = U32.unpack_from(page, pos + local)[0] if spills else 0
    return _Cell(child, size, pos, local, overflow)


def _cells(page: bytes, pgno: int, usable: int) -> tuple[int, tuple[int, ...], int | None]:
    """(page type, cell offsets, right child) of a b-tree page; _Damage unless SQLite could read it."""
    base = DB_HEADER_SIZE if pgno == 1 else 0
    kind = page[base + BT_TYPE]
    if kind not in (INDEX_INTERIOR, TABLE_INTERIOR, INDEX_LEAF, TABLE_LEAF):
        raise _Damage(f"page {pgno} is not a b-tree page (type {kind})")
    interior = kind in INTERIOR_PAGES
    header = base + (INTERIOR_HEADER_SIZE if interior else LEAF_HEADER_SIZE)
    count = U16.unpack_from(page, base + BT_CELL_COUNT)[0]
    first_cell = header + 2 * count
    if first_cell > usable:
        raise _Damage(f"page {pgno} claims {count} cells, more than it can hold")
    offsets = struct.unpack_from(f">{count}H", page, header)
    if any(not first_cell <= off <= usable - MIN_CELL_SIZE for off in offsets):
        raise _Damage(f"a cell of page {pgno} lies outside the page")
    right = U32.unpack_from(page, base + BT_RIGHT_CHILD)[0] if interior else None
    return kind, offsets, right


def _overflow(pages: _Pages, cell: _Cell, pgno: int, keep: bool) -> bytes:
    """Follow a cell's whole overflow chain (every page is copied); the spilled payload when `keep`."""
    usable = pages.geo.usable
    remaining = cell.payload_size - cell.local
    per_page = usable - OVERFLOW_NEXT_SIZE
    count = -(-remaining // per_page)
    if count > pages.geo.db_pages:
        raise _Damage(f"a cell of page {pgno} claims a payload larger than the database")
    parts, next_page = [], cell.overflow
    for done in range(count):
        if next_page == 0:
            raise _Damage(f"an overflow chain from page {pgno} ends after {done} of its {count} pages")
        data = pages.take(next_page, f"an overflow chain from page {pgno}")
        if keep:
            parts.append(data[OVERFLOW_NEXT_SIZE : OVERFLOW_NEXT_SIZE + min(per_page, remaining)])
            remaining -= per_page
        next_page = U32.unpack_from(data, 0)[0]
    return b"".join(parts)


def _walk(pages: _Pages, root: int, on_row: Callable[[bytes], None] | None = None) -> None:
    """Take every page of the b-tree at `root` (children and overflow chains); each table row's payload to on_row."""
    stack = [(root, 0, f"the tree at page {root}")]
    table: bool | None = None
    while stack:
        pgno, depth, came_from = stack.pop()
        if depth >= MAX_DEPTH:
            raise _Damage(f"the tree at page {root} is deeper than SQLite allows (a loop?)")
        page = pages.take(pgno, came_from)
        kind, offsets, right = _cells(page, pgno, pages.geo.usable)
        if table is None:
            table = kind in TABLE_PAGES
        elif table != (kind in TABLE_PAGES):
            raise _Damage(f"page {pgno} of the tree at page {root} is of the wrong kind (type {kind})")
        here = f"page {pgno}"
        for offset in offsets:
            cell = _cell(page, offset, kind, pages.geo.usable)
            payload = b""
            if cell.overflow or cell.local < cell.payload_size:
                payload = _overflow(pages, cell, pgno, keep=on_row is not None)
            if on_row is not None and kind == TABLE_LEAF:
                on_row(page[cell.start : cell.start + cell.local] + payload)
            if cell.child is not None:
                stack.append((cell.child, depth + 1, here))
        if right is not None:
            stack.append((right, depth + 1, here))


# --- sqlite_schema -------------------------------------------------------------------------------------------------

SERIAL_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _record(payload: bytes, columns: int, encoding: str) -> list[object]:
    """The first `columns` values of a record (the SQLite record format)."""
    header_end, pos = _varint(payload, 0, len(payload))
    if not pos <= header_end <= len(payload):
        raise _Damage("a sqlite_schema record has a bad header")
    types: list[int] = []
    while pos < header_end and len(types) < columns:
        serial, pos = _varint(payload, pos, header_end)
        types.append(serial)
    values: list[object] = []
    body = header_end
    for serial in types:
        value, body = _value(payload, body, serial, encoding)
        values.append(value)
    return values


def _value(payload: bytes, pos: int, serial: int, encoding: str) -> tuple[object, int]:
    if serial in (0, 8, 9):
        return (None, 0, 1)[(0, 8, 9).index(serial)], pos
    if serial in SERIAL_INT_SIZES:
        size = SERIAL_INT_SIZES[serial]
    elif serial == 7:
        size = 8
    elif serial >= 12:
        size = (serial - 12) // 2
    else:
        raise _Damage(f"a sqlite_schema record uses the reserved type {serial}")
    raw = payload[pos : pos + size]
    if len(raw) != size:
        raise _Damage("a sqlite_schema record is cut short")
    if serial in SERIAL_INT_SIZES:
        return int.from_bytes(raw, "big", signed=True), pos + size
    if serial == 7:
        return struct.unpack(">d", raw)[0], pos + size
    return (raw.decode(encoding, "replace") if serial % 2 else raw), pos + size


def _schema_roots(pages: _Pages) -> tuple[list[int], str | None]:
    """Walk sqlite_schema: the roots of the trees to copy, and ItemTable's name as spelled there (None: none)."""
    rows: list[list[object]] = []
    _walk(pages, SCHEMA_ROOT, lambda payload: rows.append(_record(payload, 4, pages.geo.encoding)))
    roots: list[int] = []
    item_table = None
    for row in rows:
        if len(row) < 4 or not all(isinstance(v, str) for v in row[:3]):
            raise _Damage("a sqlite_schema row is malformed")
        kind, name, table, root = (row[SCHEMA_TYPE], row[SCHEMA_NAME], row[SCHEMA_TABLE], row[SCHEMA_ROOTPAGE])
        assert isinstance(table, str) and isinstance(name, str)
        if kind not in ("table", "index") or (table.lower() != ITEM_TABLE and table.lower() not in LOADED_ON_OPEN):
            continue
        if kind == "table" and name.lower() == ITEM_TABLE:
            item_table = name
        if not isinstance(root, int) or root < 0:
            raise _Damage(f"the schema gives {name!r} the root page {root!r}")
        if root and root not in roots:
            roots.append(root)
    return roots, item_table


# --- the sparse copy -----------------------------------------------------------------------------------------------


def _sparse_copy(src: _Sources, workdir: Path, progress: Progress | None = None) -> CopiedDatabase:
    page_size = _read_main_header(src)
    fd, name = tempfile.mkstemp(dir=workdir, prefix="rescue-", suffix=".vscdb")  # 0600, O_EXCL: never a symlink
    path = Path(name)
    try:
        with open(fd, "r+b", buffering=0) as out:
            written = _write_pages(src, page_size, out, workdir, progress)
        if written.item_table:  # SQLite must find the copy of ItemTable whole
            problem = _sqlite_check(path, written.item_table)
            if problem:
                raise _SparseRefused(f"SQLite's check of the sparse copy failed ({problem})")
        index = written.index
        return CopiedDatabase(path, "sparse", "a -wal or -journal is beside it", written.pages,
                              written.pages * page_size, index.committed_frames, index.ignored_frames,
                              _remove=path)  # fmt: skip
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _Written:
    pages: int
    item_table: str | None  # as spelled in sqlite_schema; None when the database has no such table
    index: WalIndex


SPARSE_ANNOUNCED = 16 << 20  # a sparse copy larger than this is said, with its size, before it is written
SPARSE_REASON = "a -wal or -journal is beside it: the pages a read of ItemTable needs are copied"


def _write_pages(
    src: _Sources, page_size: int, out: BinaryIO, workdir: Path, progress: Progress | None = None
) -> _Written:
    """Write every page a read of ItemTable needs into `out`, at its offset, in a file of the database's size.

    The trees are walked first, writing nothing, so the size is known: a copy
    larger than SPARSE_ANNOUNCED is checked against the free space and said
    through `progress` (done=0, total) before any page is written, as a full
    copy is (a bloated or hostile ItemTable can need hundreds of MiB, and the
    temporary folder is often in memory).
    """
    index = _index_wal(src, page_size)
    file_pages = index.db_pages if index.has_content else -(-src.main_size // page_size)
    geo = _geometry(_read_page(src, index, page_size, 1), page_size, file_pages)
    needed: list[int] = []
    pages = _Pages(src, index, geo, lambda pgno, _data: needed.append(pgno))
    roots, item_table = _schema_roots(pages)
    for root in roots:
        _walk(pages, root)
    total = len(needed) * page_size
    report = progress if progress is not None and total > SPARSE_ANNOUNCED else None
    if report is not None:
        _check_space(workdir, total, src.db)
        report(CopyProgress(SPARSE_REASON, 0, total))
    try:
        out.truncate(file_pages * page_size)
    except OSError as exc:
        if exc.errno != errno.EFBIG:
            raise
        raise _Damage(f"its -wal claims {file_pages} pages, more than a file can hold") from None
    for done, pgno in enumerate(needed, 1):
        data = _read_page(src, index, page_size, pgno)
        if pgno == 1:
            data = data[:HDR_WRITE_VERSION] + bytes([ROLLBACK_FORMAT, ROLLBACK_FORMAT]) + data[HDR_READ_VERSION + 1 :]
        out.seek((pgno - 1) * page_size)
        out.write(data)
        if report is not None and (done % 4096 == 0 or done == len(needed)):
            report(CopyProgress(SPARSE_REASON, done * page_size, total))
    return _Written(len(needed), item_table, index)


SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)  # sqlite3 raises the latter when SQLite's message is not UTF-8


def _sqlite_message(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes):
        return exc.object.decode("utf-8", "replace")
    return str(exc)


def _sqlite_check(path: Path, table: str) -> str:
    """SQLite's own quick_check of ItemTable and its indexes on the copy: "" when it passes."""
    uri = f"file:{quote(os.fsencode(path.resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except SQLITE_ERRORS as exc:
        return _sqlite_message(exc)
    try:
        quoted = table.replace('"', '""')
        rows = conn.execute(f'PRAGMA quick_check("{quoted}")').fetchall()
        result = "; ".join(str(r[0]) for r in rows)
        return "" if result == "ok" else result[:200]
    except SQLITE_ERRORS as exc:
        return _sqlite_message(exc)
    finally:
        conn.close()


def holes_supported(folder: Path) -> bool:
    """Whether files in `folder` can have holes (ext4, XFS, btrfs, tmpfs, APFS): a file's unwritten ranges cost nothing.

    Tried on an 8 MiB probe with one page written in its middle. Windows
    reports no allocated size here (NTFS needs FSCTL_SET_SPARSE first), so it
    counts as no.
    """
    if sys.platform == "win32" or not hasattr(os.stat_result, "st_blocks"):
        return False
    fd, name = tempfile.mkstemp(dir=folder, prefix="holes-")
    try:
        os.ftruncate(fd, HOLE_PROBE_SIZE)
        os.pwrite(fd, b"\x01" * 4096, HOLE_PROBE_SIZE // 2)
        return os.fstat(fd).st_blocks * 512 < HOLE_PROBE_SIZE // 4
    finally:
        os.close(fd)
        os.unlink(name)


# --- the full copy -------------------------------------------------------------------------------------------------


def _full_copy(src: _Sources, workdir: Path, reason: str, progress: Progress | None) -> CopiedDatabase:
    """Copy the database and its sidecars, then let SQLite recover them into one file: announced with its size."""
    folder = Path(tempfile.mkdtemp(dir=workdir, prefix="full-"))
    try:
        with contextlib.ExitStack() as stack:
            dest = _copy_parts(src, folder, reason, progress, stack)
        _settle(dest, src.db)
        return CopiedDatabase(dest, "full", reason, bytes_written=dest.stat().st_size, _remove=folder)
    except BaseException:
        _remove_tree(folder)
        raise


def _copy_parts(
    src: _Sources, folder: Path, reason: str, progress: Progress | None, stack: contextlib.ExitStack
) -> Path:
    """Copy the main file, its -wal and its hot -journal into folder, announcing the size first."""
    dest = folder / "state.vscdb"
    parts: list[tuple[BinaryIO, int, Path]] = [(src.main, src.main_size, dest)]
    if src.wal is not None:
        parts.append((src.wal, src.wal_size, Path(f"{dest}-wal")))
    if src.journal_hot:
        journal = _open_regular(Path(f"{src.db}-journal"), required=True)
        assert journal is not None
        stack.callback(journal[0].close)
        parts.append((journal[0], journal[1], Path(f"{dest}-journal")))
    total = sum(size for _, size, _ in parts)
    _check_space(folder, total, src.db)
    report = progress or (lambda _p: None)
    report(CopyProgress(reason, 0, total))
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        report(CopyProgress(reason, done, total))

    for fh, size, target in parts:
        _copy_file(fh, size, target, step)
    return dest


def _copy_file(fh: BinaryIO, size: int, target: Path, step: Callable[[int], None]) -> None:
    """Copy `size` bytes of fh into a new 0600 file; `step` hears each chunk's length."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    copied = 0
    fh.seek(0)
    with open(os.open(target, flags, 0o600), "wb", buffering=0) as out:
        while copied < size:
            chunk = fh.read(min(COPY_CHUNK, size - copied))
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
            step(len(chunk))


def _check_space(workdir: Path, total: int, db: Path) -> None:
    free = shutil.disk_usage(workdir).free
    if free < total + FULL_COPY_SPARE_BYTES:
        raise ByokError(
            f"{db}: a full copy needs {total:,} bytes and {workdir} has {free:,} free; "
            "free some space there or give a work folder on a larger disk"
        )


def _settle(dest: Path, db: Path) -> None:
    """Let SQLite roll back a hot journal and fold the -wal into the copy, leaving one self-contained file."""
    try:
        conn = sqlite3.connect(f"file:{quote(os.fsencode(dest.resolve()))}?mode=rw", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        finally:
            conn.close()
    except SQLITE_ERRORS as exc:
        raise _damaged(db, f"SQLite could not recover a full copy of it ({_sqlite_message(exc)})") from None
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)


# --- the entry points ----------------------------------------------------------------------------------------------


def _damaged(db: Path, why: str) -> NotACursorDatabase:
    return NotACursorDatabase(f"{db}: damaged database ({why}); it was left untouched: try another copy of it")


def _check_workdir(workdir: Path, db: Path) -> None:
    """The work folder must be a private directory of this user, and not the database's own folder."""
    try:
        info = os.lstat(workdir)
    except OSError as exc:
        raise ValueError(f"work folder {workdir}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"work folder {workdir} is not a directory (or is a symlink)")
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        raise ValueError(f"work folder {workdir} is not private to this user (mode {stat.filemode(info.st_mode)})")
    if any(os.path.samefile(workdir, folder) for folder in {db.parent, db.resolve().parent}):
        raise ValueError(f"work folder {workdir} is the database's own folder: nothing may be created there")


def open_copy(db: Path, *, workdir: Path, progress: Progress | None = None) -> CopiedDatabase:
    """The copied database `db`, ready to open with immutable=1, never written and with nothing created beside it.

    `workdir` is a private (0700) folder of the caller's, such as
    `private_tempdir()`; a copy, when one is needed, goes there and is
    removed by `close()` (use the result as a context manager). `progress`
    hears about a full copy, with its size, before it starts.
    """
    db, workdir = Path(db), Path(workdir)
    _check_workdir(workdir, db)
    try:
        with _open_sources(db) as src:
            return _choose(src, workdir, progress)
    except _Damage as exc:
        raise _damaged(db, str(exc)) from None
    except OSError as exc:
        raise DatabaseUnreadable(f"{db}: reading it or writing its copy in {workdir} failed ({exc})") from None


def _choose(src: _Sources, workdir: Path, progress: Progress | None) -> CopiedDatabase:
    if not has_sidecar(src.db):
        _read_main_header(src)
        return CopiedDatabase(src.db, "in-place", "no -wal or -journal beside it: opened as it is")
    if src.journal_hot:
        return _full_copy(src, workdir, "a write was cut short (a hot -journal): SQLite must roll it back", progress)
    if not holes_supported(workdir):
        return _full_copy(src, workdir, f"the filesystem of {workdir} cannot hold a sparse copy", progress)
    try:
        return _sparse_copy(src, workdir, progress)
    except _SparseRefused as exc:
        return _full_copy(src, workdir, str(exc), progress)


@contextlib.contextmanager
def private_tempdir(parent: Path | None = None) -> Iterator[Path]:
    """A new folder only this user can enter (0700), removed with everything in it on the way out: exceptions,
    Ctrl-C, and SIGTERM or SIGHUP too (`_unwinding_on_stop`)."""
    with _unwinding_on_stop():
        path = Path(tempfile.mkdtemp(prefix="cursor-byok-rescue-", dir=parent))
        try:
            yield path
        finally:
            _remove_tree(path)


STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # kill or a shutdown; the terminal closed


@contextlib.contextmanager
def _unwinding_on_stop() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise SystemExit (128 + the signal) instead of ending Python on
    the spot, so `finally` runs and removes what was copied. Only in the main thread, and only for a signal
    still at its default: a program's own handler is left alone."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is signal.SIG_DFL:
                previous[number] = signal.signal(number, _stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)


def _remove_tree(path: Path) -> None:
    def retry(func: Callable[..., object], name: str, _exc: object) -> None:
        os.chmod(os.path.dirname(name) or ".", 0o700)
        func(name)

    if path.is_dir() and not path.is_symlink():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry)
        else:
            shutil.rmtree(path, onerror=retry)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def copied_store(db: Path, *, workdir: Path, progress: Progress | None = None) -> Iterator[Store]:
    """A read-only Store on the copied database (see open_copy), opened with immutable=1."""
    with open_copy(db, workdir=workdir, progress=progress) as copy:
        if has_sidecar(copy.path):  # Store would open it with mode=ro, which creates files beside it
            raise RuntimeError(f"{copy.path}: a -wal or -journal appeared beside it")
        with Store(copy.path, snapshot=True) as store:
            yield store
