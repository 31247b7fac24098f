"""Windows: owner-only access control for the files and folders the tool creates.

On Windows `chmod 0600` only clears the read-only flag; who may read a file is
decided by its DACL, which a new file inherits from its folder. `make_private`
replaces that with a protected DACL (inheritance from the folder cut off)
holding one ACE: full control for the user running the tool. A folder's ACE is
inherited by what is created inside it.

The Win32 calls go through a `WindowsApi` (`advapi32`, `kernel32`) so the
call shape can be tested on any OS with a stand-in; `windows_api()` is the
real one.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import wintypes
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import OutputRefused

FILE_ALL_ACCESS = 0x001F01FF
SET_ACCESS = 2
NO_INHERITANCE = 0
SUB_CONTAINERS_AND_OBJECTS_INHERIT = 3
NO_MULTIPLE_TRUSTEE = 0
TRUSTEE_IS_SID = 0
TRUSTEE_IS_USER = 1
SE_FILE_OBJECT = 1
DACL_SECURITY_INFORMATION = 0x00000004
PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1  # TOKEN_INFORMATION_CLASS.TokenUser
TOKEN_USER_BUFFER = 256  # TOKEN_USER plus the largest SID (68 bytes) fits
# SetNamedSecurityInfoW on a file system without ACLs (FAT, exFAT: a USB stick).
NO_ACL_SUPPORT = (1, 50)  # ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED


class TRUSTEE_W(ctypes.Structure):
    _fields_ = [
        ("pMultipleTrustee", ctypes.c_void_p),
        ("MultipleTrusteeOperation", ctypes.c_int),
        ("TrusteeForm", ctypes.c_int),
        ("TrusteeType", ctypes.c_int),
        ("ptstrName", ctypes.c_void_p),  # a PSID with TRUSTEE_IS_SID
    ]


class EXPLICIT_ACCESS_W(ctypes.Structure):
    _fields_ = [
        ("grfAccessPermissions", wintypes.DWORD),
        ("grfAccessMode", ctypes.c_int),
        ("grfInheritance", wintypes.DWORD),
        ("Trustee", TRUSTEE_W),
    ]


@dataclass(frozen=True)
class WindowsApi:
    """advapi32 and kernel32 (each a ctypes.WinDLL, a CDLL) and the call that reads the last error."""

    advapi32: ctypes.CDLL
    kernel32: ctypes.CDLL
    last_error: Callable[[], int]


def windows_api() -> WindowsApi:  # pragma: no cover - Windows only
    """advapi32 and kernel32 with their argument types declared."""
    if sys.platform != "win32":  # tells the type checker too that ctypes.WinDLL exists below
        raise OSError("advapi32 exists only on Windows")
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    kernel32.GetCurrentProcess.argtypes = []
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.LocalFree.restype = ctypes.c_void_p
    kernel32.LocalFree.argtypes = [ctypes.c_void_p]
    advapi32.OpenProcessToken.restype = wintypes.BOOL
    advapi32.OpenProcessToken.argtypes = [wintypes.HANDLE, wintypes.DWORD, ctypes.POINTER(wintypes.HANDLE)]
    advapi32.GetTokenInformation.restype = wintypes.BOOL
    advapi32.GetTokenInformation.argtypes = [
        wintypes.HANDLE,
        ctypes.c_int,
        ctypes.c_void_p,
        wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD),
    ]
    advapi32.SetEntriesInAclW.restype = wintypes.DWORD
    advapi32.SetEntriesInAclW.argtypes = [
        wintypes.ULONG,
        ctypes.POINTER(EXPLICIT_ACCESS_W),
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    advapi32.SetNamedSecurityInfoW.restype = wintypes.DWORD
    advapi32.SetNamedSecurityInfoW.argtypes = [
        wintypes.LPWSTR,
        ctypes.c_int,
        wintypes.DWORD,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    return WindowsApi(advapi32, kernel32, ctypes.get_last_error)


def _refused(path: Path, what: str, code: int) -> OutputRefused:
    return OutputRefused(
        f"{path}: cannot make it private to you ({what} failed, Windows error {code}); "
        "write to a folder on an NTFS drive in your user profile"
    )


def current_user_sid(api: WindowsApi, path: Path) -> ctypes.Array[ctypes.c_char]:
    """A buffer holding TOKEN_USER for this process; its first field points at the user's SID."""
    token = wintypes.HANDLE()
    if not api.advapi32.OpenProcessToken(api.kernel32.GetCurrentProcess(), TOKEN_QUERY, ctypes.byref(token)):
        raise _refused(path, "OpenProcessToken", api.last_error())
    try:
        buf = ctypes.create_string_buffer(TOKEN_USER_BUFFER)
        needed = wintypes.DWORD()
        ok = api.advapi32.GetTokenInformation(token, TOKEN_USER_CLASS, buf, len(buf), ctypes.byref(needed))
        if not ok:
            raise _refused(path, "GetTokenInformation", api.last_error())
        return buf
    finally:
        api.kernel32.CloseHandle(token)


def make_private(path: Path, *, folder: bool, api: WindowsApi | None = None) -> None:
    """Give `path` a protected DACL with one full-control ACE for the current user.

    Any failure refuses the write, except on a drive whose file system keeps no
    ACLs at all (FAT, exFAT): there the file is as private as the drive is.
    """
    path = Path(path)
    api = api or windows_api()
    token_user = current_user_sid(api, path)
    sid = ctypes.c_void_p.from_buffer(token_user).value  # TOKEN_USER.User.Sid
    inherit = SUB_CONTAINERS_AND_OBJECTS_INHERIT if folder else NO_INHERITANCE
    trustee = TRUSTEE_W(None, NO_MULTIPLE_TRUSTEE, TRUSTEE_IS_SID, TRUSTEE_IS_USER, sid)
    entry = EXPLICIT_ACCESS_W(FILE_ALL_ACCESS, SET_ACCESS, inherit, trustee)
    acl = ctypes.c_void_p()
    err = api.advapi32.SetEntriesInAclW(1, ctypes.byref(entry), None, ctypes.byref(acl))
    if err:
        raise _refused(path, "SetEntriesInAclW", err)
    try:
        info = DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION
        err = api.advapi32.SetNamedSecurityInfoW(str(path), SE_FILE_OBJECT, info, None, None, acl, None)
    finally:
        api.kernel32.LocalFree(acl)
    if err and err not in NO_ACL_SUPPORT:
        raise _refused(path, "SetNamedSecurityInfoW", err)
