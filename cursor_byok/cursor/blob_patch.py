"""Patch fields of a JSON object text in place, leaving every other byte as it was.

Cursor's settings blob is about 250 KB of JSON that we must not reformat:
re-serialising would change number spellings, escapes and key order of
fields we do not own. Here we find the byte span of one member's value and
splice a new value in; a missing member is appended at the end of its object,
where JavaScript would put a new key.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


class PatchError(ValueError):
    """The text is not a JSON object of the shape the path needs."""


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def _expect(text: str, i: int, ch: str) -> None:
    if i >= len(text) or text[i] != ch:
        raise PatchError(f"expected {ch!r} at offset {i}")


def members(text: str, start: int) -> tuple[list[tuple[str, int, int]], int]:
    """Members of the object at `start` ('{') as (name, value_start, value_end), and the '}' offset."""
    _expect(text, start, "{")
    out: list[tuple[str, int, int]] = []
    i = _skip_ws(text, start + 1)
    if i < len(text) and text[i] == "}":
        return out, i
    while True:
        _expect(text, i, '"')
        try:
            name, j = _DECODER.raw_decode(text, i)  # text[i] is '"': the member name, then the offset after it
            j = _skip_ws(text, j)
            _expect(text, j, ":")
            j = _skip_ws(text, j + 1)
            _, end = _DECODER.raw_decode(text, j)
        except json.JSONDecodeError as exc:
            raise PatchError(str(exc)) from None
        except RecursionError:
            raise PatchError(f"the value of {name!r} is nested too deeply") from None
        out.append((name, j, end))
        k = _skip_ws(text, end)
        if k < len(text) and text[k] == ",":
            i = _skip_ws(text, k + 1)
            continue
        _expect(text, k, "}")
        return out, k


def dumps(value: Any) -> str:
    """Compact JSON as JSON.stringify writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _find(text: str, obj_start: int, name: str) -> tuple[tuple[int, int] | None, int, bool]:
    """(the value span of member `name` or None, the object's '}' offset, whether it has members)."""
    found, close = members(text, obj_start)
    span: tuple[int, int] | None = None
    for m_name, vs, ve in found:  # JSON.parse keeps the last duplicate
        if m_name == name:
            span = (vs, ve)
    return span, close, bool(found)


def set_path(text: str, path: Sequence[str], value: Any) -> str:
    """Text with the member at `path` set to `value` (created if missing)."""
    return set_raw(text, path, dumps(value))


def set_raw(text: str, path: Sequence[str], raw: str) -> str:
    """Text with the member at `path` set to the JSON text `raw`, spliced in as it is (created if missing)."""
    if not path:
        raise PatchError("empty path")
    obj = _skip_ws(text, 0)
    for depth, name in enumerate(path):
        span, close, has_members = _find(text, obj, name)
        last = depth == len(path) - 1
        if span is None:
            new = raw
            for inner in reversed(path[depth + 1 :]):
                new = "{" + dumps(inner) + ":" + new + "}"
            member = dumps(name) + ":" + new
            return text[:close] + ("," if has_members else "") + member + text[close:]
        if last:
            return text[: span[0]] + raw + text[span[1] :]
        if text[span[0]] != "{":
            raise PatchError(f"{'.'.join(path[: depth + 1])} is not an object")
        obj = span[0]
    raise AssertionError("unreachable")


def locate(text: str, path: Sequence[str]) -> tuple[int, int] | int:
    """The (start, end) span of the value at `path`, or, when it is missing, how many of
    its leading names exist (0: not even the first)."""
    obj = _skip_ws(text, 0)
    for depth, name in enumerate(path):
        span, _close, _any = _find(text, obj, name)
        if span is None:
            return depth
        if depth == len(path) - 1:
            return span
        if text[span[0]] != "{":
            return depth + 1  # the value there is not an object: the rest of the path is missing
        obj = span[0]
    raise PatchError("empty path")


def raw_at(text: str, path: Sequence[str]) -> str | None:
    """The JSON text of the value at `path` exactly as stored, or None when it is missing."""
    span = locate(text, path)
    return text[span[0] : span[1]] if isinstance(span, tuple) else None


def delete_path(text: str, path: Sequence[str]) -> str:
    """Text without the member at `path` (and the comma that joined it); unchanged when missing.

    Removing the member a `set_path` appended gives back the text from before, byte for byte.
    """
    if not path:
        raise PatchError("empty path")
    obj = _skip_ws(text, 0)
    if len(path) > 1:
        span = locate(text, path[:-1])
        if not isinstance(span, tuple) or text[span[0]] != "{":
            return text
        obj = span[0]
    found, _close = members(text, obj)
    index = max((i for i, m in enumerate(found) if m[0] == path[-1]), default=None)
    if index is None:
        return text
    name_start = _member_start(text, obj, found, index)
    end = found[index][2]
    if index > 0:  # from the comma after the previous value
        start = text.index(",", found[index - 1][2])
        return text[:start] + text[end:]
    if len(found) > 1:  # the first of several: up to the next member's name
        nxt = _member_start(text, obj, found, 1)
        return text[:name_start] + text[nxt:]
    return text[:name_start] + text[end:]


def _member_start(text: str, obj: int, found: list[tuple[str, int, int]], index: int) -> int:
    """Offset of the opening quote of member `index`'s name."""
    after = obj + 1 if index == 0 else text.index(",", found[index - 1][2]) + 1
    return _skip_ws(text, after)


def get_path(obj: Any, path: Sequence[str], default: Any = None) -> Any:
    """Value at `path` in parsed JSON, or default where a step is missing."""
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            return default
        obj = obj[name]
    return obj
