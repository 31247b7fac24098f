#!/usr/bin/env python3
"""ONE-OFF: build the local-account DPAPI fixture, and check it with independent implementations.

Not part of the package or the test suite. It made
`tests/fixtures/rescue/dpapi/built-local/` (see its PROVENANCE.md) and was run
once more to check those files with impacket and pypykatz.

    python3 scripts/rescue_dpapi_built_fixture.py build tests/fixtures/rescue/dpapi/built-local
    # in a throwaway venv, never a dependency of cursor-byok:
    python3 -m venv /tmp/dpapi-check && /tmp/dpapi-check/bin/pip install impacket pypykatz
    /tmp/dpapi-check/bin/python scripts/rescue_dpapi_built_fixture.py check tests/fixtures/rescue/dpapi/built-local

`build` needs only `cryptography` and writes the files from the documented
format (the builder shares no code with cursor_byok's reader). All its
randomness comes from a fixed seed, so a rebuild gives the same bytes.
`check` opens the files with impacket's and pypykatz's own DPAPI code and
exits non-zero if either disagrees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import sys
import uuid
from pathlib import Path

SID = "S-1-5-21-2914017262-3850418736-1730516452-1001"  # made up, in the shape of a local account's
OLD_PASSWORD = "Rescue-Old-Pass-2023!"  # the master key that protects Cursor's key was made under this one
NEW_PASSWORD = "Rescue-New-Pass-2025!"  # the newer master key's
PLAINTEXT = "sk-made-up-cursor-byok-dpapi-rescue-0001"  # a made-up key, in a Cursor v10 row
ROUNDS = 8000
PROVIDER = uuid.UUID("df9d8cd0-1501-11d1-8c7a-00c04fc297eb")


def seeded(label: str, n: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"cursor-byok built-local {label} {counter}".encode()).digest()
        counter += 1
    return out[:n]


def aes_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def ms_pbkdf2(password: bytes, salt: bytes, rounds: int, length: int) -> bytes:
    """DPAPI's PBKDF2 (HMAC-SHA512): every round's HMAC input is the XOR so far."""
    out, block = b"", 1
    while len(out) < length:
        derived = hmac.digest(password, salt + struct.pack(">I", block), "sha512")
        for _ in range(rounds - 1):
            step = hmac.digest(password, derived, "sha512")
            derived = bytes(a ^ b for a, b in zip(derived, step, strict=True))
        out += derived
        block += 1
    return out[:length]


def masterkey_file(guid: uuid.UUID, password: str, label: str) -> tuple[bytes, bytes]:
    """A master-key file (AES-256 + SHA-512, the local-account pre-key) and its 64-byte master key."""
    prekey = hmac.digest(hashlib.sha1(password.encode("utf-16-le")).digest(), (SID + "\0").encode("utf-16-le"), "sha1")
    master_key = seeded(label + " key", 64)
    salt, hmac_salt = seeded(label + " salt", 16), seeded(label + " hmac salt", 16)
    check = hmac.digest(hmac.digest(prekey, hmac_salt, "sha512"), master_key, "sha512")
    derived = ms_pbkdf2(prekey, salt, ROUNDS, 48)
    encrypted = aes_cbc(derived[:32], derived[32:], hmac_salt + check + master_key)
    section = struct.pack("<I16sIII", 2, salt, ROUNDS, 0x800E, 0x6610) + encrypted
    header = struct.pack("<III", 2, 0, 0) + str(guid).encode("utf-16-le").ljust(72, b"\0")
    header += struct.pack("<III", 0, 0, 0) + struct.pack("<QQQQ", len(section), 0, 0, 0)
    assert len(header) == 128
    return header + section, master_key


def dpapi_blob(master_key: bytes, guid: uuid.UUID, secret: bytes) -> bytes:
    """CryptProtectData's blob (AES-256 + SHA-512, no entropy), as Windows 10 and 11 make it."""
    key_hash = hashlib.sha1(master_key).digest()
    salt, sign_key = seeded("blob salt", 32), seeded("blob sign key", 32)
    session_key = hmac.digest(key_hash, salt, "sha512")
    pad = 16 - len(secret) % 16
    encrypted = aes_cbc(session_key[:32], bytes(16), secret + bytes([pad]) * pad)

    def field(b: bytes) -> bytes:
        return struct.pack("<I", len(b)) + b

    description = "\0".encode("utf-16-le")
    signed = struct.pack("<I", 1) + guid.bytes_le + struct.pack("<I", 0) + field(description)
    signed += struct.pack("<II", 0x6610, 256) + field(salt) + field(b"") + struct.pack("<II", 0x800E, 512)
    signed += field(sign_key) + field(encrypted)
    signature = hmac.digest(key_hash, sign_key + signed, "sha512")
    return struct.pack("<I", 1) + PROVIDER.bytes_le + signed + field(signature)


