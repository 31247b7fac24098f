"""Writing beside other processes: a held write lock, a running Cursor, a Cursor stand-in.

Cursor's SQLite driver waits about 1 s for a lock (cursor-storage.md,
section 2), so the tool must never hold the write lock long, must give up
after its own busy timeout when someone else holds it, and must not write at
all while Cursor runs. See docs/safety.md for the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import crashkit as ck

from cursor_byok.cli import Exit
from cursor_byok.cursor.store import WRITE_BUSY_TIMEOUT_S, Store

pytestmark = pytest.mark.slow  # real lock holders and busy timeouts of seconds

MODES = ("wal", "delete")
STANDIN = Path(ck.__file__).with_name("cursor_standin.py")
STANDIN_KEY = "workbench.view.standin.state"  # a row no import touches
STANDIN_IMPORTS = int(os.environ.get("CURSOR_BYOK_STANDIN_IMPORTS", "200"))


class Setting:
    """A world with its state before and after a clean import of bundle 0."""

    def __init__(self, root: Path, mode: str) -> None:
        self.mode = mode
        self.world = w = ck.build_world(root, wal=mode == "wal")
        self.pre = ck.dump(w.db)
        self.saved_pre = ck.save_state(w, root.parent / f"{root.name}-pre")
        assert ck.invoke(w, w.import_args(0)).exit_code == 0
        self.post = ck.dump(w.db)
        ck.restore_state(w, self.saved_pre)

    def unchanged(self) -> None:
        """The database is exactly as before, and no journal or temp file was left."""
        assert ck.dump(self.world.db) == self.pre
        assert self.world.journals() == []
        assert ck.temp_files(self.world) == []


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> dict[str, Setting]:
    return {mode: Setting(tmp_path_factory.mktemp("concurrency") / mode, mode) for mode in MODES}


@pytest.fixture(params=MODES)
def setting(request, settings) -> Setting:
    s = settings[request.param]
    ck.restore_state(s.world, s.saved_pre)
    return s


# --- someone else holds the write lock ----------------------------------------------------


def test_a_lock_held_longer_than_the_busy_timeout_makes_import_give_up_and_change_nothing(setting):
    w = setting.world
    holder = ck.hold_write_lock(w.db, 10)
    try:
        run = ck.run_cli(w, w.import_args(0))
        still_held = holder.poll() is None
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert run.returncode == Exit.DB_BUSY, run.stderr
    assert "locked" in run.stderr and "Traceback" not in run.stderr
    assert still_held  # it gave up on its own, long before the 10 s lock was released
    setting.unchanged()


def test_a_lock_released_within_the_busy_timeout_is_waited_for(setting, tmp_path):
    w = setting.world
    log = tmp_path / "points.log"
    assert 0.5 < WRITE_BUSY_TIMEOUT_S
    holder = ck.hold_write_lock(w.db, 0.5, after_log=log)  # released 0.5 s after the import asks for it
    try:
        run = ck.run_cli(w, w.import_args(0), crash_log=log)
        out, _ = holder.communicate(timeout=30)
    finally:
        holder.kill()
    assert run.returncode == 0, run.stderr
    assert "released" in out
    assert ck.crash_points(log).count("sql-begin") == 1
    assert ck.dump(w.db) == setting.post


# --- Cursor is running ---------------------------------------------------------------------


@pytest.fixture
def process_named_cursor(tmp_path):
    """A real process whose name is `cursor`: /bin/sleep copied as tmp/cursor."""
    exe = tmp_path / "cursor"
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([str(exe), "60"])
    try:
        ck.wait_for_comm(proc.pid, "cursor")
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the process through /proc")
def test_import_refuses_while_a_process_named_cursor_runs(setting, process_named_cursor):
    w = setting.world
    refused = ck.invoke(w, w.import_args(0), retry=False)
    assert refused.exit_code == Exit.CURSOR_RUNNING, refused.output
    assert f"pid {process_named_cursor.pid}" in refused.output
    setting.unchanged()


def test_import_refuses_while_code_lock_names_a_live_process(setting):
    w = setting.world
    alive = subprocess.Popen(["sleep", "60"])
    try:
        (w.udd / "code.lock").write_text(str(alive.pid))
        refused = ck.invoke(w, w.import_args(0), retry=False)
    finally:
        alive.kill()
        alive.wait(timeout=10)
        (w.udd / "code.lock").unlink()
    assert refused.exit_code == Exit.CURSOR_RUNNING, refused.output
    assert "code.lock" in refused.output
    setting.unchanged()


def test_a_code_lock_left_by_a_dead_process_does_not_block(setting):
    w = setting.world
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=30)
    (w.udd / "code.lock").write_text(str(gone.pid))
    try:
        done = ck.invoke(w, w.import_args(0))
    finally:
        (w.udd / "code.lock").unlink()
    assert done.exit_code == 0, done.output
    assert ck.dump(w.db) == setting.post


# --- beside a stand-in for Cursor ------------------------------------------------------------


def start_standin(db: Path, report: Path) -> subprocess.Popen:
    from helpers.children import read_line

    proc = subprocess.Popen(
        [sys.executable, str(STANDIN), str(db), STANDIN_KEY, str(report)], stdout=subprocess.PIPE, text=True
    )
    assert read_line(proc).strip() == "ready"
    return proc


def stop_standin(proc: subprocess.Popen, report: Path) -> tuple[int, dict]:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return code, json.loads(report.read_text())


def test_the_standin_does_fail_when_a_lock_outlasts_its_busy_timeout(setting, tmp_path):
    """The check below can fail: a 1.5 s lock makes the stand-in see SQLITE_BUSY, as Cursor would."""
    report = tmp_path / "standin.json"
    standin = start_standin(setting.world.db, report)
    try:
        holder = ck.hold_write_lock(setting.world.db, 1.5)
        holder.wait(timeout=30)
    finally:
        code, doc = stop_standin(standin, report)
    assert code == 3 and doc["busy"] and "locked" in doc["busy"][0], doc


@pytest.mark.slow
def test_imports_beside_a_cursor_standin_never_make_it_wait_too_long(setting, tmp_path, monkeypatch, capsys):
    """STANDIN_IMPORTS forced imports, alternating two bundles so each one writes, while the
    stand-in writes every 100 ms with a 1 s busy timeout: it must never see SQLITE_BUSY."""
    w = setting.world
    holds: list[float] = []
    real_write = Store.write

    def timed_write(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        holds.append(self.last_lock_hold)

    monkeypatch.setattr(Store, "write", timed_write)
    report_path = tmp_path / "standin.json"
    standin = start_standin(w.db, report_path)
    try:
        for n in range(STANDIN_IMPORTS):
            done = ck.invoke(w, w.import_args(n % 2))
            assert done.exit_code == 0, (n, done.output)
        assert standin.poll() is None  # it ran the whole time
    finally:
        code, report = stop_standin(standin, report_path)
    with capsys.disabled():
        print(
            f"\n[stand-in] {setting.mode}: {STANDIN_IMPORTS} imports, {len(holds)} write transactions, longest lock"
            f" hold {max(holds) * 1000:.1f} ms (median {sorted(holds)[len(holds) // 2] * 1000:.1f} ms);"
            f" stand-in: {report['writes']} writes, {len(report['busy'])} busy, slowest write"
            f" {report['slowest_write_s'] * 1000:.1f} ms"
        )
    assert report["busy"] == [] and report["errors"] == [] and code == 0, report
    assert len(holds) == STANDIN_IMPORTS  # every import wrote
    assert report["writes"] > 0
    assert max(holds) < 1.0  # the bound Cursor's driver tolerates (cursor-storage.md, section 2)
    stored = ck.dump(w.db)
    assert stored[("ItemTable", STANDIN_KEY)] == report["last_value"]  # none of its writes was lost
    assert ck.integrity(w.db) == "ok"
    others = {k: v for k, v in stored.items() if k not in ck.changed_rows(setting.pre, setting.post)}
    assert {k: v for k, v in others.items() if k[1] != STANDIN_KEY} == {
        k: v for k, v in setting.pre.items() if k not in ck.changed_rows(setting.pre, setting.post)
    }
