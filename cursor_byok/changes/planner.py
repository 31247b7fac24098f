"""The planner: what a write would change, from rows already read. Nothing here writes.

`prepare()` decodes the target's rows into a Profile, checks every new
endpoint setting, chooses how keys are stored, diffs the stored profile
against what is wanted, and gathers the notes a user must see before saying
yes (how keys will be protected, which endpoints change). `prepare_write()` adds
the likely-mistake checks of `set`, `models` and `apply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, get_args

from ..cursor import urls
from ..cursor.paths import Installation, UserProfile
from ..cursor.rows import read_profile
from ..errors import InputError, MistakeRefused
from ..model import ConflictPolicy, KeyStorage, ModelsPolicy, Plan, Profile, is_key_field
from ..results import Invocation
from ..safestorage.backends import SafeStorage
from . import diff
from .wanted import format_warnings, hold_selections, mistakes, setting_checks
from .write import encryption_notes


@dataclass(frozen=True)
class Target:
    """What preflight found and read once: the installation, the profile written, its safe storage, the rows."""

    inst: Installation
    storage: SafeStorage
    rows: Mapping[str, Any] = field(repr=False)  # raw rows: the settings blob may hold keys in clear
    invocation: Invocation = field(default_factory=Invocation)
    user_profile: UserProfile | None = None  # whose settings blob is written; None: the default one
    other_profiles: tuple[str, ...] = ()  # profiles a write without --profile leaves alone
    installed: str | None = None  # the installed app's version, when the database records none (a tie-break)


@dataclass(frozen=True)
class Prepared:
    """A plan and everything it was made from: the write path needs nothing else."""

    target: Target
    profile: Profile = field(repr=False)
    plan: Plan
    key_form: str
    wanted: Mapping[str, Any] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()  # said before anything is asked: key shapes, unreachable base URLs

    @property
    def inst(self) -> Installation:
        return self.target.inst


Wanted = Mapping[str, Any] | Callable[[Profile], Mapping[str, Any]]
Notes = Iterable[str] | Callable[[Profile], Iterable[str]]


def one_of(value: str, kind: Any, name: str) -> None:
    """A policy argument must be one of its Literal's values (InputError, not a silent default)."""
    if value not in get_args(kind):
        raise InputError(f"{name} must be one of {', '.join(get_args(kind))}, not {value!r}")


def decoded(target: Target, *, keys: bool = True) -> Profile:
    """The target's Profile; `keys=False` decrypts nothing (for writes that touch no key), and then says nothing
    about keys it did not try to decrypt."""
    profile = read_profile(target.rows, target.storage if keys else None)
    if keys:
        return profile
    untried = {k.reason for k in profile.keys().values() if k.secret is None}
    return replace(profile, notes=tuple(n for n in profile.notes if not any(n.endswith(f"({r})") for r in untried)))


def prepare(
    target: Target,
    wanted: Wanted,
    *,
    on_conflict: ConflictPolicy = "fail",
    models: ModelsPolicy = "union",
    key_storage: KeyStorage = "auto",
    notes: Notes = (),
    guard_endpoints: bool = True,
    allow_endpoints: Iterable[str] = (),
    source_protection: Mapping[str, str] | None = None,
    keys: bool = True,
) -> Prepared:
    """Diff the target's stored profile against `wanted` (a mapping, or a function of the stored profile).

    Every new endpoint setting passes the checks of `set`; with
    `guard_endpoints` (input from elsewhere: import, apply) a new endpoint is a
    conflict that only `allow_endpoints` (hosts) or a decision settles. `keys=False`: the write touches no key,
    so none is decrypted (a keyring that is locked or unreachable stays out of it).
    """
    one_of(on_conflict, ConflictPolicy, "on_conflict")
    one_of(models, ModelsPolicy, "models")
    one_of(key_storage, KeyStorage, "key_storage")
    profile = decoded(target, keys=keys)
    asked = dict(wanted(profile) if callable(wanted) else wanted)
    extra_notes = tuple(notes(profile) if callable(notes) else notes)
    check_new_endpoints(asked, profile)
    key_form = diff.choose_key_form(profile, key_storage, target.installed)
    fields, dropped = diff.drop_homeless_extras(target.rows, asked, key_form, profile.cursor_version)
    the_plan = diff.diff(
        profile,
        fields,
        on_conflict=on_conflict,
        models=models,
        notes=(*extra_notes, *dropped),
        guard_endpoints=guard_endpoints,
        allow_endpoints=tuple(allow_endpoints),
    )
    notes_now = protection_notes(target, profile, the_plan, key_form, key_storage, source_protection or {})
    the_plan = replace(the_plan, notes=(*the_plan.notes, *notes_now, *profile.notes))
    return Prepared(target, profile, the_plan, key_form, fields, tuple(plan_warnings(the_plan)))


