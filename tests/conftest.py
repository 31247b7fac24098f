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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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


def read_pty(fd: int, until: bytes | None = None) -> bytes:
    """Output from a pty until `until` shows up or the child closes it (a generous guard against hangs)."""
    import select

    out = b""
    while until is None or until not in out:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            raise AssertionError(f"no output from the child; got so far: {out!r}")
        chunk = _pty_chunk(fd)
        if not chunk:
            break
        out += chunk
    return out


def _pty_chunk(fd: int) -> bytes:
    """What the child wrote to the pty since the last read; b"" once it closed the terminal (EOF or EIO)."""
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the child closed the terminal
        return b""


def on_a_terminal(argv: list[str], answers: list[tuple[bytes, str]], timeout: float = 60.0) -> tuple[int | None, bytes]:
    """Run argv with a pty as its controlling terminal; type each answer once its prompt shows up (any
    letter case) after the previous answer. (exit code, all it showed); a child still running after
    `timeout` is killed and gives exit None, so a question never asked fails instead of hanging."""
    import pty
    import select
    import signal
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        os.execve(argv[0], argv, dict(os.environ))
    shown, since, pending = b"", 0, list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0].lower() in shown[since:].lower():
                os.write(fd, pending.pop(0)[1].encode() + b"\r")
                since = len(shown)
            if not select.select([fd], [], [], 0.2)[0]:
                continue
            chunk = _pty_chunk(fd)
            if not chunk:
                break
            shown += chunk
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, shown
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), shown
    finally:
        os.close(fd)


def answer_prompt_on_a_terminal(argv: list[str], until: bytes, answer: str) -> tuple[int | None, bytes]:
    """on_a_terminal with one prompt to answer."""
    return on_a_terminal(argv, [(until, answer)])
