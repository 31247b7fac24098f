"""A DPAPI blob (what CryptProtectData returns), opened offline with its master key.

Layout, little-endian: version, the DPAPI provider GUID, then the signed part:
master-key version, master-key GUID, flags, a UTF-16 description, cipher
ALG_ID and key bits, salt, an HMAC key, hash ALG_ID and bits, a second HMAC
key (the signature's), the encrypted data; then the signature.

Opening it: the key hash is SHA-1(master key); the signature over the signed
part is checked first (before anything is decrypted), then the session key,
HMAC(key hash, salt [+ entropy]), is stretched to the cipher key as
CryptDeriveKey does, and the data is decrypted with a zero IV and unpadded.
Windows XP computed both the session key and the signature with a
hand-rolled HMAC that puts the entropy and signed part in the outer hash; both
forms are accepted, as Windows accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Literal

from ..errors import StoreDamaged
from .binary import Reader
from .dpapi_masterkey import HashAlg, cbc_decrypt, cipher_alg, hash_alg

PROVIDER_GUID = uuid.UUID("df9d8cd0-1501-11d1-8c7a-00c04fc297eb")
SIGNED_FROM = 20  # the version (4) and the provider GUID (16) are outside the signature
MAX_FIELD = 1 << 20  # a salt, key or description past 1 MiB is a damaged blob


@dataclass(frozen=True)
class DpapiBlob:
    """A parsed DPAPI blob. `signed` is the part the signature covers; `data` is still encrypted."""

    masterkey_guid: str
    flags: int
    description: str
    cipher_alg: int
    cipher_bits: int
    salt: bytes
    hmac_key: bytes
    hash_alg: int
    hash_bits: int
    sign_key: bytes
    data: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    signed: bytes = field(repr=False)


def parse_blob(data: bytes, what: str = "DPAPI blob") -> DpapiBlob:
    """Parse a blob; anything out of shape (another provider, an unknown algorithm, a cut) is StoreDamaged."""
    r = Reader(data, what, big_endian=False)
    if r.u32() != 1 or uuid.UUID(bytes_le=r.take(16)) != PROVIDER_GUID:
        raise StoreDamaged(f"{what}: not a DPAPI blob (wrong version or provider); the key is damaged")
    r.u32()  # master-key version
    guid = str(uuid.UUID(bytes_le=r.take(16)))
    flags = r.u32()
    description = _utf16(_field(r), r)
    cipher_id, cipher_bits = r.u32(), r.u32()
    salt, hmac_key = _field(r), _field(r)
    hash_id, hash_bits = r.u32(), r.u32()
    sign_key, encrypted = _field(r), _field(r)
    signed_end = r.pos
    signature = _field(r)
    if r.left:
        raise r.damaged(f"{r.left} bytes after the signature")
    cipher, digest = cipher_alg(cipher_id, what), hash_alg(hash_id, what)
    if cipher_bits != cipher.key_len * 8 or hash_bits != digest.digest_len * 8:
        raise r.damaged(f"algorithm sizes ({cipher_bits}, {hash_bits} bits) that do not match their algorithms")
    if not encrypted or len(encrypted) % cipher.block_len or len(signature) != digest.digest_len:
        raise r.damaged("data that is not whole cipher blocks, or a signature of the wrong length")
    signed = bytes(data[SIGNED_FROM:signed_end])
    return DpapiBlob(
        guid, flags, description, cipher_id, cipher_bits, salt, hmac_key, hash_id, hash_bits, sign_key,
        encrypted, signature, signed,
    )  # fmt: skip


def _field(r: Reader) -> bytes:
    n = r.u32()
    if n > MAX_FIELD:
        raise r.damaged(f"a field of {n} bytes")
    return r.take(n)


def _utf16(raw: bytes, r: Reader) -> str:
    try:
        return raw.decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError:
        raise r.damaged("a description that is not UTF-16") from None


Style = Literal["hmac", "xp"]


def _keyed_hash(digest: HashAlg, key: bytes, inner: bytes, outer: bytes, style: Style) -> bytes:
    """HMAC(key, inner || outer), or XP's form: H(opad-key || H(ipad-key || inner) || outer)."""
    if style == "hmac":
        return hmac.digest(key, inner + outer, digest.name)
    padded = key.ljust(digest.block_len, b"\x00")
    ipad = bytes(b ^ 0x36 for b in padded)
    opad = bytes(b ^ 0x5C for b in padded)
    return hashlib.new(digest.name, opad + hashlib.new(digest.name, ipad + inner).digest() + outer).digest()


def _derive_key(digest: HashAlg, session_key: bytes, key_len: int) -> bytes:
    """CryptDeriveKey: the session key as it is if long enough, else H(ipad-key) || H(opad-key)."""
    if len(session_key) > digest.block_len:
        session_key = hashlib.new(digest.name, session_key).digest()
    if len(session_key) >= key_len:
        return session_key[:key_len]
    padded = session_key.ljust(digest.block_len, b"\x00")
    ipad = bytes(b ^ 0x36 for b in padded)
    opad = bytes(b ^ 0x5C for b in padded)
    return (hashlib.new(digest.name, ipad).digest() + hashlib.new(digest.name, opad).digest())[:key_len]


def decrypt_blob(blob: DpapiBlob, master_key: bytes, entropy: bytes = b"") -> bytes:
    """The blob's plaintext. StoreDamaged if its signature does not check with this master key."""
    cipher, digest = cipher_alg(blob.cipher_alg, "DPAPI blob"), hash_alg(blob.hash_alg, "DPAPI blob")
    key_hash = hashlib.sha1(master_key).digest()
    for style in ("hmac", "xp"):
        expected = _keyed_hash(digest, key_hash, blob.sign_key, entropy + blob.signed, style)
        if hmac.compare_digest(expected, blob.signature):
            session_key = _keyed_hash(digest, key_hash, blob.salt, entropy, style)
            key = _derive_key(digest, session_key, cipher.key_len)
            return _unpad(cbc_decrypt(cipher, key, bytes(cipher.block_len), blob.data), cipher.block_len)
    raise StoreDamaged(
        f"the DPAPI blob's signature does not check with master key {blob.masterkey_guid}: the blob is damaged, "
        "or it needs entropy this tool does not have"
    )


def _unpad(padded: bytes, block_len: int) -> bytes:
    n = padded[-1] if padded else 0
    if not 1 <= n <= block_len or padded[-n:] != bytes([n]) * n:
        raise StoreDamaged("the DPAPI blob's data has bad padding although its signature checked: a damaged blob")
    return padded[:-n]
