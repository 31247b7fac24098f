"""Cursor's Windows key from a copied `Local State` and `Protect/<SID>/`: the whole offline chain.

Vectors: built-local (a local account; built here, checked by impacket 0.13.1
and pypykatz 0.6.13; its `v10` row proves the key end to end) and
nemesis-domain (Chrome 141's real `Local State` of a domain user). Each folder
has its PROVENANCE.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.errors import RescueNotFound, StoreDamaged, StoreLocked, StoreUnsupported
from cursor_byok.rescue.dpapi_offline import local_state_blob, oscrypt_key, read_master_keys
from cursor_byok.safestorage.oscrypt import GcmCodec

FIXTURES = paths.FIXTURES / "rescue" / "dpapi"
BUILT = FIXTURES / "built-local"
FACTS = json.loads((BUILT / "vector.json").read_text())
BUILT_SID = FACTS["sid"]
BUILT_PROTECT = BUILT / "Protect" / BUILT_SID
NEMESIS = FIXTURES / "nemesis-domain"
NEMESIS_SID = "S-1-5-21-3821320868-1508310791-3575676346-1103"
NEMESIS_PROTECT = NEMESIS / "Protect" / NEMESIS_SID
NEMESIS_OSCRYPT_KEY_SHA256 = (
    "556836173750a3a3b5297ac66fe636ab5f8c8730b7ec6681426d7ba1af068974"  # pypykatz 0.6.13 agrees
)
ENTRA_SID = "S-1-12-1-3456789012-1234567890-2345678901-3456789012"


def built_key(
    passwords: list[str], master_keys: dict[str, bytes] | None = None, local_state: bytes | None = None
) -> bytes:
    return oscrypt_key(
        (BUILT / "Local State").read_bytes() if local_state is None else local_state,
        read_master_keys(BUILT_PROTECT) if master_keys is None else master_keys,
        BUILT_SID,
        passwords,
    )


def local_state_with(blob: bytes) -> bytes:
    return json.dumps({"os_crypt": {"encrypted_key": base64.b64encode(b"DPAPI" + blob).decode()}}).encode()


# --- the key, end to end ------------------------------------------------------


def test_built_local_account_key_decrypts_its_v10_row() -> None:
    key = built_key([FACTS["old_password"]])
    assert hashlib.sha256(key).hexdigest() == FACTS["oscrypt_key_sha256"]
    assert GcmCodec(key).decrypt((BUILT / "v10-row.bin").read_bytes()) == FACTS["row_plaintext"]


def test_password_changed_later_needs_the_old_one_among_several() -> None:
    key = built_key([FACTS["new_password"], FACTS["old_password"]])
    assert hashlib.sha256(key).hexdigest() == FACTS["oscrypt_key_sha256"]


def test_only_the_newer_password_is_locked_and_says_to_give_older_ones() -> None:
    with pytest.raises(StoreLocked) as caught:
        built_key([FACTS["new_password"]])
    assert "older passwords" in str(caught.value) and FACTS["blob_masterkey"] in str(caught.value)
    assert FACTS["new_password"] not in str(caught.value)


def test_nemesis_chrome_local_state_gives_the_key_pypykatz_gives() -> None:
    key = oscrypt_key(
        (NEMESIS / "Local State").read_bytes(), read_master_keys(NEMESIS_PROTECT), NEMESIS_SID, ["Qwerty12345"]
    )
    assert hashlib.sha256(key).hexdigest() == NEMESIS_OSCRYPT_KEY_SHA256


def test_nemesis_wrong_password_is_locked() -> None:
    with pytest.raises(StoreLocked):
        oscrypt_key(
            (NEMESIS / "Local State").read_bytes(), read_master_keys(NEMESIS_PROTECT), NEMESIS_SID, ["qwerty12345"]
        )


def test_master_key_names_may_come_uppercase_or_braced() -> None:
    keys = {"{" + guid.upper() + "}": data for guid, data in read_master_keys(BUILT_PROTECT).items()}
    assert len(built_key([FACTS["old_password"]], keys)) == 32


# --- refusals -------------------------------------------------------------------


def test_entra_account_is_unsupported_before_anything_is_read() -> None:
    with pytest.raises(StoreUnsupported) as caught:
        oscrypt_key(b"not even JSON", {}, ENTRA_SID, ["anything"])
    assert caught.value.reason == "entra-account"
    assert "Primary Refresh Token" in str(caught.value) and "cursor-byok export" in str(caught.value)


def test_missing_master_key_names_the_guid_and_the_folder() -> None:
    keys = read_master_keys(BUILT_PROTECT)
    del keys[FACTS["blob_masterkey"]]
    with pytest.raises(RescueNotFound) as caught:
        oscrypt_key(
            (BUILT / "Local State").read_bytes(), keys, BUILT_SID, [FACTS["old_password"]], folder="D:/old/Protect"
        )
    assert caught.value.reason == "store-missing"
    assert FACTS["blob_masterkey"] in str(caught.value) and "D:/old/Protect" in str(caught.value)


def test_missing_master_key_names_the_default_folder() -> None:
    with pytest.raises(RescueNotFound, match=f"AppData/Roaming/Microsoft/Protect/{BUILT_SID}"):
        built_key([FACTS["old_password"]], {})


def test_renamed_master_key_file_is_damaged() -> None:
    keys = read_master_keys(BUILT_PROTECT)
    keys[FACTS["blob_masterkey"]] = keys[FACTS["newer_masterkey"]]
    with pytest.raises(StoreDamaged, match="renamed or damaged"):
        built_key([FACTS["old_password"]], keys)


def test_key_without_the_dpapi_prefix_is_damaged_with_a_clear_message() -> None:
    raw = base64.b64decode(json.loads((BUILT / "Local State").read_text())["os_crypt"]["encrypted_key"])
    local_state = json.dumps({"os_crypt": {"encrypted_key": base64.b64encode(b"APPB" + raw[5:]).decode()}}).encode()
    with pytest.raises(StoreDamaged, match="not base64 of 'DPAPI'"):
        built_key([FACTS["old_password"]], local_state=local_state)


def test_key_that_is_not_base64_is_damaged() -> None:
    with pytest.raises(StoreDamaged, match="not base64"):
        built_key([FACTS["old_password"]], local_state=b'{"os_crypt": {"encrypted_key": "DPAPI!!"}}')


def test_local_state_that_is_not_json_is_damaged() -> None:
    with pytest.raises(StoreDamaged, match="not JSON"):
        built_key([FACTS["old_password"]], local_state=b"\xff\xfe{")


def test_local_state_without_a_key_is_entry_missing() -> None:
    with pytest.raises(RescueNotFound) as caught:
        built_key([FACTS["old_password"]], local_state=b'{"browser": {}}')
    assert caught.value.reason == "entry-missing"


def test_blob_that_is_not_a_32_byte_key_is_damaged() -> None:
    # The PowerShell blob of "test" under the Nemesis master key: a valid blob, but not an OSCrypt key.
    local_state = local_state_with((NEMESIS / "protect-test.bin").read_bytes())
    with pytest.raises(StoreDamaged, match="holds 4 bytes, not a 32-byte key"):
        oscrypt_key(local_state, read_master_keys(NEMESIS_PROTECT), NEMESIS_SID, ["Qwerty12345"])


def test_read_master_keys_takes_only_guid_named_files(tmp_path: Path) -> None:
    shutil.copytree(BUILT_PROTECT, tmp_path / "p")
    (tmp_path / "p" / "Preferred").write_bytes(b"\x00" * 24)
    (tmp_path / "p" / "CREDHIST").write_bytes(b"\x00" * 24)
    assert sorted(read_master_keys(tmp_path / "p")) == sorted([FACTS["blob_masterkey"], FACTS["newer_masterkey"]])


def test_read_master_keys_of_a_missing_folder_is_store_missing(tmp_path: Path) -> None:
    with pytest.raises(RescueNotFound) as caught:
        read_master_keys(tmp_path / "nope")
    assert caught.value.reason == "store-missing"


# --- damaged Local State: StoreDamaged (or the GUID is not found), never a wrong key --

BLOB = local_state_blob((BUILT / "Local State").read_bytes())
RAW = base64.b64decode(json.loads((BUILT / "Local State").read_text())["os_crypt"]["encrypted_key"])[5:]
MASTER_KEYS = read_master_keys(BUILT_PROTECT)
GUID_BITS = range(24 * 8, 40 * 8)  # the master-key GUID, bytes 24-39 of the blob


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(RAW) * 8 - 1))
def test_bit_flipped_local_state_key_is_damaged_never_a_wrong_key(bit: int) -> None:
    data = bytearray(RAW)
    data[bit // 8] ^= 1 << (bit % 8)
    expected = (RescueNotFound,) if bit in GUID_BITS else (StoreDamaged,)
    with pytest.raises(expected):
        oscrypt_key(local_state_with(bytes(data)), MASTER_KEYS, BUILT_SID, [FACTS["old_password"]])


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(RAW) - 1))
def test_truncated_local_state_key_is_damaged(cut: int) -> None:
    with pytest.raises(StoreDamaged):
        oscrypt_key(local_state_with(RAW[:cut]), MASTER_KEYS, BUILT_SID, [FACTS["old_password"]])


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_local_state_is_damaged_or_entry_missing(data: bytes) -> None:
    with pytest.raises((StoreDamaged, RescueNotFound)):
        oscrypt_key(data, MASTER_KEYS, BUILT_SID, [FACTS["old_password"]])


def test_parsed_built_blob_names_the_old_master_key() -> None:
    assert BLOB.masterkey_guid == FACTS["blob_masterkey"]
