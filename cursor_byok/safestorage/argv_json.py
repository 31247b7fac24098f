"""Cursor's `argv.json`: the launch flags a user keeps (JSON with comments), read for `password-store`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..private_files import read_small

ARGV_JSON_LIMIT = 1 << 20


# A JSON string (kept), a // or /* */ comment, or a comma before a closing bracket.
_JSONC_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


_JSONC_TRAILING_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')


def strip_jsonc(text: str) -> str:
    """Plain JSON from VS Code's JSON-with-comments: comments and trailing commas dropped."""

    def keep_strings(m: re.Match[str]) -> str:
        return m.group(0) if m.group(0).startswith('"') else ""

    return _JSONC_TRAILING_COMMA.sub(keep_strings, _JSONC_COMMENT.sub(keep_strings, text))


def argv_password_store(argv_json: Path) -> str | None:
    """`"password-store"` from ~/.cursor/argv.json (a JSON file with comments)."""
    try:
        data = read_small(argv_json, ARGV_JSON_LIMIT)
    except OSError:
        return None
    try:
        value = json.loads(strip_jsonc(data.decode("utf-8"))).get("password-store")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None
