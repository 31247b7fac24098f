"""Shared fixtures: sample Cursor user-data dirs, a clean environment, and the report of a timed-out child.

It applies to every folder of tests/. Sample dirs are real SQLite files laid out by
`cursor_byok.samples.installs` with made-up keys. The only stand-ins are at OS boundaries we cannot run
here: the macOS Keychain and Windows DPAPI fetchers, replaced by functions that return the sample's known
machine secret (tests/helpers/samples.py). Helpers that tests import live in tests/helpers/, never here.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Iterator

import pytest
from helpers.children import timeout_sections
from helpers.rescue import Harness
from helpers.samples import SampleDir, secret_for
from hypothesis import settings

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

ENV_PREFIXES_TO_DROP = ("CURSOR_", "VSCODE_", "XDG_", "WSL_")
ENV_NAMES_TO_DROP = ("APPDATA", "USERPROFILE", "DESKTOP_SESSION", "DBUS_SESSION_BUS_ADDRESS")


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
            secret=sample_kw.pop("secret", secret_for(generation)),
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that failed on subprocess's own timeout (run(timeout=...), communicate(timeout=...)) shows
    what the process had written by then, which the exception's message leaves out."""
    outcome = yield
    if call.excinfo is None:
        return
    report = outcome.get_result()
    report.sections.extend(timeout_sections(call.excinfo.value))


@pytest.fixture
def h(tmp_path, monkeypatch) -> Iterator[Harness]:
    """The rescue tests' harness (tests/helpers/rescue.py); nothing may be written in the working folder."""
    harness = Harness(tmp_path, monkeypatch)
    yield harness
    assert list(harness.cwd.iterdir()) == [], "something was written in the working folder"
