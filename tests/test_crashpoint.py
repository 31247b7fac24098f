"""Crash points are armed only from inside the process, never by the environment.

The old hooks CURSOR_BYOK_CRASH_AT / CURSOR_BYOK_CRASH_LOG are set here on
purpose: a real `import` must ignore them, complete and write. Only the crash
tests' bootstrap (tests/helpers/crash_runner.py), code running in the process, arms them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import crash_runner
from helpers import crashkit as ck

from cursor_byok import crashpoint


@pytest.fixture
def disarmed():
    yield
    crashpoint.disarm()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("crashpoint")
    w = ck.build_world(root / "world", wal=True)
    return w, ck.dump(w.db), ck.save_state(w, root / "saved")


def test_unarmed_points_ignore_the_old_variables(tmp_path, monkeypatch, disarmed):
    log = tmp_path / "points.log"
    monkeypatch.setenv("CURSOR_BYOK_CRASH_AT", "1")
    monkeypatch.setenv("CURSOR_BYOK_CRASH_LOG", str(log))
    crashpoint.hit("file-write")  # would SIGKILL pytest if the environment still armed it
    assert not log.exists()


def test_arming_logs_every_point_until_disarmed(tmp_path, disarmed):
    log = tmp_path / "points.log"
    crashpoint.arm(log=log)
    crashpoint.hit("a")
    crashpoint.hit("b")
    crashpoint.disarm()
    crashpoint.hit("c")
    assert log.read_text() == "1 a\n2 b\n"
    with pytest.raises(ValueError):
        crashpoint.arm(at=0)


def test_the_environment_cannot_crash_a_real_import(world, tmp_path):
    w, pre, saved = world
    ck.restore_state(w, saved)
    log = tmp_path / "points.log"
    env = {**w.env, "CURSOR_BYOK_CRASH_AT": "1", "CURSOR_BYOK_CRASH_LOG": str(log)}
    done = subprocess.run([*ck.CLI, *w.import_args(0)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ck.changed_rows(pre, ck.dump(w.db)), "the import wrote nothing"
    assert len(w.journals()) == 1 and not log.exists()


def test_the_bootstrap_arms_the_real_command_line(world, tmp_path):
    w, pre, saved = world
    ck.restore_state(w, saved)
    log = tmp_path / "points.log"
    cli = [*crash_runner.command(3, log), *w.import_args(0)]
    done = subprocess.run(cli, env=w.env, capture_output=True, timeout=120)
    assert done.returncode == ck.KILLED, done.stderr
    assert ck.crash_points(log) == ["dir-create", "dir-create", "file-write"]
    assert ck.dump(w.db) == pre and ck.integrity(w.db) == "ok"


def test_crash_point_without_sigkill_ends_the_process_at_once(tmp_path):
    log = tmp_path / "points.log"
    code = (
        "import signal, sys\n"
        "del signal.SIGKILL\n"  # as on Windows
        "from cursor_byok import crashpoint\n"
        "crashpoint.arm(at=1, log=sys.argv[1])\n"
        "try:\n"
        "    crashpoint.hit('first')\n"
        "finally:\n"
        "    print('cleanup ran')\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=60)
    assert run.returncode == crashpoint.CRASH_EXIT == 137
    assert run.stdout == "" and log.read_text() == "1 first\n"
