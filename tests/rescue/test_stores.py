"""The old machine's secret store in the copy: which store files the layout calls for (or the user names), and
which typed failure is reported when none gives the secret: store missing, entry missing, wrong password,
damaged, unsupported; each one line with its exit code and nothing written. Through `rescue`, on copies laid out
as each system leaves them."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from helpers.leaks import assert_no_key_shown
from helpers.old_machines import (
    FIXTURES,
    fixture_bytes,
    put,
)
from helpers.rescue import (
    DAEMON_KEYRING_PASSWORD,
    DAEMON_KEYRING_SECRET,
    ENTRA_SID,
    KEYCHAIN_PASSWORD,
    KWALLET_PASSWORD,
    KWALLET_SECRET,
    MAC_SECRET,
    STORES,
    built_local_key,
    daemon_wallet,
    expected_prints,
    gnome_home,
    keychain_home,
    refused,
    rescued,
    windows_home,
)
from helpers.transfer import fingerprints


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
