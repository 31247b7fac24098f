"""`cursor-byok where` and `list`: the JSON shape, masking and --reveal (their errors: test_group.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import cli_runner as runner
from helpers.leaks import hidden_parts, sha12

from cursor_byok.cli import Exit, main
from cursor_byok.model import VENDOR_PREFIXES
from cursor_byok.providers import registry

PROVIDER_SHAPES = {
    "openai": {"configured", "enabled", "base_url", "key", "billing"},
    "anthropic": {"configured", "enabled", "key", "billing"},
    "google": {"configured", "enabled", "key", "billing"},
    "azure": {"configured", "enabled", "base_url", "deployment", "key", "billing"},
    "bedrock": {"configured", "enabled", "region", "access_key", "secret_key", "session_token", "iam_role", "billing"},
}
KEY_SHAPE = {"masked", "fingerprint", "storage", "format", "row"}
TOP_SHAPE = {"db", "user_data_dir", "providers", "extra_secrets", "models", "key_form", "notes"}
TOP_SHAPE |= {"cursor", "profile", "profiles", "output_version", "cursor_changed"}
JSON_SLOTS = {
    "openai.key": ("openai", "key"),
    "anthropic.key": ("anthropic", "key"),
    "google.key": ("google", "key"),
    "azure.key": ("azure", "key"),
    "bedrock.access_key": ("bedrock", "access_key"),
    "bedrock.secret_key": ("bedrock", "secret_key"),
}


def run(*args: str):
    return runner().invoke(main, list(args), catch_exceptions=False)


def options_for(sample, tmp_path: Path) -> list[str]:
    """Group options that decode this sample (auto = basic in the clean env)."""
    opts = ["--user-data-dir", str(sample.udd)]
    if sample.generation in ("v11", "macos", "windows"):
        opts += sample.password_options(tmp_path / "machine-secret")
    return opts


def expected_label(sample) -> str:
    return "password" if sample.generation in ("v11", "macos", "windows") else sample.expected_label


def list_json(sample, tmp_path, *extra: str) -> dict:
    result = run(*options_for(sample, tmp_path), "list", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


# --- list --json ------------------------------------------------------------------------


def test_list_json_shape(any_generation_dir, clean_env, tmp_path):
    doc = list_json(any_generation_dir, tmp_path)
    assert set(doc) == TOP_SHAPE
    assert list(doc["providers"]) == list(registry().names)
    for name, shape in PROVIDER_SHAPES.items():
        entry = doc["providers"][name]
        assert set(entry) == shape, name
        assert entry["configured"] is True and isinstance(entry["enabled"], bool)
    for provider, slot in JSON_SLOTS.values():
        assert set(doc["providers"][provider][slot]) == KEY_SHAPE
    assert doc["providers"]["bedrock"]["session_token"] is None
    assert set(doc["models"]) == {"user_added", "enabled", "disabled", "selected"}
    assert doc["models"]["selected"] == {"cmd-k": "gpt-4o", "composer": "claude-sonnet-4"}
    assert doc["user_data_dir"] == str(any_generation_dir.udd)
    assert doc["notes"] == []


def test_list_json_values(any_generation_dir, clean_env, tmp_path):
    sample = any_generation_dir
    doc = list_json(sample, tmp_path)
    p = doc["providers"]
    assert (p["openai"]["enabled"], p["openai"]["base_url"]) == (True, None)
    assert (p["azure"]["base_url"], p["azure"]["deployment"]) == ("https://contoso-ai.openai.azure.com", "gpt-4o-prod")
    assert (p["bedrock"]["region"], p["bedrock"]["iam_role"]) == ("us-east-1", False)
    assert doc["models"]["user_added"] == ["llama-3.1-70b", "qwen2.5-coder:32b"]
    assert doc["models"]["disabled"] == ["gpt-4.1-nano"]
    for field, (provider, slot) in JSON_SLOTS.items():
        key = p[provider][slot]
        assert key["format"] == "ok", field
        assert key["storage"] == ("settings-json" if provider in ("azure", "bedrock") else expected_label(sample))
    assert doc["key_form"] == ("plaintext" if sample.generation == "plaintext" else "secret")


def test_masked_and_fingerprint(any_generation_dir, clean_env, tmp_path):
    sample = any_generation_dir
    doc = list_json(sample, tmp_path)
    for field, (provider, slot) in JSON_SLOTS.items():
        value = sample.keys[field]
        key = doc["providers"][provider][slot]
        prefix = next((p for p in VENDOR_PREFIXES if value.startswith(p)), "")
        assert key["masked"] == f"{prefix}…{value[-4:]}"
        assert len(key["masked"]) <= len(prefix) + 1 + 4
        assert key["fingerprint"] == sha12(value)


def test_extra_secrets(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("basic", extras={"mistralKey": "mistral-made-up-key-0123456789"})
    doc = list_json(sample, tmp_path)
    assert len(doc["extra_secrets"]) == 1
    extra = doc["extra_secrets"][0]
    assert set(extra) == {"name", "key"}
    assert "mistralKey" in extra["name"]
    assert set(extra["key"]) == KEY_SHAPE
    assert extra["key"]["row"] == "secret://cursorAuth/mistralKey"
    assert extra["key"]["fingerprint"] == sha12("mistral-made-up-key-0123456789")
    assert extra["key"]["format"] == "unknown"


@pytest.mark.parametrize("as_json", [True, False])
def test_no_key_value_anywhere_without_reveal(any_generation_dir, clean_env, tmp_path, as_json):
    sample = any_generation_dir
    result = run(*options_for(sample, tmp_path), "list", *(["--json"] if as_json else []))
    assert result.exit_code == 0
    out = result.stdout + result.stderr
    for value in [*sample.keys.values(), *sample.extras.values()]:
        for part in hidden_parts(value):
            assert part not in out
    assert '"value"' not in out


@pytest.mark.parametrize("as_json", [True, False])
def test_reveal_prints_every_value(any_generation_dir, clean_env, tmp_path, as_json):
    sample = any_generation_dir
    result = run(*options_for(sample, tmp_path), "list", "--reveal", *(["--json"] if as_json else []))
    assert result.exit_code == 0
    for value in [*sample.keys.values(), *sample.extras.values()]:
        assert value in result.stdout
    if as_json:
        doc = json.loads(result.stdout)
        assert doc["providers"]["openai"]["key"]["value"] == sample.keys["openai.key"]


def test_human_table_lists_providers_and_models(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("basic")
    result = run("--user-data-dir", str(sample.udd), "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"database: {sample.db}"
    for provider in registry().names:
        assert any(line.startswith(provider) for line in lines)
    assert sha12(sample.keys["anthropic.key"]) in result.stdout
    assert "llama-3.1-70b, qwen2.5-coder:32b" in result.stdout


def test_undecryptable_keys_are_listed_with_exit_7(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("v11")  # clean env: no keyring reachable
    result = run("--user-data-dir", str(sample.udd), "list", "--json")
    assert result.exit_code == int(Exit.SAFE_STORAGE)  # the whole document still prints
    doc = json.loads(result.stdout)
    key = doc["providers"]["openai"]["key"]
    assert (key["storage"], key["masked"], key["fingerprint"]) == ("undecryptable", None, None)
    assert key["reason"]
    assert doc["providers"]["azure"]["key"]["storage"] == "settings-json"
    assert any("cannot decrypt" in n for n in doc["notes"])


def test_wrong_password_is_undecryptable(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("macos")
    pw = tmp_path / "pw"
    pw.write_text("not the keychain password")
    result = run(
        "--user-data-dir",
        str(sample.udd),
        "--safe-storage",
        "password",
        "--safe-storage-password-file",
        str(pw),
        "--safe-storage-scheme",
        "macos",
        "list",
        "--json",
    )
    assert result.exit_code == int(Exit.SAFE_STORAGE)
    assert json.loads(result.stdout)["providers"]["google"]["key"]["storage"] == "undecryptable"


def test_environment_variables_choose_database_and_storage(make_sample_dir, clean_env, tmp_path, monkeypatch):
    sample = make_sample_dir("windows")
    pw = tmp_path / "key.hex"
    pw.write_text(sample.sample.secret.hex())
    monkeypatch.setenv("CURSOR_STATE_DB", str(sample.db))
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE", "password")
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE", str(pw))
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE_SCHEME", "windows")
    result = run("list", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["db"] == str(sample.db) and doc["user_data_dir"] == str(sample.udd)
    assert doc["providers"]["anthropic"]["key"]["fingerprint"] == sha12(sample.keys["anthropic.key"])


def test_default_location_under_home(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("plaintext")
    target = Path(clean_env["HOME"]) / ".config" / "Cursor"
    target.parent.mkdir(parents=True)
    sample.udd.rename(target)
    result = run("list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["user_data_dir"] == str(target)


# --- where --------------------------------------------------------------------------------


def test_where_json(make_sample_dir, clean_env):
    sample = make_sample_dir("basic")
    result = run("--user-data-dir", str(sample.udd), "where", "--json")
    assert result.exit_code == 0, result.stderr
    (inst,) = json.loads(result.stdout)["installations"]
    assert inst["db"] == str(sample.db) and inst["user_data_dir"] == str(sample.udd)
    assert (inst["source"], inst["channel"], inst["journal_mode"]) == ("--user-data-dir", "Cursor", "wal")
    assert inst["size"] == sample.db.stat().st_size
    assert inst["local_state"] is False  # Electron writes Local State on Windows only
    assert inst["safe_storage"]["backend"] == "basic" and inst["safe_storage"]["scheme"] == "linux"
    assert "error" not in inst


def test_where_reports_a_live_code_lock(make_sample_dir, clean_env):
    sample = make_sample_dir("plaintext")
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        (sample.udd / "code.lock").write_text(str(sleeper.pid))
        result = run("--user-data-dir", str(sample.udd), "where", "--json")
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    inst = json.loads(result.stdout)["installations"][0]
    assert inst["cursor_running"] == {"pid": sleeper.pid, "how": "code.lock"}


def test_where_lists_every_default_found(make_sample_dir, clean_env):
    config = Path(clean_env["HOME"]) / ".config"
    config.mkdir()
    make_sample_dir("basic").udd.rename(config / "Cursor")
    make_sample_dir("basic").udd.rename(config / "Cursor Nightly")
    result = run("where", "--json")
    assert result.exit_code == 0
    found = json.loads(result.stdout)["installations"]
    assert [(i["channel"], i["source"]) for i in found] == [("Cursor", "default"), ("Cursor Nightly", "default")]


def test_where_text(make_sample_dir, clean_env):
    sample = make_sample_dir("basic")
    result = run("--user-data-dir", str(sample.udd), "where")
    assert result.exit_code == 0
    assert re.search(rf"^database +{re.escape(str(sample.db))}$", result.stdout, re.M)
    assert re.search(r"^journal mode +wal$", result.stdout, re.M)


def test_where_keeps_a_bad_file_and_says_why(tmp_path, clean_env):
    bogus = tmp_path / "state.vscdb"
    bogus.write_text("plain text")
    result = run("--db", str(bogus), "where", "--json")
    assert result.exit_code == 0
    inst = json.loads(result.stdout)["installations"][0]
    assert "not a SQLite file" in inst["error"] and inst["journal_mode"] is None


# --- real processes -------------------------------------------------------------------------


def test_list_in_a_real_process(make_sample_dir, clean_env, tmp_path):
    sample = make_sample_dir("macos")
    opts = sample.password_options(tmp_path / "pw")
    proc = subprocess.run(
        [sys.executable, "-m", "cursor_byok", "--db", str(sample.db), *opts, "list", "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["user_data_dir"] == str(sample.udd)
    assert doc["providers"]["openai"]["key"]["fingerprint"] == sha12(sample.keys["openai.key"])
    assert doc["providers"]["openai"]["key"]["storage"] == "password"
    assert sample.keys["openai.key"] not in proc.stdout + proc.stderr
