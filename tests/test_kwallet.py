"""The KWallet path against a stand-in kwalletd on a private D-Bus session (tests/fake_kwallet.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_module, require_tool
from secret_service import PrivateSecretService, StartFailed

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import kwallet as kwallet_mod
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

pytestmark = pytest.mark.integration
FAKE = Path(__file__).with_name("fake_kwallet.py")
PASSWORD = "kwallet-machine-password"


class PrivateKWallet(PrivateSecretService):
    """A private session bus with the stand-in kwalletd instead of gnome-keyring."""

    def __init__(self, home: Path, config: dict) -> None:
        super().__init__(home)
        self.config = config
        self.fake: subprocess.Popen | None = None

    def _start_keyring(self) -> None:
        self.fake = self._spawn(
            [sys.executable, str(FAKE), self.address, json.dumps(self.config)], stdout=subprocess.PIPE, text=True
        )

    def _wait_until_ready(self) -> None:
        line = self.fake.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise StartFailed(f"fake kwalletd did not start (exit {self.fake.poll()})")

    def calls(self) -> list[dict]:
        """Every call the stand-in answered so far (it prints one JSON line per call)."""
        self.fake.terminate()
        self.fake.wait(timeout=10)
        return [json.loads(line) for line in self.fake.stdout.read().splitlines()]


@pytest.fixture
def kwallet(tmp_path, clean_env, monkeypatch):
    require_tool("dbus-daemon")
    require_module("jeepney")
    started = []

    def start(**config) -> PrivateKWallet:
        service = PrivateKWallet(tmp_path / f"kwallet-home-{len(started)}", config)
        service.__enter__()
        started.append(service)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.mark.parametrize("service", ["org.kde.kwalletd6", "org.kde.kwalletd5"])
def test_the_chromium_entry_is_read_first(kwallet, service):
    fake = kwallet(
        service=service,
        entries={"Chromium Keys/Chromium Safe Storage": PASSWORD, "Cursor Keys/Cursor Safe Storage": "async-api-only"},
    )
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()
    calls = fake.calls()
    assert [c["method"] for c in calls] == ["networkWallet", "open", "readPassword", "close"]
    assert calls[2]["args"][1:3] == ["Chromium Keys", "Chromium Safe Storage"]


def test_the_cursor_entry_is_the_fallback(kwallet):
    fake = kwallet(entries={"Cursor Keys/Cursor Safe Storage": PASSWORD})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()
    reads = [c["args"][1:3] for c in fake.calls() if c["method"] == "readPassword"]
    assert reads == [["Chromium Keys", "Chromium Safe Storage"], ["Cursor Keys", "Cursor Safe Storage"]]


def test_no_entry_says_what_to_do(kwallet):
    fake = kwallet(entries={})
    with pytest.raises(SafeStorageUnavailable, match="no Cursor password in KWallet"):
        kwallet_mod.fetch_kwallet()
    assert [c["method"] for c in fake.calls()][-1] == "close"  # the handle is given back


def test_a_refused_open_is_reported(kwallet):
    kwallet(refuse_open=True)
    with pytest.raises(SafeStorageUnavailable, match="refused to open the wallet"):
        kwallet_mod.fetch_kwallet()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["networkWallet", "open", "readPassword"])
def test_a_hung_kwalletd_times_out_instead_of_hanging(kwallet, monkeypatch, method):
    monkeypatch.setattr(kwallet_mod, "KWALLET_TIMEOUT_S", 0.5)
    monkeypatch.setattr(kwallet_mod, "KWALLET_OPEN_TIMEOUT_S", 0.5)
    kwallet(hang=method, entries={"Chromium Keys/Chromium Safe Storage": PASSWORD})
    started = time.monotonic()
    with pytest.raises(SafeStorageUnavailable, match=f"did not answer {method}"):
        kwallet_mod.fetch_kwallet()
    assert time.monotonic() - started < 30  # bounded, not the hour the stand-in sleeps


def test_probe_reports_a_kwalletd_that_answers(kwallet):
    kwallet(service="org.kde.kwalletd5")
    assert kwallet_mod.probe_kwallet() == "reachable (org.kde.kwalletd5)"


@pytest.mark.slow
def test_probe_does_not_hang_on_a_hung_kwalletd(kwallet):
    kwallet(hang="networkWallet")
    assert kwallet_mod.probe_kwallet() == "unreachable (org.kde.kwalletd6 does not answer)"


def test_probe_without_kwalletd(kwallet):
    fake = kwallet(service="org.example.not-kwallet")
    assert kwallet_mod.probe_kwallet() == "unreachable (no kwalletd on the session bus)"
    assert fake.calls() == []


def test_v11_rows_decode_through_kwallet_end_to_end(kwallet):
    kwallet(entries={"Chromium Keys/Chromium Safe Storage": PASSWORD})
    storage = SafeStorage(SafeStorageConfig("kwallet"), env={"HOME": "/nonexistent"}, platform="linux")
    blob = ss.linux_keyring_codec(PASSWORD.encode()).encrypt("sk-kwallet-sample-value")
    assert storage.decrypt(blob) == ("sk-kwallet-sample-value", "kwallet")
