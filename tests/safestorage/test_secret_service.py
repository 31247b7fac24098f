"""v11 keys decoded through a real Secret Service (gnome-keyring on a private D-Bus).

The command runs as a real subprocess, exactly as a user would run it, with
DBUS_SESSION_BUS_ADDRESS pointing at the private bus.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.leaks import sha12
from helpers.secret_service import PrivateSecretService
from helpers.tools import require_module, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a real gnome-keyring daemon on its own D-Bus

ROW_SLOTS = {"openai.key": ("openai", "key"), "anthropic.key": ("anthropic", "key"), "google.key": ("google", "key")}


@pytest.fixture
def keyring_service(tmp_path, clean_env):
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        require_tool(tool)
    require_module("secretstorage")
    with PrivateSecretService(tmp_path / "keyring-home") as service:
        yield service


def cursor_byok(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cursor_byok", *args], capture_output=True, text=True, env=env, timeout=120
    )


def list_json(env: dict, udd, *options: str, code: int = 0) -> dict:
    """`list --json`; code 7 when keys cannot be decrypted (the document still prints)."""
    proc = cursor_byok(env, "--user-data-dir", str(udd), *options, "list", "--json")
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def where_status(env: dict, udd) -> str:
    proc = cursor_byok(env, "--user-data-dir", str(udd), "--safe-storage", "secret-service", "where", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["installations"][0]["safe_storage"]["status"]


def assert_decoded(doc: dict, sample, label: str = "secret-service") -> None:
    for field, (provider, slot) in ROW_SLOTS.items():
        key = doc["providers"][provider][slot]
        assert key["storage"] == label, key
        assert key["fingerprint"] == sha12(sample.keys[field])


def test_list_decodes_v11_rows_through_the_keyring(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11")
    keyring_service.store_password(sample.sample.secret)
    doc = list_json(keyring_service.env, sample.udd, "--safe-storage", "secret-service")
    assert_decoded(doc, sample)
    assert doc["notes"] == []
    (extra,) = doc["extra_secrets"]
    assert extra["key"]["fingerprint"] == sha12(sample.extras["mistralKey"])
    assert "value" not in doc["providers"]["openai"]["key"]


def test_reveal_gives_the_original_values(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11", seed=11)
    keyring_service.store_password(sample.sample.secret)
    proc = cursor_byok(
        keyring_service.env,
        "--user-data-dir",
        str(sample.udd),
        "--safe-storage",
        "secret-service",
        "list",
        "--json",
        "--reveal",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for field, (provider, slot) in ROW_SLOTS.items():
        assert doc["providers"][provider][slot]["value"] == sample.keys[field]


def test_auto_on_a_gnome_desktop_uses_the_keyring(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11")
    keyring_service.store_password(sample.sample.secret)
    env = {**keyring_service.env, "XDG_CURRENT_DESKTOP": "GNOME"}
    assert_decoded(list_json(env, sample.udd), sample)


def test_lower_case_application_is_a_fallback(keyring_service, make_sample_dir):
    require_tool("secret-tool")
    sample = make_sample_dir("v11")
    keyring_service.store_with_secret_tool(sample.sample.secret, application="cursor")
    assert_decoded(list_json(keyring_service.env, sample.udd, "--safe-storage", "secret-service"), sample)


def test_where_reports_whether_the_item_is_present(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11")
    assert where_status(keyring_service.env, sample.udd) == "reachable, no Cursor item"
    keyring_service.store_password(sample.sample.secret)
    assert where_status(keyring_service.env, sample.udd) == "reachable, item present"


def test_no_item_leaves_keys_undecryptable_with_a_reason(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11")
    doc = list_json(keyring_service.env, sample.udd, "--safe-storage", "secret-service", code=7)
    key = doc["providers"]["openai"]["key"]
    assert key["storage"] == "undecryptable"
    assert "no Cursor password in the Secret Service" in key["reason"]
    assert doc["providers"]["azure"]["key"]["storage"] == "settings-json"


def test_another_machines_password_does_not_decrypt(keyring_service, make_sample_dir):
    sample = make_sample_dir("v11")
    keyring_service.store_password(b"this-is-another-machine")
    doc = list_json(keyring_service.env, sample.udd, "--safe-storage", "secret-service", code=7)
    for provider, slot in ROW_SLOTS.values():
        assert doc["providers"][provider][slot]["storage"] == "undecryptable"
    assert any("cannot decrypt" in note for note in doc["notes"])


def test_unreachable_secret_service_is_reported(make_sample_dir, clean_env, tmp_path):
    require_module("secretstorage")
    sample = make_sample_dir("v11")
    env = {**clean_env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus"}
    assert where_status(env, sample.udd).startswith("unreachable")
    doc = list_json(env, sample.udd, "--safe-storage", "secret-service", code=7)
    assert "Secret Service unreachable" in doc["providers"]["google"]["key"]["reason"]


# --- the skip / fail rule for outside tools -------------------------------------------------


def test_missing_tool_skips_unless_required(monkeypatch):
    monkeypatch.delenv("CURSOR_BYOK_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-cbk"):
        require_tool("no-such-tool-cbk")
    monkeypatch.setenv("CURSOR_BYOK_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="CURSOR_BYOK_REQUIRE_TOOLS"):
        require_tool("no-such-tool-cbk")
    assert require_tool("sh").endswith("/sh")
