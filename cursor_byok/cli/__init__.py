"""The command line, the only user of click. Each command lives in the module its family names:

    where, list, get ............ read.py
    export, import, undo, redo .. move.py
    set, unset, models, apply ... edit.py
    audit, doctor ............... check.py
    rescue ...................... rescue.py
    demo ........................ demo.py

The group and its error handling are in group.py, exit codes in exits.py,
shared options in options.py, prompts in prompts.py, printing in output.py,
and the flow every write command shares (plan, confirm, write, report) in
writes.py. Each command turns its options into a library call and renders the
result; the work itself is in cursor_byok.library.
"""

from __future__ import annotations

from . import check, demo, edit, help, move, read, rescue  # noqa: F401 - importing a family registers its commands
from .exits import Exit
from .group import main
from .options import add_global_options

add_global_options(main)

__all__ = ["Exit", "main"]
