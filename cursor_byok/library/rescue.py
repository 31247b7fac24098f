"""`rescue`: Cursor's keys from an old machine's disk or backup, its secret store opened offline (rescue/engine).

Three uses: see what the copy holds (`rescue_keys`, masked like `list`), write
the bundle `export` would have written there (`rescue_keys(..., output=,
passphrase= or recipients=)`), or import it straight into this machine's
Cursor through the same flow as `import` (`rescue_import`). The source is
never written.

The function is not called `rescue`: `cursor_byok.rescue` is the package of
the offline readers, and Python binds that name on `cursor_byok` whenever one
of its modules is imported, so a public `cursor_byok.rescue` function would
turn into the package behind the caller's back.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..errors import ByokError, InputError
from ..private_files import write_private
from ..rescue.engine import OldMachine as OldMachine  # re-exported: the command line builds one through the façade
from ..rescue.engine import Rescued, rescue_profile, seal
from ..rescue.locate import find_cursor, inside
from ..rescue.stores import StorePaths as StorePaths  # re-exported, as OldMachine
from .context import Context, context

if TYPE_CHECKING:  # the write flow loads only for --import: showing a copy stays as quick as `list`
    from ..changes.flow import Interaction
    from ..changes.outcome import Written
    from ..rescue.sparse_copy import Progress
    from . import move

Source = OldMachine | str | PathLike[str]


def old_machine(source: Source) -> OldMachine:
    return source if isinstance(source, OldMachine) else OldMachine(source)


def refuse_own_database(old: OldMachine, ctx: Context) -> None:
    """`--import` of this machine's own Cursor (a home restored in place, `--from ~`) would write the database it
    reads, and the source of a rescue is never written: its keys are here already."""
    try:
        here = ctx.installation().db_path
        same = os.path.samefile(find_cursor(old.root, old.os).db, here)
    except (ByokError, OSError):
        return  # nothing found on one side: the flow says so in its own words
    if same:
        raise InputError(
            f"{old.root} holds this machine's own Cursor database ({here}), which rescue never writes; its keys "
            "are here already: `cursor-byok list` shows them"
        )


def rescue_keys(
    source: Source,
    *,
    only: Iterable[str] = (),
    models: bool = True,
    passphrase: str | Callable[[], str] | None = None,
    recipients: Sequence[str] = (),
    armor: bool = False,
    output: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Rescued:
    """What the old copy (`source`: its folder, or an OldMachine with passwords and store paths) can give, masked
    like `list`; with a passphrase or recipients, also the bundle `export` writes (`data`), written to `output`
    (0600) when given. Nothing is written in the source."""
    old = old_machine(source)
    if output is not None and inside(Path(output), Path(old.root).expanduser()):
        raise InputError(f"{output} is inside the old copy {old.root}, which is only read: write the bundle elsewhere")
    found = rescue_profile(old, progress=progress)
    if passphrase is None and not recipients:
        return found.report()
    shown = None if output is None else str(output)
    data, written = seal(found, only=only, models=models, passphrase=passphrase, recipients=recipients,
                         armor=armor, output=shown)  # fmt: skip
    if output is not None:
        write_private(Path(output), data, overwrite=overwrite)
    return found.report(only=only, written=written, data=data)


def rescue_import(
    ctx: Context | None, source: Source, *, progress: Progress | None = None, ui: Interaction | None = None,
    **options: Any,
) -> Written:  # fmt: skip
    """The old copy's keys, settings and models imported into this machine's Cursor through `import`'s flow:
    preflight (Cursor closed, this machine's secret proven) first, then the old store opened, the plan, the
    decisions, the journal. `options` are import_bundle's (only, no_keys, on_conflict, models, key_storage,
    allow_endpoints, dry_run, check, wait)."""
    from . import move  # the write flow and pyrage load only for --import: showing a copy stays as quick as `list`

    old = old_machine(source)
    refuse_own_database(old, context(ctx))

    def opened() -> move.Bundle:
        found = rescue_profile(old, progress=progress)
        doc, notes = found.document()
        return move.bundle_of(doc, (*notes, *(f"not rescued: {row}" for row in found.not_rescued)))

    return move.import_bundle(ctx, opened, ui=ui, command=f"rescue --from {old.root}", **options)
