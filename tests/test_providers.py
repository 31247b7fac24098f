"""The provider registry: its views agree with its records, a made-up provider reaches every command, and
provider names stay out of the code's logic outside the registry.

A provider Cursor adds is one record in cursor_byok/providers.py. The tests here are what keeps that true:
the consistency checks say what a record must satisfy, the scratch-registry run shows that `list`, `set`,
`get`, `export --only`, `apply` and `doctor --online` need nothing more, and the name count fails when a
provider's name turns up in a branch somewhere else again.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from helpers.fakeprovider import FakeProvider
from helpers.transfer import identity, options, run

import cursor_byok
from cursor_byok import model, versions
from cursor_byok.changes import manifest
from cursor_byok.checks import audit, provider_pages
from cursor_byok.cursor import rows, urls
from cursor_byok.errors import InputError
from cursor_byok.key_table import SHAPES
from cursor_byok.providers import (
    BUILT_IN,
    Billing,
    KeySlot,
    Probe,
    Provider,
    provider_named,
    registry,
    scratch_registry,
)

# --- the records and their views ------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(BUILT_IN), ids=lambda p: p.name)
def test_a_record_is_complete(provider: Provider):
    assert provider.name == provider.name.lower() and "." not in provider.name
    assert provider.title and provider.short and provider.toggle
    assert provider.settable_keys, "a provider has at least one key a person sets"
    for slot in provider.keys:
        assert slot.row or slot.blob, f"{slot.name}: Cursor keeps every key in a row or in the blob"
        assert slot.label
    names = [s.name for s in provider.settings]
    for name in filter(None, (provider.compatible, provider.probe and provider.probe.base_setting)):
        assert name in names
    if provider.compatible:
        setting = provider.setting(provider.compatible)
        assert setting is not None and setting.kind == "url"
    if provider.probe and provider.probe.deployment:
        assert provider.probe.deployment in names and "{deployment}" in provider.probe.deployment_path
    if provider.probe:
        assert any("{key}" in value for _header, value in provider.probe.auth), "the probe sends the key"
        assert provider.official_url or provider.probe.base_setting, "the probe has somewhere to go"
    if provider.endpoint_shape:
        assert provider.endpoint_shape.setting in names
    if provider.role:
        assert all(k.blob for k in provider.settable_keys), "the role marker sits in the blob"
    assert provider.billing, "BYOK is billed by the provider: doctor and list link its pages"


def test_names_aliases_rows_and_blob_paths_never_collide():
    reg = registry()
    assert len(set(reg.names)) == len(reg.names)
    assert not set(reg.aliases) & set(reg.names)
    assert all(a == a.lower() for a in reg.aliases)
    row_names = list(reg.key_row_names.values())
    assert len(set(row_names)) == len(row_names)
    paths = list(rows.blob_paths().values())
    assert len(set(paths)) == len(paths)


def test_finding_codes_exist_for_every_feature_a_record_has():
    for p in registry():
        codes = []
        if any(k.hidden_from for k in p.keys):
            codes.append(f"{p.name}-key-unseen")
        if any(k.temporary for k in p.keys):
            codes.append(f"{p.name}-session-missing")
        if p.endpoint_shape:
            codes += [f"{p.name}-endpoint-{kind}" for kind in ("missing", "shape", "nonstandard")]
        if p.probe and p.probe.deployment:
            codes.append(f"{p.name}-deployment-missing")
        if p.compatible:
            codes += [f"{p.name}-base-url", f"{p.name}-base-url-http"]
        assert set(codes) <= set(audit.CODES), p.name


def test_key_shapes_belong_to_key_slots():
    slots = registry().key_slots
    for shape in SHAPES:
        if shape.field and shape.vendor in registry():
            assert shape.field in slots and shape.field.startswith(shape.vendor + ".")
            start = slots[shape.field].starts
            assert shape.prefix.startswith(start) or not start, f"{shape.name} starts like its slot"


def test_the_views_agree_with_the_records():
    reg = registry()
    assert reg.names == tuple(p.name for p in reg)
    assert reg.aliases == {a: p.name for p in reg for a in p.aliases}
    assert reg.key_fields == tuple(f"{p.name}.{k.name}" for p in reg for k in p.keys)
    assert reg.layout == {p.name: p.layout() for p in reg}
    assert rows.KEY_ROW_NAMES == {f"{p.name}.{k.name}": k.row for p in reg for k in p.keys if k.row}
    assert rows.ROW_KEYS == (
        rows.BLOB_KEY,
        *(f"cursorAuth/{n}" for n in reg.key_row_names.values()),
        *versions.FACT_ROWS,
    )
    for p in reg:
        assert rows.BLOB_PATHS[p.enabled_field] == p.toggle
        for s in p.settings:
            assert rows.BLOB_PATHS[p.field(s.name)] == s.blob
        assert manifest.PROVIDER_SCHEMA[p.name] == {
            n: ("bool" if n == "enabled" else "source" if n in {k.name for k in p.settable_keys} else "setting")
            for n in p.layout()
            if n not in {k.name for k in p.keys if not k.settable}
        }
        assert provider_pages.billing(p.name).usage == p.billing.usage
    assert urls.URL_FIELDS == tuple(f for f, s in reg.settings.items() if s.kind == "url")
    assert audit.TOGGLE_KEYS == {p.name: (p.enabled_field, p.settable_key_fields) for p in reg}


# The tables the registry replaced, as they were before it (docs/architecture.md, "How to add a provider"):
# the five built-in providers still give exactly these, so nothing any document shows has changed.
BEFORE = {
    "PROVIDERS": ("openai", "anthropic", "google", "azure", "bedrock"),
    "PROVIDER_ALIASES": {"claude": "anthropic", "gemini": "google", "aws": "bedrock", "azure-openai": "azure"},
    "KEY_FIELDS": (
        "openai.key",
        "anthropic.key",
        "google.key",
        "azure.key",
        "bedrock.access_key",
        "bedrock.secret_key",
        "bedrock.session_token",
    ),
    "SETTING_FIELDS": (
        "openai.enabled",
        "openai.base_url",
        "anthropic.enabled",
        "google.enabled",
        "azure.enabled",
        "azure.base_url",
        "azure.deployment",
        "bedrock.enabled",
        "bedrock.region",
    ),
    "KEY_ROW_NAMES": {
        "openai.key": "openAIKey",
        "anthropic.key": "claudeKey",
        "google.key": "googleKey",
        "azure.key": "azureApiKey",
        "bedrock.access_key": "bedrockAccessKey",
        "bedrock.secret_key": "bedrockSecretKey",
    },
    "BLOB_PATHS": {
        "openai.enabled": ("useOpenAIKey",),
        "openai.base_url": ("openAIBaseUrl",),
        "anthropic.enabled": ("useClaudeKey",),
        "google.enabled": ("useGoogleKey",),
        "azure.enabled": ("azureState", "useAzure"),
        "azure.base_url": ("azureState", "baseUrl"),
        "azure.deployment": ("azureState", "deployment"),
        "azure.key": ("azureState", "apiKey"),
        "bedrock.enabled": ("bedrockState", "useBedrock"),
        "bedrock.region": ("bedrockState", "region"),
        "bedrock.access_key": ("bedrockState", "accessKey"),
        "bedrock.secret_key": ("bedrockState", "secretKey"),
        "bedrock.session_token": ("bedrockState", "sessionToken"),
        "models.user_added": ("aiSettings", "userAddedModels"),
        "models.enabled": ("aiSettings", "modelOverrideEnabled"),
        "models.disabled": ("aiSettings", "modelOverrideDisabled"),
    },
    "ENDPOINT_FIELDS": {
        "openai.base_url": ("openai.key",),
        "azure.base_url": ("azure.key",),
        "azure.deployment": ("azure.key",),
        "bedrock.region": ("bedrock.access_key", "bedrock.secret_key", "bedrock.session_token"),
    },
    "OFFICIAL_HOSTS": {"openai.base_url": "api.openai.com"},
    "OFFICIAL_URLS": {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "google": "https://generativelanguage.googleapis.com",
    },
    "URL_FIELDS": ("openai.base_url", "azure.base_url"),
    "LABELS": {
        "openai.key": "OpenAI key",
        "anthropic.key": "Anthropic key",
        "google.key": "Google key",
        "azure.key": "Azure OpenAI key",
        "bedrock.access_key": "AWS access key ID",
        "bedrock.secret_key": "AWS secret access key",
    },
    "TITLES": {
        "openai": "OpenAI",
        "anthropic": "Anthropic",
        "google": "Google",
        "azure": "Azure OpenAI",
        "bedrock": "AWS Bedrock",
    },
}


def test_the_built_in_records_give_the_tables_they_replaced():
    with scratch_registry(only=tuple(p for p in BUILT_IN if p.name in BEFORE["PROVIDERS"])) as reg:
        assert reg.names == BEFORE["PROVIDERS"]
        assert dict(sorted(reg.aliases.items())) == dict(sorted(BEFORE["PROVIDER_ALIASES"].items()))
        assert reg.key_fields == BEFORE["KEY_FIELDS"]
        assert reg.setting_fields == BEFORE["SETTING_FIELDS"]
        assert reg.key_row_names == BEFORE["KEY_ROW_NAMES"]
        assert rows.blob_paths() == BEFORE["BLOB_PATHS"]
        assert reg.endpoint_fields == BEFORE["ENDPOINT_FIELDS"]
        assert reg.official_hosts == BEFORE["OFFICIAL_HOSTS"]
        assert reg.official_urls == BEFORE["OFFICIAL_URLS"]
        assert reg.url_fields == BEFORE["URL_FIELDS"]
        assert reg.labels == BEFORE["LABELS"]
        assert reg.titles == BEFORE["TITLES"]
        assert reg.key_names == ("key", "access_key", "secret_key", "session_token")
        assert reg.settable_key_names == ("key", "access_key", "secret_key")


# --- a provider Cursor adds: one record, and every command knows it ----------------------------------

MISTRAL_KEY = "mistral-made-up-key-0123456789abcdef0123"


def mistral(official_url: str = "https://api.mistral.ai/v1") -> Provider:
    """A made-up provider slot, as a newcomer would add it: one record."""
    return Provider(
        name="mistral",
        title="Mistral",
        short="Mistral",
        aliases=("le-chat",),
        toggle=("useMistralKey",),
        keys=(KeySlot("key", "Mistral key", row="mistralKey"),),
        official_url=official_url,
        probe=Probe("/models", (("Authorization", "Bearer {key}"),)),
        billing=Billing(
            "https://console.mistral.example/usage",
            "https://console.mistral.example/limits",
            "https://docs.mistral.example/rate-limits",
        ),
    )


def test_a_scratch_registry_changes_every_view_and_is_undone():
    with scratch_registry(mistral()):
        assert registry().names[-1] == "mistral" and provider_named("Le-Chat") == "mistral"
        assert rows.KEY_ROW_NAMES["mistral.key"] == "mistralKey"
        assert "cursorAuth/mistralKey" in rows.ROW_KEYS
        assert manifest.top_level()[-2] == "mistral"
    assert "mistral" not in registry().names and "mistral.key" not in rows.KEY_ROW_NAMES
    with pytest.raises(ValueError, match="unknown provider"):
        provider_named("mistral")


@pytest.fixture
def mistral_install(make_sample_dir):
    with scratch_registry(mistral()):
        return make_sample_dir("plaintext", keys={"mistral.key": MISTRAL_KEY}, settings={"useMistralKey": True})


def test_list_shows_the_new_provider(mistral_install):
    with scratch_registry(mistral()):
        result = run(*options(mistral_install), "list", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    entry = doc["providers"]["mistral"]
    assert (entry["configured"], entry["enabled"]) == (True, True)
    assert (entry["key"]["row"], entry["key"]["storage"]) == ("cursorAuth/mistralKey", "plaintext")
    assert entry["billing"]["usage"] == "https://console.mistral.example/usage"
    assert doc["extra_secrets"] == []  # a known provider's row, not an unknown one


def test_the_cli_takes_the_new_provider_as_a_choice(mistral_install, monkeypatch):
    opts = options(mistral_install)
    outside = run(*opts, "set", "mistral", "--no-key", "--enable", "--dry-run")
    assert outside.exit_code == 2 and "unknown provider 'mistral'" in outside.stderr
    assert "mistral" not in run("set", "--help").stdout
    monkeypatch.setenv("NEW_MISTRAL_KEY", MISTRAL_KEY[::-1])
    with scratch_registry(mistral()):
        assert "{openai|anthropic|google|azure|bedrock|mistral}" in run("set", "--help").stdout.replace("\n", "")
        result = run(*opts, "set", "le-chat", "--key-env", "NEW_MISTRAL_KEY", "--yes", "--json")
        assert result.exit_code == 0, result.stderr
        got = run(*opts, "get", "mistral")
        assert got.exit_code == 0, got.stderr
        assert got.stdout.strip() == MISTRAL_KEY[::-1]
        assert run(*opts, "unset", "mistral", "--dry-run").exit_code == 0


def test_export_only_the_new_provider(mistral_install, tmp_path):
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "mistral.age"
    with scratch_registry(mistral()):
        result = run(*options(mistral_install), "export", "-o", bundle, "-r", recipient, "--only", "mistral")
        assert result.exit_code == 0, result.stderr
        listed = run("list", "--bundle", bundle, "-i", ident, "--json")
    assert listed.exit_code == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["providers"]["mistral"]["key"]["fingerprint"] == model.fingerprint(MISTRAL_KEY)
    assert not any(p.get("key") for name, p in doc["providers"].items() if name != "mistral")


def test_a_manifest_naming_the_new_provider_validates_and_applies(make_sample_dir, tmp_path, monkeypatch):
    text = 'version = 1\n[mistral]\nkey = "env:TEAM_MISTRAL_KEY"\n'
    path = tmp_path / "team.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"\[mistral\] is not a known table"):
        manifest.parse(text, path)
    with pytest.raises(InputError, match=r"\[nope\] is not a known table"):
        manifest.parse(text.replace("mistral", "nope"), path)
    monkeypatch.setenv("TEAM_MISTRAL_KEY", MISTRAL_KEY)
    with scratch_registry(mistral()):
        parsed = manifest.parse(text, path)
        assert parsed.sources == {"mistral.key": "env:TEAM_MISTRAL_KEY"} and parsed.providers == ["mistral"]
        install = make_sample_dir("plaintext", keys={}, settings={})
        result = run(*options(install), "apply", path, "--yes", "--json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(run(*options(install), "list", "--json").stdout)
    entry = doc["providers"]["mistral"]
    assert entry["enabled"] is True and entry["key"]["fingerprint"] == model.fingerprint(MISTRAL_KEY)


def test_doctor_probes_the_new_provider(mistral_install):
    routes = {"mistral": ("/mistral/v1", "/mistral/v1/models")}
    with FakeProvider(known={"mistral": MISTRAL_KEY}, routes=routes) as fake:
        with scratch_registry(mistral(official_url=fake.base("mistral"))):
            result = run(*options(mistral_install), "doctor", "--online", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(v["provider"], v["field"], v["status"]) for v in doc["online"]] == [("mistral", "mistral.key", "verified")]
    assert [(s.method, s.path, s.headers["authorization"]) for s in fake.seen] == [
        ("GET", "/mistral/v1/models", f"Bearer {MISTRAL_KEY}")
    ]
    assert ("mistral", "model not appearing", "ok") in {
        (c["provider"], c["symptom"], c["verdict"]) for c in doc["checks"]
    }
    assert [c["provider"] for c in doc["costs"]] == ["mistral"]


# --- provider names stay in the registry ------------------------------------------------------------

# The only modules whose code may name a provider: the registry, the key shapes (each shape names its
# vendor), and the sample installs (made-up keys in each provider's format).
MAY_NAME_PROVIDERS = {"providers.py", "key_table.py", "samples/installs.py"}


def _unlogical(tree: ast.AST) -> set[int]:
    """Ids of string nodes that are words, not logic: docstrings, help= texts, f-string parts."""
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
        if isinstance(node, ast.keyword) and node.arg == "help" or isinstance(node, ast.JoinedStr):
            out.update(id(n) for n in ast.walk(node.value if isinstance(node, ast.keyword) else node))
    return out


def modules_naming_providers() -> dict[str, list[str]]:
    """module -> the provider names (or aliases) its code uses as values: in comparisons, keys, calls."""
    names = {*BUILT_IN.names, *BUILT_IN.aliases}
    root = Path(cursor_byok.__file__).parent
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        words = _unlogical(tree)
        hits = [
            f"{n.lineno}: {n.value}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and n.value in names and id(n) not in words
        ]
        if hits:
            found[path.relative_to(root).as_posix()] = hits
    return found


def test_provider_names_are_used_only_in_the_registry_and_its_two_neighbours():
    found = modules_naming_providers()
    assert set(found) <= MAY_NAME_PROVIDERS, {m: hits for m, hits in found.items() if m not in MAY_NAME_PROVIDERS}
    assert len(found) <= 3


def test_the_name_count_sees_a_branch():
    tree = ast.parse('"""Docs name bedrock."""\nif provider == "bedrock":\n    pass\nhelp_text = f"bedrock {x}"\n')
    words = _unlogical(tree)
    assert [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in words] == ["bedrock"]


def test_every_endpoint_field_names_keys_of_its_own_provider():
    endpoint_fields = registry().endpoint_fields
    assert set(endpoint_fields) == {"openai.base_url", "azure.base_url", "azure.deployment", "bedrock.region"}
    for field, keys in endpoint_fields.items():
        assert all(k.split(".")[0] == field.split(".")[0] for k in keys)
