"""The modules below the command line, each loaded at its first use (cursor_byok.lazy): `--help`, `--version`
and each command load only what they call. Type checkers see the real modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import key_shapes, private_files, render
    from ..bundle import age_envelope
    from ..changes import flow, outcome, undo, wanted
    from ..library import check, context, demo, edit, move, read, rescue
    from ..safestorage import backends, password
else:
    from ..lazy import LazyModule

    age_envelope = LazyModule("cursor_byok.bundle.age_envelope")
    backends = LazyModule("cursor_byok.safestorage.backends")
    check = LazyModule("cursor_byok.library.check")
    context = LazyModule("cursor_byok.library.context")
    demo = LazyModule("cursor_byok.library.demo")
    edit = LazyModule("cursor_byok.library.edit")
    flow = LazyModule("cursor_byok.changes.flow")
    key_shapes = LazyModule("cursor_byok.key_shapes")
    move = LazyModule("cursor_byok.library.move")
    outcome = LazyModule("cursor_byok.changes.outcome")
    password = LazyModule("cursor_byok.safestorage.password")
    private_files = LazyModule("cursor_byok.private_files")
    read = LazyModule("cursor_byok.library.read")
    render = LazyModule("cursor_byok.render")
    rescue = LazyModule("cursor_byok.library.rescue")
    undo = LazyModule("cursor_byok.changes.undo")
    wanted = LazyModule("cursor_byok.changes.wanted")

__all__ = ["age_envelope", "backends", "check", "context", "demo", "edit", "flow", "key_shapes", "move",
           "outcome", "password", "private_files", "read", "render", "rescue", "undo", "wanted"]  # fmt: skip
