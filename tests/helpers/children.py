"""Child processes with deadlines: no test waits forever.

Every wait on a child process (its terminal output, a line on its pipe, its exit) has a deadline;
past it the child is killed and the test fails with what the child showed. The deadlines are
generous (2 shared cores can make a CLI start take seconds): they only turn a hang into a failure.
tests/project/test_deadlines.py checks that the suite keeps to this.
"""

from __future__ import annotations

import os
import subprocess
from typing import NoReturn

import pytest

PTY_TIMEOUT = 60.0  # seconds for one whole pty session
LINE_TIMEOUT = 60.0  # seconds for one line on a child's stdout pipe


def tail(data: bytes | str | None, limit: int = 4000) -> str:
    """The end of a child's output, as text, for a failure message."""
    if not data:
        return "(nothing)"
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else f"[... {len(text) - limit} characters before]\n" + text[-limit:]


def default_signals() -> None:
    """SIGINT and SIGQUIT back to their defaults, and unblocked: for a child, before exec (pty children
    do it; pass it as Popen's preexec_fn to a child the test interrupts). A test run started as a
    background job (`cmd &`) ignores SIGINT, and an ignored signal stays ignored across exec."""
    import signal

    for signum in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGQUIT})


def spawn_on_a_pty(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, int]:
    """(pid, master fd) of argv running with a new pty as its controlling terminal (pty.fork).

    The child resets SIGINT and SIGQUIT to their defaults before exec (default_signals): else, in a test
    run started as a background job, Ctrl-C typed on the pty would do nothing and the child would wait
    on. Prefer PtyChild or on_a_terminal, which bound every wait; a bare (pid, fd) is the caller's to
    kill and reap."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            default_signals()
            os.execve(argv[0], argv, dict(os.environ) if env is None else env)
        except BaseException as exc:
            os.write(2, f"cannot run {argv[0]}: {exc}\r\n".encode(errors="replace"))
        finally:
            os._exit(127)
    return pid, fd


def _pty_chunk(fd: int) -> bytes:
    """What the child wrote to the pty since the last read; b"" once it closed the terminal (EOF or EIO)."""
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the child closed the terminal
        return b""


class PtyChild:
    """argv on a pty (see spawn_on_a_pty), every wait on it bounded by one deadline `timeout` s from the
    start: past it the child's process group is killed and the test fails with what the terminal showed.
    Use as a context manager, so a failing test never leaves the child running."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = PTY_TIMEOUT) -> None:
        import time

        self.argv = [str(a) for a in argv]
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.shown = b""  # all the terminal showed so far
        self.closed = False  # the child closed the terminal (EOF/EIO)
        self.code: int | None = None  # exit code, once reaped
        self._reaped = False
        self.pid, self.fd = spawn_on_a_pty(self.argv, env)

    def __enter__(self) -> PtyChild:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, wait: float | None = None) -> bytes | None:
        """What the child writes within `wait` s (at most until the deadline; None: until it), added to
        `shown`; None if nothing came, b"" once it closed the terminal. Past the deadline: fail."""
        import select
        import time

        left = self.deadline - time.monotonic()
        if left <= 0:
            self.fail(f"still running after {self.timeout:g} s")
        if not select.select([self.fd], [], [], left if wait is None else min(wait, left))[0]:
            return None
        chunk = _pty_chunk(self.fd)
        self.shown += chunk
        self.closed = not chunk
        return chunk

    def expect(self, text: bytes, start: int = 0) -> int:
        """Read until `text` shows up in shown[start:]; the index just after it. Fails if the child
        closes the terminal first, or at the deadline."""
        while text not in self.shown[start:]:
            if self.closed or self.read() == b"":
                self.fail(f"ended before showing {text!r}")
        return self.shown.index(text, start) + len(text)

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def exit_code(self) -> int:
        """Read to the end of its output, then reap it: its exit code, all within the deadline (or fail)."""
        import time

        while not self.closed:
            self.read()
        while not self._reap():
            if time.monotonic() >= self.deadline:
                self.fail(f"closed its terminal but was still running after {self.timeout:g} s")
            time.sleep(0.01)
        assert self.code is not None
        return self.code

    def _reap(self) -> bool:
        if not self._reaped:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reaped, self.code = True, os.waitstatus_to_exitcode(status)
        return self._reaped

    def close(self) -> None:
        """Kill the child (its whole process group) if it still runs, reap it, close the terminal."""
        import signal
        import time

        if not self._reaped:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # pty.fork made it a session (and group) leader
            except ProcessLookupError:
                pass
            give_up = time.monotonic() + 10  # SIGKILL ends it at once; a bound all the same
            while not self._reap() and time.monotonic() < give_up:
                time.sleep(0.01)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def fail(self, why: str) -> NoReturn:
        """Kill and reap the child, then fail the test with what its terminal showed."""
        import shlex

        self.close()
        pytest.fail(f"{shlex.join(self.argv)}: {why}; killed it. Its terminal showed:\n{tail(self.shown)}")


