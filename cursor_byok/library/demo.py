"""`demo`: keys moved between two sample installs, no Cursor needed."""

from __future__ import annotations

from typing import Callable

from ..samples.demo import DemoResult, run


def demo(*, keep: bool = False, echo: Callable[[str], None] | None = None) -> DemoResult:
    """Lay out two sample installs in a temporary folder and run the whole move on them with the real command
    line; `echo` prints each step as it runs, `keep` leaves the folder behind."""
    return run(echo=echo, keep=keep)
