"""Which Linux backend Cursor (Chromium's OSCrypt) uses: the `password-store` flag, then the desktop."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .argv_json import argv_password_store

# An explicit password-store, as Chromium (and so Electron and Cursor) reads it.
PASSWORD_STORES = {
    "basic": "basic",
    "gnome-libsecret": "secret-service",
    "gnome": "secret-service",  # VS Code rewrites these two to gnome-libsecret
    "gnome-keyring": "secret-service",
    "kwallet": "kwallet",
    "kwallet5": "kwallet",
    "kwallet6": "kwallet",
}


# XDG_CURRENT_DESKTOP entries Chromium recognises (compared without regard to
# case), and the backend each one gets; an unrecognised desktop gets basic.
DESKTOP_BACKENDS = {
    "kde": "kwallet",
    "gnome": "secret-service",
    "x-cinnamon": "secret-service",
    "deepin": "secret-service",
    "pantheon": "secret-service",
    "ukui": "secret-service",
    "unity": "secret-service",
    "xfce": "secret-service",
    "cosmic": "secret-service",
    "lxqt": "basic",
}


def linux_backend_choice(env: Mapping[str, str], argv_json: Path | None) -> tuple[str, str]:
    """(backend, why) that Cursor picks on Linux: an explicit password-store, else the desktop."""
    store = argv_password_store(argv_json) if argv_json else None
    if store and store.lower() in PASSWORD_STORES:
        return PASSWORD_STORES[store.lower()], f'"password-store": "{store}" in {argv_json}'
    current = env.get("XDG_CURRENT_DESKTOP") or ""
    for entry in current.split(":"):
        backend = DESKTOP_BACKENDS.get(entry.strip().lower())
        if backend:
            return backend, f"XDG_CURRENT_DESKTOP={current}"
    if current:
        return "basic", f"XDG_CURRENT_DESKTOP={current} (a desktop without a keyring in Chromium's list)"
    session = (env.get("DESKTOP_SESSION") or "").lower()
    if session.startswith(("kde", "plasma")):
        return "kwallet", f"DESKTOP_SESSION={session}"
    if session.startswith(("gnome", "ubuntu", "cinnamon", "xfce", "pantheon", "deepin", "ukui", "unity")):
        return "secret-service", f"DESKTOP_SESSION={session}"
    return "basic", "no desktop session (XDG_CURRENT_DESKTOP unset)"


def linux_backend(env: Mapping[str, str], argv_json: Path | None) -> str:
    """The backend Cursor picks on Linux: argv.json first, then the desktop."""
    return linux_backend_choice(env, argv_json)[0]


KEYRING_ORDER = ("secret-service", "kwallet")  # which keyring a v11 row is tried with when the desktop names none


def backend_from_rows(prefixes: frozenset[bytes], chosen: str, why: str) -> tuple[str, str] | None:
    """(backend, why) when the rows Cursor wrote contradict a backend guessed from the desktop; None otherwise.

    A `v11` row (any encrypted row: a key, an extension's secret, an MCP token) was written with a keyring,
    whatever the desktop says now (this tool may run over SSH, or in another session than Cursor): the keyring
    is tried, Secret Service first, then KWallet. Only `v10` rows on Linux were written with no keyring: basic.
    """
    if b"v11" in prefixes and chosen == "basic":
        return (
            KEYRING_ORDER[0],
            f"the database holds v11 rows, which Cursor writes only with a keyring, whatever the desktop says "
            f"({why}); tries Secret Service (GNOME Keyring, KeePassXC), then KWallet",
        )
    if prefixes == {b"v10"} and chosen != "basic":
        return "basic", f"the database holds only v10 rows, which Cursor writes with no keyring (not {chosen}: {why})"
    return None
