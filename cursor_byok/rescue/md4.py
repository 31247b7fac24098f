"""MD4 (RFC 1320), pure Python: the NT hash that DPAPI's domain routes start from.

OpenSSL 3 moved MD4 to its legacy provider, so `hashlib.new("md4")` fails on
most systems; this is the whole algorithm, for short inputs (a password).
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
_INIT = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_ROUND2 = 0x5A827999
_ROUND3 = 0x6ED9EBA1
# The order each round reads the block's sixteen words in, and its shifts.
_ORDER1 = tuple(range(16))
_ORDER2 = (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
_ORDER3 = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)
_SHIFTS1 = (3, 7, 11, 19)
_SHIFTS2 = (3, 5, 9, 13)
_SHIFTS3 = (3, 9, 11, 15)


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _f(x: int, y: int, z: int) -> int:
    return (x & y) | (~x & z)


def _g(x: int, y: int, z: int) -> int:
    return (x & y) | (x & z) | (y & z)


def _h(x: int, y: int, z: int) -> int:
    return x ^ y ^ z


def _compress(state: tuple[int, int, int, int], block: bytes) -> tuple[int, int, int, int]:
    x = struct.unpack("<16I", block)
    a, b, c, d = state
    rounds = (
        (_f, 0, _ORDER1, _SHIFTS1),
        (_g, _ROUND2, _ORDER2, _SHIFTS2),
        (_h, _ROUND3, _ORDER3, _SHIFTS3),
    )
    for func, constant, order, shifts in rounds:
        for i, k in enumerate(order):
            a = _rotl((a + func(b, c, d) + x[k] + constant) & _MASK, shifts[i % 4])
            a, b, c, d = d, a, b, c
    return (
        (state[0] + a) & _MASK,
        (state[1] + b) & _MASK,
        (state[2] + c) & _MASK,
        (state[3] + d) & _MASK,
    )


def md4(data: bytes) -> bytes:
    """The 16-byte MD4 digest of `data`."""
    padded = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", (len(data) * 8) & (2**64 - 1))
    state = _INIT
    for offset in range(0, len(padded), 64):
        state = _compress(state, padded[offset : offset + 64])
    return struct.pack("<4I", *state)


def nt_hash(password: str) -> bytes:
    """Windows' NT hash of a password: MD4 of its UTF-16LE bytes."""
    return md4(password.encode("utf-16-le"))
