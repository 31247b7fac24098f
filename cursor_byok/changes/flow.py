"""The one write flow, in the order a user needs it. Every write command runs these steps, in this order:

1. preflight: the database is found (by the caller), Cursor is not running
   (or `wait` gave it time to quit), the rows are read once, and when keys may
   be written the machine secret is proven. Nothing is asked before this
   passes. A preview (dry run, --check) skips the Cursor check and never waits.
2. inputs: the command reads what it needs (a bundle's passphrase, key
   sources), inside its `make` function;
3. plan;
4. show the plan (`Interaction.show`), then settle conflicts: one decision
   for every value conflict; a change of where prompts and code go is listed
   and decided apart, and no blanket "replace" covers it (`Interaction.decide`);
5. confirm (`Interaction.confirm`); 6. write (journal, transaction, read-back);
7. the result.

Decisions come in as callbacks, so a Python caller and the command line
share every step: the CLI passes terminal-backed ones. Undo and redo run the
same steps with their own plan (`changes.undo`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Protocol, TypeVar

from ..cursor.paths import Installation, UserProfile, cursor_running, refuse_other_names
from ..cursor.reading import installed_version, read_merged_rows
from ..cursor.rows import read_profile
from ..errors import CursorRunning, Declined, InputError, PlanConflict
from ..model import Change, KeyStorage, is_key_field
from ..results import Invocation, Result
from ..safestorage.backends import SafeStorage
from ..versions import recorded_version
from . import diff
from .outcome import PlanView, SourceReview, Written
from .planner import Prepared, Target
from .write import WriteResult, prove_machine_key, write_plan


@dataclass(frozen=True)
class Mode:
    """How far a run goes: a dry run or a --check shows the plan and writes nothing; `wait` gives Cursor up to
    that many seconds to quit before a write."""

    dry_run: bool = False
    check: bool = False
    wait: float | None = None

    @property
    def preview(self) -> bool:
        return self.dry_run or self.check


@dataclass(frozen=True)
class Conflicts:
    """What a plan still holds that someone must decide: stored values that differ, and, apart, changes of where
    prompts, code and keys are sent (`Change.sends`)."""

    values: tuple[Change, ...]
    endpoints: tuple[Change, ...]

    def __bool__(self) -> bool:
        return bool(self.values or self.endpoints)

    @classmethod
    def of(cls, changes: tuple[Change, ...]) -> Conflicts:
        return cls(tuple(c for c in changes if not c.sends), tuple(c for c in changes if c.sends))


# decide(conflicts) -> {field: True to take the new value}; a field left out keeps the stored value.
# Raise Declined to stop (nothing is written).
Decide = Callable[[Conflicts], Mapping[str, bool]]


@dataclass(frozen=True)
class Interaction:
    """The callbacks a run asks, in order: show(preview) once the plan is made, decide(conflicts) when the
    policy is to ask, confirm(question) before writing; progress(text or None) for status lines."""

    show: Callable[[Result], None] | None = None
    decide: Decide | None = None
    confirm: Callable[[str], bool] | None = None
    progress: Callable[[str | None], None] | None = None

    def status(self, text: str | None) -> None:
        if self.progress is not None:
            self.progress(text)


R = TypeVar("R", bound=Result)
R_co = TypeVar("R_co", bound=Result, covariant=True)
P = TypeVar("P", bound="Plannable[Result]")


class Plannable(Protocol[R_co]):
    """A plan the flow can show, settle, confirm and write: a field write (`FieldWrite`, its result `Written`) or
    an undo (`UndoWrite`, `UndoResult`)."""

    def preview(self, mode: Mode) -> R_co: ...

    def conflicts(self) -> Conflicts: ...

    def settled(self: P, replaced: Mapping[str, bool]) -> P: ...

    def refuse_conflicts(self) -> None: ...

    def pending(self) -> tuple[int, int]: ...  # (changes to write, conflicts)

    def question(self) -> str: ...

    def write(self) -> R_co: ...


# --- 1. preflight ------------------------------------------------------------------------


def wait_for_exit(inst: Installation, seconds: float, ui: Interaction, poll: float = 0.5) -> None:
    """Give Cursor up to `seconds` to exit (it saves as it quits), saying so on a status line."""
    deadline = time.monotonic() + seconds
    running = cursor_running(inst)
    if running:
        ui.status(f"waiting for Cursor (pid {running.pid}) to exit…")
    try:
        while running and time.monotonic() < deadline:
            time.sleep(poll)
            running = cursor_running(inst)
    finally:
        if running is not None:
            ui.status(None)


def ensure_closed(inst: Installation, invocation: Invocation, waited: float | None = None) -> None:
    """CursorRunning (exit 6), saying what to do, when Cursor runs for this installation; LinkedDatabase (exit 15)
    when a database chosen with --db has other names."""
    running = cursor_running(inst)
    if running is None:
        refuse_other_names(inst)
        return
    how = (
        f"it was still running after --wait {waited:g}; quit Cursor completely (File > Exit), then run again"
        if waited
        else "quit Cursor completely (File > Exit), then run again, or pass --wait SECONDS"
    )
    raise CursorRunning(f"Cursor is running (pid {running.pid}, found by {running.how}); {how}")


def check_closed(inst: Installation, mode: Mode, invocation: Invocation, ui: Interaction) -> None:
    """The Cursor check of preflight: a write waits for Cursor to quit (`mode.wait`) or refuses while it runs;
    a preview neither checks nor waits."""
    if not mode.preview:
        if mode.wait:
            wait_for_exit(inst, mode.wait, ui)
        ensure_closed(inst, invocation, mode.wait)


def preflight(
    inst: Installation,
    storage: SafeStorage,
    *,
    mode: Mode,
    keys: bool,
    key_storage: KeyStorage = "auto",
    user_profile: UserProfile | None = None,
    other_profiles: tuple[str, ...] = (),
    invocation: Invocation | None = None,
    ui: Interaction | None = None,
) -> Target:
    """Step 1: Cursor closed (unless a preview), the rows read once, and (`keys`: keys may be written) the
    machine secret proven, before anything is asked. Raises CursorRunning (6), WrongMachineKey or
    SafeStorageUnavailable (7)."""
    ui, invocation = ui or Interaction(), invocation or Invocation()
    check_closed(inst, mode, invocation, ui)
    rows = read_merged_rows(inst.db_path, user_profile.db if user_profile else None)
    target = Target(inst, storage, rows, invocation, user_profile, other_profiles, app_version(inst, rows))
    if keys and not mode.preview:
        prove_secret(target, key_storage)
    return target


def app_version(inst: Installation, rows: Mapping[str, object]) -> str | None:
    """The installed app's version when the database records none (a tie-break for the key form), else None."""
    if recorded_version(rows) is not None:
        return None
    found = installed_version(inst)
    return found.version if found else None


