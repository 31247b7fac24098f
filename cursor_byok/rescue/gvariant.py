"""A reader for little-endian serialised GVariant, for the few fixed types oo7's keyring files use.

GVariant frames variable-sized values with offsets instead of lengths: a
tuple keeps the end of each variable-sized member but the last in a table at
its own end (the first member's end last), an array of variable-sized
elements keeps the end of each element in a table at its end, and the size
of every offset (1, 2, 4 or 8 bytes) follows from the container's size.
Fixed-size members are aligned to their size inside their container.

Supported types: `y`, `u`, `t` (fixed), `s`, `ay` (bytes), `a{..}` (a dict),
`a(...)` and `a<other>` (a list), `(...)` (a tuple). The type string comes
from the caller's code, never from the file. Anything that does not frame
exactly is StoreDamaged: this reader does not apply GVariant's "normal form"
leniency (which would turn a damaged value into a default one).
"""

from __future__ import annotations

from typing import Union, cast

from ..errors import StoreDamaged

Value = Union[int, str, bytes, tuple["Value", ...], list["Value"], dict[str, "Value"]]

FIXED_SIZES = {"y": 1, "u": 4, "t": 8}


def decode(signature: str, data: bytes, what: str) -> Value:
    """The value of type `signature` serialised in `data` (the whole of it); `what` names the file in errors."""
    return _decode(_parse(signature), memoryview(data), what)


def _damaged(what: str, why: str) -> StoreDamaged:
    return StoreDamaged(f"{what}: {why}; the file is damaged or not what it claims to be")


# -- types ----------------------------------------------------------------------------------
# A parsed type is its one-letter code followed by its parts: ("u",), ("a", elem), ("(", m1, m2, ...).

Type = tuple[object, ...]


def _parse(signature: str) -> Type:
    parsed, end = _parse_at(signature, 0)
    if end != len(signature):
        raise ValueError(f"unsupported GVariant type {signature!r}")
    return parsed


def _parse_at(sig: str, i: int) -> tuple[Type, int]:
    code = sig[i]
    if code in FIXED_SIZES or code == "s":
        return (code,), i + 1
    if code == "a":
        element, end = _parse_at(sig, i + 1)
        return ("a", element), end
    if code in "({":
        close, members, i = {"(": ")", "{": "}"}[code], [], i + 1
        while sig[i] != close:
            member, i = _parse_at(sig, i)
            members.append(member)
        if all(_fixed_size(m) is not None for m in members) or (code == "{" and members[0] != ("s",)):
            raise ValueError(f"unsupported GVariant type {sig!r}: fixed-size containers, non-string keys")
        return (code, *members), i + 1
    raise ValueError(f"unsupported GVariant type code {code!r}")


def _fixed_size(t: Type) -> int | None:
    """The size of a fixed-size type (only `y`, `u`, `t` here: no fixed tuples in oo7's types)."""
    return FIXED_SIZES.get(str(t[0]))


def _alignment(t: Type) -> int:
    if t[0] in FIXED_SIZES:
        return FIXED_SIZES[str(t[0])]
    if t[0] == "s":
        return 1
    parts = [p for p in t[1:] if isinstance(p, tuple)]
    return max((_alignment(p) for p in parts), default=1)


def _offset_size(container_size: int) -> int:
    for size, limit in ((1, 0xFF), (2, 0xFFFF), (4, 0xFFFFFFFF)):
        if container_size <= limit:
            return size
    return 8


def _align(pos: int, alignment: int) -> int:
    return -(-pos // alignment) * alignment


# -- values ---------------------------------------------------------------------------------


def _decode(t: Type, data: memoryview, what: str) -> Value:
    code = t[0]
    if code in FIXED_SIZES:
        if len(data) != FIXED_SIZES[str(code)]:
            raise _damaged(what, f"a GVariant '{code}' of {len(data)} bytes")
        return int.from_bytes(data, "little")
    if code == "s":
        return _string(data, what)
    if code == "a":
        return _array(_part(t, 1), data, what)
    return _members(t, data, what)


def _part(t: Type, index: int) -> Type:
    return cast(Type, t[index])  # built by _parse_at from the caller's type string, not read from a file


def _string(data: memoryview, what: str) -> str:
    raw = bytes(data)
    if not raw.endswith(b"\0") or b"\0" in raw[:-1]:
        raise _damaged(what, "a GVariant string without its single closing NUL")
    try:
        return raw[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(what, "a GVariant string that is not UTF-8") from None


def _read_offset(data: memoryview, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _array(element: Type, data: memoryview, what: str) -> Value:
    if element == ("y",):
        return bytes(data)
    fixed = _fixed_size(element)
    if fixed is not None:
        if len(data) % fixed:
            raise _damaged(what, "a GVariant array of fixed-size elements with a partial element")
        return [_decode(element, data[i : i + fixed], what) for i in range(0, len(data), fixed)]
    values = [_decode(element, chunk, what) for chunk in _element_chunks(element, data, what)]
    if element[0] != "{":
        return values
    return _dict(values, what)


def _element_chunks(element: Type, data: memoryview, what: str) -> list[memoryview]:
    """The serialised elements of an array of variable-size elements, found through its offset table."""
    if not data:
        return []
    size = _offset_size(len(data))
    table = _read_offset(data, len(data) - size, size)  # the last element's end: where the table begins
    if table > len(data) - size or (len(data) - table) % size:
        raise _damaged(what, "a GVariant array whose offset table does not fit")
    chunks, start = [], 0
    for at in range(table, len(data), size):
        start, end = _align(start, _alignment(element)), _read_offset(data, at, size)
        if not start <= end <= table:
            raise _damaged(what, "a GVariant array element outside its array")
        chunks.append(data[start:end])
        start = end
    return chunks


def _dict(entries: list[Value], what: str) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for entry in entries:
        key, value = cast(tuple[str, Value], entry)  # _parse_at allows string keys only
        if key in out:
            raise _damaged(what, f"a GVariant dictionary with the key {key!r} twice")
        out[key] = value
    return out


def _members(t: Type, data: memoryview, what: str) -> tuple[Value, ...]:
    """A tuple or dict entry: members in order, each variable-size one but the last ended by the offset table."""
    members = [_part(t, i) for i in range(1, len(t))]
    size = _offset_size(len(data))
    table_start, pos, values = len(data), 0, []
    for index, member in enumerate(members):
        pos = _align(pos, _alignment(member))
        fixed = _fixed_size(member)
        if fixed is not None:
            end = pos + fixed
        elif index == len(members) - 1:
            end = table_start
        else:
            table_start -= size
            end = _read_offset(data, table_start, size) if table_start >= 0 else -1
        if not pos <= end <= table_start:
            raise _damaged(what, "a GVariant tuple member outside its tuple")
        values.append(_decode(member, data[pos:end], what))
        pos = end
    if pos != table_start:
        raise _damaged(what, "a GVariant tuple with bytes after its last member")
    return tuple(values)
