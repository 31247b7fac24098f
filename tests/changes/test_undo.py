"""`cursor-byok undo`: journals written by import restore every touched row byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from helpers.transfer import (
    ONLY_KNOWN,
    assert_unchanged,
    dump,
    expected_values,
    export,
    identity,
    import_,
    journals,
    make_target,
    options,
    run,
    snapshot,
)

from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.samples.installs import make_key


@pytest.fixture
def bundle(make_sample_dir, tmp_path):
    """(source dir, bundle, identity) of a v11 install with every key."""
    source = make_sample_dir("v11")
    ident, recipient = identity(tmp_path)
    return source, export(source, tmp_path / "keys.age", recipient), ident


def imported(target, bundle, *args: str) -> str:
    """Import and return the journal id."""
    _, path, ident = bundle
    result = import_(target, path, ident, "--yes", "--json", *args)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["applied"] is True
    return doc["journal"]


def undo(target, *args: str):
    return run(*options(target), "undo", "--yes", *args)


def set_row(db: Path, key: str, value: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, value))
        conn.commit()
    finally:
        conn.close()


TARGETS = {
    "plaintext": ("plaintext", {}, ONLY_KNOWN),
    "basic": ("basic", {}, []),
    "windows": ("windows", {}, []),
    # A legacy row the import deletes (it writes the secret row instead): undo must bring it back.
    "macos-legacy-row": ("macos", {PLAIN_PREFIX + "claudeKey": make_key("anthropic")}, ["--on-conflict", "replace"]),
}


@pytest.mark.parametrize("case", list(TARGETS))
def test_undo_restores_every_touched_row(case, bundle, make_sample_dir, data_dir):
    generation, extra_rows, import_args = TARGETS[case]
    target = make_target(make_sample_dir, generation)
    for key, value in extra_rows.items():
        set_row(target.db, key, value)
    before = dump(target.db)
    journal_id = imported(target, bundle, *import_args)
    assert dump(target.db) != before
    result = undo(target)
    assert result.exit_code == 0, result.stderr
    assert f"from {journal_id}" in result.stdout
    assert dump(target.db) == before  # every row, its type and value; cursorDiskKV too
    for key in extra_rows:
        assert dump(target.db)["ItemTable"][key] == ("text", extra_rows[key])


def test_undo_of_an_undo_by_its_id_redoes_the_import(bundle, make_sample_dir):
    target = make_target(make_sample_dir, "v11")
    journal_id = imported(target, bundle)
    after_import = dump(target.db)
    first = undo(target, "--json")
    assert first.exit_code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["rows_written"] > 0 and doc["journal"]
    assert doc["undone"] == journal_id
    again = undo(target, doc["journal"])  # undo of the undo's own journal, named by its id
    assert again.exit_code == 0, again.stderr
    assert f"from {doc['journal']}" in again.stdout
    assert dump(target.db) == after_import


def test_undo_does_not_flip_flop_when_nothing_is_left(bundle, make_sample_dir):
    target = make_target(make_sample_dir, "v11")
    original = dump(target.db)
    imported(target, bundle)
    assert undo(target).exit_code == 0
    assert dump(target.db) == original
    before = snapshot(target.db)
    again = undo(target)  # the import is undone; the undo is not undone in turn
    assert again.exit_code == int(Exit.NOTHING_TO_UNDO), again.stderr
    assert "nothing left to undo" in again.stderr and "redo" in again.stderr
    assert_unchanged(target.db, before)


def test_undo_list(bundle, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "basic")
    empty = undo(target, "--list")
    assert empty.exit_code == 0 and "no undo journals" in empty.stdout
    first = imported(target, bundle, "--only", "anthropic", "--no-models")
    second = imported(target, bundle, "--only", "google", "--no-models")
    result = undo(target, "--list", "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)["journals"]
    assert [j["id"] for j in listed] == [second, first]  # newest first, even within one second
    by_id = {j["id"]: j for j in listed}
    assert by_id[first]["command"] == f"import {bundle[1]}"
    assert set(by_id[first]["rows"]) == {SECRET_PREFIX + "claudeKey", BLOB_KEY}
    assert set(by_id[second]["rows"]) == {SECRET_PREFIX + "googleKey", BLOB_KEY}
    human = undo(target, "--list")
    assert first in human.stdout and second in human.stdout and "import" in human.stdout


def test_undo_by_id_walks_back_two_imports(bundle, make_sample_dir, tmp_path):
    target = make_target(make_sample_dir, "macos")
    original = dump(target.db)
    first = imported(target, bundle)
    after_first = dump(target.db)
    other = make_sample_dir("windows", seed=57)
    ident, recipient = identity(tmp_path, "second.txt")
    second_bundle = export(other, tmp_path / "second.age", recipient)
    second = imported(target, (other, second_bundle, ident), "--on-conflict", "replace")
    assert dump(target.db) != after_first
    result = undo(target, second)
    assert result.exit_code == 0, result.stderr
    assert dump(target.db) == after_first
    result = undo(target, first)
    assert result.exit_code == 0, result.stderr
    assert dump(target.db) == original


def test_undo_refuses_rows_changed_since_unless_forced(bundle, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "v11")
    original = dump(target.db)
    imported(target, bundle)
    # Cursor (or a person) saved a new key after the import.
    set_row(target.db, SECRET_PREFIX + "claudeKey", '{"type":"Buffer","data":[]}')
    changed = snapshot(target.db)
    result = undo(target)
    assert result.exit_code == int(Exit.CONFLICT)
    assert "anthropic.key (encrypted row) changed since" in result.stderr and "--force" in result.stderr
    assert_unchanged(target.db, changed)
    assert len(journals(data_dir)) == 1
    result = undo(target, "--force")
    assert result.exit_code == 0, result.stderr
    assert dump(target.db) == original


def test_undo_without_a_journal(bundle, make_sample_dir):
    target = make_target(make_sample_dir, "v11")
    before = snapshot(target.db)
    result = undo(target)
    assert result.exit_code == int(Exit.NOTHING_TO_UNDO)
    assert "undo --list" in result.stderr
    assert_unchanged(target.db, before)
    assert undo(target, "20000101T000000Z-abcdef").exit_code == int(Exit.NOTHING_TO_UNDO)


def test_journals_of_another_database_are_not_used(bundle, make_sample_dir):
    imported(make_target(make_sample_dir, "v11"), bundle)
    untouched = make_target(make_sample_dir, "v11")
    before = snapshot(untouched.db)
    assert undo(untouched).exit_code == int(Exit.NOTHING_TO_UNDO)
    assert_unchanged(untouched.db, before)


def test_undo_refuses_while_cursor_runs(bundle, make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "windows")
    imported(target, bundle)
    exe = tmp_path / "bin" / "cursor"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep"), exe)
    before = snapshot(target.db)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        (target.udd / "code.lock").write_text(f"{sleeper.pid}\n")
        result = undo(target)
        assert result.exit_code == int(Exit.CURSOR_RUNNING)
        assert_unchanged(target.db, before)
        (target.udd / "code.lock").unlink()
        fake = subprocess.Popen([str(exe), "600"])
        try:
            result = undo(target)
            assert result.exit_code == int(Exit.CURSOR_RUNNING)
            assert str(fake.pid) in result.stderr
        finally:
            fake.kill()
            fake.wait(timeout=10)
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    assert_unchanged(target.db, before)
    assert len(journals(data_dir)) == 1
    assert undo(target).exit_code == 0


def test_journal_files_are_private_and_hold_no_imported_key(bundle, make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "plaintext")  # new values are plain keys here
    old = os.umask(0)
    try:
        imported(target, bundle, *ONLY_KNOWN)
    finally:
        os.umask(old)
    (path,) = journals(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    text = path.read_text()
    for value in expected_values(bundle[0]).values():
        assert value not in text


def test_a_damaged_journal_is_a_documented_error_not_a_crash(make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("macos"), tmp_path / "k.age", recipient)
    assert import_(target, bundle, ident, "--yes", "--on-conflict", "replace").exit_code == 0
    (path,) = (data_dir / "journals").glob("*.json")
    doc = json.loads(path.read_text())
    doc["rows"] = [{k: v for k, v in r.items() if k != "key"} for r in doc["rows"]]
    path.write_text(json.dumps(doc))
    before = snapshot(target.db)
    result = run(*options(target), "undo", "--yes")
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
    assert_unchanged(target.db, before)
    listing = run(*options(target), "undo", "--list", "--json")
    assert listing.exit_code == 0 and json.loads(listing.stdout)["journals"][0]["damaged"] is True


def test_purge_deletes_only_this_databases_journals(make_sample_dir, tmp_path, data_dir):
    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("macos"), tmp_path / "k.age", recipient)
    mine, other = make_target(make_sample_dir, "v11"), make_target(make_sample_dir, "windows", seed=58)
    for target in (mine, other):
        assert import_(target, bundle, ident, "--yes", "--on-conflict", "replace").exit_code == 0
    assert len(journals(data_dir)) == 2
    refused = run(*options(mine), "undo", "--purge")  # no terminal, no --yes
    assert refused.exit_code == int(Exit.INPUT) and len(journals(data_dir)) == 2
    done = run(*options(mine), "undo", "--purge", "--yes", "--json")
    assert done.exit_code == 0 and len(json.loads(done.stdout)["purged"]) == 1
    assert run(*options(mine), "undo", "--yes").exit_code == int(Exit.NOTHING_TO_UNDO)
    assert run(*options(other), "undo", "--yes").exit_code == 0


def test_undo_puts_a_blob_row_back_byte_for_byte(make_sample_dir, tmp_path, data_dir):
    """A key row some Cursor stored as a BLOB is replaced by text on import, and undo restores the BLOB."""
    target = make_target(make_sample_dir, "plaintext")
    key = make_key("openai")
    conn = sqlite3.connect(target.db)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (PLAIN_PREFIX + "openAIKey", key.encode() + b"\xff"))
    conn.commit()
    conn.close()
    before = dump(target.db)
    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("macos"), tmp_path / "k.age", recipient)
    assert import_(target, bundle, ident, "--yes", "--on-conflict", "replace").exit_code == 0
    assert dump(target.db) != before
    assert run(*options(target), "undo", "--yes").exit_code == 0
    assert dump(target.db) == before


def test_undo_and_redo_that_put_a_gateway_back_say_where_prompts_now_go(make_sample_dir, data_dir):
    """An endpoint an undo or redo restores is shown like one a write sets: "Cursor would send" in the plan, and
    "Cursor now sends ... to HOST" on stderr after the write, in full and with --json too. Back to the provider's
    own endpoint, nothing is said."""
    sd = make_sample_dir("v11")
    gateway = ["set", "openai", "--base-url", "https://llm-gateway.example.net/v1", "--no-key", "--yes"]
    assert run(*options(sd), *gateway).exit_code == 0
    back = ["set", "openai", "--base-url", "https://api.openai.com/v1", "--no-key", "--yes"]
    assert run(*options(sd), *back).exit_code == 0

    preview = run(*options(sd), "undo", "--dry-run")
    assert "Cursor would send your prompts and code for OpenAI models to llm-gateway.example.net" in preview.stdout
    done = run(*options(sd), "undo", "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    sends = [r.get("sends") for r in json.loads(done.stdout)["restores"] if r["field"] == "openai.base_url"]
    assert sends == ["your prompts and code for OpenAI models to llm-gateway.example.net"]
    assert "note: openai.base_url: Cursor now sends your prompts and code for OpenAI models to" in done.stderr

    undone = run(*options(sd), "undo", "--yes")  # back to no base URL at all: the provider's own
    assert undone.exit_code == 0 and "Cursor now sends" not in undone.stderr + undone.stdout
    redone = run(*options(sd), "redo", "--yes")
    assert redone.exit_code == 0 and "Cursor now sends your prompts and code for OpenAI" in redone.stderr
