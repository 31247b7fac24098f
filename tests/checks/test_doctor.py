"""`cursor-byok doctor`: offline causes for Cursor's BYOK errors, and --online key checks
against a fake provider server on 127.0.0.1 (tests/helpers/fakeprovider.py)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers.doctor import Dir, inject_urls, keys, only, settings
from helpers.fakeprovider import ROUTES, FakeProvider
from helpers.leaks import assert_no_key_in

from cursor_byok.checks import doctor, provider_pages
from cursor_byok.cli import Exit, main
from cursor_byok.model import Profile, Secret, StoredKey
from cursor_byok.providers import registry
from cursor_byok.samples.installs import make_key

ANTHROPIC_VERSION = dict(registry()["anthropic"].probe.auth)["anthropic-version"]

CHECK_SHAPE = {"provider", "symptom", "verdict", "detail", "fix"}
ONLINE_SHAPE = {"provider", "field", "status", "reason", "url", "host", "elapsed_ms", "slow", "rate_limit"}


@pytest.fixture(autouse=True)
def env(clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(tmp_path / "data"))
    return clean_env


def verdicts(doc: dict, provider: str, symptom: str) -> list[str]:
    return [c["verdict"] for c in doc["checks"] if c["provider"] == provider and c["symptom"] == symptom]


# --- offline --------------------------------------------------------------------------------------


def test_a_healthy_install_has_no_likely_causes(make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path)
    result = d.run("--json")
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    assert set(doc) == {"output_version", "db", "checks", "online", "costs", "summary"}
    assert doc["online"] is None and doc["summary"] == {"likely": 0, "invalid": 0, "rate_limited": 0, "refused": 0}
    assert all(set(c) == CHECK_SHAPE for c in doc["checks"])
    for provider in registry().names:
        assert verdicts(doc, provider, doctor.NOT_SHOWN) == ["ok"]
    assert verdicts(doc, "openai", doctor.S401) == ["ok"]
    assert verdicts(doc, "azure", doctor.AZURE_REFUSED) == ["ok"]
    azure = next(c for c in doc["checks"] if c["symptom"] == doctor.AZURE_REFUSED)
    assert "2024-10-21" in azure["detail"] and "--online" in azure["detail"]
    assert verdicts(doc, "general", doctor.TAB) == ["note"]


def test_401_key_in_the_wrong_slot(make_sample_dir, tmp_path):
    anthropic_key = make_key("anthropic", random.Random(1))
    d = Dir(make_sample_dir, tmp_path, key_values=keys(openai__key=anthropic_key))
    result = d.run("--json")
    assert result.exit_code == Exit.FINDINGS
    doc = json.loads(result.stdout)
    check = next(c for c in doc["checks"] if c["provider"] == "openai" and c["symptom"] == doctor.S401)
    assert check["verdict"] == "likely" and "Anthropic key" in check["detail"] and "Anthropic slot" in check["fix"]
    assert_no_key_in(result.stdout, [*d.secrets, anthropic_key])


def test_401_placeholder_key(make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path, key_values=keys(google__key="<paste your key>"))
    assert verdicts(d.document(), "google", doctor.S401) == ["likely"]


def test_403_claude_enabled_with_only_an_openai_key(make_sample_dir, tmp_path):
    blob = settings(useClaudeKey=False, useGoogleKey=False)
    blob["aiSettings"]["modelOverrideEnabled"] = ["claude-sonnet-4", "gemini-2.5-pro"]
    d = Dir(make_sample_dir, tmp_path, key_values=keys(anthropic__key=None, google__key=None), blob=blob)
    doc = d.document()
    assert verdicts(doc, "anthropic", doctor.S403) == ["likely"]
    assert verdicts(doc, "google", doctor.S403) == ["likely"]
    detail = next(c["detail"] for c in doc["checks"] if c["provider"] == "google" and c["symptom"] == doctor.S403)
    assert "gemini-2.5-pro" in detail and "OpenAI" in detail


def test_model_not_appearing_causes(make_sample_dir, tmp_path):
    blob = settings(useClaudeKey=False)
    blob["aiSettings"]["modelOverrideDisabled"] = ["llama-3.1-70b"]
    d = Dir(make_sample_dir, tmp_path, key_values=keys(google__key=None), blob=blob)
    doc = d.document()
    assert verdicts(doc, "anthropic", doctor.NOT_SHOWN) == ["note"]  # key saved, toggle off
    assert verdicts(doc, "google", doctor.NOT_SHOWN) == ["likely"]  # toggle on, no key
    models = [c for c in doc["checks"] if c["provider"] == "models"]
    assert any("llama-3.1-70b" in c["detail"] and c["verdict"] == "likely" for c in models)


def test_custom_models_need_the_openai_route(make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path, key_values=keys(openai__key=None), blob=settings(useOpenAIKey=False))
    doc = d.document()
    assert any(c["provider"] == "models" and "qwen2.5-coder:32b" in c["detail"] for c in doc["checks"])


@pytest.mark.parametrize(
    "azure, verdict",
    [
        ({"useAzure": True, "deployment": "gpt-4o"}, "likely"),
        ({"useAzure": True, "baseUrl": "https://contoso-ai.openai.azure.com"}, "likely"),
        ({"useAzure": True, "baseUrl": "http://contoso-ai.openai.azure.com", "deployment": "d"}, "likely"),
        ({"useAzure": True, "baseUrl": "https://x.services.ai.azure.com", "deployment": "d"}, "note"),
        ({"useAzure": True, "baseUrl": "https://contoso-ai.openai.azure.com/", "deployment": "d"}, "ok"),
    ],
)
def test_azure_connection_refused(azure, verdict, make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path, blob=settings(azureState=azure))
    assert verdicts(d.document(), "azure", doctor.AZURE_REFUSED) == [verdict]


def test_local_base_url_gets_the_tunnel_note(make_sample_dir, tmp_path):
    blob = settings(openAIBaseUrl="http://localhost:11434/v1")
    d = Dir(make_sample_dir, tmp_path, key_values=keys(openai__key=None), blob=blob)
    doc = d.document()
    notes = [c for c in doc["checks"] if c["provider"] == "openai" and c["verdict"] == "note"]
    assert any("tunnel" in c["fix"] for c in notes)
    assert verdicts(doc, "openai", doctor.NOT_SHOWN)[0] == "note"  # no key is fine for a local server


def test_human_output(make_sample_dir, tmp_path):
    result = Dir(make_sample_dir, tmp_path).run("--all")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["provider", "symptom", "verdict"]
    assert "never use BYOK keys" in result.stdout
    assert lines[-1] == "nothing needs attention"
    short = Dir(make_sample_dir, tmp_path).run().stdout
    assert "nothing needs attention" in short and "likely cause(s)" not in short and "never use BYOK" not in short


# --- online ---------------------------------------------------------------------------------------
#
# Where a key goes cannot be changed from outside the process: tests point the official URLs at the fake
# server through checks.reports.doctor_report(provider_urls=...), a parameter the CLI never sets. CLI-level
# tests use `inject_urls`, which wraps doctor_report in this pytest process (CliRunner runs the CLI in-process);
# no variable, file or option of a normal run reaches it.


def online_dir(make_sample_dir, tmp_path, fake_root: str, *, key_values=None, blob=None) -> Dir:
    blob = blob or settings()
    blob["azureState"] = {**blob["azureState"], "baseUrl": fake_root}
    return Dir(make_sample_dir, tmp_path, key_values=key_values, blob=blob)


def online(doc: dict) -> dict:
    return {v["field"]: v for v in doc["online"]}


def assert_keys_only_where_expected(fake: FakeProvider, secrets, allowed: dict[str, str]) -> None:
    """Each request carries at most one key, never in its URL, and only the key of the provider its path serves."""
    for s in fake.seen:
        assert_no_key_in(s.target, secrets)
        assert_no_key_in(s.body.decode(), secrets)
        carried = [v for v in secrets if any(v in h for h in s.headers.values())]
        assert len(carried) <= 1
        if carried:
            assert allowed.get(s.path) == carried[0], f"{s.method} {s.path} carried a key it must not"


def test_online_checks_each_key_with_the_right_header(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    known = {"openai": values["openai.key"], "anthropic": values["anthropic.key"], "azure": values["azure.key"]}
    with FakeProvider(known) as fake:  # the Google key is not known: 401
        inject_urls(monkeypatch, fake.urls())
        d = online_dir(make_sample_dir, tmp_path, fake.root, key_values=values)
        result = d.run("--online", "--json")
        text = d.run("--online")
    assert result.exit_code == Exit.FINDINGS  # one invalid key
    doc = json.loads(result.stdout)
    status = {v["field"]: v["status"] for v in doc["online"]}
    assert status == {
        "openai.key": "verified",
        "anthropic.key": "verified",
        "google.key": "invalid",
        "azure.key": "verified",
        "bedrock.access_key": "unknown",
        "azure.deployment": "verified",
    }
    assert all(set(v) == ONLINE_SHAPE for v in doc["online"])
    assert {k: v for k, v in doc["summary"].items() if k != "likely"} == {"invalid": 1, "rate_limited": 0, "refused": 0}
    found = online(doc)
    assert "SigV4" in found["bedrock.access_key"]["reason"] and found["bedrock.access_key"]["host"] is None
    host = fake.root.split("//")[1]
    assert {v["host"] for f, v in found.items() if f != "bedrock.access_key"} == {host}
    assert "499/500 requests left" in found["openai.key"]["reason"]
    assert found["openai.key"]["rate_limit"] == {"requests_limit": 500, "requests_remaining": 499}

    seen = sorted((s.method, s.path) for s in fake.seen)
    expected = sorted(("GET", ROUTES[p.name][1]) for p in registry() if p.probe)
    expected.append(("POST", "/openai/deployments/gpt-4o-prod/chat/completions"))
    assert seen == sorted(expected * 2)  # once for --json, once for the text run
    by_path = {s.path: s for s in fake.seen}
    assert by_path[ROUTES["openai"][1]].headers["authorization"] == f"Bearer {values['openai.key']}"
    assert by_path[ROUTES["anthropic"][1]].headers["x-api-key"] == values["anthropic.key"]
    assert by_path[ROUTES["anthropic"][1]].headers["anthropic-version"] == ANTHROPIC_VERSION
    assert by_path[ROUTES["google"][1]].headers["x-goog-api-key"] == values["google.key"]
    assert by_path[ROUTES["azure"][1]].headers["api-key"] == values["azure.key"]
    assert by_path[ROUTES["azure"][1]].query == {"api-version": [doctor.AZURE_API_VERSION]}
    assert by_path["/openai/deployments/gpt-4o-prod/chat/completions"].body == b"{}"
    for s in fake.seen:  # no key in any URL; each request carries exactly one key
        assert_no_key_in(s.target, d.secrets)
        carried = [v for v in d.secrets if any(v in h for h in s.headers.values())]
        assert len(carried) == 1
    assert "invalid" in text.stdout and "verified" in text.stdout and "sent to" in text.stdout
    assert host in text.stdout
    for output in (result.stdout, result.stderr, text.stdout, text.stderr):
        assert_no_key_in(output, d.secrets)


def test_online_honours_the_openai_base_url(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"openai": values["openai.key"]}) as used, FakeProvider({}) as official:
        inject_urls(monkeypatch, official.urls())
        blob = only("openai", openAIBaseUrl=used.base("openai"))
        d = Dir(make_sample_dir, tmp_path, key_values={"openai.key": values["openai.key"]}, blob=blob)
        doc = d.document("--online")
    assert [(v["field"], v["status"]) for v in doc["online"]] == [("openai.key", "verified")]
    assert [s.path for s in used.seen] == [ROUTES["openai"][1]]
    assert official.seen == []  # the official URL is not tried as well


def test_online_sends_no_key_of_a_switched_off_provider(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    known = {"openai": values["openai.key"], "anthropic": values["anthropic.key"], "google": values["google.key"]}
    with FakeProvider({**known, "azure": values["azure.key"]}) as fake:
        inject_urls(monkeypatch, fake.urls())
        blob = only("anthropic")  # every other provider keeps its key but is switched off
        d = online_dir(make_sample_dir, tmp_path, fake.root, key_values=values, blob=blob)
        doc = d.document("--online")
    found = online(doc)
    assert found["anthropic.key"]["status"] == "verified"
    for field in ("openai.key", "google.key", "azure.key"):
        assert found[field]["status"] == "unknown" and "switched off" in found[field]["reason"], field
        assert found[field]["host"] is None
    assert "azure.deployment" not in found or found["azure.deployment"]["host"] is None
    assert [s.path for s in fake.seen] == [ROUTES["anthropic"][1]]
    assert_keys_only_where_expected(fake, d.secrets, {ROUTES["anthropic"][1]: values["anthropic.key"]})


def test_a_key_goes_only_to_its_own_providers_host(make_sample_dir, tmp_path, monkeypatch):
    """Two capture servers: one per provider. No key ever reaches the other provider's server."""
    values = keys()
    with FakeProvider({"openai": values["openai.key"]}) as a, FakeProvider({"google": values["google.key"]}) as b:
        inject_urls(
            monkeypatch, {"openai": a.base("openai"), "anthropic": a.base("anthropic"), "google": b.base("google")}
        )
        blob = settings()
        blob["azureState"] = {**blob["azureState"], "baseUrl": a.root}
        d = Dir(make_sample_dir, tmp_path, key_values=values, blob=blob)
        doc = d.document("--online")
    found = online(doc)
    assert found["google.key"]["host"] == b.root.split("//")[1] and found["google.key"]["status"] == "verified"
    assert found["openai.key"]["host"] == a.root.split("//")[1] and found["openai.key"]["status"] == "verified"
    assert [s.path for s in b.seen] == [ROUTES["google"][1]]
    assert_keys_only_where_expected(b, d.secrets, {ROUTES["google"][1]: values["google.key"]})
    allowed_a = {
        ROUTES["openai"][1]: values["openai.key"],
        ROUTES["anthropic"][1]: values["anthropic.key"],
        ROUTES["azure"][1]: values["azure.key"],
        "/openai/deployments/gpt-4o-prod/chat/completions": values["azure.key"],
    }
    assert_keys_only_where_expected(a, d.secrets, allowed_a)


