"""Real Cursor layouts from 0.42 to 3.7 (tests/fixtures/cursor-*): read all, write the form each version reads."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.paths import FIXTURES
from helpers.tools import require_module, require_tool
from helpers.transfer import (
    SAMPLE_ENDPOINTS,
    buffer_bytes,
    cli_process,
    export,
    identity,
    items,
    journals,
    oscrypt_decrypt,
    run,
    snapshot,
)

from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.samples.installs import REAL_LAYOUTS, build_user_data_dir, item_rows

KEY_ROWS = {"openai.key": "openAIKey", "anthropic.key": "claudeKey", "google.key": "googleKey"}
PASSWORD = "keyring-password-of-the-new-laptop"


@pytest.fixture
def layout(tmp_path):
    """Factory: a private copy of tests/fixtures/<name> (the committed files stay as they are)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture
def bundle(make_sample_dir, tmp_path):
    """(bundle, identity, source sample dir): every provider's key, an unknown provider's key, models."""
    source = make_sample_dir("v11", seed=11)
    ident, recipient = identity(tmp_path)
    return export(source, tmp_path / "keys.age", recipient), ident, source


def plain_and_secret_rows(db: Path) -> tuple[dict, dict]:
    rows = items(db)
    names = {PLAIN_PREFIX + name for name in KEY_ROWS.values()}
    plain = {k: v for k, v in rows.items() if k in names}
    secret = {k: v for k, v in rows.items() if k.startswith(SECRET_PREFIX)}
    return plain, secret


def password_file(tmp_path: Path, value: str = PASSWORD) -> Path:
    path = tmp_path / "machine.secret"
    path.write_text(value + "\n")
    return path


# --- the committed fixtures are what the builder makes ---------------------------------------


