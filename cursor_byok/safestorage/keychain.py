"""macOS Keychain: Cursor's safe-storage password, read with the `security` tool."""

from __future__ import annotations

import subprocess
from typing import Callable

from ..errors import SafeStorageUnavailable

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]  # subprocess.run, or a test's stand-in

KEYCHAIN_SERVICE = "Cursor Safe Storage"


KEYCHAIN_ACCOUNT = "Cursor Key"  # Electron appends " Key" to the app name


SECURITY_ITEM_NOT_FOUND = 44  # `security` exit status for errSecItemNotFound


def fetch_keychain(run: Run = subprocess.run) -> bytes:
    """The 24-character password from the login Keychain (one Allow dialog).

    Service and account first (`Cursor Key`, as Electron names it), then the
    service alone, for items an older Electron made.
    """
    lookups = (["-s", KEYCHAIN_SERVICE, "-a", KEYCHAIN_ACCOUNT], ["-s", KEYCHAIN_SERVICE])
    res = None
    for args in lookups:
        try:
            res = run(["security", "find-generic-password", *args, "-w"], capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SafeStorageUnavailable(f"cannot run the macOS `security` tool ({exc})") from None
        if res.returncode == 0:
            return res.stdout.rstrip(b"\r\n")
        if res.returncode != SECURITY_ITEM_NOT_FOUND:  # denied or locked: do not ask a second time
            break
    raise SafeStorageUnavailable(
        f"Keychain item {KEYCHAIN_SERVICE!r} not readable (security exit {res.returncode if res else '?'}); "
        "click Allow when asked, start Cursor once so it creates the item, or use --safe-storage password"
    )


def probe_keychain(run: Run = subprocess.run) -> str:
    try:
        res = run(
            ["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-a", KEYCHAIN_ACCOUNT],
            capture_output=True,
            timeout=10,
        )
        if res.returncode != 0:
            res = run(["security", "find-generic-password", "-s", KEYCHAIN_SERVICE], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unreachable: no `security` tool"
    return "reachable, item present" if res.returncode == 0 else "reachable, no Cursor item"
