"""How every write command runs: plan, show, confirm, apply through the one write path, report."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

import click

from .. import errors as E

if TYPE_CHECKING:
    from ..library import Context, Prepared
from .options import CHECK, api_context, wait_with_status
from .output import coloured, emit_json, is_terminal
from .prompts import ask_conflict, confirm_write


def run_plan(
    ctx: click.Context,
    prep: Prepared,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    command: str,
    ask: bool = False,
    extra: dict | None = None,
) -> None:
    """Render a plan, confirm, apply through the one write path, report; `extra` goes into the JSON document.

    ask: settle conflicts by asking on the terminal (--on-conflict ask)."""
    from .. import library
    from ..changes import diff as planning
    from ..render import plan_json, plan_text

    check = bool(ctx.meta.get(CHECK))
    if prep.plan.conflicts and not (dry_run or check) and is_terminal(sys.stdin) and ask:
        prep = library.resolve_conflicts(prep, ask_conflict)
    doc = {
        **library.source_info(prep.inst),
        "dry_run": dry_run or check,
        "check": check,
        "plan": plan_json(prep.plan),
        "applied": False,
        "journal": None,
        "warnings": [],
        **(extra or {}),
    }
    if not as_json:
        click.echo(coloured(plan_text(prep.plan)))
    if prep.other_profiles:
        click.echo(
            f"note: writing the default profile's settings; other profiles ({', '.join(prep.other_profiles)}) "
            "keep their own: pass --profile NAME for one of them",
            err=True,
        )
    for line in library.plan_warnings(prep.plan):
        click.echo(f"warning: {line}", err=True)
    if dry_run or check:
        finish_preview(prep.plan, doc, check=check, as_json=as_json)
        return
    if prep.plan.conflicts and as_json:
        emit_json(doc)  # the plan, then the refusal: exit 11
    planning.refuse_conflicts(prep.plan)
    if prep.plan.effective:
        confirm_write(f"Apply {len(prep.plan.effective)} change(s) to {written_where(prep)}?", yes=yes)
    result = library.apply(prep, command=command)
    doc.update(
        applied=bool(result.rows),
        journal=result.journal_id,
        profile_journal=result.profile_journal_id,
        warnings=list(result.warnings),
        rows_written=len(result.rows),
        quick_check=result.quick_check,
    )
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    for line in planning.endpoint_messages(prep.plan) if result.rows else ():
        click.echo(f"note: {line}", err=True)
    if as_json:
        emit_json(doc)
    elif result.rows:
        click.echo(f"applied: {len(result.rows)} row(s) written, verified; undo with {undo_hint(prep, result)}")
    else:
        kept = sum(1 for c in prep.plan.changes if c.action == "kept")
        click.echo(f"nothing to write: {f'{kept} kept value(s) differ' if kept else 'the database already matches'}")
    removed_key_note(prep, result.journal_id)


def written_where(prep: Prepared) -> str:
    """The database(s) a write changes, for its confirmation: a profile's settings live in its own."""
    if prep.user_profile is None:
        return str(prep.inst.db_path)
    return f"{prep.inst.db_path} and profile {prep.user_profile.name}'s {prep.user_profile.db}"


def finish_preview(plan, doc: dict, *, check: bool, as_json: bool) -> None:
    """The end of --dry-run and --check: nothing written; --check fails with 17 when anything is pending."""
    if as_json:
        emit_json(doc)
    click.echo("dry run: nothing written", err=as_json)
    pending, conflicts = len(plan.effective), len(plan.conflicts)
    if check and (pending or conflicts):
        raise E.ChangesPending(f"--check: {pending} change(s) and {conflicts} conflict(s) pending; nothing written")


def undo_hint(prep, result) -> str:
    """The undo command(s) for a write, ready to paste; a profile's settings blob is journaled apart from the keys."""
    from ..changes.write import undo_command

    hints = [undo_command(prep.inst, result.journal_id)] if result.journal_id else []
    if result.profile_journal_id:
        hints.append(undo_command(prep.inst, result.profile_journal_id, prep.user_profile.location))
    return " and ".join(hints)


def removed_key_note(prep: Prepared, journal_id: str | None) -> None:
    """Say on stderr that removed keys stay in the undo journal, and how to delete it (a command to paste)."""
    from ..cursor.paths import command_for
    from ..model import is_key_field

    removed = [c.field for c in prep.plan.effective if c.new is None and is_key_field(c.field)]
    if journal_id and removed:
        purge = command_for(prep.inst, f"undo --purge {journal_id} --yes")
        click.echo(
            f"note: the removed key ({', '.join(removed)}) stays in undo journal {journal_id} so this can be "
            f"undone; delete it with `{purge}` once you no longer need it",
            err=True,
        )


def run_write(
    ctx: click.Context,
    plan: Callable[[Context], tuple[Prepared, list[str]]],
    *,
    command: str,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    wait: float | None,
    ask: bool = False,
    extra: dict | None = None,
) -> None:
    """Wait for Cursor if asked, plan with a library plan_* function, show its key-shape warnings, run_plan."""
    actx = api_context(ctx)
    wait_with_status(actx, wait)
    prep, warnings = plan(actx)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    run_plan(ctx, prep, dry_run=dry_run, yes=yes, as_json=as_json, command=command, ask=ask, extra=extra)
