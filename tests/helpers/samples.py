"""Sample Cursor user-data dirs as the tests use them: `SampleDir` (what `make_sample_dir` in conftest.py
returns), and the stand-in for the one OS boundary the samples cannot cross here (Windows DPAPI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import backends as keyring
from cursor_byok.safestorage import dpapi
from cursor_byok.samples.installs import Sample

WINDOWS_KEY = bytes(range(100, 132))  # a made-up 32-byte AES key
DPAPI_MARKER = b"fake:"  # what sample.build_user_data_dir puts before the key

# Cursor's argv.json as VS Code writes it, its password-store left to fill in (`ARGV_JSON % "basic"`).
ARGV_JSON = """// This configuration file allows you to pass permanent command line arguments to VS Code.
// Only a subset of arguments is currently supported to reduce the likelihood of breaking
// the installation.
//
// PLEASE DO NOT CHANGE WITHOUT UNDERSTANDING THE IMPACT
{
\t// "disable-hardware-acceleration": true,
\t"enable-crash-reporter": true,
\t"crash-reporter-id": "5b1b5b0e-3f7e-4a3f-9a2f-3e2b1a0c9d8e",
\t"password-store": "%s"
}
"""

# The storage label `list` shows for each generation when decoded through
# SampleDir.storage() below.
EXPECTED_LABEL = {
    "plaintext": "plaintext",
    "basic": "basic",
    "v11": "secret-service",
    "macos": "keychain",
    "windows": "dpapi",
}


def fake_dpapi_unprotect(data: bytes) -> bytes:
    """Stand-in for CryptUnprotectData that knows the sample's marker."""
    if not data.startswith(DPAPI_MARKER):
        raise SafeStorageUnavailable("DPAPI could not unprotect the key")
    return data[len(DPAPI_MARKER) :]


@dataclass
class SampleDir:
    """A laid-out user-data dir and the plain values that went into it."""

    udd: Path
    db: Path
    sample: Sample
    keys: dict[str, str]
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def generation(self) -> str:
        return self.sample.generation

    @property
    def expected_label(self) -> str:
        return EXPECTED_LABEL[self.generation]

    def storage(self, **kw) -> keyring.SafeStorage:
        """A SafeStorage that decodes this dir, with the OS boundary replaced by known answers."""
        gen = self.generation
        env = kw.pop("env", {"HOME": str(self.udd)})
        secret = self.sample.secret
        if gen == "v11":
            return keyring.SafeStorage(
                keyring.SafeStorageConfig("secret-service"),
                env=env,
                platform="linux",
                fetchers={"secret-service": lambda: secret},
                **kw,
            )
        if gen == "macos":
            return keyring.SafeStorage(env=env, platform="darwin", fetchers={"keychain": lambda: secret}, **kw)
        if gen == "windows":
            local_state = self.udd / "Local State"
            return keyring.SafeStorage(
                env=env,
                platform="win32",
                local_state=local_state,
                fetchers={"dpapi": lambda: dpapi.dpapi_key_from_local_state(local_state, fake_dpapi_unprotect)},
                **kw,
            )
        return keyring.SafeStorage(keyring.SafeStorageConfig("basic"), env=env, platform="linux", **kw)

    def password_options(self, password_file: Path) -> list[str]:
        """CLI options that decode this dir through the `password` backend."""
        scheme = {"v11": "linux", "macos": "macos", "windows": "windows"}[self.generation]
        secret = self.sample.secret.hex() if scheme == "windows" else self.sample.secret.decode()
        password_file.write_text(secret + "\n")
        return [
            "--safe-storage",
            "password",
            "--safe-storage-password-file",
            str(password_file),
            "--safe-storage-scheme",
            scheme,
        ]


def secret_for(generation: str) -> bytes:
    return WINDOWS_KEY if generation == "windows" else b"sample-machine-password-0"
