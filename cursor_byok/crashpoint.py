"""Named points where a write can be made to kill the process, for crash tests.

With CURSOR_BYOK_CRASH_AT=N set, the Nth call of `hit()` in this process
kills it with SIGKILL (no cleanup, no atexit), as a power cut or `kill -9`
would; Windows has no SIGKILL, so there the process ends through `os._exit`
(ExitProcess: no finally blocks, no atexit, no flush of Python's buffers)
with exit code 137, what a shell reports for a SIGKILL.
CURSOR_BYOK_CRASH_LOG=FILE appends each point's name, so a test can walk the
points 1, 2, 3, ... until a run completes. Unset, `hit` costs a
dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_count = 0
CRASH_EXIT = 128 + 9


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
        crash()


def crash() -> None:
    """End this process at once, without any cleanup."""
    sigkill = getattr(signal, "SIGKILL", None)
    if sigkill is None:  # Windows
        os._exit(CRASH_EXIT)
    os.kill(os.getpid(), sigkill)
