"""The KWallet backend (--safe-storage kwallet) against a real kwalletd5 on a private D-Bus session.

tests/helpers/kwalletd.py runs the daemon headless, its wallet unlocked the way pam_kwallet does. The commands run as
real subprocesses with DBUS_SESSION_BUS_ADDRESS pointing at the private bus. The daemon's own states give the
failures: a wallet nobody unlocked (`open` waits for a password dialog that never shows), an application the
user denied for good (`[Auto Deny]` in kwalletrc: `open` answers -1), and a stopped process (SIGSTOP: it keeps
its bus name and answers nothing, as a hung kwalletd does). Only the kwalletd6 name needs a stand-in
(tests/helpers/fake_kwallet.py says why).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
from helpers.children import read_line
from helpers.tools import require_module, require_tool
from helpers.transfer import SAMPLE_ENDPOINTS, expected_values, identity, make_target, revealed, stored_keys

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import kwallet as kwallet_mod
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

pytestmark = pytest.mark.integration
STAND_IN = Path(helpers.__file__).with_name("fake_kwallet.py")
PASSWORD = "kwallet-machine-password"
CHROMIUM = ("Chromium Keys", "Chromium Safe Storage")
CURSOR = ("Cursor Keys", "Cursor Safe Storage")
ROW_SLOTS = {"openai.key": ("openai", "key"), "anthropic.key": ("anthropic", "key"), "google.key": ("google", "key")}
STAND_IN_DEADLINE_S = 30.0


@pytest.fixture
def kwallet(tmp_path, clean_env, monkeypatch):
    """Factory: a real kwalletd5 on its own session bus; this process's session bus becomes that one."""
    for tool in ("dbus-daemon", "kwalletd5"):
        require_tool(tool)
    require_module("jeepney")
    from helpers.kwalletd import PrivateKWalletd

    started = []

    def start(**kw) -> PrivateKWalletd:
        daemon = PrivateKWalletd(tmp_path / f"kwallet-home-{len(started)}", **kw)
        started.append(daemon)
        daemon.__enter__()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.address)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def bare_bus(tmp_path, clean_env, monkeypatch):
    """A private session bus with no kwalletd on it."""
    require_tool("dbus-daemon")
    require_module("jeepney")
    from helpers.kwalletd import PrivateBus

    with PrivateBus(tmp_path / "bus-home") as bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        yield bus


