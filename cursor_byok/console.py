"""The standard streams: UTF-8 whenever they are not a console.

Output that goes to a pipe or a file is read by programs (`list --json`,
scripts), so it is UTF-8 on every OS. Python would otherwise use the locale's
encoding there: cp1252 on Windows, where the `…` of a masked key becomes byte
0x85 and a model name outside cp1252 stops the command part-way. A console
(a terminal, the Windows console) is left as Python set it up.
"""

from __future__ import annotations

import codecs
import sys


def is_console(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def utf8_unless_console(stream) -> None:
    """Switch a text stream that is not a console to UTF-8, keeping its error handler."""
    if stream is None or is_console(stream):
        return
    try:
        if codecs.lookup(stream.encoding).name == "utf-8":
            return
        stream.reconfigure(encoding="utf-8", errors=stream.errors)
    except (AttributeError, LookupError, TypeError, ValueError, OSError):
        return  # not a reconfigurable text stream (a test harness's, an embedder's)


def setup_streams() -> None:
    utf8_unless_console(sys.stdout)
    utf8_unless_console(sys.stderr)
