"""oo7's keyring files, format 1.0 (`~/.local/share/keyrings/v1/<name>.keyring`): GNOME OS, the Flatpak portal.

The file: gnome-keyring's magic, major 1, minor 0, then a little-endian
GVariant KEYRING_TYPE (salt size, salt, PBKDF2 iterations, modified time,
usage count, items). The key is PBKDF2-HMAC-SHA256(password, salt,
iterations, 16 bytes). Each item is its attributes with HMAC-SHA256(key,
value) in place of each value, and a blob: AES-128-CBC (PKCS#7) ciphertext ||
IV (16) || HMAC-SHA256(key, ciphertext || IV) (32). The MAC is the password
check and is verified before anything is decrypted; a decrypted item is the
GVariant ITEM_TYPE, whose attributes must then match the HMACs beside it.
oo7 also writes keyrings without a password: each blob is then the item's
GVariant in clear, with its attribute values in clear beside it.

Format learnt from oo7 (MIT), `client/src/file/api/`; this is an independent reader.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping, Sequence, cast

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import StoreDamaged
from . import gvariant
from .binary import Reader
from .gnome_keyring import MAGIC, OO7_VERSION, keyring_locked
from .items import StoreItem

KEYRING_TYPE = "(uayutua(a{say}ay))"  # salt size, salt, iterations, modified, usage count, [(hashed attributes, blob)]
ITEM_TYPE = "(a{ss}sttay)"  # attributes, label, created, modified, secret
BODY_OFFSET = len(MAGIC) + len(OO7_VERSION)
KEY_SIZE = 16
BLOCK_SIZE = 16
IV_SIZE = 16
MAC_SIZE = 32
# oo7 writes 100,000; far more is a damaged header, and would only burn time.
MAX_ITERATIONS = 2_000_000

_KeyringTuple = tuple[int, bytes, int, int, int, list[tuple[dict[str, bytes], bytes]]]
_ItemTuple = tuple[dict[str, str], str, int, int, bytes]


@dataclass(frozen=True)
class _SealedItem:
    hashed_attributes: Mapping[str, bytes]
    blob: bytes


@dataclass(frozen=True)
class _Keyring:
    salt: bytes
    iterations: int
    items: tuple[_SealedItem, ...]


def open_keyring(data: bytes, passwords: Sequence[str], *, name: str) -> list[StoreItem]:
    """The items of an oo7 1.0 keyring, trying each password in turn (none needed for one written without).

    Every password failing the items' MACs is one StoreLocked; a file that does not parse is StoreDamaged.
    """
    what = f"oo7 keyring {name}"
    keyring = _read(data, what)
    in_clear = _items_in_clear(keyring, what)
    if in_clear is not None:
        return in_clear
    for password in passwords:
        key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), keyring.salt, keyring.iterations, KEY_SIZE)
        if any(_mac_matches(key, item.blob) for item in keyring.items):
            return [_decrypt(key, item, what) for item in keyring.items]
    raise keyring_locked(what, len(passwords))


def _read(data: bytes, what: str) -> _Keyring:
    r = Reader(data, what)
    r.expect(MAGIC, "GNOME keyring")
    version = (r.u8(), r.u8())
    if version != OO7_VERSION:
        raise r.damaged(f"format version {version[0]}.{version[1]}, not oo7's 1.0")
    fields = cast(_KeyringTuple, gvariant.decode(KEYRING_TYPE, data[BODY_OFFSET:], what))
    salt_size, salt, iterations, _modified, _usage_count, items = fields
    if salt_size != len(salt):
        raise StoreDamaged(f"{what}: a salt of {len(salt)} bytes where the header says {salt_size}")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise StoreDamaged(f"{what}: a PBKDF2 iteration count of {iterations}")
    return _Keyring(salt, iterations, tuple(_SealedItem(hashed, blob) for hashed, blob in items))


def _mac_matches(key: bytes, blob: bytes) -> bool:
    if len(blob) < BLOCK_SIZE + IV_SIZE + MAC_SIZE:
        return False
    signed, mac = blob[:-MAC_SIZE], blob[-MAC_SIZE:]
    return hmac.compare_digest(hmac.digest(key, signed, "sha256"), mac)


def _decrypt(key: bytes, item: _SealedItem, what: str) -> StoreItem:
    """One item, once the key is known to be right: its MAC, then the ciphertext, then its hashed attributes."""
    if not _mac_matches(key, item.blob):
        raise StoreDamaged(f"{what}: an item whose MAC fails under the key that opens the others")
    ciphertext, iv = item.blob[: -MAC_SIZE - IV_SIZE], item.blob[-MAC_SIZE - IV_SIZE : -MAC_SIZE]
    if len(ciphertext) % BLOCK_SIZE:
        raise StoreDamaged(f"{what}: an item's ciphertext is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
    try:
        plain = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        raise StoreDamaged(f"{what}: an item with broken padding under a verified MAC") from None
    stored = _item(plain, what)
    for attribute, mac in item.hashed_attributes.items():
        value = stored.attributes.get(attribute)
        if value is None or not hmac.compare_digest(hmac.digest(key, value.encode("utf-8"), "sha256"), mac):
            raise StoreDamaged(f"{what}: an item whose attribute {attribute!r} does not match its hash")
    return stored


def _item(data: bytes, what: str) -> StoreItem:
    attributes, label, _created, _modified, secret = cast(_ItemTuple, gvariant.decode(ITEM_TYPE, data, what))
    return StoreItem(label=label, attributes=attributes, secret=secret)


def _items_in_clear(keyring: _Keyring, what: str) -> list[StoreItem] | None:
    """The items of a keyring written without a password, or None when they are encrypted.

    An item is in clear when its blob is an item's GVariant whose attribute values equal those beside it:
    an encrypted blob (random to this reader) with 32-byte MACs beside it never is.
    """
    items = []
    for sealed in keyring.items:
        try:
            item = _item(sealed.blob, what)
        except StoreDamaged:
            return None
        clear = {name: value.encode("utf-8") for name, value in item.attributes.items()}
        if any(clear.get(name) != value for name, value in sealed.hashed_attributes.items()):
            return None
        items.append(item)
    return items
