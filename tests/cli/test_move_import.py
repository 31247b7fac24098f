"""`cursor-byok import`: key storage rules, plan semantics, refusals that leave the database as it was."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.leaks import assert_no_key_shown, sha12
from helpers.transfer import (
    SAMPLE_ENDPOINTS,
    assert_unchanged,
    blob_of,
    buffer_bytes,
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
    oscrypt_decrypt,
    run,
    snapshot,
    stored_keys,
    wrong_password_options,
)

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.bundle.age_envelope import seal
from cursor_byok.bundle.document import FORMAT
from cursor_byok.cli import Exit
from cursor_byok.cursor import store
from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.providers import registry
from cursor_byok.samples.installs import make_key

ROW_FIELDS = ("openai.key", "anthropic.key", "google.key")
PASSPHRASE = "correct horse battery staple"


class Move:
    """A source install, its bundle, and the identity that opens it."""

    def __init__(self, make_sample_dir, tmp_path: Path, generation: str = "v11", *export_args: str) -> None:
        self.source = make_sample_dir(generation)
        self.ident, self.recipient = identity(tmp_path)
        self.bundle = export(self.source, tmp_path / f"keys-{self.source.udd.name}.age", self.recipient, *export_args)

    def into(self, target, *args: str):
        return import_(target, self.bundle, self.ident, *args)


@pytest.fixture
def move(make_sample_dir, tmp_path) -> Move:
    return Move(make_sample_dir, tmp_path)


def add_rows(db: Path, rows: dict[str, str]) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", list(rows.items()))
        conn.commit()
    finally:
        conn.close()


def assert_refused(result, code: Exit, db: Path, before, data_dir: Path) -> None:
    assert result.exit_code == int(code), (result.stdout, result.stderr)
    assert result.stderr.startswith("cursor-byok: error: ") and "Traceback" not in result.stderr
    assert_unchanged(db, before)
    assert journals(data_dir) == []


# --- where keys are written ----------------------------------------------------------------


def test_auto_writes_legacy_rows_where_cursor_has_no_secret_cursorauth_rows(move, make_sample_dir):
    target = make_target(make_sample_dir, "v11", extras={})  # only secret://mcpEncryptionKey
    result = move.into(target, "--yes")
    assert result.exit_code == 0, result.stderr
    rows = items(target.db)
    for field in ROW_FIELDS:
        name = registry().key_row_names[field]
        assert rows[PLAIN_PREFIX + name] == move.source.keys[field]
        assert SECRET_PREFIX + name not in rows
    # An unknown provider's key exists only as a secret:// row: encrypted with the proven machine secret.
    assert stored_keys(target)["extra.mistralKey"] == move.source.extras["mistralKey"]
    assert buffer_bytes(rows[SECRET_PREFIX + "mistralKey"]).startswith(b"v11")


def test_auto_writes_secret_rows_where_cursor_has_them(move, make_sample_dir):
    target = make_target(make_sample_dir, "windows")
    assert move.into(target, "--yes").exit_code == 0
    rows = items(target.db)
    for field in ROW_FIELDS:
        name = registry().key_row_names[field]
        assert PLAIN_PREFIX + name not in rows
        blob = buffer_bytes(rows[SECRET_PREFIX + name])
        assert oscrypt_decrypt("windows", target.sample.secret, blob) == move.source.keys[field]


def test_key_storage_secret_encrypts_even_without_secret_cursorauth_rows(move, make_sample_dir):
    target = make_target(make_sample_dir, "v11", extras={})
    rows_only = [arg for p in ("openai", "anthropic", "google", "extra") for arg in ("--only", p)]
    result = move.into(target, "--yes", "--key-storage", "secret", *rows_only)  # Azure/Bedrock: blob only
    assert result.exit_code == 0, result.stderr
    rows = items(target.db)
    assert not any(PLAIN_PREFIX + registry().key_row_names[f] in rows for f in ROW_FIELDS)
    assert {f: stored_keys(target)[f] for f in ROW_FIELDS} == {f: move.source.keys[f] for f in ROW_FIELDS}


def test_key_storage_secret_without_any_secret_row_takes_the_given_password(move, make_sample_dir):
    """No stored row can prove a secret, so the backend the user named is the authority (here: a password)."""
    target = make_target(make_sample_dir, "plaintext")
    secret = target.udd.parent / "given.secret"
    secret.write_text("some-keyring-password\n")
    keyring = ["--safe-storage", "password", "--safe-storage-scheme", "linux", "--safe-storage-password-file", secret]
    result = run(
        "--user-data-dir",
        target.udd,
        *keyring,
        "import",
        move.bundle,
        "-i",
        move.ident,
        "--yes",
        "--key-storage",
        "secret",
        "--only",
        "openai",
        "-v",
    )
    assert result.exit_code == 0, result.stderr
    assert "encrypted with the password backend's secret (v11)" in result.stdout
    rows = items(target.db)
    assert "cursorAuth/openAIKey" not in rows
    blob = buffer_bytes(rows[SECRET_PREFIX + "openAIKey"])
    assert oscrypt_decrypt("v11", b"some-keyring-password", blob) == move.source.keys["openai.key"]


def test_key_storage_secret_with_explicit_basic_needs_no_proof(move, make_sample_dir):
    """Linux basic is a fixed, known key: an explicit --safe-storage basic is not a guess."""
    target = make_target(make_sample_dir, "plaintext")
    result = move.into(target, "--yes", "--key-storage", "secret", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "only obfuscated" in result.stderr
    row = items(target.db)[SECRET_PREFIX + registry().key_row_names["openai.key"]]
    assert buffer_bytes(row).startswith(b"v10")
    shown = list_json(target, "--reveal")["providers"]["openai"]["key"]
    assert (shown["value"], shown["storage"]) == (move.source.keys["openai.key"], "basic")


def test_key_storage_plaintext_replaces_secret_rows_with_legacy_rows(move, make_sample_dir):
    target = make_sample_dir("macos", seed=31, secret=b"target-mac-password-1")  # keys of its own
    result = move.into(target, "--yes", "--key-storage", "plaintext", "--on-conflict", "replace")
    assert result.exit_code == 0, result.stderr
    rows = items(target.db)
    for field in ROW_FIELDS:
        name = registry().key_row_names[field]
        assert rows[PLAIN_PREFIX + name] == move.source.keys[field]
        assert SECRET_PREFIX + name not in rows, "the old secret row must go when the legacy row is written"


def test_a_legacy_row_is_removed_when_the_secret_row_is_written(move, make_sample_dir):
    target = make_target(make_sample_dir, "macos")
    old = make_key("openai")
    add_rows(target.db, {PLAIN_PREFIX + "openAIKey": old})
    result = move.into(target, "--yes", "--on-conflict", "replace", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    rows = items(target.db)
    assert PLAIN_PREFIX + "openAIKey" not in rows
    assert stored_keys(target)["openai.key"] == move.source.keys["openai.key"]


@pytest.mark.parametrize("generation", ["v11", "macos", "windows"])
def test_a_machine_secret_that_decrypts_no_stored_row_is_refused(generation, move, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, generation)
    before = snapshot(target.db)
    result = run(*wrong_password_options(target), "import", move.bundle, "-i", move.ident, "--yes")
    assert_refused(result, Exit.SAFE_STORAGE, target.db, before, data_dir)
    assert "secret://" in result.stderr


def test_basic_backend_writes_warn_that_keys_are_only_obfuscated(move, make_sample_dir):
    target = make_target(make_sample_dir, "basic")
    result = move.into(target, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr and "only obfuscated" in result.stderr
    assert buffer_bytes(items(target.db)[SECRET_PREFIX + "claudeKey"]).startswith(b"v10")
    keyring_target = make_target(make_sample_dir, "v11")
    result = move.into(keyring_target, "--yes", "--json")
    assert result.exit_code == 0 and "obfuscated" not in result.stderr
    assert json.loads(result.stdout)["warnings"] == []


def test_basic_warning_is_in_the_json_document(move, make_sample_dir):
    target = make_target(make_sample_dir, "basic")
    result = move.into(target, "--yes", "--json")
    assert result.exit_code == 0
    (warning,) = json.loads(result.stdout)["warnings"]
    assert "only obfuscated" in warning


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_dry_run_changes_nothing(as_json, move, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "v11")
    before = snapshot(target.db)
    result = move.into(target, "--dry-run", *(["--json"] if as_json else []))
    assert result.exit_code == 0, result.stderr
    assert_unchanged(target.db, before)
    assert journals(data_dir) == []
    if as_json:
        doc = json.loads(result.stdout)
        assert (doc["dry_run"], doc["applied"], doc["journal"]) == (True, False, None)
        fields = {c["field"]: c["action"] for c in doc["plan"]["changes"]}
        assert fields["openai.key"] == fields["extra.mistralKey"] == "add"
    else:
        assert "openai.key" in result.stdout and "add" in result.stdout
    assert_no_key_shown(result.stdout + result.stderr, *expected_values(move.source).values())


def conflicting_target(make_sample_dir, generation="basic"):
    """An install with keys of its own (another seed) and one key missing."""
    target = make_sample_dir(generation, seed=41)
    conn = sqlite3.connect(target.db)
    conn.execute("DELETE FROM ItemTable WHERE key = ?", (SECRET_PREFIX + "googleKey",))
    conn.commit()
    conn.close()
    target.keys.pop("google.key")
    return target


def test_conflicts_without_a_terminal_write_nothing(move, make_sample_dir, data_dir):
    target = conflicting_target(make_sample_dir)
    before = snapshot(target.db)
    result = move.into(target, "--yes")
    assert_refused(result, Exit.CONFLICT, target.db, before, data_dir)
    assert "--on-conflict" in result.stderr


def test_conflicts_in_json_are_listed_masked(move, make_sample_dir, data_dir):
    target = conflicting_target(make_sample_dir)
    before = snapshot(target.db)
    result = move.into(target, "--json")
    assert_refused(result, Exit.CONFLICT, target.db, before, data_dir)
    doc = json.loads(result.stdout)
    conflict = {c["field"]: c for c in doc["plan"]["changes"] if c["action"] == "conflict"}
    assert set(conflict) >= {"openai.key", "anthropic.key", "azure.key", "extra.mistralKey"}
    assert conflict["openai.key"]["old"]["fingerprint"] == sha12(target.keys["openai.key"])
    assert conflict["openai.key"]["new"]["fingerprint"] == sha12(move.source.keys["openai.key"])
    assert_no_key_shown(result.stdout + result.stderr, *target.keys.values(), *move.source.keys.values())


def test_on_conflict_keep_adds_only_what_is_missing(move, make_sample_dir):
    target = conflicting_target(make_sample_dir)
    result = move.into(target, "--yes", "--on-conflict", "keep")
    assert result.exit_code == 0, result.stderr
    got = stored_keys(target)
    assert got["google.key"] == move.source.keys["google.key"]
    for field in ("openai.key", "anthropic.key", "azure.key", "bedrock.secret_key"):
        assert got[field] == target.keys[field]
    assert got["extra.mistralKey"] == target.extras["mistralKey"]


def test_on_conflict_replace_takes_the_bundle(move, make_sample_dir):
    target = conflicting_target(make_sample_dir)
    result = move.into(target, "--yes", "--on-conflict", "replace")
    assert result.exit_code == 0, result.stderr
    assert stored_keys(target) == expected_values(move.source)


TARGET_MODELS = {
    "userAddedModels": ["mine-1"],
    "modelOverrideEnabled": ["mine-1", "gpt-4.1-nano"],
    "modelOverrideDisabled": ["claude-sonnet-4"],
    "modelConfig": {"composer": {"modelName": "mine-1", "maxMode": True}},
}
BUNDLE_MODELS = {  # default_settings()
    "user_added": ["llama-3.1-70b", "qwen2.5-coder:32b"],
    "enabled": ["llama-3.1-70b", "claude-sonnet-4"],
    "disabled": ["gpt-4.1-nano"],
    "selected": {"cmd-k": "gpt-4o", "composer": "claude-sonnet-4"},
}
MINE = {
    "user_added": ["mine-1"],
    "enabled": ["mine-1", "gpt-4.1-nano"],
    "disabled": ["claude-sonnet-4"],
    "selected": {"composer": "mine-1"},
}
MODEL_CASES = {
    # union adds what is missing and keeps the user's own choices ...
    ("--models", "union"): {
        "user_added": ["mine-1", "llama-3.1-70b", "qwen2.5-coder:32b"],
        "enabled": ["mine-1", "gpt-4.1-nano", "llama-3.1-70b"],
        "disabled": ["claude-sonnet-4"],
        "selected": {"cmd-k": "gpt-4o", "composer": "mine-1"},
    },
    # ... unless the bundle is told to win
    ("--models", "union", "--on-conflict", "replace"): {
        "user_added": ["mine-1", "llama-3.1-70b", "qwen2.5-coder:32b"],
        "enabled": ["mine-1", "llama-3.1-70b", "claude-sonnet-4"],
        "disabled": ["gpt-4.1-nano"],
        "selected": {"cmd-k": "gpt-4o", "composer": "claude-sonnet-4"},
    },
    ("--models", "replace"): BUNDLE_MODELS,
    ("--models", "keep"): MINE,
    ("--no-models",): MINE,
}


@pytest.mark.parametrize("args", list(MODEL_CASES), ids=" ".join)
def test_model_policies(args, move, make_sample_dir):
    target = make_target(make_sample_dir, "v11", settings={"aiSettings": TARGET_MODELS})
    result = move.into(target, "--yes", *args)
    assert result.exit_code == 0, result.stderr
    assert list_json(target)["models"] == MODEL_CASES[args]
    assert blob_of(target.db)["aiSettings"]["modelConfig"]["composer"]["maxMode"] is True


def test_only_imports_one_provider(move, make_sample_dir):
    target = make_target(make_sample_dir, "v11")
    before = dump(target.db)
    result = move.into(target, "--yes", "--only", "anthropic", "--no-models")
    assert result.exit_code == 0, result.stderr
    after = dump(target.db)
    assert changed_rows(before, after) == {SECRET_PREFIX + "claudeKey", BLOB_KEY}
    got = stored_keys(target)
    assert got["anthropic.key"] == move.source.keys["anthropic.key"]
    assert not {"openai.key", "google.key", "azure.key", "extra.mistralKey"} & set(got)
    blob = blob_of(target.db)
    assert blob["useClaudeKey"] is True and blob["useOpenAIKey"] is False and "azureState" not in blob


def test_only_extra_imports_unknown_provider_keys(move, make_sample_dir):
    target = make_target(make_sample_dir, "macos")
    before = dump(target.db)
    result = move.into(target, "--yes", "--only", "extra", "--no-models")
    assert result.exit_code == 0, result.stderr
    assert changed_rows(before, dump(target.db)) == {SECRET_PREFIX + "mistralKey"}
    assert stored_keys(target)["extra.mistralKey"] == move.source.extras["mistralKey"]


def test_importing_the_same_bundle_twice_writes_nothing_the_second_time(move, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "windows")
    assert move.into(target, "--yes").exit_code == 0
    assert len(journals(data_dir)) == 1
    before = snapshot(target.db)
    result = move.into(target, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["applied"], doc["journal"]) == (False, None)
    # the target's own composer selection stays under --models union: reported as kept drift, not written
    kept = [(c["field"], c["action"]) for c in doc["plan"]["changes"]]
    assert kept == [("models.selected.composer", "kept")]
    assert doc["plan"]["summary"]["unchanged"] > 0 and doc["plan"]["summary"]["kept"] == 1
    assert_unchanged(target.db, before)
    assert len(journals(data_dir)) == 1
    human = move.into(target, "--yes")
    assert human.exit_code == 0 and "nothing to write" in human.stdout


# --- bundles that cannot be imported ------------------------------------------------------


def sealed(tmp_path: Path, doc: dict, recipient: str, name: str = "odd.age") -> Path:
    path = tmp_path / name
    path.write_bytes(seal(doc, passphrase=None, recipients=[recipient]))
    return path


def test_a_newer_bundle_version_is_refused_by_name(move, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    doc = {"format": FORMAT, "version": 7, "profile": {"providers": {}}}
    path = sealed(tmp_path, doc, move.recipient)
    before = snapshot(target.db)
    result = import_(target, path, move.ident, "--yes")
    assert_refused(result, Exit.BUNDLE, target.db, before, data_dir)
    assert "version 7" in result.stderr and "upgrade" in result.stderr


@pytest.mark.parametrize(
    "doc",
    [
        {"format": "something-else", "version": 1, "profile": {}},
        {"format": FORMAT, "version": 1, "profile": {"providers": {"mistral": {"key": "x" * 20}}}},
        {"format": FORMAT, "version": 1, "profile": {"providers": {"openai": {"key": ""}}}},
    ],
    ids=["other-format", "unknown-provider", "empty-key"],
)
def test_malformed_documents_are_refused(doc, move, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    path = sealed(tmp_path, doc, move.recipient)
    before = snapshot(target.db)
    assert_refused(import_(target, path, move.ident, "--yes"), Exit.BUNDLE, target.db, before, data_dir)


@pytest.mark.slow
def test_wrong_passphrase_and_missing_passphrase(make_sample_dir, tmp_path, monkeypatch, data_dir):
    source = make_sample_dir("basic")
    monkeypatch.setenv("BUNDLE_PASS", PASSPHRASE)
    bundle = tmp_path / "pass.age"
    assert run(*options(source), "export", "-o", bundle, "--passphrase-env", "BUNDLE_PASS").exit_code == 0
    target = make_target(make_sample_dir, "basic")
    before = snapshot(target.db)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    result = run(*options(target), "import", bundle, "--passphrase-file", wrong, "--yes")
    assert_refused(result, Exit.BUNDLE_AUTH, target.db, before, data_dir)
    assert "passphrase" in result.stderr
    result = run(*options(target), "import", bundle, "--yes")  # no terminal to ask on
    assert_refused(result, Exit.BUNDLE_AUTH, target.db, before, data_dir)
    good = tmp_path / "good"
    good.write_text(PASSPHRASE + "\n")
    result = run(*options(target), "import", bundle, "--passphrase-file", good, "--yes", *SAMPLE_ENDPOINTS)
    assert result.exit_code == 0, result.stderr
    assert stored_keys(target)["openai.key"] == source.keys["openai.key"]


def test_wrong_or_missing_identity(move, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    before = snapshot(target.db)
    other, _ = identity(tmp_path, "other.txt")
    result = import_(target, move.bundle, other, "--yes")
    assert_refused(result, Exit.BUNDLE_AUTH, target.db, before, data_dir)
    result = run(*options(target), "import", move.bundle, "--yes")
    assert_refused(result, Exit.BUNDLE_AUTH, target.db, before, data_dir)
    assert "-i" in result.stderr


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


DAMAGE = {
    "truncated": lambda d: d[: len(d) // 2],
    "payload-bit": lambda d: flip(d, len(d) - 20),
    "header-mac-bit": lambda d: flip(d, d.index(b"\n---") + 10),
    "no-payload": lambda d: d[: d.index(b"\n---")] + b"\n",
    "not-age": lambda d: b"PK\x03\x04 a zip file, not a bundle",
    "empty": lambda d: b"",
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_bundles_are_refused(how, move, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    damaged = tmp_path / "damaged.age"
    damaged.write_bytes(DAMAGE[how](move.bundle.read_bytes()))
    before = snapshot(target.db)
    result = import_(target, damaged, move.ident, "--yes")
    assert_refused(result, Exit.BUNDLE, target.db, before, data_dir)


def test_a_missing_bundle_file_is_an_input_error(move, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    before = snapshot(target.db)
    result = import_(target, tmp_path / "nowhere.age", move.ident, "--yes")
    assert_refused(result, Exit.INPUT, target.db, before, data_dir)


# --- when writing is not safe -----------------------------------------------------------------


@pytest.fixture
def fake_cursor(tmp_path):
    """A live process named `cursor` (a copy of sleep), like Cursor's main process on Linux."""
    exe = tmp_path / "bin" / "cursor"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([str(exe), "600"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def test_refuses_while_a_cursor_process_runs(fake_cursor, move, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "v11")
    before = snapshot(target.db)
    result = move.into(target, "--yes")
    assert_refused(result, Exit.CURSOR_RUNNING, target.db, before, data_dir)
    assert str(fake_cursor.pid) in result.stderr


def test_refuses_while_code_lock_names_a_live_process(move, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "macos")
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        (target.udd / "code.lock").write_text(str(sleeper.pid))
        before = snapshot(target.db)
        result = move.into(target, "--yes")
        assert_refused(result, Exit.CURSOR_RUNNING, target.db, before, data_dir)
        assert "code.lock" in result.stderr
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    (target.udd / "code.lock").write_text(str(sleeper.pid))  # a stale lock does not block
    assert move.into(target, "--yes").exit_code == 0


HOLD_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.rollback()
"""


def test_a_locked_database_is_refused(move, make_sample_dir, monkeypatch, data_dir):
    from helpers.children import read_line

    target = make_target(make_sample_dir, "v11")
    monkeypatch.setattr(store, "WRITE_BUSY_TIMEOUT_S", 0.05)
    before = snapshot(target.db)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(target.db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(holder).strip() == "locked"
        result = move.into(target, "--yes")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert_refused(result, Exit.DB_BUSY, target.db, before, data_dir)
    assert "locked" in result.stderr


# --- output ---------------------------------------------------------------------------------


def test_json_output_is_one_document_with_the_plan(move, make_sample_dir):
    target = make_target(make_sample_dir, "macos")
    result = move.into(target, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # the whole of stdout is one document
    assert set(doc) >= {"db", "dry_run", "plan", "applied", "journal", "warnings"}
    assert doc["applied"] is True and doc["rows_written"] == len(changed_rows_after_import(move, target))
    changes = {c["field"]: c for c in doc["plan"]["changes"]}
    for field, value in expected_values(move.source).items():
        new = changes[field]["new"]
        assert new == {"masked": new["masked"], "fingerprint": sha12(value)}
        assert new["masked"].endswith(value[-4:])
    assert_no_key_shown(result.stdout + result.stderr, *expected_values(move.source).values())


def changed_rows_after_import(move, target) -> set[str]:
    return {SECRET_PREFIX + registry().key_row_names[f] for f in ROW_FIELDS} | {SECRET_PREFIX + "mistralKey", BLOB_KEY}


def test_human_output_masks_keys(move, make_sample_dir):
    target = make_target(make_sample_dir, "v11")
    result = move.into(target, "--yes")
    assert result.exit_code == 0, result.stderr
    assert sha12(move.source.keys["anthropic.key"]) in result.stdout
    assert "applied:" in result.stdout and "undo" in result.stdout
    assert_no_key_shown(result.stdout + result.stderr, *expected_values(move.source).values())


def test_unknown_provider_keys_are_left_out_where_cursor_keeps_no_secret_rows(move, make_sample_dir):
    target = make_target(make_sample_dir, "plaintext")
    dry = move.into(target, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    assert not any(c["field"].startswith("extra.") for c in plan["changes"])
    assert any("extra.mistralKey: left out" in n for n in plan["notes"])
    result = move.into(target, "--yes")
    assert result.exit_code == 0, result.stderr
    rows = items(target.db)
    assert not any(k.startswith("secret://") for k in rows)
    assert {f: stored_keys(target)[f] for f in ROW_FIELDS} == {f: move.source.keys[f] for f in ROW_FIELDS}


@pytest.mark.parametrize(
    "profile",
    [
        {"extra_secrets": {"openAIKey": "sk-crafted-value-0000000000"}},
        {"extra_secrets": {"../x": "abc"}},
        {"models": {"user_added": ["ab\ud800"]}},
    ],
    ids=["known-row-as-extra", "odd-extra-name", "lone-surrogate"],
)
def test_crafted_bundles_are_refused_before_any_plan(profile, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    ident, recipient = identity(tmp_path)
    doc = {"format": FORMAT, "version": 1, "profile": profile}
    bundle = tmp_path / "crafted.age"
    bundle.write_bytes(agefile.encrypt(json.dumps(doc).encode(), recipients=[recipient]))  # escapes kept as \\u
    before = snapshot(target.db)
    for args in (
        ["import", bundle, "-i", ident, "--yes", "--on-conflict", "replace"],
        ["list", "--bundle", bundle, "-i", ident],
    ):
        result = run(*options(target), *args)
        assert result.exit_code == int(Exit.BUNDLE), result.stderr
        assert "Traceback" not in result.stderr
    assert_unchanged(target.db, before)
    assert journals(data_dir) == []


def test_only_one_provider_leaves_the_model_lists_alone(move, make_sample_dir):
    target = make_target(make_sample_dir, "v11", settings={"aiSettings": TARGET_MODELS})
    before = blob_of(target.db)["aiSettings"]
    assert move.into(target, "--yes", "--only", "google").exit_code == 0
    assert blob_of(target.db)["aiSettings"] == before
    assert move.into(target, "--yes", "--only", "models").exit_code == 0
    assert list_json(target)["models"] == MODEL_CASES[("--models", "union")]


def test_clearing_a_stored_value_is_a_conflict_unless_replace(make_sample_dir, tmp_path, data_dir):
    azure = {"useAzure": True, "baseUrl": "https://contoso-ai.openai.azure.com", "deployment": "gpt-4o"}
    target = make_target(make_sample_dir, "v11", settings={"azureState": azure})
    ident, recipient = identity(tmp_path)
    doc = {"format": FORMAT, "version": 1, "profile": {"providers": {"azure": {"base_url": None}}}}
    bundle = tmp_path / "clear.age"
    bundle.write_bytes(seal(doc, passphrase=None, recipients=[recipient]))
    before = snapshot(target.db)
    assert blob_of(target.db)["azureState"]["baseUrl"]
    refused = run(*options(target), "import", bundle, "-i", ident, "--yes")
    assert_refused(refused, Exit.CONFLICT, target.db, before, data_dir)
    kept = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "keep")
    assert kept.exit_code == 0 and journals(data_dir) == []
    cleared = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "replace")
    assert cleared.exit_code == 0 and blob_of(target.db)["azureState"]["baseUrl"] is None


def test_empty_model_lists_add_nothing_cursor_never_wrote(make_sample_dir, tmp_path):
    target = make_target(make_sample_dir, "v11", settings={"useOpenAIKey": False})
    ident, recipient = identity(tmp_path)
    doc = {
        "format": FORMAT,
        "version": 1,
        "profile": {"models": {"user_added": [], "enabled": [], "disabled": [], "selected": {}}},
    }
    bundle = tmp_path / "empty.age"
    bundle.write_bytes(seal(doc, passphrase=None, recipients=[recipient]))
    before = snapshot(target.db)
    result = run(*options(target), "import", bundle, "-i", ident, "--yes")
    assert result.exit_code == 0 and "nothing to write" in result.stdout
    assert_unchanged(target.db, before)


def test_the_dry_run_already_says_keys_will_only_be_obfuscated(move, make_sample_dir):
    target = make_target(make_sample_dir, "basic")
    result = move.into(target, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert any("only obfuscated" in n for n in json.loads(result.stdout)["plan"]["notes"])
    keyring_target = make_target(make_sample_dir, "v11")
    result = move.into(keyring_target, "--dry-run", "--json")
    assert not any("obfuscated" in n for n in json.loads(result.stdout)["plan"]["notes"])
