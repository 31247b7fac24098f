"""The little-endian GVariant reader oo7's keyring files need: each supported type read back exactly as the
test writer frames it (tests/helpers/store_files.py, which reproduces oo7's own file byte for byte), and
anything that does not frame exactly a StoreDamaged, never another exception."""

from __future__ import annotations

import pytest
from helpers.store_files import gv_encode
from hypothesis import given
from hypothesis import strategies as st

from cursor_byok.errors import StoreDamaged
from cursor_byok.rescue import gvariant
from cursor_byok.rescue.oo7_keyring import ITEM_TYPE, KEYRING_TYPE


@pytest.mark.parametrize(
    "signature, value",
    [
        ("y", 7),
        ("u", 4_000_000_000),
        ("t", 2**63 + 5),
        ("s", "Chromium Safe Storage"),
        ("s", ""),
        ("ay", b"\x00\xffbytes"),
        ("as", ["a", "bc", ""]),
        ("a{ss}", {"application": "Cursor", "xdg:schema": "chrome_libsecret_os_crypt_password_v2"}),
        ("(uay)", (16, b"0123456789abcdef")),
        ("(sus)", ("first", 9, "last")),
        (ITEM_TYPE, ({"application": "Cursor"}, "label", 1_712_311_496, 1_712_311_497, b"secret")),
    ],
)
def test_each_supported_type_reads_back_what_the_writer_framed(signature, value):
    assert gvariant.decode(signature, gv_encode(signature, value), "f") == value


def test_a_string_without_its_closing_nul_is_damaged():
    with pytest.raises(StoreDamaged, match="without its single closing NUL"):
        gvariant.decode("s", b"abc", "a keyring")


def test_a_string_that_is_not_utf8_is_damaged():
    with pytest.raises(StoreDamaged, match="not UTF-8"):
        gvariant.decode("s", b"\xff\xfe\x00", "a keyring")


def test_a_fixed_value_of_the_wrong_size_is_damaged():
    with pytest.raises(StoreDamaged):
        gvariant.decode("u", b"\x01\x02\x03", "a keyring")


def test_a_dictionary_with_a_key_twice_is_damaged():
    data = gv_encode("a(ss)", [("k", "1"), ("k", "2")])
    with pytest.raises(StoreDamaged, match="the key 'k' twice"):
        gvariant.decode("a{ss}", data, "a keyring")


def test_a_type_this_reader_does_not_support_is_the_callers_mistake():
    with pytest.raises(ValueError):
        gvariant.decode("v", b"", "a keyring")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_value_or_store_damaged(data):
    for signature in (KEYRING_TYPE, ITEM_TYPE, "a{say}"):
        try:
            gvariant.decode(signature, data, "a keyring")
        except StoreDamaged:
            pass
