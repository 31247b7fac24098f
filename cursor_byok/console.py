"""The standard streams: UTF-8 whenever they are not a console.

Output that goes to a pipe or a file is read by programs (`list --json`,
scripts), so it is UTF-8 on every OS. Python would otherwise use the locale's
encoding there: cp1252 on Windows, where the `…` of a masked key becomes byte
0x85 and a model name outside cp1252 stops the command part-way. A console
(a terminal, the Windows console) is left as Python set it up.
"""

from __future__ import annotations

import codecs
import re
import sys
import unicodedata
from typing import Any


def is_console(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def utf8_unless_console(stream: Any) -> None:
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


# --- text from outside, on its way to a terminal or a pipe ----------------------------------------------------
#
# Row names, profile names, model names, URLs, paths and commands come from databases, bundles, storage.json and
# manifests that someone else may have written. A terminal acts on control characters (ESC sequences retitle it,
# clear it, hide text; a CR overwrites what was shown) and reorders text around bidi controls (U+202E shows a
# command reversed), so the command line shows every such character escaped, as Python's repr() writes it.
# Unsafe: every character of Unicode's categories C* (controls, format characters such as the bidi controls
# and zero-width spaces, surrogates, private use, unassigned) and the line and paragraph separators (Zl, Zp),
# except a newline and a tab.

_MAYBE_UNSAFE = re.compile("[^\x20-\x7e\n\t]")


def is_unsafe(char: str) -> bool:
    """True for a character a terminal may act on or reorder text around (see above)."""
    if char in "\n\t":
        return False
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if not is_unsafe(char):
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_unsafe(text: str) -> str:
    """`text` with every unsafe character written as its escape (`\\x1b`, `\\u202e`): safe to show."""
    return _MAYBE_UNSAFE.sub(_escaped, text)


def has_unsafe(text: str) -> bool:
    """True when `text` holds a character escape_unsafe would escape."""
    return any(is_unsafe(m.group()) for m in _MAYBE_UNSAFE.finditer(text))


def _json_escaped(match: re.Match[str]) -> str:
    char = match.group()
    if not is_unsafe(char):
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_safe(document: str) -> str:
    """A JSON text (json.dumps with ensure_ascii=False) with every unsafe character inside its strings
    written as a \\u escape: the same document, which no terminal acts on. (Outside strings JSON is ASCII.)"""
    return _MAYBE_UNSAFE.sub(_json_escaped, document)
