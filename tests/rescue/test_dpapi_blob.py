"""DPAPI blobs opened with their master key: real blobs from PowerShell, Chrome and Credential Manager.

Vectors (tests/fixtures/rescue/dpapi/, each folder with its PROVENANCE.md):
Nemesis's PowerShell `ProtectedData.Protect` blobs of `test` and Chrome's
`Local State` key (AES-256 + SHA-512), impacket's Credential Manager blob
(3DES + SHA-1) and its `Some test string` blobs.
"""

from __future__ import annotations

import base64
import json
import sys

import pytest
from helpers import paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.errors import StoreDamaged, StoreUnsupported
from cursor_byok.rescue import dpapi_masterkey as mk
from cursor_byok.rescue.dpapi_blob import decrypt_blob, parse_blob

FIXTURES = paths.FIXTURES / "rescue" / "dpapi"
NEMESIS = FIXTURES / "nemesis-domain"
IMPACKET = FIXTURES / "impacket-domain-nt-hash"
NEMESIS_GUID = "ed93694f-5a6d-46e2-b821-219f2c0ecd4d"
NEMESIS_KEY = bytes.fromhex(  # Nemesis tests/test_core.py, expected_masterkey_bytes
    "36BD60CB9E7E52433169DB00E93ED0A82D3C30C65D948BD8596FB32C267671020B02026B0AE03479DD18374ADBDD7658"
    "F45CCE6ED2A45319EFF7A96C411C85F5"
)
IMPACKET_KEY = bytes.fromhex(  # impacket tests/misc/test_dpapi.py, DPAPITests.adminMasterKey
    "4c4a398169cc9ecc6eae0e1a70ba1dc58bfec785c4b35bd1afdf2aeb06753bca0ea3491989cb626990973f8370fd576a"
    "46c0ce2a85d995a01af6d727ff41969c"
)
IMPACKET_UNPROTECT_KEY = bytes.fromhex(  # impacket test_unprotect_without_entropy / with_entropy, `key`
    "9828d9873735439e823dbd216205ff88266d28ad685a413970c640d5ee943154bbade31fada673d542c72d707a163bb3"
    "d1bceb0c50465b359ae06998481b0ce3"
)
CREDENTIAL_FILE_HEADER = 12  # flags, size, unknown: then the DPAPI blob


def chrome_blob() -> bytes:
    encoded = json.loads((NEMESIS / "Local State").read_text())["os_crypt"]["encrypted_key"]
    raw = base64.b64decode(encoded)
    assert raw[:5] == b"DPAPI"
    return raw[5:]


def test_parse_chrome_local_state_blob() -> None:
    blob = parse_blob(chrome_blob())
    assert blob.masterkey_guid == NEMESIS_GUID
    assert (blob.cipher_alg, blob.cipher_bits, blob.hash_alg, blob.hash_bits) == (
        mk.CALG_AES_256,
        256,
        mk.CALG_SHA_512,
        512,
    )
    assert (len(blob.salt), len(blob.sign_key), len(blob.signature), blob.description) == (32, 32, 64, "Google Chrome")


def test_chrome_local_state_blob_gives_a_32_byte_key() -> None:
    assert len(decrypt_blob(parse_blob(chrome_blob()), NEMESIS_KEY)) == 32


def test_powershell_blob_without_entropy_is_test() -> None:
    assert decrypt_blob(parse_blob((NEMESIS / "protect-test.bin").read_bytes()), NEMESIS_KEY) == b"test"


def test_powershell_blob_with_entropy_is_test() -> None:
    blob = parse_blob((NEMESIS / "protect-test-entropy-0102030405.bin").read_bytes())
    assert decrypt_blob(blob, NEMESIS_KEY, entropy=bytes([1, 2, 3, 4, 5])) == b"test"


