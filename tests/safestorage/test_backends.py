"""Fetching the machine secret: backend choice, Keychain, DPAPI, password input, caching."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.samples import WINDOWS_KEY, fake_dpapi_unprotect

from cursor_byok.errors import DecryptFailed, SafeStorageUnavailable, UnknownCiphertext
from cursor_byok.safestorage import argv_json, dpapi, keychain, linux_choice, password
from cursor_byok.safestorage import backends as keyring
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

# --- which backend would Cursor use on Linux? -------------------------------------------

ARGV_JSON = """// This configuration file allows you to pass permanent command line arguments to VS Code.
// Only a subset of arguments is currently supported to reduce the likelihood of breaking
// the installation.
//
// PLEASE DO NOT CHANGE WITHOUT UNDERSTANDING THE IMPACT
{
\t// "disable-hardware-acceleration": true,
\t"enable-crash-reporter": true,
\t"crash-reporter-id": "5b1b5b0e-3f7e-4a3f-9a2f-3e2b1a0c9d8e",
\t"password-store": "%s"
}
"""


@pytest.mark.parametrize(
    "store,expected",
    [
        ("basic", "basic"),
        ("gnome-libsecret", "secret-service"),
        ("gnome", "secret-service"),
        ("gnome-keyring", "secret-service"),
        ("kwallet", "kwallet"),
        ("kwallet5", "kwallet"),
        ("kwallet6", "kwallet"),
    ],
)
def test_argv_json_password_store_wins_over_the_desktop(tmp_path, store, expected):
    argv = tmp_path / "argv.json"
    argv.write_text(ARGV_JSON % store)
    assert argv_json.argv_password_store(argv) == store
    desktop = {"XDG_CURRENT_DESKTOP": "KDE" if expected != "kwallet" else "GNOME"}
    assert linux_choice.linux_backend(desktop, argv) == expected


@pytest.mark.parametrize(
    "desktop,expected",
    [
        ("GNOME", "secret-service"),
        ("ubuntu:GNOME", "secret-service"),
        ("XFCE", "secret-service"),
        ("KDE", "kwallet"),
        ("sway", "basic"),
        ("i3", "basic"),
        ("Hyprland", "basic"),
        ("", "basic"),
        ("X-Cinnamon", "secret-service"),
        ("Deepin", "secret-service"),
        ("Pantheon", "secret-service"),
        ("UKUI", "secret-service"),
        ("Unity", "secret-service"),
        ("COSMIC", "secret-service"),
        ("pop:COSMIC", "secret-service"),
        ("kde", "kwallet"),
        ("LXQt", "basic"),
        ("niri", "basic"),
        ("Budgie:GNOME", "secret-service"),
        ("LXQt:GNOME", "basic"),
    ],
)
def test_desktop_picks_the_backend(tmp_path, desktop, expected):
    env = {"XDG_CURRENT_DESKTOP": desktop} if desktop else {}
    assert linux_choice.linux_backend(env, tmp_path / "missing-argv.json") == expected


def test_an_unknown_password_store_leaves_the_choice_to_the_desktop(tmp_path):
    argv = tmp_path / "argv.json"
    argv.write_text(ARGV_JSON % "not-a-store")
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "KDE"}, argv) == "kwallet"
    assert linux_choice.linux_backend({}, argv) == "basic"


def test_the_reason_for_the_backend_is_kept_for_messages(tmp_path):
    backend, why = linux_choice.linux_backend_choice({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, tmp_path / "none.json")
    assert (backend, why) == ("secret-service", "XDG_CURRENT_DESKTOP=ubuntu:GNOME")
    assert linux_choice.linux_backend_choice({}, None) == ("basic", "no desktop session (XDG_CURRENT_DESKTOP unset)")


def test_desktop_session_is_a_fallback_hint():
    assert linux_choice.linux_backend({"DESKTOP_SESSION": "plasma-kde"}, None) == "kwallet"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"password-store": 5}', ""])
def test_unusable_argv_json_is_ignored(tmp_path, text):
    argv = tmp_path / "argv.json"
    argv.write_text(text)
    assert argv_json.argv_password_store(argv) is None
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "GNOME"}, argv) == "secret-service"


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


# --- macOS Keychain through the `security` tool --------------------------------------------


class FakeSecurity:
    """Stands in for /usr/bin/security: records the command, answers like it."""

    def __init__(self, returncode: int, stdout: bytes = b"") -> None:
        self.returncode, self.stdout, self.calls = returncode, stdout, []

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        return SimpleNamespace(returncode=self.returncode, stdout=self.stdout, stderr=b"")


def test_keychain_returns_the_password_as_stored():
    fake = FakeSecurity(0, b"Qm9ndXNQYXNzd29yZDEyMw==\n")
    assert keychain.fetch_keychain(run=fake) == b"Qm9ndXNQYXNzd29yZDEyMw=="
    assert fake.calls == [["security", "find-generic-password", "-s", "Cursor Safe Storage", "-a", "Cursor Key", "-w"]]


class ScriptedSecurity(FakeSecurity):
    """Answers each call with the next (returncode, stdout) pair."""

    def __init__(self, *answers) -> None:
        super().__init__(0)
        self.answers = list(answers)

    def __call__(self, cmd, **kw):
        self.returncode, self.stdout = self.answers.pop(0)
        return super().__call__(cmd, **kw)


def test_keychain_falls_back_to_the_service_alone_when_the_account_is_not_found():
    fake = ScriptedSecurity((44, b""), (0, b"old-electron-item\n"))
    assert keychain.fetch_keychain(run=fake) == b"old-electron-item"
    assert [c[3:-1] for c in fake.calls] == [["Cursor Safe Storage", "-a", "Cursor Key"], ["Cursor Safe Storage"]]


def test_keychain_asks_once_when_the_user_denies():
    fake = ScriptedSecurity((128, b""), (0, b"never-asked"))
    with pytest.raises(SafeStorageUnavailable, match="exit 128"):
        keychain.fetch_keychain(run=fake)
    assert len(fake.calls) == 1


def test_keychain_denied_or_missing():
    with pytest.raises(SafeStorageUnavailable, match="exit 44"):
        keychain.fetch_keychain(run=FakeSecurity(44))


def test_keychain_tool_missing():
    def missing(cmd, **kw):
        raise FileNotFoundError(2, "No such file or directory", "security")

    with pytest.raises(SafeStorageUnavailable, match="security"):
        keychain.fetch_keychain(run=missing)


def test_keychain_timeout():
    def slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    with pytest.raises(SafeStorageUnavailable):
        keychain.fetch_keychain(run=slow)


def test_keychain_probe_never_asks_for_the_secret():
    fake = FakeSecurity(0)
    assert keychain.probe_keychain(run=fake) == "reachable, item present"
    assert "-w" not in fake.calls[0]
    assert keychain.probe_keychain(run=FakeSecurity(44)) == "reachable, no Cursor item"


def test_macos_rows_decode_with_the_keychain_password():
    password = b"Y2hyb21lLXNhbXBsZS1wdw=="  # 24 ASCII characters, used as is
    blob = ss.macos_codec(password).encrypt("sk-proj-macos")
    storage = SafeStorage(
        env={},
        platform="darwin",
        fetchers={"keychain": lambda: keychain.fetch_keychain(run=FakeSecurity(0, password + b"\n"))},
    )
    assert storage.decrypt(blob) == ("sk-proj-macos", "keychain")


# --- Windows DPAPI ---------------------------------------------------------------------


def local_state(tmp_path: Path, encrypted_key: bytes | str) -> Path:
    path = tmp_path / "Local State"
    value = encrypted_key if isinstance(encrypted_key, str) else base64.b64encode(encrypted_key).decode()
    path.write_text(json.dumps({"os_crypt": {"encrypted_key": value}, "browser": {}}))
    return path


def test_dpapi_key_is_unprotected_without_its_prefix(tmp_path):
    seen = []

    def unprotect(data: bytes) -> bytes:
        seen.append(data)
        return fake_dpapi_unprotect(data)

    path = local_state(tmp_path, b"DPAPI" + b"fake:" + WINDOWS_KEY)
    assert dpapi.dpapi_key_from_local_state(path, unprotect) == WINDOWS_KEY
    assert seen == [b"fake:" + WINDOWS_KEY]


def test_dpapi_key_from_a_sample_dir(make_sample_dir):
    sample = make_sample_dir("windows")
    key = dpapi.dpapi_key_from_local_state(sample.udd / "Local State", fake_dpapi_unprotect)
    assert key == sample.sample.secret == WINDOWS_KEY


def test_key_without_dpapi_prefix_is_unknown(tmp_path):
    path = local_state(tmp_path, b"APPB" + bytes(60))
    with pytest.raises(UnknownCiphertext, match="DPAPI"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)


@pytest.mark.parametrize("content", ["{}", "not json", '{"os_crypt": {}}', '{"os_crypt": {"encrypted_key": "@@@"}}'])
def test_local_state_without_a_key(tmp_path, content):
    path = tmp_path / "Local State"
    path.write_text(content)
    with pytest.raises(SafeStorageUnavailable, match="encrypted_key"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)


def test_missing_local_state(tmp_path):
    with pytest.raises(SafeStorageUnavailable, match="missing"):
        dpapi.dpapi_key_from_local_state(tmp_path / "Local State", fake_dpapi_unprotect)


def test_dpapi_key_of_the_wrong_length(tmp_path):
    path = local_state(tmp_path, b"DPAPI" + b"fake:" + bytes(16))
    with pytest.raises(SafeStorageUnavailable, match="a key of 16 bytes"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)


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


def test_password_from_a_file_drops_the_line_end(tmp_path):
    pw = tmp_path / "pw"
    pw.write_bytes(b"machine pass\r\n")
    assert password.read_password_input(str(pw), {password.PASSWORD_ENV: "ignored"}) == b"machine pass"


def test_password_from_the_environment():
    assert password.read_password_input(None, {password.PASSWORD_ENV: "from-env"}) == b"from-env"


def test_password_missing(tmp_path):
    with pytest.raises(SafeStorageUnavailable, match=password.PASSWORD_ENV):
        password.read_password_input(None, {})
    with pytest.raises(SafeStorageUnavailable, match="cannot read"):
        password.read_password_input(str(tmp_path / "absent"), {})


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


@pytest.mark.parametrize("secret", [b"not-hex", b"abcd", WINDOWS_KEY.hex().encode() + b"00", "é".encode()])
def test_windows_scheme_rejects_anything_but_64_hex(secret):
    with pytest.raises(SafeStorageUnavailable, match="64 hex"):
        password.windows_key_from_hex(secret)


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


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "enable-crash-reporter": true,\n  "password-store": "basic" // keys stay on this machine\n}',
        '{\n  "enable-crash-reporter": true,\n  "password-store": "basic",\n}',
        '{\n  "password-store": "basic", // trailing comma and a comment\n}',
        '{\n  /* block */ "password-store": /* inline */ "basic"\n}',
        '{\n  "crash-reporter-id": "a//b/*c*/,}", "password-store": "basic"\n}',
    ],
)
def test_argv_json_is_read_like_vscode_reads_it(tmp_path, text):
    # VS Code parses argv.json as JSON with comments and trailing commas.
    argv = tmp_path / "argv.json"
    argv.write_text(text)
    assert argv_json.argv_password_store(argv) == "basic"
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "GNOME"}, argv) == "basic"


def test_a_keychain_or_dpapi_choice_on_a_linux_database_says_which_scheme_it_is_for(tmp_path):
    blob = ss.linux_keyring_codec(b"some-keyring-password").encrypt("sk-made-up-value-0123456789")
    for choice, scheme in (("keychain", "macos"), ("dpapi", "windows")):
        storage = SafeStorage(SafeStorageConfig(choice), env={"HOME": str(tmp_path)}, platform="linux")
        with pytest.raises(SafeStorageUnavailable, match=f"--safe-storage-scheme {scheme}"):
            storage.decrypt(blob)
