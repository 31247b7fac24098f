"""Crash safety of the one write path: `import` and `undo` killed with SIGKILL.

Two campaigns, each on a WAL and on a rollback-journal (DELETE) database:

* the walk: a crash point armed at N (tests/helpers/crash_runner.py) kills the real CLI at its Nth write point
  (directory creation, file write, fsync, rename, directory fsync, each SQL
  statement, the commit, the read-back after it), for N = 1, 2, 3, ... until
  a run completes;
* random kills: the CLI is started and killed with `kill -9` from this
  process after a random delay, 200 times (100 per mode, the two side by
  side). Half the delays count from the start, over a whole run; half from
  the moment the run logs its first write point, over its write phase (a few
  ms out of a run that is mostly interpreter start-up). The seed is printed;
  CURSOR_BYOK_CRASH_SEED replays its draws, CURSOR_BYOK_CRASH_RUNS changes
  the count.

After every crash: PRAGMA integrity_check is ok; the rows the write targets
are all old or all new; every other row of ItemTable and cursorDiskKV is
byte-identical; and the tool itself recovers: rerunning the import reaches
the new state, `undo` the old one, and no temp file is left behind.
See docs/safety.md for the figures.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import crashkit as ck

MODES = ("wal", "delete")


class Walkthrough:
    """One mode's world, with the states before and after a clean import saved aside."""

    def __init__(self, root: Path, mode: str) -> None:
        self.mode = mode
        self.world = ck.build_world(root / "world", wal=mode == "wal")
        self.scratch = root / "scratch"
        self.pre = ck.dump(self.world.db)
        self.saved_pre = ck.save_state(self.world, root / "saved-pre")
        started = time.monotonic()
        done = ck.run_cli(self.world, self.world.import_args(0))
        self.run_seconds = time.monotonic() - started  # calibrates the random kills
        assert done.returncode == 0, done.stderr
        self.post = ck.dump(self.world.db)
        self.saved_post = ck.save_state(self.world, root / "saved-post")
        ck.restore_state(self.world, self.saved_pre)

    @property
    def targets(self) -> set:
        return ck.changed_rows(self.pre, self.post)

    def inspect(self, old, new) -> str:
        """State of a crashed database, read from a side copy so the tool opens the original first."""
        copy = ck.side_copy(self.world.db, self.scratch)
        assert ck.integrity(copy) == "ok"
        state = ck.classify(ck.dump(copy), old, new)
        assert state in ("old", "new"), state
        return state


@pytest.fixture(scope="module")
def walks(tmp_path_factory) -> dict[str, Walkthrough]:
    return {mode: Walkthrough(tmp_path_factory.mktemp(f"crash-{mode}"), mode) for mode in MODES}


@pytest.fixture(params=MODES)
def walk(request, walks) -> Walkthrough:
    ck.restore_state(walks[request.param].world, walks[request.param].saved_pre)
    return walks[request.param]


@pytest.mark.slow
def test_the_sample_write_touches_several_rows_in_one_transaction(walk):
    rows = {key for _table, key in walk.targets}
    assert len(rows) >= 4, rows  # several keys and the settings blob: partial writes would show
    assert all(table == "ItemTable" for table, _key in walk.targets)
    assert any(table == "cursorDiskKV" for table, _key in walk.pre)  # the rows that must not move


def crash_walk(walk: Walkthrough, args, saved, old, new, recover) -> list[tuple[str, str]]:
    """Kill at point 1, 2, 3, ... until a run completes; (point, state) per crash."""
    w = walk.world
    seen = []
    for n in range(1, 200):
        ck.restore_state(w, saved)
        log = w.root / f"points-{n}.log"
        log.unlink(missing_ok=True)
        run = ck.run_cli(w, args, crash_at=n, crash_log=log)
        points = ck.crash_points(log)
        if run.returncode == 0:
            assert len(points) == n - 1
            assert ck.classify(ck.dump(w.db), old, new) == "new"
            return seen
        assert run.returncode == ck.KILLED, (n, run.returncode, run.stderr)
        assert len(points) == n
        state = walk.inspect(old, new)
        recover(state)
        seen.append((points[-1], state))
    raise AssertionError("the walk never completed")


