"""The version of the Cursor app installed on this machine, from its `product.json`. Read-only.

Cursor records its version in the database (versions.VERSION_ROWS); only when
the database records none is the installed app asked, and then only for
display and as a tie-break (docs/cursor-versions.md). `product.json` sits in
the app's resources: `Cursor.app/Contents/Resources/app/product.json` on
macOS, `resources/app/product.json` under the install folder elsewhere
(Windows: `%LOCALAPPDATA%\\Programs\\cursor\\` or `%ProgramFiles%\\Cursor\\`; Linux:
`/usr/share/cursor`, `/opt/Cursor`, or an AppImage while it is mounted under
`/tmp/.mount_Cursor*`). Each file is read bounded and never trusted further
than one version string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..private_files import read_small
from ..versions import parse_version

ROOT = Path("/")  # the file system's root the absolute install folders are under (tests point it elsewhere)
PRODUCT_MAX = 1 << 20  # a product.json is some tens of KB; a larger file is not one
MOUNTS_MAX = 16  # AppImage mounts looked at, at most
APP = "resources/app/product.json"
MAC_APP = "Contents/Resources/app/product.json"

# The folder names of each channel ("Cursor Nightly" is inferred from the user-data folder's name).
MAC_BUNDLES = {"Cursor": ("Cursor.app",), "Cursor Nightly": ("Cursor Nightly.app",)}
WINDOWS_FOLDERS = {"Cursor": ("cursor", "Cursor"), "Cursor Nightly": ("cursor-nightly", "Cursor Nightly")}
LINUX_FOLDERS = {
    "Cursor": ("usr/share/cursor", "opt/Cursor", "opt/cursor"),
    "Cursor Nightly": ("usr/share/cursor-nightly", "opt/Cursor Nightly", "opt/cursor-nightly"),
}
# An AppImage mounts at `$TMPDIR/.mount_` + the first 6 characters of its file name + a random part: every
# Cursor channel's mount starts ".mount_Cursor", so which channel it is comes from its product.json.
APPIMAGE_MOUNT = ".mount_Cursor"
CHANNEL_WORDS = ("nameShort", "nameLong", "applicationName", "quality")


@dataclass(frozen=True)
class InstalledVersion:
    """A version read from an installed app, and the file it came from."""

    version: str
    source: Path


def candidates(channel: str, platform: str, env: Mapping[str, str], root: Path = Path("/")) -> list[tuple[Path, bool]]:
    """(product.json, a mounted AppImage's) where the app may be, most likely first (`root`: for tests)."""
    if platform == "darwin":
        homes = [root / "Applications", *([Path(env["HOME"]) / "Applications"] if env.get("HOME") else [])]
        return [(home / bundle / MAC_APP, False) for home in homes for bundle in MAC_BUNDLES.get(channel, ())]
    if platform.startswith("win"):
        bases = [Path(env[v]) / "Programs" for v in ("LOCALAPPDATA",) if env.get(v)]
        bases += [Path(env[v]) for v in ("ProgramFiles", "ProgramW6432") if env.get(v)]
        return [(base / folder / APP, False) for base in bases for folder in WINDOWS_FOLDERS.get(channel, ())]
    found = [(root / folder / APP, False) for folder in LINUX_FOLDERS.get(channel, ())]
    return found + [(mount / APP, True) for mount in appimage_mounts(env, root)]


def appimage_mounts(env: Mapping[str, str], root: Path = Path("/")) -> list[Path]:
    """The folders a running Cursor AppImage is mounted at (`/tmp/.mount_Cursor*`), newest first: an AppImage
    has a version to read only while it runs."""
    found: list[Path] = []
    for tmp in dict.fromkeys([root / "tmp", *([Path(env["TMPDIR"])] if env.get("TMPDIR") else [])]):
        try:
            found += [p for p in tmp.iterdir() if p.name.startswith(APPIMAGE_MOUNT) and p.is_dir()]
        except OSError:
            continue
    return sorted(found, key=_mtime, reverse=True)[:MOUNTS_MAX]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_version(path: Path, channel: str | None = None) -> str | None:
    """The `version` of one product.json; None when it is missing, too large, not JSON, has none, or (given a
    `channel`) names the other channel."""
    try:
        doc = json.loads(read_small(path, PRODUCT_MAX))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    if channel is not None:
        nightly = any("nightly" in str(doc.get(word, "")).lower() for word in CHANNEL_WORDS)
        if nightly != (channel == "Cursor Nightly"):
            return None
    version = doc.get("version")
    return parse_version(version) if isinstance(version, str) else None


def installed_version(
    channel: str, platform: str, env: Mapping[str, str], root: Path | None = None
) -> InstalledVersion | None:
    """The version of the first installed app of this channel found, with its product.json; None if none."""
    for path, mounted in candidates(channel, platform, env, ROOT if root is None else root):
        version = read_version(path, channel if mounted else None)
        if version is not None:
            return InstalledVersion(version, path)
    return None
