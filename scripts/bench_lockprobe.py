"""Watch a database from outside and time how long its write lock stays taken.

Run as a child process by scripts/bench:  bench_lockprobe.py DB
It prints "ready" once connected, then tries `BEGIN IMMEDIATE` (busy timeout
0, rolled back at once) every POLL_S seconds until it gets SIGTERM, and then
prints one JSON document with every stretch during which the lock was taken
by someone else, as [lower, upper] bounds in seconds.

The upper bound runs from the last attempt that got the lock before the
stretch to the first one that got it after; the lower bound from the first
attempt that found it taken to the last one. They differ by the poll interval
plus however long the probe itself waited for a CPU. This is what Cursor (or
any other writer) would see: it covers every phase of a command that holds
the lock, not only the write transaction itself.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from urllib.parse import quote

POLL_S = 0.0002


class Probe:
    def __init__(self, db: str) -> None:
        uri = f"file:{quote(db)}?mode=rw"
        self.conn = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
        self.stretches: list[tuple[float, float]] = []
        self.attempts = 0
        self.last_free: float | None = None
        self.busy_since: float | None = None
        self.busy_last = 0.0
        self.stop = False

    def attempt(self) -> None:
        started = time.perf_counter()
        self.attempts += 1
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            self.busy_since = self.busy_since or started
            self.busy_last = started
            return
        self.conn.execute("ROLLBACK")
        if self.busy_since is not None and self.last_free is not None:
            self.stretches.append((self.busy_last - self.busy_since, started - self.last_free))
        self.busy_since = None
        self.last_free = time.perf_counter()

    def run(self) -> dict:
        signal.signal(signal.SIGTERM, self._on_term)
        print("ready", flush=True)
        while not self.stop:
            self.attempt()
            time.sleep(POLL_S)
        return {"attempts": self.attempts, "poll_s": POLL_S, "stretches": self.stretches}

    def _on_term(self, _signum, _frame) -> None:
        self.stop = True


def main(argv: list[str]) -> int:
    report = Probe(argv[0]).run()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