@pytest.mark.slow
def test_import_killed_at_every_write_point(walk, capsys):
    w = walk.world

    def recover(state: str) -> None:
        rerun = ck.invoke(w, w.import_args(0))
        assert rerun.exit_code == 0, rerun.output
        assert ck.classify(ck.dump(w.db), walk.pre, walk.post) == "new"
        assert ck.temp_files(w) == []
        back = ck.invoke(w, w.undo_args())
        assert back.exit_code == 0, back.output
        assert ck.classify(ck.dump(w.db), walk.pre, walk.post) == "old"
        assert ck.integrity(w.db) == "ok"

    seen = crash_walk(walk, w.import_args(0), walk.saved_pre, walk.pre, walk.post, recover)
    names = [name for name, _ in seen]
    assert {"file-write", "file-fsync", "file-rename", "dir-fsync", "sql-begin", "sql-commit", "verify"} <= set(names)
    assert sum(name.startswith("sql-") and name[4:].isdigit() for name in names) == len({k for _t, k in walk.targets})
    # Nothing is committed before the commit; everything is after it.
    assert [state for name, state in seen if name == "verify"] == ["new"]
    assert all(state == "old" for name, state in seen if name != "verify")
    with capsys.disabled():
        print(f"\n[crash walk] import, {'WAL' if w.wal else 'DELETE'}: {len(seen)} points: {names}")


