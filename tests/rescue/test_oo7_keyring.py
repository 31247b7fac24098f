"""oo7's keyring format 1.0 opened offline, and the GVariant reader under it.

The anchor is oo7's own test keyring (MIT, tests/fixtures/rescue/gnome/README.md),
written by oo7's Rust code through zvariant: the reader opens it with its
password. No real producer here can write a 1.0 keyring holding Cursor's
item, so the tests build one from the format with the writer below; that
writer reproduces oo7's file byte for byte (its framing), and the reader that
opens oo7's file opens what it builds.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from helpers import paths
from helpers.store_files import CODE_ITEM, build_keyring, gv_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.errors import RescueNotFound, StoreDamaged, StoreLocked
from cursor_byok.rescue import gvariant, oo7_keyring
from cursor_byok.rescue.gnome_keyring import CURSOR_SCHEMA, cursor_secret, format_of
from cursor_byok.rescue.items import StoreItem
from cursor_byok.rescue.oo7_keyring import ITEM_TYPE, KEYRING_TYPE, open_keyring

FIXTURES = paths.FIXTURES / "rescue" / "gnome"
OO7_PASSWORD = "test"
PASSWORD = "a-made-up-login-password"
CURSOR_SECRET = b"bWFkZS11cC1mb3ItdGVzdHM="
CURSOR_ITEM = StoreItem("Chromium Safe Storage", {"xdg:schema": CURSOR_SCHEMA, "application": "Cursor"}, CURSOR_SECRET)


def oo7_file() -> bytes:
    return (FIXTURES / "oo7-default.keyring").read_bytes()


# -- a GVariant writer and a 1.0 keyring builder, for the tests ----------------------------------


def flip_in_last_blob(data: bytes) -> bytes:
    """One bit flipped in the middle of the last item's ciphertext: its MAC no longer matches."""
    *_header, items = gvariant.decode(KEYRING_TYPE, data[oo7_keyring.BODY_OFFSET :], "x")
    blob = items[-1][1]
    at = data.rindex(blob) + len(blob) // 4
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


# -- oo7's own file ---------------------------------------------------------------------------


def test_oo7s_own_v1_keyring_opens_with_its_password():
    assert format_of(oo7_file(), name="x") == "oo7-1.0"
    items = open_keyring(oo7_file(), ["wrong", OO7_PASSWORD], name="oo7-default.keyring")
    assert [(i.label, dict(i.attributes), i.secret) for i in items] == [
        ("foo", {"xdg:schema": "org.gnome.keyring.Note"}, b"foo")
    ]


def test_oo7s_own_v1_keyring_with_a_wrong_password_is_locked():
    with pytest.raises(StoreLocked) as caught:
        open_keyring(oo7_file(), ["tset"], name="oo7-default.keyring")
    assert caught.value.reason == "wrong-password"
    assert "oo7 keyring oo7-default.keyring" in str(caught.value) and "--login-password-file" in str(caught.value)
    assert "tset" not in str(caught.value)


def test_oo7s_own_v1_keyring_without_a_password_says_how_to_give_one():
    with pytest.raises(StoreLocked, match="needs its password"):
        open_keyring(oo7_file(), [], name="oo7-default.keyring")


def test_oo7s_keyring_without_cursors_item_names_its_label_only():
    items = open_keyring(oo7_file(), [OO7_PASSWORD], name="oo7-default.keyring")
    with pytest.raises(RescueNotFound, match="it holds: foo") as caught:
        cursor_secret(items, store_name="oo7 keyring default.keyring")
    assert caught.value.reason == "entry-missing" and str(caught.value).count("foo") == 1


def test_the_test_writer_reproduces_oo7s_file_byte_for_byte():
    """The builder's GVariant framing is zvariant's: re-encoding what the reader decoded gives oo7's exact bytes,
    for the file and for its decrypted item."""
    data = oo7_file()
    body = data[oo7_keyring.BODY_OFFSET :]
    assert gv_encode(KEYRING_TYPE, gvariant.decode(KEYRING_TYPE, body, "x")) == body

    salt_size, salt, iterations, *_rest, items = gvariant.decode(KEYRING_TYPE, body, "x")
    key = hashlib.pbkdf2_hmac("sha256", OO7_PASSWORD.encode(), salt, iterations, 16)
    blob = items[0][1]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(blob[-48:-32])).decryptor()
    padded = decryptor.update(blob[:-48]) + decryptor.finalize()
    plain = padded[: -padded[-1]]
    assert gv_encode(ITEM_TYPE, gvariant.decode(ITEM_TYPE, plain, "x")) == plain


# -- Cursor's item in a built keyring -----------------------------------------------------------


def test_built_v1_keyring_checked_by_the_reader_of_oo7s_own_file():
    data = build_keyring(PASSWORD, [CODE_ITEM, CURSOR_ITEM], iterations=100_000)
    items = open_keyring(data, [PASSWORD], name="login.keyring")
    assert items == [CODE_ITEM, CURSOR_ITEM]
    assert cursor_secret(items, store_name="oo7 keyring login.keyring") == CURSOR_SECRET


def test_built_v1_keyring_with_a_wrong_password_is_locked_never_a_wrong_secret():
    data = build_keyring(PASSWORD, [CURSOR_ITEM])
    with pytest.raises(StoreLocked):
        open_keyring(data, ["a-made-up-login-passwore", ""], name="login.keyring")


def test_built_v1_keyring_written_without_a_password_opens_without_one():
    data = build_keyring(None, [CODE_ITEM, CURSOR_ITEM])
    items = open_keyring(data, [], name="nopass.keyring")
    assert cursor_secret(items, store_name="nopass.keyring") == CURSOR_SECRET