def prove_secret(target: Target, key_storage: KeyStorage) -> None:
    """When this Cursor keeps keys encrypted, its machine secret must be proven before anyone is asked for
    anything: a key encrypted with a wrong secret is deleted by Cursor."""
    if diff.choose_key_form(read_profile(target.rows), key_storage, target.installed) == "secret":
        prove_machine_key(target.rows, target.storage)


# --- 2 to 7 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """How conflicts are settled: `ask` hands them to Interaction.decide; otherwise the plan was made with the
    policy already applied (fail, keep or replace) and what is left refuses the write."""

    ask: bool = False


def conflict_policy(on_conflict: str, ui: Interaction) -> Policy:
    """The policy a write's `on_conflict` argument asks for; "ask" needs someone to ask (`ui.decide`)."""
    if on_conflict == "ask" and ui.decide is None:
        raise InputError("on_conflict='ask' needs a decide callback (Interaction.decide); or pass 'keep' or 'replace'")
    return Policy(ask=on_conflict == "ask")


def run(target: Target, make: Callable[[Target], Plannable[R]], *, mode: Mode, policy: Policy, ui: Interaction) -> R:
    """Steps 2 to 7 for a target that passed preflight: `make` reads inputs and plans."""
    planned = make(target)
    preview = planned.preview(mode)
    if ui.show is not None:
        ui.show(preview)
    if mode.preview:
        return finish_preview(planned, preview, mode)
    conflicts = planned.conflicts()
    if conflicts and policy.ask and ui.decide is not None:
        planned = planned.settled(ui.decide(conflicts))
    try:
        planned.refuse_conflicts()
    except PlanConflict as exc:
        exc.result = planned.preview(mode)  # scripts read the plan that was refused
        raise
    if planned.pending()[0] and ui.confirm is not None and not ui.confirm(planned.question()):
        raise Declined("declined; nothing written")
    return planned.write()