@pytest.mark.slow
def test_undo_killed_at_every_write_point(walk, capsys):
    w = walk.world

    def recover(state: str) -> None:
        again = ck.invoke(w, w.undo_args())
        # Not landed: the rerun finishes the undo. Landed: the import is undone, and an
        # undo is never undone by a plain `undo`, so there is nothing left (exit 16).
        assert again.exit_code == (0 if state == "old" else 16), (state, again.output)
        assert ck.classify(ck.dump(w.db), walk.post, walk.pre) == "new", (state, again.output)
        assert ck.temp_files(w) == []
        assert ck.integrity(w.db) == "ok"

    seen = crash_walk(walk, w.undo_args(), walk.saved_post, walk.post, walk.pre, recover)
    names = [name for name, _ in seen]
    assert {"file-write", "file-rename", "sql-begin", "sql-commit", "verify"} <= set(names)
    assert all(state == "old" for name, state in seen if name != "verify")
    with capsys.disabled():
        print(f"\n[crash walk] undo, {'WAL' if w.wal else 'DELETE'}: {len(seen)} points: {names}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_write_killed_mid_transaction_by_another_process_is_rolled_back_not_refused(mode, tmp_path):
    """A hot rollback journal (DELETE mode) must be rolled back by the next open, as Cursor would.

    A read-only connection cannot roll it back ("attempt to write a readonly
    database"), so the tool's read path must not refuse the database.
    """
    w = ck.build_world(tmp_path / "w", wal=mode == "wal")
    pre = ck.dump(w.db)
    ck.kill_writer_mid_transaction(w.db)
    if mode == "delete":
        assert Path(f"{w.db}-journal").stat().st_size > 0
    listed = ck.invoke(w, [*w.group_args(), "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert ck.dump(w.db) == pre  # rolled back: nothing half-written is left
    assert ck.invoke(w, w.import_args(0)).exit_code == 0
    assert ck.classify(ck.dump(w.db), pre, ck.dump(w.db)) == "new"
    assert ck.integrity(w.db) == "ok"
    assert ck.invoke(w, w.undo_args()).exit_code == 0
    assert ck.dump(w.db) == pre


@pytest.mark.slow
def test_undo_after_two_writes_in_the_same_second_undoes_the_newer(walk):
    w = walk.world
    ck.restore_state(w, walk.saved_pre)
    assert ck.invoke(w, w.import_args(0)).exit_code == 0
    after_first = ck.dump(w.db)
    assert ck.invoke(w, w.import_args(1)).exit_code == 0
    assert ck.dump(w.db) != after_first
    ids = [p.stem for p in w.journals()]
    assert len(ids) == 2 and len({i[:15] for i in ids}) <= 2
    assert ck.invoke(w, w.undo_args()).exit_code == 0
    assert ck.dump(w.db) == after_first
    assert ck.invoke(w, w.undo_args()).exit_code == 0  # one step further back: the first import
    assert ck.dump(w.db) == walk.pre


# --- random kills ---------------------------------------------------------------------------

RANDOM_RUNS = int(os.environ.get("CURSOR_BYOK_CRASH_RUNS", "200"))
RECENT = 15  # timings of the last runs that the delays are drawn from


class Lane:
    """Kills one mode's imports at random moments and checks what each kill left.

    Half the delays are uniform over a whole run (start-up included), half over
    the stretch in which a run writes (journal, then transaction). Both are
    timed on the recent runs themselves, so the delays follow the machine's load.
    """

    def __init__(self, walk: Walkthrough, rng: random.Random) -> None:
        self.walk, self.rng = walk, rng
        self.stats: Counter = Counter()
        self.last_points: Counter = Counter()
        self.first_writes: list[float] = []  # seconds from start to the first write point
        self.last_writes: list[float] = []  # ... to the last one (the read-back), for runs that completed
        self.spans: list[float] = []  # first to last write point, for runs that completed
        self.ends: list[float] = []  # ... to exit, for runs that completed
        self.proc: subprocess.Popen | None = None

    def launch(self, kill_at: tuple[str, float] | None) -> None:
        w = self.walk.world
        ck.restore_state(w, self.walk.saved_pre)
        self.log = w.root / "random.log"
        self.log.unlink(missing_ok=True)
        self.proc = ck.start_cli(w, w.import_args(0), crash_log=self.log)
        self.started = time.monotonic()
        self.anchor, delay = kill_at or ("never", 0.0)
        self.delay = delay
        self.deadline = self.started + delay if self.anchor == "start" else float("inf")
        self.seen_write = False
        self.log_size, self.last_write = 0, 0.0

    def draw_kill(self) -> tuple[str, float]:
        """("start", s): s after the start, over a whole run; ("write", s): s after the first write point."""
        if self.rng.random() < 0.5:
            return "start", self.rng.uniform(0, statistics.median(self.ends[-RECENT:]) * 1.1)
        return "write", self.rng.uniform(0, statistics.median(self.spans[-RECENT:]) + 0.005)

    def tick(self, now: float) -> bool:
        """Note timings, kill at the deadline; True once the run is over."""
        size = self.log.stat().st_size if self.log.exists() else 0
        if size != self.log_size:
            self.log_size, self.last_write = size, now - self.started
            if not self.seen_write:
                self.seen_write = True
                self.first_writes.append(self.last_write)
                self.first_write = self.last_write
                if self.anchor == "write":
                    self.deadline = now + self.delay
        if self.proc.poll() is not None:
            if self.proc.returncode == 0:
                self.ends.append(now - self.started)
                self.last_writes.append(self.last_write)
                self.spans.append(self.last_write - self.first_write)
            return True
        if now >= self.deadline:
            self.proc.kill()  # SIGKILL
            return True
        return False

    def reap(self) -> None:
        _out, self.stderr = self.proc.communicate(timeout=60)
        foreign = ck.refused_for_a_foreign_cursor(self.proc.returncode, self.stderr)
        assert self.proc.returncode in (0, ck.KILLED) or foreign, (self.proc.returncode, self.stderr)

    def check(self) -> None:
        walk, w, pid = self.walk, self.walk.world, self.proc.pid
        points = ck.crash_points(self.log)
        state = walk.inspect(walk.pre, walk.post)
        if ck.refused_for_a_foreign_cursor(self.proc.returncode, self.stderr):
            assert state == "old" and not w.journals() and not points
            self.stats["refused: a process named cursor ran elsewhere"] += 1
            return
        self.stats[f"kill timed from {self.anchor}"] += 1
        completed = self.proc.returncode == 0
        self.stats["completed" if completed else f"killed, rows {state}"] += 1
        self.last_points["(completed)" if completed else (points[-1] if points else "(before any write)")] += 1
        if completed or state == "new":
            assert state == "new" and "sql-commit" in points, points
        strays = ck.temp_files(w)
        assert all(p.name.endswith(f".{pid}.tmp") for p in strays), strays
        if not completed and (state == "new" or strays or w.journals()):
            self.recover(state)

    def recover(self, state: str) -> None:
        """Alternately undo, or rerun the import; either must end in a clean, verified state."""
        walk, w = self.walk, self.walk.world
        self.stats["recovered"] += 1
        if self.stats["recovered"] % 2:
            done = ck.invoke(w, w.import_args(0))
            assert done.exit_code == 0, done.output
            assert ck.dump(w.db) == walk.post
            assert ck.temp_files(w) == []
        else:
            done = ck.invoke(w, w.undo_args())
            expected = 0 if w.journals() else 16  # Exit.NOTHING_TO_UNDO: no journal landed
            assert done.exit_code == expected, (state, done.output)
            assert ck.dump(w.db) == walk.pre
        assert ck.integrity(w.db) == "ok"


def run_side_by_side(lanes: list[Lane], kills: list[tuple[str, float] | None]) -> None:
    """Start one import per lane at once; kill each when its draw says (None: let it finish).
    An import still running after 120 s fails the test with its stderr (the others are killed)."""
    from helpers.children import fail_process

    for lane, kill_at in zip(lanes, kills, strict=True):
        lane.launch(kill_at)
    running = list(lanes)
    give_up = time.monotonic() + 120
    while running:
        now = time.monotonic()
        running = [lane for lane in running if not lane.tick(now)]
        if running and now > give_up:
            for lane in running[1:]:
                lane.proc.kill()
            fail_process(running[0].proc, "still running after 120 s")
        time.sleep(0.001)
    for lane in lanes:
        lane.reap()


@pytest.mark.slow
def test_import_killed_at_random_moments(walks, capsys):
    """RANDOM_RUNS imports, half on the WAL and half on the DELETE database, each killed after a random delay."""
    seed = int(os.environ.get("CURSOR_BYOK_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    with capsys.disabled():
        print(f"\n[random kills] seed {seed} (rerun with CURSOR_BYOK_CRASH_SEED={seed})")
    rng = random.Random(seed)
    lanes = [Lane(walks[mode], rng) for mode in MODES]
    for _ in range(3):  # calibration: uncrashed runs, side by side like the real ones
        run_side_by_side(lanes, [None] * len(lanes))
    for run in range(0, RANDOM_RUNS, len(lanes)):
        batch = lanes[: RANDOM_RUNS - run]
        run_side_by_side(batch, [lane.draw_kill() for lane in batch])
        for lane in batch:
            lane.check()
    for lane in lanes:
        runs = sum(v for k, v in lane.stats.items() if k == "completed" or k.startswith(("killed", "refused")))
        with capsys.disabled():
            first, span, end = (statistics.median(t) * 1000 for t in (lane.first_writes, lane.spans, lane.ends))
            print(
                f"[random kills] {lane.walk.mode}: {runs} runs; first write point ~{first:.0f} ms after start,"
                f" write points span ~{span:.0f} ms, exit ~{end:.0f} ms; {dict(lane.stats)};"
                f" last point reached: {dict(lane.last_points)}"
            )
        assert lane.stats["killed, rows old"] and lane.stats["killed, rows new"]  # both sides of COMMIT were hit
