"""A stand-in for kwalletd6 on a private D-Bus session: the one KWallet behaviour the real daemon here cannot show.

Every other KWallet test runs against the real kwalletd5 (tests/helpers/kwalletd.py): reads, the entry order, a refused
open, hung calls, the probe. What is left is the service name. cursor-byok asks `org.kde.kwalletd6` before
`org.kde.kwalletd5` (KDE Plasma 6), and no kwalletd6 can run here: Debian 12 ships only kwalletd5, and a
kwalletd5 cannot own the kwalletd6 name. So this process owns `org.kde.kwalletd6` on the test's bus and answers
the four calls cursor-byok makes, with the real signatures and return conventions of `org.kde.KWallet`:

    networkWallet() -> s                           the default wallet's name
    open(s wallet, x wId, s appid) -> i            a handle
    readPassword(i handle, s folder, s key, s appid) -> s   "" when absent
    close(i handle, b force, s appid) -> i

Run: python fake_kwallet.py BUS_ADDRESS ENTRIES_JSON, with ENTRIES_JSON like
{"Chromium Keys/Chromium Safe Storage": "pw"}. It prints one JSON line {"ready": true} once it owns the name.
"""

from __future__ import annotations

import json
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_call, new_method_return
from jeepney.io.blocking import open_dbus_connection

SERVICE = "org.kde.kwalletd6"
INTERFACE = "org.kde.KWallet"
WALLET = "kdewallet"


def request_name(conn, name: str) -> None:
    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    reply = conn.send_and_get_reply(new_method_call(bus, "RequestName", "su", (name, 4)), timeout=5)
    if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        raise SystemExit(f"could not own {name}")


def answer(msg, entries: dict[str, str], handles: set[int]):
    method = msg.header.fields.get(HeaderFields.member)
    args = msg.body
    if method == "networkWallet":
        return new_method_return(msg, "s", (WALLET,))
    if method == "open":
        handles.add(len(handles) + 1)
        return new_method_return(msg, "i", (len(handles),))
    if method == "readPassword":
        handle, folder, key, _app = args
        if handle not in handles:
            return new_error(msg, "org.kde.KWallet.Error", "s", ("bad handle",))
        return new_method_return(msg, "s", (entries.get(f"{folder}/{key}", ""),))
    if method == "close":
        handles.discard(args[0])
        return new_method_return(msg, "i", (0,))
    return new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no method {method}",))


def main(address: str, entries_json: str) -> None:
    entries = json.loads(entries_json)
    conn = open_dbus_connection(bus=address)
    request_name(conn, SERVICE)
    print(json.dumps({"ready": True}), flush=True)
    handles: set[int] = set()
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        if msg.header.fields.get(HeaderFields.interface) not in (INTERFACE, None):
            continue
        conn.send(answer(msg, entries, handles))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
