"""Reading an installation's BYOK rows into a Profile, read-only, and the facts about it that every command shows."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from .. import versions
from ..errors import ByokError
from ..model import Profile
from ..safestorage.backends import SafeStorage
from . import installed, paths
from .rows import BLOB_KEY, ENCRYPTED_ROW_PREFIXES, ROW_PREFIXES, encrypted_prefixes, read_profile, row_keys
from .store import Store


def read_rows(db_path: Path) -> dict[str, Any]:
    """The BYOK rows of a database, read-only, in one short read transaction."""
    with Store(db_path) as st:
        return st.get_items(row_keys(), ROW_PREFIXES)


def row_prefixes(db_path: Path) -> set[bytes]:
    """The ciphertext prefixes of the encrypted rows a database holds (evidence of the backend Cursor uses);
    nothing when it cannot be read (the command that reads it next says why)."""
    try:
        with Store(db_path) as st:
            return encrypted_prefixes(st.get_items((), ENCRYPTED_ROW_PREFIXES))
    except ByokError:
        return set()


def read_merged_rows(db_path: Path, blob_db: Path | None = None) -> dict[str, Any]:
    """The BYOK rows: key rows from the default database, the settings blob from a profile's when given."""
    rows = read_rows(db_path)
    if blob_db is not None:
        rows.pop(BLOB_KEY, None)
        rows.update({k: v for k, v in read_rows(blob_db).items() if k == BLOB_KEY})
    return rows


def load_profile(
    inst: paths.Installation, storage: SafeStorage, blob_db: Path | None = None
) -> tuple[Profile, dict[str, Any]]:
    """The installation's Profile and the raw rows it came from (a profile's settings blob when given)."""
    rows = read_merged_rows(inst.db_path, blob_db)
    return read_profile(rows, storage), rows


def source_info(inst: paths.Installation) -> dict[str, Any]:
    return {"db": str(inst.db_path), "user_data_dir": str(inst.user_data_dir) if inst.user_data_dir else None}


def cursor_facts(inst: paths.Installation, rows: Mapping[str, Any]) -> versions.CursorFacts:
    """The version Cursor recorded (else the installed app's, saying so) and whether it makes state.vscdb.backup."""
    app = installed_version(inst) if versions.recorded_version(rows) is None else None
    return versions.cursor_facts(
        rows, Path(f"{inst.db_path}.backup").is_file(), (app.version, str(app.source)) if app else None
    )


def installed_version(
    inst: paths.Installation, env: Mapping[str, str] | None = None, platform: str | None = None
) -> installed.InstalledVersion | None:
    """The installed Cursor app's version for this installation's channel (an InstalledVersion), or None."""
    return installed.installed_version(inst.channel, platform or sys.platform, os.environ if env is None else env)
