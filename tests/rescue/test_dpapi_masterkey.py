"""DPAPI master-key files opened offline: real master keys by each pre-key route, and the failures.

Vectors (tests/fixtures/rescue/dpapi/, each folder with its PROVENANCE.md):
Nemesis (domain, Windows 10+ PBKDF2 route), impacket (domain, NT-hash route,
3DES + SHA-1), John the Ripper's DPAPImk vectors (all three routes, local
accounts among them), and built-local (built here, checked by impacket and
pypykatz).
"""

from __future__ import annotations

import hashlib
import hmac
import sys

import pytest
from helpers import paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.errors import InputError, StoreDamaged, StoreLocked, StoreUnsupported
from cursor_byok.rescue import dpapi_masterkey as mk
from cursor_byok.rescue.dpapi_masterkey import (
    MasterKeyFile,
    MasterKeySection,
    decrypt_masterkey,
    dpapi_pbkdf2,
    parse_masterkey,
    prekeys,
    unlock_masterkey,
)

FIXTURES = paths.FIXTURES / "rescue" / "dpapi"

NEMESIS_SID = "S-1-5-21-3821320868-1508310791-3575676346-1103"
NEMESIS_GUID = "ed93694f-5a6d-46e2-b821-219f2c0ecd4d"
NEMESIS_FILE = FIXTURES / "nemesis-domain" / "Protect" / NEMESIS_SID / NEMESIS_GUID
NEMESIS_KEY = bytes.fromhex(  # Nemesis tests/test_core.py, expected_masterkey_bytes
    "36BD60CB9E7E52433169DB00E93ED0A82D3C30C65D948BD8596FB32C267671020B02026B0AE03479DD18374ADBDD7658"
    "F45CCE6ED2A45319EFF7A96C411C85F5"
)
IMPACKET_SID = "S-1-5-21-1455520393-2019809541-4133251990-500"
IMPACKET_GUID = "3a43ac71-52d1-4b15-84cb-01a5e7f06350"
IMPACKET_FILE = FIXTURES / "impacket-domain-nt-hash" / "Protect" / IMPACKET_SID / IMPACKET_GUID
IMPACKET_KEY = bytes.fromhex(  # impacket tests/misc/test_dpapi.py, DPAPITests.adminMasterKey
    "4c4a398169cc9ecc6eae0e1a70ba1dc58bfec785c4b35bd1afdf2aeb06753bca0ea3491989cb626990973f8370fd576a"
    "46c0ce2a85d995a01af6d727ff41969c"
)
BUILT_SID = "S-1-5-21-2914017262-3850418736-1730516452-1001"
BUILT_OLD_GUID = "159bad2e-3bb4-4e31-9d87-02d51420371c"
BUILT_FILE = FIXTURES / "built-local" / "Protect" / BUILT_SID / BUILT_OLD_GUID
CONTEXT_ROUTE = {"1": "local", "2": "domain-nt-hash", "3": "domain-pbkdf2"}
JTR_CIPHERS = {"des3": mk.CALG_3DES, "aes256": mk.CALG_AES_256}
JTR_HASHES = {"sha1": mk.CALG_HMAC, "sha512": mk.CALG_SHA_512}


