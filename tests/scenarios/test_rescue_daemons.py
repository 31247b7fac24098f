"""`cursor-byok rescue` on stores the real daemons write during the test: gnome-keyring-daemon and kwalletd5.

Each daemon runs on a private D-Bus session with its home in a temporary folder (tests/helpers/secret_service.py,
tests/helpers/kwalletd.py); it stores Cursor's item with a known secret the way Chromium does, and is stopped. Its
file goes where the old home keeps it, beside a database whose v11 rows are encrypted with that secret (and
two of them only in the copied -wal). The rescue must give every key, and its bundle must import elsewhere
with the same fingerprints. Every wait has a deadline: the helpers' start-up polls and call timeouts.
"""

from __future__ import annotations

import pytest
from helpers.old_machines import put
from helpers.rescue import check_rescued, imports_with_equal_fingerprints, rescued
from helpers.tools import require_module, require_tool

CURSOR_SECRET = "ZGFlbW9uLW1hZGUtc2VjcmV0"  # made up: 24 characters, as Chromium's base64 of 16+ bytes looks
KWALLET_LOGIN = "kde-login-password-made-up-now"


@pytest.mark.integration
@pytest.mark.slow
def test_a_gnome_keyring_the_real_daemon_writes_now(h, make_sample_dir, tmp_path):  # noqa: F811
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        require_tool(tool)
    require_module("secretstorage")
    from helpers.secret_service import KEYRING_PASSWORD, PrivateSecretService

    with PrivateSecretService(tmp_path / "daemon-home") as daemon:
        daemon.store_password(CURSOR_SECRET.encode(), application="Cursor", label="Chromium Safe Storage")
    keyring = (tmp_path / "daemon-home" / "data" / "keyrings" / "login.keyring").read_bytes()
    home = h.home("v11", CURSOR_SECRET.encode())
    put(keyring, home.root / ".local/share/keyrings/login.keyring")
    password = h.file("login.txt", KEYRING_PASSWORD.decode())
    doc = rescued(h, home, "--login-password-file", password)
    assert doc["store"]["kind"] == "gnome-keyring" and doc["copy"]["wal_frames"] > 0
    check_rescued(h, home, doc, KEYRING_PASSWORD, CURSOR_SECRET)
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-file", password)


@pytest.mark.integration
@pytest.mark.slow
def test_a_kde_wallet_the_real_kwalletd5_writes_now(h, make_sample_dir, tmp_path):  # noqa: F811
    for tool in ("dbus-daemon", "kwalletd5"):
        require_tool(tool)
    require_module("jeepney")
    from helpers.kwalletd import PrivateKWalletd

    with PrivateKWalletd(tmp_path / "kwallet-home", password=KWALLET_LOGIN) as daemon:
        daemon.store_cursor_password(CURSOR_SECRET)
        kwl, salt = daemon.wallet_files()
    home = h.home("v11", CURSOR_SECRET.encode())
    put(kwl, home.root / ".local/share/kwalletd/kdewallet.kwl")
    put(salt, home.root / ".local/share/kwalletd/kdewallet.salt")
    password = h.file("login.txt", KWALLET_LOGIN)
    doc = rescued(h, home, "--login-password-file", password)
    assert doc["store"]["kind"] == "kwallet"
    check_rescued(h, home, doc, KWALLET_LOGIN, CURSOR_SECRET)
    imports_with_equal_fingerprints(h, home, make_sample_dir, "--login-password-file", password)
