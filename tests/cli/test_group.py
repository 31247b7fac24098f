"""The command group's error funnel: every failure is one line on stderr with its exit code (and, with --json, a
JSON error document), never a traceback; click's usage errors keep their code; the console script does the same."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers.transfer import run

from cursor_byok.cli import Exit
from cursor_byok.cursor import store
from cursor_byok.samples.installs import create_db


def assert_one_line_error(result, code: Exit) -> None:
    assert result.exit_code == int(code), (result.stdout, result.stderr)
    if result.stdout:  # with --json the failure is also a JSON document on stdout
        assert json.loads(result.stdout) == {"error": {"code": int(code), "message": result.stderr[20:].rstrip("\n")}}
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cursor-byok: error: ")
    assert "Traceback" not in result.stderr


def test_non_sqlite_file(tmp_path, clean_env):
    bogus = tmp_path / "state.vscdb"
    bogus.write_bytes(b"\x00garbage" * 100)
    assert_one_line_error(run("--db", str(bogus), "list", "--json"), Exit.NOT_A_CURSOR_DB)


def test_missing_tables(tmp_path, clean_env):
    db = tmp_path / "state.vscdb"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.close()
    assert_one_line_error(run("--db", str(db), "list"), Exit.NOT_A_CURSOR_DB)


def test_no_installation(clean_env):
    assert_one_line_error(run("list", "--json"), Exit.NOT_FOUND)
    assert_one_line_error(run("where"), Exit.NOT_FOUND)


def test_missing_explicit_db(tmp_path, clean_env):
    result = run("--db", str(tmp_path / "gone.vscdb"), "list")
    assert_one_line_error(result, Exit.NOT_FOUND)
    assert "gone.vscdb" in result.stderr


def test_directory_as_db(tmp_path, clean_env):
    assert_one_line_error(run("--db", str(tmp_path), "list"), Exit.NOT_FOUND)


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_busy_database(tmp_path, clean_env, monkeypatch):
    from helpers.children import read_line

    db = tmp_path / "state.vscdb"
    create_db(db, {"a": "1"}, wal=False)
    monkeypatch.setattr(store, "READ_BUSY_TIMEOUT_S", 0.05)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert read_line(holder).strip() == "locked"
        assert_one_line_error(run("--db", str(db), "list"), Exit.DB_BUSY)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_unexpected_error_is_one_line_without_traceback(make_sample_dir, clean_env, monkeypatch):
    import cursor_byok.library.read as api

    sample = make_sample_dir("plaintext")
    key = sample.keys["openai.key"]

    def broken(*a, **kw):
        raise ValueError(f"boom {key}")

    monkeypatch.setattr(api, "load_profile", broken)
    result = run("--db", str(sample.db), "list")
    assert_one_line_error(result, Exit.FAILURE)
    assert "ValueError" in result.stderr and key not in result.stderr


def test_usage_error_keeps_click_code(clean_env):
    result = run("--safe-storage", "vault", "list")
    assert result.exit_code == int(Exit.USAGE)


def test_console_script_reports_errors_with_exit_codes(tmp_path, clean_env):
    script = Path(sysconfig.get_path("scripts")) / "cursor-byok"
    if not script.exists():
        pytest.skip("the cursor-byok console script is not installed in this environment")
    bogus = tmp_path / "state.vscdb"
    bogus.write_text("nope")
    proc = subprocess.run(
        [str(script), "--db", str(bogus), "list"], capture_output=True, text=True, env=clean_env, timeout=120
    )
    assert proc.returncode == int(Exit.NOT_A_CURSOR_DB)
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
