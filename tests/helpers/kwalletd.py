"""A real KDE Wallet service for tests: kwalletd5 on a private D-Bus session, unlocked the way pam_kwallet does.

The session bus is tests/helpers/secret_service.py's (its own config, no service directories, so D-Bus activation can
never start a second kwalletd behind our back; HOME and the XDG dirs in a temporary folder); this module only
swaps gnome-keyring for kwalletd5. kwalletd5 runs headless (`QT_QPA_PLATFORM=offscreen`), and the wallet is
created and unlocked with no dialog the way pam_kwallet does it at login: a 56-byte salt file in
`$XDG_DATA_HOME/kwalletd/`, the 56-byte PBKDF2-SHA512 key of the login password handed over in
`org.kde.KWallet.pamOpen`. After that, `open` gives a handle with no prompt and `sync` writes the `.kwl` file.

Every wait has a deadline, and a daemon that does not come up or answer fails the test with what it printed.
`stop()` ends exactly the processes this object started (a paused daemon is resumed first, so it can end).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from contextlib import closing
from pathlib import Path

from helpers.secret_service import PrivateSecretService, StartFailed, _die_with_parent

SERVICE = "org.kde.kwalletd5"
OBJECT_PATH = "/modules/kwalletd5"
INTERFACE = "org.kde.KWallet"
WALLET = "kdewallet"
APP = "cursor-byok-tests"
LOGIN_PASSWORD = "login-password-for-kwallet-tests"
SALT_SIZE = 56  # what pam_kwallet writes; the daemon reads it back for the wallet's key
KEY_SIZE = 56
PBKDF2_ITERATIONS = 50_000
START_DEADLINE_S = 30.0  # a slow CI machine; kwalletd5 is up in well under a second here
CALL_TIMEOUT_S = 10.0
CURSOR_FOLDER, CURSOR_ENTRY = "Chromium Keys", "Chromium Safe Storage"


def pam_key(password: str, salt: bytes) -> bytes:
    """The key pam_kwallet hands kwalletd: PBKDF2-HMAC-SHA512(password, salt, 50,000 iterations, 56 bytes)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS, KEY_SIZE)


class PrivateBus(PrivateSecretService):
    """The private session bus alone, with no secret daemon on it (nothing can be activated either)."""

    def _start_keyring(self) -> None:
        pass

    def _wait_until_ready(self) -> None:
        pass


class KWalletdFailed(StartFailed):
    """kwalletd5 did not come up, or did not answer a call in time."""


