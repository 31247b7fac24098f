"""The one write flow, as a person meets it on a terminal: nothing is asked before preflight passes, the plan is
on screen before the first question, conflicts are one question, and undo/redo work on a fresh install.

The terminal tests run the real command line on a pty (tests/helpers/children.py's PtyChild, with a deadline).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.children import on_a_terminal
from helpers.cli import cli_runner
from helpers.transfer import make_target, options

from cursor_byok.cli import Exit, main
from cursor_byok.cursor.rows import BLOB_KEY
from cursor_byok.samples.installs import create_db

PASSPHRASE = "correct horse battery staple"
PROMPT = b"Bundle passphrase"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cursor_byok", *args]


def passphrase_bundle(source, tmp_path: Path, *only: str) -> Path:
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASSPHRASE + "\n")
    out = tmp_path / "keys.age"
    args = [*options(source), "export", "-o", str(out), "--passphrase-file", str(phrase)]
    args += [a for name in only for a in ("--only", name)]
    done = cli_runner().invoke(main, args)
    assert done.exit_code == 0, done.stderr
    return out


@pytest.mark.slow
def test_with_cursor_running_import_exits_6_before_asking_anything(make_sample_dir, tmp_path):
    source, target = make_sample_dir("v11"), make_target(make_sample_dir, "v11")
    bundle = passphrase_bundle(source, tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (target.udd / "code.lock").write_text(str(sleeper.pid))
        before = target.db.read_bytes()
        code, shown = on_a_terminal(cli(*options(target), "import", str(bundle)), [], timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    assert code == Exit.CURSOR_RUNNING, shown
    assert PROMPT not in shown and b"?" not in shown.split(b"error:")[0]  # not one question
    assert b"Cursor is running" in shown and target.db.read_bytes() == before


@pytest.mark.slow
def test_with_no_database_import_exits_3_before_asking_naming_where_it_looked(make_sample_dir, tmp_path):
    bundle = passphrase_bundle(make_sample_dir("v11"), tmp_path)
    home = tmp_path / "new-laptop-home"  # Cursor never ran here
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    code, shown = on_a_terminal(cli("import", str(bundle)), [], timeout=60, env=env)
    assert code == Exit.NOT_FOUND, shown
    assert PROMPT not in shown
    assert str(home / ".config" / "Cursor").encode() in shown.replace(b"\r\n", b"")  # the path it searched


@pytest.mark.slow
def test_three_conflicts_are_one_question_after_the_plan_then_the_write(make_sample_dir, tmp_path):
    source, target = make_sample_dir("v11", seed=21), make_sample_dir("v11", seed=22)  # every key differs
    bundle = passphrase_bundle(source, tmp_path, "openai", "anthropic", "google")
    answers = [(PROMPT, PASSPHRASE), (b"differ", "r"), (b"Apply", "y")]
    code, shown = on_a_terminal(cli(*options(target), "import", str(bundle)), answers, timeout=120)
    assert code == 0, shown
    text = shown.decode("utf-8", "replace")
    plan_at = text.index("openai.key")
    questions = [text.index("stored value(s) differ"), text.index("Apply ")]
    assert text.index("Bundle passphrase") < plan_at < questions[0] < questions[1]  # inputs, plan, decide, confirm
    assert "3 stored value(s) differ" in text
    asked = [line for line in text.splitlines() if "[y/N]" in line or "(r, k, a, q)" in line]
    assert len(asked) == 2 and "differ" in asked[0] and asked[1].startswith("Apply 3 change(s)"), asked
    done = cli_runner().invoke(main, [*options(target), "list", "--json"])
    prints = {p: e["key"]["fingerprint"] for p, e in json.loads(done.stdout)["providers"].items() if p != "bedrock"
              and e.get("key")}  # fmt: skip
    assert all(prints[p] for p in ("openai", "anthropic", "google"))
    listed = cli_runner().invoke(main, [*options(target), "undo", "--list", "--json"])
    assert len(json.loads(listed.stdout)["journals"]) == 1


def test_a_fresh_install_undo_and_redo_the_settings_blob_a_write_created(tmp_path):
    """Regression: on a database without Cursor's settings blob, `models add` then `undo` printed both "nothing to
    restore" and "restored 1 row", and every later redo/undo was refused as written by an older cursor-byok."""
    db = tmp_path / "state.vscdb"
    create_db(db, {"releaseNotes/lastVersion": "3.7.42"})
    run = lambda *a: cli_runner().invoke(main, ["--db", str(db), *a])  # noqa: E731

    def blob() -> dict | None:
        import sqlite3

        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()
        return json.loads(row[0]) if row else None

    assert run("models", "add", "llama-local", "--yes").exit_code == 0
    assert blob() == {"aiSettings": {"userAddedModels": ["llama-local"], "modelOverrideEnabled": ["llama-local"]}}
    undone = run("undo", "--yes")
    assert undone.exit_code == 0, undone.stderr
    assert "nothing to restore" not in undone.stdout and "restored 1 row(s)" in undone.stdout
    assert "models.user_added" in undone.stdout  # the plan names what comes back
    assert blob() is None  # gone again, as before the write
    redone = run("redo", "--yes")
    assert redone.exit_code == 0, redone.stderr
    assert blob() == {"aiSettings": {"userAddedModels": ["llama-local"], "modelOverrideEnabled": ["llama-local"]}}
    again = run("undo", "--yes")
    assert again.exit_code == 0 and "older cursor-byok" not in again.stderr, again.stderr
    assert blob() is None
    listed = json.loads(run("undo", "--list", "--json").stdout)["journals"]
    assert not any(j["damaged"] for j in listed) and len(listed) == 4
