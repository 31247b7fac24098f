"""Settings blog posts and tools tell users to set, which Cursor does not read: doctor names each one it finds
(User/settings.json, the settings blob, ItemTable) as "Cursor does not read this", with where the real setting
lives, and never shows a value."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.leaks import assert_no_key_in
from helpers.paths import FIXTURES
from helpers.transfer import run, snapshot

from cursor_byok.cursor.rows import BLOB_KEY
from cursor_byok.providers import registry
from cursor_byok.samples.installs import make_key

DB = "User/globalStorage/state.vscdb"
SETTINGS_KEY = make_key("openai")
ROW_KEY = make_key("anthropic")
BLOB_KEY_VALUE = make_key("anthropic")
CANARY_URL = "https://canary-host.example.net/v1"

SETTINGS_TEXT = f"""// what a blog post said to add
{{
  "editor.fontSize": 14, /* the user's own */
  "cursor.openai.apiKey": "{SETTINGS_KEY}",
  "cursor.openai.baseUrl": "{CANARY_URL}",
  "cursor.general.openAIBaseUrl": "{CANARY_URL}",
  "openai.baseUrl": "{CANARY_URL}",
  "cursor.openAIBaseUrl": "{CANARY_URL}", // trailing comma next
}}
"""


def plant(udd: Path) -> None:
    (udd / "User" / "settings.json").write_text(SETTINGS_TEXT)
    conn = sqlite3.connect(udd / DB)
    try:
        (blob,) = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()
        doc = json.loads(blob)
        doc.update(encryptedKey="djEx" + "A" * 40, anthropicKey=BLOB_KEY_VALUE, anthropicBaseUrl=CANARY_URL,
                   useAnthropicKey=True)  # fmt: skip
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (BLOB_KEY, json.dumps(doc)))
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("cursorAuth/anthropicKey", ROW_KEY))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def planted(tmp_path) -> Path:
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    plant(udd)
    return udd


def test_doctor_names_each_setting_cursor_does_not_read(planted, clean_env):
    before = snapshot(planted / DB)
    result = run("--user-data-dir", planted, "--safe-storage", "basic", "doctor", "--json")
    assert result.exit_code in (0, 13), result.stderr
    ignored = [c for c in json.loads(result.stdout)["checks"] if c["symptom"] == "Cursor does not read this"]
    details = " ".join(c["detail"] for c in ignored)
    for _provider, myth in registry().myths:
        assert myth.name in details, myth
    assert all("Cursor does not read this" in c["detail"] and c["fix"] for c in ignored)
    fixes = " ".join(c["fix"] for c in ignored)
    assert "openAIBaseUrl" in fixes and "useClaudeKey" in fixes and "secret://cursorAuth/claudeKey" in fixes
    assert re.search(r"`cursor-byok [^`]*set openai --no-key --base-url URL`", fixes)  # with the options run with
    text = run("--user-data-dir", planted, "--safe-storage", "basic", "doctor").stdout
    for output in (result.stdout, result.stderr, text):
        assert_no_key_in(output, [SETTINGS_KEY, ROW_KEY, BLOB_KEY_VALUE])
        assert "canary-host" not in output
    assert snapshot(planted / DB) == before


@pytest.mark.parametrize("stored, verdict", [(True, "note"), (False, "likely")])
def test_a_myth_is_a_likely_cause_only_while_the_real_setting_is_unset(stored, verdict, tmp_path, clean_env):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    (udd / "User" / "settings.json").write_text('{"cursor.openai.apiKey": "sk-proj-from-a-blog-post"}')
    if not stored:
        conn = sqlite3.connect(udd / DB)
        conn.execute("DELETE FROM ItemTable WHERE key = 'secret://cursorAuth/openAIKey'")
        conn.commit()
        conn.close()
    doc = json.loads(run("--user-data-dir", udd, "--safe-storage", "basic", "doctor", "--json").stdout)
    (check,) = [c for c in doc["checks"] if c["symptom"] == "Cursor does not read this"]
    assert (check["provider"], check["verdict"]) == ("openai", verdict)
    assert "cursor.openai.apiKey" in check["detail"] and "sk-proj-from" not in json.dumps(doc)


def test_nothing_is_said_where_nothing_is_set(tmp_path, clean_env):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    doc = json.loads(run("--user-data-dir", udd, "--safe-storage", "basic", "doctor", "--json").stdout)
    assert not [c for c in doc["checks"] if c["symptom"] == "Cursor does not read this"]


@pytest.mark.parametrize(
    "content",
    [b"{" * 200000, b'{"a": "' + b"x" * (2 << 20) + b'"}', b"\xff\xfe not utf-8", b"/* never closed", b"[]"],
    ids=["deep", "too-large", "not-utf8", "open-comment", "not-an-object"],
)
def test_a_hostile_settings_json_is_passed_over(content, tmp_path, clean_env):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    (udd / "User" / "settings.json").write_bytes(content)
    result = run("--user-data-dir", udd, "--safe-storage", "basic", "doctor")
    assert result.exit_code in (0, 13) and "Traceback" not in result.stderr
