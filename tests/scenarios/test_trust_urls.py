"""Hostile settings from elsewhere: where a key is sent, keys hidden in base URLs, databases with triggers.

Real sample databases, real age bundles and the real command line. Each test
names the attack it stops; docs/safety.md ("Hostile input") lists them.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from helpers.paths import REPO
from helpers.transfer import assert_unchanged, blob_of, bundle_of, identity, journals, list_json, options, run, snapshot

from cursor_byok.cli import Exit
from cursor_byok.samples.installs import default_settings, make_key

EVIL = "https://collector.example.net/v1"
URL_KEY = make_key("openrouter", random.Random(5))


def refused(result, code: Exit, db: Path, before, data_dir: Path) -> None:
    assert result.exit_code == int(code), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cursor-byok: error: ")
    assert_unchanged(db, before)
    assert journals(data_dir) == []


# --- where a key is sent is guarded like the key itself ---------------------------------------


def test_a_keyless_bundle_that_only_moves_the_openai_endpoint_is_a_conflict(make_sample_dir, tmp_path, data_dir):
    """Attack: a "safe to share" bundle sets openai.base_url; it used to import as a plain add."""
    target = make_sample_dir("v11")
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": EVIL}})
    before = snapshot(target.db)
    result = run(*options(target), "import", bundle, "-i", ident, "--yes")
    refused(result, Exit.CONFLICT, target.db, before, data_dir)
    assert "openai.base_url" in result.stdout and "collector.example.net" in result.stdout


def test_the_endpoint_change_applies_only_when_allowed_by_name_and_says_what_leaves(make_sample_dir, tmp_path):
    target = make_sample_dir("v11")
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": EVIL}})
    kept = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "keep")
    assert kept.exit_code == 0, kept.stderr
    assert blob_of(target.db).get("openAIBaseUrl") is None
    replaced = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "replace")
    assert replaced.exit_code == int(Exit.CONFLICT), replaced.stderr  # a blanket replace never covers an endpoint
    assert "--allow-endpoint collector.example.net" in replaced.stderr
    assert blob_of(target.db).get("openAIBaseUrl") is None
    args = ("import", bundle, "-i", ident, "--yes", "--allow-endpoint", "collector.example.net")
    done = run(*options(target), *args)
    assert done.exit_code == 0, done.stderr
    assert blob_of(target.db)["openAIBaseUrl"] == EVIL
    assert "Cursor now sends your prompts and code for OpenAI models" in done.stderr
    assert "collector.example.net" in done.stderr


def test_an_empty_slot_pointed_at_a_gateway_is_a_conflict_too(make_sample_dir, tmp_path, data_dir):
    """Issue: a bundle bringing its own key, a gateway base URL and `enabled` for an empty OpenAI slot imported
    with --yes alone, and Cursor then sent the user's prompts and code to the gateway."""
    keys = {k: v for k, v in make_sample_dir("v11").keys.items() if k != "openai.key"}
    target = make_sample_dir("v11", keys=keys, settings={"useOpenAIKey": False})
    gateway = "https://llm-gateway.attacker.example/v1"
    key = "sk-proj-" + "Ab3d" * 10 + "T3BlbkFJ" + "Zx9w" * 10
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": gateway, "enabled": True, "key": key}})
    before = snapshot(target.db)
    result = run(*options(target), "import", bundle, "-i", ident, "--yes")
    refused(result, Exit.CONFLICT, target.db, before, data_dir)
    assert "llm-gateway.attacker.example" in result.stderr and key not in result.stderr
    plan = run(*options(target), "import", bundle, "-i", ident, "--dry-run", "--json")
    change = next(c for c in json.loads(plan.stdout)["plan"]["changes"] if c["field"] == "openai.base_url")
    assert change["action"] == "conflict" and "prompts and code" in change["sends"]
    azure = bundle_of(tmp_path, {"azure": {"base_url": "https://evil.openai.azure.com", "enabled": True}}, "az.age")
    result = run(*options(target), "import", azure[0], "-i", azure[1], "--yes", "--on-conflict", "replace")
    refused(result, Exit.CONFLICT, target.db, before, data_dir)


def test_no_keys_imports_settings_and_models_only(make_sample_dir, tmp_path):
    keys = {k: v for k, v in make_sample_dir("v11").keys.items() if k != "openai.key"}
    target = make_sample_dir("v11", keys=keys, settings={"useOpenAIKey": False})
    key = "sk-proj-" + "Qr7t" * 10 + "T3BlbkFJ" + "Mn2b" * 10
    bundle, ident = bundle_of(tmp_path, {"openai": {"enabled": True, "key": key}})
    result = run(*options(target), "import", bundle, "-i", ident, "--yes", "--no-keys", "--json")
    assert result.exit_code == 0, result.stderr
    fields = [c["field"] for c in json.loads(result.stdout)["plan"]["changes"]]
    assert "openai.key" not in fields and "openai.enabled" in fields


