"""The bundle document: a versioned JSON object inside an age file.

See docs/bundle-format.md. Keys are stored as plain values (the age layer
encrypts the whole document); the source machine's ciphertext never is.
"""

from __future__ import annotations

import json
import platform as _platform
import re
import time
from typing import Any, Iterable, Mapping

from .._version import __version__
from ..console import has_unsafe
from ..cursor.rows import (
    CURSOR_ROW,
    PROVIDER_ROW,
    SECRET_PREFIX,
    WITHHELD_ROW,
    protection_of,
    raw_travels,
    secret_row_kind,
)
from ..cursor.urls import has_secret, shown
from ..errors import BundleError, BundleVersionError
from ..key_shapes import holds_a_key
from ..model import (
    BUNDLE,
    EXTRA_PREFIX,
    MODEL_LAYOUT,
    RAW,
    SELECTED_PREFIX,
    KeyForm,
    Profile,
    Secret,
    StoredKey,
    mask,
    models_document,
)
from ..providers import registry

FORMAT = "cursor-byok-bundle"
_EXTRA_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
VERSION = 1
LEFT_OUT = "left out, cannot be decrypted here"  # the note of each key an export leaves out

Document = dict[str, Any]  # a bundle document: the JSON object inside the age file


def _plain(value: Any) -> Any:
    if isinstance(value, StoredKey):
        return value.secret.reveal() if value.secret is not None else None
    if isinstance(value, tuple):
        return list(value)
    return value


def to_document(
    profile: Profile,
    *,
    only: Iterable[str] = (),
    keys: bool = True,
    models: bool = True,
    source: Mapping[str, Any] | None = None,
) -> tuple[Document, list[str]]:
    """(bundle document, notes) for a profile. Undecryptable keys are left out with a note."""
    only = set(only)
    notes: list[str] = []
    providers: dict[str, dict[str, Any]] = {}
    key_names = registry().key_names
    for provider, layout in registry().layout.items():
        if only and provider not in only:
            continue
        entry = {}
        for name, field in layout.items():
            value = profile.fields.get(field)
            if not keys and name == "base_url" and has_secret(value):
                notes.append(f"{field}: left out, it holds what looks like a key ({shown(value)})")
                continue
            if name in key_names:
                if not keys:
                    continue
                if isinstance(value, StoredKey) and value.secret is None:
                    notes.append(f"{field}: {LEFT_OUT} ({value.reason})")
                    continue
                if isinstance(value, StoredKey) and value.storage == RAW:
                    carry, note = raw_travels(field, value, registry().compatible_base_url(field, profile.fields))
                    notes.append(note)
                    if not carry:
                        continue
            if name not in key_names and isinstance(value, str) and holds_a_key(value):
                notes.append(f"{field}: left out, it holds what looks like a key ({mask(value)})")
                continue
            if value is not None:
                entry[name] = _plain(value)
        if entry:
            providers[provider] = entry
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": {
            "tool": f"cursor-byok {__version__}",
            "os": _platform.system().lower(),
            "key_protection": key_protection(profile, providers),
            **(source or {}),
        },
        "profile": {"providers": providers},
    }
    if keys and (not only or "extra" in only):
        extras = {}
        for field, value in sorted(profile.fields.items()):
            if field.startswith(EXTRA_PREFIX):
                if value.secret is None:
                    notes.append(f"{value.row}: {LEFT_OUT} ({value.reason})")
                elif value.storage == RAW and not _noted(notes, *raw_travels(field, value, None)):
                    continue
                else:
                    extras[field[len(EXTRA_PREFIX) :]] = value.secret.reveal()
        doc["profile"]["extra_secrets"] = extras
    if models and (not only or "models" in only):
        doc["profile"]["models"] = _without_keys(models_document(profile.fields), notes)
    return doc, notes


def _noted(notes: list[str], carry: bool, note: str) -> bool:
    notes.append(note)
    return carry


