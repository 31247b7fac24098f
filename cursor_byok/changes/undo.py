"""Undo and redo: plans that put a journal's old values back, through the one write path.

`undo_plan()` finds the journal to restore (the newest write not undone yet,
a given one, or for redo the newest undo in effect: changes/history.py),
reads the rows it touches as they are now, and says in words what each row
and settings field would become. `UndoWrite` is its Plannable for the flow
(changes/flow.py): conflicts are values changed since the write, which only
`force` overrides.

A journal is input from disk, so it is checked before anything is restored:
each old settings value must parse as one JSON value of its field's type,
restored URLs, deployments and regions pass the checks of any write, and the
patched settings blob may differ from the stored one only at journaled paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from ..cursor import blob_patch, urls
from ..cursor.paths import Installation
from ..cursor.rows import (
    BLOB_KEY,
    BLOB_KEY_FIELDS,
    BLOB_PATHS,
    BOOL_FIELDS,
    KEY_ROW_NAMES,
    PLAIN_PREFIX,
    SECRET_PREFIX,
    STR_FIELDS,
    as_text,
)
from ..cursor.store import RowWrite, Store
from ..errors import ByokError, InputError, NothingToUndo, PlanConflict
from ..model import MODEL_LIST_FIELDS, mask
from ..results import Hint, Invocation, Result, omit_if_none
from . import diff, journal
from .flow import Conflicts, Mode
from .history import History
from .journal import JournalUnsafe
from .wanted import check_name, check_region
from .write import WriteResult, write_rows

EMPTY_OBJECT = "{}"


@dataclass(frozen=True)
class Restore:
    """One row or settings field an undo puts back, in words (keys masked); a model list says what it
    adds and removes."""

    field: str
    now: str
    restored: str
    added: tuple[str, ...] | None = omit_if_none()
    removed: tuple[str, ...] | None = omit_if_none()
    sends: str | None = omit_if_none()  # an endpoint put back: what Cursor then sends where (diff.restored_endpoint)


@dataclass(frozen=True)
class Redone:
    id: str
    command: str


@dataclass(frozen=True)
class UndoResult(Result):
    """An undo's (or redo's) plan in words and, unless it was a dry run, what was written."""

    undone: str
    command: str
    redo: bool
    redoes: Redone | None
    restores: tuple[Restore, ...]
    conflicts: tuple[str, ...]
    dry_run: bool = False
    applied: bool = False
    journal: str | None = None
    rows_written: int = 0
    again: Hint | None = None  # the Hint that undoes this undo (a redo), or redoes it again, after a write

    @property
    def pending(self) -> tuple[int, int]:
        return len(self.restores), len(self.conflicts)

    @property
    def sent_to(self) -> tuple[str, ...]:
        """After a write, one line per endpoint put back that is not the provider's own (as Written.sent_to)."""
        return tuple(f"{r.field}: Cursor now sends {r.sends}" for r in self.restores if r.sends and self.applied)


@dataclass(frozen=True)
class UndoPlan:
    """What an undo (or redo) would write: the journal it restores, the rows as now, the writes, in words."""

    inst: Installation
    entry: journal.Entry  # the journal restored
    rows: dict[str, Any] = field(repr=False)  # raw rows: the settings blob may hold keys in clear
    writes: list[RowWrite] = field(repr=False)  # the values to write back, keys among them
    restores: tuple[Restore, ...] = ()
    conflicts: tuple[str, ...] = ()
    redoes: journal.Entry | None = None  # for redo: the write that comes back (the journal the undo undid)
    invocation: Invocation = field(default_factory=Invocation)
    profile: str | None = None  # the --profile whose database this is, for hints
    force: bool = False

    @property
    def redo(self) -> bool:
        return self.redoes is not None

    def result(self, *, dry_run: bool, wrote: WriteResult | None = None) -> UndoResult:
        again = None
        if wrote and wrote.journal_id:
            again = self.invocation.hint("undo", *(("--profile", self.profile) if self.profile else ()),
                                         wrote.journal_id)  # fmt: skip
        return UndoResult(
            undone=self.entry.id,
            command=self.entry.command,
            redo=self.redo,
            redoes=Redone(self.redoes.id, self.redoes.command) if self.redoes is not None else None,
            restores=self.restores,
            conflicts=self.conflicts,
            dry_run=dry_run,
            applied=bool(wrote and wrote.rows),
            journal=wrote.journal_id if wrote else None,
            rows_written=len(wrote.rows) if wrote else 0,
            again=again,
        )


