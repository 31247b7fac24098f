"""Windows DPAPI master-key files (`Protect/<SID>/<GUID>`), opened offline with the user's password.

A master-key file is a 128-byte header, then up to four sections: the user's
master key (the one opened here), a local backup key, a CREDHIST reference and
a domain backup key. The master-key section holds a version, a 16-byte salt, a
round count, a hash and a cipher algorithm, and the encrypted data.

Opening it: a pre-key comes from the password and the SID by one of three
routes (`prekeys`); DPAPI's own PBKDF2 variant turns the pre-key into a cipher
key and IV; the decrypted data is hmac salt || hmac || master key (64 bytes
last), and the master key's own check, HMAC(HMAC(pre-key, hmac salt), master
key) == hmac, says whether the password was right. Nothing decrypted is used
before that check passes.

The algorithm table and the CBC decrypt here are shared with `dpapi_blob`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from typing import Literal, Sequence

from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from ..errors import InputError, StoreDamaged, StoreLocked, StoreUnsupported
from .binary import Reader
from .legacy_ciphers import legacy_cipher
from .md4 import nt_hash

# --- algorithms (Windows ALG_ID values) ---------------------------------------


@dataclass(frozen=True)
class CipherAlg:
    """A block cipher DPAPI names by ALG_ID: its name, key length and block length in bytes."""

    name: Literal["3des", "aes128", "aes192", "aes256"]
    key_len: int
    block_len: int


@dataclass(frozen=True)
class HashAlg:
    """A hash DPAPI names by ALG_ID: hashlib's name, digest length and block length in bytes."""

    name: Literal["sha1", "sha256", "sha384", "sha512"]
    digest_len: int
    block_len: int


CALG_3DES = 0x6603
CALG_AES_128 = 0x660E
CALG_AES_192 = 0x660F
CALG_AES_256 = 0x6610
CALG_SHA1 = 0x8004
CALG_HMAC = 0x8009  # in master keys of Vista-era systems: HMAC with SHA-1
CALG_SHA_256 = 0x800C
CALG_SHA_384 = 0x800D
CALG_SHA_512 = 0x800E

CIPHERS: dict[int, CipherAlg] = {
    CALG_3DES: CipherAlg("3des", 24, 8),
    CALG_AES_128: CipherAlg("aes128", 16, 16),
    CALG_AES_192: CipherAlg("aes192", 24, 16),
    CALG_AES_256: CipherAlg("aes256", 32, 16),
}
HASHES: dict[int, HashAlg] = {
    CALG_SHA1: HashAlg("sha1", 20, 64),
    CALG_HMAC: HashAlg("sha1", 20, 64),
    CALG_SHA_256: HashAlg("sha256", 32, 64),
    CALG_SHA_384: HashAlg("sha384", 48, 128),
    CALG_SHA_512: HashAlg("sha512", 64, 128),
}


def cipher_alg(alg_id: int, what: str) -> CipherAlg:
    """The cipher an ALG_ID names, or StoreDamaged: DPAPI has used no other since Windows 2000."""
    alg = CIPHERS.get(alg_id)
    if alg is None:
        raise StoreDamaged(f"{what}: unknown cipher algorithm 0x{alg_id:04x}; the file is damaged or not DPAPI's")
    return alg


def hash_alg(alg_id: int, what: str) -> HashAlg:
    """The hash an ALG_ID names, or StoreDamaged."""
    alg = HASHES.get(alg_id)
    if alg is None:
        raise StoreDamaged(f"{what}: unknown hash algorithm 0x{alg_id:04x}; the file is damaged or not DPAPI's")
    return alg


def _triple_des(key: bytes) -> BlockCipherAlgorithm:
    """cryptography's TripleDES, or StoreUnsupported if this build lacks it."""
    return legacy_cipher("TripleDES", key, _legacy_missing)


def _legacy_missing() -> StoreUnsupported:
    return StoreUnsupported(
        "this master key or blob uses 3DES (older Windows), and the installed `cryptography` has no TripleDES "
        "(it needs cryptography 43 or later, built with OpenSSL's legacy ciphers); upgrade it and run again",
        reason="legacy-ciphers-missing",
    )


