"""A stand-in for a running Cursor's storage writer, for the concurrency tests.

    python cursor_standin.py DB KEY REPORT.json

Like Cursor, it reads all of ItemTable once, then keeps writing: every 100 ms
it stores a changed value of one row (KEY, which nothing else writes) in its
own short transaction, with SQLite's busy timeout at 1000 ms, about what
Cursor's driver waits. It prints "ready" once it has loaded the table. On
SIGTERM it stops, writes REPORT.json ({"writes", "busy", "errors",
"loaded_rows", "last_value", "slowest_write_s"}) and exits 3 if any write
failed with SQLITE_BUSY ("database is locked"), 4 on any other error, 0
otherwise.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time

INTERVAL_S = 0.1
BUSY_TIMEOUT_S = 1.0


class StandIn:
    def __init__(self, db: str, key: str) -> None:
        self.key = key
        self.conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.memory = dict(self.conn.execute("SELECT key, value FROM ItemTable"))  # loaded once, never re-read
        self.report = {
            "writes": 0,
            "busy": [],
            "errors": [],
            "loaded_rows": len(self.memory),
            "last_value": None,
            "slowest_write_s": 0.0,
        }
        self.stop = False

    def write_once(self, n: int) -> None:
        value = json.dumps({"tick": n, "at": time.time()})
        started = time.perf_counter()
        try:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT OR REPLACE INTO ItemTable (key, value) VALUES (?, ?)", (self.key, value))
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            text = str(exc)
            bucket = "busy" if "locked" in text or "busy" in text else "errors"
            self.report[bucket].append(f"write {n}: {text}")
            return
        self.memory[self.key] = value
        self.report["writes"] += 1
        self.report["last_value"] = value
        self.report["slowest_write_s"] = max(self.report["slowest_write_s"], time.perf_counter() - started)

    def run(self) -> int:
        print("ready", flush=True)
        n = 0
        while not self.stop:
            time.sleep(INTERVAL_S)
            if self.stop:
                break
            n += 1
            self.write_once(n)
        return 3 if self.report["busy"] else 4 if self.report["errors"] else 0


def main(argv: list[str]) -> int:
    db, key, report_path = argv
    standin = StandIn(db, key)

    def on_term(_signum, _frame) -> None:
        standin.stop = True

    signal.signal(signal.SIGTERM, on_term)
    code = standin.run()
    with open(report_path, "w", encoding="utf-8") as fh:
        json.dump(standin.report, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