def _without_keys(models: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The models document without names that are keys (pasted in the wrong box): never carried, said in a note."""
    found = [n for n in (*(n for k, v in models.items() if k != "selected" for n in v), *models["selected"].values())
             if holds_a_key(n)]  # fmt: skip
    if not found:
        return models
    notes.append(f"models: left out {len(set(found))} model name(s) that look like a key ({mask(found[0])})")
    out: dict[str, Any] = {k: [n for n in v if not holds_a_key(n)] for k, v in models.items() if k != "selected"}
    out["selected"] = {s: n for s, n in models["selected"].items() if not holds_a_key(n)}
    return out


def undecryptable(profile: Profile, *, only: Iterable[str] = (), keys: bool = True) -> list[str]:
    """Names of the stored keys an export would have to leave out: held, but not decryptable here."""
    only = set(only)
    out = []
    for field, value in sorted(profile.fields.items()):
        if not keys or not isinstance(value, StoredKey) or value.secret is not None:
            continue
        group = field.split(".", 1)[0]
        if group in registry() or group == "extra":
            if not only or group in only:
                out.append(value.row if field.startswith(EXTRA_PREFIX) else field)
    return out


def written_counts(doc: Document) -> tuple[int, int]:
    """(keys, providers) a bundle document really holds: providers count with a key or a setting."""
    profile = doc["profile"]
    keys = len(profile.get("extra_secrets", {}))
    providers = 0
    key_names = registry().key_names
    for entry in profile.get("providers", {}).values():
        held = [k for k, v in entry.items() if k in key_names and v]
        keys += len(held)
        providers += bool(held or any(v for k, v in entry.items() if k not in key_names and k != "enabled"))
    return keys, providers


def key_protection(profile: Profile, providers: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """Field -> how the source kept each exported key (encrypted, plaintext, settings-json), for import's notes."""
    out: dict[str, str] = {}
    reg = registry()
    for provider, entry in providers.items():
        for name in entry:
            field = reg.layout[provider][name]
            stored = profile.fields.get(field)
            if name in reg.key_names and isinstance(stored, StoredKey) and (how := protection_of(stored)):
                out[field] = how
    return out


def source_protection(doc: Mapping[str, Any]) -> dict[str, str]:
    """The bundle's record of how its keys were kept at the source; {} for older bundles."""
    found = doc.get("source", {}).get("key_protection") if isinstance(doc.get("source"), dict) else None
    if not isinstance(found, dict):
        return {}
    protections = (KeyForm.ENCRYPTED, KeyForm.PLAINTEXT, KeyForm.SETTINGS_JSON)
    return {k: v for k, v in found.items() if isinstance(k, str) and v in protections}


def encode(doc: Document) -> bytes:
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")


# --- reading ---------------------------------------------------------------------


def _bad(what: str) -> BundleError:
    return BundleError(f"bundle document is malformed ({what}); re-export it with cursor-byok export")


def decode(data: bytes) -> Document:
    """The document from decrypted bytes, checked for format and version."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BundleError("bundle does not hold a JSON document; was it made by cursor-byok export?") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleError("not a cursor-byok bundle (format field missing or different)")
    try:  # JSON escapes can make lone surrogates, which no terminal or database can take
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _bad("a string is not valid Unicode") from None
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad("version is not a number")
    if version > VERSION:
        raise BundleVersionError(
            f"bundle format version {version} is newer than this cursor-byok reads ({VERSION}); upgrade cursor-byok"
        )
    if version < 1:
        raise _bad(f"version {version}")
    if not isinstance(doc.get("profile"), dict):
        raise _bad("no profile object")
    return doc


# C0, DEL and C1 controls: a terminal acts on them when a plan or an error prints the text; bidi and other
# format characters (console.is_unsafe) reorder or hide what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _unsafe(text: str) -> bool:
    return bool(_CONTROL.search(text)) or has_unsafe(text)


def _check(value: Any, kind: str, where: str) -> Any:
    ok = {
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "str?": value is None or isinstance(value, str),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "key": isinstance(value, str) and value != "" and not any(c.isspace() for c in value),
    }[kind]
    if not ok:
        raise _bad(f"{where} should be {kind}")
    texts = value if kind == "list" else [value] if isinstance(value, str) else []
    if any(_unsafe(text) for text in texts):
        raise _bad(f"{where} holds a control character (or a bidi or other format character)")
    return value


def _check_name(name: str, where: str) -> str:
    if not name or "/" in name or _unsafe(name):
        raise _bad(f"{where} name {name!r}")
    return name


def to_fields(doc: Document) -> dict[str, Any]:
    """Wanted field values (Secret for keys) from a decoded document."""
    profile = doc["profile"]
    out: dict[str, Any] = {}
    providers = profile.get("providers", {})
    if not isinstance(providers, dict):
        raise _bad("providers is not an object")
    for provider, entry in providers.items():
        layout = registry().layout.get(provider)
        if layout is None or not isinstance(entry, dict):
            raise _bad(f"unknown provider {provider!r}")
        for name, value in entry.items():
            field = layout.get(name)
            if field is None:
                raise _bad(f"unknown field {provider}.{name!r}")
            if name in registry().key_names:
                out[field] = Secret(_check(value, "key", field))
            elif name == "enabled":
                out[field] = _check(value, "bool", field)
            else:
                out[field] = _check(value, "str?", field)
    extras = profile.get("extra_secrets", {})
    if not isinstance(extras, dict):
        raise _bad("extra_secrets is not an object")
    for name, value in extras.items():
        kind = secret_row_kind(name)
        if not _EXTRA_NAME.fullmatch(name) or kind == PROVIDER_ROW:
            raise _bad(f"extra secret name {name[:64]!r} (a known provider's row, or not [A-Za-z0-9._-])")
        if kind == CURSOR_ROW:
            raise BundleError(
                f"the bundle's extra secret {name!r} would overwrite Cursor's own login or account row; "
                "a bundle never writes those: nothing was imported, ask for a clean export"
            )
        if kind == WITHHELD_ROW:
            raise BundleError(
                f"the bundle's extra secret {name!r} is not a provider key (only an unknown row whose name ends in "
                "Key travels as one); a bundle never writes it: nothing was imported, ask for a new export"
            )
        out[EXTRA_PREFIX + name] = Secret(_check(value, "key", f"extra_secrets.{name}"))
    models = profile.get("models")
    if models is not None:
        if not isinstance(models, dict):
            raise _bad("models is not an object")
        for name, field in MODEL_LAYOUT.items():
            if name in models:
                out[field] = tuple(_check(models[name], "list", f"models.{name}"))
        selected = models.get("selected", {})
        if not isinstance(selected, dict):
            raise _bad("models.selected is not an object")
        for surface, model in selected.items():
            _check_name(surface, "models.selected surface")
            out[SELECTED_PREFIX + surface] = _check(model, "str", f"models.selected.{surface}")
    return out


def to_profile(doc: Document) -> Profile:
    """A Profile for `list --bundle`: keys labelled with storage 'bundle'."""
    fields = {}
    for field, value in to_fields(doc).items():
        if isinstance(value, Secret):
            extra = field.startswith(EXTRA_PREFIX)
            row = SECRET_PREFIX + field[len(EXTRA_PREFIX) :] if extra else f"bundle:{field}"
            fields[field] = StoredKey(value, BUNDLE, row)
        else:
            fields[field] = value
    return Profile(fields=fields, key_form=BUNDLE)
