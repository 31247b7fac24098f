"""The age envelope around a bundle: check, encrypt and decrypt age v1 files.

pyrage does the cryptography. Before pyrage sees a file, :func:`precheck`
parses the age header itself (de-armoring first when the file is ASCII-armored)
and refuses anything malformed, so a hostile file cannot make pyrage run scrypt
for minutes or reach parts of the header parser that accept sloppy input.

Only :func:`load_identities` touches the file system; everything else is pure.
Error messages are one line, say what to do, and never contain key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Union

import pyrage
from cryptography.hazmat.primitives import serialization

from ..errors import BundleAuthError, BundleError, InputError
from ..key_shapes import shown_path
from ..private_files import FileTooLarge, read_small
from .document import Document, encode

MAX_WORK_FACTOR = 22
"""Highest scrypt work factor (log2 N) a bundle may ask for: each step doubles CPU time and memory (23 needs 8 GiB)."""

MAX_IDENTITY_FILE = 1 << 20

MAX_STANZAS = 64
"""Most recipient stanzas a bundle header may hold: files made by people have a handful."""

MAX_STANZA_SIZE = 2048
"""Most bytes one stanza may take as written (its `->` line and body lines); ssh-rsa with a 8192-bit key fits."""

MAX_HEADER_SIZE = 16 << 10
"""Most bytes the whole header may take: pyrage's time grows with the square of its size (16 KiB: about 1 s)."""

_VERSION_LINE = b"age-encryption.org/v1"
_VERSION_PREFIX = b"age-encryption.org/"
_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOR_END = b"-----END AGE ENCRYPTED FILE-----"
_ARMOR_COLUMNS = 64
_BODY_COLUMNS = 64
_NONCE_SIZE = 16
_WRAPPED_KEY_SIZE = 32  # a 16-byte file key plus a 16-byte Poly1305 tag
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_CANONICAL_DECIMAL = re.compile(rb"[1-9][0-9]*")