def protection_notes(
    target: Target, profile: Profile, plan: Plan, key_form: str, key_storage: KeyStorage, source: Mapping[str, str]
) -> list[str]:
    """How new keys will be protected, said before anything is asked. It covers the planned writes and the
    conflicts a decision may turn into writes; --key-storage secret is refused here when it cannot be honoured."""
    writing = {**diff.wanted_values(plan), **{c.field: c.new for c in plan.conflicts}}
    diff.refuse_unhonoured_secret(target.rows, writing, key_storage)
    out = encryption_notes(target.rows, target.storage, writing, key_form) if writing else []
    if any(is_key_field(f) and v is not None for f, v in writing.items()):
        out.insert(0, diff.key_form_note(profile, key_storage, key_form, target.installed))
    return out + diff.weaker_protection_notes(profile, target.rows, writing, key_form, source)


def check_new_endpoints(wanted: Mapping[str, Any], profile: Profile) -> None:
    """Every endpoint setting that would change passes the checks of `set` (InputError, exit 15, nothing written):
    base URLs pass urls.check; an Azure deployment must be a plain name and a Bedrock region look like one."""
    checks: dict[str, Callable[[str, str], str]] = setting_checks()
    for name, check in checks.items():
        value = wanted.get(name)
        if value is not None and value != profile.get(name):
            check(value, name)


def plan_warnings(plan: Plan) -> list[str]:
    """Warnings about a plan's new values: base URLs Cursor's servers cannot reach."""
    found = (urls.unreachable_warning(c.field, c.new) for c in plan.effective if c.field in urls.URL_FIELDS and c.new)
    return [w for w in found if w]


def prepare_write(
    target: Target,
    build: Callable[[Profile], Mapping[str, Any]],
    *,
    force: bool = False,
    on_conflict: ConflictPolicy = "replace",
    selections: ConflictPolicy = "replace",
    key_storage: KeyStorage = "auto",
    notes: Callable[[Profile], Iterable[str]] | None = None,
    guard_endpoints: bool = True,
    allow_endpoints: Iterable[str] = (),
    supplied: Iterable[str] = (),
    keys: bool = True,
) -> Prepared:
    """A plan for the fields `build(stored profile)` wants, with key-shape warnings; likely mistakes (another
    provider's key, a provider on with no key) raise MistakeRefused unless `force`. `supplied`: key fields whose
    sources were not read (a dry run), which are not missing."""
    # Model lists come in whole (already merged by `build`), so they are diffed with models="replace"
    # and the plan shows exactly the list change; selections follow their own policy.
    prep = prepare(
        target, build, on_conflict=on_conflict, models="replace", key_storage=key_storage, notes=notes or (),
        guard_endpoints=guard_endpoints, allow_endpoints=allow_endpoints, keys=keys,
    )  # fmt: skip
    prep = replace(prep, plan=hold_selections(prep.plan, selections))
    found = [] if force else mistakes(prep.wanted, prep.profile, set(supplied))
    if found:
        raise MistakeRefused(f"{'; '.join(found)}. Nothing was written; pass --force to do it anyway")
    shapes = tuple(format_warnings(prep.wanted, prep.profile))
    return replace(prep, warnings=(*shapes, *prep.warnings))
