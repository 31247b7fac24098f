"""Plans: the pure diff between what is stored and what is wanted. Reads and writes nothing.

`diff()` compares a Profile with wanted field values and returns a Plan;
`resolve()` settles its conflicts; the key form and protection notes say how
keys would be stored. `changes.write` carries a Plan out.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Iterable, Mapping, get_args

from .. import versions
from ..cursor.rows import ANY_SECRET_PREFIX, key_destination, protection_of
from ..cursor.urls import host_of
from ..errors import KeyStorageRefused, PlanConflict
from ..model import (
    EXTRA_PREFIX,
    MODEL_LIST_FIELDS,
    RAW,
    SELECTED_PREFIX,
    Action,
    Change,
    ConflictPolicy,
    KeyForm,
    KeyStorage,
    ModelsPolicy,
    Plan,
    Profile,
    Secret,
    StoredKey,
    is_key_field,
    provider_of,
)
from ..providers import Provider, Setting, registry

KEY_STORAGE: tuple[KeyStorage, ...] = get_args(KeyStorage)

# Where each provider's key is sent comes from the provider registry: registry().endpoint_fields (endpoint
# field -> the keys it sends elsewhere when changed: for input from elsewhere (import, apply) that is a conflict
# whenever this machine holds one of those keys), .titles, .official_hosts.


def _empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == ()


def _same(old: Any, new: Any) -> bool:
    if old is None and new == ():
        return True  # an empty list where Cursor wrote none: nothing to add
    if isinstance(old, StoredKey):  # a key in a form Cursor cannot read (RAW) is never "unchanged": rewrite it
        return old.secret is not None and old.storage != RAW and isinstance(new, Secret) and old.secret == new
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return tuple(old) == tuple(new)
    return bool(old == new)


def _ordered_union(first: Iterable[str], second: Iterable[str], drop: Iterable[str] = ()) -> tuple[str, ...]:
    """Names of both lists in order, each once, without `drop`: set membership, so 10,000 models cost
    no more per model than 10."""
    dropped = set(drop)
    return tuple(name for name in dict.fromkeys(itertools.chain(first, second)) if name not in dropped)


def model_changes(
    current: Profile, wanted: Mapping[str, Any], policy: ModelsPolicy, on_conflict: ConflictPolicy
) -> list[Change]:
    """Changes of the model fields under the --models policy.

    replace: the wanted lists and selections as they are. union: models are
    added, never dropped; where the user already chose (a model switched the
    other way, a different per-surface selection) the user's choice stays,
    unless --on-conflict replace says the wanted values win.
    """
    if policy == "keep":
        return []
    lists = {f: tuple(wanted[f]) for f in MODEL_LIST_FIELDS if f in wanted}
    selected = {f: v for f, v in wanted.items() if f.startswith(SELECTED_PREFIX)}
    if policy == "replace":
        return [_change(current, f, v, "replace") for f, v in {**lists, **selected}.items()]
    changes = []
    if "models.user_added" in lists:
        added = _ordered_union(current.fields.get("models.user_added", ()), lists["models.user_added"])
        changes.append(_change(current, "models.user_added", added, "replace"))
    if "models.enabled" in lists or "models.disabled" in lists:
        changes += _switch_changes(current, lists, on_conflict)
    choice: ConflictPolicy = "replace" if on_conflict == "replace" else "keep"
    changes += [_change(current, f, v, choice) for f, v in selected.items()]
    return changes


def _switch_changes(
    current: Profile, lists: Mapping[str, tuple[str, ...]], on_conflict: ConflictPolicy
) -> list[Change]:
    """models.enabled / models.disabled under union: additions; flips only with --on-conflict replace."""
    cur_on = tuple(current.fields.get("models.enabled", ()))
    cur_off = tuple(current.fields.get("models.disabled", ()))
    new_on, new_off = lists.get("models.enabled", ()), lists.get("models.disabled", ())
    on_set, off_set = set(cur_on), set(cur_off)
    flipped = sorted((set(new_on) & off_set) | (set(new_off) & on_set))
    gentle = {
        "models.enabled": _ordered_union(cur_on, [m for m in new_on if m not in off_set]),
        "models.disabled": _ordered_union(cur_off, [m for m in new_off if m not in on_set]),
    }
    full = {
        "models.enabled": _ordered_union(cur_on, new_on, drop=new_off),
        "models.disabled": _ordered_union(cur_off, new_off, drop=new_on),
    }
    target = full if on_conflict == "replace" else gentle
    changes = [_change(current, f, v, "replace") for f, v in target.items()]
    if flipped and on_conflict != "replace":
        note = f"kept your on/off choice for {', '.join(flipped)}"
        refused = {"models.enabled": set(new_on) & set(cur_off), "models.disabled": set(new_off) & set(cur_on)}
        changes = [_kept_switch(c, note, bool(refused[c.field])) for c in changes]
    return changes


def _kept_switch(c: Change, note: str, refused_here: bool) -> Change:
    """A list the user's on/off choice left as it is reports that choice as kept drift."""
    action: Action = "kept" if refused_here and c.action == "unchanged" else c.action
    return Change(c.field, action, c.old, c.new, c.note or note)


