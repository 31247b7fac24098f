"""The command line in process: a click CliRunner."""

from __future__ import annotations


def cli_runner():
    """A CliRunner that keeps stderr apart from stdout on every click version."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()