@dataclass(frozen=True)
class UndoWrite:
    """The Plannable of undo and redo (changes/flow.py)."""

    plan: UndoPlan

    def preview(self, mode: Mode) -> UndoResult:
        return self.plan.result(dry_run=True)

    def conflicts(self) -> Conflicts:
        return Conflicts((), ())  # values changed since are not asked about: only --force restores them

    def settled(self, replaced: Mapping[str, bool]) -> UndoWrite:
        return self

    def refuse_conflicts(self) -> None:
        if self.plan.conflicts and not self.plan.force:
            raise PlanConflict(
                f"{len(self.plan.conflicts)} change(s) since {self.plan.entry.id} was written "
                f"({self.plan.conflicts[0]}); pass --force to restore them anyway"
            )

    def pending(self) -> tuple[int, int]:
        return (len(self.plan.writes), 0 if self.plan.force else len(self.plan.conflicts))

    def question(self) -> str:
        verb = "Re-apply" if self.plan.redo else "Restore"
        return f"{verb} {len(self.plan.restores)} value(s) in {self.plan.inst.db_path}?"

    def write(self) -> UndoResult:
        wrote = write_undo(self.plan)
        return self.plan.result(dry_run=False, wrote=wrote)


# --- the plan ----------------------------------------------------------------------------


def undo_plan(
    inst: Installation,
    journal_id: str | None = None,
    *,
    redo: bool = False,
    invocation: Invocation | None = None,
    profile: str | None = None,
    force: bool = False,
) -> UndoPlan:
    """The plan of `undo [ID]` (or of `redo`) for the database `inst` names, written nowhere."""
    invocation = invocation or Invocation()
    if redo:
        entry, rows, redoes = _journal_to_redo(inst, invocation)
    else:
        (entry, rows), redoes = _journal_to_undo(inst, journal_id, invocation), None
    writes = restoring_writes(entry, rows)
    restores = tuple(_restores_in_words(entry, rows, writes))
    return UndoPlan(inst, entry, rows, writes, restores, tuple(_changed_since(entry, rows)), redoes, invocation,
                    profile, force)  # fmt: skip


def write_undo(plan: UndoPlan) -> WriteResult:
    """Write an undo plan through the one write path; its journal names the journal it restores."""
    UndoWrite(plan).refuse_conflicts()
    return write_rows(
        plan.inst, plan.rows, plan.writes, command=f"undo {plan.entry.id}", undoes=plan.entry.id,
        invocation=plan.invocation,
    )  # fmt: skip


def _journal_to_undo(
    inst: Installation, journal_id: str | None, invocation: Invocation
) -> tuple[journal.Entry, dict[str, Any]]:
    """(entry, the rows it touches as stored now): the given journal, or the newest write not undone yet
    that has something to restore. Headers are read first; bodies only of the journals looked at."""
    found = journal.entries(db=inst.db_path)
    if journal_id:
        found = [e for e in found if e.id == journal_id or e.id.startswith(journal_id)][:1]
    if not found:
        what = f"journal {journal_id!r}" if journal_id else "journal for this database"
        raise NothingToUndo(f"no {what}; `{invocation('undo --list')}` shows what can be undone")
    journal.usable(found[0])  # the newest (or the chosen) must be sound before anything else
    rows = journaled_rows(inst, found)
    if journal_id:
        return found[0], rows
    candidates = history(found, rows).undo_candidates()
    if not candidates:
        raise NothingToUndo(
            f"nothing left to undo: all {len(found)} journal(s) of this database are undone or undos; "
            f"`{invocation('redo')}` re-applies the newest undone write, `{invocation('undo --list')}` lists them"
        )
    for entry in candidates:
        if restoring_writes(journal.usable(entry), rows):  # a damaged one further back is not skipped either
            return entry, rows
    return candidates[0], rows


def _journal_to_redo(inst: Installation, invocation: Invocation) -> tuple[journal.Entry, dict[str, Any], journal.Entry]:
    """(the newest undo in effect, the rows, the write it undid): restoring that undo's journal re-applies it."""
    found = journal.entries(db=inst.db_path)
    rows = journaled_rows(inst, found) if found else {}
    entry, later = history(found, rows).redo_candidate()
    if later is not None:
        raise NothingToUndo(
            f"nothing to redo: {later.id} ({later.command}) was written after the last undo; "
            f"`{invocation('undo --list')}` lists the journals, and `{invocation('undo ID')}` restores any of them"
        )
    if entry is None:
        raise NothingToUndo(
            f"nothing to redo: no undone write for this database; `{invocation('undo --list')}` lists them"
        )
    return journal.usable(entry), rows, next(e for e in found if e.id == entry.undone_id)


