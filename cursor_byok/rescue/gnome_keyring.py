"""GNOME Keyring's own files (gnome-keyring-daemon's `~/.local/share/keyrings/*.keyring`), opened offline.

Two formats, both written by the daemon:

- binary, version 0.0 (a keyring with a password): a clear header, then one
  AES-128-CBC block of items. Key and IV are SHA-256 of (password || salt),
  hashed again `hash_iterations - 1` times; the plaintext starts with the MD5
  of the rest, which is the password check. Nothing inside is trusted before
  that check passes.
- textual (a keyring whose password is empty): a GKeyFile (INI) with the
  secrets in clear, recognised by the missing binary header.

Integers are big-endian; a string is a u32 length and its bytes, with
0xFFFFFFFF for "no value". The format is described in gnome-keyring's
`pkcs11/secret-store/gkm-secret-binary.c` and `gkm-secret-textual.c` (read as
a description only) and in oo7's `legacy_keyring.rs` (MIT); this is an
independent reader. oo7's newer format 1.0 (`keyrings/v1/`) is
`oo7_keyring`; `format_of` says which reader a file needs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import StoreDamaged, StoreLocked, StoreUnsupported
from .binary import Reader
from .items import StoreItem, entry_missing

MAGIC = b"GnomeKeyring\n\r\0\n"
BINARY_VERSION = (0, 0)
OO7_VERSION = (1, 0)
CRYPTO_AES_128_CBC = 0
HASH_MD5 = 0
SALT_SIZE = 8
HEADER_RESERVED_U32S = 4
ITEM_RESERVED_U32S = 4
NO_VALUE = 0xFFFFFFFF
ATTRIBUTE_STRING, ATTRIBUTE_UINT32 = 0, 1
BLOCK_SIZE = 16
CHECKSUM_SIZE = 16  # MD5 of the rest of the plaintext: the password check
KEY_SIZE = 16
# The daemon draws a few thousand at each write (seen here: 2716 to 3514); far more is a damaged header.
MAX_HASH_ITERATIONS = 1 << 16

# Cursor's item, as Electron's Chromium (OSCrypt, libsecret) stores it. Chromium looks it up by
# `application` alone (SECRET_SCHEMA_DONT_MATCH_NAME); the older schema `chrome_libsecret_os_crypt_password`
# (deprecated in Chromium 55, 2016) had no attributes at all, so no item of it can be told to be Cursor's.
CURSOR_APPLICATION = "Cursor"
CURSOR_SCHEMA = "chrome_libsecret_os_crypt_password_v2"

KeyringFormat = Literal["textual", "binary-0.0", "oo7-1.0"]


def format_of(data: bytes, *, name: str) -> KeyringFormat:
    """Which format a `*.keyring` file is in, by its header; a header version no reader knows is StoreUnsupported."""
    if not data.startswith(MAGIC):
        return "textual"
    reader = Reader(data, f"GNOME keyring {name}", offset=len(MAGIC))
    version = (reader.u8(), reader.u8())
    if version == BINARY_VERSION:
        return "binary-0.0"
    if version == OO7_VERSION:
        return "oo7-1.0"
    raise StoreUnsupported(
        f"GNOME keyring {name}: format version {version[0]}.{version[1]}, which this version of cursor-byok "
        "does not read (it reads 0.0 and oo7's 1.0)"
    )


def open_keyring(data: bytes, passwords: Sequence[str], *, name: str) -> list[StoreItem]:
    """The items of a gnome-keyring-daemon file (binary 0.0 or textual), trying each password in turn.

    `name` names the file in messages. Every password failing the keyring's own check is one StoreLocked;
    a file that does not parse is StoreDamaged. The textual format needs no password.
    """
    what = f"GNOME keyring {name}"
    kind = format_of(data, name=name)
    if kind == "textual":
        return _textual_items(data, what)
    if kind != "binary-0.0":
        raise StoreDamaged(f"{what}: an oo7 keyring (format 1.0), not gnome-keyring-daemon's 0.0")
    sealed = _read_sealed(data, what)
    for password in passwords:
        plaintext = _unsealed(sealed, password)
        if plaintext is not None:
            return _read_items(plaintext, sealed.item_count, what)
    raise keyring_locked(what, len(passwords))


def keyring_locked(what: str, tried: int) -> StoreLocked:
    """One opaque error for every password that failed a keyring's own check."""
    if not tried:
        return StoreLocked(f"{what} needs its password: give the old login password with --login-password-file")
    return StoreLocked(
        f"{what} did not open with the {tried} password(s) given (its own password check failed). "
        "Its password is the login password of when it was set: if the login password was later changed "
        "without the keyring (by an administrator, a reset, outside the desktop), give the earlier one too "
        "(--login-password-file, repeatable)"
    )


