"""Plain data: secrets, profiles and field changes. No I/O.

The providers and their fields are the registry's (cursor_byok.providers: `registry().names`, `.key_fields`,
`.layout`, ...), read when asked for, never copied here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Mapping, NoReturn

from .key_table import mask_prefixes
from .providers import registry

MIN_PASSPHRASE = 10  # characters: a bundle's passphrase is all that protects the keys in it


class KeyForm(str, Enum):
    """How a key is kept, or read, by Cursor: the one spelling of each form (its value is what documents show).

    SECRET: encrypted `secret://cursorAuth/<row>` rows (the form a Cursor version reads or writes).
    ENCRYPTED: the same rows, as a stored key's protection is named (plans, `source.key_protection` in bundles).
    PLAINTEXT: plain `cursorAuth/<row>` rows (Cursor 2.1 and older); also a stored key's storage label.
    SETTINGS_JSON: plain text inside the settings blob (Azure and Bedrock keys on 2.x).
    UNSURE: a Cursor version whose form is not known (2.2, or none recorded): the rows decide.

    versions.py says which form each Cursor version reads and which cursor-byok writes.
    """

    SECRET = "secret"
    ENCRYPTED = "encrypted"
    PLAINTEXT = "plaintext"
    SETTINGS_JSON = "settings-json"
    UNSURE = "unsure"

    def __str__(self) -> str:  # f-strings show the value, as documents do
        return self.value


# Storage labels, as shown in `list --json` under "storage" (the others are backend names).
PLAINTEXT = KeyForm.PLAINTEXT
SETTINGS_JSON = KeyForm.SETTINGS_JSON
UNDECRYPTABLE = "undecryptable"
# A `secret://cursorAuth/` row holding the key in clear (not Buffer JSON with a v10/v11 prefix): other tools
# write keys so. Cursor cannot decrypt it and deletes the row at start; its value is read, to re-encrypt it.
RAW = "raw"
RAW_WORDS = "written by another tool in a form Cursor cannot read; Cursor deletes it at start"
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
    tail = value[-4:]
    if body < 16 or any(c.isspace() or not c.isprintable() for c in tail):  # a line break ends no table row
        return (prefix or "") + "…"
    return f"{prefix}…{tail}"


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

    def __reduce__(self) -> NoReturn:  # pickling would write the key somewhere unplanned
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
# Each provider's fields are its registry record's: registry().key_fields, .setting_fields, .layout.
MODEL_LIST_FIELDS = ("models.user_added", "models.enabled", "models.disabled")
EXTRA_PREFIX = "extra."
SELECTED_PREFIX = "models.selected."


def provider_of(field_name: str) -> str:
    """The provider a field belongs to ("models" and "extra" are their own)."""
    return field_name.split(".", 1)[0]


def is_key_field(field_name: str) -> bool:
    return field_name in registry().key_slots or field_name.startswith(EXTRA_PREFIX)


@dataclass(frozen=True)
class Profile:
    """Every BYOK setting of one Cursor database (or one bundle), decoded: the keys, settings and models.

    Not a Cursor user-data profile (VS Code's userDataProfiles, `--profile`): that is cursor.paths.UserProfile.

    `fields` maps field names (see above) to values; a field that is absent
    is "not set". `notes` are things worth telling the user about the read
    (malformed JSON, undecryptable rows, ...). `roles` names the providers
    whose keys are a team role's marker instead (Bedrock's IAM role).
    """

    fields: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()
    key_form: str = KeyForm.PLAINTEXT  # SECRET when the db has secret://cursorAuth rows; BUNDLE for a bundle
    cursor_version: str | None = None  # the version Cursor recorded in the database, if any

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def uses_role(self, provider: str) -> bool:
        """True when a team role stands in for this provider's keys (Bedrock's IAM role)."""
        return provider in self.roles

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


def models_document(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `models` object of `list --json` and of bundles: lists and per-surface selections."""
    out: dict[str, Any] = {name: list(fields.get(field, ())) for name, field in MODEL_LAYOUT.items()}
    out["selected"] = {k[len(SELECTED_PREFIX) :]: v for k, v in sorted(fields.items()) if k.startswith(SELECTED_PREFIX)}
    return out