def read_pty(fd: int, until: bytes | None = None, timeout: float = PTY_TIMEOUT) -> bytes:
    """Output from a pty until `until` shows up or the child closes it; fails, with what it showed,
    if neither happens within `timeout` s (the caller still owns the child: prefer PtyChild)."""
    import select
    import time

    deadline = time.monotonic() + timeout
    out = b""
    while until is None or until not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"waited {timeout:g} s for {until or 'the end'!r} on the pty; it showed:\n{tail(out)}")
        chunk = _pty_chunk(fd)
        if not chunk:
            break
        out += chunk
    return out


def on_a_terminal(
    argv: list[str],
    answers: list[tuple[bytes, str]],
    timeout: float = PTY_TIMEOUT,
    *,
    env: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Run argv with a pty as its controlling terminal; type each answer once its prompt shows up (any
    letter case) after the previous answer. (exit code, all it showed). A child still running after
    `timeout` s is killed and the test fails with what it showed, so a question never asked fails
    instead of hanging."""
    pending = list(answers)
    since = 0
    with PtyChild(argv, env=env, timeout=timeout) as child:
        while not child.closed:
            if pending and pending[0][0].lower() in child.shown[since:].lower():
                child.type(pending.pop(0)[1].encode() + b"\r")
                since = len(child.shown)
            child.read(0.2)
        return child.exit_code(), child.shown


def answer_prompt_on_a_terminal(argv: list[str], until: bytes, answer: str) -> tuple[int, bytes]:
    """on_a_terminal with one prompt to answer."""
    return on_a_terminal(argv, [(until, answer)])


def read_line(proc: subprocess.Popen, timeout: float = LINE_TIMEOUT) -> str:
    """The next line `proc` writes to its stdout pipe (proc.stdout.readline() with a deadline): if no
    whole line comes within `timeout` s, proc is killed and the test fails with what it wrote.
    Reads byte by byte from the file descriptor, so nothing past the line is taken from the pipe."""
    import select
    import time

    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            fail_process(proc, f"wrote no whole line within {timeout:g} s", line)
        byte = os.read(fd, 1)
        if not byte:
            break  # it closed its stdout: what readline() returns at EOF
        line += byte
    return line.decode()


def fail_process(proc: subprocess.Popen, why: str, stdout: bytes | str | None = None) -> NoReturn:
    """Kill proc, then fail the test with `why` and what it wrote: `stdout` (what the test already read
    of it) and the rest of its piped stdout and stderr."""
    import shlex

    proc.kill()
    rest: tuple = (None, None)
    try:
        rest = proc.communicate(timeout=10)  # a grandchild holding the pipes must not hang this either
    except (subprocess.TimeoutExpired, OSError, ValueError):
        pass
    shown = "".join(tail(part) for part in (stdout, rest[0]) if part)
    argv = proc.args if isinstance(proc.args, str) else shlex.join(map(str, proc.args))
    pytest.fail(f"{argv}: {why}; killed it.\nstdout:\n{shown or '(nothing)'}\nstderr:\n{tail(rest[1])}")


def timeout_sections(exc: BaseException | None) -> list[tuple[str, str]]:
    """(title, text) for each TimeoutExpired in exc's chain: the command, its stdout and stderr so far."""
    sections, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, subprocess.TimeoutExpired):
            for name, data in (("stdout", exc.stdout), ("stderr", exc.stderr)):
                sections.append((f"{name} of {exc.cmd!r} when it timed out after {exc.timeout:g} s", tail(data)))
        exc = exc.__cause__ or exc.__context__
    return sections