def journaled_rows(inst: Installation, found: Iterable[journal.Entry]) -> dict[str, Any]:
    with Store(inst.db_path) as st:
        return st.get_items(sorted({k for e in found for k in e.keys}))


def history(found: list[journal.Entry], rows: Mapping[str, Any], *, lenient: bool = False) -> History:
    """Which of these journals are undone. An undo counts only if it landed (its rows do not all still hold
    what it recorded as old); `lenient` (for listing) takes a damaged one as not landed instead of refusing."""

    def landed(entry: journal.Entry) -> bool:
        try:
            return bool(restoring_writes(journal.usable(entry), rows))
        except InputError:
            if not lenient:
                raise
            return False

    return History(found, landed)


# --- the writes ------------------------------------------------------------------------


def _blob_row(entry: journal.Entry) -> dict[str, Any] | None:
    return next((r for r in entry.rows if "fields" in r), None)


def restoring_writes(entry: journal.Entry, rows: Mapping[str, Any]) -> list[RowWrite]:
    """The writes that put the journal's old values back, for what does not hold them now.

    A settings blob the journaled write created (a fresh install has none) is
    removed again once nothing but its journaled fields were in it; one the
    journaled write removed (an undo of that) comes back with its fields.
    """
    writes = [RowWrite(k, v) for k, v in entry.old_values().items()]  # byte for byte, BLOBs included
    writes = [w for w in writes if rows.get(w.key) != w.value]
    blob = _blob_row(entry)
    if blob is None:
        return writes
    text = as_text(rows.get(BLOB_KEY))
    if text is None and blob.get("row") == "deleted":
        text = EMPTY_OBJECT  # the write removed the blob: it comes back, with its fields
    if text is None:
        return writes
    fields = entry.blob_fields()
    paths = tuple(tuple(f["path"]) for f in fields)
    restored = restore_fields(text, fields)
    if blob.get("row") == "created" and _is_empty_object(restored):
        writes.append(RowWrite(BLOB_KEY, None, paths))  # the write created it: gone again, as it was
    elif restored != text or BLOB_KEY not in rows:
        writes.append(RowWrite(BLOB_KEY, restored, paths))
    return writes


def _is_empty_object(text: str) -> bool:
    try:
        return bool(json.loads(text) == {})
    except ValueError:
        return False


def restore_fields(text: str, fields: list[dict[str, Any]]) -> str:
    """The blob with each journaled field back to its old JSON text, or removed where it was missing.

    Each old value is checked first (check_restored); removals go last-first
    and re-creations first-last, the reverse and the order of the write, so
    when nothing else changed the text comes back byte for byte. A member the
    write created around a field (`azureState`) goes again only if it holds
    nothing but journaled fields. The result may differ from `text` only at
    journaled paths (JournalUnsafe otherwise).
    """
    for f in fields:
        check_restored(f["path"], f["old"])
    journaled = {tuple(f["path"]) for f in fields}
    out = text
    for f in reversed(fields):
        if f["old"] is None:
            out = blob_patch.delete_path(out, _created_member(out, f, journaled))
    for f in fields:
        if f["old"] is not None:
            out = blob_patch.set_raw(out, f["path"], f["old"])
    _only_journaled_paths_differ(text, out, journaled)
    return out


def _field_of(path: Any) -> str | None:
    names = {v: k for k, v in BLOB_PATHS.items()}
    return names.get(tuple(path))


def check_restored(path: Any, raw: str | None) -> None:
    """An old value from a journal must be one JSON value of its field's type, and an endpoint must pass the
    checks of any write; a forged journal cannot splice other JSON into the settings blob."""
    if raw is None:
        return
    where = ".".join(path)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise JournalUnsafe(f"the journal's old value of {where} is not one JSON value; it is not restored") from None
    name = _field_of(path)
    if name in BOOL_FIELDS:
        ok = isinstance(value, bool)
    elif name in STR_FIELDS or name in BLOB_KEY_FIELDS or name is None:  # None: a model selection (modelName)
        ok = value is None or isinstance(value, str)
    elif name in MODEL_LIST_FIELDS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = False
    if not ok:
        raise JournalUnsafe(f"the journal's old value of {where} is not of that field's type; it is not restored")
    if isinstance(value, str) and value:
        _check_endpoint(name, value)


