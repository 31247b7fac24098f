"""What a write returns: the plan in JSON-safe form (keys masked) and what the write path did.

`PlanView` is a Plan as a document shows it; `Written` is the result of
every field write (import, set, unset, models, apply, rescue --import), the
same object whether it comes back to a Python caller or is printed by
`--json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..cursor import urls
from ..model import MODEL_LIST_FIELDS, Change, Plan, Secret, StoredKey
from ..results import Hint, Result, internal, omit_if_none


def value_json(value: Any, reveal: bool = False) -> Any:
    """A plan value as a document shows it: keys masked with their fingerprint, URLs without secrets."""
    if isinstance(value, StoredKey):
        if value.secret is None:
            return {"masked": None, "fingerprint": None, "undecryptable": True}
        value = value.secret
    if isinstance(value, Secret):
        out = {"masked": value.masked, "fingerprint": value.fingerprint}
        if reveal:
            out["value"] = value.reveal()
        return out
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str) and "://" in value and not reveal:
        return urls.shown(value)  # a key inside a base URL is masked like any key
    return value


def list_delta(c: Change) -> tuple[list[str], list[str]] | None:
    """(added, removed) names of a model-list change; None for any other field."""
    if c.field not in MODEL_LIST_FIELDS or not isinstance(c.new, (list, tuple)):
        return None
    old = list(c.old or ())
    return [m for m in c.new if m not in old], [m for m in old if m not in c.new]


def summary(plan: Plan) -> dict[str, int]:
    counts = {"add": 0, "replace": 0, "remove": 0, "unchanged": 0, "kept": 0, "conflict": 0}
    for c in plan.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    return counts


@dataclass(frozen=True)
class PlanChange:
    """One field of a plan as a document shows it (keys masked)."""

    field: str
    action: str
    old: Any
    new: Any
    added: tuple[str, ...] | None = omit_if_none()
    removed: tuple[str, ...] | None = omit_if_none()
    note: str | None = omit_if_none()
    sends: str | None = omit_if_none()

    @classmethod
    def of(cls, c: Change) -> PlanChange:
        delta = list_delta(c)
        added, removed = (tuple(delta[0]), tuple(delta[1])) if delta is not None else (None, None)
        return cls(c.field, c.action, value_json(c.old), value_json(c.new), added, removed, c.note, c.sends)


@dataclass(frozen=True)
class PlanView:
    """A plan as documents show it: the changes that are not `unchanged`, the unchanged fields, counts, notes."""

    changes: tuple[PlanChange, ...]
    unchanged: tuple[str, ...]
    summary: Mapping[str, int]
    notes: tuple[str, ...]

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(
            tuple(PlanChange.of(c) for c in plan.changes if c.action != "unchanged"),
            tuple(c.field for c in plan.changes if c.action == "unchanged"),
            summary(plan),
            plan.notes,
        )


@dataclass(frozen=True)
class SourceReview:
    """What a dry run says a manifest's key source would do (it reads none; a variable is checked for presence)."""

    field: str
    kind: str
    source: str
    action: str
    present: bool | None = omit_if_none()
    program: str | None = omit_if_none()  # cmd: the file it runs, found on PATH only (None: not found)


@dataclass(frozen=True)
class Written(Result):
    """A field write's plan and, unless it was a preview, what the one write path did."""

    db: str
    user_data_dir: str | None
    dry_run: bool
    check: bool
    plan: PlanView
    applied: bool = False
    journal: str | None = None
    profile_journal: str | None = None
    rows_written: int = 0
    quick_check: str | None = None
    warnings: tuple[str, ...] = ()
    sent_to: tuple[str, ...] = ()  # after a write: each change of where prompts, code and keys go
    undo: Hint | None = None  # the command that takes the write back (two, with a profile: see undo_profile)
    undo_profile: Hint | None = None
    removed_keys: tuple[str, ...] = ()  # keys the write removed, which its undo journal still holds
    purge: Hint | None = None  # the command that deletes that journal
    other_profiles: tuple[str, ...] = ()  # profiles a write without --profile left alone
    sources: tuple[SourceReview, ...] | None = omit_if_none()  # apply --dry-run: what each key source would do
    raw_plan: Plan | None = internal()  # the Plan object, for Python callers and text rendering

    @property
    def pending(self) -> tuple[int, int]:
        """(changes a run would write, conflicts it would stop at): what --check exits 17 for."""
        s = self.plan.summary
        return s.get("add", 0) + s.get("replace", 0) + s.get("remove", 0), s.get("conflict", 0)
