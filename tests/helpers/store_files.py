"""Store files built for the rescue tests from their formats: an oo7 1.0 keyring (the writer reproduces oo7's own
test file byte for byte), a macOS keychain re-signed at another blob version as securityd signs it, and a KDE
Wallet sealed around a payload."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cursor_byok.rescue import gvariant, kwallet_file, oo7_keyring
from cursor_byok.rescue.gnome_keyring import CURSOR_SCHEMA
from cursor_byok.rescue.items import StoreItem
from cursor_byok.rescue.kwallet_file import kwallet_sha1
from cursor_byok.rescue.oo7_keyring import ITEM_TYPE, KEYRING_TYPE

# --- oo7 1.0 keyrings: a GVariant writer and a keyring builder -------------------------------------


CODE_ITEM = StoreItem(
    "Chromium Safe Storage", {"xdg:schema": CURSOR_SCHEMA, "application": "Code"}, b"bm90LWN1cnNvcnMtc2VjcmV0"
)


FAST_ITERATIONS = 1000  # for tests that open a built keyring many times; oo7 writes 100,000


def gv_encode(signature: str, value: Any) -> bytes:
    return _encode(gvariant._parse(signature), value)


def _encode(t: tuple, value: Any) -> bytes:
    code = t[0]
    if code in gvariant.FIXED_SIZES:
        return value.to_bytes(gvariant.FIXED_SIZES[code], "little")
    if code == "s":
        return value.encode() + b"\0"
    if code == "a" and t[1] == ("y",):
        return bytes(value)
    if code == "a":
        entries = list(value.items()) if t[1][0] == "{" else list(value)
        return _framed([(t[1], e) for e in entries], every_end=True)
    return _framed(list(zip(t[1:], value, strict=True)), every_end=False)


def _framed(parts: list[tuple[tuple, Any]], *, every_end: bool) -> bytes:
    """Members (or elements) aligned in order, then the offset table GVariant puts at the container's end."""
    body, ends = b"", []
    for index, (t, value) in enumerate(parts):
        body += b"\0" * (-len(body) % gvariant._alignment(t))
        body += _encode(t, value)
        if every_end or (gvariant._fixed_size(t) is None and index < len(parts) - 1):
            ends.append(len(body))
    if not every_end:
        ends.reverse()  # a tuple keeps its first member's end last
    for size in (1, 2, 4, 8):
        if not ends or len(body) + size * len(ends) < 1 << (8 * size):
            return body + b"".join(end.to_bytes(size, "little") for end in ends)
    raise AssertionError("too big")


def build_keyring(
    password: str | None,
    items: list[StoreItem],
    *,
    iterations: int = FAST_ITERATIONS,
    tamper: dict[str, Any] | None = None,
) -> bytes:
    """A 1.0 keyring as oo7 writes one, from the format (oo7's api/mod.rs and encrypted_item.rs)."""
    tamper = tamper or {}
    salt = os.urandom(32)
    key = None if password is None else hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 16)
    sealed = [_seal(key, item, tamper) for item in items]
    body = (tamper.get("salt_size", len(salt)), salt, iterations, 1_712_311_496, 1, sealed)
    return oo7_keyring.MAGIC + b"\x01\x00" + gv_encode(KEYRING_TYPE, body)


def _seal(key: bytes | None, item: StoreItem, tamper: dict[str, Any]) -> tuple[dict[str, bytes], bytes]:
    plain = gv_encode(ITEM_TYPE, (dict(item.attributes), item.label, 1_712_311_496, 1_712_311_496, item.secret))
    if key is None:
        return {k: v.encode() for k, v in item.attributes.items()}, plain
    padder = padding.PKCS7(128).padder()
    padded = tamper.get("padded", padder.update(plain) + padder.finalize())
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    signed = encryptor.update(padded) + encryptor.finalize() + iv
    hashed = {
        k: hmac.digest(key, tamper.get("attribute_value", v).encode(), "sha256") for k, v in item.attributes.items()
    }
    return hashed, signed + hmac.digest(key, signed, "sha256")


# --- macOS keychains: where the DbBlob is, and how securityd signs it --------------------------------


def db_blob_at(data: bytes) -> int:
    """Where the DbBlob starts: header -> schema -> the metadata table -> its one record's data."""
    u32 = lambda offset: struct.unpack_from(">I", data, offset)[0]  # noqa: E731
    schema = u32(12)
    for index in range(u32(schema + 4)):
        table = schema + u32(schema + 8 + 4 * index)
        if u32(table + 4) == 0x80008000:
            return table + u32(table + 28) + 24  # the record has no attributes: its data follows the header
    raise AssertionError("no metadata table")


def with_blob_version(data: bytes, version: int, *, resign_with: str | None) -> bytes:
    """The file with its DbBlob's version changed; re-signed with HMAC-SHA1 as securityd signs a non-10.0 blob."""
    at = db_blob_at(data)
    blob = bytearray(data[at : at + 168])
    blob[4:8] = struct.pack(">I", version)
    if resign_with is not None:
        start, total = struct.unpack_from(">II", blob, 8)
        master = hashlib.pbkdf2_hmac("sha1", resign_with.encode(), bytes(blob[44:64]), 1000, 24)
        decryptor = Cipher(TripleDES(master), modes.CBC(bytes(blob[64:72]))).decryptor()
        signing_key = (decryptor.update(bytes(blob[start:total])) + decryptor.finalize())[24:44]
        blob[72:92] = hmac.new(signing_key, bytes(blob[:72] + blob[92:total]), "sha1").digest()
    return data[:at] + bytes(blob) + data[at + len(blob) :]


# --- KDE wallets -----------------------------------------------------------------------------------


def seal(payload: bytes, password: str, salt: bytes, *, ecb: bool = False, digest=kwallet_sha1) -> bytes:
    """A wallet file around `payload`: the format's header, an empty clear index, the sealed block."""
    filler = 8 - (8 + 4 + len(payload) + 20) % 8 or 8
    clear = os.urandom(8) + struct.pack(">I", len(payload)) + payload + os.urandom(filler) + digest(payload)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 50_000, 56)
    if ecb:  # KWallet's old Blowfish took each 32-bit word in little-endian order
        swap = lambda data: b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))  # noqa: E731
        sealed = swap(Cipher(Blowfish(key), modes.ECB()).encryptor().update(swap(clear)))
    else:
        sealed = Cipher(Blowfish(key), modes.CBC(bytes(8))).encryptor().update(clear)
    cipher = 0 if ecb else 3
    return kwallet_file.MAGIC + bytes([0, 1, cipher, 2]) + struct.pack(">I", 0) + sealed