def _check_endpoint(name: str | None, value: str) -> None:
    if name is None:  # a model selection: no endpoint
        return
    try:
        if name in urls.URL_FIELDS:
            urls.check(value, name)
        elif name == "azure.deployment":
            check_name(value, name)
        elif name == "bedrock.region":
            check_region(value, name)
    except ByokError as exc:
        raise JournalUnsafe(f"the journal would restore {exc}; it is not restored") from None


def _only_journaled_paths_differ(before: str, after: str, journaled: set[tuple[str, ...]]) -> None:
    """After the splice the blob parses, and differs from the stored one only at journaled paths."""
    try:
        old, new = json.loads(before), json.loads(after)
    except (ValueError, RecursionError):
        raise JournalUnsafe("restoring the journal would leave the settings blob unreadable") from None
    if _without(old, journaled) != _without(new, journaled):
        raise JournalUnsafe("restoring the journal would change settings it did not journal; it is not restored")


def _without(value: Any, paths: set[tuple[str, ...]], prefix: tuple[str, ...] = ()) -> Any:
    """`value` with the members at `paths` (and objects left empty by their removal) dropped."""
    if not isinstance(value, dict):
        return value
    out = {}
    for name, inner in value.items():
        here = (*prefix, name)
        if here in paths:
            continue
        kept = _without(inner, paths, here)
        if isinstance(kept, dict) and not kept and any(p[: len(here)] == here for p in paths):
            continue
        out[name] = kept
    return out


def _created_member(text: str, f: dict[str, Any], journaled: set[tuple[str, ...]]) -> tuple[str, ...]:
    """The member to remove for a field that was missing: the outermost one the write created,
    when nothing but journaled fields sits inside it; else the field itself."""
    path = tuple(f["path"])
    outer = path[: f.get("absent_from", len(path) - 1) + 1]
    raw = blob_patch.raw_at(text, outer) if outer != path else None
    if raw is None:
        return path
    try:
        leaves = set(_leaf_paths(outer, json.loads(raw)))
    except (ValueError, RecursionError):
        return path
    return outer if leaves <= journaled else path


def _leaf_paths(prefix: tuple[str, ...], value: Any) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        for name, inner in value.items():
            yield from _leaf_paths((*prefix, name), inner)
    else:
        yield prefix


# --- in words ----------------------------------------------------------------------------


def _raw_or_none(text: str | None, path: Any) -> str | None:
    try:
        return blob_patch.raw_at(text, path) if text is not None else None
    except blob_patch.PatchError:
        return None


def _blob_text_now(entry: journal.Entry, rows: Mapping[str, Any]) -> str | None:
    text = as_text(rows.get(BLOB_KEY))
    blob = _blob_row(entry)
    return EMPTY_OBJECT if text is None and blob is not None and blob.get("row") == "deleted" else text


def _changed_since(entry: journal.Entry, rows: Mapping[str, Any]) -> list[str]:
    """What changed since the journal's write, in words: rows, and fields inside the settings blob."""
    old_values, digest = entry.old_values(), journal.digest
    out = [
        f"{row_words(r['key'])} changed since"
        for r in entry.rows
        if "fields" not in r and digest(rows.get(r["key"])) not in (r["new_sha256"], digest(old_values[r["key"]]))
    ]
    text = as_text(rows.get(BLOB_KEY))
    for f in entry.blob_fields():
        now = _raw_or_none(text, f["path"])
        if journal.digest(now) not in (f.get("new_sha256"), journal.digest(f["old"])):
            out.append(f"{field_name(f['path'])} changed since, to {_shown_raw(f['path'], now)}")
    return out


def _restores_in_words(entry: journal.Entry, rows: Mapping[str, Any], writes: list[RowWrite]) -> list[Restore]:
    """Each row and settings field an undo would put back: its name, what it holds now, what it gets."""
    out = [
        Restore(row_words(w.key), row_value_words(rows.get(w.key)), row_value_words(w.value))
        for w in writes
        if w.key != BLOB_KEY
    ]
    text = _blob_text_now(entry, rows)
    for f in entry.blob_fields() if text is not None else ():
        now = _raw_or_none(as_text(rows.get(BLOB_KEY)), f["path"])
        if now != f["old"]:
            added, removed = _list_delta(now, f["old"])
            shown = (field_value_words(f["path"], now), field_value_words(f["path"], f["old"]))
            name = field_name(f["path"])
            out.append(Restore(name, shown[0], shown[1], added, removed, _sends(name, f["old"])))
    return out


