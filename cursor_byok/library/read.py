"""The commands that only read: where, list, get, models list."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..changes.journal import vanished_keys
from ..checks import listing
from ..checks.kept import changes_since
from ..checks.origin import origin_notes
from ..checks.where import Installations, installations
from ..cursor import paths
from ..cursor.reading import cursor_facts, load_profile, read_merged_rows, source_info
from ..cursor.rows import read_profile
from ..errors import InputError, KeyNotStored, SafeStorageUnavailable
from ..model import StoredKey
from ..providers import provider_named, registry
from ..results import Result
from .context import Context, context


def where(ctx: Context | None = None) -> Installations:
    """Every Cursor installation found, the one other commands use first. Raises DatabaseNotFound."""
    ctx = context(ctx)
    found = paths.find_installations(db=ctx.db, user_data_dir=ctx.user_data_dir, env=ctx.env, platform=ctx.platform)
    near = paths.candidate_installations(db=ctx.db, user_data_dir=ctx.user_data_dir, env=ctx.env, platform=ctx.platform)
    return installations(found, ctx.storage_for, near)


def list_keys(ctx: Context | None = None, *, reveal: bool = False) -> listing.Listing | listing.ProfilesListing:
    """The stored keys (masked unless `reveal`), settings and models of the chosen profile (`Context.profile`;
    "all": every profile)."""
    ctx = context(ctx)
    if ctx.profile != "all":
        return _one_listing(ctx, reveal=reveal)
    inst = ctx.installation()
    names = [paths.DEFAULT_PROFILE, *(p.location for p in paths.profiles(inst) if p.db.is_file())]
    docs = tuple(_one_listing(replace(ctx, profile=name), reveal=reveal) for name in names)
    info = source_info(inst)
    return listing.ProfilesListing(info["db"], info["user_data_dir"], docs[0].profiles or (), docs)


def _one_listing(ctx: Context, *, reveal: bool) -> listing.Listing:
    inst = ctx.installation()
    chosen, storage, invocation = ctx.selected_profile(inst), ctx.storage_for(inst), ctx.invocation(inst)
    profile, rows = load_profile(inst, storage, chosen.db if chosen else None)
    info = source_info(inst)
    changed = changes_since(chosen.db if chosen else inst.db_path, rows, invocation)
    notes = (*vanished_keys(inst.db_path, rows).values(), *origin_notes(inst, rows, storage, invocation),
             *(c.note for c in changed))  # fmt: skip
    return listing.listing(
        profile, db=info["db"], user_data_dir=info["user_data_dir"], cursor=cursor_facts(inst, rows),
        profile_name=chosen.name if chosen else paths.DEFAULT_PROFILE,
        profiles=(paths.DEFAULT_PROFILE, *(p.name for p in paths.profiles(inst))),
        extra_notes=notes, reveal=reveal, invocation=invocation, cursor_changed=changed,
    )  # fmt: skip


@dataclass(frozen=True)
class KeyValue(Result):
    """One stored key, in clear (`get`): the user asked for it."""

    provider: str
    field: str
    value: str


def provider_name(name: str) -> str:
    """A provider's name as callers may type it (any case, aliases); InputError otherwise."""
    try:
        return provider_named(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def get_key(ctx: Context | None, provider: str, field_name: str | None = None) -> KeyValue:
    """The plain value of one stored key: KeyNotStored (exit 18) when none is stored, SafeStorageUnavailable
    (exit 7) when it cannot be decrypted here."""
    ctx, provider = context(ctx), provider_name(provider)
    record = registry()[provider]
    choices = [k.name for k in record.settable_keys]
    name = field_name or choices[0]
    if name not in choices:
        raise InputError(f"field_name={name!r} does not apply to {provider}; use {' or '.join(choices)}")
    inst = ctx.installation()
    storage = ctx.storage_for(inst)
    profile, rows = load_profile(inst, storage)
    stored = profile.fields.get(record.field(name))
    if not isinstance(stored, StoredKey):
        raise KeyNotStored(f"no {provider} {name.replace('_', ' ')} is stored in {inst.db_path}")
    if stored.secret is None:
        found = origin_notes(inst, rows, storage, ctx.invocation(inst), ("get", provider))  # a Mac's, a PC's
        raise SafeStorageUnavailable(
            f"the {provider} key cannot be decrypted here ({found[0] if found else stored.reason})"
        )
    return KeyValue(provider, name, stored.secret.reveal())


@dataclass(frozen=True)
class ModelsListing(Result):
    db: str
    user_data_dir: str | None
    models: listing.ModelsView


def list_models(ctx: Context | None = None) -> ModelsListing:
    """The model lists and per-surface selections (`models list`); decrypts no key, so asks no keyring."""
    ctx = context(ctx)
    inst = ctx.installation()
    chosen = ctx.selected_profile(inst)
    profile = read_profile(read_merged_rows(inst.db_path, chosen.db if chosen else None))
    info = source_info(inst)
    return ModelsListing(info["db"], info["user_data_dir"], listing.ModelsView.of(profile.fields))
