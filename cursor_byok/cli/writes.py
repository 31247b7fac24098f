"""What every write command shares on the command line: terminal-backed decisions for the library's one flow
(changes/flow.py), and the report printed after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import briefs
from ..errors import ChangesPending
from .lib import flow, outcome, render, undo

if TYPE_CHECKING:
    from ..results import Result
from .options import verbose
from .output import echo, emit_json, show_status
from .prompts import confirm_write, decide_conflicts


class TerminalRun:
    """The callbacks of one write command (show the plan, decide, confirm, progress) and its report."""

    def __init__(self, *, yes: bool, as_json: bool) -> None:
        self.yes, self.as_json = yes, as_json
        self.warned: set[str] = set()

    @property
    def ui(self) -> flow.Interaction:
        return flow.Interaction(show=self.show, decide=self.decide, confirm=self.confirm, progress=show_status)

    def show(self, preview: Result) -> None:
        """Step 4: the plan, before any question; warnings and the other-profiles note on stderr."""
        if isinstance(preview, undo.UndoResult):
            if not self.as_json:
                echo(render.undo_plan_text(preview), colour=True)
            return
        assert isinstance(preview, outcome.Written) and preview.raw_plan is not None
        if not self.as_json:
            echo(render.plan_text(preview.raw_plan, verbose=verbose()), colour=True)
        if preview.other_profiles:
            echo(
                f"note: writing the default profile's settings; other profiles ({', '.join(preview.other_profiles)}) "
                "keep their own: pass --profile NAME for one of them",
                err=True,
            )
        self.warn(preview.warnings)

    def warn(self, lines: tuple[str, ...]) -> None:
        for line in lines:
            if line not in self.warned:
                self.warned.add(line)
                echo(render.wrapped(f"warning: {line if verbose() else briefs.plain(line)}"), err=True)

    def decide(self, conflicts: flow.Conflicts) -> dict[str, bool]:
        return decide_conflicts(conflicts)

    def confirm(self, question: str) -> bool:
        confirm_write(question, yes=self.yes)
        return True

    def report(self, result: outcome.Written | undo.UndoResult) -> None:
        """Step 7 on the command line: the JSON document, or what was done and the hints that follow."""
        if self.as_json:
            emit_json(result.to_json())
        if result.dry_run:
            echo("dry run: nothing written", err=self.as_json)
            if isinstance(result, outcome.Written) and result.check:
                pending, conflicts = result.pending
                if pending or conflicts:
                    raise ChangesPending(
                        f"--check: {pending} change(s) and {conflicts} conflict(s) pending; nothing written"
                    )
        elif isinstance(result, outcome.Written):
            self.written(result)
        elif isinstance(result, undo.UndoResult):
            for line in render.note_lines(list(result.sent_to), verbose=True):  # where prompts go: always in full
                echo(line, err=True)
            if not self.as_json:
                echo(undone_text(result))

    def written(self, result: outcome.Written) -> None:
        self.warn(result.warnings)
        for line in render.note_lines(list(result.sent_to), verbose=True):  # where prompts go: always in full
            echo(line, err=True)
        if not self.as_json:
            echo(render.wrapped(written_text(result)))
        if result.purge is not None:
            echo(
                f"note: the removed key ({', '.join(result.removed_keys)}) stays in undo journal {result.journal} so "
                f"this can be undone; delete it with `{result.purge}` once you no longer need it",
                err=True,
            )


def written_text(result: outcome.Written) -> str:
    """One line after a write: what was written and the undo command, or why nothing was."""
    if result.applied:
        undo = " and ".join(f"`{h}`" for h in (result.undo, result.undo_profile) if h is not None)
        return f"applied: {result.rows_written} row(s) written, verified; undo with {undo}"
    kept = result.plan.summary.get("kept", 0)
    return f"nothing to write: {f'{kept} kept value(s) differ' if kept else 'the database already matches'}"


def undone_text(result: undo.UndoResult) -> str:
    verb = f"re-applied {result.redoes.id}:" if result.redoes is not None else "restored"
    again = "undo it again with" if result.redo else "redo it with"
    hint = f"; {again} `{result.again}`" if result.again is not None else ""
    return f"{verb} {result.rows_written} row(s) from {result.undone}{hint}"