def frozen_rows(db: Path) -> dict:
    """ItemTable of a committed fixture, opened immutable so no -wal/-shm appears next to it."""
    conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM ItemTable"))
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
def test_fixtures_match_the_builder(name, tmp_path):
    made = tmp_path / name
    build_user_data_dir(made, REAL_LAYOUTS[name]())
    committed = sorted(p.relative_to(FIXTURES / name) for p in (FIXTURES / name).rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    for rel in committed:
        if rel.name in ("state.vscdb", "state.vscdb.backup"):
            assert frozen_rows(FIXTURES / name / rel) == frozen_rows(made / rel), rel


def test_each_fixture_has_the_shape_of_its_version():
    def tables(db: Path) -> set[str]:
        conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()

    def journal_mode(db: Path) -> int:
        return db.read_bytes()[18]  # 1: rollback journal, 2: WAL

    g = "User/globalStorage"
    old, mid, new = (FIXTURES / n / g / "state.vscdb" for n in ("cursor-0.42", "cursor-2.4", "cursor-3.7"))
    assert tables(old) == {"ItemTable"} and journal_mode(old) == 1
    assert tables(mid) == {"ItemTable", "cursorDiskKV"} and journal_mode(mid) == 2
    assert json.loads((mid.parent / "state.vscdb.options.json").read_text()) == {"useWAL": True}
    assert Path(f"{mid}.backup").is_file() and Path(f"{old}.backup").is_file()
    assert journal_mode(new) == 2 and not (new.parent / "state.vscdb.options.json").exists()
    assert not Path(f"{new}.backup").exists()
    assert not any(k.startswith("secret://") for k in frozen_rows(new))
    assert not any((FIXTURES / n / "Local State").exists() for n in REAL_LAYOUTS)  # Linux installs have none


# --- every read command on every version ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
@pytest.mark.parametrize("command", [["list"], ["list", "--json"], ["where", "--json"], ["audit"], ["doctor"]])
def test_every_read_command_works_on_every_version(layout, name, command, clean_env):
    udd = layout(name)
    before = snapshot(udd / "User/globalStorage/state.vscdb")
    result = run("--user-data-dir", udd, "--safe-storage", "basic", *command)
    # 13: findings; 7: `list` with keys this basic backend cannot decrypt (the document still prints)
    assert result.exit_code in (0, int(Exit.FINDINGS), int(Exit.SAFE_STORAGE)), (result.stdout, result.stderr)
    assert result.stdout
    assert "Traceback" not in result.stderr and "error:" not in result.stderr
    assert snapshot(udd / "User/globalStorage/state.vscdb") == before


def test_export_reads_a_database_without_cursor_disk_kv(layout, tmp_path, clean_env):
    udd = layout("cursor-0.42")
    ident, recipient = identity(tmp_path)
    result = run("--user-data-dir", udd, "export", "-o", tmp_path / "old.age", "-r", recipient)
    assert result.exit_code == 0, result.stderr
    assert "1 key(s)" in result.stderr


# --- Cursor's own facts ----------------------------------------------------------------------------

FACTS = {
    "cursor-0.42": {"version": "0.42.5", "version_source": "database", "backups": True},
    "cursor-2.4": {"version": "2.4.31", "version_source": "database", "backups": True},
    "cursor-3.7": {"version": "3.7.42", "version_source": "database", "backups": False},
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_list_and_where_report_version_and_backups(layout, name, clean_env):
    udd = layout(name)
    listed = json.loads(run("--user-data-dir", udd, "--safe-storage", "basic", "list", "--json").stdout)
    assert listed["cursor"] == FACTS[name]
    (where,) = json.loads(run("--user-data-dir", udd, "where", "--json").stdout)["installations"]
    assert where["cursor"] == FACTS[name]
    text = run("--user-data-dir", udd, "--safe-storage", "basic", "list").stdout
    assert FACTS[name]["version"] in text
    assert ("backups off" in text) == (FACTS[name]["backups"] is False)
    assert FACTS[name]["version"] in run("--user-data-dir", udd, "where").stdout


def damaged(udd: Path) -> Path:
    """The user-data dir, with its database's first page overwritten."""
    db = udd / "User/globalStorage/state.vscdb"
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    db.write_bytes(bytes(data))
    return udd


def test_a_damaged_database_without_backup_is_never_told_to_restore_one(layout, clean_env):
    result = run("--user-data-dir", damaged(layout("cursor-3.7")), "list")
    assert result.exit_code == int(Exit.NOT_A_CURSOR_DB), result.stderr
    assert ".backup" not in result.stderr.replace("no state.vscdb.backup", "")


def test_a_damaged_database_with_a_backup_is_told_about_it(layout, clean_env):
    result = run("--user-data-dir", damaged(layout("cursor-2.4")), "list")
    assert result.exit_code == int(Exit.NOT_A_CURSOR_DB)
    assert "restore it from state.vscdb.backup" in result.stderr


def test_doctor_says_the_undo_journal_is_the_only_way_back_when_backups_are_off(layout, clean_env):
    doc = json.loads(run("--user-data-dir", layout("cursor-3.7"), "doctor", "--json").stdout)
    (check,) = [c for c in doc["checks"] if c["symptom"] == "undo"]
    assert "only way back" in check["detail"]
    doc = json.loads(run("--user-data-dir", layout("cursor-2.4"), "--safe-storage", "basic", "doctor", "--json").stdout)
    assert not [c for c in doc["checks"] if c["symptom"] == "undo"]


# --- keys written the way each version reads them ------------------------------------------------


def test_into_3_7_with_a_password_secret_every_key_is_a_secret_row(layout, bundle, tmp_path, clean_env):
    path, ident, source = bundle
    udd = layout("cursor-3.7")
    secret = ["--safe-storage", "password", "--safe-storage-password-file", password_file(tmp_path)]
    result = run("--user-data-dir", udd, *secret, "import", path, "-i", ident, "--yes", *SAMPLE_ENDPOINTS, "-v")
    assert result.exit_code == 0, result.stderr
    assert "keys are written as encrypted secret://cursorAuth rows (Cursor 3.7.42 reads them)" in result.stdout
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert plain == {}
    for field, name in KEY_ROWS.items():
        blob = buffer_bytes(secret_rows[SECRET_PREFIX + name])
        assert oscrypt_decrypt("v11", PASSWORD.encode(), blob) == source.keys[field]
    extra = buffer_bytes(secret_rows[SECRET_PREFIX + "mistralKey"])
    assert oscrypt_decrypt("v11", PASSWORD.encode(), extra) == source.extras["mistralKey"]


def test_into_3_7_with_no_desktop_automatic_mode_writes_basic_secret_rows(layout, bundle, clean_env):
    path, ident, source = bundle
    udd = layout("cursor-3.7")
    result = run("--user-data-dir", udd, "import", path, "-i", ident, "--yes", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "only obfuscated" in result.stdout  # the plan says so before anything is written
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert plain == {}
    blob = buffer_bytes(secret_rows[SECRET_PREFIX + "openAIKey"])
    assert blob.startswith(b"v10")
    assert oscrypt_decrypt("basic", b"", blob) == source.keys["openai.key"]


def test_into_3_7_with_an_unreachable_keyring_nothing_is_written(layout, bundle, data_dir, monkeypatch, clean_env):
    path, ident, _ = bundle
    udd = layout("cursor-3.7")
    db = udd / "User/globalStorage/state.vscdb"
    before = snapshot(db)
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "ubuntu:GNOME")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={udd}/no-bus-here")
    result = run("--user-data-dir", udd, "import", path, "-i", ident, "--yes", "--only", "openai")
    assert result.exit_code == int(Exit.SAFE_STORAGE), (result.stdout, result.stderr)
    message = result.stderr
    assert "secret-service backend" in message and "XDG_CURRENT_DESKTOP=ubuntu:GNOME" in message
    assert "Nothing was written" in message and "Traceback" not in message
    assert snapshot(db) == before
    assert journals(data_dir) == []


def test_into_0_42_keys_are_plain_rows_and_unknown_providers_are_left_out(layout, bundle, clean_env):
    path, ident, source = bundle
    udd = layout("cursor-0.42")
    result = run(
        "--user-data-dir",
        udd,
        "import",
        path,
        "-i",
        ident,
        "--yes",
        "--on-conflict",
        "replace",
        *SAMPLE_ENDPOINTS,
        "-v",
    )
    assert result.exit_code == 0, result.stderr
    assert "extra.mistralKey: left out, Cursor 0.42.5 reads no secret:// rows" in result.stdout
    assert "plain cursorAuth rows (Cursor 0.42.5 reads them)" in result.stdout
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert secret_rows == {}
    assert {PLAIN_PREFIX + name: source.keys[f] for f, name in KEY_ROWS.items()} == plain


def test_into_2_4_keys_follow_the_proven_keyring_secret(layout, bundle, clean_env, tmp_path):
    path, ident, source = bundle
    udd = layout("cursor-2.4")
    fixture_secret = REAL_LAYOUTS["cursor-2.4"]().secret
    secret_file = password_file(tmp_path, fixture_secret.decode())
    opts = ["--safe-storage", "password", "--safe-storage-password-file", secret_file]
    result = run("--user-data-dir", udd, *opts, "import", path, "-i", ident, "--yes", "--on-conflict", "replace")
    assert result.exit_code == 0, result.stderr
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert plain == {}
    blob = buffer_bytes(secret_rows[SECRET_PREFIX + "googleKey"])
    assert oscrypt_decrypt("v11", fixture_secret, blob) == source.keys["google.key"]


def test_explicit_plaintext_key_storage_writes_plain_rows_into_3_7(layout, bundle, clean_env):
    path, ident, source = bundle
    udd = layout("cursor-3.7")
    args = ("import", path, "-i", ident, "--yes", "--only", "openai", "--key-storage", "plaintext")
    result = run("--user-data-dir", udd, *args)
    assert result.exit_code == 0, result.stderr
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert plain == {PLAIN_PREFIX + "openAIKey": source.keys["openai.key"]} and secret_rows == {}


def test_a_2_2_database_with_no_key_rows_gets_secret_rows(tmp_path, bundle, clean_env):
    path, ident, _ = bundle
    udd = tmp_path / "udd-2.2"
    sample = REAL_LAYOUTS["cursor-3.7"]()
    sample.cursor_version = "2.2.3"
    build_user_data_dir(udd, sample)
    result = run("--user-data-dir", udd, "import", path, "-i", ident, "--yes", "--only", "openai", "--dry-run", "-v")
    assert result.exit_code == 0
    assert "encrypted secret://cursorAuth rows (Cursor 2.2.3 is between the known forms" in result.stdout


@pytest.mark.slow
@pytest.mark.integration
def test_into_3_7_through_a_real_gnome_keyring(layout, bundle, tmp_path, clean_env):
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        require_tool(tool)
    require_module("secretstorage")
    from helpers.secret_service import PrivateSecretService

    path, ident, source = bundle
    udd = layout("cursor-3.7")
    with PrivateSecretService(tmp_path / "keyring-home") as service:
        service.store_password(PASSWORD.encode())
        env = {**service.env, "XDG_CURRENT_DESKTOP": "GNOME"}
        proc = cli_process(
            ["-v", "--user-data-dir", udd, "import", path, "-i", ident, "--yes", *SAMPLE_ENDPOINTS],
            env=env,
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stderr
    assert "secret-service backend's secret (v11)" in proc.stdout
    plain, secret_rows = plain_and_secret_rows(udd / "User/globalStorage/state.vscdb")
    assert plain == {}
    for field, name in KEY_ROWS.items():
        blob = buffer_bytes(secret_rows[SECRET_PREFIX + name])
        assert oscrypt_decrypt("v11", PASSWORD.encode(), blob) == source.keys[field]


# --- keys Cursor deleted afterwards ------------------------------------------------------------


def test_keys_that_cursor_deleted_are_noticed(layout, bundle, tmp_path, clean_env):
    path, ident, _ = bundle
    udd = layout("cursor-3.7")
    db = udd / "User/globalStorage/state.vscdb"
    secret = ["--safe-storage", "password", "--safe-storage-password-file", password_file(tmp_path)]
    assert run("--user-data-dir", udd, *secret, "import", path, "-i", ident, "--yes", "--only", "openai").exit_code == 0
    listed = json.loads(run("--user-data-dir", udd, *secret, "list", "--json").stdout)
    assert not [n for n in listed["notes"] if "is gone" in n]
    conn = sqlite3.connect(db)  # what Cursor does with a row it cannot decrypt
    conn.execute("DELETE FROM ItemTable WHERE key = ?", (SECRET_PREFIX + "openAIKey",))
    conn.commit()
    conn.close()
    listed = json.loads(run("--user-data-dir", udd, *secret, "list", "--json").stdout)
    (note,) = [n for n in listed["notes"] if "is gone" in n]
    assert note.startswith(SECRET_PREFIX + "openAIKey, written by cursor-byok") and "--safe-storage" in note
    doctor = run("--user-data-dir", udd, *secret, "doctor", "--json")
    assert doctor.exit_code == int(Exit.FINDINGS)
    (check,) = [c for c in json.loads(doctor.stdout)["checks"] if c["symptom"] == "key disappeared"]
    assert check["provider"] == "openai" and check["verdict"] == "likely"


def test_a_key_removed_by_unset_is_not_reported_as_deleted_by_cursor(layout, bundle, tmp_path, clean_env):
    path, ident, _ = bundle
    udd = layout("cursor-3.7")
    secret = ["--safe-storage", "password", "--safe-storage-password-file", password_file(tmp_path)]
    assert run("--user-data-dir", udd, *secret, "import", path, "-i", ident, "--yes", "--only", "openai").exit_code == 0
    assert run("--user-data-dir", udd, *secret, "unset", "openai", "--yes").exit_code == 0
    listed = json.loads(run("--user-data-dir", udd, *secret, "list", "--json").stdout)
    assert not [n for n in listed["notes"] if "is gone" in n]


# --- profiles ---------------------------------------------------------------------------------------


def test_where_and_list_name_the_profiles(layout, clean_env):
    udd = layout("cursor-profiles")
    (where,) = json.loads(run("--user-data-dir", udd, "where", "--json").stdout)["installations"]
    assert [(p["name"], p["location"]) for p in where["profiles"]] == [
        ("Default", None),
        ("Fullstack", "39b0872a"),
        ("Data", "-5e2c91d0"),
    ]
    assert Path(where["profiles"][1]["db"]) == udd / "User/profiles/39b0872a/globalStorage/state.vscdb"
    listed = json.loads(run("--user-data-dir", udd, "list", "--json").stdout)
    assert listed["profiles"] == ["Default", "Fullstack", "Data"] and listed["profile"] == "Default"


@pytest.mark.parametrize("chosen", ["Fullstack", "fullstack", "39b0872a"])
def test_list_profile_reads_that_profiles_settings_and_the_shared_keys(layout, chosen, clean_env):
    udd = layout("cursor-profiles")
    default = json.loads(run("--user-data-dir", udd, "list", "--json").stdout)
    doc = json.loads(run("--user-data-dir", udd, "list", "--profile", chosen, "--json").stdout)
    assert doc["profile"] == "Fullstack"
    assert doc["models"]["user_added"] == ["deepseek-coder-v2"] != default["models"]["user_added"]
    assert doc["providers"]["openai"]["enabled"] is False and default["providers"]["openai"]["enabled"] is True
    assert doc["providers"]["openai"]["key"]["fingerprint"] == default["providers"]["openai"]["key"]["fingerprint"]


def test_list_profile_all_shows_each_profile(layout, clean_env):
    udd = layout("cursor-profiles")
    doc = json.loads(run("--user-data-dir", udd, "list", "--profile", "all", "--json").stdout)
    assert [d["profile"] for d in doc["documents"]] == ["Default", "Fullstack", "Data"]
    text = run("--user-data-dir", udd, "list", "--profile", "all").stdout
    assert text.count("database: ") == 3 and "deepseek-coder-v2" in text


def test_an_unknown_profile_is_refused(layout, data_dir, clean_env):
    udd = layout("cursor-profiles")
    dbs = sorted(udd.rglob("state.vscdb"))
    before = [snapshot(db) for db in dbs]
    result = run("--user-data-dir", udd, "models", "add", "x-model", "--profile", "Nope", "--yes")
    assert result.exit_code == int(Exit.INPUT)
    assert "no profile 'Nope'" in result.stderr and "Fullstack" in result.stderr
    assert [snapshot(db) for db in dbs] == before and journals(data_dir) == []


def test_export_and_models_list_read_the_chosen_profile(layout, tmp_path, clean_env):
    udd = layout("cursor-profiles")
    listed = json.loads(run("--user-data-dir", udd, "models", "list", "--profile", "Fullstack", "--json").stdout)
    assert listed["models"]["user_added"] == ["deepseek-coder-v2"]
    ident, recipient = identity(tmp_path)
    bundle = tmp_path / "fullstack.age"
    assert run("--user-data-dir", udd, "export", "-o", bundle, "-r", recipient, "--profile", "Fullstack").exit_code == 0
    doc = json.loads(run("list", "--bundle", bundle, "-i", ident, "--json").stdout)
    assert doc["models"]["user_added"] == ["deepseek-coder-v2"]
    assert doc["providers"]["openai"]["key"]["fingerprint"]  # keys come from the default database


def test_a_profile_write_changes_that_profiles_blob_and_keys_go_to_the_default_database(
    layout, bundle, data_dir, clean_env
):
    path, ident, source = bundle
    udd = layout("cursor-profiles")
    default_db = udd / "User/globalStorage/state.vscdb"
    profile_db = udd / "User/profiles/39b0872a/globalStorage/state.vscdb"
    other_db = udd / "User/profiles/-5e2c91d0/globalStorage/state.vscdb"
    default_blob, other = items(default_db)[BLOB_KEY], snapshot(other_db)
    result = run(
        "--user-data-dir",
        udd,
        "import",
        path,
        "-i",
        ident,
        "--yes",
        "--profile",
        "Fullstack",
        "--only",
        "openai",
        "--only",
        "models",
        "--on-conflict",
        "replace",
    )
    assert result.exit_code == 0, result.stderr
    assert "note: writing the default profile" not in result.stderr
    assert items(default_db)[PLAIN_PREFIX + "openAIKey"] == source.keys["openai.key"]
    assert items(default_db)[BLOB_KEY] == default_blob  # the default profile's settings are untouched
    assert PLAIN_PREFIX + "openAIKey" not in items(profile_db)
    profile_blob = json.loads(items(profile_db)[BLOB_KEY])
    assert "llama-3.1-70b" in profile_blob["aiSettings"]["userAddedModels"]
    assert snapshot(other_db) == other
    assert f"cursor-byok --user-data-dir {udd} --data-dir {data_dir} undo --profile 39b0872a" in result.stdout
    assert len(journals(data_dir)) == 2


def test_undo_of_a_profile_write_restores_that_profile(layout, data_dir, clean_env):
    udd = layout("cursor-profiles")
    profile_db = udd / "User/profiles/39b0872a/globalStorage/state.vscdb"
    before = snapshot(profile_db)
    result = run("--user-data-dir", udd, "models", "add", "x-model", "--profile", "Fullstack", "--yes")
    assert result.exit_code == 0, result.stderr
    assert snapshot(profile_db) != before
    undone = run("--user-data-dir", udd, "undo", "--yes", "--profile", "Fullstack")
    assert undone.exit_code == 0, undone.stderr
    assert snapshot(profile_db)[1] == before[1]


def test_a_write_without_profile_says_other_profiles_exist(layout, clean_env):
    udd = layout("cursor-profiles")
    default_db = udd / "User/globalStorage/state.vscdb"
    result = run("--user-data-dir", udd, "models", "add", "x-model", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "other profiles (Fullstack, Data) keep their own" in result.stderr
    assert "x-model" in json.loads(items(default_db)[BLOB_KEY])["aiSettings"]["userAddedModels"]


def test_storage_json_cannot_point_outside_the_profiles_folder(layout, clean_env):
    udd = layout("cursor-profiles")
    storage = udd / "User/globalStorage/storage.json"
    doc = json.loads(storage.read_text())
    doc["userDataProfiles"].append({"location": "../../../elsewhere", "name": "Evil"})
    storage.write_text(json.dumps(doc))
    listed = json.loads(run("--user-data-dir", udd, "list", "--json").stdout)
    assert "Evil" not in listed["profiles"]


def test_an_ambiguous_profile_choice_is_refused(layout, data_dir, clean_env):
    """A profile of the user's named "default", or a name that is another profile's location: the tool
    asks which one instead of guessing."""
    udd = layout("cursor-profiles")
    storage = udd / "User/globalStorage/storage.json"
    doc = json.loads(storage.read_text())
    doc["userDataProfiles"] += [
        {"location": "7d1e00aa", "name": "default"},
        {"location": "c0ffee01", "name": "-5e2c91d0"},
    ]
    storage.write_text(json.dumps(doc))
    dbs = sorted(udd.rglob("state.vscdb"))
    before = [snapshot(db) for db in dbs]
    for chosen, said in (("default", "ambiguous"), ("-5e2c91d0", "matches several profiles")):
        result = run("--user-data-dir", udd, "models", "add", "x-model", "--profile", chosen, "--yes")
        assert result.exit_code == int(Exit.INPUT) and said in result.stderr, result.stderr
    assert [snapshot(db) for db in dbs] == before and journals(data_dir) == []
    assert run("--user-data-dir", udd, "list", "--profile", "Data", "--json").exit_code == 0


# --- Azure key a newer Cursor keeps elsewhere ----------------------------------------------------


def test_azure_on_with_no_key_anywhere_is_reported_as_unseen(tmp_path, clean_env):
    sample = REAL_LAYOUTS["cursor-3.7"]()
    sample.settings = {
        "azureState": {"useAzure": True, "baseUrl": "https://contoso.openai.azure.com", "deployment": "gpt-4o"}
    }
    udd = tmp_path / "udd"
    db = build_user_data_dir(udd, sample)
    assert not any("azure" in k.lower() for k in item_rows(sample) if k != BLOB_KEY)
    audit = json.loads(run("--user-data-dir", udd, "audit", "--json").stdout)
    assert [f["code"] for f in audit["findings"] if f["subject"] == "azure.key"] == ["azure-key-unseen"]
    doctor = json.loads(run("--user-data-dir", udd, "doctor", "--json").stdout)
    assert any("cannot see it" in c["detail"] for c in doctor["checks"] if c["provider"] == "azure")
    assert not [k for k in items(db) if "azure" in k.lower() and k != BLOB_KEY]  # no row name invented


def test_the_undo_hint_works_when_pasted(layout, clean_env):
    """The hint names the database the write went to, so pasting it undoes that write and no other."""
    import shlex

    udd = layout("cursor-profiles")
    db = udd / "User/globalStorage/state.vscdb"
    before = snapshot(db)
    result = run("--user-data-dir", udd, "models", "add", "pasted-model", "--yes")
    assert result.exit_code == 0, result.stderr
    hint = result.stdout.split("undo with `", 1)[1].split("`", 1)[0]
    argv = shlex.split(hint)
    assert argv[0] == "cursor-byok"
    assert run(*argv[1:], "--yes").exit_code == 0
    assert snapshot(db)[1] == before[1]


def test_plaintext_asked_for_on_a_cursor_that_reads_secret_rows_is_flagged_in_the_plan(layout, bundle, clean_env):
    path, ident, _ = bundle
    udd = layout("cursor-3.7")
    args = ("import", path, "-i", ident, "--only", "openai", "--key-storage", "plaintext", "--dry-run")
    result = run("--user-data-dir", udd, *args)
    assert result.exit_code == 0, result.stderr
    assert "WARNING: Cursor 3.7.42 does not read this form, so it will not use these keys" in result.stdout


def test_a_profile_write_that_fails_half_way_says_what_was_written_and_how_to_undo_it(
    layout, bundle, monkeypatch, clean_env
):
    import shlex

    from cursor_byok.cursor import store
    from cursor_byok.errors import DatabaseBusy

    path, ident, _ = bundle
    udd = layout("cursor-profiles")
    default_db = udd / "User/globalStorage/state.vscdb"
    profile_db = udd / "User/profiles/39b0872a/globalStorage/state.vscdb"
    before = snapshot(default_db)
    real_write = store.Store.write

    def failing_write(self, writes, *args, **kwargs):
        if self.path.resolve() == profile_db.resolve():
            raise DatabaseBusy(f"{self.path}: database is locked by another process")
        return real_write(self, writes, *args, **kwargs)

    monkeypatch.setattr(store.Store, "write", failing_write)
    args = ("--only", "openai", "--on-conflict", "replace", "--yes", "--profile", "Fullstack")
    result = run("--user-data-dir", udd, "import", path, "-i", ident, *args)
    assert result.exit_code == int(Exit.VERIFY_FAILED), result.stderr
    assert "the key rows were written but the profile's settings were not" in result.stderr
    monkeypatch.setattr(store.Store, "write", real_write)
    hint = result.stderr.split("undo them with `", 1)[1].split("`", 1)[0]
    assert run(*shlex.split(hint)[1:], "--yes").exit_code == 0
    assert snapshot(default_db)[1] == before[1]


def test_a_journal_with_a_number_for_its_id_does_not_stop_list(layout, bundle, data_dir, tmp_path, clean_env):
    path, ident, _ = bundle
    udd = layout("cursor-3.7")
    secret = ["--safe-storage", "password", "--safe-storage-password-file", password_file(tmp_path)]
    for only in ("openai", "anthropic"):  # two journals, so they must sort
        assert run("--user-data-dir", udd, *secret, "import", path, "-i", ident, "--yes", "--only", only).exit_code == 0
    journal_file = journals(data_dir)[0]
    lines = journal_file.read_text().split("\n")
    header = json.loads(lines[0].rstrip(",") + "}")
    lines[0] = lines[0].replace(json.dumps(header["id"]), "5", 1)
    journal_file.write_text("\n".join(lines))
    listed = run("--user-data-dir", udd, *secret, "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert "Traceback" not in listed.stderr and "internal error" not in listed.stderr
