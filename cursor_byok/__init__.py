"""cursor-byok: find, audit, move and script the API keys Cursor stores.

The library does what each command does, without click::

    import cursor_byok as byok

    old = byok.Context(user_data_dir="~/old-laptop/.config/Cursor")  # byok.Context(): as the CLI finds it
    listing = byok.list_keys(old)                  # keys masked; listing.stored holds the decoded keys
    bundle = byok.export_bundle(old, passphrase="correct horse battery")
    here = byok.Context()
    plan = byok.plan_import(here, bundle.data, passphrase="correct horse battery")  # writes nothing
    done = byok.import_bundle(here, bundle.data, passphrase="correct horse battery", on_conflict="keep")
    byok.undo(here)                                # takes the import back
    dead = byok.OldMachine("/mnt/backup/home/ana", passwords=["old login password"])
    byok.rescue_keys(dead)                         # what a dead laptop's backup still holds, masked

Each function returns a typed result whose `to_json()` is the document the
command prints with --json. Writes take their decisions as callbacks
(`byok.Interaction(show=, decide=, confirm=, progress=)`). Errors are
`cursor_byok.errors.ByokError` subclasses with one-line messages and an
`exit_code`. Names load on first use, so `import cursor_byok` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> module that defines it (relative to this package)
_PUBLIC = {
    "Context": "library.context",
    "where": "library.read",
    "list_keys": "library.read",
    "get_key": "library.read",
    "list_models": "library.read",
    "export_bundle": "library.move",
    "open_bundle": "library.move",
    "import_bundle": "library.move",
    "plan_import": "library.move",
    "undo": "library.move",
    "redo": "library.move",
    "journals": "library.move",
    "purge_journals": "library.move",
    "set_key": "library.edit",
    "unset_key": "library.edit",
    "models": "library.edit",
    "apply_manifest": "library.edit",
    "demo": "library.demo",
    "audit": "library.check",
    "doctor": "library.check",
    "rescue_keys": "library.rescue",
    "rescue_import": "library.rescue",
    "OldMachine": "rescue.engine",
    "StorePaths": "rescue.stores",
    "Rescued": "rescue.engine",
    "report": "library.check",
    "Interaction": "changes.flow",
    "Conflicts": "changes.flow",
    "Result": "results",
    "Hint": "results",
    "Installations": "checks.where",
    "Listing": "checks.listing",
    "ProfilesListing": "checks.listing",
    "KeyValue": "library.read",
    "ModelsListing": "library.read",
    "Bundle": "library.move",
    "ExportedBundle": "library.move",
    "Written": "changes.outcome",
    "UndoResult": "changes.undo",
    "JournalList": "changes.undo",
    "Purged": "changes.undo",
    "AuditReport": "checks.reports",
    "DoctorReport": "checks.reports",
    "CursorReport": "checks.report",
    "SafeStorageConfig": "safestorage.backends",
    "Secret": "model",
    "Plan": "model",
    "Change": "model",
    "ByokError": "errors",
    "Exit": "errors",
}

__all__ = [
    "__version__",
    "Context",
    "where",
    "list_keys",
    "get_key",
    "list_models",
    "export_bundle",
    "open_bundle",
    "import_bundle",
    "plan_import",
    "undo",
    "redo",
    "journals",
    "purge_journals",
    "set_key",
    "unset_key",
    "models",
    "apply_manifest",
    "demo",
    "audit",
    "doctor",
    "rescue_keys",
    "rescue_import",
    "OldMachine",
    "StorePaths",
    "Rescued",
    "report",
    "Interaction",
    "Conflicts",
    "Result",
    "Hint",
    "Installations",
    "Listing",
    "ProfilesListing",
    "KeyValue",
    "ModelsListing",
    "Bundle",
    "ExportedBundle",
    "Written",
    "UndoResult",
    "JournalList",
    "Purged",
    "AuditReport",
    "DoctorReport",
    "CursorReport",
    "SafeStorageConfig",
    "Secret",
    "Plan",
    "Change",
    "ByokError",
    "Exit",
]

if TYPE_CHECKING:
    from .changes.flow import Conflicts, Interaction
    from .changes.outcome import Written
    from .changes.undo import JournalList, Purged, UndoResult
    from .checks.listing import Listing, ProfilesListing
    from .checks.report import CursorReport
    from .checks.reports import AuditReport, DoctorReport
    from .checks.where import Installations
    from .errors import ByokError, Exit
    from .library.check import audit, doctor, report
    from .library.context import Context
    from .library.demo import demo
    from .library.edit import apply_manifest, models, set_key, unset_key
    from .library.move import (
        Bundle,
        ExportedBundle,
        export_bundle,
        import_bundle,
        journals,
        open_bundle,
        plan_import,
        purge_journals,
        redo,
        undo,
    )
    from .library.read import KeyValue, ModelsListing, get_key, list_keys, list_models, where
    from .library.rescue import rescue_import, rescue_keys
    from .model import Change, Plan, Secret
    from .rescue.engine import OldMachine, Rescued
    from .rescue.stores import StorePaths
    from .results import Hint, Result
    from .safestorage.backends import SafeStorageConfig


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'cursor_byok' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
