"""The demo command: keys moved between two sample installs, no Cursor needed."""

from __future__ import annotations

import sys

import click

from .exits import Exit
from .group import main


@main.command()
@click.option("--keep", is_flag=True, help="Keep the temporary folder to look around.")
def demo(keep: bool) -> None:
    """Move keys between two sample Cursor installs (needs no Cursor).

    \b
    Examples:
      cursor-byok demo
      cursor-byok demo --keep     # keep the folder to run list, audit or doctor on it
    """
    from ..samples import demo as demo_mod

    if not demo_mod.run(echo=click.echo, keep=keep):
        sys.exit(int(Exit.FAILURE))
