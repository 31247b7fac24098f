"""`set`, `unset` and `models`: real sample databases, real crypto, the one write path."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from pathlib import Path

import pytest
from helpers.children import answer_prompt_on_a_terminal
from helpers.cli import cli_runner as runner
from helpers.leaks import sha12
from helpers.writes import assert_refused, assert_secret_free, blob, cli, disk_state, journal_count, listed, options

from cursor_byok.cli import Exit, main
from cursor_byok.samples.installs import make_key

GENERATIONS = ("plaintext", "basic", "v11")
STORAGE_LABEL = {"plaintext": "plaintext", "basic": "basic", "v11": "password"}


@pytest.fixture
def env(clean_env, tmp_path, monkeypatch) -> Path:
    """A clean environment whose undo journals go to a tmp folder; returns that folder."""
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    return data


# --- set -------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_set_openai_round_trip_shows_the_new_key(generation, make_sample_dir, tmp_path, env):
    sd = make_sample_dir(generation)
    key = make_key("openai", random.Random(101))
    result = cli(sd, tmp_path, "set", "openai", "--key-env", "NEW_KEY", "--yes", env={"NEW_KEY": key})
    assert result.exit_code == 0, result.stderr
    assert_secret_free(result, key)
    doc = listed(sd, tmp_path)
    openai = doc["providers"]["openai"]
    assert openai["key"]["fingerprint"] == sha12(key)
    assert openai["key"]["storage"] == STORAGE_LABEL[generation]
    assert openai["enabled"] is True
    assert doc["providers"]["anthropic"]["key"]["fingerprint"] == sha12(sd.keys["anthropic.key"])
    assert journal_count(env) == 1


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_set_reads_a_key_file_or_stdin_without_its_newline(how, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    key = make_key("anthropic", random.Random(102))
    if how == "file":
        path = tmp_path / "anthropic.key"
        path.write_text(key + "\r\n")
        result = cli(sd, tmp_path, "set", "anthropic", "--key-file", str(path), "--yes")
    else:
        result = cli(sd, tmp_path, "set", "anthropic", "--key-stdin", "--yes", input=key + "\n")
    assert result.exit_code == 0, result.stderr
    assert "warning: anthropic.key" not in result.stderr
    assert listed(sd, tmp_path)["providers"]["anthropic"]["key"]["fingerprint"] == sha12(key)


def test_set_bedrock_takes_two_secrets_from_env_and_file(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    rng = random.Random(103)
    access, secret = make_key("aws_access", rng), make_key("aws_secret", rng)
    secret_file = tmp_path / "aws-secret"
    secret_file.write_text(secret + "\n")
    result = cli(
        sd,
        tmp_path,
        "set",
        "bedrock",
        "--key-env",
        "AK",
        "--secret-key-file",
        str(secret_file),
        "--region",
        "eu-central-1",
        "--yes",
        "--json",
        env={"AK": access},
    )
    assert result.exit_code == 0, result.stderr
    assert_secret_free(result, access, secret)
    assert json.loads(result.stdout)["applied"] is True
    bedrock = listed(sd, tmp_path)["providers"]["bedrock"]
    assert bedrock["access_key"]["fingerprint"] == sha12(access)
    assert bedrock["secret_key"]["fingerprint"] == sha12(secret)
    assert (bedrock["region"], bedrock["enabled"]) == ("eu-central-1", True)


def test_set_bedrock_reads_two_lines_from_stdin(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("plaintext")
    rng = random.Random(104)
    access, secret = make_key("aws_access", rng), make_key("aws_secret", rng)
    result = cli(sd, tmp_path, "set", "bedrock", "--key-stdin", "--yes", input=f"{access}\n{secret}\n")
    assert result.exit_code == 0, result.stderr
    bedrock = listed(sd, tmp_path)["providers"]["bedrock"]
    assert [bedrock[k]["fingerprint"] for k in ("access_key", "secret_key")] == [sha12(access), sha12(secret)]


def test_set_with_disable_stores_the_key_but_leaves_the_provider_off(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    key = make_key("google", random.Random(105))
    result = cli(sd, tmp_path, "set", "google", "--key-stdin", "--disable", "--yes", input=key)
    assert result.exit_code == 0, result.stderr
    google = listed(sd, tmp_path)["providers"]["google"]
    assert (google["key"]["fingerprint"], google["enabled"]) == (sha12(key), False)


def test_set_no_key_changes_only_settings(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    result = cli(
        sd,
        tmp_path,
        "set",
        "azure",
        "--no-key",
        "--deployment",
        "gpt-4o-mini",
        "--base-url",
        "https://fabrikam.openai.azure.com",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    azure = listed(sd, tmp_path)["providers"]["azure"]
    assert azure["key"]["fingerprint"] == sha12(sd.keys["azure.key"])
    assert (azure["deployment"], azure["base_url"]) == ("gpt-4o-mini", "https://fabrikam.openai.azure.com")


def test_set_openai_base_url_and_clearing_it(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    router = make_key("openrouter", random.Random(106))
    result = cli(
        sd,
        tmp_path,
        "set",
        "openai",
        "--key-stdin",
        "--base-url",
        "https://openrouter.ai/api/v1",
        "--yes",
        input=router,
    )
    assert result.exit_code == 0, result.stderr
    assert "openai.key" not in result.stderr  # a base URL makes any key shape fine
    assert listed(sd, tmp_path)["providers"]["openai"]["base_url"] == "https://openrouter.ai/api/v1"
    result = cli(sd, tmp_path, "set", "openai", "--no-key", "--base-url", "", "--yes")
    assert result.exit_code == 0, result.stderr
    assert listed(sd, tmp_path)["providers"]["openai"]["base_url"] is None


def test_set_with_force_warns_about_a_key_of_another_provider_but_stores_it(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    anthropic = make_key("anthropic", random.Random(107))
    result = cli(sd, tmp_path, "set", "openai", "--key-env", "K", "--yes", "--force", env={"K": anthropic})
    assert result.exit_code == 0, result.stderr
    assert "warning: openai.key:" in result.stderr and "looks like an anthropic key" in result.stderr
    assert_secret_free(result, anthropic)
    assert listed(sd, tmp_path)["providers"]["openai"]["key"]["fingerprint"] == sha12(anthropic)


def test_set_the_same_key_twice_writes_nothing_the_second_time(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    key = make_key("openai", random.Random(108))
    assert cli(sd, tmp_path, "set", "openai", "--key-stdin", "--yes", input=key).exit_code == 0
    before, journals = disk_state(sd.db), journal_count(env)
    result = cli(sd, tmp_path, "set", "openai", "--key-stdin", "--yes", "--json", input=key)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["applied"], doc["journal"], doc["plan"]["changes"]) == (False, None, [])
    assert disk_state(sd.db) == before and journal_count(env) == journals


def test_set_dry_run_shows_a_masked_plan_and_changes_nothing(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    key = make_key("openai", random.Random(109))
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "set", "openai", "--key-stdin", "--dry-run", "--json", input=key)
    assert result.exit_code == 0, result.stderr
    change = {c["field"]: c for c in json.loads(result.stdout)["plan"]["changes"]}["openai.key"]
    assert change["action"] == "replace"
    assert change["new"]["fingerprint"] == sha12(key)
    assert change["old"]["fingerprint"] == sha12(sd.keys["openai.key"])
    assert_secret_free(result, key, sd.keys["openai.key"])
    assert disk_state(sd.db) == before and journal_count(env) == 0


BAD_INPUT = {
    "empty stdin": (["set", "openai", "--key-stdin"], "\n", {}),
    "inner space": (["set", "openai", "--key-stdin"], "sk-proj-abc def\n", {}),
    "two lines": (["set", "openai", "--key-stdin"], "sk-proj-abc\nsk-proj-def\n", {}),
    "tab": (["set", "google", "--key-env", "K"], None, {"K": "AIza\tabc"}),
    "unset variable": (["set", "openai", "--key-env", "NOT_SET_ANYWHERE"], None, {}),
    "no source, no terminal": (["set", "openai"], "", {}),
    "two sources": (["set", "openai", "--key-env", "K", "--key-stdin"], "x", {"K": "x"}),
    "missing file": (["set", "openai", "--key-file", "/nonexistent/key"], None, {}),
    "secret option off bedrock": (["set", "openai", "--key-env", "K", "--secret-key-env", "K"], None, {"K": "x"}),
    "bedrock one line": (["set", "bedrock", "--key-stdin"], "AKIAIOSFODNN7EXAMPLE\n", {}),
    "region on openai": (["set", "openai", "--no-key", "--region", "us-east-1"], None, {}),
    "bad region": (["set", "bedrock", "--no-key", "--region", "mars"], None, {}),
    "bad url": (["set", "azure", "--no-key", "--base-url", "contoso.openai.azure.com"], None, {}),
    "url with password": (["set", "openai", "--no-key", "--base-url", "https://u:p@example.com/v1"], None, {}),
    "nothing to set": (["set", "openai", "--no-key"], None, {}),
    "no-key with a source": (["set", "openai", "--no-key", "--key-env", "K"], None, {"K": "x"}),
    "empty azure url": (["set", "azure", "--no-key", "--base-url", ""], None, {}),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_set_input_is_one_line_exit_15_and_changes_nothing(case, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    args, stdin, extra_env = BAD_INPUT[case]
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, *args, "--yes", input=stdin, env=extra_env)
    assert_refused(result, sd, before, env)
    assert "abc" not in result.stderr and "def" not in result.stderr


def test_set_refuses_while_cursor_runs(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    (sd.udd / "code.lock").write_text(str(os.getpid()))
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "set", "google", "--key-stdin", "--yes", input=make_key("google"))
    assert_refused(result, sd, before, env, Exit.CURSOR_RUNNING)


def test_set_refuses_a_wrong_machine_secret_before_writing(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-machine-password\n")
    before = disk_state(sd.db)
    result = runner().invoke(
        main,
        [
            "--user-data-dir",
            str(sd.udd),
            "--safe-storage",
            "password",
            "--safe-storage-scheme",
            "linux",
            "--safe-storage-password-file",
            str(wrong),
            "set",
            "google",
            "--key-stdin",
            "--yes",
        ],
        input=make_key("google"),
    )
    assert result.exit_code == Exit.SAFE_STORAGE, result.stderr
    assert disk_state(sd.db) == before and journal_count(env) == 0


def test_set_prompts_on_a_terminal_without_echoing_the_key(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    key = make_key("google", random.Random(110))
    argv = [sys.executable, "-m", "cursor_byok", *options(sd, tmp_path), "set", "google", "--yes"]
    code, shown = answer_prompt_on_a_terminal(argv, until=b"Google key", answer=key)
    assert code == 0, shown
    assert key.encode() not in shown and key[8:-4].encode() not in shown
    assert listed(sd, tmp_path)["providers"]["google"]["key"]["fingerprint"] == sha12(key)


# --- unset -----------------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_unset_removes_keys_and_switches_the_provider_off(generation, make_sample_dir, tmp_path, env):
    sd = make_sample_dir(generation)
    for provider in ("openai", "azure", "bedrock"):
        result = cli(sd, tmp_path, "unset", provider, "--yes")
        assert result.exit_code == 0, result.stderr
        assert_secret_free(result, *sd.keys.values())
    doc = listed(sd, tmp_path)["providers"]
    assert (doc["openai"]["key"], doc["openai"]["enabled"]) == (None, False)
    assert (doc["azure"]["key"], doc["azure"]["enabled"]) == (None, False)
    assert (doc["bedrock"]["access_key"], doc["bedrock"]["secret_key"]) == (None, None)
    assert doc["anthropic"]["key"]["fingerprint"] == sha12(sd.keys["anthropic.key"])
    assert doc["azure"]["deployment"] == "gpt-4o-prod"  # settings stay
    with sqlite3.connect(sd.db) as conn:
        names = {r[0] for r in conn.execute("SELECT key FROM ItemTable")}
    assert not {"cursorAuth/openAIKey", "secret://cursorAuth/openAIKey"} & names


def test_unset_twice_is_a_no_op(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    assert cli(sd, tmp_path, "unset", "google", "--yes").exit_code == 0
    before, journals = disk_state(sd.db), journal_count(env)
    result = cli(sd, tmp_path, "unset", "google", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "nothing to write" in result.stdout
    assert disk_state(sd.db) == before and journal_count(env) == journals


def test_unset_can_be_undone(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    before = listed(sd, tmp_path)["providers"]["anthropic"]
    assert cli(sd, tmp_path, "unset", "anthropic", "--yes").exit_code == 0
    assert cli(sd, tmp_path, "undo", "--yes").exit_code == 0
    assert listed(sd, tmp_path)["providers"]["anthropic"] == before


# --- models ----------------------------------------------------------------------------


def models_of(sd, tmp_path) -> dict:
    result = cli(sd, tmp_path, "models", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["models"]


def test_models_list_shows_the_four_parts(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    assert models_of(sd, tmp_path) == {
        "user_added": ["llama-3.1-70b", "qwen2.5-coder:32b"],
        "enabled": ["llama-3.1-70b", "claude-sonnet-4"],
        "disabled": ["gpt-4.1-nano"],
        "selected": {"cmd-k": "gpt-4o", "composer": "claude-sonnet-4"},
    }
    text = cli(sd, tmp_path, "models", "list").stdout
    assert "qwen2.5-coder:32b" in text and "composer=claude-sonnet-4" in text


def test_models_add_appends_and_enables(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    result = cli(sd, tmp_path, "models", "add", "deepseek-coder", "gpt-4.1-nano", "--yes")
    assert result.exit_code == 0, result.stderr
    m = models_of(sd, tmp_path)
    assert m["user_added"] == ["llama-3.1-70b", "qwen2.5-coder:32b", "deepseek-coder", "gpt-4.1-nano"]
    assert m["enabled"] == ["llama-3.1-70b", "claude-sonnet-4", "deepseek-coder", "gpt-4.1-nano"]
    assert m["disabled"] == []


def test_models_remove_drops_from_user_added_and_enabled(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    result = cli(sd, tmp_path, "models", "remove", "llama-3.1-70b", "never-added", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "never-added is not a user-added model" in result.stdout
    m = models_of(sd, tmp_path)
    assert (m["user_added"], m["enabled"]) == (["qwen2.5-coder:32b"], ["claude-sonnet-4"])


def test_models_enable_and_disable_move_between_lists(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("plaintext")
    assert cli(sd, tmp_path, "models", "enable", "gpt-4.1-nano", "--yes").exit_code == 0
    m = models_of(sd, tmp_path)
    assert (m["enabled"][-1], m["disabled"]) == ("gpt-4.1-nano", [])
    assert cli(sd, tmp_path, "models", "disable", "claude-sonnet-4", "--yes").exit_code == 0
    m = models_of(sd, tmp_path)
    assert "claude-sonnet-4" not in m["enabled"] and m["disabled"] == ["claude-sonnet-4"]


def test_models_plan_shows_exactly_the_list_change(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    result = cli(sd, tmp_path, "models", "disable", "llama-3.1-70b", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    changes = {c["field"]: c for c in json.loads(result.stdout)["plan"]["changes"]}
    assert set(changes) == {"models.enabled", "models.disabled"}
    assert changes["models.enabled"]["old"] == ["llama-3.1-70b", "claude-sonnet-4"]
    assert changes["models.enabled"]["new"] == ["claude-sonnet-4"]
    assert changes["models.disabled"]["new"] == ["gpt-4.1-nano", "llama-3.1-70b"]


def test_models_select_keeps_the_surface_settings(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    assert cli(sd, tmp_path, "models", "select", "composer", "gpt-4.1", "--yes").exit_code == 0
    assert cli(sd, tmp_path, "models", "select", "background-agent", "o3", "--yes", "--force").exit_code == 0
    config = blob(sd.db)["aiSettings"]["modelConfig"]
    assert config["composer"] == {"modelName": "gpt-4.1", "maxMode": False}
    assert config["background-agent"] == {"modelName": "o3"}
    assert config["cmd-k"] == {"modelName": "gpt-4o", "maxMode": False}
    assert models_of(sd, tmp_path)["selected"]["composer"] == "gpt-4.1"
    assert blob(sd.db)["membershipType"] == "pro"  # account fields stay


def test_models_add_of_known_models_changes_nothing(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "models", "add", "llama-3.1-70b", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["journal"] is None
    assert disk_state(sd.db) == before and journal_count(env) == 0


@pytest.mark.parametrize(
    "args", [["add", "two words"], ["enable", ""], ["select", "composer", "a b"], ["select", "com poser", "x"]]
)
def test_bad_model_names_are_refused(args, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    assert_refused(cli(sd, tmp_path, "models", *args, "--yes"), sd, before, env)


@pytest.mark.parametrize(
    "args",
    [
        ("set", "azure", "--no-key", "--deployment", "{key}"),
        ("set", "bedrock", "--no-key", "--region", "{key}"),
        ("models", "add", "gpt-4o", "{key}"),
        ("models", "select", "composer", "{key}"),
        ("set", "azure", "--no-key", "--deployment", "{azure}"),
    ],
    ids=["deployment", "region", "models-add", "models-select", "deployment-azure-hex"],
)
def test_a_key_given_as_a_name_region_or_model_is_refused_unshown(args, make_sample_dir, tmp_path, data_dir):
    """Names, regions and models are stored in the clear and printed in plans: a key there is a slip."""
    sd = make_sample_dir("basic")
    key = make_key("anthropic", random.Random(5))
    azure = make_key("azure", random.Random(6))[:32].lower()
    azure = "".join(c if c in "0123456789abcdef" else "a" for c in azure)  # the 32-hex form
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, *(a.format(key=key, azure=azure) for a in args), "--yes")
    assert result.exit_code == int(Exit.INPUT), result.output
    assert "looks like an API key" in result.stderr
    assert key not in result.output + result.stderr and azure not in result.output + result.stderr
    assert disk_state(sd.db) == before and journal_count(data_dir) == 0


def test_the_purge_hint_after_removing_a_key_works_when_pasted(make_sample_dir, tmp_path, data_dir):
    """The note names the database with the options the write used, so pasting it deletes that journal."""
    import re
    import shlex

    sd = make_sample_dir("basic")
    done = cli(sd, tmp_path, "unset", "anthropic", "--yes")
    assert done.exit_code == 0, done.stderr
    (hint,) = re.findall(r"delete it with `([^`]+)`", done.stderr)
    words = shlex.split(hint)
    assert words[:3] == ["cursor-byok", "--user-data-dir", str(sd.udd)] and "--purge" in words
    assert journal_count(data_dir) == 1
    pasted = runner().invoke(main, words[1:], catch_exceptions=False)
    assert pasted.exit_code == 0, pasted.stderr
    assert journal_count(data_dir) == 0
