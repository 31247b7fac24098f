"""`list`: the stored keys (masked), provider settings and models of a database or a bundle, as a typed result.

A key shows as its vendor prefix and last 4 characters with a fingerprint;
its value is in the result only when the caller asked (`reveal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..cursor import urls
from ..key_shapes import BROKEN, check_format, holds_a_key, unsendable
from ..model import EXTRA_PREFIX, MODEL_LAYOUT, SELECTED_PREFIX, Profile, StoredKey, mask
from ..providers import registry
from ..results import Invocation, Result, internal, jsonable, omit_if_none
from ..versions import CursorFacts
from .kept import Change
from .provider_pages import BillingPages, billing


@dataclass(frozen=True)
class KeyView:
    """One stored key as `list` shows it: masked, its fingerprint, how it is stored, whether it looks right."""

    masked: str | None
    fingerprint: str | None
    storage: str
    format: str
    row: str
    reason: str | None = omit_if_none()  # why it cannot be decrypted here, or what is wrong with how it is kept
    value: str | None = omit_if_none()  # only when revealed

    @classmethod
    def of(cls, field_name: str, stored: StoredKey, *, reveal: bool = False, base_url: str | None = None) -> KeyView:
        if stored.secret is None:
            return cls(None, None, stored.storage, "unknown", stored.row, reason=stored.reason)
        value = stored.secret.reveal()
        fmt = BROKEN if unsendable(value) else check_format(field_name, value, base_url)
        shown = value if reveal else None
        return cls(
            stored.secret.masked, stored.secret.fingerprint, stored.storage, fmt, stored.row, stored.reason, shown
        )  # a reason for a key read as it is: one another tool wrote in clear (RAW)


@dataclass(frozen=True)
class ProviderView:
    """A provider's toggle, settings and keys, in its layout's order (`json()` lays them out flat)."""

    configured: bool
    values: Mapping[str, Any]  # json name -> bool (enabled), str | None (a setting), KeyView | None (a key)
    iam_role: bool | None = None  # Bedrock: a team IAM role instead of keys
    billing: BillingPages | None = None
    in_bundle: tuple[str, ...] | None = field(default=None, repr=False)  # a bundle's: the names it holds

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"configured": self.configured}
        out.update({k: jsonable(v) for k, v in self.values.items()})
        if self.iam_role is not None:
            out["iam_role"] = self.iam_role
        if self.in_bundle is None:
            out["billing"] = jsonable(self.billing)
        return out


@dataclass(frozen=True)
class ExtraKey:
    """An unknown provider's key (a `secret://cursorAuth/<name>` row Cursor keeps for a provider this tool
    does not know)."""

    name: str
    key: KeyView


@dataclass(frozen=True)
class ModelsView:
    user_added: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    selected: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> ModelsView:
        lists = {name: tuple(map(not_a_key_shown, fields.get(f, ()))) for name, f in MODEL_LAYOUT.items()}
        chosen = {k[len(SELECTED_PREFIX) :]: not_a_key_shown(v) for k, v in sorted(fields.items())
                  if k.startswith(SELECTED_PREFIX)}  # fmt: skip
        return cls(**lists, selected=chosen)


def not_a_key_shown(value: Any) -> Any:
    """A model name or a setting as shown: masked when it is a key pasted in the wrong box of Cursor's settings
    (a model name, the Azure deployment), which no real name looks like."""
    return mask(value) if isinstance(value, str) and holds_a_key(value) else value


@dataclass(frozen=True)
class Listing(Result):
    """What `list` shows of one database (or a bundle: `bundle` is set and what it does not hold is absent)."""

    db: str | None
    user_data_dir: str | None = omit_if_none()
    bundle: str | None = omit_if_none()
    created: str | None = omit_if_none()
    source: Any = omit_if_none()  # a bundle's: where it was exported
    providers: Mapping[str, ProviderView] = field(default_factory=dict)
    extra_secrets: tuple[ExtraKey, ...] | None = field(default=(), metadata={"omit_if_none": True})
    models: ModelsView | Mapping[str, Any] | None = omit_if_none()
    key_form: str = "plaintext"
    notes: tuple[str, ...] = ()
    cursor: CursorFacts | None = omit_if_none()
    profile: str | None = omit_if_none()
    profiles: tuple[str, ...] | None = omit_if_none()
    cursor_changed: tuple[Change, ...] | None = omit_if_none()  # what Cursor changed since this tool's last write
    stored: Profile | None = internal()  # the decoded profile: StoredKey.secret.reveal() gives a key
    invocation: Invocation = internal(Invocation())  # the global options hints about this database carry

    @property
    def undecryptable(self) -> tuple[str, ...]:
        """The keys that cannot be decrypted here (`provider.field`, or an unknown provider key's row)."""
        out = [f"{p}.{k}" for p, view in self.providers.items() for k, v in view.values.items()
               if isinstance(v, KeyView) and v.fingerprint is None]  # fmt: skip
        return (*out, *(e.name for e in self.extra_secrets or () if e.key.fingerprint is None))


@dataclass(frozen=True)
class ProfilesListing(Result):
    """`list --profile all`: one listing per profile (keys live in the default database, so they repeat)."""

    db: str
    user_data_dir: str | None
    profiles: tuple[str, ...]
    documents: tuple[Listing, ...]

    @property
    def undecryptable(self) -> tuple[str, ...]:
        return tuple(k for one in self.documents for k in one.undecryptable)


def provider_views(profile: Profile, *, reveal: bool) -> dict[str, ProviderView]:
    f, reg = profile.fields, registry()
    views = {}
    for record in reg:
        values: dict[str, Any] = {}
        key_names = [k.name for k in record.keys]
        for json_name, fld in record.layout().items():
            value = f.get(fld)
            if json_name in key_names:
                base_url = reg.compatible_base_url(fld, f)
                values[json_name] = KeyView.of(fld, value, reveal=reveal, base_url=base_url) if value else None
            elif json_name == "enabled":
                values[json_name] = bool(value)
            else:
                values[json_name] = value if reveal else not_a_key_shown(urls.shown(value))
        has_key = any(values.get(k) for k in key_names)
        configured = has_key or bool(values.get("base_url"))
        role = profile.uses_role(record.name) if record.role else None
        views[record.name] = ProviderView(configured, values, role, billing(record.name) if has_key else None)
    return views


def extra_keys(profile: Profile, *, reveal: bool) -> tuple[ExtraKey, ...]:
    return tuple(
        ExtraKey(value.row, KeyView.of(fld, value, reveal=reveal))
        for fld, value in sorted(profile.fields.items())
        if fld.startswith(EXTRA_PREFIX)
    )


def listing(
    profile: Profile,
    *,
    db: str,
    user_data_dir: str | None,
    cursor: CursorFacts,
    profile_name: str,
    profiles: tuple[str, ...],
    extra_notes: tuple[str, ...] = (),
    reveal: bool = False,
    invocation: Invocation | None = None,
    cursor_changed: tuple[Change, ...] = (),
) -> Listing:
    """The listing of a database's chosen profile."""
    return Listing(
        db=db,
        user_data_dir=user_data_dir,
        providers=provider_views(profile, reveal=reveal),
        extra_secrets=extra_keys(profile, reveal=reveal),
        models=ModelsView.of(profile.fields),
        key_form=profile.key_form,
        notes=(*profile.notes, *extra_notes),
        cursor=cursor,
        profile=profile_name,
        profiles=profiles,
        cursor_changed=cursor_changed,
        stored=profile,
        invocation=invocation or Invocation(),
    )


def bundle_listing(profile: Profile, doc: Mapping[str, Any], *, path: str, reveal: bool = False) -> Listing:
    """What a bundle holds, as `list --bundle` shows it: providers, fields, model lists and extra keys it does
    not hold are absent, not shown as false or []."""
    held = doc["profile"].get("providers", {})
    views = {
        name: ProviderView(
            view.configured,
            {k: v for k, v in view.values.items() if k in held[name]},
            view.iam_role if "iam_role" in held[name] or view.iam_role is not None else None,
            None,
            tuple(held[name]),
        )  # fmt: skip
        for name, view in provider_views(profile, reveal=reveal).items()
        if name in held
    }
    models = doc["profile"].get("models")
    shown_models: Mapping[str, Any] | None = None
    if isinstance(models, dict):
        full = ModelsView.of(profile.fields)
        shown_models = {k: getattr(full, k) for k in ("user_added", "enabled", "disabled", "selected") if k in models}
    return Listing(
        db=None,
        bundle=path,
        created=doc.get("created"),
        source=doc.get("source"),
        providers=views,
        extra_secrets=extra_keys(profile, reveal=reveal) if "extra_secrets" in doc["profile"] else None,
        models=shown_models,
        key_form=profile.key_form,
        notes=profile.notes,
        stored=profile,
    )
