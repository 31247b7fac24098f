"""`list --reveal` in text: each key whole on a line of its own, whatever the terminal width, so it copies
whole; the table keeps the masked form and fits the terminal."""

from __future__ import annotations

import os
import random
import string
import sys

import pytest
from helpers.children import on_a_terminal as drive
from helpers.cli import cli_runner

from cursor_byok.cli import main
from cursor_byok.samples.installs import default_settings, make_key, sample_keys

ANSI = "\x1b["


@pytest.fixture
def long_keys_dir(make_sample_dir, clean_env, tmp_path):
    """A sample install whose Azure key has the new 84-character form, with a ~108-character Anthropic key."""
    rng = random.Random(84)
    keys = sample_keys(rng)
    keys["azure.key"] = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(84))
    keys["anthropic.key"] = make_key("anthropic", rng)
    sample = make_sample_dir("v11", keys=keys, settings=default_settings(), azure_bedrock_rows=True)
    options = ["--user-data-dir", str(sample.udd), *sample.password_options(tmp_path / "secret")]
    return sample, options


def on_a_terminal(argv: list[str], columns: int) -> str:
    """Run argv with a pty as stdout, COLUMNS set as a narrow terminal would; its output as text."""
    code, shown = drive(argv, [], env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"})
    assert code == 0, shown
    return shown.decode().replace("\r\n", "\n")


def key_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("keys (revealed, each on its own line):")
    return lines[start + 1 : lines.index("", start)]


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_reveal_prints_each_key_whole_on_its_own_line_at_any_width(long_keys_dir, columns):
    sample, options = long_keys_dir
    assert len(sample.keys["azure.key"]) == 84 and len(sample.keys["anthropic.key"]) >= 100
    text = on_a_terminal([sys.executable, "-m", "cursor_byok", *options, "list", "--reveal"], columns)
    block = key_lines(text)
    for field, value in sample.keys.items():
        assert value in text.splitlines(), field  # a line that is the key and nothing else
        assert block[block.index(value) - 1].startswith(f"{field} ("), field
    table = text.split("\n\n")[0].splitlines()[2:]  # after "database:" and the header
    for value in sample.keys.values():
        middle = value[len(value) // 2 - 4 : len(value) // 2 + 4]
        assert not any(middle in line for line in table)  # the table stays masked
    assert ANSI not in text


def test_reveal_block_on_a_pipe_and_nothing_revealed_without_reveal(long_keys_dir):
    sample, options = long_keys_dir
    shown = cli_runner().invoke(main, [*options, "list", "--reveal"])
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(value in lines for value in sample.keys.values())
    hidden = cli_runner().invoke(main, [*options, "list"])
    assert "revealed" not in hidden.stdout
    assert not any(value[4:-4] in hidden.stdout for value in sample.keys.values())
