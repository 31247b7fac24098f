"""Our OSCrypt codecs against a real producer: Debian's `chromium` package.

Headless chromium loads a page on 127.0.0.1 that sets a random cookie, and
writes it encrypted to `Default/Cookies`. With `--password-store=basic` that
is `v10` under the fixed `peanuts` key; inside a private D-Bus session with
gnome-keyring, `--password-store=gnome-libsecret` makes chromium create its
own "Chromium Safe Storage" password (application `chromium`, the schema
Cursor uses) and write `v11`. Decoding both with cursor_byok's codecs proves
them against code nobody here wrote.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from contextlib import closing

import pytest
from helpers.chromium_cookie import (
    HOST,
    StoredCookie,
    cookie_plaintext,
    cookie_server,
    log_tail,
    read_cookie,
    run_chromium,
)
from helpers.secret_service import PrivateSecretService
from helpers.tools import require_module, require_tool

from cursor_byok.errors import DecryptFailed
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage import secret_service

pytestmark = pytest.mark.slow  # a real headless Chromium

CHROMIUM_APP = "chromium"


@pytest.fixture
def chromium() -> str:
    return require_tool("chromium")


def chromium_cookie(chromium: str, tmp_path, password_store: str, env: dict[str, str]) -> tuple[str, StoredCookie]:
    """Have chromium store a fresh random cookie; returns (the value sent, the row it wrote)."""
    canary = "cbk-" + secrets.token_urlsafe(18)
    udd = tmp_path / "chromium-profile"
    log = tmp_path / "chromium.log"
    with cookie_server(canary) as server:
        code = run_chromium(chromium, server.url, udd, password_store, env, log)
    assert code == 0, f"chromium exit {code}\n{log_tail(log)}"
    assert "/" in server.paths, f"chromium never fetched the page (requests: {server.paths})\n{log_tail(log)}"
    try:
        cookie = read_cookie(udd / "Default" / "Cookies")
    finally:
        shutil.rmtree(udd, ignore_errors=True)  # a 2 MB profile; the log stays for diagnosis
    assert cookie.host_key == HOST
    assert cookie.value == "", "chromium stored the cookie in clear text"
    assert canary.encode() not in cookie.encrypted_value
    return canary, cookie


def check_decrypted(cookie: StoredCookie, decrypted: bytes, canary: str) -> None:
    if cookie.db_version >= 24:
        assert decrypted[:32] == hashlib.sha256(b"127.0.0.1").digest()
    assert cookie_plaintext(cookie, decrypted) == canary.encode()


# --- the raw-bytes decrypt the cookie needs (no chromium required) ---------------------------


def test_decrypt_bytes_returns_plaintext_that_is_not_utf8():
    raw = hashlib.sha256(b"127.0.0.1").digest() + b"value"
    cbc = ss.linux_basic_codec()
    blob = cbc.prefix + ss._cbc_encrypt(cbc.key, raw)
    assert cbc.decrypt_bytes(blob) == raw
    with pytest.raises(DecryptFailed):
        cbc.decrypt(blob)
    gcm = ss.GcmCodec(bytes(range(32)))
    assert gcm.decrypt_bytes(gcm.prefix + ss._gcm_encrypt(gcm.key, raw)) == raw


def test_decrypt_bytes_keeps_the_empty_password_fallback():
    blob = b"v11" + ss._cbc_encrypt(ss.EMPTY_PASSWORD_V11_KEY, b"\xff\x00raw")
    assert ss.linux_keyring_codec(b"not the password").decrypt_bytes(blob) == b"\xff\x00raw"


# --- chromium ------------------------------------------------------------------------------


@pytest.mark.integration
def test_chromium_basic_store_writes_v10_that_the_peanuts_codec_decodes(chromium, tmp_path, clean_env):
    canary, cookie = chromium_cookie(chromium, tmp_path, "basic", clean_env)

    assert ss.prefix_of(cookie.encrypted_value) == "v10"
    check_decrypted(cookie, ss.linux_basic_codec().decrypt_bytes(cookie.encrypted_value), canary)


def chromium_password(service: PrivateSecretService) -> tuple[str, bytes]:
    """The password chromium stored in the private keyring: (schema, secret)."""
    import secretstorage

    with closing(service.connect()) as conn:
        for schema in secret_service.LIBSECRET_SCHEMAS:
            items = list(secretstorage.search_items(conn, {"xdg:schema": schema, "application": CHROMIUM_APP}))
            if items:
                assert len(items) == 1, f"{len(items)} chromium items under {schema}"
                return schema, bytes(items[0].get_secret())
    raise AssertionError(f"chromium stored no password with application={CHROMIUM_APP!r} in the keyring")


@pytest.mark.integration
def test_chromium_libsecret_store_writes_v11_that_the_keyring_codec_decodes(chromium, tmp_path, clean_env):
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        require_tool(tool)
    require_module("secretstorage")

    with PrivateSecretService(tmp_path / "keyring-home") as service:
        canary, cookie = chromium_cookie(chromium, tmp_path, "gnome-libsecret", service.env)
        schema, password = chromium_password(service)

    assert schema in secret_service.LIBSECRET_SCHEMAS
    assert password, "chromium stored an empty password"
    assert ss.prefix_of(cookie.encrypted_value) == "v11"
    check_decrypted(cookie, ss.linux_keyring_codec(password).decrypt_bytes(cookie.encrypted_value), canary)
    # The keyring password's own key did it, not the empty-password fallback.
    primary_only = ss.CbcCodec(b"v11", ss.derive_cbc_key(password, ss.LINUX_ITERATIONS))
    check_decrypted(cookie, primary_only.decrypt_bytes(cookie.encrypted_value), canary)
