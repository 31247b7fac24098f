"""The Linux Secret Service (gnome-keyring, KeePassXC...): Cursor's safe-storage password over D-Bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SafeStorageUnavailable
from ..lazy import LazyModule

if TYPE_CHECKING:
    import secretstorage
else:  # secretstorage (D-Bus, Linux only) loads when the Secret Service is asked: absent elsewhere, and slow to load
    secretstorage = LazyModule("secretstorage")

LIBSECRET_SCHEMAS = ("chrome_libsecret_os_crypt_password_v2", "chrome_libsecret_os_crypt_password_v1")


LIBSECRET_APPS = ("Cursor", "cursor")


def fetch_secret_service() -> bytes:
    """Cursor's password item from the Secret Service (GNOME Keyring, KeePassXC...)."""
    try:
        dbus_init = secretstorage.dbus_init
    except ImportError:
        raise SafeStorageUnavailable("the secretstorage package is missing; pip install secretstorage") from None
    try:
        conn = dbus_init()
    except Exception as exc:  # secretstorage's SecretServiceNotAvailableException; jeepney raises several kinds
        raise SafeStorageUnavailable(
            f"Secret Service unreachable ({type(exc).__name__}); unlock your keyring or use --safe-storage password"
        ) from None
    try:
        for schema in LIBSECRET_SCHEMAS:
            for app in LIBSECRET_APPS:
                for item in secretstorage.search_items(conn, {"xdg:schema": schema, "application": app}):
                    if item.is_locked():
                        item.unlock()
                    if item.is_locked():
                        raise SafeStorageUnavailable("the keyring holding Cursor's password is locked; unlock it")
                    return bytes(item.get_secret())
    except SafeStorageUnavailable:
        raise
    except Exception as exc:
        raise SafeStorageUnavailable(
            f"Secret Service lookup failed ({type(exc).__name__}); unlock your keyring"
        ) from None
    finally:
        conn.close()
    raise SafeStorageUnavailable(
        "no Cursor password in the Secret Service (application 'Cursor'); "
        "start Cursor once on this machine, or use --safe-storage password"
    )


def probe_secret_service() -> str:
    try:
        conn = secretstorage.dbus_init()
    except Exception as exc:  # an ImportError too: the package is missing
        return f"unreachable ({type(exc).__name__})"
    try:
        for schema in LIBSECRET_SCHEMAS:
            for app in LIBSECRET_APPS:
                if any(True for _ in secretstorage.search_items(conn, {"xdg:schema": schema, "application": app})):
                    return "reachable, item present"
        return "reachable, no Cursor item"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    finally:
        conn.close()
