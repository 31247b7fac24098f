"""Windows code paths, run on any OS: no POSIX-only calls, UTF-8 pipes, PID checks, ACLs, crash points.

Where the code calls the Win32 API (ctypes), a stand-in with the same calling
convention answers; the rest runs for real. `scripts/windows-lane` runs the
same paths on Windows CPython under Wine.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import cli_runner

from cursor_byok import crashpoint, processes, winsec
from cursor_byok import private_files as files
from cursor_byok.checks import audit
from cursor_byok.cursor import paths as locate
from cursor_byok.errors import OutputRefused
from cursor_byok.samples import installs as sample

# --- no POSIX-only call on the write path ----------------------------------------------


@pytest.fixture
def windows_files(monkeypatch):
    """files.py as on Windows: no os.getuid, and every owner-only ACL call recorded."""
    calls: list[tuple[Path, bool, bytes | None]] = []

    def record(path, *, folder):
        path = Path(path)
        calls.append((path, folder, None if folder else path.read_bytes()))

    monkeypatch.delattr(os, "getuid", raising=False)
    monkeypatch.delattr(os, "geteuid", raising=False)
    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(winsec, "make_private", record)
    return calls


def test_private_dir_and_file_without_getuid_get_an_owner_acl(tmp_path, windows_files):
    target = tmp_path / "a" / "b"
    files.ensure_private_dir(target)
    written = files.write_private(target / "bundle.age", b"secret bytes")

    assert written.read_bytes() == b"secret bytes"
    assert [(p, folder) for p, folder, _ in windows_files[:2]] == [(tmp_path / "a", True), (target, True)]
    temp, folder, content = windows_files[2]
    assert temp.parent == target and temp.name.startswith(".bundle.age.") and not folder
    assert content == b"", "the ACL must be set before the first byte is written"
    assert files.remove_stale_temps(target) == []


def test_existing_folder_is_left_alone_on_windows(tmp_path, windows_files):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    files.ensure_private_dir(folder)
    assert windows_files == [] and (folder.stat().st_mode & 0o777) == 0o755


def test_refused_acl_leaves_nothing_behind(tmp_path, monkeypatch):
    def refuse(path, *, folder):
        raise OutputRefused(f"{path}: cannot make it private to you")

    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(winsec, "make_private", refuse)
    out = tmp_path / "out"  # tmp_path itself also holds the test's HOME
    out.mkdir()
    with pytest.raises(OutputRefused):
        files.write_private(out / "keys.age", b"data")
    with pytest.raises(OutputRefused):
        files.ensure_private_dir(out / "data" / "journals")
    assert list(out.iterdir()) == []


def test_write_commands_run_without_getuid(make_sample_dir, clean_env, tmp_path, windows_files, monkeypatch):
    """`set` (journal folder, journal file, database write) on a platform without os.getuid."""
    sd = make_sample_dir("plaintext")
    data = tmp_path / "tool-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    monkeypatch.setenv("NEW_KEY", "sk-proj-" + "A" * 40)
    res = cli_runner().invoke(
        __import__("cursor_byok.cli").cli.main,
        ["--user-data-dir", str(sd.udd), "set", "openai", "--key-env", "NEW_KEY", "--yes"],
    )
    assert res.exit_code == 0, res.output + res.stderr
    journals = [p for p, folder, _ in windows_files if not folder]
    assert journals and all(p.parent.parent == data for p in journals)
    assert data in [p for p, folder, _ in windows_files if folder]


# --- the owner-only ACL: call shape against a stand-in for advapi32/kernel32 -------------

PSEUDO_PROCESS = 0xFFFFFFFFFFFFFFFF
TOKEN = 0x2C
ACL = 0x7F00
SID = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + (1001).to_bytes(4, "little") * 4


class FakeWin32:
    """advapi32 + kernel32 as ctypes hands them arguments; answers as Windows documents."""

    def __init__(self, *, token_ok=True, set_entries=0, set_named=0):
        self.token_ok, self.set_entries_err, self.set_named_err = token_ok, set_entries, set_named
        self.sid = ctypes.create_string_buffer(SID, len(SID))
        self.calls: list[tuple] = []
        self.advapi32, self.kernel32 = self, self

    def last_error(self):
        return 5

    def GetCurrentProcess(self):
        return PSEUDO_PROCESS

    def OpenProcessToken(self, process, access, token_ref):
        self.calls.append(("OpenProcessToken", process, access))
        if not self.token_ok:
            return 0
        token_ref._obj.value = TOKEN
        return 1

    def GetTokenInformation(self, token, klass, buf, size, needed_ref):
        self.calls.append(("GetTokenInformation", token.value, klass, size))
        assert size >= 16 + len(SID)
        ctypes.c_void_p.from_buffer(buf).value = ctypes.addressof(self.sid)  # TOKEN_USER.User.Sid
        needed_ref._obj.value = 16
        return 1

    def SetEntriesInAclW(self, count, entries_ref, old_acl, acl_ref):
        ea = entries_ref._obj
        sid = ctypes.string_at(ea.Trustee.ptstrName, len(SID))
        self.calls.append(
            ("SetEntriesInAclW", count, ea.grfAccessPermissions, ea.grfAccessMode, ea.grfInheritance)
            + (ea.Trustee.TrusteeForm, ea.Trustee.TrusteeType, ea.Trustee.pMultipleTrustee, sid, old_acl)
        )
        if self.set_entries_err:
            return self.set_entries_err
        acl_ref._obj.value = ACL
        return 0

    def SetNamedSecurityInfoW(self, name, kind, info, owner, group, dacl, sacl):
        self.calls.append(("SetNamedSecurityInfoW", name, kind, info, owner, group, dacl.value, sacl))
        return self.set_named_err

    def LocalFree(self, mem):
        self.calls.append(("LocalFree", mem.value))

    def CloseHandle(self, handle):
        self.calls.append(("CloseHandle", handle.value))
        return 1

    def names(self):
        return [c[0] for c in self.calls]


@pytest.mark.parametrize("folder, inherit", [(False, 0), (True, 3)])
def test_make_private_sets_one_owner_ace_and_cuts_inheritance(tmp_path, folder, inherit):
    api = FakeWin32()
    winsec.make_private(tmp_path / "x", folder=folder, api=api)
    assert api.calls == [
        ("OpenProcessToken", PSEUDO_PROCESS, 0x0008),  # TOKEN_QUERY
        ("GetTokenInformation", TOKEN, 1, winsec.TOKEN_USER_BUFFER),  # TokenUser
        ("CloseHandle", TOKEN),
        # one ACE: FILE_ALL_ACCESS, SET_ACCESS, for the token's own SID; no old ACL merged in
        ("SetEntriesInAclW", 1, 0x1F01FF, 2, inherit, 0, 1, None, SID, None),
        # DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION: nothing inherited from the folder
        ("SetNamedSecurityInfoW", str(tmp_path / "x"), 1, 0x80000004, None, None, ACL, None),
        ("LocalFree", ACL),
    ]


def test_make_private_failure_refuses_and_frees(tmp_path):
    api = FakeWin32(set_named=5)  # ERROR_ACCESS_DENIED
    with pytest.raises(OutputRefused, match=r"cannot make it private.*SetNamedSecurityInfoW.*Windows error 5"):
        winsec.make_private(tmp_path / "x", folder=False, api=api)
    assert api.names()[-1] == "LocalFree"


@pytest.mark.parametrize("err", winsec.NO_ACL_SUPPORT)
def test_make_private_on_a_drive_without_acls_goes_on(tmp_path, err):
    api = FakeWin32(set_named=err)
    winsec.make_private(tmp_path / "x", folder=False, api=api)
    assert api.names()[-1] == "LocalFree"


def test_make_private_stops_when_the_token_cannot_be_read(tmp_path):
    api = FakeWin32(token_ok=False)
    with pytest.raises(OutputRefused, match="OpenProcessToken failed, Windows error 5"):
        winsec.make_private(tmp_path / "x", folder=True, api=api)
    assert api.names() == ["OpenProcessToken"]


def test_make_private_entries_failure_frees_nothing_it_did_not_get(tmp_path):
    api = FakeWin32(set_entries=87)
    with pytest.raises(OutputRefused, match="SetEntriesInAclW failed, Windows error 87"):
        winsec.make_private(tmp_path / "x", folder=True, api=api)
    assert "SetNamedSecurityInfoW" not in api.names() and "LocalFree" not in api.names()


# --- process detection without /proc --------------------------------------------------------


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


# --- crash points without SIGKILL -------------------------------------------------------------


def test_crash_point_without_sigkill_ends_the_process_at_once(tmp_path):
    log = tmp_path / "points.log"
    code = (
        "import signal, sys\n"
        "del signal.SIGKILL\n"  # as on Windows
        "from cursor_byok import crashpoint\n"
        "crashpoint.arm(at=1, log=sys.argv[1])\n"
        "try:\n"
        "    crashpoint.hit('first')\n"
        "finally:\n"
        "    print('cleanup ran')\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=60)
    assert run.returncode == crashpoint.CRASH_EXIT == 137
    assert run.stdout == "" and log.read_text() == "1 first\n"


# --- UTF-8 on pipes and files ------------------------------------------------------------------


class Stream(io.TextIOWrapper):
    def __init__(self, encoding, errors="strict", tty=False):
        super().__init__(io.BytesIO(), encoding=encoding, errors=errors)
        self.tty = tty

    def isatty(self):
        return self.tty


def test_a_cp1252_pipe_becomes_utf8_and_keeps_its_error_handler():
    from cursor_byok.console import utf8_unless_console

    out, err, tty = Stream("cp1252"), Stream("cp1252", "backslashreplace"), Stream("cp1252", tty=True)
    for s in (out, err, tty):
        utf8_unless_console(s)
    assert (out.encoding, err.encoding, err.errors, tty.encoding) == ("utf-8", "utf-8", "backslashreplace", "cp1252")
    out.write("通义-qwen✓ sk-…AB")
    out.flush()
    assert out.buffer.getvalue().decode("utf-8") == "通义-qwen✓ sk-…AB"


def test_cli_output_is_utf8_on_a_cp1252_pipe(make_sample_dir, clean_env, tmp_path):
    """Windows gives pipes cp1252; PYTHONIOENCODING=cp1252 does the same here."""
    sd = make_sample_dir("plaintext")
    env = {**clean_env, "PYTHONIOENCODING": "cp1252", "CURSOR_BYOK_DATA_DIR": str(tmp_path / "data")}
    base = [sys.executable, "-m", "cursor_byok", "--user-data-dir", str(sd.udd)]
    added = subprocess.run([*base, "models", "add", "通义-qwen✓", "--yes"], env=env, capture_output=True, timeout=120)
    assert added.returncode == 0, added.stderr
    assert "通义-qwen✓" in added.stdout.decode("utf-8")
    listed = subprocess.run([*base, "list", "--json"], env=env, capture_output=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout.decode("utf-8"))
    assert "…" in doc["providers"]["openai"]["key"]["masked"]
    assert "通义-qwen✓" in listed.stdout.decode("utf-8")


# --- advice and samples ------------------------------------------------------------------------


def test_windows_advice_never_says_chmod(monkeypatch):
    assert "chmod 600" in audit.fix_for("key-plaintext", "linux")
    for code in audit.CODES:
        assert "chmod" not in audit.fix_for(code, "win32"), code
    monkeypatch.setattr(sys, "platform", "win32")
    assert "chmod" not in audit.finding("key-plaintext", "openai.key", "plain").fix


def test_sample_protects_the_local_state_key_with_dpapi_on_windows(monkeypatch):
    import base64

    from cursor_byok.safestorage import dpapi

    key = bytes(range(32))
    monkeypatch.setattr(dpapi, "win_protect", lambda data: b"\x01\x00\x00\x00protected:" + data[::-1])
    blob = base64.b64decode(sample.dpapi_encrypted_key(key, platform="win32"))
    assert blob == b"DPAPI\x01\x00\x00\x00protected:" + key[::-1]
    assert base64.b64decode(sample.dpapi_encrypted_key(key, platform="linux")) == b"DPAPIfake:" + key