def jtr_vectors() -> list[tuple[str, str, str, MasterKeyFile]]:
    """(route, SID, password, master key) from John's `$DPAPImk$` lines: the real section, no file header."""
    out = []
    for line in (FIXTURES / "jtr-dpapimk" / "dpapimk-vectors.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        text, password = line.split("\t")
        version, context, sid, cipher, digest, rounds, salt, _, data = text.removeprefix("$DPAPImk$").split("*")
        section = MasterKeySection(
            int(version), bytes.fromhex(salt), int(rounds), JTR_HASHES[digest], JTR_CIPHERS[cipher], bytes.fromhex(data)
        )
        out.append((CONTEXT_ROUTE[context], sid, password, MasterKeyFile(2, "jtr-" + context, 0, section, 0, 0, 0)))
    return out


JTR = jtr_vectors()


# --- parsing --------------------------------------------------------------


def test_parse_nemesis_masterkey_reads_its_header_and_section() -> None:
    parsed = parse_masterkey(NEMESIS_FILE.read_bytes())
    assert (parsed.version, parsed.guid) == (2, NEMESIS_GUID)
    section = parsed.master_key
    assert (section.rounds, section.hash_alg, section.cipher_alg) == (8000, mk.CALG_SHA_512, mk.CALG_AES_256)
    assert len(section.salt) == 16 and len(section.data) == 144
    assert (parsed.backup_key_len, parsed.credhist_len, parsed.domain_key_len) == (144, 0, 428)


def test_parse_impacket_masterkey_names_3des_and_sha1() -> None:
    parsed = parse_masterkey(IMPACKET_FILE.read_bytes())
    assert parsed.guid == IMPACKET_GUID
    assert (parsed.master_key.rounds, parsed.master_key.hash_alg, parsed.master_key.cipher_alg) == (
        24000,
        mk.CALG_HMAC,
        mk.CALG_3DES,
    )


def test_masterkey_repr_never_shows_the_encrypted_data() -> None:
    parsed = parse_masterkey(NEMESIS_FILE.read_bytes())
    assert parsed.master_key.data.hex() not in repr(parsed)


def test_header_only_file_is_damaged() -> None:
    with pytest.raises(StoreDamaged, match="runs past the end|claim"):
        parse_masterkey(NEMESIS_FILE.read_bytes()[:128])


def test_unknown_cipher_algorithm_is_damaged() -> None:
    data = bytearray(NEMESIS_FILE.read_bytes())
    data[128 + 28 : 128 + 32] = (0x6666).to_bytes(4, "little")  # the section's cipher ALG_ID
    with pytest.raises(StoreDamaged, match="unknown cipher algorithm 0x6666"):
        parse_masterkey(bytes(data))


def test_absurd_round_count_is_damaged_not_slow() -> None:
    data = bytearray(NEMESIS_FILE.read_bytes())
    data[128 + 20 : 128 + 24] = (0xFFFFFFFF).to_bytes(4, "little")
    with pytest.raises(StoreDamaged, match="iteration count"):
        parse_masterkey(bytes(data))


# --- pre-keys and DPAPI's PBKDF2 --------------------------------------------


def test_prekeys_give_the_three_routes_in_order() -> None:
    keys = prekeys("Qwerty12345", NEMESIS_SID)
    assert [k.route for k in keys] == ["local", "domain-nt-hash", "domain-pbkdf2"]
    assert all(len(k.key) == 20 for k in keys) and len({k.key for k in keys}) == 3
    assert "Qwerty" not in repr(keys) and keys[0].key.hex() not in repr(keys)


def test_dpapi_pbkdf2_differs_from_hashlib_and_only_it_opens_the_real_master_key() -> None:
    section = parse_masterkey(NEMESIS_FILE.read_bytes()).master_key
    prekey = prekeys("Qwerty12345", NEMESIS_SID)[2].key
    ours = dpapi_pbkdf2(prekey, section.salt, section.rounds, 48, "sha512")
    standard = hashlib.pbkdf2_hmac("sha512", prekey, section.salt, section.rounds, 48)
    assert ours != standard
    assert decrypt_masterkey(section, prekey) == NEMESIS_KEY
    # The master key's own check fails with hashlib's derivation.
    clear = mk.cbc_decrypt(mk.CIPHERS[section.cipher_alg], standard[:32], standard[32:], section.data)
    check_key = hmac.digest(prekey, clear[:16], "sha512")
    assert hmac.digest(check_key, clear[-64:], "sha512") != clear[16:80]
    assert clear[-64:] != NEMESIS_KEY


def test_dpapi_pbkdf2_equals_pbkdf2_for_one_round() -> None:
    assert dpapi_pbkdf2(b"pw", b"salt", 1, 80, "sha1") == hashlib.pbkdf2_hmac("sha1", b"pw", b"salt", 1, 80)


# --- real master keys, by route ------------------------------------------------


def test_nemesis_domain_masterkey_opens_by_the_pbkdf2_route() -> None:
    unlocked = unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), NEMESIS_SID, ["Qwerty12345"])
    assert (unlocked.route, unlocked.guid, unlocked.key) == ("domain-pbkdf2", NEMESIS_GUID, NEMESIS_KEY)
    assert NEMESIS_KEY.hex() not in repr(unlocked)