def test_the_environment_cannot_redirect_keys(make_sample_dir, tmp_path):
    """A normal run (python -m cursor_byok) ignores CURSOR_BYOK_PROVIDER_URLS. An https proxy on 127.0.0.1
    records where each request would have gone (CONNECT host:443) and refuses the tunnel, so nothing leaves."""
    values = keys()
    with FakeProvider({"openai": values["openai.key"]}) as fake:
        env = dict(os.environ)
        env["CURSOR_BYOK_PROVIDER_URLS"] = json.dumps(fake.urls())
        env.update({name: fake.root for name in ("HTTPS_PROXY", "https_proxy")})
        env.update({name: "" for name in ("NO_PROXY", "no_proxy")})
        d = Dir(make_sample_dir, tmp_path, key_values=values)
        command = [sys.executable, "-m", "cursor_byok", *d.options, "doctor", "--online", "--json"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    doc = json.loads(result.stdout)
    assert sorted(s.path for s in fake.seen if s.method == "CONNECT") == [
        "api.anthropic.com:443",
        "api.openai.com:443",
        "contoso-ai.openai.azure.com:443",
        "contoso-ai.openai.azure.com:443",
        "generativelanguage.googleapis.com:443",
    ]
    assert all(s.method == "CONNECT" for s in fake.seen)  # no GET reached the URLs of the variable
    for s in fake.seen:
        assert_no_key_in(json.dumps(s.headers), d.secrets)
    assert online(doc)["openai.key"]["host"] == "api.openai.com"
    assert_no_key_in(result.stdout + result.stderr, d.secrets)


def test_online_does_not_follow_redirects(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"openai": values["openai.key"]}) as fake:
        blob = only("openai", openAIBaseUrl=fake.root + "/redirect/v1")
        d = Dir(make_sample_dir, tmp_path, key_values={"openai.key": values["openai.key"]}, blob=blob)
        doc = d.document("--online")
    assert doc["online"][0]["status"] == "unknown" and "redirect" in doc["online"][0]["reason"]
    assert [s.path for s in fake.seen] == ["/redirect/v1/models"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_online_unknown_for_server_errors_and_refused_connections(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({}) as fake:
        inject_urls(monkeypatch, {"anthropic": fake.root + "/broken", "google": f"http://127.0.0.1:{closed_port()}"})
        blob = settings(useOpenAIKey=False)
        blob["azureState"] = {"useAzure": False}
        blob["bedrockState"] = {"useBedrock": False}
        only_keys = {"anthropic.key": values["anthropic.key"], "google.key": values["google.key"]}
        d = Dir(make_sample_dir, tmp_path, key_values=only_keys, blob=blob)
        result = d.run("--online", "--json")
    doc = json.loads(result.stdout)
    found = {v["field"]: (v["status"], v["reason"]) for v in doc["online"]}
    assert found["anthropic.key"][0] == "unknown" and "500" in found["anthropic.key"][1]
    assert found["google.key"][0] == "unknown" and "network error" in found["google.key"][1]
    assert doc["summary"]["invalid"] == 0  # unknown is not invalid
    assert_no_key_in(result.stdout, d.secrets)


@pytest.mark.parametrize(
    "base_url",
    ["http://10.255.255.1/v1", "https://user:pw@example.invalid/v1", "https://example.invalid/v1?x=1"],
)
def test_a_key_is_never_sent_over_plain_http_or_to_a_url_with_secrets(base_url, make_sample_dir, tmp_path):
    values = keys()
    with FakeProvider({}) as fake:
        blob = only("openai", openAIBaseUrl=base_url)
        d = Dir(make_sample_dir, tmp_path, key_values={"openai.key": values["openai.key"]}, blob=blob)
        doc = d.document("--online")
    assert doc["online"][0]["status"] == "unknown" and "not sent" in doc["online"][0]["reason"]
    assert doc["online"][0]["host"] is None
    assert fake.seen == []


def test_official_urls_by_default_and_no_key_in_them():
    secret = Secret(make_key("google", random.Random(2)))
    fields = {
        "openai.key": StoredKey(Secret(make_key("openai", random.Random(3))), "password", "r1"),
        "anthropic.key": StoredKey(Secret(make_key("anthropic", random.Random(4))), "password", "r2"),
        "google.key": StoredKey(secret, "password", "r3"),
        "azure.key": StoredKey(Secret(make_key("azure", random.Random(5))), "settings-json", "r4"),
        "azure.base_url": "https://contoso-ai.openai.azure.com/",
        "azure.deployment": "gpt 4o/prod",
        "extra.mistralKey": StoredKey(Secret("mistral-made-up-value-123456"), "password", "r5"),
        **{f"{p.name}.enabled": True for p in registry() if p.probe},
    }
    found = {t.field: t for t in doctor.targets(Profile(fields=fields))}
    assert found["openai.key"].url == "https://api.openai.com/v1/models"
    assert found["anthropic.key"].url == "https://api.anthropic.com/v1/models"
    assert found["google.key"].url == "https://generativelanguage.googleapis.com/v1beta/models"
    assert found["azure.key"].url == "https://contoso-ai.openai.azure.com/openai/models?api-version=2024-10-21"
    deployment = found["azure.deployment"]
    assert deployment.url == (
        "https://contoso-ai.openai.azure.com/openai/deployments/gpt%204o%2Fprod/chat/completions?api-version=2024-10-21"
    )
    assert (deployment.method, deployment.body) == ("POST", b"{}")
    assert found["extra.mistralKey"].url is None and found["extra.mistralKey"].skip
    assert all(t.skip is None for f, t in found.items() if f != "extra.mistralKey")
    assert secret.reveal() not in repr(found)
    assert {t.host for t in found.values() if t.url} == {
        "api.openai.com",
        "api.anthropic.com",
        "generativelanguage.googleapis.com",
        "contoso-ai.openai.azure.com",
    }


def test_the_provider_urls_variable_is_gone():
    assert not hasattr(doctor, "URLS_ENV")
    source = Path(doctor.__file__).read_text()
    assert "CURSOR_BYOK_PROVIDER_URLS" not in source and "os.environ" not in source


# --- the rest of the error table: 429, slow responses, Azure's API version and deployment ----------------


def single_provider_dir(make_sample_dir, tmp_path, fake: FakeProvider, provider: str) -> Dir:
    """Only `provider` switched on, with its sample key (Azure's endpoint on the fake)."""
    field = f"{provider}.key"
    blob = only(provider)
    blob["azureState"] = {**blob["azureState"], "baseUrl": fake.root}
    return Dir(make_sample_dir, tmp_path, key_values={field: keys()[field]}, blob=blob)


def seconds_until(stamp: str) -> float:
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()


@pytest.mark.parametrize(
    "provider, wait, limits",
    [
        ("openai", 90, {"requests_limit": 500, "requests_remaining": 0, "tokens_limit": 30000}),
        ("anthropic", 40, {"retry_after_s": 40.0, "requests_limit": 50, "requests_remaining": 0}),
        ("google", 38, {"retry_after_s": 38.0}),
        ("azure", 20, {"requests_remaining": 0}),
    ],
)
def test_429_reports_rate_limited_with_the_reset_time(provider, wait, limits, make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({provider: values[f"{provider}.key"]}, limited={provider}) as fake:
        inject_urls(monkeypatch, fake.urls())
        d = single_provider_dir(make_sample_dir, tmp_path, fake, provider)
        result = d.run("--online", "--json")
        text = d.run("--online")
    assert result.exit_code == Exit.FINDINGS and text.exit_code == Exit.FINDINGS
    doc = json.loads(result.stdout)
    check = online(doc)[f"{provider}.key"]
    assert check["status"] == "rate-limited" and doc["summary"]["rate_limited"] >= 1
    assert limits.items() <= check["rate_limit"].items()
    assert wait - 10 < seconds_until(check["rate_limit"]["reset_at"]) <= wait + 1
    assert check["rate_limit"]["reset_at"] in check["reason"]
    assert provider_pages.tier_page(provider) in check["reason"]  # how to raise the limit
    assert "rate-limited" in text.stdout and provider_pages.tier_page(provider) in text.stdout
    assert_no_key_in(result.stdout + text.stdout, d.secrets)


def test_403_from_the_provider_is_an_invalid_key(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"google": values["google.key"]}, forbidden={"google"}) as fake:
        inject_urls(monkeypatch, fake.urls())
        doc = single_provider_dir(make_sample_dir, tmp_path, fake, "google").document("--online")
    check = online(doc)["google.key"]
    assert check["status"] == "invalid" and check["reason"].startswith("HTTP 403")


def test_404_at_the_base_url_points_at_the_base_url(make_sample_dir, tmp_path, monkeypatch):
    """'Model not appearing' online: the configured server has no model list where Cursor looks."""
    values = keys()
    with FakeProvider({"openai": values["openai.key"]}) as fake:
        blob = only("openai", openAIBaseUrl=fake.root + "/nothing-here/v1")
        d = Dir(make_sample_dir, tmp_path, key_values={"openai.key": values["openai.key"]}, blob=blob)
        doc = d.document("--online")
    check = online(doc)["openai.key"]
    assert check["status"] == "unknown" and "404" in check["reason"] and "base URL" in check["reason"]
    assert [s.path for s in fake.seen] == ["/nothing-here/v1/models"]


def test_slow_answers_are_timed_and_reported(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"anthropic": values["anthropic.key"]}, delay={"anthropic": 0.4}) as fake:
        inject_urls(monkeypatch, fake.urls(), slow_s=0.2)
        d = single_provider_dir(make_sample_dir, tmp_path, fake, "anthropic")
        doc = d.document("--online")
    check = online(doc)["anthropic.key"]
    assert check["status"] == "verified" and check["slow"] is True and check["elapsed_ms"] >= 400
    assert "slow" in check["reason"]


def test_no_answer_within_the_timeout_is_a_slow_unknown(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"anthropic": values["anthropic.key"]}, delay={"anthropic": 1.0}) as fake:
        inject_urls(monkeypatch, fake.urls(), timeout=0.3)
        doc = single_provider_dir(make_sample_dir, tmp_path, fake, "anthropic").document("--online")
    check = online(doc)["anthropic.key"]
    assert check["status"] == "unknown" and check["slow"] is True and "no answer within 0.3 s" in check["reason"]


