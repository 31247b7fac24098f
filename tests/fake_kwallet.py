"""A stand-in kwalletd on a private D-Bus session, for the KWallet code path.

kwalletd cannot run here (it needs a KDE session), so this process owns
`org.kde.kwalletd6` (or 5) on the test's private bus and answers the four
calls cursor-byok makes, with the real signatures and return conventions of
`org.kde.KWallet`:

    networkWallet() -> s            the default wallet's name
    open(s wallet, x wId, s appid) -> i   a handle, or -1 when refused
    readPassword(i handle, s folder, s key, s appid) -> s   "" when absent
    close(i handle, b force, s appid) -> i

Run: python fake_kwallet.py BUS_ADDRESS CONFIG_JSON. CONFIG_JSON:
{"service": "org.kde.kwalletd6", "entries": {"Chromium Keys/Chromium Safe Storage": "pw"},
 "refuse_open": false, "hang": null | "networkWallet" | "open" | "readPassword"}
Every call it answers is appended to stdout as one JSON line, so tests can
check what was asked (never a password: those are only in replies).
"""

from __future__ import annotations

import json
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_call, new_method_return
from jeepney.io.blocking import open_dbus_connection

INTERFACE = "org.kde.KWallet"
WALLET = "kdewallet"


def request_name(conn, name: str) -> None:
    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    reply = conn.send_and_get_reply(new_method_call(bus, "RequestName", "su", (name, 4)), timeout=5)
    if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        raise SystemExit(f"could not own {name}")


def answer(msg, config: dict, handles: set[int]):
    method = msg.header.fields.get(HeaderFields.member)
    args = msg.body
    if method == config.get("hang"):
        time.sleep(3600)
    if method == "networkWallet":
        return new_method_return(msg, "s", (WALLET,))
    if method == "open":
        if config.get("refuse_open") or args[0] != WALLET:
            return new_method_return(msg, "i", (-1,))
        handles.add(len(handles) + 1)
        return new_method_return(msg, "i", (len(handles),))
    if method == "readPassword":
        handle, folder, key, _app = args
        if handle not in handles:
            return new_error(msg, "org.kde.KWallet.Error", "s", ("bad handle",))
        return new_method_return(msg, "s", (config.get("entries", {}).get(f"{folder}/{key}", ""),))
    if method == "close":
        handles.discard(args[0])
        return new_method_return(msg, "i", (0,))
    return new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no method {method}",))


def main(address: str, config_json: str) -> None:
    config = json.loads(config_json)
    conn = open_dbus_connection(bus=address)
    request_name(conn, config.get("service", "org.kde.kwalletd6"))
    print(json.dumps({"ready": True}), flush=True)
    handles: set[int] = set()
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        if msg.header.fields.get(HeaderFields.interface) not in (INTERFACE, None):
            continue
        method = msg.header.fields.get(HeaderFields.member)
        call = {"method": method, "args": [a for a in msg.body if not isinstance(a, bytes)]}
        print(json.dumps(call), flush=True)
        conn.send(answer(msg, config, handles))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
