"""The standard streams are UTF-8 whenever they are not a console: a cp1252 pipe (as Windows gives) too."""

from __future__ import annotations

import io
import json
import subprocess
import sys


class Stream(io.TextIOWrapper):
    def __init__(self, encoding, errors="strict", tty=False):
        super().__init__(io.BytesIO(), encoding=encoding, errors=errors)
        self.tty = tty

    def isatty(self):
        return self.tty


def test_a_cp1252_pipe_becomes_utf8_and_keeps_its_error_handler():
    from cursor_byok.console import utf8_unless_console

    out, err, tty = Stream("cp1252"), Stream("cp1252", "backslashreplace"), Stream("cp1252", tty=True)
    for s in (out, err, tty):
        utf8_unless_console(s)
    assert (out.encoding, err.encoding, err.errors, tty.encoding) == ("utf-8", "utf-8", "backslashreplace", "cp1252")
    out.write("通义-qwen✓ sk-…AB")
    out.flush()
    assert out.buffer.getvalue().decode("utf-8") == "通义-qwen✓ sk-…AB"


def test_cli_output_is_utf8_on_a_cp1252_pipe(make_sample_dir, clean_env, tmp_path):
    """Windows gives pipes cp1252; PYTHONIOENCODING=cp1252 does the same here."""
    sd = make_sample_dir("plaintext")
    env = {**clean_env, "PYTHONIOENCODING": "cp1252", "CURSOR_BYOK_DATA_DIR": str(tmp_path / "data")}
    base = [sys.executable, "-m", "cursor_byok", "--user-data-dir", str(sd.udd)]
    added = subprocess.run([*base, "models", "add", "通义-qwen✓", "--yes"], env=env, capture_output=True, timeout=120)
    assert added.returncode == 0, added.stderr
    assert "通义-qwen✓" in added.stdout.decode("utf-8")
    listed = subprocess.run([*base, "list", "--json"], env=env, capture_output=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout.decode("utf-8"))
    assert "…" in doc["providers"]["openai"]["key"]["masked"]
    assert "通义-qwen✓" in listed.stdout.decode("utf-8")