def diff(
    current: Profile,
    wanted: Mapping[str, Any],
    *,
    on_conflict: ConflictPolicy = "fail",
    models: ModelsPolicy = "union",
    notes: Iterable[str] = (),
    guard_endpoints: bool = True,
    allow_endpoints: Iterable[str] = (),
) -> Plan:
    """Per field: add, replace, remove, unchanged, kept or conflict.

    `wanted` maps field names to new values (Secret for keys, None to remove).
    A different non-empty value already stored is a conflict unless the policy
    says keep (the change is then "kept": drift left in place) or replace;
    model fields follow the --models policy (model_changes).
    With `guard_endpoints` (input from elsewhere), a change of where prompts,
    code and keys are sent (`endpoint_guard`) is a conflict too, which only a
    host in `allow_endpoints`, --on-conflict keep or a decision of its own
    settles; `set`, the user's own explicit request, passes False.
    """
    plain = {f: v for f, v in wanted.items() if not f.startswith("models.")}
    changes = [_change(current, f, v, on_conflict) for f, v in plain.items()]
    changes += model_changes(current, {f: v for f, v in wanted.items() if f.startswith("models.")}, models, on_conflict)
    for provider in registry():
        if (
            provider.role
            and current.uses_role(provider.name)
            and any(f in wanted for f in provider.settable_key_fields)
        ):
            changes = [_role_guard(provider.name, c, on_conflict) for c in changes]
    if guard_endpoints:
        allowed = {a.strip().lower() for a in allow_endpoints}
        changes = [endpoint_guard(current, wanted, c, on_conflict, allowed) for c in changes]
    return Plan(tuple(changes), tuple(notes))


def held_endpoint_keys(current: Profile, field: str) -> list[str]:
    """The keys this machine holds that `field` (an endpoint) decides the destination of."""
    sent = registry().endpoint_fields.get(field, ())
    return [f for f in sent if isinstance(current.fields.get(f), StoredKey)]


def endpoint_target(field: str, value: Any) -> str:
    """Where a key goes with `field` set to `value`, in words: a host, a deployment or a region."""
    if field.endswith(".base_url"):
        return host_of(value) if value else registry().official_hosts.get(field, "no endpoint")
    what = field.split(".", 1)[1]
    return f"{what} {value}" if value else f"no {what}"


def _official(field: str, value: Any) -> bool:
    """The provider's own endpoint: no base URL, or one on the provider's official host."""
    hosts = registry().official_hosts
    return _empty(value) or (field in hosts and host_of(value) == hosts[field])


def restored_endpoint(field: str, value: Any) -> str | None:
    """What putting `value` back in `field` (an undo or redo) sends where, in words; None for anything but an
    endpoint, and for the provider's own endpoint."""
    if field not in registry().endpoint_fields or _official(field, value):
        return None
    title = registry().title(provider_of(field))
    return f"your prompts and code for {title} models to {endpoint_target(field, value)}"


def _setting_of(field: str) -> tuple[Provider, Setting]:
    provider = registry()[provider_of(field)]
    setting = provider.setting(field.split(".", 1)[1])
    assert setting is not None, field
    return provider, setting


def _url_of(provider: Provider, current: Profile, wanted: Mapping[str, Any]) -> Any:
    """The provider's endpoint URL as it will be: the wanted one, else the stored one (a deployment lives there)."""
    url = next((provider.field(s.name) for s in provider.settings if s.kind == "url"), None)
    return (wanted.get(url) or current.get(url)) if url else None


def endpoint_names(field: str, value: Any, current: Profile, wanted: Mapping[str, Any]) -> set[str]:
    """The names `--allow-endpoint` may give for this destination: its host (a deployment: its resource's host;
    a region: the region or the host its requests go to)."""
    if not value:
        return set()
    provider, setting = _setting_of(field)
    if setting.kind == "url":
        return {host_of(value).lower()}
    if setting.kind == "name":
        base = _url_of(provider, current, wanted)
        return {host_of(base).lower()} if base else set()
    return {str(value).lower(), *((setting.host.format(value=value).lower(),) if setting.host else ())}