def cursor_byok(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cursor_byok", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def start_kwalletd6_stand_in(service, entries: dict[tuple[str, str], str]) -> subprocess.Popen:
    """tests/helpers/fake_kwallet.py as org.kde.kwalletd6 on `service`'s bus (stopped with it)."""
    config = json.dumps({f"{folder}/{entry}": value for (folder, entry), value in entries.items()})
    proc = service._spawn([sys.executable, str(STAND_IN), service.address, config], stdout=subprocess.PIPE)
    line = read_line(proc, STAND_IN_DEADLINE_S)
    if not line or not json.loads(line).get("ready"):
        raise AssertionError(f"the kwalletd6 stand-in did not start within {STAND_IN_DEADLINE_S:.0f} s ({proc.poll()})")
    return proc


# --- the commands, through a real kwalletd5 ----------------------------------------------------------------


@pytest.mark.slow
def test_list_decodes_v11_rows_through_a_real_kwallet(kwallet, make_sample_dir):
    sample = make_sample_dir("v11")
    daemon = kwallet()
    daemon.store_cursor_password(sample.sample.secret.decode())
    proc = cursor_byok(daemon.env, "--user-data-dir", sample.udd, "--safe-storage", "kwallet", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for provider, slot in ROW_SLOTS.values():
        assert doc["providers"][provider][slot]["storage"] == "kwallet"
    assert revealed_values(daemon.env, sample.udd) == expected_values(sample)
    assert doc["notes"] == []


def revealed_values(env: dict, udd: Path) -> dict[str, str]:
    proc = cursor_byok(env, "--user-data-dir", udd, "--safe-storage", "kwallet", "list", "--json", "--reveal")
    assert proc.returncode == 0, proc.stderr
    return revealed(json.loads(proc.stdout))


@pytest.mark.slow
def test_export_and_import_between_two_machines_with_real_kwallets(kwallet, make_sample_dir, tmp_path):
    source = make_sample_dir("v11", seed=11)
    old_laptop = kwallet()
    old_laptop.store_cursor_password(source.sample.secret.decode())
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "keys.age"
    args = ("--user-data-dir", source.udd, "--safe-storage", "kwallet", "export", "-o", bundle, "-r", recipient)
    exported = cursor_byok(old_laptop.env, *args)
    assert exported.returncode == 0, exported.stderr

    target = make_target(make_sample_dir, "v11")
    new_laptop = kwallet()
    new_laptop.store_cursor_password(target.sample.secret.decode())
    args = ("--user-data-dir", target.udd, "--safe-storage", "kwallet", "import", bundle, "-i", ident, "--yes",
            *SAMPLE_ENDPOINTS)  # fmt: skip
    imported = cursor_byok(new_laptop.env, *args)
    assert imported.returncode == 0, imported.stderr

    wanted = {**expected_values(source), "extra.deepseekKey": target.extras["deepseekKey"]}
    assert revealed_values(new_laptop.env, target.udd) == wanted
    # The new rows are encrypted with the new machine's password, checked without cursor_byok's codecs:
    assert {f: v for f, v in stored_keys(target).items() if f in source.keys} == source.keys


@pytest.mark.slow
def test_where_reports_the_real_kwallet(kwallet, make_sample_dir):
    sample = make_sample_dir("v11")
    daemon = kwallet()
    proc = cursor_byok(daemon.env, "--user-data-dir", sample.udd, "--safe-storage", "kwallet", "where", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["installations"][0]["safe_storage"]["status"] == "reachable (org.kde.kwalletd5)"


@pytest.mark.slow
def test_v11_rows_decode_through_kwallet_end_to_end(kwallet):
    kwallet().store_cursor_password(PASSWORD)
    storage = SafeStorage(SafeStorageConfig("kwallet"), env={"HOME": "/nonexistent"}, platform="linux")
    blob = ss.linux_keyring_codec(PASSWORD.encode()).encrypt("sk-kwallet-sample-value")
    assert storage.decrypt(blob) == ("sk-kwallet-sample-value", "kwallet")


# --- which entry --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_chromium_entry_is_read_first(kwallet):
    kwallet().write_passwords({CURSOR: "async-api-only", CHROMIUM: PASSWORD})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()


@pytest.mark.slow
def test_the_cursor_entry_is_the_fallback(kwallet):
    kwallet().write_passwords({CURSOR: PASSWORD, ("Passwords", "unrelated"): "not-this"})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()


@pytest.mark.slow
def test_no_entry_says_what_to_do_and_gives_the_wallet_back(kwallet):
    daemon = kwallet()
    daemon.write_passwords({("Passwords", "unrelated"): "not-this"})
    with pytest.raises(SafeStorageUnavailable, match="no Cursor password in KWallet"):
        kwallet_mod.fetch_kwallet()
    assert kwallet_mod.KWALLET_APP not in daemon.users()  # the handle was closed


@pytest.mark.slow
def test_a_refused_open_is_reported(kwallet):
    kwallet(kwalletrc=f"[Auto Deny]\nkdewallet={kwallet_mod.KWALLET_APP}\n")  # the user chose "deny forever"
    with pytest.raises(SafeStorageUnavailable, match="refused to open the wallet"):
        kwallet_mod.fetch_kwallet()


# --- a kwalletd that does not answer ---------------------------------------------------------------------


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(kwallet_mod, "KWALLET_TIMEOUT_S", 0.5)
    monkeypatch.setattr(kwallet_mod, "KWALLET_OPEN_TIMEOUT_S", 0.5)


@pytest.mark.slow
def test_a_hung_kwalletd_times_out_on_its_first_call(kwallet, short_timeouts):
    daemon = kwallet()
    daemon.store_cursor_password(PASSWORD)
    daemon.pause()
    assert_times_out("networkWallet")


@pytest.mark.slow
def test_a_locked_wallet_times_out_on_open_instead_of_waiting_for_a_dialog(kwallet, short_timeouts):
    daemon = kwallet(unlock=False)  # headless, kwalletd5 waits for a password dialog nobody can answer
    assert_times_out("open")
    assert daemon.call("networkWallet") == "kdewallet"  # it is alive, only waiting


@pytest.mark.slow
def test_a_kwalletd_that_hangs_while_reading_times_out(kwallet, short_timeouts, monkeypatch):
    daemon = kwallet()
    daemon.store_cursor_password(PASSWORD)
    real_call = kwallet_mod._KWallet.call

    def call(self, method, *args, **kw):
        if method == "readPassword":
            daemon.pause()
        return real_call(self, method, *args, **kw)

    monkeypatch.setattr(kwallet_mod._KWallet, "call", call)
    assert_times_out("readPassword")


def assert_times_out(method: str) -> None:
    started = time.monotonic()
    with pytest.raises(SafeStorageUnavailable, match=f"did not answer {method}"):
        kwallet_mod.fetch_kwallet()
    assert time.monotonic() - started < 30  # bounded by the timeouts, not by the daemon


# --- probe ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_probe_reports_a_kwalletd_that_answers(kwallet):
    kwallet()
    assert kwallet_mod.probe_kwallet() == "reachable (org.kde.kwalletd5)"


@pytest.mark.slow
def test_probe_does_not_hang_on_a_hung_kwalletd(kwallet):
    kwallet().pause()
    started = time.monotonic()
    assert kwallet_mod.probe_kwallet() == "unreachable (org.kde.kwalletd5 does not answer)"
    assert time.monotonic() - started < 30


def test_probe_without_kwalletd(bare_bus):
    assert kwallet_mod.probe_kwallet() == "unreachable (no kwalletd on the session bus)"


def test_without_kwalletd_fetch_says_so(bare_bus):
    with pytest.raises(SafeStorageUnavailable, match="no Cursor password in KWallet"):
        kwallet_mod.fetch_kwallet()


# --- kwalletd6 (a stand-in: no kwalletd6 runs here) ------------------------------------------------------


def test_kwalletd6_alone_is_used(bare_bus):
    start_kwalletd6_stand_in(bare_bus, {CHROMIUM: PASSWORD})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()
    assert kwallet_mod.probe_kwallet() == "reachable (org.kde.kwalletd6)"


@pytest.mark.slow
def test_kwalletd6_is_asked_before_kwalletd5(kwallet):
    daemon = kwallet()
    daemon.store_cursor_password("from-kwalletd5")
    start_kwalletd6_stand_in(daemon, {CHROMIUM: PASSWORD})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()


@pytest.mark.slow
def test_kwalletd5_answers_when_kwalletd6_holds_no_entry(kwallet):
    daemon = kwallet()
    daemon.store_cursor_password(PASSWORD)
    start_kwalletd6_stand_in(daemon, {})
    assert kwallet_mod.fetch_kwallet() == PASSWORD.encode()


# --- the harness itself ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_call_the_daemon_never_answers_fails_with_what_it_printed(kwallet):
    from helpers.kwalletd import KWalletdFailed

    daemon = kwallet(unlock=False)
    started = time.monotonic()
    with pytest.raises(
        KWalletdFailed, match="(?s)did not answer open within 1 s; kwalletd5 printed:\n.*without parent window"
    ):
        daemon.call("open", "sxs", "kdewallet", 0, "tests", timeout=1)
    assert time.monotonic() - started < 10
