"""The macOS Keychain through the `security` tool, which a stand-in answers here."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import keychain
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage


class FakeSecurity:
    """Stands in for /usr/bin/security: records the command, answers like it."""

    def __init__(self, returncode: int, stdout: bytes = b"") -> None:
        self.returncode, self.stdout, self.calls = returncode, stdout, []

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        return SimpleNamespace(returncode=self.returncode, stdout=self.stdout, stderr=b"")


class ScriptedSecurity(FakeSecurity):
    """Answers each call with the next (returncode, stdout) pair."""

    def __init__(self, *answers) -> None:
        super().__init__(0)
        self.answers = list(answers)

    def __call__(self, cmd, **kw):
        self.returncode, self.stdout = self.answers.pop(0)
        return super().__call__(cmd, **kw)


def test_keychain_returns_the_password_as_stored():
    fake = FakeSecurity(0, b"Qm9ndXNQYXNzd29yZDEyMw==\n")
    assert keychain.fetch_keychain(run=fake) == b"Qm9ndXNQYXNzd29yZDEyMw=="
    assert fake.calls == [["security", "find-generic-password", "-s", "Cursor Safe Storage", "-a", "Cursor Key", "-w"]]


def test_keychain_falls_back_to_the_service_alone_when_the_account_is_not_found():
    fake = ScriptedSecurity((44, b""), (0, b"old-electron-item\n"))
    assert keychain.fetch_keychain(run=fake) == b"old-electron-item"
    assert [c[3:-1] for c in fake.calls] == [["Cursor Safe Storage", "-a", "Cursor Key"], ["Cursor Safe Storage"]]


def test_keychain_asks_once_when_the_user_denies():
    fake = ScriptedSecurity((128, b""), (0, b"never-asked"))
    with pytest.raises(SafeStorageUnavailable, match="exit 128"):
        keychain.fetch_keychain(run=fake)
    assert len(fake.calls) == 1


def test_keychain_denied_or_missing():
    with pytest.raises(SafeStorageUnavailable, match="exit 44"):
        keychain.fetch_keychain(run=FakeSecurity(44))


def test_keychain_tool_missing():
    def missing(cmd, **kw):
        raise FileNotFoundError(2, "No such file or directory", "security")

    with pytest.raises(SafeStorageUnavailable, match="security"):
        keychain.fetch_keychain(run=missing)


def test_keychain_timeout():
    def slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    with pytest.raises(SafeStorageUnavailable):
        keychain.fetch_keychain(run=slow)


def test_keychain_probe_never_asks_for_the_secret():
    fake = FakeSecurity(0)
    assert keychain.probe_keychain(run=fake) == "reachable, item present"
    assert "-w" not in fake.calls[0]
    assert keychain.probe_keychain(run=FakeSecurity(44)) == "reachable, no Cursor item"


def test_macos_rows_decode_with_the_keychain_password():
    password = b"Y2hyb21lLXNhbXBsZS1wdw=="  # 24 ASCII characters, used as is
    blob = ss.macos_codec(password).encrypt("sk-proj-macos")
    storage = SafeStorage(
        env={},
        platform="darwin",
        fetchers={"keychain": lambda: keychain.fetch_keychain(run=FakeSecurity(0, password + b"\n"))},
    )
    assert storage.decrypt(blob) == ("sk-proj-macos", "keychain")
