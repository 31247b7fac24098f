"""Each command's --help shows two or three examples."""

from __future__ import annotations

import pytest
from helpers.cli import cli_runner

from cursor_byok.cli import main


def every_command(group, prefix=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield (*prefix, name), command
            yield from every_command(command, (*prefix, name))
        else:
            yield (*prefix, name), command


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in every_command(main)])
def test_every_command_help_shows_two_or_three_examples(path):
    done = cli_runner().invoke(main, [*path.split(), "--help"], terminal_width=120)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    examples = [line for line in lines[start + 1 :] if line.strip().startswith("cursor-byok ")]
    assert 2 <= len(examples) <= 3, examples
