"""The façade: one function per command, without any click. `import cursor_byok` re-exports it.

Each function takes a Context (None: Cursor found as the CLI finds it, safe
storage chosen per OS), calls one engine below (cursor/, safestorage/,
changes/, bundle/, checks/), and returns a typed result whose `to_json()` is
the command's --json document. Writes run the one flow of changes/flow.py;
their decisions come in as callbacks (`changes.flow.Interaction`). Modules:

    context.py  the Context, and the preflight it starts
    read.py     where, list_keys, get_key, list_models
    move.py     export_bundle, open_bundle, import_bundle, plan_import, undo, redo, journals, purge_journals
    edit.py     set_key, unset_key, models, apply_manifest
    check.py    audit, doctor
"""
