"""Moving keys between machines: every storage generation as source and as target, through the CLI.

Each pair exports from one sample install and imports into another with a
different machine secret; the target is then decoded with its own secret by an
independent decoder (tests/helpers/transfer.py) and through `list --json --reveal`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.transfer import (
    SAMPLE_ENDPOINTS,
    TARGET_EXTRA,
    assert_blob_preserved,
    blob_of,
    changed_rows,
    dump,
    expected_values,
    export,
    identity,
    import_,
    items,
    journals,
    list_json,
    make_target,
    options,
    revealed,
    stored_keys,
)

from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.providers import registry
from cursor_byok.samples.installs import GENERATIONS, default_settings

ROW_FIELDS = ("openai.key", "anthropic.key", "google.key")  # the keys with rows of their own in Cursor 2.x
OLLAMA = "http://localhost:11434/v1"


def source_dir(make_sample_dir, generation: str):
    return make_sample_dir(generation, settings=default_settings(OLLAMA))


def expected_rows(source, target) -> set[str]:
    """The rows importing every key writes on `target`: key rows in its form, and the blob.

    Azure and Bedrock keys go into the blob (Cursor 2.x); unknown-provider keys
    only where secret:// rows exist.
    """
    if target.generation == "plaintext":
        rows = {PLAIN_PREFIX + registry().key_row_names[f] for f in ROW_FIELDS}
    else:
        rows = {SECRET_PREFIX + registry().key_row_names[f] for f in ROW_FIELDS}
        rows |= {SECRET_PREFIX + name for name in source.extras}
    return rows | {BLOB_KEY}


def _generation_pairs() -> list:
    """Every (source, target) pair; the fast loop keeps a ring where each generation is source once and target once."""
    ring = {(g, GENERATIONS[(i + 1) % len(GENERATIONS)]) for i, g in enumerate(GENERATIONS)}
    return [
        pytest.param(s, t, marks=() if (s, t) in ring else pytest.mark.slow, id=f"{s}-{t}")
        for t in GENERATIONS
        for s in GENERATIONS
    ]


@pytest.mark.parametrize("source_gen, target_gen", _generation_pairs())
def test_round_trip_between_generations(source_gen, target_gen, make_sample_dir, tmp_path, data_dir):
    source = source_dir(make_sample_dir, source_gen)
    target = make_target(make_sample_dir, target_gen)
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "keys.age", recipient)
    before = dump(target.db)
    blob_before = before["ItemTable"][BLOB_KEY][1]

    result = import_(target, bundle, ident, "--yes")
    assert result.exit_code == 0, result.stderr
    # A legacy plaintext Cursor cannot hold unknown-provider keys: they are left out, with a note.
    assert ("left out" in result.stdout) == (target_gen == "plaintext" and bool(source.extras))

    # Every key decrypts with the target's own secret to the source's original value.
    wanted = dict(source.keys)
    if target_gen != "plaintext":
        wanted.update({"extra." + n: v for n, v in source.extras.items()})
    target_extras = {"extra." + n: v for n, v in target.extras.items()}
    assert stored_keys(target) == {**wanted, **target_extras}
    assert revealed(list_json(target, "--reveal")) == {**wanted, **target_extras}

    # Only the key rows and the settings blob changed; all were written as TEXT.
    after = dump(target.db)
    assert changed_rows(before, after) == expected_rows(source, target)
    assert all(after["ItemTable"][k][0] == "text" for k in changed_rows(before, after))
    assert after["cursorDiskKV"] == before["cursorDiskKV"]
    assert after["user_version"] == before["user_version"] == 1
    form = PLAIN_PREFIX if target_gen == "plaintext" else SECRET_PREFIX
    other = SECRET_PREFIX if form == PLAIN_PREFIX else PLAIN_PREFIX
    assert all(form + registry().key_row_names[f] in after["ItemTable"] for f in ROW_FIELDS)
    assert not any(other + registry().key_row_names[f] in after["ItemTable"] for f in ROW_FIELDS)

    # Settings arrived; the rest of the blob is byte-identical and in its old order.
    blob_after = after["ItemTable"][BLOB_KEY][1]
    assert_blob_preserved(blob_before, blob_after)
    doc = json.loads(blob_after)
    assert (doc["useOpenAIKey"], doc["openAIBaseUrl"], doc["useClaudeKey"], doc["useGoogleKey"]) == (
        True,
        OLLAMA,
        True,
        False,
    )
    assert doc["azureState"] == {
        "useAzure": True,
        "baseUrl": "https://contoso-ai.openai.azure.com",
        "deployment": "gpt-4o-prod",
        "apiKey": source.keys["azure.key"],
    }
    assert doc["bedrockState"]["region"] == "us-east-1" and doc["bedrockState"]["useBedrock"] is False
    models = doc["aiSettings"]
    assert models["userAddedModels"] == ["llama-3.1-70b", "qwen2.5-coder:32b"]
    # --models union keeps the target's own selection and adds the one it lacked.
    assert {s: c["modelName"] for s, c in models["modelConfig"].items()} == {"composer": "gpt-4.1", "cmd-k": "gpt-4o"}
    assert len(journals(data_dir)) == 1


@pytest.mark.parametrize("source_gen", ["basic", "v11", "macos", "windows"])
def test_unknown_provider_keys_are_left_out_of_a_cursor_without_secret_rows(
    source_gen, make_sample_dir, tmp_path, data_dir
):
    source = source_dir(make_sample_dir, source_gen)
    target = make_target(make_sample_dir, "plaintext")
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "keys.age", recipient)
    result = import_(target, bundle, ident, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "extra.mistralKey: left out" in result.stdout
    rows = items(target.db)
    assert not any(k.startswith("secret://") for k in rows)
    assert stored_keys(target)["openai.key"] == source.keys["openai.key"]
    assert len(journals(data_dir)) == 1


def test_target_keeps_its_unrelated_rows_byte_identical(make_sample_dir, tmp_path):
    """The rows named in cursor-storage.md "Never touch", one by one, plus chat history."""
    source = source_dir(make_sample_dir, "macos")
    target = make_target(make_sample_dir, "v11", disk_kv_bytes=300_000, blob_filler=250_000)
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "keys.age", recipient)
    before = dump(target.db)
    result = import_(target, bundle, ident, "--yes")
    assert result.exit_code == 0, result.stderr
    after = dump(target.db)
    for row in (
        "cursorAuth/accessToken",
        "cursorAuth/refreshToken",
        "cursorAuth/cachedEmail",
        "telemetry.machineId",
        "storage.serviceMachineId",
        "secret://mcpEncryptionKey",
        SECRET_PREFIX + "deepseekKey",
        "workbench.panel.height",
    ):
        assert after["ItemTable"][row] == before["ItemTable"][row], row
    assert len(after["cursorDiskKV"]) > 0 and after["cursorDiskKV"] == before["cursorDiskKV"]
    assert stored_keys(target)["extra.deepseekKey"] == TARGET_EXTRA["deepseekKey"]
    blob_before, blob_after = before["ItemTable"][BLOB_KEY][1], after["ItemTable"][BLOB_KEY][1]
    assert len(blob_before) > 240_000  # the size of a real one
    assert_blob_preserved(blob_before, blob_after)


def test_a_target_in_rollback_journal_mode_stays_in_it(make_sample_dir, tmp_path):
    source = source_dir(make_sample_dir, "basic")
    target = make_target(make_sample_dir, "macos", wal=False)
    ident, recipient = identity(tmp_path)
    result = import_(target, export(source, tmp_path / "keys.age", recipient), ident, "--yes")
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(f"file:{target.db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    assert not Path(f"{target.db}-wal").exists() and not Path(f"{target.db}-journal").exists()
    assert stored_keys(target)["openai.key"] == source.keys["openai.key"]


def test_azure_and_bedrock_rows_of_a_newer_cursor_are_reencrypted(make_sample_dir, tmp_path):
    """A target that keeps Azure/Bedrock keys in rows of their own gets them there, with its own secret."""
    source = source_dir(make_sample_dir, "windows")
    target = make_sample_dir("macos", azure_bedrock_rows=True, secret=b"another-mac-password-77", seed=3)
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "keys.age", recipient)
    result = import_(target, bundle, ident, "--yes", "--on-conflict", "replace")
    assert result.exit_code == 0, result.stderr
    keys = stored_keys(target)
    for field in ("azure.key", "bedrock.access_key", "bedrock.secret_key"):
        assert keys[field] == source.keys[field]
    blob = blob_of(target.db)
    assert not blob["azureState"].get("apiKey") and not blob["bedrockState"].get("accessKey")
    rows = dump(target.db)["ItemTable"]
    assert SECRET_PREFIX + "azureApiKey" in rows and PLAIN_PREFIX + "azureApiKey" not in rows


@pytest.mark.slow
def test_round_trip_in_real_processes_through_a_pipe(make_sample_dir, tmp_path, data_dir):
    """linux keyring (v11) -> macOS scheme: `export -o -` piped into `import -`, two real processes."""
    source = source_dir(make_sample_dir, "v11")
    target = make_target(make_sample_dir, "macos")
    ident, recipient = identity(tmp_path)
    env = dict(os.environ)
    exported = subprocess.run(
        [sys.executable, "-m", "cursor_byok", *options(source), "export", "-o", "-", "-r", recipient],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(b"age-encryption.org/v1\n")
    imported = subprocess.run(
        [
            sys.executable,
            "-m",
            "cursor_byok",
            *options(target),
            "import",
            "-",
            "-i",
            str(ident),
            "--json",
            "--yes",
            *SAMPLE_ENDPOINTS,
        ],
        input=exported.stdout,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    doc = json.loads(imported.stdout)
    assert doc["applied"] is True and doc["journal"] and doc["db"] == str(target.db)
    assert stored_keys(target) == {**expected_values(source), "extra.deepseekKey": TARGET_EXTRA["deepseekKey"]}
    for value in expected_values(source).values():
        assert value.encode() not in exported.stderr + imported.stdout + imported.stderr


def test_keys_move_on_and_back_unchanged(make_sample_dir, tmp_path):
    """macOS -> Windows scheme -> basic: the keys survive two hops and re-encryptions."""
    first = source_dir(make_sample_dir, "macos")
    second = make_target(make_sample_dir, "windows")
    third = make_target(make_sample_dir, "basic")
    ident, recipient = identity(tmp_path)
    hop1 = export(first, tmp_path / "hop1.age", recipient)
    assert import_(second, hop1, ident, "--yes").exit_code == 0
    hop2 = export(second, tmp_path / "hop2.age", recipient, "--only", "openai", "--only", "anthropic")
    result = import_(third, hop2, ident, "--yes")
    assert result.exit_code == 0, result.stderr
    keys = stored_keys(third)
    assert keys["openai.key"] == first.keys["openai.key"]
    assert keys["anthropic.key"] == first.keys["anthropic.key"]
    assert "google.key" not in keys