def cursor_secret(items: Iterable[StoreItem], *, store_name: str) -> bytes:
    """Cursor's safeStorage password among a keyring's items; none is `entry-missing`, naming the labels held.

    Cursor's own schema first; then, as Chromium's own lookup does, any item with `application` = Cursor.
    """
    items = list(items)
    ours = [i for i in items if i.attributes.get("application") == CURSOR_APPLICATION]
    ours.sort(key=lambda i: i.attributes.get("xdg:schema") != CURSOR_SCHEMA)  # stable: Cursor's schema first
    if ours:
        return ours[0].secret
    raise entry_missing(store_name, (item.label for item in items))


# -- binary 0.0 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sealed:
    """The clear part of a binary keyring: how to derive its key, and its ciphertext (not yet checked)."""

    iterations: int
    salt: bytes
    item_count: int
    ciphertext: bytes


def _read_sealed(data: bytes, what: str) -> _Sealed:
    r = Reader(data, what, offset=len(MAGIC) + len(BINARY_VERSION))
    if (r.u8(), r.u8()) != (CRYPTO_AES_128_CBC, HASH_MD5):
        raise r.damaged("an unknown cipher or hash number")
    _name, _created, _modified, _flags, _lock_timeout = _string(r), r.u64(), r.u64(), r.u32(), r.u32()
    iterations, salt = r.u32(), r.take(SALT_SIZE)
    if not 1 <= iterations <= MAX_HASH_ITERATIONS:
        raise r.damaged(f"a hash iteration count of {iterations}")
    r.skip(4 * HEADER_RESERVED_U32S)
    item_count = r.u32()
    for _ in range(item_count):  # each item's id, type and hashed attributes: what the daemon searches unlocked
        _id, _type, _hashed = r.u32(), r.u32(), _attributes(r)
    size = r.u32()
    if size < CHECKSUM_SIZE or size % BLOCK_SIZE:
        raise r.damaged(f"an encrypted part of {size} bytes, not whole AES blocks")
    return _Sealed(iterations, salt, item_count, r.take(size))  # bytes after it are ignored, as the daemon does