def test_blob_made_with_entropy_does_not_open_without_it() -> None:
    blob = parse_blob((NEMESIS / "protect-test-entropy-0102030405.bin").read_bytes())
    with pytest.raises(StoreDamaged, match="signature"):
        decrypt_blob(blob, NEMESIS_KEY)


def test_credential_manager_blob_3des_sha1_holds_its_user_name() -> None:
    # Signed in Windows XP's hand-rolled HMAC form (the other blobs here use plain HMAC): both must be accepted.
    blob = parse_blob((IMPACKET / "credential-file.bin").read_bytes()[CREDENTIAL_FILE_HEADER:])
    assert (blob.cipher_alg, blob.hash_alg) == (mk.CALG_3DES, mk.CALG_SHA1)
    assert "david.bowie".encode("utf-16-le") in decrypt_blob(blob, IMPACKET_KEY)


def test_impacket_unprotect_blob_without_entropy() -> None:
    blob = parse_blob((IMPACKET / "protect-some-test-string.bin").read_bytes())
    assert decrypt_blob(blob, IMPACKET_UNPROTECT_KEY) == b"Some test string"


def test_impacket_unprotect_blob_with_entropy() -> None:
    blob = parse_blob((IMPACKET / "protect-some-test-string-entropy.bin").read_bytes())
    assert decrypt_blob(blob, IMPACKET_UNPROTECT_KEY, entropy=b"Some entropy") == b"Some test string"


def test_wrong_master_key_fails_the_signature_check() -> None:
    with pytest.raises(StoreDamaged, match="signature does not check with master key " + NEMESIS_GUID):
        decrypt_blob(parse_blob(chrome_blob()), IMPACKET_KEY)


def test_another_provider_is_not_a_dpapi_blob() -> None:
    data = bytearray(chrome_blob())
    data[4] ^= 0xFF
    with pytest.raises(StoreDamaged, match="not a DPAPI blob"):
        parse_blob(bytes(data))


def test_trailing_bytes_are_damage() -> None:
    with pytest.raises(StoreDamaged, match="after the signature"):
        parse_blob(chrome_blob() + b"\x00")


def test_blob_repr_shows_no_data_or_signature() -> None:
    blob = parse_blob(chrome_blob())
    assert blob.data.hex() not in repr(blob) and blob.signature.hex() not in repr(blob)


def test_3des_blob_without_the_decrepit_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = parse_blob((IMPACKET / "credential-file.bin").read_bytes()[CREDENTIAL_FILE_HEADER:])
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.decrepit.ciphers.algorithms", None)
    with pytest.raises(StoreUnsupported) as caught:
        decrypt_blob(blob, IMPACKET_KEY)
    assert caught.value.reason == "legacy-ciphers-missing"


# --- damaged blobs: only StoreDamaged, never a wrong plaintext ----------------------

CHROME = chrome_blob()
CHROME_KEY = decrypt_blob(parse_blob(CHROME), NEMESIS_KEY)
CREDENTIAL = (IMPACKET / "credential-file.bin").read_bytes()[CREDENTIAL_FILE_HEADER:]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(CHROME) * 8 - 1))
def test_bit_flipped_aes_blob_is_damaged(bit: int) -> None:
    data = bytearray(CHROME)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(StoreDamaged):
        decrypt_blob(parse_blob(bytes(data)), NEMESIS_KEY)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(CREDENTIAL) * 8 - 1))
def test_bit_flipped_3des_blob_is_damaged(bit: int) -> None:
    data = bytearray(CREDENTIAL)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(StoreDamaged):
        decrypt_blob(parse_blob(bytes(data)), IMPACKET_KEY)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(CHROME) - 1))
def test_truncated_blob_is_damaged(cut: int) -> None:
    with pytest.raises(StoreDamaged):
        decrypt_blob(parse_blob(CHROME[:cut]), NEMESIS_KEY)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_damaged(data: bytes) -> None:
    with pytest.raises(StoreDamaged):
        decrypt_blob(parse_blob(data), NEMESIS_KEY)
