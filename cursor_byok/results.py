"""What the commands return: frozen dataclasses whose `to_json()` is the command's `--json` document.

The JSON form is derived from the fields in one place, `jsonable()`: a
dataclass becomes an object of its fields in order (a field marked
`internal()` is left out, one marked `omit_if_none()` only appears when set),
tuples and lists become arrays, mappings objects, paths strings, and an object
with a `json()` method speaks for itself. A `Secret` is never turned into JSON:
a document that holds a key (`get`, `--reveal`) holds it as a plain string
because the user asked for it. Every document carries `output_version`.
"""

from __future__ import annotations

import dataclasses
import enum
import shlex
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Mapping

from .model import Secret

OUTPUT_VERSION = 2  # bumped when a document loses or renames a key; new keys do not bump it
VERSION_KEY = "output_version"


def internal(default: Any = None) -> Any:
    """A field Python callers use that is not part of the JSON document (raw rows, opened objects...)."""
    return field(default=default, repr=False, compare=False, metadata={"json": False})


def omit_if_none(default: Any = None) -> Any:
    """A field that appears in the JSON document only when it holds something."""
    return field(default=default, metadata={"omit_if_none": True})


def jsonable(value: Any) -> Any:
    """The JSON form of a result's value (see the module docstring)."""
    if isinstance(value, Secret):
        raise TypeError("a Secret is never written into a JSON document")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    method = getattr(value, "json", None)
    if callable(method):
        return method()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fields_json(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no JSON form")


def fields_json(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a JSON object, in field order."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not f.metadata.get("json", True):
            continue
        value = getattr(obj, f.name)
        if value is None and f.metadata.get("omit_if_none"):
            continue
        out[f.name] = jsonable(value)
    return out


@dataclass(frozen=True)
class Result:
    """A command's outcome: typed fields for Python callers; `to_json()` is what `--json` prints."""

    def to_json(self) -> dict[str, Any]:
        return {VERSION_KEY: OUTPUT_VERSION, **fields_json(self)}


@dataclass(frozen=True)
class Hint:
    """A command of this tool to paste, as data: its arguments, and the global options that name the same
    database, safe storage and data folder the user ran with (absolute paths). `str()` renders it."""

    args: tuple[str, ...]
    globals: tuple[str, ...] = ()

    @property
    def argv(self) -> list[str]:
        return ["cursor-byok", *self.globals, *self.args]

    def __str__(self) -> str:
        return shlex.join(self.argv)

    def json(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Invocation:
    """The global options a pasted command needs to reach the same Cursor, safe storage and journals as the
    command that printed it (absolute paths); the façade builds it from its Context."""

    globals: tuple[str, ...] = ()

    def hint(self, *args: str) -> Hint:
        return Hint(tuple(args), self.globals)

    def __call__(self, words: str) -> str:
        """A hint from words as a user types them (`undo --list`), rendered: for messages."""
        return str(self.hint(*shlex.split(words)))
