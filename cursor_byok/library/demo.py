"""`demo`: keys moved between two sample installs, no Cursor needed."""

from __future__ import annotations

from typing import Callable

from ..samples.demo import DemoResult
from ..samples.demo import run as run_demo


def demo(*, keep: bool = False, echo: Callable[[str], None] | None = None) -> DemoResult:
    """Lay out two sample installs in a temporary folder and run the whole move on them with the real command
    line; `echo` prints each step as it runs, `keep` leaves the folder behind."""
    return run_demo(echo=echo, keep=keep)