def test_built_empty_v1_keyring_opens_empty():
    assert open_keyring(build_keyring(PASSWORD, []), [], name="empty.keyring") == []


def test_built_v1_keyring_with_one_item_whose_mac_fails_is_damaged_not_skipped():
    data = flip_in_last_blob(build_keyring(PASSWORD, [CODE_ITEM, CURSOR_ITEM]))
    with pytest.raises(StoreDamaged, match="MAC fails"):
        open_keyring(bytes(data), [PASSWORD], name="login.keyring")


def test_built_v1_keyring_whose_only_item_fails_its_mac_is_locked():
    data = flip_in_last_blob(build_keyring(PASSWORD, [CURSOR_ITEM]))
    with pytest.raises(StoreLocked):
        open_keyring(bytes(data), [PASSWORD], name="login.keyring")


def test_built_v1_keyring_whose_hashed_attribute_does_not_match_is_damaged():
    data = build_keyring(PASSWORD, [CURSOR_ITEM], tamper={"attribute_value": "Code"})
    with pytest.raises(StoreDamaged, match="does not match its hash"):
        open_keyring(data, [PASSWORD], name="login.keyring")


def test_built_v1_keyring_with_broken_padding_under_a_good_mac_is_damaged():
    data = build_keyring(PASSWORD, [CURSOR_ITEM], tamper={"padded": bytes(range(32))})
    with pytest.raises(StoreDamaged, match="padding"):
        open_keyring(data, [PASSWORD], name="login.keyring")


def test_built_v1_keyring_whose_salt_size_disagrees_is_damaged():
    data = build_keyring(PASSWORD, [CURSOR_ITEM], tamper={"salt_size": 16})
    with pytest.raises(StoreDamaged, match="salt of 32 bytes"):
        open_keyring(data, [PASSWORD], name="login.keyring")


def test_a_huge_iteration_count_is_damaged_not_hours_of_pbkdf2():
    data = bytearray(oo7_file())
    at = oo7_keyring.BODY_OFFSET + 4 + 32  # after salt size and salt
    assert int.from_bytes(data[at : at + 4], "little") == 100_000
    data[at : at + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    with pytest.raises(StoreDamaged, match="iteration count"):
        open_keyring(bytes(data), [OO7_PASSWORD], name="x")


def test_a_0_0_keyring_given_to_the_1_0_reader_is_damaged():
    with pytest.raises(StoreDamaged, match="format version 0.0"):
        open_keyring((FIXTURES / "oo7-legacy.keyring").read_bytes(), [OO7_PASSWORD], name="x")


# -- GVariant ------------------------------------------------------------------------------------

GV_TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")  # what a GVariant string holds
ITEMS = st.builds(
    StoreItem,
    label=st.text(GV_TEXT, max_size=20),
    attributes=st.dictionaries(st.text(GV_TEXT, min_size=1, max_size=8), st.text(GV_TEXT, max_size=300), max_size=4),
    secret=st.binary(max_size=300),
)


@settings(max_examples=100)
@given(ITEMS)
def test_gvariant_item_round_trip(item):
    value = (dict(item.attributes), item.label, 2**64 - 1, 0, item.secret)
    assert gvariant.decode(ITEM_TYPE, gv_encode(ITEM_TYPE, value), "x") == value


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.text(GV_TEXT, max_size=5), st.binary(max_size=40), max_size=3),
            st.binary(max_size=400),
        ),
        max_size=4,
    ),
    st.binary(max_size=40),
)
def test_gvariant_keyring_round_trip(items, salt):
    value = (len(salt), salt, 7, 2**40, 3, items)
    assert gvariant.decode(KEYRING_TYPE, gv_encode(KEYRING_TYPE, value), "x") == value


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_gvariant_reader_gives_only_store_damaged_on_any_bytes(data):
    for signature in (KEYRING_TYPE, ITEM_TYPE):
        try:
            gvariant.decode(signature, data, "x")
        except StoreDamaged:
            pass


# -- hostile files: only StoreDamaged or StoreLocked, never a wrong secret ---------------------


def _opens_to_the_same_items_or_refuses(data: bytes, expected: list[StoreItem], password: str) -> None:
    try:
        items = open_keyring(data, [password], name="hostile.keyring")
    except (StoreDamaged, StoreLocked):
        return
    assert items == expected


@pytest.fixture(scope="module")
def built() -> bytes:
    return build_keyring(PASSWORD, [CODE_ITEM, CURSOR_ITEM])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bit_flipped_built_keyring_refuses_or_gives_the_same_items(built, data):
    bit = data.draw(st.integers(0, len(built) * 8 - 1))
    flipped = bytearray(built)
    flipped[bit // 8] ^= 1 << (bit % 8)
    _opens_to_the_same_items_or_refuses(bytes(flipped), [CODE_ITEM, CURSOR_ITEM], PASSWORD)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_truncated_or_extended_built_keyring_refuses_or_gives_the_same_items(built, data):
    cut = data.draw(st.integers(0, len(built)))
    tail = data.draw(st.binary(max_size=40))
    _opens_to_the_same_items_or_refuses(built[:cut] + tail, [CODE_ITEM, CURSOR_ITEM], PASSWORD)


@pytest.mark.slow  # 100,000 PBKDF2 iterations an example
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_bit_flipped_oo7_keyring_refuses_or_gives_the_same_items(data):
    original = oo7_file()
    expected = open_keyring(original, [OO7_PASSWORD], name="x")
    bit = data.draw(st.integers(0, len(original) * 8 - 1))
    flipped = bytearray(original)
    flipped[bit // 8] ^= 1 << (bit % 8)
    _opens_to_the_same_items_or_refuses(bytes(flipped), expected, OO7_PASSWORD)
