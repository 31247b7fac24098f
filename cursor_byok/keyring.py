"""Fetching the machine secret that protects Cursor's keys. Side effects only.

Backends: macOS Keychain (`security`), Linux Secret Service (secretstorage),
KWallet (D-Bus), Linux basic (`peanuts`), Windows DPAPI (`Local State`), and
`password`: the secret given by the user in a file or environment variable.
`SafeStorage` picks a backend per OS (or as told), fetches its secret at most
once, and hands out the codec for each ciphertext prefix.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from . import safestorage as ss
from .errors import SafeStorageUnavailable, UnknownCiphertext
from .files import read_small

CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")
PASSWORD_ENV = "CURSOR_BYOK_SAFE_STORAGE_PASSWORD"
KEYCHAIN_SERVICE = "Cursor Safe Storage"
LIBSECRET_SCHEMAS = ("chrome_libsecret_os_crypt_password_v2", "chrome_libsecret_os_crypt_password_v1")
LIBSECRET_APPS = ("Cursor", "cursor")
KWALLET_FOLDERS = ("Cursor Keys", "Chromium Keys")
KWALLET_ENTRIES = ("Cursor Safe Storage", "Chromium Safe Storage")
KWALLET_SERVICES = (("org.kde.kwalletd6", "/modules/kwalletd6"), ("org.kde.kwalletd5", "/modules/kwalletd5"))
DPAPI_PREFIX = b"DPAPI"
ARGV_JSON_LIMIT = 1 << 20
LOCAL_STATE_LIMIT = 16 << 20  # Chromium prefs: tens of KiB in practice
PASSWORD_FILE_LIMIT = 64 << 10


def scheme_for_platform(platform: str) -> str:
    if platform == "darwin":
        return "macos"
    if platform.startswith("win"):
        return "windows"
    return "linux"


# --- Linux: which backend would Cursor use? -----------------------------------------


# A JSON string (kept), a // or /* */ comment, or a comma before a closing bracket.
_JSONC_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_JSONC_TRAILING_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')


def strip_jsonc(text: str) -> str:
    """Plain JSON from VS Code's JSON-with-comments: comments and trailing commas dropped."""

    def keep_strings(m: re.Match) -> str:
        return m.group(0) if m.group(0).startswith('"') else ""

    return _JSONC_TRAILING_COMMA.sub(keep_strings, _JSONC_COMMENT.sub(keep_strings, text))


def argv_password_store(argv_json: Path) -> str | None:
    """`"password-store"` from ~/.cursor/argv.json (a JSON file with comments)."""
    try:
        data = read_small(argv_json, ARGV_JSON_LIMIT)
    except OSError:
        return None
    try:
        value = json.loads(strip_jsonc(data.decode("utf-8"))).get("password-store")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def linux_backend(env: Mapping[str, str], argv_json: Path | None) -> str:
    """The backend Cursor picks on Linux: argv.json first, then the desktop."""
    store = argv_password_store(argv_json) if argv_json else None
    if store:
        if store == "basic":
            return "basic"
        if store.startswith("kwallet"):
            return "kwallet"
        if "libsecret" in store or store == "gnome":
            return "secret-service"
    desktop = (env.get("XDG_CURRENT_DESKTOP") or env.get("DESKTOP_SESSION") or "").lower()
    if "kde" in desktop:
        return "kwallet"
    if not desktop or any(d in desktop for d in ("sway", "i3", "hyprland")):
        return "basic"
    return "secret-service"


# --- fetchers: each returns the raw secret bytes or raises SafeStorageUnavailable ----