def test_impacket_masterkey_opens_by_the_nt_hash_route() -> None:
    unlocked = unlock_masterkey(parse_masterkey(IMPACKET_FILE.read_bytes()), IMPACKET_SID, ["Admin456"])
    assert (unlocked.route, unlocked.key) == ("domain-nt-hash", IMPACKET_KEY)


def test_built_local_masterkey_checked_by_impacket_opens_by_the_local_route() -> None:
    unlocked = unlock_masterkey(parse_masterkey(BUILT_FILE.read_bytes()), BUILT_SID, ["Rescue-Old-Pass-2023!"])
    assert unlocked.route == "local" and len(unlocked.key) == 64


@pytest.mark.parametrize(("route", "sid", "password", "masterkey"), JTR, ids=[f"{v[0]}-{v[1][-4:]}" for v in JTR])
def test_john_the_ripper_masterkey_opens_by_its_route(
    route: str, sid: str, password: str, masterkey: MasterKeyFile
) -> None:
    assert unlock_masterkey(masterkey, sid, [password]).route == route


def test_john_the_ripper_vectors_cover_every_route() -> None:
    assert {v[0] for v in JTR} == {"local", "domain-nt-hash", "domain-pbkdf2"}


def test_a_later_password_in_the_list_still_opens() -> None:
    unlocked = unlock_masterkey(parse_masterkey(IMPACKET_FILE.read_bytes()), IMPACKET_SID, ["wrong", "Admin456"])
    assert unlocked.key == IMPACKET_KEY


# --- wrong passwords: one opaque StoreLocked, for every route --------------------


def test_wrong_password_on_the_pbkdf2_route_master_key_is_locked() -> None:
    with pytest.raises(StoreLocked) as caught:
        unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), NEMESIS_SID, ["Qwerty12346"])
    assert caught.value.reason == "wrong-password"


def test_wrong_password_on_the_nt_hash_route_master_key_is_locked() -> None:
    with pytest.raises(StoreLocked):
        unlock_masterkey(parse_masterkey(IMPACKET_FILE.read_bytes()), IMPACKET_SID, ["Admin457"])


def test_wrong_password_on_the_local_route_master_key_is_locked() -> None:
    with pytest.raises(StoreLocked):
        unlock_masterkey(parse_masterkey(BUILT_FILE.read_bytes()), BUILT_SID, ["Rescue-New-Pass-2025!"])


def test_right_password_with_the_wrong_sid_is_locked() -> None:
    with pytest.raises(StoreLocked):
        unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), IMPACKET_SID, ["Qwerty12345"])


def test_locked_message_names_the_likely_causes_and_no_password() -> None:
    with pytest.raises(StoreLocked) as caught:
        unlock_masterkey(parse_masterkey(BUILT_FILE.read_bytes()), BUILT_SID, ["hunter2-not-it", "other"])
    message = str(caught.value)
    for cause in ("Microsoft account", "Windows Hello PIN", "older passwords", "2 passwords", BUILT_OLD_GUID):
        assert cause in message
    assert "hunter2" not in message


def test_no_password_is_locked() -> None:
    with pytest.raises(StoreLocked, match="no password"):
        unlock_masterkey(parse_masterkey(BUILT_FILE.read_bytes()), BUILT_SID, [])


