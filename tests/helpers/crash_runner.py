"""The crash tests' bootstrap: arm the crash points, then run the cursor-byok command line.

    python tests/helpers/crash_runner.py AT LOG [COMMAND LINE ARGS...]

AT is the point to crash at (1, 2, ...) and LOG the file that receives each
point's name; "-" leaves either one out. The rest goes to the command line as
`python -m cursor_byok` would pass it. This file is the only way the tests arm
crash points in a child process: an installed cursor-byok reads no variable,
file or option that could (see docs/safety.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

NONE = "-"


def _import_from_this_tree() -> None:
    """Run as a script, tests/helpers/ heads sys.path: put the tree it belongs to there instead.

    The helper modules in tests/helpers/ then shadow nothing, and the command line that
    runs is the one next to these tests, whatever else the environment installs.
    """
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(here.parents[1]), *(p for p in sys.path if not p or Path(p).resolve() != here)]


def command(at: int | None, log: object | None) -> list[str]:
    """The argv prefix that runs the command line through this bootstrap."""
    arming = [NONE if at is None else str(at), NONE if log is None else str(log)]
    return [sys.executable, str(Path(__file__).resolve()), *arming]


def main(argv: list[str]) -> None:
    _import_from_this_tree()
    from cursor_byok import crashpoint
    from cursor_byok.cli import main as cli_main

    at, log, *args = argv
    crashpoint.arm(at=None if at == NONE else int(at), log=None if log == NONE else log)
    cli_main(args=args, prog_name="python -m cursor_byok")


if __name__ == "__main__":
    main(sys.argv[1:])
