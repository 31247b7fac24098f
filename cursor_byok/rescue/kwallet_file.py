"""KDE Wallet files (`<wallet>.kwl` with its `<wallet>.salt`), opened offline with the wallet's password.

The layout, as KWallet's backend (kwalletd 4.13 and later, KF5, KF6) writes it; numbers are big-endian:

    header   MAGIC (12 bytes), then one byte each: major version (0), minor version (1: the key comes from
             PBKDF2; 0: older), cipher (3: Blowfish-CBC; 0: the legacy Blowfish-ECB; 2: GPG), key hash
             (2: PBKDF2-SHA512; 0: the SHA-1 scheme of wallets made before KDE 4.13)
    index    u32 folder count; per folder MD5(name), u32 entry count, MD5(entry name) per entry. It lets
             kwalletd answer "does this folder exist" without the password; nothing authenticates it,
             so it is skipped, never believed
    sealed   the rest of the file, whole Blowfish blocks

Key: PBKDF2-HMAC-SHA512(password as UTF-8, the 56 bytes of the salt file, 50,000 iterations, 56 bytes). With
pam_kwallet the password is the user's login password. Cipher 3 is CBC with a zero IV; cipher 0 is ECB, and
KWallet's old Blowfish code read each 32-bit word in the host's (little-endian) order, so the bytes of every
word are swapped before and after the block cipher.

The clear text: 8 random bytes (with the zero IV they act as the real IV), u32 payload length n, the payload,
1 to 8 filler bytes, then a 20-byte digest of the payload. The password check is the format's own, done before
any field of the payload is read: the length must fit the block (a wrong key gives a random one), then the
digest must match. The digest comes from KWallet's own SHA-1 code, which on little-endian hosts is not standard
SHA-1 (`kwallet_sha1`): kwalletd5 5.103 on x86-64 writes that variant (checked), as does whatever made oo7's
test wallet. On big-endian hosts that code is standard SHA-1, and the two KDE 4 wallets (kwallet-dump's samples)
checked while writing this carry standard SHA-1 too, so either digest passes.

The payload is a Qt QDataStream, one record per folder until the end: QString folder name, u32 entry count,
then per entry QString name, i32 type (1 password, 2 stream, 3 map) and QByteArray value. A QString is a u32
byte length (0xFFFFFFFF: null) and UTF-16BE; a QByteArray is a u32 length (0xFFFFFFFF: null) and the bytes.
A password value holds a serialized QString; a map value a serialized QMap<QString, QString> (u32 count, then
name and value QStrings).
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Iterable, Sequence

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import ciphers
from cryptography.hazmat.primitives.ciphers import CipherContext, modes

from ..errors import RescueNotFound, StoreDamaged, StoreLocked, StoreUnsupported
from .binary import Reader
from .items import StoreItem, entry_missing
from .legacy_ciphers import legacy_cipher

MAGIC = b"KWALLET\n\r\0\r\n"
VERSION_MAJOR = 0
VERSION_MINOR_PBKDF2 = 1  # KDE 4.13 (2014) and later; 0 before
CIPHER_BLOWFISH_ECB = 0  # wallets written before KWallet's CBC fix
CIPHER_GPG = 2
CIPHER_BLOWFISH_CBC = 3
HASH_SHA1 = 0  # the pre-4.13 password hash
HASH_PBKDF2_SHA512 = 2

SALT_SIZE = 56
KEY_SIZE = 56
PBKDF2_ITERATIONS = 50_000
BLOCK_SIZE = 8  # Blowfish
MD5_SIZE = 16
RANDOM_PREFIX_SIZE = 8
LENGTH_SIZE = 4
DIGEST_SIZE = 20
MAX_FILLER = 8
MIN_SEALED = RANDOM_PREFIX_SIZE + LENGTH_SIZE + 1 + DIGEST_SIZE  # an empty payload, one filler byte
NULL_LENGTH = 0xFFFFFFFF  # QString / QByteArray: no value
# KWallet's digest runs in pure Python (kwallet_sha1) at about 1 MiB a second, and the empty password is tried
# first with no prompt: a wallet made for it would cost a minute at the store files' 64 MiB. Wallets are KiB to
# a few MiB (a browser's saved logins included).
MAX_WALLET_SIZE = 16 << 20

ENTRY_TYPES = {0: "unknown", 1: "password", 2: "stream", 3: "map"}

# (folder, entry) in the order Cursor reads them. Cursor's synchronous safeStorage (through VS Code) reads the
# entry every Electron app shares; the Cursor names belong to Electron's newer asynchronous API. The same pairs
# as cursor_byok.safestorage.kwallet.KWALLET_ENTRIES (a test keeps them equal).
CURSOR_ENTRIES = (("Chromium Keys", "Chromium Safe Storage"), ("Cursor Keys", "Cursor Safe Storage"))


# -- opening ----------------------------------------------------------------------------------------------------


def open_wallet(kwl: bytes, salt: bytes | None, passwords: Sequence[str], *, name: str) -> list[StoreItem]:
    """Every entry of the wallet `name` (its `.kwl` bytes and its `.salt` bytes), opened with the first password
    that passes the wallet's own check.

    Items are labelled "Folder/Entry", with attributes folder, entry and type (password, stream, map or
    unknown). A password's secret is its text as UTF-8; a stream's the bytes stored; a map's its pairs as a
    JSON object. Raises StoreLocked when no password opens it, StoreDamaged when the file is not a sound
    wallet, StoreUnsupported for a GPG wallet, a pre-2014 wallet or a Blowfish-less `cryptography`, and
    RescueNotFound when the salt file is needed and missing.
    """
    if isinstance(passwords, str):
        raise TypeError("passwords is a sequence of passwords, not one string")
    what = f"KDE Wallet {name}"
    cipher, sealed = _read_header(kwl, what, name)
    if salt is None:
        raise RescueNotFound(
            f"{what}: its salt file {name}.salt is missing; copy it from the same folder of the backup "
            "(.local/share/kwalletd/) next to the .kwl file",
            reason="salt-missing",
        )
    if len(salt) != SALT_SIZE:
        raise StoreDamaged(
            f"{what}: the salt file {name}.salt holds {len(salt)} bytes instead of {SALT_SIZE}; "
            "it is damaged or belongs to something else"
        )
    tried: set[str] = set()
    for password in passwords:
        if password in tried:
            continue
        tried.add(password)
        payload = _unseal(sealed, derive_key(password, salt), cipher)
        if payload is not None:
            return _read_payload(payload, what)
    raise StoreLocked(
        f"{what} did not open with the password{'s' if len(tried) != 1 else ''} given. With pam_kwallet the "
        "wallet password is the user's login password on that machine, but a wallet password set in KWallet "
        "Manager may differ from it (an older login password, or one chosen for the wallet)"
    )


def cursor_secret(items: Iterable[StoreItem], *, store_name: str) -> bytes:
    """Cursor's safe-storage password among an opened wallet's items: `Chromium Keys/Chromium Safe Storage`
    first, then `Cursor Keys/Cursor Safe Storage`; an empty or non-password entry does not count (Chromium
    would make a new password). Neither: RescueNotFound (entry-missing) naming the entries held, never values."""
    items = list(items)
    by_place = {(i.attributes.get("folder"), i.attributes.get("entry")): i for i in items}
    for place in CURSOR_ENTRIES:
        item = by_place.get(place)
        if item is not None and item.attributes.get("type") == "password" and item.secret:
            return item.secret
    raise entry_missing(store_name, (i.label for i in items))


def derive_key(password: str, salt: bytes) -> bytes:
    """The wallet's Blowfish key: PBKDF2-HMAC-SHA512 of the UTF-8 password over the salt file's bytes."""
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS, KEY_SIZE)


# -- the file ---------------------------------------------------------------------------------------------------


def _read_header(kwl: bytes, what: str, name: str) -> tuple[int, bytes]:
    """(cipher, the sealed block) after checking the header; the clear index is skipped unread."""
    r = Reader(kwl, what)
    r.expect(MAGIC, "KDE Wallet (.kwl)")
    if len(kwl) > MAX_WALLET_SIZE:
        raise StoreDamaged(
            f"{what}: {len(kwl):,} bytes, more than a wallet holds ({MAX_WALLET_SIZE:,}); the file is damaged "
            "or not a wallet"
        )
    major, minor, cipher, key_hash = r.u8(), r.u8(), r.u8(), r.u8()
    if major != VERSION_MAJOR or minor > VERSION_MINOR_PBKDF2:
        raise StoreUnsupported(
            f"{what} is in a newer format ({major}.{minor}) than this tool reads; open it in KWallet Manager "
            "on a KDE machine"
        )
    if cipher == CIPHER_GPG:
        raise StoreUnsupported(
            f"{what} is encrypted to a GPG key, which this tool cannot open: open it in KWallet Manager on a "
            "KDE machine that has that GPG key, and read the entry Chromium Keys/Chromium Safe Storage there",
            reason="gpg-wallet",
        )
    if cipher not in (CIPHER_BLOWFISH_CBC, CIPHER_BLOWFISH_ECB):
        raise StoreDamaged(f"{what}: unknown cipher {cipher} in the header; the file is damaged or not a wallet")
    if key_hash == HASH_SHA1:
        raise StoreUnsupported(
            f"{what} is in the format of KWallet before KDE 4.13 (2014), with a key from an old SHA-1 scheme, "
            "which this tool does not read. A wallet Cursor wrote to is in the current format (KWallet rewrites "
            "an old wallet when it saves it), so look for a newer copy of this wallet with its salt file "
            f"{name}.salt next to it; or open this one in KWallet Manager on a KDE machine"
        )
    if key_hash != HASH_PBKDF2_SHA512:
        raise StoreDamaged(f"{what}: unknown key hash {key_hash} in the header; the file is damaged or not a wallet")
    for _ in range(r.u32()):  # the clear index: not authenticated, not used
        r.skip(MD5_SIZE)
        r.skip(MD5_SIZE * r.u32())
    sealed = r.take(r.left)
    if len(sealed) < MIN_SEALED or len(sealed) % BLOCK_SIZE:
        raise r.damaged(f"a sealed block of {len(sealed)} bytes, not whole {BLOCK_SIZE}-byte Blowfish blocks")
    return cipher, sealed


def _unseal(sealed: bytes, key: bytes, cipher: int) -> bytes | None:
    """The payload, or None when the format's password check fails (the length field, then the digest)."""
    if cipher == CIPHER_BLOWFISH_ECB:
        clear = _swap_words(_blowfish(key, cbc=False).update(_swap_words(sealed)))
    else:
        clear = _blowfish(key, cbc=True).update(sealed)
    (n,) = struct.unpack_from(">I", clear, RANDOM_PREFIX_SIZE)
    filler = len(clear) - RANDOM_PREFIX_SIZE - LENGTH_SIZE - n - DIGEST_SIZE
    if not 1 <= filler <= MAX_FILLER:
        return None
    start = RANDOM_PREFIX_SIZE + LENGTH_SIZE
    payload = clear[start : start + n]
    digest = clear[-DIGEST_SIZE:]
    if kwallet_sha1(payload) != digest and hashlib.sha1(payload).digest() != digest:
        return None
    return payload