# --- accounts that cannot be opened offline ---------------------------------------


def test_entra_sid_is_refused_before_any_password_is_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_prekeys(password: str, sid: str) -> tuple[mk.PreKey, ...]:
        raise AssertionError("a password was tried for an Entra ID account")

    monkeypatch.setattr(mk, "prekeys", no_prekeys)
    with pytest.raises(StoreUnsupported) as caught:
        unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), "S-1-12-1-1234567-2345678-3456789-4567890", ["x"])
    assert caught.value.reason == "entra-account"
    assert "Primary Refresh Token" in str(caught.value) and "cursor-byok export" in str(caught.value)


def test_not_a_sid_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a Windows SID"):
        unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), "itadmin", ["Qwerty12345"])


def test_sid_typed_in_lowercase_still_opens() -> None:
    unlocked = unlock_masterkey(parse_masterkey(NEMESIS_FILE.read_bytes()), " " + NEMESIS_SID.lower(), ["Qwerty12345"])
    assert unlocked.key == NEMESIS_KEY


def test_section_with_an_unknown_algorithm_is_damaged() -> None:
    section = parse_masterkey(NEMESIS_FILE.read_bytes()).master_key
    odd = MasterKeySection(section.version, section.salt, section.rounds, 0x1234, section.cipher_alg, section.data)
    with pytest.raises(StoreDamaged, match="unknown hash algorithm 0x1234"):
        decrypt_masterkey(odd, b"\x00" * 20)


# --- 3DES needs cryptography's decrepit module ------------------------------------


def test_3des_without_the_decrepit_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.decrepit.ciphers.algorithms", None)
    with pytest.raises(StoreUnsupported) as caught:
        unlock_masterkey(parse_masterkey(IMPACKET_FILE.read_bytes()), IMPACKET_SID, ["Admin456"])
    assert caught.value.reason == "legacy-ciphers-missing" and "cryptography 43" in str(caught.value)


def test_3des_refused_by_the_openssl_build_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.decrepit.ciphers import algorithms

    def refuse(key: bytes) -> None:
        raise UnsupportedAlgorithm("no legacy ciphers in this build")

    monkeypatch.setattr(algorithms, "TripleDES", refuse)
    with pytest.raises(StoreUnsupported) as caught:
        unlock_masterkey(parse_masterkey(IMPACKET_FILE.read_bytes()), IMPACKET_SID, ["Admin456"])
    assert caught.value.reason == "legacy-ciphers-missing"


# --- damaged files: only StoreDamaged or StoreLocked, never a wrong key -------------

BUILT_BYTES = BUILT_FILE.read_bytes()
BUILT_KEY = unlock_masterkey(parse_masterkey(BUILT_BYTES), BUILT_SID, ["Rescue-Old-Pass-2023!"]).key


def open_built(data: bytes) -> bytes:
    return unlock_masterkey(parse_masterkey(data), BUILT_SID, ["Rescue-Old-Pass-2023!"]).key


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BUILT_BYTES) - 1))
def test_truncated_masterkey_is_damaged(cut: int) -> None:
    with pytest.raises(StoreDamaged):
        open_built(BUILT_BYTES[:cut])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BUILT_BYTES) * 8 - 1))
def test_bit_flipped_masterkey_is_damaged_or_locked_never_a_wrong_key(bit: int) -> None:
    data = bytearray(BUILT_BYTES)
    data[bit // 8] ^= 1 << (bit % 8)
    try:
        key = open_built(bytes(data))
    except (StoreDamaged, StoreLocked):
        return
    assert key == BUILT_KEY  # a flip outside what is checked (reserved words, the GUID text) changes nothing


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=400))
def test_arbitrary_bytes_are_damaged_or_locked(data: bytes) -> None:
    with pytest.raises((StoreDamaged, StoreLocked)):
        open_built(data)
