"""The exit code of a failure: each error class carries its own (errors.Exit, ByokError.exit_code)."""

from __future__ import annotations

from ..errors import ByokError, Exit

__all__ = ["Exit", "exit_code_for"]


def exit_code_for(exc: ByokError) -> Exit:
    return exc.exit_code
