"""However --db is spelled, a database inside a live Cursor install is refused for writes."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers.cli import cli_runner

from cursor_byok.cli import Exit, main
from cursor_byok.cursor import paths as locate


@pytest.fixture
def live_install(make_sample_dir, clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(tmp_path / "data"))
    sd = make_sample_dir("plaintext", keys={})
    holder = subprocess.Popen(["sleep", "60"])
    (sd.udd / "code.lock").write_text(str(holder.pid))
    yield sd
    holder.kill()
    holder.wait(timeout=10)


def test_a_relative_db_path_finds_its_user_data_dir(live_install, monkeypatch):
    monkeypatch.chdir(live_install.db.parent)
    inst = locate.resolve(db="state.vscdb", env={})
    assert inst.user_data_dir == live_install.udd.resolve()
    assert locate.cursor_running(inst).how == "code.lock"


def test_a_symlinked_db_path_finds_its_user_data_dir(live_install, tmp_path):
    link = tmp_path / "elsewhere.vscdb"
    os.symlink(live_install.db, link)
    assert locate.resolve(db=str(link), env={}).user_data_dir == live_install.udd.resolve()


def test_the_layout_matches_without_regard_to_case(tmp_path):
    db = tmp_path / "user" / "GLOBALSTORAGE" / "state.vscdb"
    assert locate.candidate_installations(db=str(db), env={})[0].user_data_dir == tmp_path.resolve()


def test_write_through_a_relative_db_path_is_refused_while_cursor_runs(live_install, monkeypatch):
    monkeypatch.chdir(live_install.db.parent)
    before = live_install.db.read_bytes()
    runner = cli_runner()
    result = runner.invoke(
        main, ["--db", "state.vscdb", "set", "openai", "--no-key", "--base-url", "http://localhost:11434/v1", "--yes"]
    )
    assert result.exit_code == int(Exit.CURSOR_RUNNING), result.stderr
    assert live_install.db.read_bytes() == before
