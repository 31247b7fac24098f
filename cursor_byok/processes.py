"""Is a process alive? (by pid, on POSIX and Windows). The bottom layer: private_files and cursor.paths use it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Callable

from .lazy import LazyModule

if TYPE_CHECKING:
    import ctypes
    from ctypes import wintypes
else:  # ctypes loads on Windows only: a Python built without libffi (no ctypes) runs the tool elsewhere
    ctypes = LazyModule("ctypes")
    wintypes = LazyModule("ctypes.wintypes")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform.startswith("win"):  # pragma: no cover - Windows only
        return _win_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PROCESS_QUERY_LIMITED_INFORMATION = 0x1000


STILL_ACTIVE = 259


ERROR_ACCESS_DENIED = 5

# kernel32 (a ctypes.WinDLL, a CDLL) with its argument types declared, and the call that reads the last error.
Kernel32 = tuple["ctypes.CDLL", Callable[[], int]]


def _kernel32() -> Kernel32:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # tells the type checker too that ctypes.WinDLL exists below
        raise OSError("kernel32 exists only on Windows")
    k = ctypes.WinDLL("kernel32", use_last_error=True)
    k.OpenProcess.restype = wintypes.HANDLE
    k.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    k.GetExitCodeProcess.restype = wintypes.BOOL
    k.GetExitCodeProcess.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
    k.CloseHandle.argtypes = [wintypes.HANDLE]
    return k, ctypes.get_last_error


def _win_pid_alive(pid: int, api: Kernel32 | None = None) -> bool:
    """OpenProcess + GetExitCodeProcess: no /proc and no signals on Windows.

    A process we may not open (another user's, an elevated one) exists all the
    same; a process that ended but is still held open reports an exit code.
    """
    kernel32, last_error = api or _kernel32()
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return last_error() == ERROR_ACCESS_DENIED
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True  # it is there; what it is doing we cannot tell
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
