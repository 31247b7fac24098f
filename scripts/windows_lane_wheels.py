"""Download the win_amd64 wheels the project needs, as Windows would resolve them.

Usage: windows_lane_wheels.py PROJECT_WHEEL DEST_DIR

Reads Requires-Dist from the built project wheel's METADATA, evaluates each
marker for 64-bit Windows CPython 3.13 (pip would evaluate them for this Linux
host, dropping colorama and keeping secretstorage), downloads each requirement
as a win_amd64 wheel, and repeats for every downloaded wheel's own
requirements until nothing new is needed. Prints the wheels, one a line.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a bare machine: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

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
PIP_TARGET = ["--only-binary=:all:", "--platform", "win_amd64", "--python-version", "3.13", "--implementation", "cp"]


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


def download(req: Requirement, dest: Path) -> Path:
    before = set(dest.glob("*.whl"))
    spec = f"{req.name}{req.specifier}"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps", *PIP_TARGET]
        + ["-d", str(dest), spec],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise SystemExit(f"pip download {spec} failed:\n{run.stderr}")
    name = canonicalize_name(req.name)
    new = [w for w in set(dest.glob("*.whl")) - before]
    found = new or [w for w in before if canonicalize_name(w.name.split("-")[0]) == name]
    if not found:
        raise SystemExit(f"no wheel for {spec} appeared in {dest}")
    return found[0]


def main(project_wheel: str, dest_dir: str) -> int:
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    pending = requirements(Path(project_wheel), set())
    while pending:
        req = pending.pop(0)
        if canonicalize_name(req.name) in seen:
            continue
        seen.add(canonicalize_name(req.name))
        wheel = download(req, dest)
        print(wheel)
        pending += requirements(wheel, set(req.extras))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
