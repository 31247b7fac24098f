"""Plain data: providers, secrets, profiles and field changes. No I/O."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .key_table import mask_prefixes

PROVIDERS = ("openai", "anthropic", "google", "azure", "bedrock")
MIN_PASSPHRASE = 10  # characters: a bundle's passphrase is all that protects the keys in it
PROVIDER_ALIASES = {"claude": "anthropic", "gemini": "google", "aws": "bedrock", "azure-openai": "azure"}


def provider_named(text: str, choices: tuple[str, ...] = PROVIDERS) -> str:
    """A provider's name from what a user typed: any letter case, common aliases (claude, gemini, aws,
    azure-openai). Raises ValueError with a 'did you mean' when it is none of `choices`."""
    import difflib

    name = str(text).strip().lower()
    name = PROVIDER_ALIASES.get(name, name)
    if name in choices:
        return name
    known = [*choices, *(a for a, p in PROVIDER_ALIASES.items() if p in choices)]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {PROVIDER_ALIASES.get(close[0], close[0])!r}?" if close else ""
    raise ValueError(f"unknown provider {text!r}{hint} (choose from {', '.join(choices)})")


# Storage labels, as shown in `list --json` under "storage".
PLAINTEXT = "plaintext"
SETTINGS_JSON = "settings-json"
UNDECRYPTABLE = "undecryptable"
BUNDLE = "bundle"

# Vendor prefixes shown in a masked key, longest first (from the one table of key shapes).
VENDOR_PREFIXES = mask_prefixes()


def fingerprint(value: str) -> str:
    """First 12 hex digits of the SHA-256 of a key: equal keys, equal prints."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def mask(value: str) -> str:
    """The vendor prefix and the last 4 characters, never more.

    A key too short to hide most of its body shows its prefix only.
    """
    prefix = next((p for p in VENDOR_PREFIXES if value.startswith(p)), "")
    body = len(value) - len(prefix)
    if body < 16:
        return (prefix or "") + "…"
    return f"{prefix}…{value[-4:]}"


