"""A private Secret Service for tests: its own D-Bus session and gnome-keyring.

The bus uses a config file of its own with no service directories, so nothing
gets D-Bus-activated behind our back, and every daemon runs with HOME,
XDG_DATA_HOME and XDG_RUNTIME_DIR inside a temporary folder: the user's real
keyrings are never touched. `stop()` ends exactly the processes it started.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
SECRETS_NAME = "org.freedesktop.secrets"
SCHEMA = "chrome_libsecret_os_crypt_password_v2"
READY_POLLS = 600  # 0.05 s apart: up to 30 s on a slow CI machine
PR_SET_PDEATHSIG = 1
KEYRING_PASSWORD = b"login-keyring-password-for-tests"


def _die_with_parent() -> None:
    """Linux: the daemon gets SIGTERM if the test process dies before stop() runs."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class StartFailed(RuntimeError):
    """The private bus or keyring did not come up."""


class PrivateSecretService:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        # Unix socket paths are limited to ~100 bytes: keep the runtime dir short.
        self.runtime = Path(tempfile.mkdtemp(prefix="cbk-"))
        self.procs: list[subprocess.Popen] = []
        self.address: str | None = None
        self.env: dict[str, str] = {}

    # -- start -------------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Start dbus-daemon and gnome-keyring-daemon; returns the env for clients."""
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "GNOME_KEYRING"))}
        self.env = {
            **base,
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }
        self.address = self._start_bus()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        self._start_keyring()
        self._wait_until_ready()
        return dict(self.env)

    def _start_bus(self) -> str:
        config = self.runtime / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket_dir=self.runtime))
        bus = self._spawn(
            ["dbus-daemon", "--config-file", str(config), "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        ready, _, _ = select.select([bus.stdout], [], [], READY_POLLS * 0.05)
        address = bus.stdout.readline().decode().strip() if ready else ""  # a whole line follows readiness
        if not address:
            raise StartFailed(f"dbus-daemon printed no address (exit {bus.poll()})")
        return address

    def _start_keyring(self) -> None:
        # --unlock reads the login keyring password on stdin (and creates the
        # keyring with it the first time); --foreground keeps it our child.
        proc = self._spawn(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        proc.stdin.write(KEYRING_PASSWORD)
        proc.stdin.close()

    def _spawn(self, cmd: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, env=self.env, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent, **kw)
        self.procs.append(proc)
        return proc

    def _wait_until_ready(self) -> None:
        """Poll until the keyring owns its bus name and its default collection is unlocked."""
        from jeepney.wrappers import DBusErrorResponse
        from secretstorage.exceptions import SecretStorageException

        last = "not started"
        for _ in range(READY_POLLS):
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead:
                raise StartFailed(f"{', '.join(dead)} exited during start-up")
            try:
                if self._ready():
                    return
                last = "login collection missing or locked"
            except (OSError, DBusErrorResponse, SecretStorageException) as exc:  # not up yet
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise StartFailed(f"Secret Service did not come up: {last}")

    def _ready(self) -> bool:
        from secretstorage import Collection
        from secretstorage.exceptions import ItemNotFoundException

        with closing(self.connect()) as conn:
            if not self._name_has_owner(conn):
                return False
            try:  # the default alias, without get_default_collection's create-and-prompt fallback
                collection = Collection(conn)
            except ItemNotFoundException:
                return False
            return not collection.is_locked()

    def _name_has_owner(self, conn) -> bool:
        from jeepney import DBusAddress, new_method_call

        bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
        reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (SECRETS_NAME,)), timeout=5)
        return bool(reply.body[0])

    # -- use ---------------------------------------------------------------------------

    def connect(self):
        """A jeepney connection to the private bus (not the user's session bus)."""
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(bus=self.address)

    def store_password(self, secret: bytes, application: str = "Cursor", label: str = "Cursor Safe Storage") -> None:
        """Store an item the way Chromium's libsecret backend does."""
        from secretstorage import Collection

        with closing(self.connect()) as conn:
            Collection(conn).create_item(label, {"xdg:schema": SCHEMA, "application": application}, secret)

    def store_with_secret_tool(self, secret: bytes, application: str) -> None:
        """Store an item through libsecret's own command line client."""
        subprocess.run(
            [
                "secret-tool",
                "store",
                f"--label={application} Safe Storage",
                "xdg:schema",
                SCHEMA,
                "application",
                application,
            ],
            input=secret,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    # -- stop --------------------------------------------------------------------------

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout):
                if stream and not stream.closed:
                    stream.close()
        self.procs.clear()
        shutil.rmtree(self.runtime, ignore_errors=True)

    def __enter__(self) -> "PrivateSecretService":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
