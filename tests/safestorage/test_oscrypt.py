"""Electron safeStorage values: known answers, the Buffer JSON form, each codec."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_byok.errors import DecryptFailed, UnknownCiphertext
from cursor_byok.safestorage import oscrypt as ss

# --- known answers (cursor-storage.md section 4) -------------------------------------


def test_peanuts_one_iteration_is_the_linux_basic_key():
    assert ss.derive_cbc_key(b"peanuts", 1).hex() == "fd621fe5a2b402539dfa147ca9272778"
    assert ss.PEANUTS_KEY.hex() == "fd621fe5a2b402539dfa147ca9272778"


def test_peanuts_1003_iterations_is_the_macos_derivation():
    assert ss.derive_cbc_key(b"peanuts", ss.MACOS_ITERATIONS).hex() == "d9a09d499b4e1b7461f28e67972c6dbd"


def test_macos_codec_encrypts_the_known_answer():
    blob = ss.macos_codec(b"peanuts").encrypt("sk-test-123")
    assert blob == b"v10" + bytes.fromhex("7c4405c0ce1ea8223a1ef47f777a92a1")


def test_macos_codec_decrypts_the_known_answer():
    blob = b"v10" + bytes.fromhex("7c4405c0ce1ea8223a1ef47f777a92a1")
    assert ss.macos_codec(b"peanuts").decrypt(blob) == "sk-test-123"


def test_empty_password_key():
    assert ss.EMPTY_PASSWORD_V11_KEY.hex() == "d0d0ec9c7d77d43ac54187fa4818d17f"


def test_basic_and_keyring_codecs_use_their_prefixes():
    assert ss.linux_basic_codec().encrypt("x").startswith(b"v10")
    assert ss.linux_keyring_codec(b"pw").encrypt("x").startswith(b"v11")


def test_gcm_matches_the_nist_vector():
    # AES-256-GCM, zero key, zero nonce, 16 zero bytes (NIST GCM test case 14).
    out = ss._gcm_encrypt(bytes(32), bytes(16), nonce=bytes(12))
    assert out.hex() == "00" * 12 + "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"


# --- the Buffer JSON text form -------------------------------------------------------


def test_buffer_json_exact_text():
    assert ss.encode_buffer_json(b"v10\x00\xff") == '{"type":"Buffer","data":[118,49,48,0,255]}'
    assert ss.encode_buffer_json(b"") == '{"type":"Buffer","data":[]}'


@given(st.binary(max_size=300))
def test_buffer_json_is_json_stringify_and_round_trips(data):
    text = ss.encode_buffer_json(data)
    assert text == json.dumps({"type": "Buffer", "data": list(data)}, separators=(",", ":"))
    assert " " not in text
    assert ss.decode_buffer_json(text) == data


def test_buffer_json_with_spaces_still_decodes():
    assert ss.decode_buffer_json('{"type": "Buffer", "data": [1, 2]}') == b"\x01\x02"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[118,49,48]",
        '"v10"',
        '{"type":"buffer","data":[1]}',
        '{"type":"Buffer"}',
        '{"data":[1]}',
        '{"type":"Buffer","data":"AQI="}',
        '{"type":"Buffer","data":[256]}',
        '{"type":"Buffer","data":[-1]}',
        '{"type":"Buffer","data":[1.0]}',
        '{"type":"Buffer","data":[true]}',
        '{"type":"Buffer","data":["1"]}',
        '{"type":"Buffer","data":[null]}',
        '{"type":"Buffer","data":[[1]]}',
    ],
)
def test_malformed_buffer_json_is_rejected(text):
    with pytest.raises(ValueError):
        ss.decode_buffer_json(text)


# --- CBC ------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_cbc_round_trip(value):
    codec = ss.linux_keyring_codec(b"machine-password")
    assert codec.decrypt(codec.encrypt(value)) == value


def test_cbc_wrong_password_fails():
    blob = ss.macos_codec(b"right").encrypt("sk-test-1234567890")
    with pytest.raises(DecryptFailed):
        ss.macos_codec(b"wrong").decrypt(blob)


def test_cbc_body_not_a_block_multiple_fails():
    with pytest.raises(DecryptFailed, match="multiple"):
        ss.linux_basic_codec().decrypt(b"v10" + b"\x01" * 15)
    with pytest.raises(DecryptFailed):
        ss.linux_basic_codec().decrypt(b"v10")


def test_v11_falls_back_to_the_empty_password_key():
    blob = ss.CbcCodec(b"v11", ss.EMPTY_PASSWORD_V11_KEY).encrypt("sk-from-an-empty-keyring")
    assert ss.linux_keyring_codec(b"some-keyring-password").decrypt(blob) == "sk-from-an-empty-keyring"


def test_v11_without_fallback_match_still_fails():
    blob = ss.linux_keyring_codec(b"other").encrypt("secret-value-here")
    with pytest.raises(DecryptFailed):
        ss.linux_keyring_codec(b"mine").decrypt(blob)


# --- GCM ------------------------------------------------------------------------------

KEY32 = bytes(range(32))


@given(st.text(max_size=200))
def test_gcm_round_trip(value):
    codec = ss.GcmCodec(KEY32)
    blob = codec.encrypt(value)
    assert blob.startswith(b"v10")
    assert len(blob) == 3 + ss.GCM_NONCE_LEN + len(value.encode()) + ss.GCM_TAG_LEN
    assert codec.decrypt(blob) == value


def test_gcm_uses_a_fresh_nonce_each_time():
    codec = ss.GcmCodec(KEY32)
    assert codec.encrypt("same") != codec.encrypt("same")


@pytest.mark.parametrize("where", [3, 3 + ss.GCM_NONCE_LEN, -1])
def test_gcm_detects_tampering(where):
    codec = ss.GcmCodec(KEY32)
    blob = bytearray(codec.encrypt("sk-ant-api03-tamper-test"))
    blob[where] ^= 0x01
    with pytest.raises(DecryptFailed):
        codec.decrypt(bytes(blob))


def test_gcm_wrong_key_and_short_blob_fail():
    blob = ss.GcmCodec(KEY32).encrypt("value")
    with pytest.raises(DecryptFailed):
        ss.GcmCodec(bytes(32)).decrypt(blob)
    with pytest.raises(DecryptFailed, match="short"):
        ss.GcmCodec(KEY32).decrypt(b"v10" + bytes(20))


def test_gcm_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        ss.GcmCodec(bytes(16))


# --- prefixes -------------------------------------------------------------------------


def test_v20_is_refused_as_app_bound():
    with pytest.raises(UnknownCiphertext, match="v20"):
        ss.check_known_prefix(b"v20" + bytes(40), (b"v10", b"v11"))


@pytest.mark.parametrize("blob,shown", [(b"v12abcdef", "v12"), (b"\x00\x01\x02\x03", "0x000102"), (b"v1", "0x7631")])
def test_unknown_prefixes_are_refused_by_name(blob, shown):
    with pytest.raises(UnknownCiphertext, match=shown):
        ss.check_known_prefix(blob, (b"v10", b"v11"))


def test_known_prefix_is_returned():
    assert ss.check_known_prefix(b"v11rest", (b"v10", b"v11")) == b"v11"


def test_unknown_ciphertext_is_a_decrypt_failure():
    assert issubclass(UnknownCiphertext, DecryptFailed)
