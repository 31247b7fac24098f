"""Shared fixtures: sample Cursor user-data dirs, a clean environment, tool checks.

Sample dirs are real SQLite files laid out by `cursor_byok.samples.installs` with
made-up keys. The only stand-ins are at OS boundaries we cannot run here:
the macOS Keychain and Windows DPAPI fetchers, replaced by functions that
return the sample's known machine secret.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NoReturn

import pytest
from hypothesis import settings

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import backends as keyring
from cursor_byok.safestorage import dpapi
from cursor_byok.samples.installs import (
    GENERATIONS,
    Sample,
    build_user_data_dir,
    default_settings,
    make_key,
    sample_keys,
)

# No timed assertions: hypothesis must not fail an example for being slow.
settings.register_profile("cursor-byok", deadline=None)
settings.load_profile("cursor-byok")

REQUIRE_TOOLS_ENV = "CURSOR_BYOK_REQUIRE_TOOLS"
WINDOWS_KEY = bytes(range(100, 132))  # a made-up 32-byte AES key
DPAPI_MARKER = b"fake:"  # what sample.build_user_data_dir puts before the key
ENV_PREFIXES_TO_DROP = ("CURSOR_", "VSCODE_", "XDG_", "WSL_")
ENV_NAMES_TO_DROP = ("APPDATA", "USERPROFILE", "DESKTOP_SESSION", "DBUS_SESSION_BUS_ADDRESS")

# The storage label `list` shows for each generation when decoded through
# SampleDir.storage() below.
EXPECTED_LABEL = {
    "plaintext": "plaintext",
    "basic": "basic",
    "v11": "secret-service",
    "macos": "keychain",
    "windows": "dpapi",
}


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS_ENV) == "1"


def require_tool(name: str) -> str:
    """The path of an outside tool; skip the test without it (fail under CI's flag)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install the package that provides it)"
    if tools_required():
        pytest.fail(f"{message}; {REQUIRE_TOOLS_ENV}=1 turns this skip into a failure")
    pytest.skip(message)


def fake_dpapi_unprotect(data: bytes) -> bytes:
    """Stand-in for CryptUnprotectData that knows the sample's marker."""
    if not data.startswith(DPAPI_MARKER):
        raise SafeStorageUnavailable("DPAPI could not unprotect the key")
    return data[len(DPAPI_MARKER) :]


@dataclass
class SampleDir:
    """A laid-out user-data dir and the plain values that went into it."""

    udd: Path
    db: Path
    sample: Sample
    keys: dict[str, str]
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def generation(self) -> str:
        return self.sample.generation

    @property
    def expected_label(self) -> str:
        return EXPECTED_LABEL[self.generation]

    def storage(self, **kw) -> keyring.SafeStorage:
        """A SafeStorage that decodes this dir, with the OS boundary replaced by known answers."""
        gen = self.generation
        env = kw.pop("env", {"HOME": str(self.udd)})
        secret = self.sample.secret
        if gen == "v11":
            return keyring.SafeStorage(
                keyring.SafeStorageConfig("secret-service"),
                env=env,
                platform="linux",
                fetchers={"secret-service": lambda: secret},
                **kw,
            )
        if gen == "macos":
            return keyring.SafeStorage(env=env, platform="darwin", fetchers={"keychain": lambda: secret}, **kw)
        if gen == "windows":
            local_state = self.udd / "Local State"
            return keyring.SafeStorage(
                env=env,
                platform="win32",
                local_state=local_state,
                fetchers={"dpapi": lambda: dpapi.dpapi_key_from_local_state(local_state, fake_dpapi_unprotect)},
                **kw,
            )
        return keyring.SafeStorage(keyring.SafeStorageConfig("basic"), env=env, platform="linux", **kw)

    def password_options(self, password_file: Path) -> list[str]:
        """CLI options that decode this dir through the `password` backend."""
        scheme = {"v11": "linux", "macos": "macos", "windows": "windows"}[self.generation]
        secret = self.sample.secret.hex() if scheme == "windows" else self.sample.secret.decode()
        password_file.write_text(secret + "\n")
        return [
            "--safe-storage",
            "password",
            "--safe-storage-password-file",
            str(password_file),
            "--safe-storage-scheme",
            scheme,
        ]


def _secret_for(generation: str) -> bytes:
    return WINDOWS_KEY if generation == "windows" else b"sample-machine-password-0"


@pytest.fixture
def make_sample_dir(tmp_path: Path) -> Callable[..., SampleDir]:
    """Factory: make_sample_dir("v11", keys=..., extras=..., settings=..., **Sample fields)."""
    counter = iter(range(1000))

    def make(
        generation: str,
        *,
        keys: dict | None = None,
        extras: dict | None = None,
        settings: dict | None = None,
        seed: int = 7,
        **sample_kw,
    ) -> SampleDir:
        rng = random.Random(seed)
        keys = sample_keys(rng) if keys is None else dict(keys)
        if extras is None:
            extras = {} if generation == "plaintext" else {"mistralKey": make_key("openrouter", rng)}
        sample = Sample(
            generation=generation,
            secret=sample_kw.pop("secret", _secret_for(generation)),
            keys=keys,
            extra_secrets=extras,
            settings=default_settings() if settings is None else settings,
            seed=seed,
            **sample_kw,
        )
        udd = tmp_path / f"udd-{generation}-{next(counter)}"
        db = build_user_data_dir(udd, sample)
        return SampleDir(udd=udd, db=db, sample=sample, keys=keys, extras=dict(extras))

    return make


@pytest.fixture(params=GENERATIONS)
def any_generation_dir(request, make_sample_dir) -> SampleDir:
    """One sample dir per storage generation, with every key set."""
    return make_sample_dir(request.param)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """os.environ without CURSOR_*, VSCODE_*, XDG_*, D-Bus or desktop hints; HOME in tmp.

    Returns a copy for subprocesses; CliRunner sees the patched os.environ.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES_TO_DROP) or name in ENV_NAMES_TO_DROP:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    return dict(os.environ)


@pytest.fixture(autouse=True)
def data_dir(clean_env, tmp_path, monkeypatch) -> Path:
    """Every test, by default: its own HOME, no CURSOR_*, VSCODE_*, XDG_*, D-Bus or desktop
    variables, and undo journals in a data dir of its own (never the user's). Returns that dir."""
    path = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(path))
    return path


def cli_runner():
    """A CliRunner that keeps stderr apart from stdout on every click version."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()


def require_module(name: str) -> None:
    """Skip (or, with CURSOR_BYOK_REQUIRE_TOOLS=1, fail) when a Python package is missing."""
    try:
        __import__(name)
    except ImportError:
        if tools_required():
            pytest.fail(f"Python package {name} is missing; CURSOR_BYOK_REQUIRE_TOOLS=1 turns this skip into a failure")
        pytest.skip(f"Python package {name} is missing (pip install {name})")


# --- deadlines: no test waits forever ------------------------------------------------------------
#
# Every wait on a child process (its terminal output, a line on its pipe, its exit) has a deadline;
# past it the child is killed and the test fails with what the child showed. The deadlines are
# generous (2 shared cores can make a CLI start take seconds): they only turn a hang into a failure.
# tests/test_deadlines.py checks that the suite keeps to this.

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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that failed on subprocess's own timeout (run(timeout=...), communicate(timeout=...)) shows
    what the process had written by then, which the exception's message leaves out."""
    outcome = yield
    if call.excinfo is None:
        return
    report = outcome.get_result()
    report.sections.extend(timeout_sections(call.excinfo.value))


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
