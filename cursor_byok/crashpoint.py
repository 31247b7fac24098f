"""Named points where a write can be made to kill the process, for crash tests.

With CURSOR_BYOK_CRASH_AT=N set, the Nth call of `hit()` in this process
kills it with SIGKILL (no cleanup, no atexit), as a power cut or `kill -9`
would. CURSOR_BYOK_CRASH_LOG=FILE appends each point's name, so a test can
walk the points 1, 2, 3, ... until a run completes. Unset, `hit` costs a
dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_count = 0


def hit(name: str) -> None:
    global _count
    target = os.environ.get("CURSOR_BYOK_CRASH_AT")
    log = os.environ.get("CURSOR_BYOK_CRASH_LOG")
    if not target and not log:
        return
    _count += 1
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_count} {name}\n")
    if target and _count == int(target):
        os.kill(os.getpid(), signal.SIGKILL)
