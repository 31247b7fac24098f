"""--check on every write, kept conflicts reported as drift, and model lists shown per item."""

from __future__ import annotations

import json
import random

import pytest
from helpers.leaks import sha12
from helpers.transfer import identity
from helpers.writes import assert_secret_free, cli, disk_state, journal_count, listed

from cursor_byok.cli import Exit
from cursor_byok.samples.installs import make_key


@pytest.fixture
def env(clean_env, tmp_path, monkeypatch):
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    return data


def manifest(tmp_path, text: str):
    path = tmp_path / "team.toml"
    path.write_text("version = 1\n" + text)
    return path


def assert_pending_and_untouched(result, sd, env, before: str) -> None:
    assert result.exit_code == int(Exit.PENDING), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "pending; nothing written" in result.stderr
    assert disk_state(sd.db) == before and journal_count(env) == 0


# --- --check -----------------------------------------------------------------------------------

NEW_GOOGLE = make_key("google", random.Random(301))
NEW_ANTHROPIC = make_key("anthropic", random.Random(302))  # the samples have anthropic switched on

CHECKED_WRITES = {
    "set": (["set", "google", "--key-env", "G"], {"G": NEW_GOOGLE}),
    "set settings": (["set", "openai", "--no-key", "--base-url", "https://gateway.example/v1"], {}),
    "unset": (["unset", "anthropic"], {}),
    "models add": (["models", "add", "qwen2.5-coder:32b"], {}),
    "models remove": (["models", "remove", "llama-3.1-70b"], {}),
    "models enable": (["models", "enable", "o3"], {}),
    "models disable": (["models", "disable", "gpt-4.1"], {}),
    "models select": (["models", "select", "composer", "o3"], {}),
}


@pytest.mark.parametrize("name", CHECKED_WRITES)
def test_check_reports_pending_changes_and_writes_nothing(name, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    args, variables = CHECKED_WRITES[name]
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, *args, "--check", env=variables)
    assert_pending_and_untouched(result, sd, env, before)
    assert "dry run: nothing written" in result.stdout
    as_json = cli(sd, tmp_path, *args, "--check", "--json", env=variables)
    assert_pending_and_untouched(as_json, sd, env, before)
    doc = json.loads(as_json.stdout)
    assert (doc["check"], doc["applied"], doc["journal"]) == (True, False, None)
    assert doc["plan"]["changes"] and all(c["action"] != "unchanged" for c in doc["plan"]["changes"])
    assert_secret_free(as_json, NEW_GOOGLE, *sd.keys.values())
    # once written, the same check finds nothing pending
    assert cli(sd, tmp_path, *args, "--yes", env=variables).exit_code == 0
    settled = disk_state(sd.db)
    again = cli(sd, tmp_path, *args, "--check", "--json", env=variables)
    assert again.exit_code == 0, (again.stdout, again.stderr)
    assert json.loads(again.stdout)["plan"]["summary"]["add"] == 0
    assert disk_state(sd.db) == settled and journal_count(env) == 1


