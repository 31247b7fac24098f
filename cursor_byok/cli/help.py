"""`cursor-byok help [COMMAND...]`: the help of the tool or of one command, on stdout."""

from __future__ import annotations

import click

from .group import main
from .output import echo


@main.command("help")
@click.argument("command", nargs=-1, metavar="[COMMAND]...")
@click.pass_context
def help_cmd(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of cursor-byok, or of one command.

    \b
    Examples:
      cursor-byok help
      cursor-byok help import
      cursor-byok help models add
    """
    parent = ctx.parent or ctx
    found: click.Command = parent.command
    here = parent
    for name in command:
        sub = found.get_command(here, name) if isinstance(found, click.Group) else None
        if sub is None:
            known = ", ".join(found.list_commands(here)) if isinstance(found, click.Group) else ""
            raise click.UsageError(f"no command {' '.join(command)!r}" + (f"; commands: {known}" if known else ""))
        here = click.Context(sub, info_name=name, parent=here)
        found = sub
    echo(here.get_help())
