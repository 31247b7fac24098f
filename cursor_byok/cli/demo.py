"""The demo command: keys moved between two sample installs, no Cursor needed."""

from __future__ import annotations

import sys

import click

from .exits import Exit
from .group import main
from .lib import demo
from .options import json_option
from .output import echo, emit_json


@main.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary folder to look around.")
@json_option
def demo_cmd(keep: bool, as_json: bool) -> None:
    """Move keys between two sample Cursor installs (needs no Cursor).

    \b
    Examples:
      cursor-byok demo
      cursor-byok demo --keep     # keep the folder to run list, audit or doctor on it
    """
    result = demo.demo(echo=None if as_json else echo, keep=keep)
    if as_json:
        emit_json(result.to_json())
    if not result.ok:
        sys.exit(int(Exit.FAILURE))
