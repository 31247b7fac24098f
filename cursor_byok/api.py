"""The library's front door: what each command does, without any click.

`Context` holds the choices a user makes before a command (which database,
which safe storage). Each function here calls down into locate, store,
keyring and profile, and returns plain data for render.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import keyring, locate
from .keyring import SafeStorage, SafeStorageConfig
from .model import Profile


@dataclass
class Context:
    """Which Cursor and which safe storage a command works with."""

    db: str | None = None
    user_data_dir: str | None = None
    safe_storage: SafeStorageConfig = field(default_factory=SafeStorageConfig)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform

    def installation(self) -> locate.Installation:
        return locate.resolve(db=self.db, user_data_dir=self.user_data_dir, env=self.env, platform=self.platform)

    def storage_for(self, inst: locate.Installation) -> SafeStorage:
        return SafeStorage(self.safe_storage, local_state=inst.local_state, env=self.env, platform=self.platform)


def read_rows(db_path: Path) -> dict[str, Any]:
    """The BYOK rows of a database, read-only, in one short read transaction."""
    from .profile import ROW_KEYS, ROW_PREFIXES
    from .store import Store

    with Store(db_path) as st:
        return st.get_items(ROW_KEYS, ROW_PREFIXES)


def load_profile(inst: locate.Installation, storage: SafeStorage) -> tuple[Profile, dict[str, Any]]:
    """The installation's Profile and the raw rows it came from."""
    from .profile import read_profile

    rows = read_rows(inst.db_path)
    return read_profile(rows, storage), rows


def source_info(inst: locate.Installation) -> dict[str, Any]:
    return {"db": str(inst.db_path), "user_data_dir": str(inst.user_data_dir) if inst.user_data_dir else None}


def list_document(ctx: Context, *, reveal: bool = False) -> dict:
    """The `list --json` document for the chosen installation."""
    from .render import profile_json

    inst = ctx.installation()
    profile, _ = load_profile(inst, ctx.storage_for(inst))
    return profile_json(profile, source=source_info(inst), reveal=reveal)


def where_documents(ctx: Context) -> list[dict]:
    """One document per installation found (explicit choices even when missing)."""
    found = locate.find_installations(db=ctx.db, user_data_dir=ctx.user_data_dir, env=ctx.env, platform=ctx.platform)
    if not found:
        from .errors import DatabaseNotFound

        raise DatabaseNotFound(
            "no Cursor installation found; pass --user-data-dir DIR or --db FILE (or set CURSOR_STATE_DB)"
        )
    return [_where_one(ctx, inst) for inst in found]


def _where_one(ctx: Context, inst: locate.Installation) -> dict:
    from .errors import ByokError
    from .store import Store

    size = inst.db_path.stat().st_size if inst.db_path.is_file() else None
    mode = error = None
    if size is not None:
        try:
            with Store(inst.db_path) as st:
                mode = st.journal_mode()
        except ByokError as exc:
            error = str(exc)
    running = locate.cursor_running(inst)
    storage = ctx.storage_for(inst)
    doc = {
        **source_info(inst),
        "source": inst.source,
        "channel": inst.channel,
        "size": size,
        "journal_mode": mode,
        "local_state": bool(inst.local_state and inst.local_state.is_file()),
        "cursor_running": {"pid": running.pid, "how": running.how} if running else None,
        "safe_storage": {"backend": storage.backend, "scheme": storage.scheme, "status": keyring.probe(storage)},
    }
    if error:
        doc["error"] = error
    return doc
