"""The one table of provider key shapes, and the views derived from it. Pure, imports nothing of ours.

Three things read it: `key_shapes` (does a field's value look like its
provider's key), `model.mask` (which vendor prefix a masked key keeps) and
`checks.audit` (which key shapes to look for in raw bytes, and where a match
ends: `trim_scanned`). A shape added or changed here changes all three at
once; tests/test_key_table.py holds a made-up example of every shape and
checks that the three views agree on it. A shape's field is a key slot of the
provider registry (cursor_byok.providers, which reads the vendor titles here);
tests/test_providers.py checks that too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_B64URL = "[A-Za-z0-9_-]"
_ALNUM = "[A-Za-z0-9]"
_OPENAI_MARK = "T3BlbkFJ"  # base64 of "OpenAI", in the middle of every OpenAI key


@dataclass(frozen=True)
class Shape:
    """One kind of key: who issues it, where it belongs, what it looks like."""

    name: str
    vendor: str  # who issues it; for a provider field, the field's provider
    field: str | None  # the provider field it belongs in; None: another vendor's key, fine in the OpenAI slot
    regex: str  # the whole key (matched with fullmatch; the byte scan adds its own borders)
    prefix: str  # its literal start, kept in a masked key; "" when it has none
    distinct: bool = True  # specific enough to name its vendor and to search raw bytes for
    ends: str = ""  # byte scan: a character class that may not follow the match (variable-length shapes)
    mark: str = ""  # a fixed middle the body is symmetric around: the byte scan trims what a greedy match took past it


SHAPES: tuple[Shape, ...] = (
    Shape("openai-project", "openai", "openai.key", rf"sk-proj-{_B64URL}{{20,}}?T3BlbkFJ{_B64URL}{{20,}}", "sk-proj-",
          mark=_OPENAI_MARK),
    Shape("openai-service-account", "openai", "openai.key",
          rf"sk-svcacct-{_B64URL}{{20,}}?T3BlbkFJ{_B64URL}{{20,}}", "sk-svcacct-", mark=_OPENAI_MARK),
    Shape("openai-admin", "openai", "openai.key", rf"sk-admin-{_B64URL}{{20,}}?T3BlbkFJ{_B64URL}{{20,}}", "sk-admin-",
          mark=_OPENAI_MARK),
    Shape("openai-legacy", "openai", "openai.key", rf"sk-{_ALNUM}{{20}}T3BlbkFJ{_ALNUM}{{20}}", "sk-",
          mark=_OPENAI_MARK),
    Shape("anthropic", "anthropic", "anthropic.key", rf"sk-ant-api03-{_B64URL}{{93}}AA", "sk-ant-api03-"),
    Shape("google", "google", "google.key", rf"AIza{_B64URL}{{35}}", "AIza"),
    Shape("azure-hex", "azure", "azure.key", r"[0-9a-fA-F]{32}", "", distinct=False),
    Shape("azure-84", "azure", "azure.key", rf"{_ALNUM}{{84}}", "", distinct=False),
    Shape("aws-access-key", "bedrock", "bedrock.access_key", r"AKIA[A-Z2-7]{16}", "AKIA"),
    Shape("aws-temporary-key", "bedrock", "bedrock.access_key", r"ASIA[A-Z2-7]{16}", "ASIA"),
    # A long-term Bedrock API key is "ABSK" + base64("BedrockAPIKey-<id>-at-<account>:<secret>"): the fixed
    # parts alone take 44 base64 characters, so 40 is a floor no real key goes under.
    Shape("bedrock-api-key", "bedrock", "bedrock.access_key", r"ABSK[A-Za-z0-9+/=]{40,}", "ABSK",
          ends="A-Za-z0-9+/="),
    Shape("aws-secret-key", "bedrock", "bedrock.secret_key", r"[A-Za-z0-9/+]{40}", "", distinct=False),
    Shape("openrouter", "openrouter", None, r"sk-or-v1-[0-9a-f]{64}", "sk-or-v1-"),
    Shape("xai", "xai", None, rf"xai-{_ALNUM}{{40,}}", "xai-", ends="A-Za-z0-9"),
    Shape("groq", "groq", None, rf"gsk_{_ALNUM}{{40,}}", "gsk_", ends="A-Za-z0-9"),
    Shape("sk-other", "other", None, rf"sk-{_ALNUM}{{20,}}", "sk-", distinct=False),
)  # fmt: skip


@dataclass(frozen=True)
class Credential:
    """A secret that is never a provider API key: another tool's token, or an age identity.

    A key source that hands one over is refused unless forced (`key_shapes.credential_kind`), and a path,
    a name or a message that holds a distinct one is never shown (`looks_like_secret`, `find_secrets`).
    """

    name: str
    kind: str  # what it looks like, for messages: "a HashiCorp Vault token"
    regex: str  # the whole value (matched with fullmatch)
    distinct: bool = True  # specific enough to spot inside a path, a name or a message


CREDENTIALS: tuple[Credential, ...] = (
    Credential("age-identity", "an age identity (a private key)", r"AGE-SECRET-KEY-[0-9A-Za-z-]{10,}"),
    Credential("age-plugin-identity", "an age plugin identity (a private key)", r"AGE-PLUGIN-[0-9A-Za-z-]{10,}"),
    Credential("github", "a GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    Credential("slack", "a Slack token", r"xox[abeoprs]-[A-Za-z0-9-]{10,}"),
    Credential("vault", "a HashiCorp Vault token", r"hv[sbr]\.[A-Za-z0-9_-]{20,}"),
    Credential("npm", "an npm token", r"npm_[A-Za-z0-9]{36}"),
    Credential("gitlab", "a GitLab token", r"gl(?:pat|dt|rt|ptt|ft|soat|cbt|imt)-[A-Za-z0-9_-]{20,}"),
    Credential("digitalocean", "a DigitalOcean token", r"do[opr]_v1_[a-f0-9]{64}"),
    Credential("huggingface", "a Hugging Face token", r"hf_[A-Za-z0-9]{30,}"),
    Credential("stripe", "a Stripe secret key", r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    # 40 characters of base64 with a '/' or '+' in them: an AWS secret access key (one without either, about a
    # quarter of them, cannot be told from other vendors' 40-character keys, Cohere's among them).
    Credential("aws-secret", "an AWS secret access key", r"(?=[A-Za-z0-9]*[/+])[A-Za-z0-9/+]{40}", distinct=False),
)

# Human names of the vendors whose keys are not a provider slot's (the providers' own: cursor_byok.providers).
VENDOR_TITLES = {"openrouter": "OpenRouter", "xai": "xAI", "groq": "Groq"}

# Prefixes of key kinds whose exact shape is not checked (Anthropic admin keys, OAuth
# tokens...): a masked key still keeps them, so it still names its vendor.
FAMILY_PREFIXES = ("sk-ant-",)


def fields() -> tuple[str, ...]:
    """The provider fields that have shapes, in table order."""
    return tuple(dict.fromkeys(s.field for s in SHAPES if s.field))


def vendor_title(vendor: str) -> str:
    return VENDOR_TITLES.get(vendor, vendor)


def trim_scanned(vendor: str, value: str) -> str:
    """A byte-scan match of `vendor` without what a greedy match took past the key's end.

    Keys with a mark are symmetric around it (OpenAI's): the tail is cut to the head's length.
    """
    mark = next((s.mark for s in SHAPES if s.vendor == vendor and s.mark and s.mark in value), "")
    if not mark:
        return value
    head, _, tail = value.partition(mark)
    body_head = head.split("-", 2)[-1] if head.count("-") >= 2 else head[3:]
    return head + mark + tail[: len(body_head)] if len(tail) > len(body_head) else value


def mask_prefixes() -> tuple[str, ...]:
    """Every literal start a masked key may keep, longest first (the first that fits wins)."""
    found = {s.prefix for s in SHAPES if s.prefix} | set(FAMILY_PREFIXES)
    return tuple(sorted(found, key=lambda p: (-len(p), p)))


def scan_alternatives() -> dict[str, str]:
    """vendor -> the alternation of its distinct shapes, each with its end guard, for the byte scan."""
    out: dict[str, list[str]] = {}
    for s in SHAPES:
        if s.distinct:
            out.setdefault(s.vendor, []).append(s.regex + (f"(?![{s.ends}])" if s.ends else ""))
    return {vendor: "|".join(parts) for vendor, parts in out.items()}


def scan_literals() -> tuple[str, ...]:
    """The fewest literal starts that begin every distinct shape (a shorter start covers longer ones)."""
    starts = sorted(dict.fromkeys(s.prefix for s in SHAPES if s.distinct), key=len)
    kept: list[str] = []
    for start in starts:
        if not start.startswith(tuple(kept)):
            kept.append(start)
    return tuple(kept)


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[Shape, re.Pattern[str]], ...]:
    return tuple((shape, re.compile(shape.regex)) for shape in SHAPES)


def known_vendor(value: str) -> str | None:
    """Which provider a key's shape points at, if any (for 'wrong slot' hints)."""
    for shape, pattern in _compiled():
        if shape.field and shape.distinct and pattern.fullmatch(value):
            return shape.vendor  # Azure keys and AWS secret keys are too generic to name a vendor
    return None


def looks_like_key(text: str) -> bool:
    """True when `text` has the shape of a provider key (OpenAI, Anthropic, Google, AWS, OpenRouter...)."""
    return known_vendor(text) is not None or any(p.fullmatch(text) for s, p in _compiled() if s.field is None)


def has_a_key_shape(text: str) -> bool:
    """True when `text` has the shape of any key in the table, generic ones included (a 32-hex Azure key,
    a 40-character AWS secret): for values that must never be keys, such as names and regions."""
    return any(p.fullmatch(text) for _, p in _compiled())


@lru_cache(maxsize=1)
def _credentials() -> tuple[tuple[Credential, re.Pattern[str]], ...]:
    return tuple((c, re.compile(c.regex)) for c in CREDENTIALS)


def credential_of(text: str) -> Credential | None:
    """The other kind of credential `text` is (a Vault token, an npm token, an age identity...), or None."""
    return next((c for c, p in _credentials() if p.fullmatch(text)), None)


def looks_like_secret(text: str) -> bool:
    """A provider key (`looks_like_key`) or a distinct credential of another kind: never to be echoed."""
    found = credential_of(text)
    return looks_like_key(text) or (found is not None and found.distinct)


_KEY_CHAR = "A-Za-z0-9_-"


@lru_cache(maxsize=1)
def _in_text() -> re.Pattern[str]:
    """Every distinct key shape and credential, anywhere in a text, not glued to a longer word."""
    shapes = [s.regex for s in SHAPES if s.distinct] + [c.regex for c in CREDENTIALS if c.distinct]
    return re.compile(rf"(?<![{_KEY_CHAR}])(?:" + "|".join(f"(?:{r})" for r in shapes) + rf")(?![{_KEY_CHAR}])")


def find_secrets(text: str) -> list[tuple[int, int]]:
    """(start, end) of every distinct key or credential inside `text` (a message, a path, a command)."""
    return [m.span() for m in _in_text().finditer(text)]