def _blowfish(key: bytes, *, cbc: bool) -> CipherContext:
    """A Blowfish decryptor (CBC with a zero IV, or ECB); a `cryptography` without it is StoreUnsupported."""
    algorithm = legacy_cipher("Blowfish", key, _no_blowfish)
    mode = modes.CBC(bytes(BLOCK_SIZE)) if cbc else modes.ECB()
    try:
        return ciphers.Cipher(algorithm, mode).decryptor()
    except UnsupportedAlgorithm:
        raise _no_blowfish() from None


def _no_blowfish() -> StoreUnsupported:
    return StoreUnsupported(
        "KDE Wallet files are encrypted with Blowfish, which this Python's cryptography package lacks (it needs "
        "cryptography 43 or later, built with OpenSSL's legacy ciphers as the PyPI wheels are): "
        "pip install -U cryptography",
        reason="legacy-ciphers-missing",
    )


def _swap_words(data: bytes) -> bytes:
    """The bytes of every 32-bit word reversed (data is whole Blowfish blocks)."""
    words = len(data) // 4
    return struct.pack(f"<{words}I", *struct.unpack(f">{words}I", data))


# -- KWallet's SHA-1 --------------------------------------------------------------------------------------------

_SHA1_START = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_MASK = 0xFFFFFFFF


