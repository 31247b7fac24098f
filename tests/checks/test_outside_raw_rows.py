"""A key another tool wrote in clear into `secret://cursorAuth/openAIKey`: Cursor cannot read it and deletes it at
start. audit and doctor say so (never the key), `set openai --from-row` re-encrypts it through the one write
flow (journaled, undoable), and export says what it did with it. Real layouts, real SQLite, real ciphertext."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.leaks import assert_no_key_in
from helpers.paths import FIXTURES
from helpers.transfer import buffer_bytes, items, journals, oscrypt_decrypt, run, snapshot

import cursor_byok as byok
from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import SECRET_PREFIX
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.samples.installs import REAL_LAYOUTS, make_key

DB = "User/globalStorage/state.vscdb"
ROW = SECRET_PREFIX + "openAIKey"
PASSWORD = REAL_LAYOUTS["cursor-2.4"]().secret.decode()
KEY = make_key("openai")


def put(db: Path, key: str, value: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, value))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(params=["text", "buffer"])
def raw_udd(request, tmp_path) -> Path:
    """Cursor 2.4 (v11 keys), its OpenAI key replaced by the key text itself, as tools in the wild write it:
    the text, or a Buffer JSON of its bytes with no ciphertext prefix."""
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    put(udd / DB, ROW, KEY if request.param == "text" else ss.encode_buffer_json(KEY.encode()))
    return udd


def options(tmp_path: Path, udd: Path) -> list[str]:
    secret = tmp_path / "machine.secret"
    secret.write_text(PASSWORD + "\n")
    return ["--user-data-dir", str(udd), "--safe-storage", "password", "--safe-storage-password-file", str(secret)]


def test_audit_names_the_raw_row_and_the_command_that_re_encrypts_it(raw_udd, tmp_path):
    result = run(*options(tmp_path, raw_udd), "audit", "--json")
    assert result.exit_code == int(Exit.FINDINGS), result.stderr
    (hit,) = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "key-raw-row"]
    assert hit["subject"] == "openai.key" and hit["severity"] == "error"
    assert "written by another tool in a form Cursor cannot read; Cursor deletes it at start" in hit["message"]
    assert "set openai --from-row`" in hit["message"] and "--user-data-dir" in hit["message"]
    assert "1.5 s" in hit["fix"]
    assert_no_key_in(result.stdout + result.stderr + run(*options(tmp_path, raw_udd), "audit").stdout, [KEY])


def test_doctor_says_cursor_deletes_it_and_how_to_re_encrypt_it(raw_udd, tmp_path):
    result = run(*options(tmp_path, raw_udd), "doctor", "--json")
    assert result.exit_code == int(Exit.FINDINGS), result.stderr
    (gone,) = [c for c in json.loads(result.stdout)["checks"] if c["provider"] == "openai" and c["symptom"] ==
               "key disappeared"]  # fmt: skip
    assert gone["verdict"] == "likely" and "Cursor deletes it at start" in gone["detail"]
    assert re.search(r"`cursor-byok [^`]*set openai --from-row`", gone["fix"]) and "1.5 s" in gone["fix"]
    assert "--safe-storage" not in re.sub(r"`[^`]*`", "", gone["fix"])  # the old, wrong advice (outside the command)
    assert_no_key_in(result.stdout + run(*options(tmp_path, raw_udd), "doctor").stdout, [KEY])


def test_the_fix_re_encrypts_it_through_the_one_write_flow(raw_udd, tmp_path, data_dir):
    opts = options(tmp_path, raw_udd)
    before = items(raw_udd / DB)
    dry = run(*opts, "set", "openai", "--from-row", "--dry-run")
    assert dry.exit_code == 0 and items(raw_udd / DB) == before
    done = run(*opts, "set", "openai", "--from-row", "--yes")
    assert done.exit_code == 0, done.stderr
    assert_no_key_in(dry.stdout + dry.stderr + done.stdout + done.stderr, [KEY])
    after = items(raw_udd / DB)
    assert oscrypt_decrypt("v11", PASSWORD.encode(), buffer_bytes(after[ROW])) == KEY
    assert {k for k in after if after[k] != before.get(k)} == {ROW}  # the switch and everything else as it was
    assert len(journals(data_dir)) == 1
    audit = json.loads(run(*opts, "audit", "--json").stdout)
    assert not [f for f in audit["findings"] if f["code"] == "key-raw-row"]
    assert run(*opts, "undo", "--yes").exit_code == 0
    assert items(raw_udd / DB)[ROW] == before[ROW]


def test_from_row_refuses_a_value_that_is_no_key(tmp_path, data_dir):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    put(udd / DB, ROW, "please paste your key here")
    before = snapshot(udd / DB)
    result = run(*options(tmp_path, udd), "set", "openai", "--from-row", "--yes")
    assert result.exit_code == int(Exit.INPUT), (result.stdout, result.stderr)
    assert "does not look like this key" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(udd / DB) == before and journals(data_dir) == []


def test_from_row_takes_no_other_key_source(raw_udd, tmp_path, monkeypatch):
    monkeypatch.setenv("K", KEY)
    result = run(*options(tmp_path, raw_udd), "set", "openai", "--from-row", "--key-env", "K", "--yes")
    assert result.exit_code == int(Exit.INPUT) and "--from-row" in result.stderr


def test_export_carries_a_raw_key_of_the_slots_shape_and_says_so(raw_udd, tmp_path):
    ctx = byok.Context(user_data_dir=str(raw_udd), safe_storage=byok.SafeStorageConfig(
        "password", password_file=options(tmp_path, raw_udd)[-1]))  # fmt: skip
    exported = byok.export_bundle(ctx, passphrase="correct horse battery", only=["openai"])
    note = next(n for n in exported.notes if n.startswith("openai.key"))
    assert "written by another tool" in note and "travels as the key" in note and KEY not in note
    opened = byok.open_bundle(exported.data, passphrases=["correct horse battery"])
    assert opened.document_in_clear["profile"]["providers"]["openai"]["key"] == KEY
    assert opened.document_in_clear["source"]["key_protection"]["openai.key"] == "plaintext"


def test_export_leaves_out_a_raw_value_that_is_no_key_and_says_so(tmp_path):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    put(udd / DB, ROW, "not a key at all")
    ctx = byok.Context(user_data_dir=str(udd), safe_storage=byok.SafeStorageConfig(
        "password", password_file=options(tmp_path, udd)[-1]))  # fmt: skip
    exported = byok.export_bundle(ctx, passphrase="correct horse battery", only=["openai"])
    assert any("left out, not a key" in n for n in exported.left_out), exported.notes
    opened = byok.open_bundle(exported.data, passphrases=["correct horse battery"])
    assert "key" not in opened.document_in_clear["profile"]["providers"].get("openai", {})


def test_list_shows_the_raw_key_masked_with_what_it_is(raw_udd, tmp_path):
    result = run(*options(tmp_path, raw_udd), "list", "--json")
    assert result.exit_code == 0, result.stderr
    key = json.loads(result.stdout)["providers"]["openai"]["key"]
    assert key["storage"] == "raw" and "Cursor deletes it at start" in key["reason"]
    assert_no_key_in(result.stdout, [KEY])
