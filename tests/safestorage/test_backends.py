"""Fetching the machine secret through SafeStorage: the backend each platform and choice gives, one fetch per run,
the right codec per prefix. The inputs have files of their own: test_linux_choice, test_argv_json, test_keychain,
test_dpapi, test_password."""

from __future__ import annotations

import pytest
from helpers.samples import ARGV_JSON, WINDOWS_KEY

from cursor_byok.errors import DecryptFailed, SafeStorageUnavailable, UnknownCiphertext
from cursor_byok.safestorage import backends as keyring
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage import password
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

# --- which backend: argv.json, the desktop, the platform ----------------------------------


def test_auto_reads_argv_json_from_home(tmp_path):
    (tmp_path / ".cursor").mkdir()
    (tmp_path / ".cursor" / "argv.json").write_text(ARGV_JSON % "basic")
    storage = SafeStorage(env={"HOME": str(tmp_path), "XDG_CURRENT_DESKTOP": "GNOME"}, platform="linux")
    assert storage.backend == "basic"
    assert storage.required_prefix() == b"v10"


def test_an_unknown_password_store_does_not_decide_the_prefix(tmp_path):
    """Chromium ignores a password-store it does not know and goes by the desktop: a guess, not evidence."""
    (tmp_path / ".cursor").mkdir()
    (tmp_path / ".cursor" / "argv.json").write_text(ARGV_JSON % "gnome-foo")
    storage = SafeStorage(env={"HOME": str(tmp_path), "XDG_CURRENT_DESKTOP": "GNOME"}, platform="linux")
    assert storage.backend == "secret-service" and storage.required_prefix() is None
    (tmp_path / ".cursor" / "argv.json").write_text(ARGV_JSON % "KWallet6")
    named = SafeStorage(env={"HOME": str(tmp_path), "XDG_CURRENT_DESKTOP": "GNOME"}, platform="linux")
    assert named.backend == "kwallet" and named.required_prefix() == b"v11"


def test_a_backend_guessed_from_the_desktop_does_not_decide_the_prefix(tmp_path):
    assert SafeStorage(env={"HOME": str(tmp_path)}, platform="linux").required_prefix() is None
    explicit = SafeStorage(SafeStorageConfig("secret-service"), env={"HOME": str(tmp_path)}, platform="linux")
    assert explicit.required_prefix() == b"v11"


@pytest.mark.parametrize("platform,backend,scheme", [("darwin", "keychain", "macos"), ("win32", "dpapi", "windows")])
def test_auto_per_platform(platform, backend, scheme):
    storage = SafeStorage(env={}, platform=platform)
    assert (storage.backend, storage.scheme) == (backend, scheme)


# --- Windows DPAPI ---------------------------------------------------------------------


def test_dpapi_is_refused_off_windows(make_sample_dir):
    sample = make_sample_dir("windows")
    storage = SafeStorage(
        env={},
        platform="linux",
        local_state=sample.udd / "Local State",
        config=SafeStorageConfig("dpapi", scheme="windows"),
    )
    blob = ss.GcmCodec(WINDOWS_KEY).encrypt("x")
    with pytest.raises(SafeStorageUnavailable, match="only on Windows"):
        storage.decrypt(blob)


# --- the password backend ----------------------------------------------------------------


