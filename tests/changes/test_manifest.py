"""`apply MANIFEST.toml`: schema checks, key sources (env, file, cmd), idempotence, the onboarding script."""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.children import answer_prompt_on_a_terminal
from helpers.leaks import sha12
from helpers.paths import REPO
from helpers.writes import assert_refused, assert_secret_free, cli, disk_state, journal_count, listed, options

from cursor_byok.changes import manifest
from cursor_byok.cli import Exit
from cursor_byok.samples.installs import make_key

SCRIPT = REPO / "examples" / "onboard-example.sh"
EXAMPLE = REPO / "examples" / "team-manifest.example.toml"
PY = shlex.quote(sys.executable)


@pytest.fixture
def env(clean_env, tmp_path, monkeypatch) -> Path:
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    return data


@pytest.fixture
def keys() -> dict[str, str]:
    rng = random.Random(201)
    return {
        "openai": make_key("openrouter", rng),
        "anthropic": make_key("anthropic", rng),
        "azure": make_key("azure", rng),
    }


def team_manifest(folder: Path, keys: dict[str, str], home: Path) -> Path:
    """A manifest using all three non-interactive sources; the keys sit in files and the environment."""
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    (folder / "secrets" / "anthropic.key").write_text(keys["anthropic"] + "\n")
    (home / ".config").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "azure.key").write_text(keys["azure"] + "\n")
    path = folder / "team.toml"
    path.write_text(
        f"""version = 1
description = "test team"

[openai]
key = "env:TEAM_OPENAI_KEY"
base_url = "https://openrouter.ai/api/v1"

[anthropic]
key = "cmd:{PY} -c 'import pathlib; print(pathlib.Path(\\"secrets/anthropic.key\\").read_text())'"

[azure]
key = "file:~/.config/azure.key"
base_url = "https://contoso.openai.azure.com"
deployment = "gpt-4o"

[bedrock]
region = "eu-west-1"
enabled = false

[models]
add = ["llama-3.3-70b"]
enable = ["gpt-4.1-nano"]
disable = ["claude-sonnet-4"]
select = {{ composer = "llama-3.3-70b", "cmd-k" = "gpt-4.1" }}
"""
    )
    return path


# The team manifest's gateway, Azure resource and Bedrock region: new endpoints, accepted only by name.
TEAM_ENDPOINTS = ("--allow-endpoint", "openrouter.ai", "--allow-endpoint", "contoso.openai.azure.com",
                  "--allow-endpoint", "eu-west-1")  # fmt: skip


def apply(sd, tmp_path, path: Path, *args: str, openai_key: str | None = None):
    extra = {"TEAM_OPENAI_KEY": openai_key} if openai_key else {}
    return cli(sd, tmp_path, "apply", str(path), *args, env=extra)


# --- applying --------------------------------------------------------------------------