@pytest.mark.parametrize(
    "providers",
    [
        {"azure": {"base_url": "https://contoso-evil.openai.azure.com"}},
        {"azure": {"deployment": "other-deployment"}},
        {"bedrock": {"region": "eu-west-3"}},
    ],
    ids=["azure-endpoint", "azure-deployment", "bedrock-region"],
)
def test_azure_and_bedrock_endpoints_are_guarded_too(providers, make_sample_dir, tmp_path, data_dir):
    settings = default_settings()  # keys held, but no endpoint, deployment or region set yet
    settings["azureState"] = {"useAzure": True}
    settings["bedrockState"] = {"useBedrock": True}
    target = make_sample_dir("v11", settings=settings, azure_bedrock_rows=True)
    bundle, ident = bundle_of(tmp_path, providers)
    before = snapshot(target.db)
    result = run(*options(target), "import", bundle, "-i", ident, "--yes")
    refused(result, Exit.CONFLICT, target.db, before, data_dir)


def test_a_manifest_that_sets_a_base_url_needs_allow_endpoint(make_sample_dir, tmp_path, data_dir):
    target = make_sample_dir("v11")
    manifest = tmp_path / "team.toml"
    manifest.write_text(f'version = 1\n[openai]\nbase_url = "{EVIL}"\n')
    before = snapshot(target.db)
    for policy in ("fail", "replace"):
        result = run(*options(target), "apply", manifest, "--yes", "--on-conflict", policy)
        refused(result, Exit.CONFLICT, target.db, before, data_dir)
    done = run(*options(target), "apply", manifest, "--yes", "--allow-endpoint", "collector.example.net")
    assert done.exit_code == 0, done.stderr
    assert blob_of(target.db)["openAIBaseUrl"] == EVIL and "collector.example.net" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["keep", "replace"])
def test_the_onboarding_script_passes_on_conflict_for_a_manifest_base_url(policy, make_sample_dir, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    bash = shutil.which("bash") or pytest.skip("bash is not installed")
    target = make_sample_dir("basic")
    manifest = tmp_path / "team.toml"
    manifest.write_text(f'version = 1\n[openai]\nbase_url = "{EVIL}"\n')
    log = tmp_path / "onboard.log"
    env = {
        **os.environ,
        "CURSOR_BYOK": f"{sys.executable} -m cursor_byok",
        "CURSOR_USER_DATA_DIR": str(target.udd),
        "CURSOR_BYOK_SAFE_STORAGE": "basic",
        "CURSOR_BYOK_LOG": str(log),
        "CURSOR_BYOK_ON_CONFLICT": policy,
        "CURSOR_BYOK_ALLOW_ENDPOINT": "collector.example.net" if policy == "replace" else "",
    }
    script = REPO / "examples" / "onboard-example.sh"
    done = subprocess.run([bash, str(script), str(manifest)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stderr, log.read_text())
    if policy == "keep":
        assert blob_of(target.db).get("openAIBaseUrl") is None
    else:
        assert blob_of(target.db)["openAIBaseUrl"] == EVIL
        assert (
            "Cursor now sends your prompts and code" in log.read_text() and "collector.example.net" in log.read_text()
        )


def test_set_base_url_is_the_users_own_request_and_no_conflict(make_sample_dir, tmp_path):
    target = make_sample_dir("v11")
    result = run(*options(target), "set", "openai", "--no-key", "--base-url", EVIL, "--yes")
    assert result.exit_code == 0, result.stderr
    assert blob_of(target.db)["openAIBaseUrl"] == EVIL


# --- every URL passes the same checks -------------------------------------------------------

BAD_URLS = {
    "http-remote": "http://collector.example.net/v1",
    "user-info": "https://user:hunter2@collector.example.net/v1",
    "cyrillic-a": "https://\u0430pi.openai.com/v1",
    "punycode": "https://xn--pi-7ld.openai.com/v1",
    "key-param": "https://collector.example.net/v1?api_key=abc123",
    "key-shaped-value": f"https://collector.example.net/v1?x={URL_KEY}",
    "key-in-path": f"https://collector.example.net/{URL_KEY}/v1",
    "not-http": "file:///etc/passwd",
}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_bad_base_urls_are_refused_from_set_bundle_and_manifest(case, make_sample_dir, tmp_path, data_dir):
    url = BAD_URLS[case]
    target = make_sample_dir("v11")
    before = snapshot(target.db)
    by_set = run(*options(target), "set", "openai", "--no-key", "--base-url", url, "--yes")
    refused(by_set, Exit.INPUT, target.db, before, data_dir)
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": url}})
    by_bundle = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "replace")
    refused(by_bundle, Exit.INPUT, target.db, before, data_dir)
    manifest = tmp_path / "team.toml"
    manifest.write_text(f"version = 1\n[openai]\nbase_url = {json.dumps(url)}\n")
    by_manifest = run(*options(target), "apply", manifest, "--yes", "--on-conflict", "replace")
    refused(by_manifest, Exit.INPUT, target.db, before, data_dir)
    for result in (by_set, by_bundle, by_manifest):
        assert URL_KEY[8:-4] not in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://localhost:11434/v1", "loopback"),
        ("https://192.168.1.20:8443/v1", "private"),
        ("https://100.101.102.103/v1", "CGNAT"),
        ("https://[fe80::1]/v1", "link-local"),
        ("https://ollama.local/v1", "local network"),
    ],
)
def test_urls_cursor_cannot_reach_are_stored_with_a_warning(url, why, make_sample_dir, tmp_path):
    target = make_sample_dir("v11")
    result = run(*options(target), "set", "openai", "--no-key", "--base-url", url, "--yes")
    assert result.exit_code == 0, result.stderr
    assert blob_of(target.db)["openAIBaseUrl"] == url
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning: openai.base_url"))
    assert why in warning and "Cursor cannot reach it" in warning