def cbc_decrypt(alg: CipherAlg, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Raw CBC decryption (no unpadding) with the first `alg.key_len` bytes of `key`; `data` is whole blocks."""
    key = key[: alg.key_len]
    cipher_algorithm = _triple_des(key) if alg.name == "3des" else algorithms.AES(key)
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv[: alg.block_len])).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def dpapi_pbkdf2(password: bytes, salt: bytes, rounds: int, length: int, hash_name: str) -> bytes:
    """DPAPI's PBKDF2 variant: each round's HMAC is taken over the running XOR, not over the previous HMAC.

    With one round it equals PBKDF2; with more it does not, so `hashlib.pbkdf2_hmac` gives the wrong key.
    """
    out = b""
    block = 1
    while len(out) < length:
        running = hmac.digest(password, salt + block.to_bytes(4, "big"), hash_name)
        size = len(running)
        acc = int.from_bytes(running, "big")
        for _ in range(rounds - 1):
            running = hmac.digest(password, running, hash_name)
            acc ^= int.from_bytes(running, "big")
            running = acc.to_bytes(size, "big")
        out += running
        block += 1
    return out[:length]


# --- the file ----------------------------------------------------------------

HEADER_LEN = 128
GUID_CHARS = 36
MAX_ROUNDS = 1 << 20  # Windows uses 4000 to 24000; a count past this is a damaged file, not a slow one
MIN_SECTION_LEN = 32  # version, salt, rounds, two ALG_IDs: 4 + 16 + 4 + 4 + 4


@dataclass(frozen=True)
class MasterKeySection:
    """The user's master key, encrypted: what `unlock_masterkey` opens with the password."""

    version: int
    salt: bytes
    rounds: int
    hash_alg: int
    cipher_alg: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class MasterKeyFile:
    """A parsed `Protect/<SID>/<GUID>` file: its GUID, policy flags and the master-key section."""

    version: int
    guid: str
    policy: int
    master_key: MasterKeySection
    backup_key_len: int
    credhist_len: int
    domain_key_len: int


def parse_masterkey(data: bytes, what: str = "DPAPI master-key file") -> MasterKeyFile:
    """Parse a master-key file; anything out of shape is StoreDamaged, naming `what`."""
    r = Reader(data, what, big_endian=False)
    version = r.u32()
    r.skip(8)  # two reserved words
    guid = _guid_text(r.take(GUID_CHARS * 2), r)
    r.skip(8)  # two unused words
    policy = r.u32()
    lengths = [r.u64() for _ in range(4)]
    if sum(lengths) > r.left:
        raise r.damaged(f"its sections claim {sum(lengths)} bytes but {r.left} follow the header")
    mk_len, backup_len, credhist_len, domain_len = lengths
    if mk_len < MIN_SECTION_LEN:
        raise r.damaged(f"a master-key section of {mk_len} bytes (at least {MIN_SECTION_LEN} expected)")
    return MasterKeyFile(
        version=version,
        guid=guid,
        policy=policy,
        master_key=_section(Reader(r.take(mk_len), what, big_endian=False)),
        backup_key_len=backup_len,
        credhist_len=credhist_len,
        domain_key_len=domain_len,
    )


def _guid_text(raw: bytes, r: Reader) -> str:
    try:
        text = raw.decode("utf-16-le").rstrip("\x00")
        return str(uuid.UUID(text))
    except (UnicodeDecodeError, ValueError):
        raise r.damaged("a header GUID that is not a GUID") from None


def _section(r: Reader) -> MasterKeySection:
    version = r.u32()
    salt = r.take(16)
    rounds = r.u32()
    hash_id = r.u32()
    cipher_id = r.u32()
    body = r.take(r.left)
    cipher = cipher_alg(cipher_id, r.what)
    digest = hash_alg(hash_id, r.what)
    if not 1 <= rounds <= MAX_ROUNDS:
        raise r.damaged(f"an iteration count of {rounds}")
    if len(body) % cipher.block_len or len(body) < 16 + digest.digest_len + 64:
        raise r.damaged(f"{len(body)} bytes of encrypted master key, not whole {cipher.name} blocks of the right size")
    return MasterKeySection(version, salt, rounds, hash_id, cipher_id, body)


# --- pre-keys: the password, by each route -----------------------------------

Route = Literal["local", "domain-nt-hash", "domain-pbkdf2"]
ROUTES: tuple[Route, ...] = ("local", "domain-nt-hash", "domain-pbkdf2")
SID_SHAPE = re.compile(r"S-\d+(-\d+)+", re.IGNORECASE)
ENTRA_PREFIX = "S-1-12-1-"


@dataclass(frozen=True)
class PreKey:
    """What a password and SID give by one route; the master key's check says which route is right."""

    route: Route
    key: bytes = field(repr=False)


def prekeys(password: str, sid: str) -> tuple[PreKey, ...]:
    """The pre-keys of all three routes: local account, domain (NT hash), domain (Windows 10+, PBKDF2)."""
    sid_z = (sid + "\x00").encode("utf-16-le")
    nt = nt_hash(password)
    secure = hashlib.pbkdf2_hmac("sha256", nt, sid.encode("utf-16-le"), 10000, 32)
    secure = hashlib.pbkdf2_hmac("sha256", secure, sid.encode("utf-16-le"), 1, 16)
    sources: dict[Route, bytes] = {
        "local": hashlib.sha1(password.encode("utf-16-le")).digest(),
        "domain-nt-hash": nt,
        "domain-pbkdf2": secure,
    }
    return tuple(PreKey(route, hmac.digest(sources[route], sid_z, "sha1")) for route in ROUTES)


def check_sid(sid: str) -> str:
    """The SID as Windows writes it (the pre-key hashes its text), or InputError; StoreUnsupported for Entra ID."""
    sid = sid.strip()
    if not SID_SHAPE.fullmatch(sid):
        raise InputError(f"{sid!r} is not a Windows SID (S-1-5-21-...): the folder name under Protect/ is the SID")
    sid = "S" + sid[1:]
    if sid.startswith(ENTRA_PREFIX):
        raise StoreUnsupported(
            f"{sid} is an Entra ID (Azure AD) account: its DPAPI keys come from the Primary Refresh Token, which a "
            "backup does not hold, so no password opens them offline; log in on that machine (or a restored copy "
            "of it) and run `cursor-byok export` there",
            reason="entra-account",
        )
    return sid


# --- opening the master key --------------------------------------------------


@dataclass(frozen=True)
class UnlockedMasterKey:
    """A master key that passed its own check: its GUID, the 64 key bytes and the route that opened it."""

    guid: str
    key: bytes = field(repr=False)
    route: Route


def decrypt_masterkey(section: MasterKeySection, prekey: bytes) -> bytes | None:
    """The 64-byte master key if `prekey` passes the section's own check, else None."""
    cipher = cipher_alg(section.cipher_alg, "DPAPI master key")
    digest = hash_alg(section.hash_alg, "DPAPI master key")
    derived = dpapi_pbkdf2(prekey, section.salt, section.rounds, cipher.key_len + cipher.block_len, digest.name)
    clear_unverified = cbc_decrypt(cipher, derived[: cipher.key_len], derived[cipher.key_len :], section.data)
    hmac_salt = clear_unverified[:16]
    stored = clear_unverified[16 : 16 + digest.digest_len]
    key_unverified = clear_unverified[-64:]
    check_key = hmac.digest(prekey, hmac_salt, digest.name)
    if not hmac.compare_digest(hmac.digest(check_key, key_unverified, digest.name), stored):
        return None
    return key_unverified


def unlock_masterkey(masterkey: MasterKeyFile, sid: str, passwords: Sequence[str]) -> UnlockedMasterKey:
    """Open a master key with the first password (and route) that passes its check, or StoreLocked."""
    sid = check_sid(sid)
    for password in passwords:
        for prekey in prekeys(password, sid):
            key = decrypt_masterkey(masterkey.master_key, prekey.key)
            if key is not None:
                return UnlockedMasterKey(masterkey.guid, key, prekey.route)
    raise locked(masterkey.guid, sid, len(passwords))


def locked(guid: str, sid: str, count: int) -> StoreLocked:
    """The one wrong-password error, with the causes that make a right password fail too."""
    tried = f"{count} password{'s' if count != 1 else ''}" if count else "no password"
    return StoreLocked(
        f"the DPAPI master key {guid} of {sid} did not open with {tried} (each tried as a local and a domain "
        "account). Likely causes: a wrong password; a password changed after this master key was made (give the "
        "older passwords too); a Microsoft account or a Windows Hello PIN-only logon, whose keys cannot be opened "
        "offline with the password (log in on that machine and run `cursor-byok export` there)",
    )