def kwallet_sha1(data: bytes) -> bytes:
    """The digest KWallet stores after the payload: SHA-1 as KWallet's own code computes it on a little-endian
    host. That code is built as if the host were big-endian, so it reads the padded message (standard padding:
    0x80, zeros, the 64-bit big-endian bit length) as little-endian words and writes the five result words
    little-endian. Standard SHA-1 reads and writes big-endian words; the rounds are the same."""
    padded = data + b"\x80" + bytes((55 - len(data)) % 64) + struct.pack(">Q", len(data) * 8)
    h0, h1, h2, h3, h4 = _SHA1_START
    for start in range(0, len(padded), 64):
        w = list(struct.unpack_from("<16I", padded, start))
        for t in range(16, 80):
            x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
            w.append(((x << 1) | (x >> 31)) & _MASK)
        a, b, c, d, e = h0, h1, h2, h3, h4
        for t in range(80):
            if t < 20:
                f, k = (b & c) | (~b & d), 0x5A827999
            elif t < 40:
                f, k = b ^ c ^ d, 0x6ED9EBA1
            elif t < 60:
                f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
            else:
                f, k = b ^ c ^ d, 0xCA62C1D6
            a, b, c, d, e = (
                (((a << 5) | (a >> 27)) + (f & _MASK) + e + k + w[t]) & _MASK,
                a,
                ((b << 30) | (b >> 2)) & _MASK,
                c,
                d,
            )
        h0, h1, h2, h3, h4 = (h0 + a) & _MASK, (h1 + b) & _MASK, (h2 + c) & _MASK, (h3 + d) & _MASK, (h4 + e) & _MASK
    return struct.pack("<5I", h0, h1, h2, h3, h4)