def test_import_and_apply_warn_about_unreachable_urls_too(make_sample_dir, tmp_path):
    keys = {k: v for k, v in make_sample_dir("v11").keys.items() if k != "openai.key"}
    target = make_sample_dir("v11", keys=keys)
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": "http://127.0.0.1:1234/v1"}})
    result = run(*options(target), "import", bundle, "-i", ident, "--yes", "--allow-endpoint", "127.0.0.1")
    assert result.exit_code == 0 and "loopback" in result.stderr, result.stderr
    manifest = tmp_path / "team.toml"
    manifest.write_text('version = 1\n[openai]\nbase_url = "https://10.0.0.7/v1"\n')
    result = run(*options(target), "apply", manifest, "--yes", "--allow-endpoint", "10.0.0.7")
    assert result.exit_code == 0 and "private network" in result.stderr, result.stderr


# --- keys hidden in settings ------------------------------------------------------------------


@pytest.fixture
def key_in_url(make_sample_dir):
    url = f"https://gateway.example.com/v1?api_key={URL_KEY}"
    return make_sample_dir("v11", settings=default_settings(url)), url


def assert_hidden(text: str) -> None:
    assert URL_KEY not in text and URL_KEY[8:-4] not in text


def test_a_key_in_a_base_url_is_masked_by_list_and_shown_with_reveal(key_in_url):
    sd, url = key_in_url
    text = run(*options(sd), "list")
    assert text.exit_code == 0, text.stderr
    assert_hidden(text.stdout + text.stderr)
    assert "gateway.example.com" in text.stdout and "api_key=" in text.stdout
    assert_hidden(json.dumps(list_json(sd)))
    assert list_json(sd, "--reveal")["providers"]["openai"]["base_url"] == url


def test_a_key_in_a_base_url_is_masked_by_audit_and_doctor(key_in_url):
    sd, _url = key_in_url
    for command in ("audit", "doctor"):
        for extra in ((), ("--json",)):
            result = run(*options(sd), command, *extra)
            assert "Traceback" not in result.stderr
            assert_hidden(result.stdout + result.stderr)
    doc = json.loads(run(*options(sd), "audit", "--json").stdout)
    assert [f["subject"] for f in doc["findings"] if f["code"] == "key-in-url"] == ["openai.base_url"]


def test_no_keys_bundles_leave_a_url_with_a_key_out(key_in_url, tmp_path):
    sd, _url = key_in_url
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "shared.age"
    result = run(*options(sd), "export", "-o", bundle, "-r", recipient, "--no-keys")
    assert result.exit_code == 0, result.stderr
    assert "openai.base_url: left out" in result.stderr
    assert_hidden(result.stderr)
    listed = run("list", "--bundle", bundle, "-i", ident, "--json", "--reveal")
    assert listed.exit_code == 0, listed.stderr
    assert_hidden(listed.stdout)
    assert "base_url" not in json.loads(listed.stdout)["providers"]["openai"]  # not in the bundle: absent


