"""The rescue engine end to end, through `cursor-byok rescue`: an old machine's copied home, its store opened
offline, the keys out (where the data is: test_locate.py; which store, and its typed failures: test_stores.py).

Every copy is a home laid out as its system leaves it (tests/helpers/old_machines.py): a real SQLite
database with real OSCrypt rows (some only in the copied -wal), and a store file from a real producer:
gnome-keyring-daemon's committed keyrings (and, in tests/scenarios/test_rescue_daemons.py, keyrings and
wallets the real daemons write during the run), kwalletd5's committed wallet, oo7's and keychainbreaker's
public test files, a built oo7 1.0 keyring checked by the reader that opens oo7's own file, a built
local-account DPAPI profile (checked by impacket and pypykatz) and Nemesis's real domain-account Local State
and master key.

Every run goes through `Harness.run` (tests/helpers/rescue.py), which checks that the copy is byte-identical
afterwards (names, types, modes, sizes, mtimes, bytes), that the private temporary folder is gone, and that
nothing was written in the working folder. A rescued bundle is imported into another sample install, whose
`list --json` must show the same fingerprints.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers.leaks import assert_no_key_shown
from helpers.old_machines import (
    UNKNOWN_KEYS,
    OldHome,
    fixture_bytes,
    main_file_rows,
    put,
    tree_state,
)
from helpers.rescue import (
    BASIC,
    DAEMON_KEYRING_PASSWORD,
    DAEMON_KEYRING_SECRET,
    KWALLET_PASSWORD,
    KWALLET_SECRET,
    MAC_SECRET,
    NEMESIS_PASSWORD,
    OO7_LOGIN,
    built_local_key,
    check_rescued,
    daemon_wallet,
    expected_prints,
    gnome_home,
    imports_with_equal_fingerprints,
    nemesis_key,
    oo7_v1_keyring,
    rescued,
    windows_home,
)
from helpers.transfer import SAMPLE_ENDPOINTS, fingerprints, identity, list_json, make_target

from cursor_byok.model import fingerprint

# --- every store, every key -------------------------------------------------------------------------------------


def test_a_basic_linux_home_needs_no_store_and_gives_every_key(h, make_sample_dir):
    home = h.home("basic", BASIC)
    doc = rescued(h, home)
    assert doc["os"] == "linux" and doc["store"]["kind"] == "basic" and doc["copy"]["how"] == "sparse"
    assert doc["store"]["proven_by"].startswith("secret://")
    check_rescued(h, home, doc)
    imports_with_equal_fingerprints(h, home, make_sample_dir)


def test_rows_only_in_the_wal_are_rescued_and_the_main_file_alone_lacks_them(h):
    home = h.home("basic", BASIC)
    main = main_file_rows(home.db)
    assert "secret://cursorAuth/groqKey" not in main and all(main.get(n) != v for n, v in home.wal_only.items())
    doc = rescued(h, home)
    assert fingerprints(doc)["extra.groqKey"] == fingerprint(home.expected["extra.groqKey"])
    assert fingerprints(doc)["google.key"] == fingerprint(home.expected["google.key"])
    assert doc["copy"]["wal_frames"] > 0 and not Path(f"{home.db}-shm").exists()


def test_a_gnome_keyring_the_daemon_wrote_opens_with_the_login_password(h, make_sample_dir):
    home = h.home("v11", DAEMON_KEYRING_SECRET)
    put(fixture_bytes("gnome", "daemon-login.keyring"), home.root / ".local/share/keyrings/login.keyring")
    password = h.file("login.txt", DAEMON_KEYRING_PASSWORD)
    doc = rescued(h, home, "--login-password-file", password)
    assert doc["store"]["kind"] == "gnome-keyring" and doc["store"]["path"].endswith("login.keyring")
    check_rescued(h, home, doc, DAEMON_KEYRING_PASSWORD, DAEMON_KEYRING_SECRET)
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-file", password)


def test_a_textual_keyring_the_daemon_wrote_for_an_empty_password_needs_none(h):
    home = h.home("v11", DAEMON_KEYRING_SECRET, wal=False)
    put(fixture_bytes("gnome", "daemon-login-empty-password.keyring"), home.root / ".local/share/keyrings/a.keyring")
    doc = rescued(h, home)
    assert doc["store"]["opened_with"].startswith("no password")
    check_rescued(h, home, doc, DAEMON_KEYRING_SECRET)


def test_a_kde_wallet_kwalletd5_wrote_opens_with_the_login_password(h, make_sample_dir, monkeypatch):
    home = h.home("v11", KWALLET_SECRET)
    daemon_wallet(home)
    monkeypatch.setenv("OLD_LOGIN", KWALLET_PASSWORD)
    doc = rescued(h, home, "--login-password-env", "OLD_LOGIN")
    assert doc["store"]["kind"] == "kwallet"
    check_rescued(h, home, doc, KWALLET_PASSWORD, KWALLET_SECRET)
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-env", "OLD_LOGIN")


def test_a_built_oo7_v1_keyring_checked_by_the_reader_of_oo7s_own_file(h, make_sample_dir):
    secret = b"b283LWJ1aWx0LXNlY3JldC0y"
    home = h.home("v11", secret)
    put(oo7_v1_keyring(secret, OO7_LOGIN), home.root / ".local/share/keyrings/v1/login.keyring")
    put(fixture_bytes("gnome", "oo7-legacy.keyring"), home.root / ".local/share/keyrings/login.keyring")  # migrated
    password = h.file("login.txt", OO7_LOGIN)
    doc = rescued(h, home, "--login-password-file", password)
    assert doc["store"]["kind"] == "oo7-keyring" and "/v1/" in doc["store"]["path"]
    check_rescued(h, home, doc, OO7_LOGIN, secret)
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-file", password)


def test_a_windows_local_account_profile_opens_with_the_password_of_its_time(h, make_sample_dir):
    key, vector = built_local_key()
    home = windows_home(h, "built-local", key)
    new, old = h.file("new.txt", vector["new_password"]), h.file("old.txt", vector["old_password"])
    doc = rescued(h, home, "--login-password-file", new, "--login-password-file", old)
    assert doc["os"] == "windows" and doc["store"]["kind"] == "dpapi"
    check_rescued(h, home, doc, vector["old_password"], vector["new_password"], key.hex())
    imports_with_equal_fingerprints(
        h, home, make_sample_dir, "--login-password-file", new, "--login-password-file", old
    )


def test_a_windows_domain_account_database_built_around_a_real_local_state(h, make_sample_dir):
    """Nemesis's real domain user: its real master key and Chrome's real Local State; the database is built here
    with v10 AES-GCM rows under the key that Local State wraps."""
    key = nemesis_key()
    home = windows_home(h, "nemesis-domain", key)
    password = h.file("login.txt", NEMESIS_PASSWORD)
    doc = rescued(h, home, "--login-password-file", password)
    assert doc["store"]["kind"] == "dpapi" and doc["os"] == "windows"
    check_rescued(h, home, doc, NEMESIS_PASSWORD, key.hex())
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-file", password)


def test_the_safe_storage_secret_itself_opens_a_copy_without_its_store(h):
    home = h.home("macos", MAC_SECRET)  # no keychain in the copy: the user kept the secret
    secret = h.file("secret.txt", MAC_SECRET.decode())
    doc = rescued(h, home, "--safe-storage-password-file", secret)
    assert doc["store"] == {**doc["store"], "kind": "secret-given", "path": str(secret)}
    check_rescued(h, home, doc, MAC_SECRET)


def test_a_bare_user_data_dir_is_told_apart_by_its_rows(h):
    home = h.home("basic", BASIC)
    assert rescued(h, home.udd)["os"] == "linux"  # --from the user-data dir: .config/Cursor names Linux
    bare = h.backup / "Cursor-copy"
    shutil.copytree(home.udd, bare)
    doc = rescued(h, OldHome(bare, bare, home.expected, home.never))  # no layout at all: v10 the basic key opens
    assert doc["os"] == "linux" and doc["store"]["kind"] == "basic"
    assert fingerprints(doc) == expected_prints(home)


def test_the_text_form_is_lists_table_with_the_store_and_no_key(h):
    home = h.home("basic", BASIC)
    done = h.rescue(home)
    assert done.exit_code == 0, done.stderr
    assert "store: basic" in done.stdout and "mistralKey" in done.stdout and "togetherkey" in done.stdout
    assert "not rescued (not a provider key): secret://cursorAuth/authToken" in done.stdout
    assert_no_key_shown(done.stdout + done.stderr, *home.expected.values())


def test_passphrase_bundle_lists_like_export_writes_it(h):
    home = h.home("basic", BASIC)
    phrase = h.file("phrase.txt", "correct horse battery staple")
    bundle = h.out / "k.age"
    done = h.rescue(home, "-o", bundle, "--passphrase-file", phrase, "--only", "openai,extra", "--no-models")
    assert done.exit_code == 0, done.stderr
    listed = h.run("list", "--bundle", bundle, "--passphrase-file", phrase, "--json")
    doc = json.loads(listed.stdout)
    assert set(doc["providers"]) == {"openai"} and "models" not in doc and doc["source"]["rescued"] is True
    extras = {e["name"]: e["key"]["fingerprint"] for e in doc["extra_secrets"]}
    assert extras == {f"secret://cursorAuth/{n}": fingerprint(home.expected[f"extra.{n}"])
                      for n in (*UNKNOWN_KEYS, "groqKey")}  # fmt: skip
    assert h.rescue(home, "-o", bundle, "--passphrase-file", phrase).exit_code == 14  # exists: --force


# --- read-only, always --------------------------------------------------------------------------------------------


def test_a_read_only_copy_is_read_and_gains_no_name(h, make_sample_dir):
    """A mounted read-only backup: everything 0555/0444 (root ignores the bits, so no new name is checked too)."""
    home = gnome_home(h)
    names = set(tree_state(home.root))
    for path in [home.root, *home.root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        doc = rescued(h, home, "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))
        assert doc["copy"]["how"] == "sparse" and fingerprints(doc) == expected_prints(home)
        assert set(tree_state(home.root)) == names
    finally:
        for path in [home.root, *home.root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


# --- --import: import's flow, plan, journal and undo --------------------------------------------------------------


def test_import_writes_every_key_here_through_imports_flow_and_undo_takes_it_back(h, make_sample_dir, monkeypatch):
    """This machine's secret comes from its own store (here the password backend's variable): with rescue,
    --safe-storage-password-file names the old machine's."""
    home = gnome_home(h)
    target = make_target(make_sample_dir, "v11")
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE_PASSWORD", target.sample.secret.decode())
    password = h.file("pw.txt", DAEMON_KEYRING_PASSWORD)
    here = ["--user-data-dir", target.udd, "--safe-storage", "password", "--safe-storage-scheme", "linux"]
    args = [*here, "rescue", "--from", home.root, "--login-password-file", password, *SAMPLE_ENDPOINTS]
    before = list_json(target)
    dry = h.run(*args, "--import", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True and list_json(target) == before
    done = h.run(*args, "--import", "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    written = json.loads(done.stdout)
    assert written["applied"] and " undo " in written["undo"]
    assert any("not rescued: secret://cursorAuth/authToken" in n for n in written["plan"]["notes"])
    there = fingerprints(list_json(target))
    assert {f: there.get(f) for f in home.expected} == expected_prints(home)
    assert_no_key_shown(done.stdout + done.stderr, *home.expected.values())
    assert h.run(*here, "undo", "--yes").exit_code == 0
    assert fingerprints(list_json(target)) == fingerprints(before)


def test_import_checks_this_machine_before_the_old_password_is_asked(h, make_sample_dir):
    """Preflight first: a target whose own secret cannot be proven stops before the old store is opened."""
    from helpers.transfer import wrong_password_options

    home = gnome_home(h)
    target = make_target(make_sample_dir, "v11")
    done = h.run(*wrong_password_options(target)[:4], "rescue", "--from", home.root, "--import", "--yes", "--json")
    assert done.exit_code == 7, done.stderr  # this machine's safe storage: nothing about the old store yet
    assert "login password" not in done.stderr


def test_a_bundle_to_stdout_is_the_age_file(h):
    home = h.home("basic", BASIC, wal=False)
    ident, recipient = identity(h.out)
    done = h.rescue(home, "-o", "-", "-r", recipient)
    assert done.exit_code == 0, done.stderr
    assert done.stdout_bytes.startswith(b"age-encryption.org/v1")


@pytest.mark.slow
def test_on_a_terminal_the_old_password_is_asked_hidden_and_again_after_a_wrong_one(h):
    import os

    from helpers.children import on_a_terminal

    home = gnome_home(h)
    env = {**os.environ, "TMPDIR": str(h.tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    before = tree_state(h.backup)
    code, shown = on_a_terminal(
        [sys.executable, "-m", "cursor_byok", "rescue", "--from", str(home.root)],
        [(b"Old login password", "Wrong-Guess-1"), (b"did not open it", DAEMON_KEYRING_PASSWORD)],
        env=env,
    )
    assert code == 0, shown.decode(errors="replace")
    assert b"store: gnome-keyring" in shown
    assert b"Wrong-Guess-1" not in shown and DAEMON_KEYRING_PASSWORD.encode() not in shown  # hidden input
    assert tree_state(h.backup) == before and list(h.tmp.iterdir()) == []


def test_a_plaintext_era_install_needs_no_store(h, make_sample_dir):
    sd = make_sample_dir("plaintext")
    home = h.backup / "old"
    shutil.copytree(sd.udd, home / ".config" / "Cursor")
    doc = rescued(h, OldHome(home, home / ".config/Cursor", sd.keys))
    assert doc["store"]["kind"] == "none" and fingerprints(doc) == {f: fingerprint(v) for f, v in sd.keys.items()}


def test_an_mcp_token_row_proves_the_secret_and_is_never_rescued(h):
    """No key row at all: the keys are in the settings blob (Azure, Bedrock), and the one encrypted row is an MCP
    OAuth token. It proves the keyring's secret (so the store is known right), and never comes out."""
    import sqlite3

    from cursor_byok.safestorage import oscrypt as ss
    from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, make_key

    blob_keys = {"azure.key": "0f" * 16, "bedrock.access_key": make_key("aws_access"),
                 "bedrock.secret_key": make_key("aws_secret")}  # fmt: skip
    sample = Sample(generation="v11", secret=DAEMON_KEYRING_SECRET, keys=blob_keys, settings=default_settings(),
                    mcp_key=False, wal=False)  # fmt: skip
    root = h.backup / "mcp-only"
    udd = root / ".config" / "Cursor"
    db = build_user_data_dir(udd, sample)
    token = "mcp-oauth-token-made-up-0123456789"
    row = "mcpOAuth.secret.W3BsdWdpbi1nb29nbGUtZHJpdmVdIG1jcF90b2tlbnM="
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (row, ss.encode_buffer_json(sample.codec().encrypt(token))))
    conn.close()
    put(fixture_bytes("gnome", "daemon-login.keyring"), root / ".local/share/keyrings/login.keyring")
    home = OldHome(root, udd, blob_keys)
    doc = rescued(h, home, "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))
    assert doc["store"]["kind"] == "gnome-keyring" and doc["store"]["proven_by"] == row
    assert fingerprints(doc) == expected_prints(home)
    assert token not in "\n".join(h.outputs) and doc["extra_secrets"] == []
