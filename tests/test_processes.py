"""Whether a process runs, on Windows (OpenProcess and GetExitCodeProcess answered by a stand-in, on any OS):
no /proc, a code.lock's PID checked, a stale lock told apart."""

from __future__ import annotations

import sys

import pytest

from cursor_byok import processes
from cursor_byok.cursor import paths as locate


class FakeKernel32:
    """OpenProcess / GetExitCodeProcess / CloseHandle for a table of pids."""

    def __init__(self, procs: dict[int, int | None], error: int = 87):
        self.procs, self.error, self.closed = procs, error, []

    def OpenProcess(self, access, inherit, pid):
        assert access == 0x1000 and not inherit  # PROCESS_QUERY_LIMITED_INFORMATION, not inheritable
        return 0x100 + pid if pid in self.procs else 0

    def GetExitCodeProcess(self, handle, code_ref):
        code = self.procs[handle - 0x100]
        if code is None:
            return 0
        code_ref._obj.value = code
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle)
        return 1


@pytest.mark.parametrize(
    "procs, error, alive",
    [
        ({42: 259}, 87, True),  # STILL_ACTIVE
        ({42: 0}, 87, False),  # ended, handle still held somewhere
        ({}, 87, False),  # ERROR_INVALID_PARAMETER: no such process
        ({}, 5, True),  # ERROR_ACCESS_DENIED: exists, another user's
        ({42: None}, 87, True),  # opened but its state unreadable: treat as alive
    ],
)
def test_windows_pid_alive(procs, error, alive):
    k = FakeKernel32(procs, error)
    assert processes._win_pid_alive(42, api=(k, lambda: k.error)) is alive
    assert k.closed == ([0x100 + 42] if procs else [])


def test_code_lock_and_process_scan_on_windows(tmp_path, monkeypatch):
    udd = tmp_path / "Cursor"
    (udd / "User" / "globalStorage").mkdir(parents=True)
    (udd / "code.lock").write_text("4242")
    inst = locate.Installation(udd / "User" / "globalStorage" / "state.vscdb", udd, "--user-data-dir")
    k = FakeKernel32({4242: 259})
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(processes, "_kernel32", lambda: (k, lambda: 87))
    monkeypatch.setattr(locate, "_linux_processes", lambda proc: pytest.fail("scanned a /proc folder on Windows"))
    monkeypatch.setattr(locate, "_ps_processes", lambda: [])
    assert locate.cursor_running(inst, proc="/proc") == locate.Running(4242, "code.lock")
    k.procs = {4242: 1}  # Cursor exited with code 1: the lock is stale
    assert locate.cursor_running(inst, proc="/proc") is None
