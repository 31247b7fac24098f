"""Fetching the machine secret that protects Cursor's keys. Side effects only.

Each backend has its module: `keychain` (macOS, the `security` tool),
`secret_service` and `kwallet` (Linux, D-Bus), `dpapi` (Windows, `Local
State`), `password` (the secret given in a file or variable); Linux `basic`
needs no secret. `linux_choice` says which one Cursor uses on Linux.
`SafeStorage` here picks a backend per OS (or as told), fetches its secret at
most once, and hands out the codec for each ciphertext prefix.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .. import versions
from ..errors import SafeStorageUnavailable
from . import argv_json, dpapi, keychain, kwallet, linux_choice, oscrypt, password, secret_service

CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")


def scheme_for_platform(platform: str) -> str:
    if platform == "darwin":
        return "macos"
    if platform.startswith("win"):
        return "windows"
    return "linux"


# --- SafeStorage ------------------------------------------------------------------


@dataclass
class SafeStorageConfig:
    """What the user chose: the backend, and for `password` where and which scheme."""

    choice: str = "auto"
    scheme: str | None = None  # macos | linux | windows; default: this OS
    password_file: str | None = None
    chosen_by: str | None = None  # what made the choice, when not the option: "CURSOR_BYOK_SAFE_STORAGE"


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
        if self.scheme not in oscrypt.SCHEMES:
            raise SafeStorageUnavailable(f"unknown --safe-storage-scheme {self.scheme!r}")
        self.backend, self.backend_reason = self._pick_backend()
        self._fetchers = dict(fetchers or {})
        self._cache: dict[str, bytes] = {}
        self._errors: dict[str, SafeStorageUnavailable] = {}

    def _pick_backend(self) -> tuple[str, str]:
        """(backend, why it was chosen)."""
        choice = self.config.choice
        if choice != "auto":
            return choice, self.config.chosen_by or f"--safe-storage {choice}"
        if self.scheme == "macos":
            return "keychain", "macOS"
        if self.scheme == "windows":
            return "dpapi", "Windows"
        return linux_choice.linux_backend_choice(self.env, self.argv_json)

    def follow_rows(self, prefixes: Iterable[bytes]) -> None:
        """Let the ciphertext prefixes of the rows Cursor wrote (every encrypted row: keys, extension secrets,
        MCP tokens) decide the Linux backend before the desktop does: v11 means a keyring, only v10 basic.
        An explicit choice (--safe-storage, argv.json's password-store) stays as it is."""
        if self.scheme != "linux" or self.config.choice != "auto" or self._argv_store():
            return
        found = linux_choice.backend_from_rows(frozenset(prefixes), self.backend, self.backend_reason)
        if found is not None:
            self.backend, self.backend_reason = found

    def _argv_store(self) -> str | None:
        """argv.json's password-store when Chromium knows it (an explicit choice), else None."""
        store = argv_json.argv_password_store(self.argv_json) if self.argv_json else None
        return store if (store or "").lower() in linux_choice.PASSWORD_STORES else None

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
            return password.read_password_input(self.config.password_file, self.env)
        if backend == "keychain":
            return keychain.fetch_keychain()
        if backend == "secret-service":
            return secret_service.fetch_secret_service()
        if backend == "kwallet":
            return kwallet.fetch_kwallet()
        if backend == "dpapi":
            if self.local_state is None:
                raise SafeStorageUnavailable("DPAPI needs Cursor's 'Local State' file; pass --user-data-dir")
            if not self.platform.startswith("win"):
                raise SafeStorageUnavailable(
                    "DPAPI works only on Windows; use --safe-storage password --safe-storage-scheme windows"
                )
            return dpapi.dpapi_key_from_local_state(self.local_state, dpapi.win_unprotect)
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

    def codec_for(self, blob: bytes) -> tuple[str, oscrypt.Codec]:
        """(label, codec) that decrypts this value; raises if there is none."""
        prefix = oscrypt.check_known_prefix(blob, versions.row_prefixes(self.scheme))
        return self.codec_for_prefix(prefix)

    def codec_for_prefix(self, prefix: bytes) -> tuple[str, oscrypt.Codec]:
        """(label, codec) for values with this prefix, from the backend that writes them (versions.ROW_BACKENDS)."""
        wrote = versions.row_backend(self.scheme, prefix)
        if wrote is None:
            raise SafeStorageUnavailable(f"Cursor writes no {prefix!r} values on {self.scheme}")
        if wrote == versions.BASIC:
            return "basic", oscrypt.linux_basic_codec()
        if wrote == versions.KEYRING:
            return self._linux_v11()
        backend = "password" if self.backend == "password" else self.backend
        if backend == "basic":
            raise SafeStorageUnavailable(f"--safe-storage basic exists only on Linux, not for the {self.scheme} scheme")
        secret = self._fetch(backend)
        if self.scheme == "macos":
            return backend, oscrypt.macos_codec(secret)
        key = password.windows_key_from_hex(secret) if backend == "password" else secret
        return backend, oscrypt.GcmCodec(key)

    def _linux_v11(self) -> tuple[str, oscrypt.Codec]:
        errors = []
        for backend in self._keyring_backends():
            try:
                return backend, oscrypt.linux_keyring_codec(self._fetch(backend))
            except SafeStorageUnavailable as exc:
                errors.append(str(exc))
        if not errors:
            home = {"keychain": ("macos", "a Mac"), "dpapi": ("windows", "Windows")}.get(self.config.choice)
            hint = (
                f"; --safe-storage {self.config.choice} is for a database from {home[1]}: "
                f"add --safe-storage-scheme {home[0]} if this one came from there"
                if home
                else ""
            )
            raise SafeStorageUnavailable(
                f"v11 values need a keyring; use --safe-storage secret-service, kwallet or password{hint}"
            )
        raise SafeStorageUnavailable(errors[0])

    def backend_codec(self) -> tuple[bytes, str, oscrypt.Codec]:
        """(prefix, label, codec) for new values, from the chosen backend's own secret alone.

        Used when no stored row can prove the machine secret (a fresh Cursor
        keeps none): the backend's item is then the authority. No fallback to
        another keyring: a value encrypted with a secret Cursor does not use
        is deleted by Cursor.
        """
        prefix = versions.prefix_written(self.scheme, self.backend)
        if self.scheme != "linux":
            label, codec = self.codec_for_prefix(prefix)
            return prefix, label, codec
        if self.backend == "basic":
            return prefix, "basic", oscrypt.linux_basic_codec()
        if self.backend in ("secret-service", "kwallet", "password"):
            return prefix, self.backend, oscrypt.linux_keyring_codec(self._fetch(self.backend))
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
            return versions.prefix_written(self.scheme, self.backend)
        # A password-store Chromium does not know is ignored (the desktop decides), so it is no evidence either.
        explicit = self.config.choice != "auto" or self._argv_store() is not None
        if not explicit or self.backend == "password":
            return None
        return versions.prefix_written(self.scheme, self.backend)


def probe(storage: "SafeStorage") -> str:
    """A short status of the chosen backend, without reading any secret."""
    backend = storage.backend
    if backend == "basic":
        return "available (obfuscation only: keys are not really encrypted)"
    if backend == "password":
        given = storage.config.password_file or storage.env.get(password.PASSWORD_ENV)
        return "given" if given else f"missing: pass --safe-storage-password-file or set {password.PASSWORD_ENV}"
    if backend == "keychain":
        return keychain.probe_keychain() if storage.platform == "darwin" else "unreachable (not macOS)"
    if backend == "secret-service":
        return secret_service.probe_secret_service()
    if backend == "kwallet":
        return kwallet.probe_kwallet()
    if backend == "dpapi":
        if storage.local_state is None or not storage.local_state.is_file():
            return "unreachable (no Local State file)"
        if not storage.platform.startswith("win"):
            return "unreachable (DPAPI works only on Windows)"
        return "reachable"
    return "unknown"
