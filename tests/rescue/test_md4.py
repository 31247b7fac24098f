"""MD4 (pure Python): RFC 1320's test suite, and the NT hash a DPAPI domain route starts from."""

from __future__ import annotations

import pytest

from cursor_byok.rescue.md4 import md4, nt_hash

RFC1320_SUITE = [  # RFC 1320, appendix A.5
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
]


@pytest.mark.parametrize(("message", "digest"), RFC1320_SUITE)
def test_md4_rfc1320_suite(message: bytes, digest: str) -> None:
    assert md4(message).hex() == digest


@pytest.mark.parametrize("length", [55, 56, 63, 64, 65, 119, 120, 128])
def test_md4_padding_boundaries_give_one_digest_per_input(length: int) -> None:
    # Around the 56-byte padding edge each input still hashes to its own 16 bytes.
    digests = {md4(b"x" * n) for n in (length - 1, length, length + 1)}
    assert len(digests) == 3 and all(len(d) == 16 for d in digests)


def test_nt_hash_of_the_nemesis_domain_password() -> None:
    # Nemesis libs/nemesis_dpapi/tests/test_keys.py: ntlm_hash of "Qwerty12345".
    assert nt_hash("Qwerty12345").hex() == "abd9ffb762c86b26ef4ce5c81b0dd37f"


def test_nt_hash_of_the_empty_password() -> None:
    # The well-known NT hash of an empty password.
    assert nt_hash("").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