def what_leaves(field: str, value: Any, current: Profile, wanted: Mapping[str, Any]) -> str:
    """In words, what a new endpoint sends where: prompts and code, for which models, to which host."""
    provider, setting = _setting_of(field)
    if provider.compatible == setting.name:  # an OpenAI-compatible server: custom models go there too
        custom = list(wanted.get("models.user_added") or current.get("models.user_added") or ())
        listed = f"{', '.join(custom[:3])}{', ...' if len(custom) > 3 else ''}"
        models = f"{provider.title} models and your custom models ({listed})" if custom else None
        return f"your prompts and code for {models or provider.title + ' and custom models'} to {value}"
    if setting.kind == "name":
        base = _url_of(provider, current, wanted)
        where = base or "the stored endpoint"
        return f"your prompts and code for {provider.title} to {setting.name} {value} on {where}"
    if setting.kind == "region" and setting.host:
        host = setting.host.format(value=value)
        return f"your prompts and code for {provider.title} models to region {value} ({host})"
    return f"your prompts and code for {provider.title} models to {value}"


def endpoint_guard(
    current: Profile, wanted: Mapping[str, Any], c: Change, on_conflict: ConflictPolicy, allowed: set[str]
) -> Change:
    """A change of where prompts, code and keys go, from input from elsewhere, is decided on its own.

    A base URL to any host but the provider's own, and a change of a stored
    Azure deployment or Bedrock region, is such a change whether or not a key
    is held here; so is any change of them while this machine holds the key
    they route. It goes ahead only for a host in `allowed` (--allow-endpoint);
    --on-conflict keep keeps the stored value; "replace" never covers it.
    """
    if c.field not in registry().endpoint_fields or c.action not in ("add", "replace", "remove", "conflict"):
        return c
    held, is_url = held_endpoint_keys(current, c.field), c.field in registry().url_fields
    changed_stored = not is_url and not _empty(c.old)
    new_host = is_url and not _official(c.field, c.new)
    if not (held or changed_stored or new_host):
        return c
    if is_url and _official(c.field, c.new) and not held:
        return c  # back to the provider's own endpoint, and no key of this machine goes anywhere new
    sends = what_leaves(c.field, endpoint_target(c.field, c.new), current, wanted)
    won: Action = "replace" if c.action == "conflict" else c.action
    if endpoint_names(c.field, c.new, current, wanted) & allowed:
        return replace(c, action=won, note=f"allowed by --allow-endpoint: {sends}", sends=sends)
    if on_conflict == "keep":
        return replace(c, action="kept", note="kept the stored endpoint", sends=sends)
    names = sorted(endpoint_names(c.field, c.new, current, wanted), key=len)
    allow = names[0] if names else None
    how = f"pass --allow-endpoint {allow} to accept it" if allow else "decide it on a terminal"
    return replace(c, action="conflict", note=f"Cursor would send {sends}; {how}", sends=sends, allow=allow)


def endpoint_messages(plan: Plan) -> list[str]:
    """One line per applied change of where prompts, code and keys go, naming the new destination."""
    out = []
    for c in plan.effective:
        if c.field in registry().endpoint_fields:
            title = registry().title(provider_of(c.field))
            what = c.sends or f"your prompts, code and {title} key to {endpoint_target(c.field, c.new)}"
            out.append(f"{c.field}: Cursor now sends {what}")
    return out


def _role_guard(provider: str, c: Change, on_conflict: ConflictPolicy) -> Change:
    """Keys never silently replace a team role (Bedrock's IAM role)."""
    record = registry()[provider]
    if record.role and c.field in record.settable_key_fields and c.action == "add":
        note = record.role_note
        return settle(replace(c, old=record.role.marker), on_conflict, note, kept_note=note + "; kept")
    return c


def settle(
    c: Change,
    policy: ConflictPolicy,
    note: str | None = None,
    *,
    won: Action = "replace",
    kept_note: str = "kept the stored value",
) -> Change:
    """The one place a conflict policy decides: `c` would overwrite (or clear) something already there.

    replace: the change goes ahead as `won` (replace, remove or add); keep: it is
    reported as kept drift and not written; fail: it is a conflict, and a run
    that still holds one writes nothing.
    """
    if policy == "replace":
        return replace(c, action=won, note=note)
    if policy == "keep":
        return replace(c, action="kept", note=kept_note)
    return replace(c, action="conflict", note=note)