class Secret:
    """A key value whose repr and str never show it; `reveal()` does."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._value)

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r}, fp={self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self.fingerprint))

    def __reduce__(self):  # pickling would write the key somewhere unplanned
        raise TypeError("Secret cannot be pickled")


@dataclass(frozen=True)
class StoredKey:
    """A key as found in a database or bundle, with how it was protected.

    `secret` is None when the value could not be decrypted; `reason` says why.
    `row` names where it lives: a row key, or `<blob row>#azureState.apiKey`.
    """

    secret: Secret | None
    storage: str
    row: str
    reason: str | None = None

    @property
    def readable(self) -> bool:
        return self.secret is not None


# Field names used by profiles, plans and bundles. A field's value is:
#   *.key / *_key / extra.*  -> StoredKey (in a Profile) or Secret (wanted)
#   *.enabled                -> bool
#   *.base_url, ...          -> str | None
#   models.user_added/enabled/disabled -> tuple[str, ...]
#   models.selected.<surface> -> str
KEY_FIELDS = (
    "openai.key",
    "anthropic.key",
    "google.key",
    "azure.key",
    "bedrock.access_key",
    "bedrock.secret_key",
    "bedrock.session_token",
)
SETTING_FIELDS = (
    "openai.enabled",
    "openai.base_url",
    "anthropic.enabled",
    "google.enabled",
    "azure.enabled",
    "azure.base_url",
    "azure.deployment",
    "bedrock.enabled",
    "bedrock.region",
)
# How each provider's fields are named in `list --json` and in bundles:
# provider -> {json name: field name}.
PROVIDER_LAYOUT: dict[str, dict[str, str]] = {
    "openai": {"enabled": "openai.enabled", "base_url": "openai.base_url", "key": "openai.key"},
    "anthropic": {"enabled": "anthropic.enabled", "key": "anthropic.key"},
    "google": {"enabled": "google.enabled", "key": "google.key"},
    "azure": {
        "enabled": "azure.enabled",
        "base_url": "azure.base_url",
        "deployment": "azure.deployment",
        "key": "azure.key",
    },
    "bedrock": {
        "enabled": "bedrock.enabled",
        "region": "bedrock.region",
        "access_key": "bedrock.access_key",
        "secret_key": "bedrock.secret_key",
        "session_token": "bedrock.session_token",
    },
}
KEY_NAMES = ("key", "access_key", "secret_key", "session_token")
SETTABLE_KEY_NAMES = ("key", "access_key", "secret_key")  # a session token is not set by hand
MODEL_LIST_FIELDS = ("models.user_added", "models.enabled", "models.disabled")
EXTRA_PREFIX = "extra."
SELECTED_PREFIX = "models.selected."


def provider_of(field_name: str) -> str:
    """The provider a field belongs to ("models" and "extra" are their own)."""
    return field_name.split(".", 1)[0]


def is_key_field(field_name: str) -> bool:
    return field_name in KEY_FIELDS or field_name.startswith(EXTRA_PREFIX)


@dataclass(frozen=True)
class Profile:
    """Every BYOK setting of one Cursor database (or one bundle).

    `fields` maps field names (see above) to values; a field that is absent
    is "not set". `notes` are things worth telling the user about the read
    (malformed JSON, undecryptable rows, ...). `bedrock_iam` is True when
    Bedrock uses a team IAM role instead of keys.
    """

    fields: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    bedrock_iam: bool = False
    key_form: str = "plaintext"  # "secret" when the db has secret://cursorAuth rows
    cursor_version: str | None = None  # the version Cursor recorded in the database, if any

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def keys(self) -> dict[str, StoredKey]:
        return {n: v for n, v in self.fields.items() if is_key_field(n)}


# A plan's verdict on one field. "kept": a different value is stored and the conflict policy kept it
# (drift that is reported, not written); "conflict": the policy was "fail", so nothing is written.
Action = Literal["add", "replace", "remove", "unchanged", "conflict", "kept"]
WRITING_ACTIONS: tuple[Action, ...] = ("add", "replace", "remove")
# What happens when a different value is already stored (changes.diff.settle decides, in one place).
ConflictPolicy = Literal["fail", "keep", "replace"]
# How model lists from elsewhere combine with the stored ones.
ModelsPolicy = Literal["union", "replace", "keep"]
# How new keys are written: encrypted secret:// rows, legacy plain rows, or as this Cursor reads them.
KeyStorage = Literal["auto", "secret", "plaintext"]


@dataclass(frozen=True)
class Change:
    """One field of a plan: what is there, what is wanted, and the verdict (an Action).

    Values are Secret for keys, so a plan can be printed safely.
    """

    field: str
    action: Action
    old: Any = None
    new: Any = None
    note: str | None = None
    # Where the change would send prompts, code and keys that did not go there before (a new host, deployment
    # or region), in words: such a change is decided on its own, never by a blanket "replace".
    sends: str | None = None
    allow: str | None = None  # the name --allow-endpoint takes to accept such a change (its host, or a region)


@dataclass(frozen=True)
class Plan:
    """The changes that would turn the current profile into the wanted one."""

    changes: tuple[Change, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def effective(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action in WRITING_ACTIONS)

    @property
    def conflicts(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == "conflict")


# json name -> field name of the model lists, in `list --json` and bundles.
MODEL_LAYOUT = {"user_added": "models.user_added", "enabled": "models.enabled", "disabled": "models.disabled"}


def models_document(fields: Mapping[str, Any]) -> dict:
    """The `models` object of `list --json` and of bundles: lists and per-surface selections."""
    out: dict[str, Any] = {name: list(fields.get(field, ())) for name, field in MODEL_LAYOUT.items()}
    out["selected"] = {k[len(SELECTED_PREFIX) :]: v for k, v in sorted(fields.items()) if k.startswith(SELECTED_PREFIX)}
    return out
