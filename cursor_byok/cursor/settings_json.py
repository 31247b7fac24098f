"""`User/settings.json`, read as VS Code reads it: JSON with comments and trailing commas (JSONC). Read-only.

The file is the user's and anything may be in it: it is read bounded (SETTINGS_MAX), parsed in linear time,
and anything that is not a JSON object (too large, not UTF-8, not JSONC, nested beyond Python's stack) reads
as None. Values are never shown: callers look at which keys are set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..private_files import read_small

SETTINGS_MAX = 1 << 20  # a settings.json is a few KB; a larger file is not read


def strip_jsonc(text: str) -> str:
    """JSON from JSONC: `//` and `/* */` comments become spaces, and a comma before `}` or `]` goes; strings
    are left as they are. One pass over the text, then one over the result."""
    return _drop_trailing_commas(_drop_comments(text))


def _drop_comments(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _drop_trailing_commas(text: str) -> str:
    out: list[str] = []
    pending = -1  # index in `out` of a comma that may be trailing
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            pending, i = -1, j
            continue
        if c in "}]" and pending >= 0:
            out[pending] = " "
        if c == ",":
            pending = len(out)
        elif not c.isspace():
            pending = -1
        out.append(c)
        i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index just after the JSON string that starts at `start` (the end of the text if it never closes)."""
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "\n":  # a string never spans lines: stop at the break (json.loads then refuses)
            return i
        else:
            i += 1
    return n


def parse(text: str) -> dict[str, Any] | None:
    """The settings object; None when the text is not a JSONC object."""
    try:
        doc = json.loads(strip_jsonc(text.lstrip("\ufeff")))
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def read(path: Path) -> dict[str, Any] | None:
    """The settings object of a settings.json file; None when it is missing, unreadable, too large or not an
    object (see the module docstring)."""
    try:
        data = read_small(path, SETTINGS_MAX)
    except OSError:
        return None
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def has_setting(doc: dict[str, Any], name: str) -> bool:
    """True when a setting is present: as VS Code writes it (a dotted key), or nested by its parts."""
    if name in doc:
        return True
    place: Any = doc
    for part in name.split("."):
        if not isinstance(place, dict) or part not in place:
            return False
        place = place[part]
    return True
