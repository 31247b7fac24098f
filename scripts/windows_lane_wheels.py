"""Check that the Windows lane's wheels are all the project needs on Windows, as Windows would resolve it.

Usage: windows_lane_wheels.py PROJECT_WHEEL WHEEL_DIR

scripts/windows-lane downloads the win_amd64 wheels pinned, with their hashes,
in requirements/windows-lane.txt (pip download --require-hashes --no-deps), so
nothing unpinned reaches the lane. This script then reads Requires-Dist from the
built project wheel's METADATA and from every downloaded wheel, evaluates each
marker for 64-bit Windows CPython 3.13 (pip would evaluate them for this Linux
host, dropping colorama and keeping secretstorage), and checks that a wheel in
WHEEL_DIR satisfies each requirement that applies, with its extras, recursively.
A requirement the lock lacks (setup.cfg changed, the lock did not) fails with
the command that refreshes the lock. Prints the wheels, one a line.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # a bare machine: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

WINDOWS = {
    "os_name": "nt",
    "sys_platform": "win32",
    "platform_system": "Windows",
    "platform_machine": "AMD64",
    "platform_release": "10",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.13",
    "python_full_version": "3.13.2",
    "implementation_version": "3.13.2",
}
LOCK = "requirements/windows-lane.txt"


def requirements(wheel: Path, extras: set[str]) -> list[Requirement]:
    """The wheel's Requires-Dist entries that apply on Windows with these extras."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode("utf-8")
    out = []
    for line in text.split("\n\n", 1)[0].splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        wanted = any(req.marker.evaluate({**WINDOWS, "extra": e}) for e in (extras or {""})) if req.marker else True
        if wanted:
            out.append(req)
    return out


def check(project_wheel: Path, wheel_dir: Path) -> list[str]:
    """What is missing: one line per requirement that no wheel in wheel_dir satisfies."""
    wheels = {}
    for path in sorted(wheel_dir.glob("*.whl")):
        name, version, _build, _tags = parse_wheel_filename(path.name)
        wheels[name] = (version, path)
    problems = []
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(req, project_wheel.name) for req in requirements(project_wheel, set())]
    while pending:
        req, needed_by = pending.pop(0)
        name = canonicalize_name(req.name)
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        if name not in wheels:
            problems.append(f"{req} (needed by {needed_by}) is not in {LOCK}")
            continue
        version, path = wheels[name]
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req} (needed by {needed_by}) does not admit {name} {version}, pinned in {LOCK}")
        pending += [(sub, path.name) for sub in requirements(path, set(req.extras))]
    return problems


def main(project_wheel: str, wheel_dir: str) -> int:
    problems = check(Path(project_wheel), Path(wheel_dir))
    for path in sorted(Path(wheel_dir).glob("*.whl")):
        print(path)
    for problem in problems:
        print(f"windows_lane_wheels: {problem}", file=sys.stderr)
    if problems:
        print(f"windows_lane_wheels: run scripts/refresh-locks and commit {LOCK}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
