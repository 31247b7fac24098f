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
from typing import Any, Callable, Mapping

from ..errors import SafeStorageUnavailable, UnknownCiphertext
from ..files import read_small
from . import oscrypt as ss

CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")
PASSWORD_ENV = "CURSOR_BYOK_SAFE_STORAGE_PASSWORD"
KEYCHAIN_SERVICE = "Cursor Safe Storage"
KEYCHAIN_ACCOUNT = "Cursor Key"  # Electron appends " Key" to the app name
SECURITY_ITEM_NOT_FOUND = 44  # `security` exit status for errSecItemNotFound
LIBSECRET_SCHEMAS = ("chrome_libsecret_os_crypt_password_v2", "chrome_libsecret_os_crypt_password_v1")
LIBSECRET_APPS = ("Cursor", "cursor")
# (folder, entry), in the order read: the synchronous API Cursor uses reads the
# shared Chromium entry; the Cursor names belong to Electron's newer async API.
KWALLET_ENTRIES = (("Chromium Keys", "Chromium Safe Storage"), ("Cursor Keys", "Cursor Safe Storage"))
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


# --- fetchers: each returns the raw secret bytes or raises SafeStorageUnavailable ----


def fetch_keychain(run: Callable = subprocess.run) -> bytes:
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


KWALLET_TIMEOUT_S = 10.0  # a kwalletd that does not answer a plain call within this is hung
KWALLET_OPEN_TIMEOUT_S = 120.0  # `open` may wait for the user to unlock the wallet in a dialog
KWALLET_PROBE_TIMEOUT_S = 2.0  # `where` must stay quick even when kwalletd hangs
KWALLET_APP = "cursor-byok"


class _KWallet:
    """Calls on one kwalletd service; every failure, timeouts included, becomes SafeStorageUnavailable."""

    def __init__(self, conn, service: str, path: str) -> None:
        from jeepney import DBusAddress

        self.conn, self.service = conn, service
        self.addr = DBusAddress(path, bus_name=service, interface="org.kde.KWallet")

    def call(self, method: str, sig: str | None = None, *args, timeout: float | None = None):
        from jeepney import new_method_call

        try:
            reply = self.conn.send_and_get_reply(
                new_method_call(self.addr, method, sig, args), timeout=timeout or KWALLET_TIMEOUT_S
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
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        raise SafeStorageUnavailable("the jeepney package is missing; pip install secretstorage") from None
    try:
        conn = open_dbus_connection(bus="SESSION")
    except Exception as exc:
        raise SafeStorageUnavailable(f"no D-Bus session for KWallet ({type(exc).__name__})") from None
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


def _name_has_owner(conn, name: str) -> bool:
    from jeepney import DBusAddress, new_method_call

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    try:
        reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=5)
    except Exception:
        return False
    return bool(reply.body and reply.body[0])


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


def _dpapi(call: str, data: bytes, failure: str) -> bytes:  # pragma: no cover - Windows only
    """CryptProtectData or CryptUnprotectData, CurrentUser scope, no entropy; the output freed with LocalFree."""
    import ctypes
    from ctypes import wintypes

    class Blob(ctypes.Structure):
        _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

    buf = ctypes.create_string_buffer(data, len(data))
    blob_in = Blob(len(data), ctypes.cast(buf, ctypes.POINTER(ctypes.c_char)))
    blob_out = Blob()
    ok = getattr(ctypes.windll.crypt32, call)(ctypes.byref(blob_in), None, None, None, None, 0, ctypes.byref(blob_out))
    if not ok:
        raise SafeStorageUnavailable(failure)
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        ctypes.windll.kernel32.LocalFree(blob_out.pbData)


def win_unprotect(data: bytes) -> bytes:  # pragma: no cover - Windows only
    """CryptUnprotectData: the `Local State` key as Cursor reads it."""
    return _dpapi(
        "CryptUnprotectData", data, "DPAPI could not unprotect the key: run as the Windows user who runs Cursor"
    )


def win_protect(data: bytes) -> bytes:  # pragma: no cover - Windows only
    """CryptProtectData, what Chromium does to its `Local State` key."""
    return _dpapi("CryptProtectData", data, "DPAPI could not protect the key")


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
        self.backend, self.backend_reason = self._pick_backend()
        self._fetchers = dict(fetchers or {})
        self._cache: dict[str, bytes] = {}
        self._errors: dict[str, SafeStorageUnavailable] = {}

    def _pick_backend(self) -> tuple[str, str]:
        """(backend, why it was chosen)."""
        choice = self.config.choice
        if choice != "auto":
            return choice, f"--safe-storage {choice}"
        if self.scheme == "macos":
            return "keychain", "macOS"
        if self.scheme == "windows":
            return "dpapi", "Windows"
        return linux_backend_choice(self.env, self.argv_json)

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

    def backend_codec(self) -> tuple[bytes, str, Any]:
        """(prefix, label, codec) for new values, from the chosen backend's own secret alone.

        Used when no stored row can prove the machine secret (a fresh Cursor
        keeps none): the backend's item is then the authority. No fallback to
        another keyring: a value encrypted with a secret Cursor does not use
        is deleted by Cursor.
        """
        if self.scheme != "linux":
            label, codec = self.codec_for_prefix(b"v10")
            return b"v10", label, codec
        if self.backend == "basic":
            return b"v10", "basic", ss.linux_basic_codec()
        if self.backend in ("secret-service", "kwallet", "password"):
            return b"v11", self.backend, ss.linux_keyring_codec(self._fetch(self.backend))
        raise SafeStorageUnavailable(f"--safe-storage {self.backend} cannot encrypt for Linux")

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
    """Is a kwalletd on the session bus, and does it answer? Never opens the wallet."""
    try:
        from jeepney.io.blocking import open_dbus_connection

        conn = open_dbus_connection(bus="SESSION")
    except Exception as exc:
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
