"""Provider key formats: does a value look like what its provider issues? Pure."""

from __future__ import annotations

import os
import re

from .console import is_unsafe
from .key_table import SHAPES, credential_of, fields, find_secrets, has_a_key_shape, looks_like_secret
from .providers import registry

OK, UNEXPECTED, UNKNOWN = "ok", "unexpected", "unknown"

# Built from the one table of key shapes (cursor_byok/key_table.py).
_COMPILED = tuple((shape, re.compile(shape.regex)) for shape in SHAPES)

_SAID_LETTER_BY_LETTER = re.compile(r"[A-Za-z][A-Z]")  # xAI, AWS, SSH, URL, PEM
_LETTERS_SAID_WITH_A_VOWEL = set("AEFHILMNORSX")  # ay, ee, ef, aitch, eye, el, em, en, oh, ar, es, ex


def article(name: str) -> str:
    """The name with the article that fits how it is said: 'an Anthropic', 'a Google', 'an xAI', 'a URL'."""
    if _SAID_LETTER_BY_LETTER.match(name):
        vowel = name[0].upper() in _LETTERS_SAID_WITH_A_VOWEL
    else:
        vowel = name[:1].lower() in "aeiou" and not name.lower().startswith(("uni", "use", "usa"))
    return f"{'an' if vowel else 'a'} {name}"


PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    field: tuple(p for shape, p in _COMPILED if shape.field == field) for field in fields()
}
# Other vendors' keys that are fine in the OpenAI slot when a base URL is set.
COMPATIBLE = tuple(p for shape, p in _COMPILED if shape.field is None)
PLACEHOLDER = re.compile(
    r"(your|my|insert|paste|replace|change)[-_ ]?(api[-_ ]?)?key|xxxx|\.\.\.|<.*>"
    r"|^(test|dummy|placeholder|todo|none|null|undefined|changeme)$",
    re.IGNORECASE,
)


BROKEN = "broken"  # list's format of a key that holds whitespace or a control character: no request can carry it


def unsendable(value: str) -> bool:
    """True when a key holds whitespace or a control, bidi or other format character (a line break pasted with
    it): no HTTP header can carry it, and Cursor's requests with it fail. Checked before any request is built."""
    return any(c.isspace() or is_unsafe(c) for c in value)


def check_format(field: str, value: str, base_url: str | None = None) -> str:
    """OK when the value matches its provider's published pattern, UNEXPECTED when not.

    UNKNOWN for fields with no published pattern (session tokens, extra keys),
    and for a key of the OpenAI-compatible provider when its base URL points at another server.
    """
    patterns = PATTERNS.get(field)
    if patterns is None:
        return UNKNOWN
    if any(p.fullmatch(value) for p in patterns):
        return OK
    if base_url and takes_any_key(field):
        return UNKNOWN
    return UNEXPECTED


def takes_any_key(field: str) -> bool:
    """True for the key of the provider whose base URL may point at any OpenAI-compatible server."""
    compatible = registry().compatible
    return compatible is not None and field in compatible.key_fields


def looks_placeholder(value: str) -> bool:
    """True for values like 'your-api-key', 'sk-xxxx', '<KEY>', 'test'."""
    return bool(PLACEHOLDER.search(value)) or len(set(value)) <= 2


def looks_truncated(field: str, value: str) -> bool:
    """True when the value starts like its provider's keys but is too short."""
    slot = registry().key_slots.get(field)
    prefix = slot.starts if slot else ""
    return bool(prefix and value.startswith(prefix) and check_format(field, value) != OK and len(value) < 40)


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
NOT_SHOWN = "(the value given is not shown: it may be a secret given by mistake)"
SECRET_NOT_SHOWN = "(a key, not shown)"


def shown_env_name(text: str) -> str:
    """`$NAME` for an error message, or a stand-in when `text` is not a variable name.

    `--key-env "$OPENAI_API_KEY"` is an easy slip: the message must not repeat the key.
    """
    return f"${text}" if ENV_NAME.fullmatch(text) and not holds_a_key(text) else NOT_SHOWN


def holds_a_key(text: str) -> bool:
    """True when `text` as a whole has the shape of any key, generic ones included (a 32-hex or 84-character
    Azure key, a 40-character AWS secret, `sk-` and hex), or is another kind of credential: for what is never a
    key (a variable's name, a model or deployment name) and for words a message would quote back."""
    return has_a_key_shape(text) or credential_of(text) is not None


