"""Key sources (`env:`, `file:`, `cmd:`, a prompt): a command runs without a shell and is stopped when it hangs."""

from __future__ import annotations

import shlex
import sys

import pytest

from cursor_byok.changes.wanted import run_key_command
from cursor_byok.errors import InputError

PY = shlex.quote(sys.executable)


def test_a_command_that_hangs_is_stopped(tmp_path):
    with pytest.raises(InputError, match="did not finish within"):
        run_key_command(f"{PY} -c 'import time; time.sleep(600)'", "[openai].key", timeout=0.2)


def test_a_command_runs_without_a_shell(tmp_path):
    marker = tmp_path / "injected"
    out = run_key_command(f"{PY} -c 'import sys; print(sys.argv[1:])' ; touch {marker}", "[x].key")
    assert "touch" in out and not marker.exists()