def fetch_keychain(run: Callable = subprocess.run) -> bytes:
    """The 24-character password from the login Keychain (one Allow dialog)."""
    try:
        res = run(
            ["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-w"],
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SafeStorageUnavailable(f"cannot run the macOS `security` tool ({exc})") from None
    if res.returncode != 0:
        raise SafeStorageUnavailable(
            f"Keychain item {KEYCHAIN_SERVICE!r} not readable (security exit {res.returncode}); "
            "click Allow when asked, or use --safe-storage password"
        )
    return res.stdout.rstrip(b"\r\n")


def fetch_secret_service() -> bytes:
    """Cursor's password item from the Secret Service (GNOME Keyring, KeePassXC...)."""
    try:
        import secretstorage
        from secretstorage.exceptions import SecretServiceNotAvailableException
    except ImportError:
        raise SafeStorageUnavailable("the secretstorage package is missing; pip install secretstorage") from None
    try:
        conn = secretstorage.dbus_init()
    except (SecretServiceNotAvailableException, Exception) as exc:  # jeepney raises several kinds
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


def fetch_kwallet() -> bytes:
    """Cursor's password from KWallet over D-Bus."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        raise SafeStorageUnavailable("the jeepney package is missing; pip install secretstorage") from None
    try:
        conn = open_dbus_connection(bus="SESSION")
    except Exception as exc:
        raise SafeStorageUnavailable(f"no D-Bus session for KWallet ({type(exc).__name__})") from None
    app = "cursor-byok"
    try:
        for service, path in KWALLET_SERVICES:
            addr = DBusAddress(path, bus_name=service, interface="org.kde.KWallet")

            def call(method, sig=None, *args, addr=addr):
                reply = conn.send_and_get_reply(new_method_call(addr, method, sig, args), timeout=30)
                if reply.header.message_type.name == "error":
                    raise SafeStorageUnavailable(f"KWallet {method} failed")
                return reply.body[0]

            try:
                wallet = call("networkWallet")
            except Exception:
                continue
            handle = call("open", "sxs", wallet, 0, app)
            if handle < 0:
                raise SafeStorageUnavailable("KWallet refused to open the wallet; unlock it")
            try:
                for folder in KWALLET_FOLDERS:
                    for entry in KWALLET_ENTRIES:
                        value = call("readPassword", "isss", handle, folder, entry, app)
                        if value:
                            return value.encode("utf-8")
            finally:
                call("close", "ibs", handle, False, app)
    finally:
        conn.close()
    raise SafeStorageUnavailable("no Cursor password in KWallet; start Cursor once, or use --safe-storage password")


def dpapi_key_from_local_state(local_state: Path, unprotect: Callable[[bytes], bytes]) -> bytes:
    """The 32-byte AES key: DPAPI-unprotect(base64(os_crypt.encrypted_key) minus 'DPAPI')."""
    try:
        doc = json.loads(read_small(local_state, LOCAL_STATE_LIMIT).decode("utf-8"))
        b64 = doc["os_crypt"]["encrypted_key"]
        blob = base64.b64decode(b64, validate=True)
    except FileNotFoundError:
        raise SafeStorageUnavailable(f"{local_state}: missing; Cursor creates it at first start") from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        raise SafeStorageUnavailable(f"{local_state}: no readable os_crypt.encrypted_key") from None
    if not blob.startswith(DPAPI_PREFIX):
        raise UnknownCiphertext(
            f"{local_state}: encrypted_key does not start with 'DPAPI' (app-bound or newer scheme); cannot decrypt"
        )
    key = unprotect(blob[len(DPAPI_PREFIX) :])
    if len(key) != 32:
        raise SafeStorageUnavailable(f"{local_state}: DPAPI gave a {len(key)}-byte key, expected 32")
    return key


def win_unprotect(data: bytes) -> bytes:  # pragma: no cover - Windows only
    """CryptUnprotectData, CurrentUser scope, no entropy."""
    import ctypes
    from ctypes import wintypes

    class Blob(ctypes.Structure):
        _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

    buf = ctypes.create_string_buffer(data, len(data))
    blob_in = Blob(len(data), ctypes.cast(buf, ctypes.POINTER(ctypes.c_char)))
    blob_out = Blob()
    ok = ctypes.windll.crypt32.CryptUnprotectData(
        ctypes.byref(blob_in), None, None, None, None, 0, ctypes.byref(blob_out)
    )
    if not ok:
        raise SafeStorageUnavailable("DPAPI could not unprotect the key: run as the Windows user who runs Cursor")
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        ctypes.windll.kernel32.LocalFree(blob_out.pbData)


def read_password_input(password_file: str | None, env: Mapping[str, str]) -> bytes:
    """The `password` backend's secret, from a file or the environment (never argv)."""
    if password_file:
        try:
            data = read_small(password_file, PASSWORD_FILE_LIMIT)
        except OSError as exc:
            raise SafeStorageUnavailable(f"{password_file}: cannot read ({exc.strerror})") from None
        return data.rstrip(b"\r\n")
    value = env.get(PASSWORD_ENV)
    if value:
        return value.encode("utf-8")
    raise SafeStorageUnavailable(f"--safe-storage password needs --safe-storage-password-file F or ${PASSWORD_ENV}")


def windows_key_from_hex(secret: bytes) -> bytes:
    try:
        key = bytes.fromhex(secret.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise SafeStorageUnavailable("the windows scheme takes the AES key as 64 hex characters")
    return key


# --- SafeStorage ------------------------------------------------------------------


@dataclass
class SafeStorageConfig:
    """What the user chose: the backend, and for `password` where and which scheme."""

    choice: str = "auto"
    scheme: str | None = None  # macos | linux | windows; default: this OS
    password_file: str | None = None


class SafeStorage:
    """Codecs for one database's secrets, fetching the machine secret lazily, once."""

    def __init__(
        self,
        config: SafeStorageConfig | None = None,
        *,
        local_state: Path | None = None,
        env: Mapping[str, str] | None = None,
        platform: str | None = None,
        argv_json: Path | None = None,
        fetchers: Mapping[str, Callable[[], bytes]] | None = None,
    ) -> None:
        self.config = config or SafeStorageConfig()
        if self.config.choice not in CHOICES:
            raise SafeStorageUnavailable(f"unknown --safe-storage {self.config.choice!r}")
        self.env = os.environ if env is None else env
        self.platform = platform or sys.platform
        self.local_state = local_state
        home = Path(self.env.get("HOME") or Path.home())
        self.argv_json = argv_json if argv_json is not None else home / ".cursor" / "argv.json"
        self.scheme = self.config.scheme or scheme_for_platform(self.platform)
        if self.scheme not in ss.SCHEMES:
            raise SafeStorageUnavailable(f"unknown --safe-storage-scheme {self.scheme!r}")
        self.backend = self._pick_backend()
        self._fetchers = dict(fetchers or {})
        self._cache: dict[str, bytes] = {}
        self._errors: dict[str, SafeStorageUnavailable] = {}

    def _pick_backend(self) -> str:
        choice = self.config.choice
        if choice != "auto":
            return choice
        if self.scheme == "macos":
            return "keychain"
        if self.scheme == "windows":
            return "dpapi"
        return linux_backend(self.env, self.argv_json)

    # -- the secret ----------------------------------------------------------------

    def _fetch(self, backend: str) -> bytes:
        if backend in self._cache:
            return self._cache[backend]
        if backend in self._errors:  # one prompt or failure per run, not one per row
            raise self._errors[backend]
        try:
            value = self._fetch_uncached(backend)
        except SafeStorageUnavailable as exc:
            self._errors[backend] = exc
            raise
        self._cache[backend] = value
        return value

    def _fetch_uncached(self, backend: str) -> bytes:
        if backend in self._fetchers:
            return self._fetchers[backend]()
        if backend == "password":
            return read_password_input(self.config.password_file, self.env)
        if backend == "keychain":
            return fetch_keychain()
        if backend == "secret-service":
            return fetch_secret_service()
        if backend == "kwallet":
            return fetch_kwallet()
        if backend == "dpapi":
            if self.local_state is None:
                raise SafeStorageUnavailable("DPAPI needs Cursor's 'Local State' file; pass --user-data-dir")
            if not self.platform.startswith("win"):
                raise SafeStorageUnavailable(
                    "DPAPI works only on Windows; use --safe-storage password --safe-storage-scheme windows"
                )
            return dpapi_key_from_local_state(self.local_state, win_unprotect)
        raise SafeStorageUnavailable(f"backend {backend!r} has no secret to fetch")

    def _keyring_backends(self) -> list[str]:
        """Backends to try for a Linux v11 value, chosen one first."""
        if self.backend in ("secret-service", "kwallet", "password"):
            if self.config.choice == "auto":
                other = "kwallet" if self.backend == "secret-service" else "secret-service"
                return [self.backend, other]
            return [self.backend]
        if self.config.choice == "auto":  # desktop said basic, but a v11 row proves a keyring
            return ["secret-service", "kwallet"]
        return []

    # -- codecs --------------------------------------------------------------------

    def codec_for(self, blob: bytes):
        """(label, codec) that decrypts this value; raises if there is none."""
        prefixes = (b"v10", b"v11") if self.scheme == "linux" else (b"v10",)
        prefix = ss.check_known_prefix(blob, prefixes)
        return self.codec_for_prefix(prefix)

    def codec_for_prefix(self, prefix: bytes):
        if self.scheme == "linux":
            if prefix == b"v10":
                return "basic", ss.linux_basic_codec()
            return self._linux_v11()
        backend = "password" if self.backend == "password" else self.backend
        if backend == "basic":
            raise SafeStorageUnavailable(f"--safe-storage basic exists only on Linux, not for the {self.scheme} scheme")
        secret = self._fetch(backend)
        if self.scheme == "macos":
            return backend, ss.macos_codec(secret)
        key = windows_key_from_hex(secret) if backend == "password" else secret
        return backend, ss.GcmCodec(key)

    def _linux_v11(self):
        errors = []
        for backend in self._keyring_backends():
            try:
                return backend, ss.linux_keyring_codec(self._fetch(backend))
            except SafeStorageUnavailable as exc:
                errors.append(str(exc))
        if not errors:
            raise SafeStorageUnavailable(
                "v11 values need a keyring; use --safe-storage secret-service, kwallet or password"
            )
        raise SafeStorageUnavailable(errors[0])

    def decrypt(self, blob: bytes) -> tuple[str, str]:
        """(plaintext, storage label) of one safeStorage value."""
        label, codec = self.codec_for(blob)
        return codec.decrypt(blob), label

    def required_prefix(self) -> bytes | None:
        """The prefix new values must get when the choice of backend is explicit, else None.

        On Linux, `--safe-storage basic` or `"password-store": "basic"` in
        argv.json means Cursor writes v10 (a fixed key); an explicit keyring
        means v11. A backend guessed from the desktop is not evidence enough
        (this tool may run over SSH while Cursor runs in a desktop session):
        then the rows Cursor already wrote decide.
        """
        if self.scheme != "linux":
            return b"v10"
        explicit = self.config.choice != "auto" or argv_password_store(self.argv_json) is not None
        if not explicit or self.backend == "password":
            return None
        return b"v10" if self.backend == "basic" else b"v11"


# --- probes: is a backend reachable? (never fetches or prints the secret) -------------


def probe_keychain(run: Callable = subprocess.run) -> str:
    try:
        res = run(["security", "find-generic-password", "-s", KEYCHAIN_SERVICE], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unreachable: no `security` tool"
    return "reachable, item present" if res.returncode == 0 else "reachable, no Cursor item"


def probe_secret_service() -> str:
    try:
        import secretstorage

        conn = secretstorage.dbus_init()
    except Exception as exc:
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


def probe_kwallet() -> str:
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        conn = open_dbus_connection(bus="SESSION")
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
        for service, _ in KWALLET_SERVICES:
            reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (service,)), timeout=5)
            if reply.body and reply.body[0]:
                return f"reachable ({service})"
        return "unreachable (no kwalletd on the session bus)"
    finally:
        conn.close()


def probe(storage: "SafeStorage") -> str:
    """A short status of the chosen backend, without reading any secret."""
    backend = storage.backend
    if backend == "basic":
        return "available (obfuscation only: keys are not really encrypted)"
    if backend == "password":
        given = storage.config.password_file or storage.env.get(PASSWORD_ENV)
        return "given" if given else f"missing: pass --safe-storage-password-file or set {PASSWORD_ENV}"
    if backend == "keychain":
        return probe_keychain() if storage.platform == "darwin" else "unreachable (not macOS)"
    if backend == "secret-service":
        return probe_secret_service()
    if backend == "kwallet":
        return probe_kwallet()
    if backend == "dpapi":
        if storage.local_state is None or not storage.local_state.is_file():
            return "unreachable (no Local State file)"
        if not storage.platform.startswith("win"):
            return "unreachable (DPAPI works only on Windows)"
        return "reachable"
    return "unknown"
