"""Windows DPAPI: the AES key Cursor keeps, DPAPI-protected, in its `Local State` file."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import SafeStorageUnavailable, UnknownCiphertext
from ..lazy import LazyModule
from ..private_files import read_small

if TYPE_CHECKING:
    import ctypes
    from ctypes import wintypes
else:  # ctypes loads on Windows only: a Python built without libffi (no ctypes) runs the tool elsewhere
    ctypes = LazyModule("ctypes")
    wintypes = LazyModule("ctypes.wintypes")

DPAPI_PREFIX = b"DPAPI"


LOCAL_STATE_LIMIT = 16 << 20  # Chromium prefs: tens of KiB in practice


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
        raise SafeStorageUnavailable(f"{local_state}: DPAPI gave a key of {len(key)} bytes, expected 32")
    return key


def _dpapi(call: str, data: bytes, failure: str) -> bytes:  # pragma: no cover - Windows only
    """CryptProtectData or CryptUnprotectData, CurrentUser scope, no entropy; the output freed with LocalFree."""
    if sys.platform != "win32":  # also tells the type checker that ctypes.windll exists below
        raise SafeStorageUnavailable("DPAPI works only on Windows")

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
