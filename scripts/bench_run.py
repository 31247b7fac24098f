"""Running a command as a child process and measuring it: wall time, CPU time, peak RSS.

Each command runs under bench_launch.py, a tiny launcher that spawns it,
reaps it with os.wait4 and reports the rusage of that one process (see
there why the benchmark script must not fork the command itself). Output
goes to files, so no pipe can stall the child.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

LAUNCHER = Path(__file__).resolve().parent / "bench_launch.py"


class ChildFailed(RuntimeError):
    """A measured command exited with an error."""


@dataclass(frozen=True)
class Child:
    """One finished run."""

    argv: tuple[str, ...]
    seconds: float
    cpu_seconds: float  # user + system time of the child
    max_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_child(argv: Sequence[str], env: Mapping[str, str] | None = None, *, check: bool = True) -> Child:
    """Run argv to completion; raise ChildFailed on a non-zero exit when `check`."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as folder:
        report, out, err = (Path(folder) / name for name in ("report.json", "stdout", "stderr"))
        with open(out, "w") as out_fh, open(err, "w") as err_fh:
            launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *argv]
            subprocess.run(launcher, stdin=subprocess.DEVNULL, stdout=out_fh, stderr=err_fh, env=env, check=True)
        r = json.loads(report.read_text())
        child = Child(tuple(argv), r["seconds"], r["cpu_seconds"], r["max_rss_bytes"], r["returncode"],
                      out.read_text(), err.read_text())  # fmt: skip
    if check and child.returncode != 0:
        raise ChildFailed(f"exit {child.returncode}: {' '.join(argv)}\n{child.stderr.strip()}")
    return child


def median_seconds(children: Sequence[Child]) -> float:
    return statistics.median(c.seconds for c in children)


def median_cpu_seconds(children: Sequence[Child]) -> float:
    return statistics.median(c.cpu_seconds for c in children)


def interleaved(commands: Mapping[str, Callable[[], Child]], runs: int, warmup: int) -> dict[str, list[Child]]:
    """Run each command `warmup` times unmeasured, then `runs` measured rounds, taking turns.

    Taking turns spreads any slow spell of a shared machine over every
    command instead of one of them.
    """
    for _ in range(warmup):
        for run in commands.values():
            run()
    measured: dict[str, list[Child]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, run in commands.items():
            measured[name].append(run())
    return measured


def read_whole_file(path: os.PathLike, chunk: int = 2**24) -> None:
    """Read a file once so it sits in the page cache."""
    with open(path, "rb", buffering=0) as fh:
        while fh.read(chunk):
            pass
