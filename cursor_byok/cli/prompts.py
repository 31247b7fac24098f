"""Questions on a terminal: the one confirmation rule for writes, hidden prompts, passphrases."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import errors as E

if TYPE_CHECKING:
    from ..library import Bundle
from ..model import MIN_PASSPHRASE
from .output import is_terminal, status

PASSPHRASE_PROMPT = "Bundle passphrase"  # export and import word it the same


TRIES = 3


def new_passphrase_prompt() -> str:
    """A new passphrase on a terminal: its length checked on the first entry, then typed again to confirm."""
    for _ in range(TRIES):
        value = click.prompt(PASSPHRASE_PROMPT, hide_input=True, err=True)
        if len(value) < MIN_PASSPHRASE:
            click.echo(f"too short: use at least {MIN_PASSPHRASE} characters", err=True)
            continue
        if click.prompt(f"{PASSPHRASE_PROMPT} (again)", hide_input=True, err=True) == value:
            return value
        click.echo("the two entries differ; try again", err=True)
    raise E.InputError(f"no passphrase after {TRIES} tries; nothing written")


def open_with_tries(data: bytes, ask) -> Bundle:
    """On a terminal, a wrong bundle passphrase gets TRIES tries."""
    from ..library import open_bundle

    for attempt in range(1, TRIES + 1):
        try:
            value = ask(PASSPHRASE_PROMPT)
            with status("deriving key…"):
                return open_bundle(data, passphrases=[value])
        except E.BundleAuthError:
            if attempt == TRIES:
                raise
            click.echo(f"wrong passphrase; {TRIES - attempt} tries left", err=True)
    raise AssertionError("unreachable")


def confirm_write(question: str, *, yes: bool) -> None:
    """The one confirmation rule for writes: --yes skips it; a terminal asks; otherwise refuse (exit 15).

    Declining raises Declined (exit 19); Ctrl-C at the prompt is click.Abort (exit 130).
    """
    if yes:
        return
    if not is_terminal(sys.stdin):
        raise E.ConfirmationNeeded("this command writes and no terminal can confirm it: pass --yes")
    if not click.confirm(question, default=False, err=True):
        raise E.Declined("declined; nothing written")


def ask_conflict(change) -> bool:
    from ..render import _short

    why = f" ({change.note})" if change.note else ""  # e.g. where a held key would be sent
    click.echo(f"{change.field}: stored {_short(change.old)}, wanted {_short(change.new)}{why}", err=True)
    return click.confirm("  replace it?", default=False, err=True)


def hidden_prompt():
    """A hidden prompt on stderr when stdin is a terminal; None otherwise (callers then refuse)."""
    if not is_terminal(sys.stdin):
        return None
    return lambda label: click.prompt(label, hide_input=True, err=True)


def confirm_commands(commands: list[tuple[str, str]], yes: bool) -> None:
    """On a terminal, list the commands a manifest runs and ask once; --yes: go ahead; neither: refuse
    before any command runs (the same rule as for writes)."""
    if not commands or yes:
        return
    if not is_terminal(sys.stdin):
        raise E.ConfirmationNeeded(
            f"this manifest runs {len(commands)} command(s) to read keys and no terminal can confirm them: "
            "review them with --dry-run, then pass --yes"
        )
    click.echo("This manifest runs these commands to read keys:", err=True)
    for field, command in commands:
        click.echo(f"  {field}: {command}", err=True)
    if not click.confirm(f"Run {'it' if len(commands) == 1 else f'these {len(commands)} commands'}?", err=True):
        raise E.Declined("declined; no command was run and nothing written")
