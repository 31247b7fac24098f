"""Moves you can trust: weaker protection said before writing, scripting, one confirmation rule, mistakes refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transfer import (
    ONLY_KNOWN,
    assert_unchanged,
    export,
    identity,
    import_,
    items,
    journals,
    make_target,
    options,
    run,
    snapshot,
)

from cursor_byok.cli import Exit
from cursor_byok.profile import KEY_ROW_NAMES, PLAIN_PREFIX


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "byok-data"


@pytest.fixture
def moved(make_sample_dir, tmp_path):
    """(source v11 install, its bundle, the identity that opens it)."""
    source = make_sample_dir("v11")
    ident, recipient = identity(tmp_path)
    return source, export(source, tmp_path / "keys.age", recipient), ident


# --- weaker protection on import ---------------------------------------------------------


def test_plan_says_when_a_secret_key_becomes_a_plain_row(moved, make_sample_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "plaintext")
    result = import_(target, bundle, ident, "--dry-run", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "openai.key: LESS PROTECTED than at the source: was encrypted (secret://)" in result.stdout
    assert "in a plain cursorAuth row" in result.stdout
    doc = json.loads(import_(target, bundle, ident, "--dry-run", "--json", "--only", "openai").stdout)
    assert any("openai.key: LESS PROTECTED" in n for n in doc["plan"]["notes"])


def test_no_weaker_note_when_the_key_stays_encrypted(moved, make_sample_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "windows")
    result = import_(target, bundle, ident, "--dry-run", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "LESS PROTECTED" not in result.stdout


def test_key_storage_secret_refuses_keys_kept_only_in_the_blob(moved, make_sample_dir, data_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "v11", extras={})
    before = snapshot(target.db)
    result = import_(target, bundle, ident, "--yes", "--key-storage", "secret", *ONLY_KNOWN)
    assert result.exit_code == int(Exit.INPUT), (result.stdout, result.stderr)
    assert "--key-storage secret cannot be honoured for azure.key" in result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(target.db, before)
    assert journals(data_dir) == []
    ok = import_(target, bundle, ident, "--yes", "--key-storage", "secret", "--only", "openai")
    assert ok.exit_code == 0, ok.stderr
    assert PLAIN_PREFIX + KEY_ROW_NAMES["openai.key"] not in items(target.db)