def _derive_key_iv(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    digest = hashlib.sha256(password.encode("utf-8") + salt).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest[:KEY_SIZE], digest[KEY_SIZE : KEY_SIZE + BLOCK_SIZE]


def _unsealed(sealed: _Sealed, password: str) -> bytes | None:
    """The plaintext after its checksum, or None when the checksum (the password check) fails."""
    key, iv = _derive_key_iv(password, sealed.salt, sealed.iterations)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plaintext = decryptor.update(sealed.ciphertext) + decryptor.finalize()
    checksum, rest = plaintext[:CHECKSUM_SIZE], plaintext[CHECKSUM_SIZE:]
    if not hmac.compare_digest(checksum, hashlib.md5(rest, usedforsecurity=False).digest()):
        return None
    return rest


def _read_items(plaintext: bytes, count: int, what: str) -> list[StoreItem]:
    """The items the clear header counts; more than a block's padding after them means the count was altered."""
    r = Reader(plaintext, f"{what} (decrypted)")
    items = [_read_item(r) for _ in range(count)]
    if r.left >= BLOCK_SIZE:
        raise r.damaged(f"more than padding after the {count} item(s) the header counts")
    return items


def _read_item(r: Reader) -> StoreItem:
    label = _string(r) or ""
    secret = r.blob(none_marker=NO_VALUE) or b""
    _created, _modified, _reserved = r.u64(), r.u64(), _string(r)
    r.skip(4 * ITEM_RESERVED_U32S)
    attributes = _attributes(r)
    for _ in range(r.u32()):  # access control entries: flags, display name, path, reserved string, reserved u32
        _flags, _name, _path, _reserved, _reserved_u32 = r.u32(), _string(r), _string(r), _string(r), r.u32()
    return StoreItem(label=label, attributes=attributes, secret=secret)


def _attributes(r: Reader) -> dict[str, str]:
    """Attributes: a name, a type, then a string or a u32 (shown as its decimal text, as libsecret does)."""
    out: dict[str, str] = {}
    for _ in range(r.u32()):
        name, kind = _string(r) or "", r.u32()
        if kind == ATTRIBUTE_STRING:
            out[name] = _string(r) or ""
        elif kind == ATTRIBUTE_UINT32:
            out[name] = str(r.u32())
        else:
            raise r.damaged(f"an attribute of unknown type {kind}")
    return out


def _string(r: Reader) -> str | None:
    raw = r.blob(none_marker=NO_VALUE)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise r.damaged("a string that is not UTF-8") from None


# -- textual --------------------------------------------------------------------------------
# [keyring] holds the keyring's own fields; [<id>] an item (display-name, secret or binary-secret in hex);
# [<id>:attribute<n>] its attributes (name, type, value). The daemon writes `secret` raw and the other
# values with GKeyFile's escapes (\s \n \t \r \\).

KEYFILE_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def _textual_items(data: bytes, what: str) -> list[StoreItem]:
    groups = _key_file(data, what)
    if "keyring" not in groups:
        raise StoreDamaged(f"{what}: neither a binary keyring nor a textual one (no [keyring] group)")
    ids = sorted((g for g in groups if g.isdigit()), key=int)
    return [_textual_item(groups, item_id, what) for item_id in ids]


def _textual_item(groups: dict[str, dict[str, str]], item_id: str, what: str) -> StoreItem:
    fields = groups[item_id]
    attributes: dict[str, str] = {}
    n = 0
    while (group := groups.get(f"{item_id}:attribute{n}")) is not None:
        attributes[_unescape(group.get("name", ""), what)] = _unescape(group.get("value", ""), what)
        n += 1
    return StoreItem(
        label=_unescape(fields.get("display-name", ""), what),
        attributes=attributes,
        secret=_textual_secret(fields, what),
    )


def _textual_secret(fields: dict[str, str], what: str) -> bytes:
    if "binary-secret" in fields:
        try:
            return bytes.fromhex(fields["binary-secret"])
        except ValueError:
            raise StoreDamaged(f"{what}: a binary-secret that is not hexadecimal") from None
    return fields.get("secret", "").encode("utf-8")


def _key_file(data: bytes, what: str) -> dict[str, dict[str, str]]:
    """A GKeyFile's groups and raw values. Lines without `=` are skipped: only a secret holding a newline,
    which the daemon writes unescaped, leaves them (the daemon itself keeps that secret's first line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreDamaged(f"{what}: neither a binary keyring nor a textual one (not UTF-8 text)") from None
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.split("\n"):
        line = raw.rstrip("\r").lstrip()
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1], {})
        elif current is not None and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current[key.rstrip()] = value.lstrip()
    return groups


def _unescape(value: str, what: str) -> str:
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, "")
            if escaped not in KEYFILE_ESCAPES:
                raise StoreDamaged(f"{what}: an unknown escape in a textual keyring value")
            ch = KEYFILE_ESCAPES[escaped]
        out.append(ch)
    return "".join(out)