class PrivateKWalletd(PrivateSecretService):
    """kwalletd5 on its own session bus. `unlock=False` leaves the wallet locked (an `open` then waits for a
    password dialog that never shows headless); `kwalletrc` is written to the daemon's config dir first."""

    def __init__(
        self, home: Path, *, password: str = LOGIN_PASSWORD, unlock: bool = True, kwalletrc: str | None = None
    ) -> None:
        super().__init__(home)
        self.password = password
        self.unlock = unlock
        self.kwalletrc = kwalletrc
        self.daemon: subprocess.Popen | None = None
        self.log_path = self.home / "kwalletd5.log"
        self.paused = False

    # -- start (the base class's hooks for its secret daemon) ----------------------------------------------------

    @property
    def wallet_dir(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "kwalletd"

    def _start_keyring(self) -> None:
        self.env["QT_QPA_PLATFORM"] = "offscreen"  # no X, no Wayland: kwalletd5 must show no window
        if self.kwalletrc is not None:
            config = Path(self.env["XDG_CONFIG_HOME"])
            config.mkdir(parents=True, exist_ok=True)
            (config / "kwalletrc").write_text(self.kwalletrc)
        self.wallet_dir.mkdir(parents=True, exist_ok=True)
        if self.unlock:
            (self.wallet_dir / f"{WALLET}.salt").write_bytes(os.urandom(SALT_SIZE))  # as pam_kwallet does
        with open(self.log_path, "wb") as log:
            self.daemon = subprocess.Popen(
                ["kwalletd5"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.procs.append(self.daemon)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        with closing(self.connect()) as conn:
            while not self._owns_name(conn):
                if self.daemon.poll() is not None:
                    raise self.failed(f"kwalletd5 exited ({self.daemon.returncode}) before taking {SERVICE}")
                if time.monotonic() > deadline:
                    raise self.failed(f"kwalletd5 did not take {SERVICE} within {START_DEADLINE_S:.0f} s")
                time.sleep(0.02)
        if not self.unlock:
            return
        salt = (self.wallet_dir / f"{WALLET}.salt").read_bytes()
        self.call("pamOpen", "sayi", WALLET, pam_key(self.password, salt), 0)
        while not self.call("isOpen", "s", WALLET):
            if time.monotonic() > deadline:
                raise self.failed(f"the wallet {WALLET} was not open within {START_DEADLINE_S:.0f} s of pamOpen")
            time.sleep(0.02)

    def _owns_name(self, conn) -> bool:
        from jeepney import DBusAddress, new_method_call

        bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
        reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (SERVICE,)), timeout=5)
        return bool(reply.body[0])

    def output(self) -> str:
        """What kwalletd5 printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def failed(self, why: str) -> KWalletdFailed:
        return KWalletdFailed(f"{why}; kwalletd5 printed:\n{self.output()[-4000:] or '(nothing)'}")

    # -- use -----------------------------------------------------------------------------------------------------

    def call(self, method: str, signature: str | None = None, *args, timeout: float = CALL_TIMEOUT_S):
        """One org.kde.KWallet call on the private bus; its one return value. No reply in time, or an error
        reply, fails with the daemon's output."""
        from jeepney import DBusAddress, MessageType, new_method_call

        address = DBusAddress(OBJECT_PATH, bus_name=SERVICE, interface=INTERFACE)
        with closing(self.connect()) as conn:
            try:
                reply = conn.send_and_get_reply(new_method_call(address, method, signature, args), timeout=timeout)
            except TimeoutError:
                raise self.failed(f"kwalletd5 did not answer {method} within {timeout:.0f} s") from None
        if reply.header.message_type == MessageType.error:
            raise self.failed(f"kwalletd5 answered {method} with an error: {reply.body}")
        return reply.body[0] if reply.body else None

    def write_passwords(self, entries: dict[tuple[str, str], str]) -> None:
        """Write password entries ((folder, entry) -> value) and sync the wallet file to disk."""
        handle = self.call("open", "sxs", WALLET, 0, APP)
        assert isinstance(handle, int) and handle >= 0, f"kwalletd5 refused to open {WALLET}: {handle}"
        try:
            for (folder, entry), value in entries.items():
                code = self.call("writePassword", "issss", handle, folder, entry, value, APP)
                assert code == 0, f"writePassword {folder}/{entry} returned {code}"
            self.call("sync", "is", handle, APP)  # writes the .kwl now (the daemon would, a moment later)
        finally:
            self.call("close", "ibs", handle, False, APP)

    def store_cursor_password(self, value: str, folder: str = CURSOR_FOLDER, entry: str = CURSOR_ENTRY) -> None:
        """Cursor's safe-storage password where Cursor reads it (by default Chromium Keys/Chromium Safe Storage)."""
        self.write_passwords({(folder, entry): value})

    def read_password(self, folder: str, entry: str) -> str:
        handle = self.call("open", "sxs", WALLET, 0, APP)
        try:
            return self.call("readPassword", "isss", handle, folder, entry, APP)
        finally:
            self.call("close", "ibs", handle, False, APP)

    def users(self) -> list[str]:
        """The applications that hold the wallet open."""
        return list(self.call("users", "s", WALLET))

    def wallet_files(self) -> tuple[bytes, bytes]:
        """The wallet's `.kwl` and `.salt`, as on disk now (after write_passwords' sync)."""
        return (self.wallet_dir / f"{WALLET}.kwl").read_bytes(), (self.wallet_dir / f"{WALLET}.salt").read_bytes()

    # -- a hung daemon -------------------------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop the daemon (SIGSTOP): it keeps its bus name and answers nothing, as a hung kwalletd does."""
        os.kill(self.daemon.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused and self.daemon.poll() is None:
            os.kill(self.daemon.pid, signal.SIGCONT)
        self.paused = False

    # -- stop ----------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self.daemon is not None:
            self.resume()  # a stopped process would sit on SIGTERM until the kill after stop()'s deadline
        super().stop()

    def __enter__(self) -> PrivateKWalletd:
        super().__enter__()
        return self
