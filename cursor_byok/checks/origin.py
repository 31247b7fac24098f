"""Which OS made a database whose keys this Linux machine cannot open, from evidence, and how to read them.

A database copied from a Mac or from Windows holds `v10` key rows. On Linux, `v10` is Cursor's "basic"
form, a fixed key; rows that do not open with it were made elsewhere. The evidence says where:

- Windows: Cursor's `Local State` holds `os_crypt.encrypted_key` (Electron writes it on Windows only);
  or a row's length fits only AES-GCM (Windows), not the AES-CBC blocks macOS and Linux write;
- macOS: the user-data dir lies under `Library/Application Support`, or every row has the CBC block shape
  (a `v10` row in CBC that the fixed Linux key does not open was made by a Mac's Keychain secret).

The advice names the options that read such a database here and the command that prints the secret on
the machine that made it. Nothing here decrypts with anything but the fixed, public Linux key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..cursor.paths import Installation
from ..cursor.rows import ANY_SECRET_PREFIX
from ..errors import DecryptFailed
from ..private_files import read_small
from ..results import Invocation
from ..safestorage import oscrypt
from ..safestorage.backends import SafeStorage

V10 = b"v10"
LOCAL_STATE_LIMIT = 1 << 20
MAC_SECRET = 'security find-generic-password -s "Cursor Safe Storage" -a "Cursor Key" -w'
WINDOWS_SECRET = (
    "Add-Type -AssemblyName System.Security; $b = [Convert]::FromBase64String((Get-Content "
    '"$env:APPDATA\\Cursor\\Local State" -Raw | ConvertFrom-Json).os_crypt.encrypted_key); '
    "-join ([Security.Cryptography.ProtectedData]::Unprotect($b[5..($b.Length - 1)], $null, 'CurrentUser') "
    "| ForEach-Object { $_.ToString('x2') })"
)


@dataclass(frozen=True)
class Origin:
    """The OS that made the rows (`macos` or `windows`, as --safe-storage-scheme spells it) and the evidence."""

    scheme: str
    evidence: str


def _v10_rows(rows: Mapping[str, Any]) -> list[bytes]:
    out = []
    for key, value in rows.items():
        if not key.startswith(ANY_SECRET_PREFIX):
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        try:
            blob = oscrypt.decode_buffer_json(text if isinstance(text, str) else "")
        except ValueError:
            continue
        if blob.startswith(V10):
            out.append(blob)
    return out


def _windows_key_in(local_state: Path | None) -> bool:
    if local_state is None:
        return False
    try:
        doc = json.loads(read_small(local_state, LOCAL_STATE_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    crypt = doc.get("os_crypt") if isinstance(doc, dict) else None
    return isinstance(crypt, dict) and bool(crypt.get("encrypted_key"))


def origin_of(inst: Installation, rows: Mapping[str, Any], storage: SafeStorage) -> Origin | None:
    """Where the `v10` rows of a database read on Linux were made, when they do not open here; None when
    this is not that case (another OS, no such rows, or rows Linux's fixed key opens)."""
    if storage.scheme != "linux":
        return None
    blobs = _v10_rows(rows)
    basic = oscrypt.linux_basic_codec()
    for blob in blobs:
        try:
            basic.decrypt(blob)
            return None  # Linux's own basic rows: not a copied database
        except DecryptFailed:
            continue
    if not blobs:
        return None
    if _windows_key_in(inst.local_state):
        return Origin("windows", "its Local State holds a Windows key (os_crypt.encrypted_key)")
    if any((len(b) - len(V10)) % 16 for b in blobs):
        return Origin("windows", "its keys have the shape Cursor writes on Windows")
    if inst.user_data_dir is not None and "Library/Application Support" in Path(inst.user_data_dir).as_posix():
        return Origin("macos", "it lies in a Mac's Library/Application Support")
    return Origin(
        "macos", "its keys have the shape Cursor writes on a Mac, and Linux's built-in key does not open them"
    )


def advice(origin: Origin, invocation: Invocation, command: tuple[str, ...] = ("list",)) -> str:
    """What to do, as a note: the options that read the database here, and how to get the secret they need.
    `invocation`: the global options naming the database (its safe-storage options are replaced)."""
    keep = _location_only(invocation.globals)
    options = ("--safe-storage", "password", "--safe-storage-scheme", origin.scheme, "--safe-storage-password-file")
    read = str(Invocation((*keep, *options, "FILE")).hint(*command))
    if origin.scheme == "windows":
        how = f"in PowerShell on that Windows machine, as the user who runs Cursor: `{WINDOWS_SECRET}`"
        return (
            f"these keys were saved by Cursor on Windows ({origin.evidence}), so they open only with that "
            f"machine's Cursor key (64 hex digits). Get it {how}; save what it prints in a file FILE, then: `{read}`"
        )
    return (
        f"these keys were saved by Cursor on a Mac ({origin.evidence}), so they open only with that Mac's Cursor "
        f"secret. Get it on the Mac: `{MAC_SECRET}`; save what it prints in a file FILE, then: `{read}`"
    )


def _location_only(words: tuple[str, ...]) -> tuple[str, ...]:
    """The global options without the safe-storage ones (the advice gives its own)."""
    out: list[str] = []
    pairs = iter(words)
    for word in pairs:
        value = next(pairs, "")
        if not word.startswith("--safe-storage"):
            out += [word, value]
    return tuple(out)


def origin_notes(inst: Installation, rows: Mapping[str, Any], storage: SafeStorage, invocation: Invocation,
                 command: tuple[str, ...] = ("list",)) -> tuple[str, ...]:  # fmt: skip
    """The advice as a note, or none."""
    found = origin_of(inst, rows, storage)
    return (advice(found, invocation, command),) if found else ()