def build(out: Path) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    old_guid = uuid.UUID(bytes=seeded("old guid", 16), version=4)
    new_guid = uuid.UUID(bytes=seeded("new guid", 16), version=4)
    protect = out / "Protect" / SID
    protect.mkdir(parents=True, exist_ok=True)
    old_file, old_key = masterkey_file(old_guid, OLD_PASSWORD, "old")
    new_file, _ = masterkey_file(new_guid, NEW_PASSWORD, "new")
    (protect / str(old_guid)).write_bytes(old_file)
    (protect / str(new_guid)).write_bytes(new_file)
    oscrypt_key = seeded("oscrypt key", 32)
    blob = dpapi_blob(old_key, old_guid, oscrypt_key)
    local_state = {"os_crypt": {"encrypted_key": base64.b64encode(b"DPAPI" + blob).decode()}}
    (out / "Local State").write_text(json.dumps(local_state) + "\n")
    nonce = seeded("row nonce", 12)
    (out / "v10-row.bin").write_bytes(b"v10" + nonce + AESGCM(oscrypt_key).encrypt(nonce, PLAINTEXT.encode(), None))
    facts = {
        "sid": SID,
        "old_password": OLD_PASSWORD,
        "new_password": NEW_PASSWORD,
        "blob_masterkey": str(old_guid),
        "newer_masterkey": str(new_guid),
        "row_plaintext": PLAINTEXT,
        "oscrypt_key_sha256": hashlib.sha256(oscrypt_key).hexdigest(),
    }
    (out / "vector.json").write_text(json.dumps(facts, indent=2) + "\n")


def check(out: Path) -> None:
    """Open the built files with impacket 0.13 and pypykatz 0.6, sharing no code with the builder."""
    from Cryptodome.Cipher import AES
    from Cryptodome.Hash import HMAC, SHA1
    from impacket.dpapi import DPAPI_BLOB, MasterKey, MasterKeyFile
    from pypykatz.dpapi.dpapi import DPAPI

    facts = json.loads((out / "vector.json").read_text())
    sid, guid = facts["sid"], facts["blob_masterkey"]
    data = (out / "Protect" / sid / guid).read_bytes()
    blob = base64.b64decode(json.loads((out / "Local State").read_text())["os_crypt"]["encrypted_key"])[5:]

    # impacket: the local-account pre-key computed here with pycryptodomex
    mkf = MasterKeyFile(data)
    body = data[len(mkf) :]
    mk = MasterKey(body[: mkf["MasterKeyLen"]])
    pw_hash = SHA1.new(facts["old_password"].encode("utf-16-le")).digest()
    prekey = HMAC.new(pw_hash, (sid + "\0").encode("utf-16-le"), SHA1).digest()
    impacket_master = mk.decrypt(prekey)
    assert impacket_master, "impacket: the master key did not open with the old password"
    new_hash = SHA1.new(facts["new_password"].encode("utf-16-le")).digest()
    wrong = HMAC.new(new_hash, (sid + "\0").encode("utf-16-le"), SHA1)
    assert not MasterKey(body[: mkf["MasterKeyLen"]]).decrypt(wrong.digest()), "impacket: the new password opened it"
    impacket_key = DPAPI_BLOB(blob).decrypt(impacket_master)
    assert impacket_key and len(impacket_key) == 32, "impacket: the blob did not decrypt or its signature failed"

    # pypykatz: its own pre-keys from the password, its own master-key and blob code
    dp = DPAPI()
    dp.get_prekeys_from_password(sid, password=facts["old_password"])
    found, _ = dp.decrypt_masterkey_bytes(data)
    assert list(found.values()) == [impacket_master], "pypykatz disagrees on the master key"
    pypykatz_key = dp.decrypt_blob_bytes(blob)
    assert pypykatz_key == impacket_key, "pypykatz disagrees on the OSCrypt key"

    row = (out / "v10-row.bin").read_bytes()
    nonce, body_tag = row[3:15], row[15:]
    plain = AES.new(impacket_key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(body_tag[:-16], body_tag[-16:])
    assert plain.decode() == facts["row_plaintext"], "the v10 row did not decrypt to the made-up key"
    assert hashlib.sha256(impacket_key).hexdigest() == facts["oscrypt_key_sha256"]
    print("impacket and pypykatz both open the built master key, blob and v10 row")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("build", "check"):
        sys.exit(__doc__)
    (build if sys.argv[1] == "build" else check)(Path(sys.argv[2]))