# -- the payload ------------------------------------------------------------------------------------------------


def _read_payload(payload: bytes, what: str) -> list[StoreItem]:
    """The folders and entries of a payload that passed the digest; anything malformed is StoreDamaged."""
    r = Reader(payload, f"{what} (decrypted payload)")
    items: list[StoreItem] = []
    while r.left:
        folder = _qstring(r, "folder name")
        for _ in range(r.u32()):
            entry = _qstring(r, "entry name")
            type_code = r.i32()
            value = r.blob(none_marker=NULL_LENGTH) or b""
            kind = ENTRY_TYPES.get(type_code)
            if kind is None:
                raise r.damaged(f"an entry of unknown type {type_code}")
            items.append(
                StoreItem(
                    label=f"{folder}/{entry}",
                    attributes={"folder": folder, "entry": entry, "type": kind},
                    secret=_entry_secret(value, kind, what),
                )
            )
    return items


def _entry_secret(value: bytes, kind: str, what: str) -> bytes:
    if kind == "password":
        r = Reader(value, f"{what} (a password value)")
        text = _qstring(r, "password", strict=True) if value else ""
        if r.left:
            raise r.damaged("bytes after a password value")
        return text.encode("utf-8")
    if kind == "map":
        r = Reader(value, f"{what} (a map value)")
        pairs = {}
        for _ in range(r.u32() if value else 0):
            key = _qstring(r, "map key")  # the key comes first in the stream
            pairs[key] = _qstring(r, "map value", strict=True)
        if r.left:
            raise r.damaged("bytes after a map value")
        return json.dumps(pairs, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return value


def _qstring(r: Reader, field: str, *, strict: bool = False) -> str:
    """A QString: u32 byte length (0xFFFFFFFF: null, read as "") and UTF-16BE. Names with a lone surrogate are
    shown with a replacement character; a value (`strict`) that is not valid UTF-16 is a damaged file."""
    raw = r.blob(none_marker=NULL_LENGTH)
    if raw is None:
        return ""
    if len(raw) % 2:
        raise r.damaged(f"field {field}: an odd number of bytes ({len(raw)}), not UTF-16")
    try:
        return raw.decode("utf-16-be", errors="strict" if strict else "replace")
    except UnicodeDecodeError:
        raise r.damaged(f"field {field}: not valid UTF-16") from None