def _change(current: Profile, field: str, new: Any, on_conflict: ConflictPolicy) -> Change:
    old = current.fields.get(field)
    if _same(old, new):
        return Change(field, "unchanged", old, new)
    if old is None or (not isinstance(old, StoredKey) and _empty(old)):
        return Change(field, "add", old, new)
    if new is None:  # clearing a stored value is a change like any other
        return settle(Change(field, "conflict", old, None), on_conflict, won="remove")
    note = "stored value cannot be decrypted here" if isinstance(old, StoredKey) and old.secret is None else None
    if isinstance(old, StoredKey) and old.storage == RAW:
        note = "stored in clear by another tool, in a form Cursor cannot read: written again the way it reads it"
    return settle(Change(field, "conflict", old, new), on_conflict, note)


def refuse_conflicts(plan: Plan) -> None:
    """A plan that still holds conflicts writes nothing: PlanConflict (exit 11) says how to settle them."""
    if not plan.conflicts:
        return
    endpoints = [c for c in plan.conflicts if c.sends]
    values = len(plan.conflicts) - len(endpoints)
    parts = [f"{values} field(s) already hold different values (--on-conflict replace or keep)"] if values else []
    if endpoints:
        names = sorted({c.allow for c in endpoints if c.allow})
        accept = " ".join(f"--allow-endpoint {n}" for n in names) or "a decision on a terminal"
        parts.append(
            f"{len(endpoints)} change(s) would send prompts and code to a new endpoint: accept with {accept}, "
            "or keep the stored ones with --on-conflict keep"
        )
    raise PlanConflict(f"nothing was written; {'; '.join(parts)}")


def resolve(plan: Plan, replaced: Mapping[str, bool]) -> Plan:
    """Settle each conflict by a decision: `replaced[field]` true replaces the stored value; otherwise kept."""
    changes = (
        settle(c, "replace" if replaced.get(c.field) else "keep", c.note, won=_won(c)) if c.action == "conflict" else c
        for c in plan.changes
    )
    return Plan(tuple(changes), plan.notes)


def _won(c: Change) -> Action:
    """The verdict of a conflict decided for the wanted value."""
    return "remove" if c.new is None else ("add" if c.old is None else "replace")


def filter_fields(
    wanted: Mapping[str, Any], only: Iterable[str] = (), *, keys: bool = True, models: bool = True
) -> dict[str, Any]:
    """Wanted fields limited to some providers (`extra` and `models` count as providers)."""
    only = set(only)
    out = {}
    for f, v in wanted.items():
        group = provider_of(f)
        if only and group not in only:
            continue
        if not keys and is_key_field(f):
            continue
        if not models and group == "models":
            continue
        out[f] = v
    return out


def choose_key_form(profile: Profile, mode: str, installed: str | None = None) -> KeyForm:
    """How new keys are stored: the form written for this Cursor's version (versions.KEY_FORMS); the rows'
    evidence when the version does not say. `installed` (the installed app's version, read only when the
    database records none) breaks a tie: no version recorded and no key row of either form."""
    if mode not in KEY_STORAGE:
        raise ValueError(mode)
    if mode != "auto":
        return KeyForm(mode)
    written = versions.key_form_written(profile.cursor_version)
    if written != KeyForm.UNSURE:
        return written
    no_rows = profile.key_form == KeyForm.PLAINTEXT and not _has_plain_key(profile)
    if profile.cursor_version is not None and no_rows:
        return KeyForm.SECRET  # 2.2 sits between the last plain-only (2.1) and the first secret:// (2.3) version
    if tie_broken(profile, installed):
        return versions.key_form_written(installed)
    return KeyForm(profile.key_form)


def tie_broken(profile: Profile, installed: str | None) -> bool:
    """True when the installed app's version decides the key form: the database records no version and holds
    no key row of either form, and that version's form is known."""
    no_rows = profile.key_form == KeyForm.PLAINTEXT and not _has_plain_key(profile)
    return (
        profile.cursor_version is None
        and no_rows
        and installed is not None
        and versions.key_form_written(installed) != KeyForm.UNSURE
    )


def _has_plain_key(profile: Profile) -> bool:
    return any(isinstance(v, StoredKey) and v.storage == KeyForm.PLAINTEXT for v in profile.fields.values())


