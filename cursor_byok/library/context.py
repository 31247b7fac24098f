"""The Context: the choices a user makes before a command (which Cursor, which safe storage), and what the
façade derives from them for the engines below (the installation, its safe storage, the preflight)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from ..changes.flow import Interaction, Mode, preflight
from ..changes.planner import Target
from ..cursor import paths
from ..cursor.reading import row_prefixes
from ..model import KeyStorage
from ..results import Invocation
from ..safestorage.backends import SafeStorage, SafeStorageConfig


@dataclass
class Context:
    """Which Cursor and which safe storage a command works with (Context(): as the CLI finds them)."""

    db: str | None = None
    user_data_dir: str | None = None
    safe_storage: SafeStorageConfig = field(default_factory=SafeStorageConfig)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    profile: str | None = None  # a profile's name or location; None: the default profile

    def __post_init__(self) -> None:  # "~/..." as a shell would expand it
        self.db = os.path.expanduser(self.db) if self.db else self.db
        self.user_data_dir = os.path.expanduser(self.user_data_dir) if self.user_data_dir else self.user_data_dir

    def installation(self) -> paths.Installation:
        return paths.resolve(db=self.db, user_data_dir=self.user_data_dir, env=self.env, platform=self.platform)

    def selected_profile(self, inst: paths.Installation) -> paths.UserProfile | None:
        return paths.select_profile(inst, self.profile)

    def storage_for(self, inst: paths.Installation) -> SafeStorage:
        """The safe storage of this installation: the backend chosen as Cursor chooses it, with the rows Cursor
        wrote as evidence before the desktop (a v11 row means a keyring)."""
        storage = SafeStorage(self.safe_storage, local_state=inst.local_state, env=self.env, platform=self.platform)
        if storage.scheme == "linux" and self.safe_storage.choice == "auto" and inst.db_path.is_file():
            storage.follow_rows(row_prefixes(inst.db_path))
        return storage

    def invocation(self, inst: paths.Installation | None = None) -> Invocation:
        """The global options a pasted hint needs to reach what this command reached: the database (absolute),
        the safe storage chosen, and the tool's data folder when it is not the default."""
        words: list[str] = list(paths.location_options(inst)) if inst is not None else []
        ss = self.safe_storage
        if ss.choice != "auto":
            words += ["--safe-storage", ss.choice]
        if ss.scheme:
            words += ["--safe-storage-scheme", ss.scheme]
        if ss.password_file:
            words += ["--safe-storage-password-file", str(Path(ss.password_file).expanduser().resolve())]
        data_dir = self.env.get("CURSOR_BYOK_DATA_DIR")
        if data_dir:
            words += ["--data-dir", str(Path(data_dir).expanduser().resolve())]
        return Invocation(tuple(words))

    def target(self, mode: Mode, *, keys: bool, key_storage: KeyStorage = "auto", ui: Interaction) -> Target:
        """Preflight (changes.flow): the installation and profile found, Cursor closed unless a preview, the rows
        read, and the machine secret proven when keys may be written. Nothing is asked before this."""
        inst = self.installation()
        chosen = self.selected_profile(inst)
        others = () if self.profile is not None else tuple(p.name for p in paths.profiles(inst))
        return preflight(
            inst, self.storage_for(inst), mode=mode, keys=keys, key_storage=key_storage, user_profile=chosen,
            other_profiles=others, invocation=self.invocation(inst), ui=ui,
        )  # fmt: skip

    def undo_installation(self) -> paths.Installation:
        """The installation whose journals undo works on: with a profile, that profile's database."""
        inst = self.installation()
        chosen = self.selected_profile(inst)
        return replace(inst, db_path=chosen.db) if chosen else inst


def context(ctx: Context | None) -> Context:
    return ctx if ctx is not None else Context()
