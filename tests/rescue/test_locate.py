"""Where the old Cursor data is under --from, by layout only: the paths looked at when there is none, two systems
in one copy need --os, and nothing is read through a link out of the copy. Through `rescue`, on copies laid out
as each system leaves them (tests/helpers/old_machines.py)."""

from __future__ import annotations

import shutil

from helpers.old_machines import (
    fixture_bytes,
    put,
)
from helpers.rescue import (
    BASIC,
    DAEMON_KEYRING_PASSWORD,
    DAEMON_KEYRING_SECRET,
    MAC_SECRET,
    expected_prints,
    refused,
    rescued,
)
from helpers.transfer import fingerprints


def test_no_cursor_data_names_the_paths_looked_at(h):
    empty = h.backup / "empty"
    empty.mkdir()
    line = refused(h, empty, 3, "cursor-missing")
    assert str(empty / ".config/Cursor/User/globalStorage/state.vscdb") in line and "AppData/Roaming" in line


def test_two_systems_in_one_copy_need_os_to_choose(h):
    linux = h.home("basic", BASIC, name="both")
    h.home("macos", MAC_SECRET, name="both-mac")
    shutil.copytree(h.backup / "both-mac" / "Library", linux.root / "Library")
    shutil.rmtree(h.backup / "both-mac")
    assert "--os" in refused(h, linux, 15, "layout-ambiguous")
    assert fingerprints(rescued(h, linux, "--os", "linux")) == expected_prints(linux)


def test_a_symlink_to_outside_the_copy_is_not_read(h, tmp_path):
    home = h.home("v11", DAEMON_KEYRING_SECRET)
    elsewhere = put(fixture_bytes("gnome", "daemon-login.keyring"), tmp_path / "this-machine" / "login.keyring")
    (home.root / ".local/share/keyrings").mkdir(parents=True)
    (home.root / ".local/share/keyrings/login.keyring").symlink_to(elsewhere)
    line = refused(h, home, 3, "store-missing", "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD))
    assert "symlink to outside the copy" in line


def test_a_database_symlinked_out_of_the_copy_is_not_read(h, tmp_path):
    home = h.home("basic", BASIC, wal=False)
    elsewhere = tmp_path / "this-machine" / "state.vscdb"
    elsewhere.parent.mkdir()
    home.db.rename(elsewhere)
    home.db.symlink_to(elsewhere)
    assert "symlink to outside the copy" in refused(h, home, 3, "cursor-missing")
