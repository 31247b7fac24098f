"""The lock files in requirements/ pin everything by hash, and still cover what setup.cfg asks for.

CI, scripts/check-dist and the Windows lane install only from these locks (pip
--require-hashes), and the Ansible play's install takes requirements/runtime.txt.
A requirement added to setup.cfg without `scripts/refresh-locks` fails here, in
the fast loop, instead of deep inside CI.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from helpers.paths import REPO
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCKS = REPO / "requirements"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)\s*(?:;(?P<marker>.*))?$")
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
WINDOWS_313 = {
    "os_name": "nt",
    "sys_platform": "win32",
    "platform_system": "Windows",
    "platform_machine": "AMD64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.13",
    "python_full_version": "3.13.0",
}
LINUX = {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}


def entries(lock: Path) -> list[tuple[str, Version, Marker | None, list[str]]]:
    """(name, version, marker, hashes) for each requirement of a pip requirements file."""
    text = re.sub(r"\\\n", " ", lock.read_text(encoding="utf-8"))  # join backslash continuations
    out = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()  # a trailing comment ("# via ...")
        if not line or line.startswith("#"):
            continue
        pin, *hashes = (part.strip() for part in line.split("--hash="))
        found = PIN.match(pin)
        assert found, f"{lock.name}: not an exact pin: {pin!r}"
        assert hashes and all(HASH.match(h) for h in hashes), f"{lock.name}: {pin} has no sha256 hash"
        marker = Marker(found["marker"]) if found["marker"] else None
        out.append((canonicalize_name(found["name"]), Version(found["version"]), marker, hashes))
    return out


def setup_cfg(section: str, key: str) -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return [Requirement(line.strip()) for line in cfg[section][key].splitlines() if line.strip()]


RUNTIME = setup_cfg("options", "install_requires")
TEST_EXTRA = setup_cfg("options.extras_require", "test")


def environments(python: str) -> dict[str, str]:
    return {**LINUX, "python_version": python, "python_full_version": python + ".0"}


@pytest.mark.parametrize("name", ["test.txt", "runtime.txt", "windows-lane.txt", "tools.txt"])
def test_every_lock_pins_each_requirement_with_a_hash(name):
    assert entries(LOCKS / name)


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [("test.txt", RUNTIME + TEST_EXTRA), ("runtime.txt", RUNTIME)],
)
@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13"])
def test_the_universal_locks_cover_setup_cfg_on_linux(lock, wanted, python):
    env = environments(python)
    pinned: dict[str, list[Version]] = {}
    for name, version, marker, _hashes in entries(LOCKS / lock):
        if marker is None or marker.evaluate(env):
            pinned.setdefault(name, []).append(version)
    for req in wanted:
        if req.marker and not req.marker.evaluate(env):
            continue
        versions = pinned.get(canonicalize_name(req.name))
        assert versions, f"{req} is not in requirements/{lock} for Python {python}: run scripts/refresh-locks"
        assert len(versions) == 1, f"{req.name} is pinned twice in requirements/{lock} for Python {python}"
        assert req.specifier.contains(versions[0], prereleases=True), (
            f"requirements/{lock} pins {req.name} {versions[0]}, outside {req}: run scripts/refresh-locks"
        )


def test_the_windows_lane_lock_covers_setup_cfg_for_windows_cpython_313():
    pinned = {name: version for name, version, _marker, _hashes in entries(LOCKS / "windows-lane.txt")}
    for req in RUNTIME:
        if req.marker and not req.marker.evaluate(WINDOWS_313):
            assert canonicalize_name(req.name) not in pinned, f"{req.name} is not for Windows"
            continue
        version = pinned.get(canonicalize_name(req.name))
        assert version is not None, f"{req} is not in requirements/windows-lane.txt: run scripts/refresh-locks"
        assert req.specifier.contains(version, prereleases=True), f"windows-lane.txt pins {req.name} {version}"


def test_the_locks_agree_on_the_versions_they_share():
    """runtime.txt and the Windows lane run what the tests ran (refresh-locks constrains them by test.txt)."""
    test: dict[str, set[Version]] = {}
    for name, version, _marker, _hashes in entries(LOCKS / "test.txt"):
        test.setdefault(name, set()).add(version)
    for name, version, _marker, _hashes in entries(LOCKS / "runtime.txt"):
        assert version in test.get(name, set()), f"runtime.txt: {name} {version} is not what test.txt pins"
    on_313 = {n: v for n, v, m, _h in entries(LOCKS / "test.txt") if m is None or m.evaluate(WINDOWS_313)}
    for name, version, _marker, _hashes in entries(LOCKS / "windows-lane.txt"):
        assert on_313.get(name) == version, f"windows-lane.txt: {name} {version} differs from test.txt"
