"""`cursor-byok rescue` end to end: an old machine's copied home, its store opened offline, the keys out.

Every copy is a home laid out as its system leaves it (tests/helpers/old_machines.py): a real SQLite
database with real OSCrypt rows (some only in the copied -wal), and a store file from a real producer:
gnome-keyring-daemon's committed keyrings (and, in test_rescue_daemons.py, keyrings and wallets the real
daemons write during the run), kwalletd5's committed wallet, oo7's and keychainbreaker's public test files,
a built oo7 1.0 keyring checked by the reader that opens oo7's own file, a built local-account DPAPI profile
(checked by impacket and pypykatz) and Nemesis's real domain-account Local State and master key.

Every run goes through `rescue_run`, which checks that the copy is byte-identical afterwards (names,
types, modes, sizes, mtimes, bytes), that the private temporary folder is gone, and that nothing was written
in the working folder. A rescued bundle is imported into another sample install, whose `list --json` must
show the same fingerprints.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers.leaks import assert_no_key_shown
from helpers.old_machines import (
    FIXTURES,
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
    ENTRA_SID,
    KEYCHAIN_PASSWORD,
    KWALLET_PASSWORD,
    KWALLET_SECRET,
    MAC_SECRET,
    NEMESIS_PASSWORD,
    OO7_LOGIN,
    STORES,
    built_local_key,
    check_rescued,
    daemon_wallet,
    expected_prints,
    gnome_home,
    imports_with_equal_fingerprints,
    keychain_home,
    nemesis_key,
    oo7_v1_keyring,
    refused,
    rescued,
    windows_home,
)
from helpers.transfer import SAMPLE_ENDPOINTS, fingerprints, identity, list_json, make_target

import cursor_byok as byok
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


# --- typed failures: exit code, reason, one line, nothing written -----------------------------------------------


def test_no_cursor_data_names_the_paths_looked_at(h):
    empty = h.backup / "empty"
    empty.mkdir()
    line = refused(h, empty, 3, "cursor-missing")
    assert str(empty / ".config/Cursor/User/globalStorage/state.vscdb") in line and "AppData/Roaming" in line


def test_no_keyring_in_a_linux_home_is_store_missing_naming_the_paths(h):
    line = refused(h, h.home("v11", b"no-store-anywhere"), 3, "store-missing")
    assert ".local/share/keyrings" in line and "kwalletd" in line and "--safe-storage-password-file" in line


def test_no_keychain_or_protect_folder_is_store_missing(h):
    assert "login.keychain-db" in refused(h, h.home("macos", MAC_SECRET), 3, "store-missing")
    windows = h.home("windows", bytes(range(32)), name="win")
    shutil.copyfile(FIXTURES / "dpapi/built-local/Local State", windows.udd / "Local State")
    assert "Protect" in refused(h, windows, 3, "store-missing")


def test_the_public_keychain_opens_and_has_no_cursor_entry(h):
    home = h.home("macos", MAC_SECRET)
    put(fixture_bytes("keychain", "test.keychain-db"), home.root / "Library/Keychains/login.keychain-db")
    password = h.file("login.txt", KEYCHAIN_PASSWORD)
    line = refused(h, home, 3, "entry-missing", "--login-password-file", password)
    assert "moond4rk.com/admin" in line and "password#123" not in line


def test_a_0x200_keychain_no_password_opens_is_keychain_v2_with_the_route(h):
    from helpers.store_files import with_blob_version

    home = h.home("macos", MAC_SECRET)
    v2 = with_blob_version(fixture_bytes("keychain", "test.keychain-db"), 0x200, resign_with=KEYCHAIN_PASSWORD)
    put(v2, home.root / "Library/Keychains/login.keychain-db")
    line = refused(h, home, 21, "keychain-v2", "--login-password-file", h.file("wrong.txt", "not-the-password"))
    assert "Migration Assistant" in line and "cursor-byok export" in line


def test_oo7s_own_keyring_and_wallet_hold_no_cursor_entry(h):
    home = h.home("v11", b"no-entry-here")
    put(fixture_bytes("gnome", "oo7-default.keyring"), home.root / ".local/share/keyrings/v1/default.keyring")
    assert "foo" in refused(h, home, 3, "entry-missing", "--login-password-file", h.file("pw.txt", "test"))
    wallet = h.home("v11", b"no-entry-here", name="kde")
    for suffix in ("kwl", "salt"):
        data = fixture_bytes("kwallet", "oo7", f"blowfish_cbc_pbkdf2_sha512_manual.{suffix}")
        put(data, wallet.root / f".local/share/kwalletd/kdewallet.{suffix}")
    line = refused(h, wallet, 3, "entry-missing", "--login-password-file", h.file("pw2.txt", "password"))
    assert "test2/help" in line and "ttttt" not in line


def test_an_entra_id_account_is_refused_before_any_password(h):
    key, _vector = built_local_key()
    home = windows_home(h, "built-local", key, sid_folder=ENTRA_SID)
    line = refused(h, home, 21, "entra-account")  # no password given, and none asked
    assert "Entra ID" in line


def test_a_gpg_wallet_says_where_it_can_be_opened(h):
    home = h.home("v11", KWALLET_SECRET)
    kwl = bytearray(fixture_bytes("kwallet", "kwalletd5", "kdewallet.kwl"))
    kwl[14] = 2  # the header's cipher byte: GPG
    put(bytes(kwl), home.root / ".local/share/kwalletd/kdewallet.kwl")
    put(fixture_bytes("kwallet", "kwalletd5", "kdewallet.salt"), home.root / ".local/share/kwalletd/kdewallet.salt")
    assert "GPG" in refused(h, home, 21, "gpg-wallet", "--login-password-file", h.file("pw.txt", KWALLET_PASSWORD))


def test_a_wallet_without_its_salt_file_says_to_copy_it(h):
    home = h.home("v11", KWALLET_SECRET)
    put(fixture_bytes("kwallet", "kwalletd5", "kdewallet.kwl"), home.root / ".local/share/kwalletd/kdewallet.kwl")
    line = refused(h, home, 3, "salt-missing", "--login-password-file", h.file("pw.txt", KWALLET_PASSWORD))
    assert "kdewallet.salt" in line


def test_keepassxc_traces_and_no_keyring_say_how_to_pass_the_secret_by_hand(h):
    home = h.home("v11", b"kept-by-keepassxc")
    (home.root / ".config/keepassxc").mkdir(parents=True)
    line = refused(h, home, 21, "provider-unsupported")
    assert "KeePassXC" in line and "--safe-storage-password-file" in line


def test_a_damaged_keyring_is_store_damaged(h):
    home = h.home("v11", DAEMON_KEYRING_SECRET)
    cut = fixture_bytes("gnome", "daemon-login.keyring")[:200]
    put(cut, home.root / ".local/share/keyrings/login.keyring")
    refused(h, home, 21, "store-damaged", "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))


def test_without_legacy_ciphers_a_wallet_is_a_typed_failure(h, monkeypatch):
    home = h.home("v11", KWALLET_SECRET)
    daemon_wallet(home)
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.decrepit.ciphers.algorithms", None)  # a build without
    line = refused(h, home, 21, "legacy-ciphers-missing", "--login-password-file", h.file("pw.txt", KWALLET_PASSWORD))
    assert "cryptography 43" in line


def test_two_systems_in_one_copy_need_os_to_choose(h):
    linux = h.home("basic", BASIC, name="both")
    h.home("macos", MAC_SECRET, name="both-mac")
    shutil.copytree(h.backup / "both-mac" / "Library", linux.root / "Library")
    shutil.rmtree(h.backup / "both-mac")
    assert "--os" in refused(h, linux, 15, "layout-ambiguous")
    assert fingerprints(rescued(h, linux, "--os", "linux")) == expected_prints(linux)


# --- a wrong password, for every store ---------------------------------------------------------------------------


@pytest.mark.parametrize("store", list(STORES))
def test_a_wrong_password_is_wrong_password_for_every_store(h, store):
    home = STORES[store](h)
    line = refused(h, home, 20, "wrong-password", "--login-password-file", h.file("wrong.txt", "Not-The-Password-1"))
    assert "Not-The-Password-1" not in line
    assert_no_key_shown("\n".join(h.outputs), *home.expected.values())


def test_a_secret_that_decrypts_no_row_is_wrong_password_not_a_wrong_key(h):
    home = h.home("v11", b"this-machines-own-secret-00", name="mismatch")  # not the keyring's secret
    put(fixture_bytes("gnome", "daemon-login.keyring"), home.root / ".local/share/keyrings/login.keyring")
    line = refused(h, home, 20, "wrong-password", "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))
    assert "decrypts none of the" in line
    line = refused(h, home, 20, "wrong-password", "--safe-storage-password-file", h.file("s.txt", "not-it-at-all"))
    assert "decrypts none" in line and "not-it-at-all" not in line


def test_no_password_and_no_terminal_says_how_to_give_one(h):
    line = refused(h, gnome_home(h), 20, "wrong-password")
    assert "--login-password-file" in line


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


def test_a_symlink_to_outside_the_copy_is_not_read(h, tmp_path):
    home = h.home("v11", DAEMON_KEYRING_SECRET)
    elsewhere = put(fixture_bytes("gnome", "daemon-login.keyring"), tmp_path / "this-machine" / "login.keyring")
    (home.root / ".local/share/keyrings").mkdir(parents=True)
    (home.root / ".local/share/keyrings/login.keyring").symlink_to(elsewhere)
    line = refused(h, home, 3, "store-missing", "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))
    assert "symlink to outside the copy" in line


def test_options_of_the_other_mode_are_usage_errors(h):
    home = h.home("basic", BASIC, wal=False)
    for args in (["-o", "x.age", "--import"], ["--dry-run"], ["-r", "age1x"], ["--only", "openai"]):
        done = h.rescue(home, *args)
        assert done.exit_code == 2, (args, done.stderr)


# --- the library --------------------------------------------------------------------------------------------------


def test_the_library_gives_the_keys_to_python_and_never_in_its_repr(h):
    home = gnome_home(h)
    before = tree_state(h.backup)
    old = byok.OldMachine(home.root, passwords=["wrong-first", DAEMON_KEYRING_PASSWORD])
    found = byok.rescue_keys(old)
    assert tree_state(h.backup) == before and list(h.tmp.iterdir()) == []
    assert found.stored is not None
    values = {f: k.secret.reveal() for f, k in found.stored.keys().items() if k.secret is not None}
    assert values == home.expected
    shown = repr(found) + repr(old) + json.dumps(found.to_json())
    assert DAEMON_KEYRING_PASSWORD not in shown and not any(v in shown for v in home.expected.values())


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


def test_a_database_symlinked_out_of_the_copy_is_not_read(h, tmp_path):
    home = h.home("basic", BASIC, wal=False)
    elsewhere = tmp_path / "this-machine" / "state.vscdb"
    elsewhere.parent.mkdir()
    home.db.rename(elsewhere)
    home.db.symlink_to(elsewhere)
    assert "symlink to outside the copy" in refused(h, home, 3, "cursor-missing")


def test_a_plaintext_era_install_needs_no_store(h, make_sample_dir):
    sd = make_sample_dir("plaintext")
    home = h.backup / "old"
    shutil.copytree(sd.udd, home / ".config" / "Cursor")
    doc = rescued(h, OldHome(home, home / ".config/Cursor", sd.keys))
    assert doc["store"]["kind"] == "none" and fingerprints(doc) == {f: fingerprint(v) for f, v in sd.keys.items()}


@pytest.mark.parametrize(
    "where",
    [
        ".local/share/keyrings/login.keyring",
        ".local/share/keyrings/v1/login.keyring",
        ".local/share/kwalletd/kdewallet.kwl",
        "Library/Keychains/login.keychain-db",
        "AppData/Roaming/Cursor/Local State",
        "AppData/Roaming/Microsoft/Protect/S-1-5-21-1-2-3-1001/159bad2e-3bb4-4e31-9d87-02d51420371c",
    ],
)
def test_garbage_store_files_are_typed_failures_never_a_traceback(h, where):
    """The backup is someone else's input: bytes that are no store at all, where each store is kept."""
    import random

    generation = {"Library": "macos", "AppData": "windows"}.get(where.split("/")[0], "v11")
    home = h.home(generation, bytes(range(32)) if generation == "windows" else b"garbage-test-secret", wal=False)
    rng = random.Random(where)
    for name in (where, ".local/share/kwalletd/kdewallet.salt") if "kwl" in where else (where,):
        put(rng.randbytes(rng.choice((0, 7, 300, 5000))), home.root / name)
    if "Protect" in where:
        shutil.copyfile(FIXTURES / "dpapi/built-local/Local State", home.udd / "Local State")
    done = h.rescue(home, "--login-password-file", h.file("pw.txt", "any-password"), "--json")
    assert done.exit_code in (3, 20, 21), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert json.loads(done.stdout)["error"]["reason"]


