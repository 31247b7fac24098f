"""A copied `-wal` file read as SQLite reads it, without SQLite: which committed frame holds each page.

SQLite (`wal.c`, walIndexRecover) trusts a `-wal` only this far: a 32-byte
header with the magic, a power-of-two page size and a matching checksum; then
frames, each valid only while its salts equal the header's, its page number is
not 0 and its checksum, *cumulative* over the header and every frame before,
matches. The database is what the last valid **commit** frame (a non-zero
database size) says: frames after it, even valid ones, belong to a transaction
that never committed. Salts alone do not end the log (uncommitted frames carry
the current salts) and neither does the file size (a log restarted after a
checkpoint keeps older frames, with older salts, after the new ones). Anything
SQLite would ignore is ignored here too; only a header SQLite refuses to open
(an unknown format version) is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

WAL_HEADER = struct.Struct(">8I")  # magic, version, page size, checkpoint seq, salt-1, salt-2, checksum-1, checksum-2
WAL_HEADER_SIZE = WAL_HEADER.size
WAL_HEADER_SUMMED = 24  # the header checksum covers the first 24 bytes
FRAME_HEADER = struct.Struct(">6I")  # page number, db size after a commit (else 0), salt-1, salt-2, checksum-1, -2
FRAME_HEADER_SIZE = FRAME_HEADER.size
FRAME_HEADER_SUMMED = 8  # a frame's checksum covers its first 8 header bytes, then the page
WAL_MAGIC = 0x377F0682  # the low bit set (0x377F0683): checksum words are big-endian
WAL_VERSION = 3007000
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 512, 65536
MASK = 0xFFFFFFFF
READ_CHUNK_FRAMES = 64  # frames read per system call


class WalVersionError(ValueError):
    """The -wal header is intact but of a format version SQLite refuses to open."""


@dataclass(frozen=True)
class WalIndex:
    """What a -wal adds to its database, as of the last commit frame.

    `frames` maps a page number to the file offset of the page data in its
    newest committed frame. `db_pages` is the database size in pages after
    that commit (0: the log has no committed frame, so it adds nothing).
    """

    page_size: int = 0
    frames: dict[int, int] = field(default_factory=dict)
    db_pages: int = 0
    committed_frames: int = 0  # frames up to and including the last commit frame
    valid_frames: int = 0  # frames that pass the checks, committed or not
    file_frames: int = 0  # whole frames the file's size could hold

    @property
    def has_content(self) -> bool:
        return self.db_pages > 0

    @property
    def ignored_frames(self) -> int:
        """Frames SQLite would not use: uncommitted, invalid, or left from an older log."""
        return self.file_frames - self.committed_frames


def _checksummer(big_endian: bool) -> struct.Struct:
    return struct.Struct((">" if big_endian else "<") + "16I")


def checksum(data: bytes | memoryview, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum (walChecksumBytes) of data, a multiple of 8 bytes, continued from (s0, s1)."""
    n = len(data)
    whole = n - n % 64
    words = _checksummer(big_endian)
    for a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7 in words.iter_unpack(data[:whole]):
        # Sixteen words between masks: the sums stay far below 2**64, so Python's ints stay small.
        s0 += a0 + s1
        s1 += a1 + s0
        s0 += a2 + s1
        s1 += a3 + s0
        s0 += a4 + s1
        s1 += a5 + s0
        s0 += a6 + s1
        s1 += a7 + s0
        s0 += b0 + s1
        s1 += b1 + s0
        s0 += b2 + s1
        s1 += b3 + s0
        s0 += b4 + s1
        s1 += b5 + s0
        s0 += b6 + s1
        s1 += b7 + s0
        s0 &= MASK
        s1 &= MASK
    rest = struct.unpack_from(f"{'>' if big_endian else '<'}{(n - whole) // 4}I", data, whole)
    for i in range(0, len(rest), 2):
        s0 = (s0 + rest[i] + s1) & MASK
        s1 = (s1 + rest[i + 1] + s0) & MASK
    return s0, s1


def valid_page_size(size: int) -> bool:
    return MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE and size & (size - 1) == 0


def read_wal(fh: BinaryIO, file_size: int) -> WalIndex:
    """Index the committed frames of an open -wal file of `file_size` bytes, reading it once from the start."""
    fh.seek(0)
    head = fh.read(WAL_HEADER_SIZE)
    if len(head) < WAL_HEADER_SIZE or file_size <= WAL_HEADER_SIZE:
        return WalIndex()
    magic, version, page_size, _seq, salt1, salt2, sum1, sum2 = WAL_HEADER.unpack(head)
    if magic & ~1 != WAL_MAGIC or not valid_page_size(page_size):
        return WalIndex()
    big_endian = bool(magic & 1)
    sums = checksum(head[:WAL_HEADER_SUMMED], 0, 0, big_endian)
    if sums != (sum1, sum2):
        return WalIndex()
    if version != WAL_VERSION:
        raise WalVersionError(f"the -wal is of format version {version}, which SQLite does not read")
    return _read_frames(fh, file_size, page_size, (salt1, salt2), sums, big_endian)


def _read_frames(
    fh: BinaryIO, file_size: int, page_size: int, salts: tuple[int, int], sums: tuple[int, int], big_endian: bool
) -> WalIndex:
    frame_size = FRAME_HEADER_SIZE + page_size
    file_frames = (file_size - WAL_HEADER_SIZE) // frame_size
    committed: dict[int, int] = {}
    pending: dict[int, int] = {}
    db_pages = last_commit = valid = 0
    s0, s1 = sums
    for number, frame in _frames(fh, file_frames, frame_size):
        pgno, db_size, f_salt1, f_salt2, f_sum1, f_sum2 = FRAME_HEADER.unpack_from(frame)
        if (f_salt1, f_salt2) != salts or pgno == 0:
            break
        s0, s1 = checksum(frame[:FRAME_HEADER_SUMMED], s0, s1, big_endian)
        s0, s1 = checksum(frame[FRAME_HEADER_SIZE:], s0, s1, big_endian)
        if (s0, s1) != (f_sum1, f_sum2):
            break
        valid = number
        pending[pgno] = WAL_HEADER_SIZE + (number - 1) * frame_size + FRAME_HEADER_SIZE
        if db_size:
            committed.update(pending)
            pending.clear()
            db_pages, last_commit = db_size, number
    return WalIndex(page_size, committed, db_pages, last_commit, valid, file_frames)


def _frames(fh: BinaryIO, count: int, frame_size: int) -> Iterator[tuple[int, memoryview]]:
    """(1-based frame number, frame bytes as a memoryview) for the first `count` whole frames."""
    number = 0
    while number < count:
        want = min(READ_CHUNK_FRAMES, count - number)
        chunk = fh.read(want * frame_size)
        view = memoryview(chunk)
        for i in range(len(chunk) // frame_size):
            number += 1
            yield number, view[i * frame_size : (i + 1) * frame_size]
        if len(chunk) < want * frame_size:
            return