def shown_path(text: str | os.PathLike[str], *, opened: bool = False) -> str:
    """The one rule for showing a path the user gave (an option, an argument, a library parameter) in a
    message or a document: the path as given, or NOT_SHOWN when it may be a secret pasted by mistake.

    Not shown: a path any part of which is a key or another credential (an age identity, a token), whose last
    part has the shape of even a generic key (32 hex digits, 40 base64 characters), or a bare word that is
    no file name (a passphrase: no folder, and spaces or no dot), unless `opened`: a file by that name was read.
    """
    text = os.fspath(text)
    if secret_in_path(text):
        return NOT_SHOWN
    if opened:
        return text
    in_a_folder = any(c in text for c in "/\\") or text.startswith("~")
    if not in_a_folder and (any(c.isspace() for c in text) or "." not in text):
        return NOT_SHOWN
    return text


def secret_in_path(text: str | os.PathLike[str]) -> bool:
    """True when a part of the path is a key or another credential, or its last part has the shape of even a
    generic key (32 hex digits, 40 base64 characters): a secret pasted where a path goes."""
    text = os.fspath(text)
    parts = [p for p in re.split(r"[/\\]", text) if p]
    if any(looks_like_secret(p) for p in parts) or find_secrets(text):
        return True
    return bool(parts) and has_a_key_shape(parts[-1])


def without_secrets(text: str) -> str:
    """`text` with every key or credential in it replaced by a stand-in: the last guard of error lines."""
    spans = find_secrets(text)
    for start, end in reversed(spans):
        text = text[:start] + SECRET_NOT_SHOWN + text[end:]
    return text


_WORD = re.compile(r"[^\s'\"()\[\]{},;]+")


def without_key_words(text: str) -> str:
    """`text` (after without_secrets) with every word that is a key of any shape (holds_a_key), or whose value
    after `=` is one, replaced by a stand-in: for messages that quote back what was typed (click's usage
    errors), where a generic key's shape is never anything but a key pasted in the wrong place."""

    def word(match: re.Match[str]) -> str:
        found = match.group()
        forms = (found, found.rstrip(".:!?"), found.partition("=")[2])
        return SECRET_NOT_SHOWN if any(f and holds_a_key(f) for f in forms) else found

    return _WORD.sub(word, without_secrets(text))


# Credentials of other kinds that are never one key: a line of another tool's credentials file, a PEM block.
# A key source that hands one over is refused whatever the options; each is matched at a line start.
OTHER_CREDENTIALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a URL with a user name and password (a ~/.git-credentials line)",
        re.compile(r"(?m)^\s*[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]*@"),
    ),
    ("a PEM block (a private key or certificate)", re.compile(r"-----BEGIN [A-Z0-9 ]*-----")),
    (
        "a .pgpass line (host:port:database:user:password)",
        re.compile(r"(?m)^\s*[^:\s#]+:(?:\d+|\*):[^:\s]+:[^:\s]+:\S"),
    ),
    ("an .npmrc line", re.compile(r"(?m)^\s*(?://\S*:)?_(?:authToken|auth|password)\s*=")),
    (
        "an AWS credentials file line",
        re.compile(r"(?im)^\s*aws_(?:secret_access_key|access_key_id|session_token)\s*="),
    ),
    ("a .env line (NAME=value)", re.compile(r"(?m)^\s*(?:export\s+)?[A-Z][A-Z0-9]*_[A-Z0-9_]*\s*=\s*\S")),
    ("a .netrc line", re.compile(r"(?m)^\s*(?:machine\s+\S+\s+)?login\s+\S+\s+password\s")),
)


def other_credential(value: str) -> str | None:
    """What kind of credentials line `value` holds ("a PEM block...", "a .pgpass line..."), or None: never a key."""
    for kind, pattern in OTHER_CREDENTIALS:
        if pattern.search(value):
            return kind
    return None


def credential_kind(value: str) -> str | None:
    """What other kind of credential `value` looks like ("a HashiCorp Vault token", "an npm token", "a GitHub
    token"...), or None. A key source that hands one over is refused unless forced: some work as a key of an
    OpenAI-compatible server (a Hugging Face token at its router, say)."""
    found = credential_of(value.strip())
    return found.kind if found else None
