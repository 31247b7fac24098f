"""Where an old machine's Cursor data is in a copied folder, found by its layout: names and file types only.

`--from DIR` may be the old home folder, the old user-data dir, or the old
`AppData/Roaming`, from a copy or a mounted backup. The user-data dir is where
each system puts it under a home (`.config/Cursor`, `Library/Application
Support/Cursor`, `AppData/Roaming/Cursor`), `Cursor` under a Roaming folder,
or DIR itself. A layout that names the system says which store to look for;
a bare user-data dir leaves it to the rows (`rescue.engine`). Nothing here
opens a file: `find_cursor` only asks whether paths exist, and `inside`
keeps every file read within the copy (a symlink in a backup may point
anywhere on this machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import LayoutAmbiguous, RescueNotFound

OldOS = Literal["linux", "macos", "windows"]
OS_NAMES: tuple[OldOS, ...] = ("linux", "macos", "windows")
DB_IN_UDD = ("User", "globalStorage", "state.vscdb")
UDD_UNDER_HOME: dict[OldOS, tuple[str, ...]] = {
    "linux": (".config", "Cursor"),
    "macos": ("Library", "Application Support", "Cursor"),
    "windows": ("AppData", "Roaming", "Cursor"),
}


@dataclass(frozen=True)
class OldCursor:
    """Cursor's data in the copy: its user-data dir and database, the system the layout shows (None: a bare
    user-data dir, the rows decide), and the folder every store file must stay within (`base`)."""

    root: Path
    os: OldOS | None
    udd: Path
    db: Path
    base: Path

    @property
    def home(self) -> Path | None:
        """The old home folder, when the layout shows where the user-data dir sits in one."""
        if self.os is None:
            return None
        parts = UDD_UNDER_HOME[self.os]
        return self.udd.parents[len(parts) - 1] if _ends_with(self.udd, parts) else None

    @property
    def roaming(self) -> Path:
        """Windows: the folder that holds `Cursor` and `Microsoft/Protect`."""
        return self.udd.parent


def _ends_with(path: Path, parts: tuple[str, ...]) -> bool:
    return len(path.parts) > len(parts) and tuple(p.lower() for p in path.parts[-len(parts) :]) == tuple(
        p.lower() for p in parts
    )


def _layout_os(udd: Path) -> OldOS | None:
    """The system a user-data dir's own path names, or None (a bare copy of the folder)."""
    return next((name for name, parts in UDD_UNDER_HOME.items() if _ends_with(udd, parts)), None)


def _candidates(root: Path) -> list[tuple[OldOS | None, Path]]:
    """(system, user-data dir) for each place under `root` a Cursor user-data dir can be."""
    found: list[tuple[OldOS | None, Path]] = [(name, root.joinpath(*parts)) for name, parts in UDD_UNDER_HOME.items()]
    found.append(("windows", root / "Cursor"))  # DIR is an old AppData/Roaming
    found.append((_layout_os(root), root))  # DIR is the user-data dir itself
    return found


def find_cursor(root: str | os.PathLike[str], want: OldOS | None = None) -> OldCursor:
    """Cursor's data in the copy at `root`; `want` (--os) chooses when the copy holds more than one system's.

    Raises RescueNotFound (cursor-missing, naming every path looked at) or LayoutAmbiguous."""
    root = Path(root).expanduser()
    try:
        folder = root.is_dir()
    except OSError as exc:
        why = exc.strerror or exc
        raise RescueNotFound(f"{root}: cannot look it up ({why}); give a folder this user can read") from None
    if not folder:
        raise RescueNotFound(f"{root}: no such folder; give the old home folder, user-data dir or AppData/Roaming")
    looked, hits = [], []
    for name, udd in _candidates(root):
        db = udd.joinpath(*DB_IN_UDD)
        looked.append(str(db))
        if is_file(db) and (want is None or name in (want, None)):
            hits.append((want or name, udd, db))
    unique = {(str(udd.resolve()), name) for name, udd, _db in hits}
    if not hits:
        only = f" for --os {want}" if want else ""
        raise RescueNotFound(f"no Cursor data{only} under {root}: looked at {', '.join(looked)}")
    if len({name for name, _ in unique}) > 1 or len(unique) > 1:
        shown = ", ".join(f"{db} ({name or 'a bare user-data dir'})" for name, _udd, db in hits)
        raise LayoutAmbiguous(f"{root} holds Cursor data of more than one system ({shown}); choose with --os")
    name, udd, db = hits[0]
    base = _base(root, name, udd)
    if not inside(db, base):
        raise RescueNotFound(f"{db} is a symlink to outside the copy ({base}): not read; copy the database itself")
    return OldCursor(root, name, udd, db, base)


def _base(root: Path, name: OldOS | None, udd: Path) -> Path:
    """The folder store files must be inside: the home the layout shows, else `root`."""
    parts = UDD_UNDER_HOME[name] if name is not None else ()
    return udd.parents[len(parts) - 1] if parts and _ends_with(udd, parts) else root


def is_file(path: Path) -> bool:
    """Path.is_file(), with a name that cannot be looked up (a folder this user may not enter, a name too long
    for the system) taken as no file: pathlib raises for those, and a copy may hold any of them."""
    try:
        return path.is_file()
    except OSError:
        return False


def exists(path: Path) -> bool:
    """Path.exists(), with a name that cannot be looked up taken as absent (see is_file)."""
    try:
        return path.exists()
    except OSError:
        return False


def inside(path: Path, base: Path) -> bool:
    """True when `path`, symlinks followed, is within `base` (symlinks followed too)."""
    try:
        return path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False
