"""A module that loads on first use: the command line names the library modules it calls at the top, and
`--help`, `--version` and each command load only what they use.

Modules of the package name the same way, at their top, a library they need for only part of their work and
that must stay off the start-up path or off other systems: SQLAlchemy (cursor.store), cryptography
(safestorage.oscrypt), D-Bus (safestorage.secret_service, .kwallet), ctypes (the Windows-only code). Each
does it as cli/lib does, with the real import under TYPE_CHECKING so that mypy sees the real module:

    if TYPE_CHECKING:
        import sqlalchemy
    else:  # why it loads late, in one line
        sqlalchemy = LazyModule("sqlalchemy")
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name` and imports it at the first attribute looked up."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