def _sends(name: str, raw: str | None) -> str | None:
    """For an endpoint field put back: what Cursor then sends where (None if it is the provider's own)."""
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None  # check_restored refuses it before anything is written
    return diff.restored_endpoint(name, value)


def _list_delta(now: str | None, restored: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """For a model list: the names the restore adds and removes ((None, None) for any other field)."""
    try:
        lists = [json.loads(raw) if raw is not None else [] for raw in (now, restored)]
    except ValueError:
        return None, None
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists):
        return None, None
    added = tuple(m for m in lists[1] if m not in lists[0])
    return added, tuple(m for m in lists[0] if m not in lists[1])


def row_words(key: str) -> str:
    """A key row in words: `anthropic.key (encrypted row)`, `openai.key (plain row)`, `extra.deepseekKey (...)`."""
    fields = {row: name for name, row in KEY_ROW_NAMES.items()}
    for prefix, form in ((SECRET_PREFIX, "encrypted row"), (PLAIN_PREFIX, "plain row")):
        if key.startswith(prefix):
            name = key[len(prefix) :]
            return f"{fields.get(name, 'extra.' + name)} ({form})"
    return f"row {key}"


def row_value_words(value: Any) -> str:
    """A key row's value for a plan: never the key itself."""
    if value is None:
        return "(unset)"
    text = as_text(value)
    if text is None:
        return "a binary value"
    if text.startswith('{"type":"Buffer"'):
        return "(empty)" if text == journal.EMPTY_SECRET else "an encrypted key"
    return mask(text) if text else "(empty)"


def _key_path(path: Any) -> bool:
    return tuple(path) in {BLOB_PATHS[f] for f in BLOB_KEY_FIELDS}


def field_value_words(path: Any, raw: str | None) -> str:
    """A settings field's JSON text for a plan: keys masked, URLs without query or user info."""
    if raw is None:
        return "(unset)"
    try:
        value = json.loads(raw)
    except ValueError:
        return "an unreadable value"
    if _key_path(path) and isinstance(value, str) and value != "iam":
        return mask(value) if value else "(empty)"
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return (urls.shown(value) if "://" in value else value) or '""'
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def field_name(path: Any) -> str:
    name = _field_of(path)
    if name is not None:
        return name
    path = tuple(path)
    return "models.selected." + path[2] if len(path) == 4 else ".".join(path)


def _shown_raw(path: Any, raw: str | None) -> str:
    """A field's current JSON text for a message: keys never shown, URLs without query or user info."""
    if raw is None:
        return "nothing (removed)"
    if _key_path(path):
        return "another key"
    try:
        value = json.loads(raw)
    except ValueError:
        return "an unreadable value"
    if isinstance(value, str) and "://" in value:
        return urls.shown(value)
    shown = json.dumps(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


# --- listing and purging ----------------------------------------------------------------


@dataclass(frozen=True)
class JournalInfo:
    """One journal in `undo --list`: its kind, what it restored, whether (and by which journal) it was undone."""

    id: str
    created: str
    command: str
    rows: tuple[str, ...]
    damaged: bool
    kind: str
    undoes: str | None
    undone_by: str | None
    undone: bool


@dataclass(frozen=True)
class JournalList(Result):
    journals: tuple[JournalInfo, ...]


@dataclass(frozen=True)
class Purged(Result):
    purged: tuple[str, ...]


def journal_list(inst: Installation) -> JournalList:
    """This database's journals, newest first, each with its kind and whether it was undone (or redone)."""
    found = journal.entries(db=inst.db_path)
    try:
        rows = journaled_rows(inst, found) if found else {}
        known = history(found, rows, lenient=True)
    except ByokError:  # the database cannot be read: every undo is taken as landed
        known = History(found, lambda e: True)
    return JournalList(
        tuple(
            JournalInfo(
                e.id,
                e.created,
                e.command,
                tuple(e.keys),
                e.version not in journal.READABLE_VERSIONS or e.header_damaged,
                **known.status(e),
                undone=e.id in known.undone_by,
            )  # fmt: skip
            for e in found
        )
    )


def purge(inst: Installation, ids: Iterable[str]) -> Purged:
    """Delete these journals of the database; returns the ids deleted."""
    wanted = set(ids)
    removed = []
    for entry in journal.entries(db=inst.db_path):
        if entry.id in wanted:
            entry.path.unlink(missing_ok=True)
            removed.append(entry.id)
    return Purged(tuple(removed))