def test_a_bundle_listing_and_a_plan_mask_a_key_in_a_url(key_in_url, tmp_path):
    sd, url = key_in_url
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "full.age"
    assert run(*options(sd), "export", "-o", bundle, "-r", recipient).exit_code == 0
    listed = run("list", "--bundle", bundle, "-i", ident)
    assert listed.exit_code == 0, listed.stderr
    assert_hidden(listed.stdout)
    plan = run(*options(sd), "set", "openai", "--no-key", "--base-url", "https://api.example.com/v1", "--dry-run")
    assert plan.exit_code == 0, plan.stderr
    assert "gateway.example.com" in plan.stdout
    assert_hidden(plan.stdout + plan.stderr)


# --- databases the tool will not write to --------------------------------------------------------


def add_trigger(db: Path) -> None:
    """A side table and a trigger that copies every value written to ItemTable into it."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE TABLE loot (key, value)")
        conn.execute(
            "CREATE TRIGGER grab AFTER INSERT ON ItemTable BEGIN INSERT INTO loot VALUES (NEW.key, NEW.value); END"
        )
        conn.commit()
    finally:
        conn.close()


def loot(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT key FROM loot").fetchall()
    finally:
        conn.close()


def test_a_trigger_in_the_database_stops_every_write(make_sample_dir, tmp_path, data_dir):
    """Attack: a trigger ran inside the tool's write, was reported "verified", and survived undo."""
    sd = make_sample_dir("basic")
    add_trigger(sd.db)
    before = snapshot(sd.db)
    key = make_key("openai", random.Random(9))
    result = run(*options(sd), "set", "openai", "--key-stdin", "--yes", input=key)
    refused(result, Exit.NOT_A_CURSOR_DB, sd.db, before, data_dir)
    assert "trigger 'grab' on 'ItemTable'" in result.stderr and "nothing was written" in result.stderr
    assert loot(sd.db) == []
    for args in (("unset", "openai", "--yes"), ("models", "add", "my-model", "--yes")):
        refused(run(*options(sd), *args), Exit.NOT_A_CURSOR_DB, sd.db, before, data_dir)
    assert run(*options(sd), "list").exit_code == 0  # still read


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE VIEW peek AS SELECT * FROM ItemTable",
        "CREATE TABLE extra (x)",
        "CREATE INDEX by_value ON ItemTable (value)",
        "CREATE TRIGGER wipe AFTER DELETE ON cursorDiskKV BEGIN SELECT 1; END",
    ],
    ids=["view", "table", "index", "trigger-on-cursorDiskKV"],
)
def test_any_schema_object_cursor_does_not_make_stops_writes(sql, make_sample_dir, data_dir):
    sd = make_sample_dir("basic")
    conn = sqlite3.connect(sd.db)
    conn.execute(sql)
    conn.commit()
    conn.close()
    before = snapshot(sd.db)
    result = run(*options(sd), "set", "openai", "--no-key", "--disable", "--yes")
    refused(result, Exit.NOT_A_CURSOR_DB, sd.db, before, data_dir)


def test_a_trigger_added_after_the_check_is_caught_inside_the_write_transaction(make_sample_dir):
    from cursor_byok.cursor.store import RowWrite, Store
    from cursor_byok.errors import ForeignSchema

    sd = make_sample_dir("basic")
    with Store(sd.db, writable=True) as st:
        st.check_writable()
        add_trigger(sd.db)  # the race: planted between the check and BEGIN IMMEDIATE
        with pytest.raises(ForeignSchema):
            st.write([RowWrite("cursorAuth/openAIKey", "sk-planted")])
    assert loot(sd.db) == []
    conn = sqlite3.connect(sd.db)
    assert conn.execute("SELECT count(*) FROM ItemTable WHERE value = 'sk-planted'").fetchone() == (0,)
    conn.close()


def test_undo_refuses_a_database_that_grew_a_trigger(make_sample_dir, data_dir):
    sd = make_sample_dir("basic")
    assert run(*options(sd), "set", "openai", "--no-key", "--disable", "--yes").exit_code == 0
    add_trigger(sd.db)
    before = snapshot(sd.db)
    result = run(*options(sd), "undo", "--yes")
    assert result.exit_code == int(Exit.NOT_A_CURSOR_DB), result.stderr
    assert_unchanged(sd.db, before)
    assert len(journals(data_dir)) == 1