def test_a_fast_answer_is_not_slow(make_sample_dir, tmp_path, monkeypatch):
    values = keys()
    with FakeProvider({"anthropic": values["anthropic.key"]}) as fake:
        inject_urls(monkeypatch, fake.urls())
        doc = single_provider_dir(make_sample_dir, tmp_path, fake, "anthropic").document("--online")
    check = online(doc)["anthropic.key"]
    assert check["slow"] is False and "slow" not in check["reason"] and check["elapsed_ms"] < 3000


def test_offline_429_and_slow_responses_come_from_the_provider(make_sample_dir, tmp_path):
    doc = Dir(make_sample_dir, tmp_path, blob=settings(useGoogleKey=False)).document()
    rows = {c["provider"]: c for c in doc["checks"] if c["symptom"] == doctor.S429}
    assert set(rows) == {"openai", "anthropic", "azure", "bedrock"}  # switched on with a key; Google is off
    for provider, row in rows.items():
        assert row["verdict"] == "note" and "not by Cursor" in row["detail"]
        assert provider_pages.tier_page(provider) in row["fix"]
    slow = [c for c in doc["checks"] if c["symptom"] == doctor.SLOW]
    assert len(slow) == 1 and "not from Cursor" in slow[0]["detail"]


@pytest.mark.parametrize(
    "version, status",
    [(None, "verified"), ("2025-04-01-preview", "verified"), ("2023-01-01", "refused")],
)
def test_azure_api_version(version, status, make_sample_dir, tmp_path):
    values = keys()
    with FakeProvider({"azure": values["azure.key"]}) as fake:
        d = single_provider_dir(make_sample_dir, tmp_path, fake, "azure")
        result = d.run("--online", "--json", *(["--azure-api-version", version] if version else []))
    doc = json.loads(result.stdout)
    found = online(doc)
    assert found["azure.key"]["status"] == status and found["azure.deployment"]["status"] == status
    sent = {s.query["api-version"][0] for s in fake.seen}
    assert sent == {version or "2024-10-21"}
    if status == "refused":
        assert result.exit_code == Exit.FINDINGS and doc["summary"]["refused"] == 2
        assert "refuses api-version 2023-01-01" in found["azure.key"]["reason"]
        assert "--azure-api-version" in found["azure.key"]["reason"]


