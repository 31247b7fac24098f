"""Every encrypted row proves the machine secret: MCP OAuth rows and extension secret:// rows too.

Real layouts (tests/fixtures/cursor-3.7-mcp: a Cursor 3.7 whose only encrypted row is an MCP server's
`mcpOAuth.secret.*` token), real SQLite files, real ciphertext. Such rows are never listed, exported,
changed, deleted or journaled.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from helpers.paths import FIXTURES
from helpers.transfer import buffer_bytes, items, journals, oscrypt_decrypt, run, snapshot

import cursor_byok as byok
from cursor_byok.changes import write as writer
from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import ROW_KEYS, ROW_PREFIXES, SECRET_PREFIX
from cursor_byok.cursor.store import Store
from cursor_byok.errors import WrongMachineKey
from cursor_byok.model import Secret
from cursor_byok.samples.installs import (
    MCP_SERVER,
    REAL_LAYOUTS,
    extension_secret_row,
    make_key,
    mcp_oauth_row,
    mcp_token,
)

RIGHT = REAL_LAYOUTS["cursor-3.7-mcp"]().secret.decode()  # the fixture's keyring password
MCP_ROW = mcp_oauth_row(MCP_SERVER)
DB = "User/globalStorage/state.vscdb"


@pytest.fixture
def mcp_udd(tmp_path) -> Path:
    target = tmp_path / "cursor-3.7-mcp"
    shutil.copytree(FIXTURES / "cursor-3.7-mcp", target)
    return target


def secret_options(tmp_path: Path, password: str) -> list[str]:
    path = tmp_path / f"secret-{len(password)}-{password[:4]}"
    path.write_text(password + "\n")
    return ["--safe-storage", "password", "--safe-storage-password-file", str(path), "--safe-storage-scheme", "linux"]


def test_the_fixture_holds_one_encrypted_row_an_mcp_token():
    import sqlite3

    conn = sqlite3.connect(f"file:{FIXTURES / 'cursor-3.7-mcp' / DB}?immutable=1", uri=True)  # the committed file
    try:
        rows = dict(conn.execute("SELECT key, value FROM ItemTable"))
    finally:
        conn.close()
    encrypted = [k for k in rows if k.startswith(("secret://", "mcpOAuth.secret."))]
    assert encrypted == [MCP_ROW]
    assert oscrypt_decrypt("v11", RIGHT.encode(), buffer_bytes(rows[MCP_ROW])).startswith('{"access_token"')


@pytest.mark.parametrize("how", ["set", "import"])
def test_a_wrong_secret_is_refused_when_only_an_mcp_row_is_stored(how, mcp_udd, tmp_path, data_dir, monkeypatch):
    db = mcp_udd / DB
    before = snapshot(db)
    wrong = secret_options(tmp_path, "not-the-keyring-password")
    monkeypatch.setenv("NEW_KEY", make_key("openai"))
    if how == "set":
        args = ["set", "openai", "--key-env", "NEW_KEY", "--key-storage", "secret", "--yes"]
    else:
        args = ["import", str(_bundle(tmp_path)), "-i", str(tmp_path / "id.txt"), "--yes", "--key-storage", "secret"]
    result = run("--user-data-dir", mcp_udd, *wrong, *args)
    assert result.exit_code == int(Exit.SAFE_STORAGE), (result.stdout, result.stderr)
    assert "MCP token" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(db) == before and journals(data_dir) == []


def test_with_no_desktop_an_mcp_v11_row_is_not_overwritten_by_a_basic_guess(mcp_udd, data_dir, monkeypatch):
    """Before: no desktop meant basic, and a v10 key Cursor (using a keyring, as the v11 row shows) would delete."""
    db = mcp_udd / DB
    before = snapshot(db)
    monkeypatch.setenv("NEW_KEY", make_key("openai"))
    result = run("--user-data-dir", mcp_udd, "set", "openai", "--key-env", "NEW_KEY", "--yes")
    assert result.exit_code == int(Exit.SAFE_STORAGE), (result.stdout, result.stderr)
    assert snapshot(db) == before and journals(data_dir) == []


def test_the_right_secret_writes_and_the_mcp_row_stays_byte_identical(mcp_udd, tmp_path, data_dir, monkeypatch):
    db = mcp_udd / DB
    token_row = items(db)[MCP_ROW]
    key = make_key("openai")
    monkeypatch.setenv("NEW_KEY", key)
    right = secret_options(tmp_path, RIGHT)
    result = run("--user-data-dir", mcp_udd, *right, "set", "openai", "--key-env", "NEW_KEY", "--yes")
    assert result.exit_code == 0, result.stderr
    rows = items(db)
    assert oscrypt_decrypt("v11", RIGHT.encode(), buffer_bytes(rows[SECRET_PREFIX + "openAIKey"])) == key
    assert rows[MCP_ROW] == token_row
    (journal,) = journals(data_dir)
    assert MCP_ROW not in journal.read_text()
    bundle = _bundle(tmp_path, udd=mcp_udd, opts=right)
    imported = run("--user-data-dir", mcp_udd, *right, "import", bundle, "-i", tmp_path / "id.txt", "--yes",
                   "--on-conflict", "replace")  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    assert run("--user-data-dir", mcp_udd, *right, "undo", "--yes").exit_code == 0
    assert items(db)[MCP_ROW] == token_row and SECRET_PREFIX + "openAIKey" not in items(db)
    assert all(MCP_ROW not in j.read_text() for j in journals(data_dir))


def test_mcp_and_extension_rows_are_never_listed_or_exported(mcp_udd, tmp_path, data_dir):
    db = mcp_udd / DB
    extension_row = extension_secret_row("anysphere.cursor-mcp", "mcp-oauth-linear")
    token = mcp_token(random.Random(3))
    _add_row(db, extension_row, _encrypted(token))
    right = secret_options(tmp_path, RIGHT)
    listed = run("--user-data-dir", mcp_udd, *right, "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert (
        "mcpOAuth" not in listed.stdout and "extensionId" not in listed.stdout and "access_token" not in listed.stdout
    )
    assert json.loads(listed.stdout)["extra_secrets"] == []
    ctx = byok.Context(user_data_dir=str(mcp_udd), safe_storage=byok.SafeStorageConfig(
        "password", scheme="linux", password_file=right[3]))  # fmt: skip
    exported = byok.export_bundle(ctx, passphrase="correct horse battery")
    opened = byok.open_bundle(exported.data, passphrases=["correct horse battery"])
    text = json.dumps(opened.document_in_clear)
    assert "mcpOAuth" not in text and "extensionId" not in text and "access_token" not in text and token not in text


def test_an_extension_secret_row_that_decrypts_proves_the_secret(tmp_path):
    from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

    rows = {extension_secret_row("ms-python.python", "token"): _encrypted("extension-token-value")}
    right = SafeStorage(SafeStorageConfig("password"), env={"HOME": str(tmp_path)}, platform="linux",
                        fetchers={"password": lambda: RIGHT.encode()})  # fmt: skip
    wrong = SafeStorage(SafeStorageConfig("password"), env={"HOME": str(tmp_path)}, platform="linux",
                        fetchers={"password": lambda: b"wrong"})  # fmt: skip
    assert writer.prove_machine_key(rows, right)[0] == b"v11"
    with pytest.raises(WrongMachineKey):
        writer.prove_machine_key(rows, wrong)


@pytest.mark.parametrize("generation", ["v11", "macos", "windows"])
def test_an_mcp_row_alone_proves_or_refuses_on_every_scheme(generation, make_sample_dir):
    sd = make_sample_dir(generation, keys={}, extras={}, mcp_key=False, mcp_oauth={MCP_SERVER: "token-document"})
    with Store(sd.db) as st:
        rows = st.get_items(ROW_KEYS, ROW_PREFIXES)
    assert [k for k in rows if k.startswith(("secret://", "mcpOAuth"))] == [MCP_ROW]
    writes, _ = writer.build_writes(rows, sd.storage(), {"openai.key": Secret(make_key("openai"))}, "secret")
    assert [w.key for w in writes] == [SECRET_PREFIX + "openAIKey"]
    wrong = make_sample_dir(generation, keys={}, extras={}, mcp_key=False, mcp_oauth={MCP_SERVER: "t"},
                            secret=bytes(range(32)) if generation == "windows" else b"another-machine")  # fmt: skip
    with Store(wrong.db) as st:
        wrong_rows = st.get_items(ROW_KEYS, ROW_PREFIXES)
    with pytest.raises(WrongMachineKey):
        writer.build_writes(wrong_rows, sd.storage(), {"openai.key": Secret(make_key("openai"))}, "secret")


# --- helpers ---------------------------------------------------------------------------------------


def _encrypted(value: str) -> str:
    from cursor_byok.safestorage import oscrypt as ss

    return ss.encode_buffer_json(ss.linux_keyring_codec(RIGHT.encode()).encrypt(value))


def _add_row(db: Path, key: str, value: str) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, value))
        conn.commit()
    finally:
        conn.close()


def _bundle(tmp_path: Path, *, udd: Path | None = None, opts: list[str] | None = None) -> Path:
    """A bundle with an OpenAI key: from `udd` when given, else from a sample of its own."""
    from helpers.transfer import identity

    ident, recipient = identity(tmp_path, "id.txt")
    path = tmp_path / f"keys-{len(list(tmp_path.glob('keys-*')))}.age"
    if udd is None:
        from cursor_byok.samples.installs import Sample, build_user_data_dir

        udd = tmp_path / "source"
        build_user_data_dir(udd, Sample(generation="basic", keys={"openai.key": make_key("openai")}))
        opts = ["--safe-storage", "basic"]
    result = run("--user-data-dir", udd, *(opts or []), "export", "-o", path, "-r", recipient, "--only", "openai")
    assert result.exit_code == 0, result.stderr
    return path


def test_a_journal_holding_an_mcp_row_is_refused_by_undo_and_counted_as_a_secret_by_audit(
    mcp_udd, tmp_path, data_dir, monkeypatch
):
    """No write of this tool journals such a row; a journal that holds one (forged, or from elsewhere) is refused
    by undo and reported by audit as a journal that keeps a secret."""
    from cursor_byok.changes import journal

    db = mcp_udd / DB
    right = secret_options(tmp_path, RIGHT)
    monkeypatch.setenv("NEW_KEY", make_key("openai"))
    assert run("--user-data-dir", mcp_udd, *right, "set", "openai", "--key-env", "NEW_KEY", "--yes").exit_code == 0
    (path,) = journals(data_dir)
    doc = json.loads(path.read_text())
    doc["rows"].append({"key": MCP_ROW, "old": items(db)[MCP_ROW], "new_sha256": None})
    path.write_text(json.dumps(doc, indent=1))
    assert MCP_ROW in journal.key_rows(journal.entries(db=db)[0])
    before = snapshot(db)
    undone = run("--user-data-dir", mcp_udd, *right, "undo", "--yes")
    assert undone.exit_code == int(Exit.INPUT) and "refused" in undone.stderr and MCP_ROW in undone.stderr
    assert snapshot(db) == before
    audit = json.loads(run("--user-data-dir", mcp_udd, *right, "audit", "--json").stdout)
    assert [f for f in audit["findings"] if f["code"] == "journal-holds-key" and MCP_ROW in f["message"]]
