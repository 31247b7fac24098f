"""Named points where a write can be made to kill the process, for crash tests.

Crash points are armed only by code already running in this process:
`arm(at=N)` makes the Nth call of `hit()` kill the process with SIGKILL (no
cleanup, no atexit), as a power cut or `kill -9` would; Windows has no
SIGKILL, so there the process ends through `os._exit` (ExitProcess: no
finally blocks, no atexit, no flush of Python's buffers) with exit code 137,
what a shell reports for a SIGKILL. `arm(log=FILE)` appends each point's name,
so a test can walk the points 1, 2, 3, ... until a run completes.

No environment variable, file or option arms them: the crash tests start the
command line through a bootstrap (tests/helpers/crash_runner.py) that calls `arm`
before `cli.main`. Un-armed, `hit` costs one comparison with None.
See docs/safety.md, "Crash points are armed from inside the process".
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

CRASH_EXIT = 128 + 9


@dataclass
class _Arming:
    at: int | None
    log: str | None
    count: int = 0


_armed: _Arming | None = None


def arm(*, at: int | None = None, log: str | os.PathLike[str] | None = None) -> None:
    """Kill this process at the `at`th point hit from now on; append every point's name to `log`."""
    global _armed
    if at is not None and at < 1:
        raise ValueError("crash points count from 1")
    _armed = _Arming(at, os.fspath(log) if log is not None else None) if at is not None or log is not None else None


def disarm() -> None:
    global _armed
    _armed = None


def hit(name: str) -> None:
    if _armed is None:
        return
    _armed.count += 1
    if _armed.log:
        with open(_armed.log, "a", encoding="utf-8") as fh:
            fh.write(f"{_armed.count} {name}\n")
    if _armed.count == _armed.at:
        crash()


def crash() -> None:
    """End this process at once, without any cleanup."""
    sigkill = getattr(signal, "SIGKILL", None)
    if sigkill is None:  # Windows
        os._exit(CRASH_EXIT)
    os.kill(os.getpid(), sigkill)