def test_azure_deployment_that_does_not_exist(make_sample_dir, tmp_path):
    values = keys()
    with FakeProvider({"azure": values["azure.key"]}, deployments=("another",)) as fake:
        d = single_provider_dir(make_sample_dir, tmp_path, fake, "azure")
        result = d.run("--online", "--json")
    found = online(json.loads(result.stdout))
    assert found["azure.key"]["status"] == "verified"
    assert (
        found["azure.deployment"]["status"] == "refused"
        and "gpt-4o-prod does not exist" in found["azure.deployment"]["reason"]
    )
    assert result.exit_code == Exit.FINDINGS
    posts = [s for s in fake.seen if s.method == "POST"]
    assert [s.body for s in posts] == [b"{}"]  # the probe carries no prompt: no model runs, nothing is billed


def test_azure_deployment_with_a_wrong_key_is_invalid(make_sample_dir, tmp_path):
    with FakeProvider({"azure": "a-different-key"}) as fake:
        result = single_provider_dir(make_sample_dir, tmp_path, fake, "azure").run("--online", "--json")
    found = online(json.loads(result.stdout))
    assert found["azure.key"]["status"] == "invalid" and found["azure.deployment"]["status"] == "invalid"


@pytest.mark.parametrize("version", ["latest", "2024-10-21&x=1", ""])
def test_a_malformed_azure_api_version_is_an_input_error(version, make_sample_dir, tmp_path):
    result = Dir(make_sample_dir, tmp_path).run("--azure-api-version", version)
    assert result.exit_code == Exit.INPUT and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


