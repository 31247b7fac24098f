"""The bounded reader under every store reader: a field or an offset past the end of the data is a StoreDamaged
naming the file and the byte, never an IndexError or a struct.error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_byok.errors import StoreDamaged
from cursor_byok.rescue.binary import Reader


def test_fields_are_read_in_order_big_or_little_endian():
    data = bytes.fromhex("01000200000003fffffffc0000000000000005") + b"\x00\x00\x00\x02hi"
    r = Reader(data, "a file")
    assert (r.u8(), r.u16(), r.u32(), r.i32(), r.u64()) == (1, 2, 3, -4, 5)
    assert r.blob() == b"hi" and r.left == 0
    little = Reader(bytes.fromhex("0300000004000000"), "a file", big_endian=False)
    assert (little.u32(), little.u32()) == (3, 4)


def test_a_blob_whose_length_runs_past_the_end_is_damaged_and_names_the_file_and_byte():
    r = Reader(b"\x00\x00\x01\x00" + b"x" * 10, "GNOME keyring login.keyring")
    with pytest.raises(
        StoreDamaged, match=r"GNOME keyring login.keyring: a field of 256 bytes runs past the end at byte 4"
    ):
        r.blob()


def test_the_none_marker_stands_for_no_value():
    assert Reader(b"\xff\xff\xff\xff", "f").blob(none_marker=0xFFFFFFFF) is None
    with pytest.raises(StoreDamaged):
        Reader(b"\xff\xff\xff\xff", "f").blob()  # without the marker, 4 GiB that are not there


def test_wrong_magic_names_the_format_and_leaves_the_position():
    r = Reader(b"GnomeKeyring\n\r\x00\n", "f")
    r.expect(b"GnomeKeyring\n\r\x00\n", "GNOME keyring")
    assert r.left == 0
    other = Reader(b"KWALLET\n\r\x00\r\n" + b"\x00" * 8, "f")
    with pytest.raises(StoreDamaged, match="wrong magic bytes for the format: GNOME keyring"):
        other.expect(b"GnomeKeyring", "GNOME keyring")
    assert other.pos == 0


def test_an_offset_outside_the_file_is_damaged_and_one_inside_shares_the_bytes():
    r = Reader(b"\x00\x00\x00\x07\x00\x00\x00\x09", "f")
    assert r.at(4).u32() == 9 and r.pos == 0
    assert r.at(8).left == 0
    for offset in (-1, 9):
        with pytest.raises(StoreDamaged, match=f"an offset {offset} outside the file"):
            r.at(offset)


READS = st.lists(st.sampled_from(["u8", "u16", "u32", "i32", "u64", "blob", "take", "skip", "at"]), max_size=12)


@given(data=st.binary(max_size=64), reads=READS, big_endian=st.booleans(), n=st.integers(-3, 80))
def test_any_reads_of_any_bytes_give_values_or_store_damaged(data, reads, big_endian, n):
    r = Reader(data, "f", big_endian=big_endian)
    try:
        for name in reads:
            if name in ("take", "skip", "at"):
                getattr(r, name)(n)
            else:
                getattr(r, name)()
    except StoreDamaged as exc:
        assert str(exc).startswith("f: ") and "damaged" in str(exc)
    assert 0 <= r.pos <= len(data)
