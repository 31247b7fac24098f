"""`cursor-byok rescue`'s options: -o and --import modes exclude each other's options (a usage error)."""

from __future__ import annotations

from helpers.rescue import (
    BASIC,
)


def test_options_of_the_other_mode_are_usage_errors(h):
    home = h.home("basic", BASIC, wal=False)
    for args in (["-o", "x.age", "--import"], ["--dry-run"], ["-r", "age1x"], ["--only", "openai"]):
        done = h.rescue(home, *args)
        assert done.exit_code == 2, (args, done.stderr)