class EchoServer:
    """A hostile server on 127.0.0.1 that answers each request with `reply(request bytes)`, raw, then closes."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.05)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timeout: look at the stop flag again
                continue
            with conn:
                conn.settimeout(5)
                request = conn.recv(65536)
                conn.sendall(self.reply(request))

    def __enter__(self) -> "EchoServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    @property
    def root(self) -> str:
        return "http://127.0.0.1:%d" % self.sock.getsockname()[1]


def echoed_key(request: bytes) -> bytes:
    line = next(x for x in request.split(b"\r\n") if x.lower().startswith(b"authorization: bearer "))
    return line.split(b" ", 2)[2]


@pytest.mark.parametrize(
    "reply",
    [
        lambda req: echoed_key(req) + b"\r\n\r\n",  # not HTTP at all
        lambda req: b"HTTP/1.1 500 " + echoed_key(req) + b"\r\nContent-Length: 0\r\n\r\n",  # key as reason phrase
        lambda req: b"HTTP/1.1 429 x\r\nretry-after: " + echoed_key(req) + b"\r\nContent-Length: 0\r\n\r\n",
        lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n" + echoed_key(req),  # cut short
    ],
)
def test_a_hostile_answer_never_prints_the_key(reply, make_sample_dir, tmp_path):
    values = keys()
    with EchoServer(reply) as server:
        blob = only("openai", openAIBaseUrl=server.root + "/v1")
        d = Dir(make_sample_dir, tmp_path, key_values={"openai.key": values["openai.key"]}, blob=blob)
        result = d.run("--online", "--json")
        text = d.run("--online")
    assert result.exit_code in (0, Exit.FINDINGS) and "Traceback" not in result.stderr
    assert online(json.loads(result.stdout))["openai.key"]["status"] in ("unknown", "rate-limited", "verified")
    assert_no_key_in(result.stdout + result.stderr + text.stdout + text.stderr, [values["openai.key"]])


def test_the_cli_default_azure_api_version_is_the_documented_one():
    option = next(p for p in main.commands["doctor"].params if p.name == "azure_api_version")
    assert option.default == doctor.AZURE_API_VERSION == "2024-10-21"
