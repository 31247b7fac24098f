"""Cursor's Windows key from an old machine's copy: `Local State` and `Protect/<SID>/`, opened with the old password.

Cursor (as Chromium) keeps a 32-byte AES-256-GCM key in `Local State` as
`os_crypt.encrypted_key`: base64 of "DPAPI" + a DPAPI blob. The blob names
its master key by GUID; the master key lives in
`AppData/Roaming/Microsoft/Protect/<SID>/<GUID>` and opens with the user's
login password (`dpapi_masterkey`); the master key opens the blob
(`dpapi_blob`). The key then decrypts the `v10` rows (`safestorage.oscrypt`).

Entra ID accounts cannot be opened this way and are refused before any
password is tried; a password that fails names the other accounts that cannot
(Microsoft accounts, Windows Hello PIN-only logons).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import RescueNotFound, StoreDamaged
from .dpapi_blob import DpapiBlob, decrypt_blob, parse_blob
from .dpapi_masterkey import check_sid, parse_masterkey, unlock_masterkey

DPAPI_PREFIX = b"DPAPI"
OSCRYPT_KEY_LEN = 32
MASTERKEY_LIMIT = 64 << 10  # a master-key file is under 1 KiB
GUID_NAME = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def protect_folder(sid: str) -> str:
    """Where a user's master keys are, relative to the home folder."""
    return f"AppData/Roaming/Microsoft/Protect/{sid}"


def local_state_blob(local_state: bytes, what: str = "Local State") -> DpapiBlob:
    """The DPAPI blob in a `Local State` file's `os_crypt.encrypted_key`, parsed."""
    try:
        doc = json.loads(local_state.decode("utf-8"))
        encoded = doc["os_crypt"]["encrypted_key"] if isinstance(doc, dict) else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StoreDamaged(f"{what}: not JSON; the file is damaged or not Cursor's Local State") from None
    except (KeyError, TypeError):
        encoded = None
    if encoded is None:
        raise RescueNotFound(
            f"{what} holds no os_crypt.encrypted_key: Cursor on that machine never made its key, so its rows "
            "are not encrypted with one",
            reason="entry-missing",
        )
    try:
        raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(DPAPI_PREFIX):
        raise StoreDamaged(
            f"{what}: os_crypt.encrypted_key is not base64 of 'DPAPI' + a DPAPI blob (an app-bound or newer "
            "scheme, or a damaged file); this tool opens only DPAPI-protected keys"
        )
    return parse_blob(raw[len(DPAPI_PREFIX) :], f"{what} os_crypt.encrypted_key")


def oscrypt_key(
    local_state: bytes,
    master_keys: Mapping[str, bytes],
    sid: str,
    passwords: Sequence[str],
    *,
    folder: str | None = None,
) -> bytes:
    """The 32-byte OSCrypt key: `master_keys` maps GUID to master-key file bytes (the files of `folder`).

    Raises StoreUnsupported (entra-account) for an Entra ID SID, RescueNotFound (store-missing) when the
    blob's master key is not among `master_keys`, StoreLocked when no password opens it, StoreDamaged for a
    file out of shape.
    """
    sid = check_sid(sid)
    blob = local_state_blob(local_state)
    where = folder or protect_folder(sid)
    by_guid = {name.lower().strip("{}"): data for name, data in master_keys.items()}
    data = by_guid.get(blob.masterkey_guid)
    if data is None:
        raise RescueNotFound(
            f"the master key {blob.masterkey_guid} that protects Cursor's key is not in {where} "
            f"({len(by_guid)} master-key files there); copy that folder from the old machine whole",
            reason="store-missing",
        )
    masterkey = parse_masterkey(data, f"master-key file {where}/{blob.masterkey_guid}")
    if masterkey.guid != blob.masterkey_guid:
        raise StoreDamaged(
            f"{where}/{blob.masterkey_guid}: the file says it is master key {masterkey.guid}; it was renamed or damaged"
        )
    unlocked = unlock_masterkey(masterkey, sid, passwords)
    key = decrypt_blob(blob, unlocked.key)
    if len(key) != OSCRYPT_KEY_LEN:
        raise StoreDamaged(f"Local State: the DPAPI blob holds {len(key)} bytes, not a 32-byte key")
    return key


def read_master_keys(folder: Path) -> dict[str, bytes]:
    """The master-key files of a copied `Protect/<SID>` folder (files named by GUID), GUID -> bytes."""
    found: dict[str, bytes] = {}
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        raise RescueNotFound(
            f"{folder}: no such folder (the old home's {protect_folder('<SID>')})", reason="store-missing"
        ) from None
    for entry in entries:
        if GUID_NAME.fullmatch(entry.name) and entry.is_file() and entry.stat().st_size <= MASTERKEY_LIMIT:
            found[entry.name.lower()] = entry.read_bytes()
    return found
