"""KDE Wallet: Cursor's safe-storage password from kwalletd over D-Bus.

Every call has a timeout, so a hung daemon cannot hang a command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SafeStorageUnavailable
from ..lazy import LazyModule

if TYPE_CHECKING:
    import jeepney
    from jeepney.io import blocking
else:  # jeepney (D-Bus, Linux only) loads when KWallet is asked: absent elsewhere, never needed at start-up
    jeepney = LazyModule("jeepney")
    blocking = LazyModule("jeepney.io.blocking")

# (folder, entry), in the order read: the synchronous API Cursor uses reads the
# shared Chromium entry; the Cursor names belong to Electron's newer async API.
KWALLET_ENTRIES = (("Chromium Keys", "Chromium Safe Storage"), ("Cursor Keys", "Cursor Safe Storage"))


KWALLET_SERVICES = (("org.kde.kwalletd6", "/modules/kwalletd6"), ("org.kde.kwalletd5", "/modules/kwalletd5"))


KWALLET_TIMEOUT_S = 10.0  # a kwalletd that does not answer a plain call within this is hung


KWALLET_OPEN_TIMEOUT_S = 120.0  # `open` may wait for the user to unlock the wallet in a dialog


KWALLET_PROBE_TIMEOUT_S = 2.0  # `where` must stay quick even when kwalletd hangs


KWALLET_APP = "cursor-byok"


class _KWallet:
    """Calls on one kwalletd service; every failure, timeouts included, becomes SafeStorageUnavailable."""

    def __init__(self, conn: blocking.DBusConnection, service: str, path: str) -> None:
        self.conn, self.service = conn, service
        self.addr = jeepney.DBusAddress(path, bus_name=service, interface="org.kde.KWallet")

    def call(self, method: str, sig: str | None = None, *args: object, timeout: float | None = None) -> object:
        """The first value of the method's reply (D-Bus values: str, int, bool, ...)."""
        try:
            reply = self.conn.send_and_get_reply(
                jeepney.new_method_call(self.addr, method, sig, args), timeout=timeout or KWALLET_TIMEOUT_S
            )
        except TimeoutError:
            raise SafeStorageUnavailable(
                f"KWallet ({self.service}) did not answer {method}; restart kwalletd"
            ) from None
        except Exception as exc:
            raise SafeStorageUnavailable(f"KWallet {method} failed ({type(exc).__name__})") from None
        if reply.header.message_type.name == "error" or not reply.body:
            raise SafeStorageUnavailable(f"KWallet {method} failed")
        return reply.body[0]

    def read_password(self) -> bytes | None:
        """The first entry of KWALLET_ENTRIES that holds a value, or None."""
        wallet = self.call("networkWallet")
        handle = self.call("open", "sxs", wallet, 0, KWALLET_APP, timeout=KWALLET_OPEN_TIMEOUT_S)
        if not isinstance(handle, int) or handle < 0:
            raise SafeStorageUnavailable("KWallet refused to open the wallet; unlock it")
        try:
            for folder, entry in KWALLET_ENTRIES:
                value = self.call("readPassword", "isss", handle, folder, entry, KWALLET_APP)
                if isinstance(value, str) and value:
                    return value.encode("utf-8")
            return None
        finally:
            try:
                self.call("close", "ibs", handle, False, KWALLET_APP)
            except SafeStorageUnavailable:
                pass


def fetch_kwallet() -> bytes:
    """Cursor's password from KWallet over D-Bus (kwalletd6, then kwalletd5)."""
    try:
        connect = blocking.open_dbus_connection
    except ImportError:
        raise SafeStorageUnavailable("the jeepney package is missing; pip install secretstorage") from None
    try:
        conn = connect(bus="SESSION")
    except Exception:
        raise SafeStorageUnavailable(
            "no D-Bus session bus for KWallet (is DBUS_SESSION_BUS_ADDRESS set? run this in the desktop session)"
        ) from None
    try:
        for service, path in KWALLET_SERVICES:
            if not _name_has_owner(conn, service):
                continue
            value = _KWallet(conn, service, path).read_password()
            if value:
                return value
    finally:
        conn.close()
    raise SafeStorageUnavailable("no Cursor password in KWallet; start Cursor once, or use --safe-storage password")


def _name_has_owner(conn: blocking.DBusConnection, name: str) -> bool:
    bus = jeepney.DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    try:
        reply = conn.send_and_get_reply(jeepney.new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=5)
    except Exception:
        return False
    return bool(reply.body and reply.body[0])


def probe_kwallet() -> str:
    """Is a kwalletd on the session bus, and does it answer? Never opens the wallet."""
    try:
        conn = blocking.open_dbus_connection(bus="SESSION")
    except Exception as exc:  # an ImportError too: the package is missing
        return f"unreachable ({type(exc).__name__})"
    try:
        for service, path in KWALLET_SERVICES:
            if not _name_has_owner(conn, service):
                continue
            try:
                _KWallet(conn, service, path).call("networkWallet", timeout=KWALLET_PROBE_TIMEOUT_S)
            except SafeStorageUnavailable:
                return f"unreachable ({service} does not answer)"
            return f"reachable ({service})"
        return "unreachable (no kwalletd on the session bus)"
    finally:
        conn.close()