def key_form_note(profile: Profile, mode: str, key_form: str, installed: str | None = None) -> str:
    """One line for the plan: which form keys take, and why."""
    version = profile.cursor_version
    if mode != "auto":
        why = f"--key-storage {mode}"
    elif tie_broken(profile, installed):
        why = f"no Cursor version recorded and no key row stored; the installed Cursor {installed} reads them"
    elif versions.key_form_read(version) != KeyForm.UNSURE:
        why = f"Cursor {version} reads them"
    elif version:
        why = f"Cursor {version} is between the known forms; following the rows stored"
    else:
        why = "no Cursor version recorded; following the rows stored"
    form = "encrypted secret://cursorAuth rows" if key_form == KeyForm.SECRET else "plain cursorAuth rows"
    note = f"keys are written as {form} ({why})"
    read = versions.key_form_read(version)
    if mode != "auto" and read != KeyForm.UNSURE and read != key_form:
        note += f"; WARNING: Cursor {version} does not read this form, so it will not use these keys"
    return note


__all__ = ["diff", "resolve", "filter_fields"]


# --- protection: never store a key less protected without saying so ---------------------------

_RANK: dict[str, int] = {KeyForm.ENCRYPTED: 2, KeyForm.PLAINTEXT: 1, KeyForm.SETTINGS_JSON: 1}
_SHOWN: dict[str, str] = {
    KeyForm.ENCRYPTED: "encrypted (secret://)",
    KeyForm.PLAINTEXT: "in a plain cursorAuth row",
    KeyForm.SETTINGS_JSON: "in plain text in the settings blob",
}


def weaker_protection_notes(
    profile: Profile, rows: Mapping[str, Any], writing: Mapping[str, Any], key_form: str, source: Mapping[str, str]
) -> list[str]:
    """One note per key that lands less protected than at the source (the bundle's machine) or than now."""
    notes = []
    for field, value in writing.items():
        if value is None or not is_key_field(field):
            continue
        dest = key_destination(rows, field, key_form)
        stored = profile.fields.get(field)
        before = [("at the source", source.get(field))]
        if isinstance(stored, StoredKey):
            before.append(("as stored here now", protection_of(stored)))
        for where, was in before:
            if was in _RANK and _RANK[was] > _RANK[dest]:
                notes.append(f"{field}: LESS PROTECTED than {where}: was {_SHOWN[was]}, will be stored {_SHOWN[dest]}")
                break
    return notes


def refuse_unhonoured_secret(rows: Mapping[str, Any], writing: Mapping[str, Any], mode: str) -> None:
    """--key-storage secret fails, before anything is written, for keys this Cursor keeps only in its blob."""
    if mode != KeyForm.SECRET:
        return
    blob_only = [
        f
        for f, v in writing.items()
        if v is not None and is_key_field(f) and key_destination(rows, f, KeyForm.SECRET) == KeyForm.SETTINGS_JSON
    ]
    if blob_only:
        raise KeyStorageRefused(
            f"--key-storage secret cannot be honoured for {', '.join(blob_only)}: this Cursor keeps "
            f"{'that key' if len(blob_only) == 1 else 'those keys'} only in plain text in its settings blob. "
            "Nothing was written; drop --key-storage secret (an import can also leave them out with --only)"
        )


def wanted_values(plan: Plan) -> dict[str, Any]:
    """Field -> new value for the changes that write."""
    return {c.field: c.new for c in plan.effective}


def drop_homeless_extras(
    rows: Mapping[str, Any], wanted: Mapping[str, Any], key_form: str, version: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(wanted, notes) without unknown-provider keys when this Cursor reads no secret:// rows.

    Such keys exist only as encrypted rows. A Cursor whose version reads only
    plain rows, or (version unknown) one that keeps no secret:// row at all,
    could not read them, so they are left out with a note instead of failing
    the whole import.
    """
    extras = [f for f, v in wanted.items() if f.startswith(EXTRA_PREFIX) and v is not None]
    form_read = versions.key_form_read(version)
    if form_read == KeyForm.PLAINTEXT:
        homeless = True
    else:
        homeless = form_read == KeyForm.UNSURE and not any(k.startswith(ANY_SECRET_PREFIX) for k in rows)
    if not extras or key_form != KeyForm.PLAINTEXT or not homeless:
        return dict(wanted), []
    why = f"Cursor {version} reads no secret:// rows" if version else "this Cursor keeps no encrypted secret:// rows"
    notes = [f"{f}: left out, {why} to hold it" for f in extras]
    return {f: v for f, v in wanted.items() if f not in extras}, notes
