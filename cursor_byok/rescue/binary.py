"""A bounded reader for the secret stores' binary files: every overrun is a StoreDamaged, never an IndexError.

Each store module names its fields with this reader's calls (`u32()`, `blob()`,
...) in the order the format lays them out. Nothing here trusts a length it
reads: a length past the end of the data is a damaged file.
"""

from __future__ import annotations

import struct

from ..errors import StoreDamaged


class Reader:
    """Reads fields from `data` in order; `what` names the file in errors ("GNOME keyring login.keyring")."""

    def __init__(self, data: bytes | memoryview, what: str, *, big_endian: bool = True, offset: int = 0) -> None:
        self.data = memoryview(data)
        self.what = what
        self.order = ">" if big_endian else "<"
        self.pos = offset

    def damaged(self, why: str) -> StoreDamaged:
        return StoreDamaged(f"{self.what}: {why} at byte {self.pos}; the file is damaged or not what it claims to be")

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.left:
            raise self.damaged(f"a field of {n} bytes runs past the end")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self.take(n)

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        value: int = struct.unpack(self.order + fmt, self.take(size))[0]
        return value

    def u8(self) -> int:
        return self._unpack("B")

    def u16(self) -> int:
        return self._unpack("H")

    def u32(self) -> int:
        return self._unpack("I")

    def i32(self) -> int:
        return self._unpack("i")

    def u64(self) -> int:
        return self._unpack("Q")

    def expect(self, magic: bytes, name: str) -> None:
        """The format's magic bytes, or StoreDamaged naming what the file was expected to be."""
        if self.take(len(magic)) != magic:
            self.pos -= len(magic)
            raise self.damaged(f"wrong magic bytes for the format: {name}")

    def blob(self, *, none_marker: int | None = None) -> bytes | None:
        """A u32 length, then that many bytes; `none_marker` (e.g. 0xFFFFFFFF) stands for no value."""
        n = self.u32()
        if none_marker is not None and n == none_marker:
            return None
        return self.take(n)

    def at(self, offset: int) -> Reader:
        """A reader of the same data from `offset` (a table of offsets points into the file)."""
        if offset < 0 or offset > len(self.data):
            raise self.damaged(f"an offset {offset} outside the file")
        return Reader(self.data, self.what, big_endian=self.order == ">", offset=offset)  # shares the bytes
