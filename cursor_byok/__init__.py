"""cursor-byok: find, audit, move and script the API keys Cursor stores.

The library does what each command does, without click::

    import cursor_byok as byok

    old = byok.Context(user_data_dir="~/old-laptop/.config/Cursor")  # byok.Context(): as the CLI finds it
    listing = byok.read(old)                       # keys print masked; key.secret.reveal() shows one
    bundle = byok.export_bundle(old, passphrase="correct horse battery")
    opened = byok.open_bundle(bundle.data, passphrases=["correct horse battery"])
    here = byok.Context()
    plan = byok.plan_import(here, opened, on_conflict="keep")   # reads, writes nothing
    result = byok.apply(plan)                      # journaled: byok.undo(here) takes it back

Each function returns an object with typed attributes and `to_json()`, the
document the command prints with --json. Errors are `cursor_byok.errors.ByokError`
subclasses with one-line messages. Names load on first use, so `import
cursor_byok` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> module that defines it (relative to this package)
_PUBLIC = {
    "Context": "library",
    "where": "library",
    "read": "library",
    "get_key": "library",
    "export_bundle": "library",
    "open_bundle": "library",
    "plan_import": "library",
    "resolve_conflicts": "library",
    "apply": "library",
    "undo": "library",
    "redo": "library",
    "undo_plan": "library",
    "apply_undo": "library",
    "UndoPlan": "library",
    "journal_documents": "library",
    "audit": "library",
    "doctor": "library",
    "set_key": "library",
    "plan_set_key": "library",
    "unset_key": "library",
    "plan_unset": "library",
    "models": "library",
    "plan_models": "library",
    "models_listing": "library",
    "apply_manifest": "library",
    "plan_manifest": "library",
    "Result": "library",
    "Found": "library",
    "Listing": "library",
    "Bundle": "library",
    "ExportedBundle": "library",
    "Written": "library",
    "Report": "library",
    "Prepared": "library",
    "SafeStorageConfig": "safestorage.backends",
    "Secret": "model",
    "Plan": "model",
    "Change": "model",
    "ByokError": "errors",
}

__all__ = [
    "__version__",
    "Context",
    "where",
    "read",
    "get_key",
    "export_bundle",
    "open_bundle",
    "plan_import",
    "resolve_conflicts",
    "apply",
    "undo",
    "redo",
    "undo_plan",
    "apply_undo",
    "UndoPlan",
    "journal_documents",
    "audit",
    "doctor",
    "set_key",
    "plan_set_key",
    "unset_key",
    "plan_unset",
    "models",
    "plan_models",
    "models_listing",
    "apply_manifest",
    "plan_manifest",
    "Result",
    "Found",
    "Listing",
    "Bundle",
    "ExportedBundle",
    "Written",
    "Report",
    "Prepared",
    "SafeStorageConfig",
    "Secret",
    "Plan",
    "Change",
    "ByokError",
]

if TYPE_CHECKING:
    from .errors import ByokError
    from .library import (
        Bundle,
        Context,
        ExportedBundle,
        Found,
        Listing,
        Prepared,
        Report,
        Result,
        UndoPlan,
        Written,
        apply,
        apply_manifest,
        apply_undo,
        audit,
        doctor,
        export_bundle,
        get_key,
        journal_documents,
        models,
        models_listing,
        open_bundle,
        plan_import,
        plan_manifest,
        plan_models,
        plan_set_key,
        plan_unset,
        read,
        redo,
        resolve_conflicts,
        set_key,
        undo,
        undo_plan,
        unset_key,
        where,
    )
    from .model import Change, Plan, Secret
    from .safestorage.backends import SafeStorageConfig


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'cursor_byok' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
