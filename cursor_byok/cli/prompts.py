"""Questions on a terminal: the one confirmation rule for writes, hidden prompts, passphrases."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, Sequence

import click

from ..errors import BundleAuthError, ConfirmationNeeded, Declined, InputError

if TYPE_CHECKING:
    from ..changes.flow import Conflicts
    from ..library.move import Bundle
from ..model import MIN_PASSPHRASE, Change
from .lib import move, render
from .output import display, echo, is_terminal, status

PASSPHRASE_PROMPT = "Bundle passphrase"  # export and import word it the same
Ask = Callable[[str], str]  # a question on the terminal, its answer


TRIES = 3


def new_passphrase_prompt() -> str:
    """A new passphrase on a terminal: its length checked on the first entry, then typed again to confirm."""
    for _ in range(TRIES):
        value: str = click.prompt(PASSPHRASE_PROMPT, hide_input=True, err=True)
        if len(value) < MIN_PASSPHRASE:
            echo(f"too short: use at least {MIN_PASSPHRASE} characters", err=True)
            continue
        if click.prompt(f"{PASSPHRASE_PROMPT} (again)", hide_input=True, err=True) == value:
            return value
        echo("the two entries differ; try again", err=True)
    raise InputError(f"no passphrase after {TRIES} tries; nothing written")


def open_with_tries(data: bytes, ask: Ask) -> Bundle:
    """On a terminal, a wrong bundle passphrase gets TRIES tries."""
    for attempt in range(1, TRIES + 1):
        try:
            value = ask(PASSPHRASE_PROMPT)
            with status("deriving key…"):
                return move.open_bundle(data, passphrases=[value])
        except BundleAuthError:
            if attempt == TRIES:
                raise
            echo(f"wrong passphrase; {TRIES - attempt} tries left", err=True)
    raise AssertionError("unreachable")


def confirm_write(question: str, *, yes: bool) -> None:
    """The one confirmation rule for writes: --yes skips it; a terminal asks; otherwise refuse (exit 15).

    Declining raises Declined (exit 19); Ctrl-C at the prompt is click.Abort (exit 130).
    """
    if yes:
        return
    if not is_terminal(sys.stdin):
        raise ConfirmationNeeded("this command writes and no terminal can confirm it: pass --yes")
    if not click.confirm(display(question), default=False, err=True):
        raise Declined("declined; nothing written")


ANSWERS = {"r": "replace all", "k": "keep all", "a": "ask for each", "q": "quit"}


def decide_conflicts(conflicts: Conflicts) -> dict[str, bool]:
    """Step 4 on a terminal, once the plan is on screen: one question for every stored value that differs
    (replace all, keep all, ask for each, quit), then each change of where prompts and code go, apart:
    "replace all" never covers those."""
    if not is_terminal(sys.stdin):  # answers piped in are no decision: "y" would allow a new endpoint
        raise ConfirmationNeeded(
            "--on-conflict ask needs a terminal to answer on; pass --on-conflict keep or replace, and "
            "--allow-endpoint HOST for a new endpoint"
        )
    replaced: dict[str, bool] = {}
    if conflicts.values:
        n = len(conflicts.values)
        choices = ", ".join(f"[{k}] {v}" for k, v in ANSWERS.items())
        answer = click.prompt(
            f"{n} stored value(s) differ (marked ! above): {choices}", type=click.Choice(list(ANSWERS)), err=True
        )
        if answer == "q":
            raise Declined("quit; nothing written")
        for c in conflicts.values:
            replaced[c.field] = answer == "r" or (answer == "a" and _replace_one(c))
    for c in conflicts.endpoints:
        echo(render.wrapped(f"{c.field}: Cursor would send {c.sends}."), err=True)
        replaced[c.field] = click.confirm("  Allow this endpoint?", default=False, err=True)
    return replaced


def _replace_one(change: Change) -> bool:
    why = f" ({change.note})" if change.note else ""
    shown = f"{change.field}: stored {render._short(change.old)}, wanted {render._short(change.new)}{why}"
    echo(render.wrapped(shown), err=True)
    return click.confirm("  replace it?", default=False, err=True)


def hidden_prompt() -> Ask | None:
    """A hidden prompt on stderr when stdin is a terminal; None otherwise (callers then refuse)."""
    if not is_terminal(sys.stdin):
        return None

    def ask(label: str) -> str:
        answer: str = click.prompt(display(label), hide_input=True, err=True)
        return answer

    return ask


def confirm_commands(commands: Sequence[tuple[str, str]], yes: bool) -> bool:
    """On a terminal, list the commands a manifest runs and ask once; --yes: go ahead; neither: refuse
    before any command runs (the same rule as for writes)."""
    if not commands or yes:
        return True
    if not is_terminal(sys.stdin):
        raise ConfirmationNeeded(
            f"this manifest runs {len(commands)} command(s) to read keys and no terminal can confirm them: "
            "review them with --dry-run, then pass --yes"
        )
    echo("This manifest runs these commands to read keys:", err=True)
    for field, command in commands:
        echo(f"  {field}: {command}", err=True)
    if not click.confirm(f"Run {'it' if len(commands) == 1 else f'these {len(commands)} commands'}?", err=True):
        raise Declined("declined; no command was run and nothing written")
    return True