# Curve25519 u-coordinates (mod p) of the points whose order divides 8, on the
# curve and its twist. X25519 with any clamped scalar maps them to zero, which
# the age spec forbids, so a share equal to one of them is a broken stanza.
_P25519 = 2**255 - 19
_LOW_ORDER_U = frozenset(
    {
        0,
        1,
        _P25519 - 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)

_NO_MATCH_MESSAGES = frozenset({"No matching keys found", "Decryption failed"})
_SSH_RECIPIENT_TYPES = ("ssh-ed25519", "ssh-rsa")

# pyrage's keys. pyrage ships no type information, so to mypy these are Any; the names say what is meant.
Identity = Union["pyrage.x25519.Identity", "pyrage.ssh.Identity"]
Recipient = Union["pyrage.x25519.Recipient", "pyrage.ssh.Recipient"]
AskPassphrase = Callable[[str], str]  # the passphrase of what the label names ("Passphrase for the SSH key ...")
_PEM_ENCRYPTED = re.compile(rb"^(-----BEGIN [A-Z ]*ENCRYPTED|Proc-Type: *4, *ENCRYPTED)", re.MULTILINE)
_KEY_TYPE_WORD = re.compile(r"(ssh|ecdsa|sk)-[A-Za-z0-9@.\-]{1,40}")


@dataclass(frozen=True)
class Header:
    """What the header of an age file says, read without any key."""

    armored: bool
    stanza_types: tuple[str, ...]
    scrypt_work_factor: int | None

    @property
    def passphrase_only(self) -> bool:
        """True when the file opens with a passphrase (a lone scrypt stanza)."""
        return self.scrypt_work_factor is not None


@dataclass(frozen=True)
class _Stanza:
    args: tuple[bytes, ...]
    body: bytes

    @property
    def type(self) -> str:
        return self.args[0].decode("ascii")


# --- errors -------------------------------------------------------------------------


def _damaged(what: str) -> BundleError:
    return BundleError(f"not a valid age bundle: {what}; check that this is the bundle file, or export it again")


# --- base64 ---------------------------------------------------------------------------


class _HeaderTooLarge(BundleError):
    """The header holds more or larger stanzas than a bundle ever needs."""


def _oversized(what: str) -> BundleError:
    return _HeaderTooLarge(
        f"bundle refused before decryption: {what} (at most {MAX_STANZAS} recipient stanzas of "
        f"{MAX_STANZA_SIZE} bytes each, {MAX_HEADER_SIZE // 1024} KiB in all); "
        "ask for one encrypted to fewer recipients"
    )


def _b64_unpadded(text: bytes, what: str) -> bytes:
    """Decode the canonical, unpadded base64 the age header uses."""
    if b"=" in text:
        raise _damaged(f"{what} has base64 padding, which age forbids")
    try:
        raw = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _damaged(f"{what} is not valid base64") from None
    if base64.b64encode(raw).rstrip(b"=") != text:
        raise _damaged(f"{what} is not canonical base64")
    return raw


def _b64_padded(text: bytes, what: str) -> bytes:
    """Decode the canonical, padded base64 of the ASCII armor."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _damaged(f"{what} is not valid base64") from None
    if base64.b64encode(raw) != text:
        raise _damaged(f"{what} is not canonical base64")
    return raw


# --- ASCII armor ----------------------------------------------------------------------


def _looks_armored(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----")


def _dearmor(data: bytes) -> bytes:
    """Strict PEM decoding: only whitespace around the block, LF or CRLF line ends."""
    lines = [line.removesuffix(b"\r") for line in data.strip().split(b"\n")]
    if lines[0] != _ARMOR_BEGIN:
        raise _damaged("the armor does not start with the line -----BEGIN AGE ENCRYPTED FILE-----")
    if len(lines) < 2 or lines[-1] != _ARMOR_END:
        raise _damaged("the armor has no -----END AGE ENCRYPTED FILE----- line (truncated?)")
    body = lines[1:-1]
    if not body:
        raise _damaged("the armor is empty")
    _check_armor_lines(body)
    return _b64_padded(b"".join(body), "the armor")


def _check_armor_lines(body: list[bytes]) -> None:
    for number, line in enumerate(body, start=2):
        if len(line) > _ARMOR_COLUMNS:
            raise _damaged(f"armor line {number} is longer than {_ARMOR_COLUMNS} columns")
        if number <= len(body) and len(line) != _ARMOR_COLUMNS:
            raise _damaged(f"armor line {number} is shorter than {_ARMOR_COLUMNS} columns but is not the last")
    if not body[-1]:
        raise _damaged("the last armor line is empty")


_ARMOR_PREFIX_LINES = MAX_HEADER_SIZE // 48 + 2  # armor lines that hold the largest allowed header


def _check_armored_header_size(data: bytes) -> None:
    """Refuse an oversized header from the first armor lines, before de-armoring a file of any size.

    Any other fault is left for the strict path, which then names it.
    """
    head = data[: (_ARMOR_PREFIX_LINES + 2) * (_ARMOR_COLUMNS + 2)].lstrip()
    full = []
    for line in head.split(b"\n")[1 : _ARMOR_PREFIX_LINES + 1]:
        line = line.removesuffix(b"\r")
        if len(line) != _ARMOR_COLUMNS:
            break
        full.append(line)
    text = b"".join(full)
    try:
        _parse_binary(base64.b64decode(text, validate=True))
    except _HeaderTooLarge:
        raise
    except (BundleError, binascii.Error, ValueError):
        return


# --- binary header --------------------------------------------------------------------


class _LineReader:
    """Reads LF-terminated header lines out of the first MAX_HEADER_SIZE bytes of an age file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def next(self, expected: str) -> bytes:
        end = self.data.find(b"\n", self.pos, MAX_HEADER_SIZE)
        if end < 0:
            if len(self.data) >= MAX_HEADER_SIZE:
                raise _oversized(f"its header is longer than {MAX_HEADER_SIZE // 1024} KiB")
            raise _damaged(f"the header ends before its {expected} (truncated?)")
        line = self.data[self.pos : end]
        self.pos = end + 1
        return line


def _check_version(line: bytes) -> None:
    if line != _VERSION_LINE:
        raise _damaged("the first line is not 'age-encryption.org/v1' (unsupported age version?)")


def _parse_args(line: bytes) -> tuple[bytes, ...]:
    args = tuple(line[3:].split(b" "))
    for arg in args:
        if not arg or any(byte < 0x21 or byte > 0x7E for byte in arg):
            raise _damaged("a stanza argument is empty or holds a character that is not printable ASCII")
    return args


def _read_body(lines: _LineReader, start: int) -> bytes:
    parts = []
    while True:
        line = lines.next("end of a stanza body")
        if lines.pos - start > MAX_STANZA_SIZE:
            raise _oversized(f"a recipient stanza is longer than {MAX_STANZA_SIZE} bytes")
        if line.startswith(b"-"):
            raise _damaged("a stanza body does not end with a short line")
        if not _B64_ALPHABET.issuperset(line):
            raise _damaged("a stanza body line holds a character that is not base64")
        if len(line) > _BODY_COLUMNS:
            raise _damaged(f"a stanza body line is longer than {_BODY_COLUMNS} columns")
        parts.append(line)
        if len(line) < _BODY_COLUMNS:
            return _b64_unpadded(b"".join(parts), "a stanza body")


def _check_mac_line(line: bytes) -> None:
    if not line.startswith(b"--- "):
        raise _damaged("the header MAC line must start with '--- '")
    if len(_b64_unpadded(line[4:], "the header MAC")) != 32:
        raise _damaged("the header MAC is not 32 bytes long")


def _parse_binary(data: bytes) -> list[_Stanza]:
    if not data.startswith(_VERSION_PREFIX):
        raise _damaged("it does not start with 'age-encryption.org/' or an armor BEGIN line")
    lines = _LineReader(data)
    _check_version(lines.next("version line"))
    stanzas: list[_Stanza] = []
    while True:
        line = lines.next("MAC line")
        if line.startswith(b"---"):
            _check_mac_line(line)
            break
        if not line.startswith(b"-> "):
            raise _damaged("a header line is neither a stanza ('-> ') nor the MAC line ('--- ')")
        if len(stanzas) == MAX_STANZAS:
            raise _oversized(f"the header has more than {MAX_STANZAS} recipient stanzas")
        start = lines.pos - len(line) - 1
        if len(line) >= MAX_STANZA_SIZE:
            raise _oversized(f"a recipient stanza is longer than {MAX_STANZA_SIZE} bytes")
        stanzas.append(_Stanza(_parse_args(line), _read_body(lines, start)))
    if not stanzas:
        raise _damaged("the header has no recipient stanza")
    if len(data) - lines.pos < _NONCE_SIZE:
        raise _damaged("the file ends right after its header (truncated?)")
    return stanzas


# --- stanzas this tool checks itself ---------------------------------------------------


def _check_wrapped_key(stanza: _Stanza) -> None:
    if len(stanza.body) != _WRAPPED_KEY_SIZE:
        raise _damaged(f"the {stanza.type} stanza body is not a wrapped 16-byte file key")


def _check_x25519(stanza: _Stanza) -> None:
    if len(stanza.args) != 2:
        raise _damaged("an X25519 stanza must have exactly one argument after its type")
    share = _b64_unpadded(stanza.args[1], "an X25519 share")
    if len(share) != 32:
        raise _damaged("an X25519 share is not 32 bytes long")
    u = int.from_bytes(share, "little") & ((1 << 255) - 1)
    if u % _P25519 in _LOW_ORDER_U:
        raise _damaged("an X25519 share is a low-order point")
    _check_wrapped_key(stanza)


def _work_factor(arg: bytes) -> int:
    if not _CANONICAL_DECIMAL.fullmatch(arg):
        raise _damaged("the scrypt work factor is not a plain decimal number")
    if len(arg) > 2 or int(arg) > MAX_WORK_FACTOR:
        shown = arg.decode() if len(arg) <= 6 else f"{arg[:3].decode()}... ({len(arg)} digits)"
        raise BundleError(
            f"the bundle asks for scrypt work factor {shown}, above the limit of {MAX_WORK_FACTOR}: "
            "refused to avoid minutes of CPU; re-export it with a normal passphrase setting"
        )
    return int(arg)


def _check_scrypt(stanza: _Stanza) -> int:
    if len(stanza.args) != 3:
        raise _damaged("an scrypt stanza must have a salt and a work factor")
    if len(_b64_unpadded(stanza.args[1], "the scrypt salt")) != 16:
        raise _damaged("the scrypt salt is not 16 bytes long")
    work_factor = _work_factor(stanza.args[2])
    _check_wrapped_key(stanza)
    return work_factor


def _scrypt_work_factor(stanzas: list[_Stanza]) -> int | None:
    """Check the stanzas this tool knows; return the scrypt work factor if any."""
    work_factor = None
    for stanza in stanzas:
        if stanza.type == "X25519":
            _check_x25519(stanza)
        elif stanza.type == "scrypt":
            work_factor = _check_scrypt(stanza)
    scrypt_count = sum(stanza.type == "scrypt" for stanza in stanzas)
    if scrypt_count > 1:
        raise _damaged("the header has more than one scrypt stanza")
    if scrypt_count and len(stanzas) > 1:
        raise _damaged("an scrypt stanza is mixed with other stanzas")
    return work_factor


# --- precheck ---------------------------------------------------------------------------


def _inspect(data: bytes) -> tuple[Header, bytes]:
    """Return the header and the binary (de-armored) age file, or raise BundleError."""
    if not data:
        raise _damaged("the file is empty")
    armored = _looks_armored(data)
    if not armored and _ARMOR_BEGIN in data[:4096]:
        raise _damaged("there is text before the armor's BEGIN line")
    if armored:
        _check_armored_header_size(data)
    binary = _dearmor(data) if armored else data
    stanzas = _parse_binary(binary)
    header = Header(
        armored=armored,
        stanza_types=tuple(stanza.type for stanza in stanzas),
        scrypt_work_factor=_scrypt_work_factor(stanzas),
    )
    return header, binary


def precheck(data: bytes) -> Header:
    """Parse and check an age file's header without any key; raise BundleError if it is unfit."""
    return _inspect(data)[0]


# --- recipients -----------------------------------------------------------------------------


def _describe_unsupported(value: str) -> str:
    """Name what a rejected recipient looks like, without echoing its content."""
    words = value.split(None, 1)
    first = words[0] if words else ""
    upper = value.upper()
    if upper.startswith("AGE-SECRET-KEY-") or upper.startswith("AGE-PLUGIN-") or "PRIVATE KEY" in upper:
        return "is a private key, not a public key; give its public key instead"
    if _KEY_TYPE_WORD.fullmatch(first):
        return f"is an unsupported key type ({first}); use an age1... key, ssh-ed25519 or ssh-rsa"
    return "is not a recipient; use an age1... public key or an ssh-ed25519 / ssh-rsa public key line"


def _parse_age_recipient(value: str, where: str) -> Recipient:
    hrp = value[: value.rfind("1")]
    if hrp.lower() != "age":
        shown = hrp[:24]
        raise InputError(
            f"{where}: {shown}1... recipients (plugins, post-quantum keys) are not supported; "
            "use an X25519 age1... key or an SSH key"
        )
    try:
        return pyrage.x25519.Recipient.from_str(value)
    except pyrage.RecipientError:
        raise InputError(f"{where}: not a valid age1... public key (bad length or checksum); copy it again") from None


def _parse_ssh_recipient(value: str, where: str) -> Recipient:
    try:
        return pyrage.ssh.Recipient.from_str(value)
    except pyrage.RecipientError:
        raise InputError(f"{where}: not a valid SSH public key line; copy the whole .pub line again") from None


def _parse_recipient(text: str, where: str) -> Recipient:
    value = text.strip()
    if value.lower().startswith("age1"):
        return _parse_age_recipient(value, where)
    if value.split(" ", 1)[0] in _SSH_RECIPIENT_TYPES:
        return _parse_ssh_recipient(value, where)
    raise InputError(f"{where} {_describe_unsupported(value)}")


def parse_recipients_file(text: str, source: str) -> list[str]:
    """Read recipients as ``age -R`` does: one a line, blank lines and ``#`` comments ignored."""
    recipients = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        _parse_recipient(value, f"{source}: line {number}")
        recipients.append(value)
    if not recipients:
        raise InputError(f"{source}: no recipients found; put one age1... or SSH public key on each line")
    return recipients


# --- identities ------------------------------------------------------------------------------


def _read_identity_file(path: str) -> bytes:
    try:
        return read_small(path, MAX_IDENTITY_FILE)
    except FileTooLarge:
        raise InputError(
            f"{shown_path(path)}: too large to be an identity file; give an age or SSH private key file"
        ) from None
    except OSError as exc:
        raise InputError(f"{shown_path(path)}: cannot read identity file ({exc.strerror})") from None


def _openssh_cipher(data: bytes) -> bytes | None:
    """The cipher name inside an OpenSSH private key, or None if it cannot be read."""
    lines = data.decode("ascii", "replace").strip().splitlines()
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    magic = b"openssh-key-v1\x00"
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return None
    size = int.from_bytes(blob[len(magic) : len(magic) + 4], "big")
    return blob[len(magic) + 4 : len(magic) + 4 + size]


def _ssh_key_is_encrypted(data: bytes) -> bool:
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return _openssh_cipher(data) not in (None, b"none")
    return _PEM_ENCRYPTED.search(data) is not None


def _unlock_ssh_key(data: bytes, source: str, ask: AskPassphrase | None) -> bytes:
    """The key decrypted in memory with the passphrase `ask(label)` returns (as age asks for it)."""
    if ask is None:
        raise InputError(
            f"{source}: this SSH private key is passphrase-protected and no terminal can ask for its passphrase; "
            "run on a terminal, decrypt a copy first (ssh-keygen -p -N '' -f COPY), or use a passphrase bundle"
        )
    try:
        key = serialization.load_ssh_private_key(data, ask(f"Passphrase for the SSH key {source}").encode())
    except ValueError:
        raise InputError(f"{source}: wrong passphrase for this SSH private key") from None
    except Exception as exc:  # an unsupported format or cipher, or no bcrypt (the OpenSSH key derivation)
        why = "the bcrypt package is missing: pip install bcrypt" if "bcrypt" in str(exc) else "unsupported key"
        raise InputError(
            f"{source}: this SSH private key cannot be unlocked here ({why}); decrypt a copy first"
        ) from None
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


def _ssh_identity(data: bytes, source: str, ask: AskPassphrase | None = None) -> Identity:
    if _ssh_key_is_encrypted(data):
        data = _unlock_ssh_key(data, source, ask)
    try:
        return pyrage.ssh.Identity.from_buffer(data)
    except pyrage.IdentityError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise InputError(
            f"{source}: not a usable SSH private key ({reason}); use an unencrypted ed25519 or RSA key"
        ) from None


def _age_identity(line: str, where: str) -> Identity:
    upper = line.upper()
    if upper.startswith("AGE-SECRET-KEY-PQ-") or upper.startswith("AGE-PLUGIN-"):
        raise InputError(
            f"{where}: plugin and post-quantum identities are not supported; use an X25519 AGE-SECRET-KEY-1... identity"
        )
    if not upper.startswith("AGE-SECRET-KEY-1"):
        raise InputError(f"{where}: {_describe_identity_line(line)}")
    try:
        return pyrage.x25519.Identity.from_str(line)
    except pyrage.IdentityError:
        raise InputError(f"{where}: not a valid AGE-SECRET-KEY-1... identity (bad length or checksum)") from None


def _describe_identity_line(line: str) -> str:
    if line.lower().startswith("age1") or line.split(" ", 1)[0] in _SSH_RECIPIENT_TYPES:
        return "this is a public key; give the matching private key (identity) file"
    return "not an age identity; expected AGE-SECRET-KEY-1... lines or an SSH private key"


def _age_identities(text: str, source: str) -> list[Identity]:
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if value and not value.startswith("#"):
            identities.append(_age_identity(value, f"{source}: line {number}"))
    if not identities:
        raise InputError(f"{source}: no identities found; give a file made by age-keygen or an SSH private key")
    return identities


def parse_identities(data: bytes | str, source: str, ask: AskPassphrase | None = None) -> list[Identity]:
    """Parse an age identity file or an unencrypted OpenSSH private key into pyrage identities."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    head = data.lstrip()
    if head.startswith(_VERSION_PREFIX) or head.startswith(_ARMOR_BEGIN):
        raise InputError(f"{source}: this identity file is itself age-encrypted; decrypt it with age first")
    if head.startswith(b"-----BEGIN"):
        return [_ssh_identity(data, source, ask)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not a text file; give an age identity file or an SSH private key") from None
    return _age_identities(text, source)


def load_identities(path: str, ask: AskPassphrase | None = None) -> list[Identity]:
    """Read an age identity file or an OpenSSH private key (ed25519 or RSA); `ask(label)` gives the passphrase
    of a protected SSH key (None: refuse it)."""
    return parse_identities(_read_identity_file(path), shown_path(path), ask)


def generate_identity() -> tuple[str, str]:
    """Make a new X25519 identity: (AGE-SECRET-KEY-1... secret, age1... public recipient)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


# --- encrypt ---------------------------------------------------------------------------------


def encrypt(
    plaintext: bytes,
    *,
    passphrase: str | None = None,
    recipients: Sequence[str] = (),
    armor: bool = False,
) -> bytes:
    """Encrypt to a passphrase or to recipients (age1... keys, SSH public key lines), never both."""
    if isinstance(recipients, str):
        raise TypeError("recipients must be a sequence of strings, not one string")
    if (passphrase is None) == (not recipients):
        raise InputError("give either a passphrase or at least one recipient, not both and not neither")
    if passphrase is not None:
        if not passphrase:
            raise InputError("the passphrase is empty; choose a real passphrase")
        sealed: bytes = pyrage.passphrase.encrypt(plaintext, passphrase, armored=armor)
    else:
        parsed = [_parse_recipient(value, f"recipient {n}") for n, value in enumerate(recipients, start=1)]
        sealed = pyrage.encrypt(plaintext, parsed, armored=armor)
    precheck(sealed)  # what we write must pass our own reader, work factor included
    return sealed


# --- decrypt ---------------------------------------------------------------------------------


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_no_match(exc: Exception) -> bool:
    return _first_line(exc) in _NO_MATCH_MESSAGES


def _damaged_by(exc: Exception) -> BundleError:
    reason = _first_line(exc)
    if reason.startswith("Excessive work"):
        return BundleError(
            "pyrage refuses this bundle's scrypt work factor as too slow for this machine; "
            "re-export it on the source machine, or with -r RECIPIENT instead of a passphrase"
        )
    if reason == "Header MAC is invalid":
        return BundleError(
            "the bundle's header MAC does not verify: the file was modified or damaged; get a fresh copy"
        )
    return BundleError(f"the bundle is damaged or truncated ({reason}); get a fresh copy or export it again")


def _open_with_passphrases(binary: bytes, passphrases: Sequence[str]) -> bytes:
    if not passphrases:
        raise BundleAuthError("this bundle is sealed with a passphrase, not to a recipient key: give its passphrase")
    for passphrase in passphrases:
        try:
            plain: bytes = pyrage.passphrase.decrypt(binary, passphrase)
            return plain
        except pyrage.DecryptError as exc:
            if not _is_no_match(exc):
                raise _damaged_by(exc) from None
    raise BundleAuthError("wrong passphrase: no passphrase given opens this bundle; check it and try again")


def _open_with_identities(binary: bytes, identities: Sequence[Identity], header: Header) -> bytes:
    kinds = ", ".join(dict.fromkeys(header.stanza_types))
    if not identities:
        raise BundleAuthError(
            f"this bundle is encrypted to recipient keys ({kinds}), not to a passphrase: give a matching identity file"
        )
    try:
        plain: bytes = pyrage.decrypt(binary, list(identities))
        return plain
    except pyrage.DecryptError as exc:
        if _is_no_match(exc):
            raise BundleAuthError(
                f"no identity given matches this bundle's recipients ({kinds}); "
                "use the private key of a recipient it was encrypted to"
            ) from None
        raise _damaged_by(exc) from None


def decrypt(data: bytes, *, passphrases: Sequence[str] = (), identities: Sequence[Identity] = ()) -> bytes:
    """Check the header, then open the file with the passphrases or identities it needs."""
    if isinstance(passphrases, str):
        raise TypeError("passphrases must be a sequence of strings, not one string")
    header, binary = _inspect(data)
    if header.passphrase_only:
        return _open_with_passphrases(binary, passphrases)
    return _open_with_identities(binary, identities, header)


def seal(doc: Document, *, passphrase: str | None, recipients: Sequence[str] = (), armor: bool = False) -> bytes:
    """A bundle document encrypted into an age file (to a passphrase or to recipients)."""
    return encrypt(encode(doc), passphrase=passphrase, recipients=list(recipients), armor=armor)
