"""Electron safeStorage (Chromium OSCrypt) values, encoded and decoded. Pure.

A `secret://` row holds `JSON.stringify(buffer)`:
``{"type":"Buffer","data":[118,49,48,...]}``. The bytes start with a version
prefix: `v10`/`v11` AES-128-CBC on macOS and Linux, `v10` AES-256-GCM on
Windows. See docs and cursor-storage.md section 4 for the constants.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar

from ..errors import DecryptFailed, UnknownCiphertext
from ..lazy import LazyModule

if TYPE_CHECKING:
    from cryptography import exceptions
    from cryptography.hazmat.primitives import ciphers, padding
    from cryptography.hazmat.primitives.ciphers import aead, algorithms, modes
else:  # cryptography loads at the first encryption or decryption: never for --help, `import cursor_byok` or plain rows
    exceptions = LazyModule("cryptography.exceptions")
    ciphers = LazyModule("cryptography.hazmat.primitives.ciphers")
    padding = LazyModule("cryptography.hazmat.primitives.padding")
    aead = LazyModule("cryptography.hazmat.primitives.ciphers.aead")
    algorithms = LazyModule("cryptography.hazmat.primitives.ciphers.algorithms")
    modes = LazyModule("cryptography.hazmat.primitives.ciphers.modes")

SALT = b"saltysalt"
CBC_IV = b" " * 16
MACOS_ITERATIONS = 1003
LINUX_ITERATIONS = 1
PEANUTS = b"peanuts"
GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16
T = TypeVar("T")

SCHEMES = ("macos", "linux", "windows")


def derive_cbc_key(password: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA1(password, 'saltysalt', iterations) -> 16-byte AES key."""
    return hashlib.pbkdf2_hmac("sha1", password, SALT, iterations, 16)


# --- the Buffer JSON text form -------------------------------------------


def decode_buffer_json(text: str) -> bytes:
    """Bytes of a Node Buffer serialised as JSON; raises ValueError if not one."""
    try:
        obj = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ValueError("not JSON") from exc
    if not isinstance(obj, dict) or obj.get("type") != "Buffer" or "data" not in obj:
        raise ValueError("not a Buffer object")
    data = obj["data"]
    if not isinstance(data, list):
        raise ValueError("Buffer data is not a list")
    if not all(type(b) is int and 0 <= b <= 255 for b in data):
        raise ValueError("Buffer data holds a non-byte")
    return bytes(data)


def encode_buffer_json(data: bytes) -> str:
    """The exact text JSON.stringify gives for a Buffer: no spaces."""
    return '{"type":"Buffer","data":[' + ",".join(str(b) for b in data) + "]}"


# --- ciphers ----------------------------------------------------------------


def _cbc_encrypt(key: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = ciphers.Cipher(algorithms.AES(key), modes.CBC(CBC_IV)).encryptor()
    return enc.update(padded) + enc.finalize()


def _cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise DecryptFailed("ciphertext length is not a multiple of the AES block")
    dec = ciphers.Cipher(algorithms.AES(key), modes.CBC(CBC_IV)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptFailed("bad padding: wrong machine secret") from exc


def _gcm_encrypt(key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    nonce = nonce if nonce is not None else os.urandom(GCM_NONCE_LEN)
    return nonce + aead.AESGCM(key).encrypt(nonce, plaintext, None)


def _gcm_decrypt(key: bytes, blob: bytes) -> bytes:
    if len(blob) < GCM_NONCE_LEN + GCM_TAG_LEN:
        raise DecryptFailed("ciphertext too short for AES-GCM")
    try:
        return aead.AESGCM(key).decrypt(blob[:GCM_NONCE_LEN], blob[GCM_NONCE_LEN:], None)
    except exceptions.InvalidTag as exc:
        raise DecryptFailed("authentication failed: wrong machine secret") from exc


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptFailed("decrypted bytes are not UTF-8: wrong machine secret") from exc


# --- codecs -----------------------------------------------------------------


@dataclass(frozen=True)
class CbcCodec:
    """AES-128-CBC under one version prefix (macOS v10, Linux v10 or v11)."""

    prefix: bytes
    key: bytes
    fallback_keys: tuple[bytes, ...] = ()

    def encrypt(self, plaintext: str) -> bytes:
        return self.prefix + _cbc_encrypt(self.key, plaintext.encode("utf-8"))

    def decrypt(self, blob: bytes) -> str:
        return self._decrypt(blob, _utf8)

    def decrypt_bytes(self, blob: bytes) -> bytes:
        """The plaintext as raw bytes (a Chromium cookie's, for one, is not all UTF-8)."""
        return self._decrypt(blob, bytes)

    def _decrypt(self, blob: bytes, finish: Callable[[bytes], T]) -> T:
        # `finish` runs inside the loop: a wrong key whose output happens to
        # unpad but is not UTF-8 still falls through to the next key.
        body = blob[len(self.prefix) :]
        last: DecryptFailed | None = None
        for key in (self.key, *self.fallback_keys):
            try:
                return finish(_cbc_decrypt(key, body))
            except DecryptFailed as exc:
                last = exc
        assert last is not None
        raise last


@dataclass(frozen=True)
class GcmCodec:
    """Windows: `v10` + 12-byte nonce + AES-256-GCM ciphertext and tag."""

    key: bytes
    prefix: bytes = b"v10"

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError("the Windows safe-storage key is 32 bytes")

    def encrypt(self, plaintext: str) -> bytes:
        return self.prefix + _gcm_encrypt(self.key, plaintext.encode("utf-8"))

    def decrypt(self, blob: bytes) -> str:
        return _utf8(self.decrypt_bytes(blob))

    def decrypt_bytes(self, blob: bytes) -> bytes:
        return _gcm_decrypt(self.key, blob[len(self.prefix) :])


Codec = CbcCodec | GcmCodec  # encrypts and decrypts the values of one ciphertext prefix


PEANUTS_KEY = derive_cbc_key(PEANUTS, LINUX_ITERATIONS)
EMPTY_PASSWORD_V11_KEY = derive_cbc_key(b"", LINUX_ITERATIONS)


def macos_codec(password: bytes) -> CbcCodec:
    return CbcCodec(b"v10", derive_cbc_key(password, MACOS_ITERATIONS))


def linux_basic_codec() -> CbcCodec:
    return CbcCodec(b"v10", PEANUTS_KEY)


def linux_keyring_codec(password: bytes) -> CbcCodec:
    # Chromium retries a failed v11 decrypt with the empty password's key.
    return CbcCodec(b"v11", derive_cbc_key(password, LINUX_ITERATIONS), (EMPTY_PASSWORD_V11_KEY,))


def has_version_prefix(blob: bytes) -> bool:
    """True when the bytes start like an OSCrypt ciphertext: `v` and two digits (v10, v11, Chrome's v20)."""
    return len(blob) > 3 and blob[:1] == b"v" and blob[1:3].isdigit()


def prefix_of(blob: bytes) -> str:
    """The 3-byte version prefix as text, or a printable description."""
    head = blob[:3]
    if len(head) == 3 and head.isascii() and head.isalnum():
        return head.decode("ascii")
    return "0x" + head.hex()


def check_known_prefix(blob: bytes, known: tuple[bytes, ...]) -> bytes:
    """Return the prefix if it is one the codecs at hand handle, else raise."""
    for p in known:
        if blob.startswith(p):
            return p
    name = prefix_of(blob)
    if name == "v20":
        raise UnknownCiphertext("prefix v20 (app-bound encryption) cannot be decrypted outside Cursor")
    raise UnknownCiphertext(f"unknown ciphertext prefix {name!r}")
