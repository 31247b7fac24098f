"""Undo journals, format 2: settings-blob fields instead of the whole blob, headers first, this
database's files only, older and forged journals, folders the tool does not own."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from helpers.transfer import (
    assert_unchanged,
    dump,
    export,
    identity,
    import_,
    items,
    journals,
    make_target,
    options,
    rewrite,
    run,
    undo,
)

from cursor_byok.changes import journal
from cursor_byok.cli import Exit
from cursor_byok.cursor import blob_patch as blobpatch
from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX


@pytest.fixture
def imported(make_sample_dir, tmp_path, data_dir):
    """(target, original dump, journal path) after importing every key and setting into a v11 target."""
    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("v11"), tmp_path / "keys.age", recipient)
    target = make_target(make_sample_dir, "v11")
    original = dump(target.db)
    result = import_(target, bundle, ident, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    (path,) = journals(data_dir)
    return target, original, path


def set_blob(db: Path, text: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (BLOB_KEY, text))
    conn.commit()
    conn.close()


def test_the_journal_keeps_changed_fields_not_the_blob(imported):
    target, original, path = imported
    old_blob = original["ItemTable"][BLOB_KEY][1]
    text = path.read_text()
    first = text.splitlines()[0]
    assert first.endswith(",") and json.loads(first[:-1] + "}")["version"] == journal.VERSION
    doc = json.loads(text)  # one JSON document all the same
    (blob_row,) = [r for r in doc["rows"] if r["key"] == BLOB_KEY]
    assert "old" not in blob_row and blob_row["fields"]
    assert "teamPolicyVersion" not in text and "workbench.experimental" not in text  # fields it did not change
    assert blob_row["old_sha256"] == hashlib.sha256(old_blob.encode()).hexdigest()
    assert path.name.endswith(f".{journal.db_tag(target.db)}.json")


def test_undo_keeps_what_cursor_changed_elsewhere_in_the_blob(imported):
    target, original, _ = imported
    text = items(target.db)[BLOB_KEY]
    set_blob(target.db, blobpatch.set_path(text, ("workbench.experimental", "on"), False))  # Cursor, meanwhile
    result = undo(target)
    assert result.exit_code == 0, result.stderr
    expected = blobpatch.set_path(original["ItemTable"][BLOB_KEY][1], ("workbench.experimental", "on"), False)
    assert items(target.db)[BLOB_KEY] == expected
    rest = {k: v for k, v in dump(target.db)["ItemTable"].items() if k != BLOB_KEY}
    assert rest == {k: v for k, v in original["ItemTable"].items() if k != BLOB_KEY}


def test_undo_and_its_undo_are_byte_identical(imported):
    target, original, _ = imported
    after_import = dump(target.db)
    assert undo(target).exit_code == 0
    assert dump(target.db) == original
    assert run(*options(target), "redo", "--yes").exit_code == 0  # undoes the undo
    assert dump(target.db) == after_import


def test_a_field_changed_since_is_a_conflict_named_in_words(imported):
    target, original, _ = imported
    text = items(target.db)[BLOB_KEY]
    set_blob(target.db, blobpatch.set_path(text, ("azureState", "baseUrl"), "https://llm.example.net/v1?token=abc"))
    result = undo(target)
    assert result.exit_code == int(Exit.CONFLICT)
    assert "azure.base_url changed since, to https://llm.example.net/v1" in result.stderr
    assert "token=abc" not in result.stderr and "--force" in result.stderr
    assert undo(target, "--force").exit_code == 0
    assert dump(target.db) == original


def _as_format_1(path: Path, original_blob: str | None) -> None:
    """Rewrite a journal as format 1 wrote it: whole old rows, one document, no tag in the name."""
    doc = json.loads(path.read_text())
    rows = []
    for r in doc["rows"]:
        if "fields" in r:
            r = {"key": r["key"], "old": original_blob, "new_sha256": r["new_sha256"]}
        rows.append(r)
    if original_blob is None:
        rows = [r for r in rows if r["key"] != BLOB_KEY]
    old = {"format": journal.FORMAT, "version": 1, **{k: doc[k] for k in ("id", "created", "db", "command")}}
    path.unlink()
    (path.parent / f"{doc['id']}.json").write_text(json.dumps({**old, "rows": rows}, indent=1))


def test_a_format_1_journal_of_key_rows_is_still_undone(imported):
    target, original, path = imported
    _as_format_1(path, None)
    result = undo(target)
    assert result.exit_code == 0, result.stderr
    now = dump(target.db)["ItemTable"]
    assert {k: v for k, v in now.items() if k != BLOB_KEY} == {
        k: v for k, v in original["ItemTable"].items() if k != BLOB_KEY
    }


def test_a_format_1_journal_with_the_whole_blob_is_refused_clearly(imported):
    target, original, path = imported
    _as_format_1(path, original["ItemTable"][BLOB_KEY][1])
    before = (hashlib.sha256(target.db.read_bytes()).hexdigest(), dump(target.db))
    result = undo(target)
    assert result.exit_code == int(Exit.INPUT)
    assert "older cursor-byok (format 1)" in result.stderr and "undo --purge" in result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(target.db, before)
    listing = json.loads(undo(target, "--list", "--json").stdout)["journals"]
    assert len(listing) == 1 and BLOB_KEY in listing[0]["rows"]


def test_a_journal_of_a_newer_format_is_refused_clearly(imported):
    target, _, path = imported
    rewrite(path, lambda doc: doc.update(version=9))
    result = undo(target)
    assert result.exit_code == int(Exit.INPUT)
    assert "format 9" in result.stderr and "cannot read" in result.stderr


@pytest.mark.parametrize(
    "forge, words",
    [
        (lambda rows: rows.append({"key": "cursorAuth/accessToken", "old": "eyJ.stolen", "new_sha256": None}),
         "cursorAuth/accessToken"),
        (lambda rows: rows.append({"key": SECRET_PREFIX + "refreshToken", "old": None, "new_sha256": None}),
         "refreshToken"),
        (lambda rows: rows.append({"key": "telemetry.machineId", "old": "x", "new_sha256": None}),
         "telemetry.machineId"),
        (lambda rows: [r for r in rows if "fields" in r][0]["fields"].append(
            {"path": ["cursorCreds"], "old": '"forged"', "new_sha256": None}), "cursorCreds"),
    ],
)  # fmt: skip
def test_a_forged_journal_restores_nothing_the_tool_does_not_write(imported, forge, words):
    target, _, path = imported
    rewrite(path, lambda doc: forge(doc["rows"]))
    before = (hashlib.sha256(target.db.read_bytes()).hexdigest(), dump(target.db))
    for args in ((), ("--force",), (path.name.split(".json")[0][:8],)):
        result = undo(target, *args)
        assert result.exit_code == int(Exit.INPUT), result.stderr
        assert "refused" in result.stderr and words in result.stderr
    assert_unchanged(target.db, before)


def test_listing_reads_only_headers_and_only_this_databases_files(imported, monkeypatch, data_dir):
    target, _, path = imported
    other = path.parent / f"20990101T000000.000Z-abcdef.{'0' * 12}.json"
    other.write_text("not even json")
    opened = []
    real = journal._read_header
    monkeypatch.setattr(journal, "_read_header", lambda p, *a: opened.append(p.name) or real(p, *a))
    found = journal.entries(db=target.db)
    assert opened == [path.name] and [e.id for e in found] == [path.name.split(".")[0] + "." + path.name.split(".")[1]]
    assert found[0]._rows is None  # the body is read only when used
    assert found[0].keys and found[0].rows and found[0].keys == tuple(r["key"] for r in found[0].rows)


def test_journals_that_hold_keys_are_reported_by_audit(imported, monkeypatch):
    target, _, path = imported
    doc = json.loads(path.read_text())
    assert journal.key_rows(journal.entries(db=target.db)[0]) == []  # the target held no keys before
    result = run(*options(target), "unset", "anthropic", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "stays in undo journal" in result.stderr and "undo --purge" in result.stderr
    audit = json.loads(run(*options(target), "audit", "--json").stdout)
    hits = [f for f in audit["findings"] if f["code"] == "journal-holds-key"]
    assert len(hits) == 1 and hits[0]["severity"] == "info" and "claudeKey" in hits[0]["message"]
    assert doc["id"] not in hits[0]["subject"]
    monkeypatch.setenv("AZ", "0123456789abcdef" * 2)  # an Azure key's shape: 32 hex digits
    assert run(*options(target), "set", "azure", "--key-env", "AZ", "--yes").exit_code == 0
    assert run(*options(target), "unset", "azure", "--yes").exit_code == 0  # the Azure key lives in the blob
    audit = json.loads(run(*options(target), "audit", "--json").stdout)
    plain = [f for f in audit["findings"] if f["code"] == "journal-holds-key" and "in clear" in f["message"]]
    assert plain and all(f["severity"] == "warning" and "azureState.apiKey (in clear)" in f["message"] for f in plain)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_a_journal_folder_others_may_write_is_refused(make_sample_dir, tmp_path, data_dir):
    target = make_target(make_sample_dir, "v11")
    folder = data_dir / "journals"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    before = (hashlib.sha256(target.db.read_bytes()).hexdigest(), dump(target.db))
    for args in (("undo", "--list"), ("undo",)):
        result = run(*options(target), *args)
        assert result.exit_code == int(Exit.INPUT), (args, result.stderr)
        assert "others may write to it" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(journal.JournalRefused, match="others may write"):  # writes check it too
        journal.record(target.db, {}, [], command="test")
    assert_unchanged(target.db, before)
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to give a folder away")
def test_a_data_folder_of_another_user_is_refused(make_sample_dir, data_dir):
    target = make_target(make_sample_dir, "v11")
    data_dir.mkdir(mode=0o700)
    os.chown(data_dir, 65534, 65534)
    result = run(*options(target), "undo", "--list")
    assert result.exit_code == int(Exit.INPUT)
    assert "belongs to another user" in result.stderr


def test_plain_row_old_values_survive_as_base64(imported):
    """A BLOB key row is still kept byte for byte (format 2 keeps plain rows as format 1 did)."""
    target, _, path = imported
    raw = b"\xff\x00old"
    conn = sqlite3.connect(target.db)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (PLAIN_PREFIX + "googleKey", raw))
    conn.commit()
    conn.close()
    assert run(*options(target), "unset", "google", "--yes").exit_code == 0
    newest = journal.entries(db=target.db)[0]
    assert {r["key"]: r["old"] for r in newest.rows}[PLAIN_PREFIX + "googleKey"] == {
        "base64": base64.b64encode(raw).decode()
    }
    assert undo(target).exit_code == 0
    assert items(target.db)[PLAIN_PREFIX + "googleKey"] == raw
