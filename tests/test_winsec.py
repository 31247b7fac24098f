"""The owner-only ACL on Windows, run on any OS: a stand-in for advapi32/kernel32 with ctypes' calling
convention answers, and the calls' shape is checked. `scripts/windows-lane` runs the same paths on Windows
CPython under Wine. The other Windows code paths are tested with their modules: test_private_files,
test_processes, test_console, test_crashpoint, checks/test_audit, samples/test_installs."""

from __future__ import annotations

import ctypes

import pytest

from cursor_byok import winsec
from cursor_byok.errors import OutputRefused

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