def finish_preview(planned: Plannable[R], preview: R, mode: Mode) -> R:
    """A dry run or a --check returns its plan, written nowhere; `pending` (Written, UndoResult) says what a run
    would write or stop at, which a --check turns into its exit status."""
    return preview


# --- a field write ----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldWrite:
    """The Plannable of every field write: a Prepared plan, the command recorded in its undo journal."""

    prepared: Prepared
    command: str
    sources: tuple[SourceReview, ...] | None = None

    def preview(self, mode: Mode) -> Written:
        return written(self.prepared, mode=mode, sources=self.sources)

    def conflicts(self) -> Conflicts:
        return Conflicts.of(self.prepared.plan.conflicts)

    def settled(self, replaced: Mapping[str, bool]) -> FieldWrite:
        plan = diff.resolve(self.prepared.plan, replaced)
        return replace(self, prepared=replace(self.prepared, plan=plan))

    def refuse_conflicts(self) -> None:
        diff.refuse_conflicts(self.prepared.plan)

    def pending(self) -> tuple[int, int]:
        return len(self.prepared.plan.effective), len(self.prepared.plan.conflicts)

    def question(self) -> str:
        return f"Apply {self.pending()[0]} change(s) to {written_where(self.prepared.target)}?"

    def write(self) -> Written:
        target = self.prepared.target
        wrote = write_plan(
            target.inst, target.storage, self.prepared.plan, target.rows, key_form=self.prepared.key_form,
            command=self.command, blob_db=target.user_profile.db if target.user_profile else None,
            invocation=target.invocation,
        )  # fmt: skip
        return written(self.prepared, mode=Mode(), wrote=wrote)


def written_where(target: Target) -> str:
    """The database(s) a write changes, for its confirmation: a profile's settings live in its own."""
    if target.user_profile is None:
        return str(target.inst.db_path)
    return f"{target.inst.db_path} and profile {target.user_profile.name}'s {target.user_profile.db}"


def written(
    prepared: Prepared,
    *,
    mode: Mode,
    wrote: WriteResult | None = None,
    sources: tuple[SourceReview, ...] | None = None,
) -> Written:
    """The result of a field write: its plan and, after a write, what was done and the hints that follow."""
    target, plan = prepared.target, prepared.plan
    hint = target.invocation.hint
    landed = bool(wrote and wrote.rows)
    removed = tuple(c.field for c in plan.effective if c.new is None and is_key_field(c.field)) if landed else ()
    location = target.user_profile.location if target.user_profile else None
    journal = wrote.journal_id if wrote else None
    return Written(
        db=str(target.inst.db_path),
        user_data_dir=str(target.inst.user_data_dir) if target.inst.user_data_dir else None,
        dry_run=mode.preview,
        check=mode.check,
        plan=PlanView.of(plan),
        applied=landed,
        journal=journal,
        profile_journal=wrote.profile_journal_id if wrote else None,
        rows_written=len(wrote.rows) if wrote else 0,
        quick_check=wrote.quick_check if wrote else None,
        warnings=(*prepared.warnings, *(wrote.warnings if wrote else ())),
        sent_to=tuple(diff.endpoint_messages(plan)) if landed else (),
        undo=hint("undo", journal) if journal else None,
        undo_profile=hint("undo", "--profile", location, wrote.profile_journal_id)
        if wrote and wrote.profile_journal_id and location
        else None,
        removed_keys=removed,
        purge=hint("undo", "--purge", journal, "--yes") if removed and journal else None,
        other_profiles=target.other_profiles,
        sources=sources,
        raw_plan=plan,
    )
