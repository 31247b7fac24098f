"""Rows -> Profile for every storage generation, and the odd rows real databases hold."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cursor_byok.cursor.reading import read_rows
from cursor_byok.cursor.rows import BLOB_KEY, SECRET_PREFIX, read_profile
from cursor_byok.model import PLAINTEXT, RAW, RAW_WORDS, SETTINGS_JSON, UNDECRYPTABLE, StoredKey
from cursor_byok.providers import registry
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig
from cursor_byok.samples.installs import Sample, create_db, default_settings, item_rows, make_key, sample_keys

ROW_FIELDS = ("openai.key", "anthropic.key", "google.key")
BLOB_FIELDS = ("azure.key", "bedrock.access_key", "bedrock.secret_key")


def read(sample_dir, storage="default"):
    storage = sample_dir.storage() if storage == "default" else storage
    return read_profile(read_rows(sample_dir.db), storage)


def profile_from_rows(tmp_path, rows, storage=None):
    db = tmp_path / "rows.vscdb"
    create_db(db, rows)
    return read_profile(read_rows(db), storage)


# --- every generation -------------------------------------------------------------------


def test_every_key_decodes_to_the_original(any_generation_dir):
    profile = read(any_generation_dir)
    got = {f: k.secret.reveal() for f, k in profile.keys().items() if not f.startswith("extra.")}
    assert got == any_generation_dir.keys
    assert profile.notes == ()


def test_storage_labels(any_generation_dir):
    profile = read(any_generation_dir)
    label = any_generation_dir.expected_label
    for field in ROW_FIELDS:
        assert profile.get(field).storage == label
        assert profile.get(field).row.endswith(("openAIKey", "claudeKey", "googleKey"))
    for field in BLOB_FIELDS:  # 2.x: Azure and Bedrock keys sit in the settings blob
        assert profile.get(field).storage == SETTINGS_JSON
        assert profile.get(field).row.startswith(BLOB_KEY + "#")


def test_row_names_per_generation(any_generation_dir):
    profile = read(any_generation_dir)
    prefix = "cursorAuth/" if any_generation_dir.generation == "plaintext" else SECRET_PREFIX
    assert profile.get("openai.key").row == prefix + "openAIKey"
    assert profile.key_form == ("plaintext" if prefix == "cursorAuth/" else "secret")


def test_unknown_secret_rows_are_kept_as_extras(make_sample_dir):
    sample = make_sample_dir("v11", extras={"mistralKey": "mistral-made-up-0123456789", "xaiKey": "xai-" + "q" * 30})
    profile = read(sample)
    assert profile.get("extra.mistralKey").secret.reveal() == "mistral-made-up-0123456789"
    assert profile.get("extra.xaiKey").row == SECRET_PREFIX + "xaiKey"
    assert profile.get("extra.xaiKey").storage == "secret-service"


def test_other_secret_rows_are_not_provider_keys(any_generation_dir):
    # secret://mcpEncryptionKey and login rows are in every sample; they must not show up.
    profile = read(any_generation_dir)
    assert all(f.split(".")[0] in (*registry().names, "extra") for f in profile.keys())
    assert not any("mcp" in f or "accessToken" in f for f in profile.fields)


@pytest.mark.parametrize("generation", ["basic", "v11", "macos", "windows"])
def test_azure_and_bedrock_keys_in_rows(make_sample_dir, generation):
    sample = make_sample_dir(generation, azure_bedrock_rows=True)
    profile = read(sample)
    for field, row in (
        ("azure.key", "azureApiKey"),
        ("bedrock.access_key", "bedrockAccessKey"),
        ("bedrock.secret_key", "bedrockSecretKey"),
    ):
        assert profile.get(field).secret.reveal() == sample.keys[field]
        assert profile.get(field) == StoredKey(profile.get(field).secret, sample.expected_label, SECRET_PREFIX + row)


def test_settings_models_and_selection(any_generation_dir):
    f = read(any_generation_dir).fields
    assert (f["openai.enabled"], f["anthropic.enabled"], f["google.enabled"]) == (True, True, False)
    assert "openai.base_url" not in f  # null in the blob
    assert (f["azure.enabled"], f["azure.base_url"], f["azure.deployment"]) == (
        True,
        "https://contoso-ai.openai.azure.com",
        "gpt-4o-prod",
    )
    assert (f["bedrock.enabled"], f["bedrock.region"]) == (False, "us-east-1")
    assert f["models.user_added"] == ("llama-3.1-70b", "qwen2.5-coder:32b")
    assert f["models.enabled"] == ("llama-3.1-70b", "claude-sonnet-4")
    assert f["models.disabled"] == ("gpt-4.1-nano",)
    assert (f["models.selected.composer"], f["models.selected.cmd-k"]) == ("claude-sonnet-4", "gpt-4o")


def test_base_url_is_read(make_sample_dir):
    sample = make_sample_dir("basic", settings=default_settings("http://localhost:11434/v1"))
    assert read(sample).get("openai.base_url") == "http://localhost:11434/v1"


# --- cleared, damaged and foreign rows ------------------------------------------------------


def basic_rows(**sample_kw):
    return item_rows(Sample(generation="basic", keys=sample_keys(), settings=default_settings(), **sample_kw))


def basic_storage(make_sample_dir):
    return make_sample_dir("basic").storage()


def test_empty_buffer_means_no_key(tmp_path, make_sample_dir):
    rows = basic_rows()
    rows[SECRET_PREFIX + "openAIKey"] = '{"type":"Buffer","data":[]}'
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert "openai.key" not in profile.fields
    assert profile.get("anthropic.key").readable
    assert profile.notes == ()


def test_missing_row_means_no_key(tmp_path, make_sample_dir):
    rows = basic_rows()
    del rows[SECRET_PREFIX + "claudeKey"]
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert "anthropic.key" not in profile.fields


@pytest.mark.parametrize("garbage", ['{"type":"Buffer","data":[300]}', "[1,2,3]", '{"a": 1}'])
def test_buffer_json_garbage_is_undecryptable_with_a_reason(tmp_path, make_sample_dir, garbage):
    rows = basic_rows()
    rows[SECRET_PREFIX + "googleKey"] = garbage
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    google = profile.get("google.key")
    assert (google.secret, google.storage) == (None, UNDECRYPTABLE)
    assert "Buffer JSON" in google.reason
    assert any("googleKey" in n and "cannot decrypt" in n for n in profile.notes)
    assert profile.get("openai.key").readable


@pytest.mark.parametrize("text", ["not json at all", "AIza" + "k" * 35, '"AIzaQuoted"', " AIzaSpaced\n"])
def test_text_in_place_of_cursors_form_is_read_as_another_tools_raw_key(tmp_path, make_sample_dir, text):
    """Not Buffer JSON of a v10/v11 ciphertext, nor JSON: another tool wrote the key text; Cursor cannot read
    it (and deletes it)."""
    rows = basic_rows()
    rows[SECRET_PREFIX + "googleKey"] = text
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    google = profile.get("google.key")
    expected = text.strip().strip('"')
    assert (google.secret.reveal(), google.storage, google.reason) == (expected, RAW, RAW_WORDS)
    assert profile.get("openai.key").readable


@pytest.mark.parametrize("value", [12345, "k" * 5000])
def test_a_number_or_a_text_longer_than_any_key_is_not_taken_for_a_key(tmp_path, make_sample_dir, value):
    rows = basic_rows()
    rows[SECRET_PREFIX + "googleKey"] = value
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert (profile.get("google.key").secret, profile.get("google.key").storage) == (None, UNDECRYPTABLE)


def test_a_buffer_of_bytes_in_clear_is_read_raw_and_bytes_not_utf8_are_undecryptable(tmp_path, make_sample_dir):
    rows = basic_rows()
    rows[SECRET_PREFIX + "googleKey"] = ss.encode_buffer_json(b"AIza" + b"x" * 35)
    rows[SECRET_PREFIX + "openAIKey"] = ss.encode_buffer_json(b"\xff\xfe" * 20)
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert (profile.get("google.key").secret.reveal(), profile.get("google.key").storage) == ("AIza" + "x" * 35, RAW)
    assert (profile.get("openai.key").secret, profile.get("openai.key").storage) == (None, UNDECRYPTABLE)


def test_v20_row_is_undecryptable_while_others_show(tmp_path, make_sample_dir):
    rows = basic_rows()
    rows[SECRET_PREFIX + "openAIKey"] = ss.encode_buffer_json(b"v20" + bytes(60))
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert profile.get("openai.key").secret is None
    assert "v20" in profile.get("openai.key").reason
    assert profile.get("anthropic.key").readable and profile.get("google.key").readable
    assert any("v20" in n for n in profile.notes)


def test_wrong_machine_secret_is_undecryptable(make_sample_dir):
    sample = make_sample_dir("v11")
    wrong = SafeStorage(
        SafeStorageConfig("secret-service"),
        env={},
        platform="linux",
        fetchers={"secret-service": lambda: b"another machine"},
    )
    profile = read(sample, wrong)
    for field in ROW_FIELDS:
        assert profile.get(field).storage == UNDECRYPTABLE
    assert profile.get("azure.key").readable  # plain text in the blob


def test_secret_rows_without_safe_storage(make_sample_dir):
    profile = read(make_sample_dir("macos"), storage=None)
    assert profile.get("openai.key").reason == "no safe storage configured"


def test_legacy_json_quoted_plain_value(tmp_path):
    key = make_key("openai")
    rows = {"cursorAuth/openAIKey": json.dumps(key), "cursorAuth/claudeKey": ""}
    profile = profile_from_rows(tmp_path, rows)
    assert profile.get("openai.key") == StoredKey(profile.get("openai.key").secret, PLAINTEXT, "cursorAuth/openAIKey")
    assert profile.get("openai.key").secret.reveal() == key
    assert "anthropic.key" not in profile.fields


def test_byte_valued_rows(tmp_path, make_sample_dir):
    key = make_key("google")
    rows = basic_rows()
    rows.pop(SECRET_PREFIX + "googleKey")
    db = tmp_path / "blobby.vscdb"
    create_db(db, rows)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("cursorAuth/googleKey", key.encode()))
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("cursorAuth/claudeKey", b"\xff\xfe"))
    conn.execute("DELETE FROM ItemTable WHERE key = ?", (SECRET_PREFIX + "claudeKey",))
    conn.commit()
    conn.close()
    profile = read_profile(read_rows(db), basic_storage(make_sample_dir))
    assert profile.get("google.key").secret.reveal() == key
    assert profile.get("anthropic.key").reason == "value is not UTF-8 text"


def test_secret_row_wins_over_a_legacy_row(tmp_path, make_sample_dir):
    rows = basic_rows()
    rows["cursorAuth/openAIKey"] = "sk-old-legacy-value-000000000000"
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert profile.get("openai.key").row == SECRET_PREFIX + "openAIKey"


# --- the settings blob ----------------------------------------------------------------------


@pytest.mark.parametrize("blob", ['{"useOpenAIKey": tru', "[1, 2]", '"a string"', "null", ""])
def test_malformed_blob_sets_nothing_and_notes_it(tmp_path, make_sample_dir, blob):
    rows = basic_rows()
    rows[BLOB_KEY] = blob
    profile = profile_from_rows(tmp_path, rows, basic_storage(make_sample_dir))
    assert not any(f.startswith(("models.", "azure.", "bedrock.")) or f.endswith(".enabled") for f in profile.fields)
    assert any("not a JSON object" in n for n in profile.notes)
    assert profile.get("openai.key").readable  # rows are still read


def test_missing_blob_is_noted(tmp_path):
    profile = profile_from_rows(tmp_path, {"cursorAuth/openAIKey": make_key("openai")})
    assert any("settings blob not found" in n for n in profile.notes)
    assert profile.get("openai.key").readable


def test_wrong_types_in_the_blob_are_noted(tmp_path):
    settings = {
        "useOpenAIKey": "yes",
        "openAIBaseUrl": 5,
        "useClaudeKey": True,
        "azureState": {"useAzure": 1, "baseUrl": ["x"], "deployment": "dep"},
        "bedrockState": "not an object",
        "aiSettings": {
            "userAddedModels": "llama",
            "modelOverrideEnabled": [1, "a"],
            "modelOverrideDisabled": [],
            "modelConfig": {"composer": {"modelName": 7}, "chat": "x", "cmd-k": {"modelName": "gpt-4o"}},
        },
    }
    rows = {BLOB_KEY: json.dumps(settings)}
    profile = profile_from_rows(tmp_path, rows)
    f = profile.fields
    assert f["anthropic.enabled"] is True and f["azure.deployment"] == "dep"
    assert f["models.disabled"] == () and f["models.selected.cmd-k"] == "gpt-4o"
    for bad in (
        "openai.enabled",
        "openai.base_url",
        "azure.enabled",
        "azure.base_url",
        "models.user_added",
        "models.enabled",
        "models.selected.composer",
    ):
        assert bad not in f
    for noted in (
        "openai.enabled",
        "openai.base_url",
        "azure.enabled",
        "azure.base_url",
        "models.user_added",
        "models.enabled",
    ):
        assert any(n.startswith(noted + ":") for n in profile.notes), noted


def test_bedrock_iam_role_is_not_a_key(make_sample_dir):
    settings = default_settings()
    settings["bedrockState"] = {"useBedrock": True, "region": "eu-west-1", "accessKey": "iam", "secretKey": "iam"}
    keys = {k: v for k, v in sample_keys().items() if not k.startswith("bedrock.")}
    profile = read(make_sample_dir("v11", keys=keys, settings=settings))
    assert profile.uses_role("bedrock") is True
    assert "bedrock.access_key" not in profile.fields and "bedrock.secret_key" not in profile.fields
    assert profile.get("bedrock.region") == "eu-west-1"


def test_real_bedrock_keys_are_not_iam(make_sample_dir):
    profile = read(make_sample_dir("plaintext"))
    assert profile.uses_role("bedrock") is False
    assert profile.get("bedrock.access_key").secret.reveal().startswith("AKIA")


def test_bedrock_session_token_in_the_blob(make_sample_dir):
    settings = default_settings()
    settings["bedrockState"] = {**settings["bedrockState"], "sessionToken": "FwoGZXIvYXdzEXAMPLEsession"}
    profile = read(make_sample_dir("basic", settings=settings))
    token = profile.get("bedrock.session_token")
    assert token.secret.reveal() == "FwoGZXIvYXdzEXAMPLEsession"
    assert token.row.endswith("#bedrockState.sessionToken")


def test_large_blob_with_unicode(make_sample_dir):
    profile = read(make_sample_dir("windows", blob_filler=300_000))
    assert profile.get("azure.key").readable and profile.notes == ()


@pytest.mark.parametrize("off", ["", None])
def test_a_base_url_switched_off_reads_as_not_set_in_either_spelling(off):
    """Before 2.4 Cursor wrote "" for "no base URL override"; from 2.4 on, null."""
    profile = read_profile({BLOB_KEY: json.dumps({"useOpenAIKey": True, "openAIBaseUrl": off})})
    assert "openai.base_url" not in profile.fields and profile.get("openai.enabled") is True