def test_check_on_apply_counts_conflicts_as_pending(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = manifest(tmp_path, '[anthropic]\nkey = "env:A"\n')
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--check", "--json", env={"A": NEW_ANTHROPIC})  # policy: fail
    assert_pending_and_untouched(result, sd, env, before)
    doc = json.loads(result.stdout)
    assert [(c["field"], c["action"]) for c in doc["plan"]["changes"]] == [("anthropic.key", "conflict")]
    assert "1 conflict(s)" in result.stderr
    kept = cli(sd, tmp_path, "apply", str(path), "--check", "--on-conflict", "keep", env={"A": NEW_ANTHROPIC})
    assert kept.exit_code == 0, kept.stderr  # keep: a real run would write nothing, so nothing is pending
    assert "kept" in kept.stdout
    assert disk_state(sd.db) == before and journal_count(env) == 0


def test_check_on_import(make_sample_dir, tmp_path, env):
    source = make_sample_dir("basic", seed=11)
    target = make_sample_dir("basic", keys={}, extras={}, seed=12)
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "keys.age"
    assert cli(source, tmp_path, "export", "-o", str(bundle), "-r", recipient).exit_code == 0
    before = disk_state(target.db)
    result = cli(target, tmp_path, "import", str(bundle), "-i", str(ident), "--check")
    assert_pending_and_untouched(result, target, env, before)
    assert "openai.key" in result.stdout
    assert cli(target, tmp_path, "import", str(bundle), "-i", str(ident), "--yes").exit_code == 0
    settled = disk_state(target.db)
    again = cli(target, tmp_path, "import", str(bundle), "-i", str(ident), "--check", "--on-conflict", "keep")
    assert again.exit_code == 0, (again.stdout, again.stderr)
    assert disk_state(target.db) == settled and journal_count(env) == 1


def test_check_needs_no_confirmation_and_ignores_yes(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "models", "add", "m-new", "--check", "--yes")
    assert_pending_and_untouched(result, sd, env, before)


# --- kept conflicts ---------------------------------------------------------------------------


def test_kept_conflicts_are_reported_as_kept_and_exit_0(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = manifest(tmp_path, '[anthropic]\nkey = "env:A"\n[models]\nselect = { composer = "o3" }\n')
    args = ["apply", str(path), "--yes", "--on-conflict", "keep"]
    as_json = cli(sd, tmp_path, *args, "--json", env={"A": NEW_ANTHROPIC})
    assert as_json.exit_code == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    actions = {c["field"]: c["action"] for c in doc["plan"]["changes"]}
    assert actions == {"anthropic.key": "kept", "models.selected.composer": "kept"}
    assert doc["plan"]["summary"]["kept"] == 2
    assert "anthropic.key" not in doc["plan"]["unchanged"]
    text = cli(sd, tmp_path, *args, env={"A": NEW_ANTHROPIC})
    assert text.exit_code == 0, text.stderr
    row = next(line for line in text.stdout.splitlines() if "anthropic.key" in line)
    assert " kept " in row and "unchanged" not in row
    assert "2 kept" in text.stdout and "nothing to write: 2 kept value(s) differ" in text.stdout
    assert listed(sd, tmp_path)["providers"]["anthropic"]["key"]["fingerprint"] == sha12(sd.keys["anthropic.key"])
    assert_secret_free(text, NEW_ANTHROPIC, sd.keys["anthropic.key"])


def test_dry_run_ends_by_saying_nothing_was_written(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    result = cli(sd, tmp_path, "models", "add", "m-new", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == "dry run: nothing written"
    as_json = cli(sd, tmp_path, "models", "add", "m-new", "--dry-run", "--json")
    assert json.loads(as_json.stdout)["dry_run"] is True and "dry run: nothing written" in as_json.stderr


# --- model lists per item -------------------------------------------------------------------


def test_model_list_changes_are_shown_per_item(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    stored = listed(sd, tmp_path)["models"]["user_added"]
    assert len(stored) >= 2
    added = cli(sd, tmp_path, "models", "add", "m-one", "m-two", "--dry-run")
    row = next(line for line in added.stdout.splitlines() if "models.user_added" in line)
    assert "+ m-one, + m-two" in row and stored[0] not in row
    removed = cli(sd, tmp_path, "models", "remove", stored[0], "--dry-run", "--json")
    change = next(c for c in json.loads(removed.stdout)["plan"]["changes"] if c["field"] == "models.user_added")
    assert (change["added"], change["removed"]) == ([], [stored[0]])
    assert change["new"] == stored[1:]  # the whole lists stay in JSON for scripts
    text = cli(sd, tmp_path, "models", "remove", stored[0], "--dry-run")
    assert f"- {stored[0]}" in text.stdout and stored[1] not in text.stdout.split("models.user_added", 1)[1]