@pytest.mark.parametrize("generation", ["plaintext", "basic", "v11"])
def test_apply_reads_env_file_and_cmd_sources(generation, make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir(generation)
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    result = apply(sd, tmp_path, path, "--yes", "--json", "--on-conflict", "replace", *TEAM_ENDPOINTS,
                   openai_key=keys["openai"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert_secret_free(result, *keys.values())
    assert json.loads(result.stdout)["applied"] is True
    doc = listed(sd, tmp_path)
    p = doc["providers"]
    assert [p[n]["key"]["fingerprint"] for n in ("openai", "anthropic", "azure")] == [
        sha12(keys[n]) for n in ("openai", "anthropic", "azure")
    ]
    assert (p["openai"]["base_url"], p["openai"]["enabled"]) == ("https://openrouter.ai/api/v1", True)
    assert (p["azure"]["base_url"], p["azure"]["deployment"]) == ("https://contoso.openai.azure.com", "gpt-4o")
    assert (p["bedrock"]["region"], p["bedrock"]["enabled"]) == ("eu-west-1", False)
    assert p["google"]["key"]["fingerprint"] == sha12(sd.keys["google.key"])
    models = doc["models"]
    assert models["user_added"][-1] == "llama-3.3-70b"
    assert models["enabled"] == ["llama-3.1-70b", "llama-3.3-70b", "gpt-4.1-nano"]
    assert models["disabled"] == ["claude-sonnet-4"]
    assert models["selected"] == {"cmd-k": "gpt-4.1", "composer": "llama-3.3-70b"}


def test_applying_twice_changes_nothing_the_second_time(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("v11")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    first = apply(sd, tmp_path, path, "--yes", "--on-conflict", "replace", *TEAM_ENDPOINTS, openai_key=keys["openai"])
    assert first.exit_code == 0, first.stderr
    before, journals = disk_state(sd.db), journal_count(env)
    result = apply(sd, tmp_path, path, "--yes", "--json", openai_key=keys["openai"])  # default policy: fail
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["applied"], doc["journal"], doc["plan"]["changes"]) == (False, None, [])
    assert doc["plan"]["summary"]["unchanged"] > 5
    assert disk_state(sd.db) == before and journal_count(env) == journals


def test_a_different_stored_key_is_a_conflict_by_default(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text('version = 1\n[google]\nkey = "env:G"\n')
    before = disk_state(sd.db)
    new = make_key("google", random.Random(202))
    result = cli(sd, tmp_path, "apply", str(path), "--yes", env={"G": new})
    assert_refused(result, sd, before, env, Exit.CONFLICT)
    assert_secret_free(result, new, sd.keys["google.key"])


@pytest.mark.parametrize("policy", ["keep", "replace"])
def test_on_conflict_keep_or_replace(policy, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text('version = 1\n[google]\nkey = "env:G"\n[models]\nselect = { composer = "o3" }\n')
    new = make_key("google", random.Random(203))
    result = cli(sd, tmp_path, "apply", str(path), "--yes", "--on-conflict", policy, env={"G": new})
    assert result.exit_code == 0, result.stderr
    doc = listed(sd, tmp_path)
    kept = policy == "keep"
    assert doc["providers"]["google"]["key"]["fingerprint"] == sha12(sd.keys["google.key"] if kept else new)
    assert doc["models"]["selected"]["composer"] == ("claude-sonnet-4" if kept else "o3")
    assert doc["providers"]["google"]["enabled"] is True  # the manifest switches on what it gives a key


def test_dry_run_reads_no_source_and_writes_nothing(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    before = disk_state(sd.db)
    result = apply(sd, tmp_path, path, "--dry-run", "--on-conflict", "replace", openai_key=keys["openai"])
    assert result.exit_code == 0, result.stderr
    assert "openai.key: would use $TEAM_OPENAI_KEY (set)" in result.stdout
    assert "azure.key: would read `~/.config/azure.key`" in result.stdout
    assert "anthropic.key: would run `" in result.stdout and "replace" in result.stdout
    assert_secret_free(result, *keys.values())
    assert disk_state(sd.db) == before and journal_count(env) == 0


def test_dry_run_on_a_machine_without_the_key_yet_is_not_a_mistake(make_sample_dir, tmp_path, env):
    """A dry run reads no source, so the keys it would write are unknown, not missing: on a new machine
    the plan is shown (exit 0) instead of "switched on with no key stored"."""
    sd = make_sample_dir("basic", keys={})
    path = tmp_path / "m.toml"
    path.write_text('version = 1\n[google]\nkey = "env:G"\n')
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "google.key: would use $G (not set)" in result.stdout and "google.enabled" in result.stdout
    assert disk_state(sd.db) == before
    refused = cli(sd, tmp_path, "apply", str(path), "--yes", env={})  # a real run: the variable is not set
    assert refused.exit_code == int(Exit.INPUT) and disk_state(sd.db) == before


def test_the_example_manifest_is_valid():
    m = manifest.load(EXAMPLE)
    assert m.providers == ["openai", "anthropic", "azure", "bedrock"]
    assert m.sources["anthropic.key"].startswith("cmd:op read ")
    assert m.select == {"composer": "claude-sonnet-4"}


# --- refusals --------------------------------------------------------------------------

LIVE_LOOKING = make_key("openai", random.Random(204))
BAD_MANIFESTS = {
    "unknown field": ('version = 1\n[azure]\ndeploymnet = "x"\n', "[azure].deploymnet is not a known field"),
    "unknown table": ("version = 1\n[openia]\nenabled = true\n", "[openia] is not a known table"),
    "unknown models field": ('version = 1\n[models]\nselected = { a = "b" }\n', "[models].selected is not a known"),
    "missing version": ("[openai]\nenabled = true\n", "version is missing"),
    "newer version": ("version = 2\n", "version is 2, newer than"),
    "string version": ('version = "1"\n', "version must be a whole number"),
    "enabled not bool": ('version = 1\n[google]\nenabled = "yes"\n', "[google].enabled must be true or false"),
    "key not string": ("version = 1\n[google]\nkey = 5\n", "[google].key must be a string"),
    "list not list": ('version = 1\n[models]\nadd = "x"\n', "[models].add must be a list"),
    "provider not table": ('version = 1\nopenai = "x"\n', "[openai] must be a table"),
    "literal key": (f'version = 1\n[openai]\nkey = "{LIVE_LOOKING}"\n', "holds what looks like a key"),
    "literal password": ('version = 1\n[openai]\nkey = "hunter2"\n', "is not a key source"),
    "key inside cmd": (f'version = 1\n[openai]\nkey = "cmd:printf %s {LIVE_LOOKING}"\n', "contains what looks like"),
    "bad env name": ('version = 1\n[openai]\nkey = "env:MY-KEY"\n', "needs an environment variable name"),
    "empty cmd": ('version = 1\n[openai]\nkey = "cmd:"\n', "needs a command"),
    "unbalanced quote": ('version = 1\n[openai]\nkey = "cmd:op read \'x"\n', "cannot split the command"),
    "half bedrock": ('version = 1\n[bedrock]\naccess_key = "env:A"\n', "needs both access_key and secret_key"),
    "enable and disable": ('version = 1\n[models]\nenable = ["a"]\ndisable = ["a"]\n', "both name a"),
    "bad url": ('version = 1\n[azure]\nbase_url = "contoso"\n', "must be an https:// URL"),
    "bad surface": ('version = 1\n[models]\nselect = { "com poser" = "x" }\n', "surface name must be"),
    "not toml": ("version = 1\n[openai\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifests_are_refused_with_the_toml_path(case, make_sample_dir, tmp_path, env):
    text, expected = BAD_MANIFESTS[case]
    sd = make_sample_dir("basic")
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--yes")
    assert_refused(result, sd, before, env)
    assert expected in result.stderr
    assert f"manifest {path}" in result.stderr
    assert LIVE_LOOKING not in result.stderr


SOURCE_FAILURES = {
    "unset variable": ('key = "env:NOT_SET_HERE_EITHER"', "$NOT_SET_HERE_EITHER is not set or empty"),
    "missing file": ('key = "file:no/such.key"', "cannot read"),
    "failing command": (
        f'key = "cmd:{PY} -c \'import os, sys; print(os.environ[\\"LEAK\\"]); sys.exit(3)\'"',
        "failed with exit status 3",
    ),
    "unknown command": ('key = "cmd:no-such-password-manager read x"', "command not found: no-such-password-manager"),
    "empty output": (f'key = "cmd:{PY} -c pass"', "is empty"),
    "two-line output": (f"key = \"cmd:{PY} -c 'print(1); print(2)'\"", "one unbroken line"),
    "prompt without terminal": ('key = "prompt"', "needs a terminal"),
}


@pytest.mark.parametrize("case", sorted(SOURCE_FAILURES))
def test_a_failing_source_is_exit_15_and_leaks_nothing(case, make_sample_dir, tmp_path, env):
    line, expected = SOURCE_FAILURES[case]
    sd = make_sample_dir("v11")
    path = tmp_path / "m.toml"
    path.write_text(f"version = 1\n[openai]\n{line}\n")
    leak = make_key("openai", random.Random(205))
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--yes", env={"LEAK": leak})
    assert_refused(result, sd, before, env)
    assert expected in result.stderr
    assert "[openai].key" in result.stderr
    assert_secret_free(result, leak)


def test_a_prompt_source_asks_on_a_terminal(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    path = tmp_path / "m.toml"
    path.write_text('version = 1\n[google]\nkey = "prompt"\n')
    key = make_key("google", random.Random(206))
    argv = [
        sys.executable,
        "-m",
        "cursor_byok",
        *options(sd, tmp_path),
        "apply",
        str(path),
        "--yes",
        "--on-conflict",
        "replace",
    ]
    code, shown = answer_prompt_on_a_terminal(argv, until=b"([google].key)", answer=key)
    assert code == 0, shown
    assert b"Google key ([google].key)" in shown and key.encode() not in shown
    assert listed(sd, tmp_path)["providers"]["google"]["key"]["fingerprint"] == sha12(key)


# --- the onboarding script -------------------------------------------------------------


def run_script(sd, tmp_path, path: Path, extra_env: dict[str, str]) -> tuple[subprocess.CompletedProcess, str]:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    log = tmp_path / "onboard.log"
    log.unlink(missing_ok=True)
    script_env = {
        **os.environ,
        "CURSOR_BYOK": f"{sys.executable} -m cursor_byok",
        "CURSOR_USER_DATA_DIR": str(sd.udd),
        "CURSOR_BYOK_SAFE_STORAGE": "basic",
        "CURSOR_BYOK_LOG": str(log),
        **extra_env,
    }
    done = subprocess.run([bash, str(SCRIPT), str(path)], env=script_env, capture_output=True, text=True, timeout=300)
    return done, log.read_text() if log.exists() else ""


def test_onboard_script_applies_once_then_finds_nothing_to_do(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    team_env = {"TEAM_OPENAI_KEY": keys["openai"], "CURSOR_BYOK_ON_CONFLICT": "replace",
                "CURSOR_BYOK_ALLOW_ENDPOINT": " ".join(TEAM_ENDPOINTS[1::2])}  # fmt: skip
    done, log = run_script(sd, tmp_path, path, team_env)
    assert done.returncode == 0, (done.stderr, log)
    summary = json.loads(log.split("done: ", 1)[1])
    assert summary["applied"] is True and summary["journal"]
    assert "openai.key:replace" in summary["fields"]
    for text in (log, done.stdout, done.stderr):
        assert not any(k in text or k[8:-4] in text for k in keys.values())
    assert listed(sd, tmp_path)["providers"]["anthropic"]["key"]["fingerprint"] == sha12(keys["anthropic"])
    before = disk_state(sd.db)
    done, log = run_script(sd, tmp_path, path, team_env)
    assert done.returncode == 0, (done.stderr, log)
    assert json.loads(log.split("done: ", 1)[1])["applied"] is False
    assert disk_state(sd.db) == before


@pytest.mark.slow
def test_onboard_script_keeps_developer_keys_by_default(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    done, log = run_script(sd, tmp_path, path, {"TEAM_OPENAI_KEY": keys["openai"]})
    assert done.returncode == 0, (done.stderr, log)
    assert listed(sd, tmp_path)["providers"]["openai"]["key"]["fingerprint"] == sha12(sd.keys["openai.key"])
    summary = json.loads(log.split("done: ", 1)[1].splitlines()[0])
    assert "openai.key" in summary["kept"] and "openai.key:kept" in summary["fields"]
    assert summary["summary"]["kept"] >= 1
    assert "kept: stored values that differ from the manifest stayed" in log
    assert not any(k in log for k in keys.values())


@pytest.mark.slow
def test_onboard_script_check_reports_drift_and_writes_nothing(make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    before = disk_state(sd.db)
    done, log = run_script(sd, tmp_path, path, {"TEAM_OPENAI_KEY": keys["openai"], "CURSOR_BYOK_CHECK": "1"})
    assert done.returncode == int(Exit.PENDING), (done.stderr, log)
    assert "drift: changes or conflicts pending" in log
    assert disk_state(sd.db) == before and journal_count(env) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "situation, code, expected",
    [
        ("cursor running", 75, "Cursor is running"),
        ("conflict", Exit.CONFLICT, "conflict: stored values differ"),
        ("variable missing", Exit.INPUT, "manifest or key source problem"),
        ("no cursor", 0, "skipped: no Cursor installation"),
    ],
)
def test_onboard_script_explains_each_failure(situation, code, expected, make_sample_dir, tmp_path, env, keys):
    sd = make_sample_dir("basic")
    path = team_manifest(tmp_path / "team", keys, Path(os.environ["HOME"]))
    extra = {"TEAM_OPENAI_KEY": keys["openai"]}
    if situation == "cursor running":
        (sd.udd / "code.lock").write_text(str(os.getpid()))
    elif situation == "conflict":
        extra["CURSOR_BYOK_ON_CONFLICT"] = "fail"
    elif situation == "variable missing":
        del extra["TEAM_OPENAI_KEY"]
    before = disk_state(sd.db)
    if situation == "no cursor":
        extra["CURSOR_USER_DATA_DIR"] = str(tmp_path / "nobody-home")
    done, log = run_script(sd, tmp_path, path, extra)
    assert done.returncode == code, (done.stderr, log)
    assert expected in log
    assert disk_state(sd.db) == before and journal_count(env) == 0
    assert not any(k in log for k in keys.values())


def test_a_selection_the_user_changed_is_a_conflict_that_says_why(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")  # its composer selection is claude-sonnet-4
    path = tmp_path / "team.toml"
    path.write_text('version = 1\n[models]\nselect = { composer = "gpt-4.1" }\n')
    result = apply(sd, tmp_path, path, "--dry-run", "--json")
    change = next(c for c in json.loads(result.stdout)["plan"]["changes"] if c["field"] == "models.selected.composer")
    assert change["action"] == "conflict" and "--on-conflict replace" in change["note"]
