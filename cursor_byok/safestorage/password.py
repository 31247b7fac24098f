"""The `password` backend: the machine secret given by the user in a file or an environment variable."""

from __future__ import annotations

from typing import Mapping

from ..errors import SafeStorageUnavailable
from ..key_shapes import shown_path
from ..private_files import read_small

PASSWORD_ENV = "CURSOR_BYOK_SAFE_STORAGE_PASSWORD"


PASSWORD_FILE_LIMIT = 64 << 10


def read_password_input(password_file: str | None, env: Mapping[str, str]) -> bytes:
    """The `password` backend's secret, from a file or the environment (never argv)."""
    if password_file:
        try:
            data = read_small(password_file, PASSWORD_FILE_LIMIT)
        except OSError as exc:
            raise SafeStorageUnavailable(f"{shown_path(password_file)}: cannot read ({exc.strerror})") from None
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