def test_a_bare_copy_of_a_macs_user_data_dir_needs_its_keychain_named(h):
    """v10 rows the basic key does not open, no Local State: a Mac's; the keychain is not under --from."""
    home = keychain_home(h)
    bare = h.backup / "just-the-cursor-folder"
    shutil.copytree(home.udd, bare)
    line = refused(h, bare, 3, "store-missing")
    assert "--keychain" in line
    keychain = str(home.root / "Library/Keychains/login.keychain-db")
    password = h.file("pw.txt", KEYCHAIN_PASSWORD)
    line = refused(h, bare, 3, "entry-missing", "--keychain", keychain, "--login-password-file", password)
    assert "moond4rk.com/admin" in line  # the keychain named was opened: the public file holds no Cursor entry


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


def test_a_partial_backup_names_its_store_with_keyring_wallet_or_protect_dir(h):
    """Only the Cursor folder was backed up; the store files were saved elsewhere (also never written)."""
    elsewhere = h.backup / "saved-separately"
    gnome = h.home("v11", DAEMON_KEYRING_SECRET, name="gnome-part", wal=False)
    keyring = put(fixture_bytes("gnome", "daemon-login.keyring"), elsewhere / "login.keyring")
    doc = rescued(h, gnome, "--keyring", keyring, "--login-password-file", h.file("g.txt", DAEMON_KEYRING_PASSWORD))
    assert doc["store"]["path"] == str(keyring) and fingerprints(doc) == expected_prints(gnome)
    kde = h.home("v11", KWALLET_SECRET, name="kde-part", wal=False)
    for suffix in ("kwl", "salt"):
        put(fixture_bytes("kwallet", "kwalletd5", f"kdewallet.{suffix}"), elsewhere / f"kdewallet.{suffix}")
    password = h.file("k.txt", KWALLET_PASSWORD)
    doc = rescued(h, kde, "--wallet", elsewhere / "kdewallet.kwl", "--login-password-file", password)
    assert doc["store"]["kind"] == "kwallet" and fingerprints(doc) == expected_prints(kde)
    key, vector = built_local_key()
    win = h.home("windows", key, name="win-part", wal=False)
    shutil.copyfile(FIXTURES / "dpapi/built-local/Local State", win.udd / "Local State")
    shutil.copytree(FIXTURES / "dpapi/built-local/Protect", elsewhere / "Protect")
    password = h.file("w.txt", vector["old_password"])
    doc = rescued(h, win, "--protect-dir", elsewhere / "Protect", "--login-password-file", password)
    assert doc["store"]["kind"] == "dpapi" and fingerprints(doc) == expected_prints(win)