def test_password_backend_decodes_each_scheme(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("shared-secret\n")
    for scheme, codec in (
        ("linux", ss.linux_keyring_codec(b"shared-secret")),
        ("macos", ss.macos_codec(b"shared-secret")),
    ):
        storage = SafeStorage(SafeStorageConfig("password", scheme=scheme, password_file=str(pw)), env={})
        assert storage.decrypt(codec.encrypt("k-" + scheme)) == ("k-" + scheme, "password")


def test_windows_scheme_takes_a_hex_key(tmp_path):
    assert password.windows_key_from_hex(WINDOWS_KEY.hex().encode() + b"\n") == WINDOWS_KEY
    env = {password.PASSWORD_ENV: WINDOWS_KEY.hex()}
    storage = SafeStorage(SafeStorageConfig("password", scheme="windows"), env=env)
    blob = ss.GcmCodec(WINDOWS_KEY).encrypt("sk-ant-win")
    assert storage.decrypt(blob) == ("sk-ant-win", "password")


def test_unknown_choice_and_scheme_are_refused():
    with pytest.raises(SafeStorageUnavailable, match="--safe-storage"):
        SafeStorage(SafeStorageConfig("vault"), env={})
    with pytest.raises(SafeStorageUnavailable, match="scheme"):
        SafeStorage(SafeStorageConfig("password", scheme="beos"), env={})


def test_basic_is_linux_only():
    storage = SafeStorage(SafeStorageConfig("basic"), env={}, platform="darwin")
    with pytest.raises(SafeStorageUnavailable, match="only on Linux"):
        storage.decrypt(ss.macos_codec(b"x").encrypt("y"))


# --- SafeStorage: one fetch per run, the right codec per prefix -----------------------------


class CountingFetcher:
    def __init__(self, result: bytes | Exception) -> None:
        self.result, self.calls = result, 0

    def __call__(self) -> bytes:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_secret_is_fetched_once_per_run():
    fetch = CountingFetcher(b"keyring-pw")
    storage = SafeStorage(
        SafeStorageConfig("secret-service"), env={}, platform="linux", fetchers={"secret-service": fetch}
    )
    codec = ss.linux_keyring_codec(b"keyring-pw")
    for i in range(5):
        assert storage.decrypt(codec.encrypt(f"key-{i}")) == (f"key-{i}", "secret-service")
    assert fetch.calls == 1


def test_a_failed_fetch_is_not_retried_per_row():
    fetch = CountingFetcher(SafeStorageUnavailable("locked"))
    storage = SafeStorage(
        SafeStorageConfig("secret-service"), env={}, platform="linux", fetchers={"secret-service": fetch}
    )
    blob = ss.linux_keyring_codec(b"pw").encrypt("x")
    for _ in range(3):
        with pytest.raises(SafeStorageUnavailable, match="locked"):
            storage.decrypt(blob)
    assert fetch.calls == 1


def test_v10_on_linux_needs_no_keyring_at_all():
    fetch = CountingFetcher(b"never")
    storage = SafeStorage(
        SafeStorageConfig("secret-service"), env={}, platform="linux", fetchers={"secret-service": fetch}
    )
    assert storage.decrypt(ss.linux_basic_codec().encrypt("basic-key")) == ("basic-key", "basic")
    assert fetch.calls == 0


def test_auto_tries_kwallet_when_the_secret_service_fails():
    ss_fetch = CountingFetcher(SafeStorageUnavailable("no secret service"))
    kw_fetch = CountingFetcher(b"kwallet-pw")
    storage = SafeStorage(
        env={"XDG_CURRENT_DESKTOP": "GNOME"},
        platform="linux",
        fetchers={"secret-service": ss_fetch, "kwallet": kw_fetch},
    )
    blob = ss.linux_keyring_codec(b"kwallet-pw").encrypt("found-in-kwallet")
    assert storage.decrypt(blob) == ("found-in-kwallet", "kwallet")
    assert (ss_fetch.calls, kw_fetch.calls) == (1, 1)


def test_auto_on_a_basic_desktop_still_tries_keyrings_for_v11():
    fetch = CountingFetcher(b"pw")
    storage = SafeStorage(
        env={"XDG_CURRENT_DESKTOP": "sway"},
        platform="linux",
        fetchers={"secret-service": fetch, "kwallet": CountingFetcher(SafeStorageUnavailable("no kwallet"))},
    )
    assert storage.backend == "basic"
    assert storage.decrypt(ss.linux_keyring_codec(b"pw").encrypt("v")) == ("v", "secret-service")


def test_explicit_basic_refuses_v11():
    storage = SafeStorage(SafeStorageConfig("basic"), env={}, platform="linux")
    with pytest.raises(SafeStorageUnavailable, match="keyring"):
        storage.decrypt(ss.linux_keyring_codec(b"pw").encrypt("v"))


def test_wrong_machine_secret_is_a_decrypt_failure():
    storage = SafeStorage(
        SafeStorageConfig("secret-service"), env={}, platform="linux", fetchers={"secret-service": lambda: b"wrong"}
    )
    with pytest.raises(DecryptFailed):
        storage.decrypt(ss.linux_keyring_codec(b"right").encrypt("sk-proj-value-long-enough"))


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_v20_is_refused_on_every_platform(platform):
    storage = SafeStorage(env={}, platform=platform, fetchers={"keychain": lambda: b"x", "dpapi": lambda: bytes(32)})
    with pytest.raises(UnknownCiphertext, match="v20"):
        storage.decrypt(b"v20" + bytes(48))


def test_macos_and_windows_know_only_v10():
    storage = SafeStorage(env={}, platform="darwin", fetchers={"keychain": lambda: b"x"})
    with pytest.raises(UnknownCiphertext, match="v11"):
        storage.decrypt(ss.linux_keyring_codec(b"x").encrypt("y"))


@pytest.mark.parametrize("generation", ["basic", "v11", "macos", "windows"])
def test_every_encrypted_sample_generation_decodes(make_sample_dir, generation):
    sample = make_sample_dir(generation)
    codec = sample.sample.codec()
    storage = sample.storage()
    for value in sample.keys.values():
        assert storage.decrypt(codec.encrypt(value)) == (value, sample.expected_label)


def test_probe_reports_without_fetching(tmp_path):
    fetch = CountingFetcher(b"x")
    basic = SafeStorage(SafeStorageConfig("basic"), env={}, platform="linux", fetchers={"basic": fetch})
    assert keyring.probe(basic).startswith("available")
    pw = SafeStorage(SafeStorageConfig("password"), env={}, fetchers={"password": fetch})
    assert keyring.probe(pw).startswith("missing")
    given = SafeStorage(SafeStorageConfig("password"), env={password.PASSWORD_ENV: "x"}, fetchers={"password": fetch})
    assert keyring.probe(given) == "given"
    dpapi = SafeStorage(env={}, platform="win32", local_state=tmp_path / "Local State")
    assert keyring.probe(dpapi).startswith("unreachable")
    assert fetch.calls == 0


def test_a_keychain_or_dpapi_choice_on_a_linux_database_says_which_scheme_it_is_for(tmp_path):
    blob = ss.linux_keyring_codec(b"some-keyring-password").encrypt("sk-made-up-value-0123456789")
    for choice, scheme in (("keychain", "macos"), ("dpapi", "windows")):
        storage = SafeStorage(SafeStorageConfig(choice), env={"HOME": str(tmp_path)}, platform="linux")
        with pytest.raises(SafeStorageUnavailable, match=f"--safe-storage-scheme {scheme}"):
            storage.decrypt(blob)
