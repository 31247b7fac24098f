"""The rescue tests' harness: old copies laid out in `backup`, the command run with the copy checked
byte-identical afterwards and no temporary file left (`Harness`, the `h` fixture), and the checks of a rescue's
result: every key by its fingerprint, no secret printed, the bundle importing elsewhere; old homes holding each
kind of store (`STORES`), and `refused`, the one line of a typed failure with nothing written."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

from cursor_byok.cli import main
from cursor_byok.model import fingerprint
from cursor_byok.rescue import dpapi_offline
from cursor_byok.rescue.gnome_keyring import CURSOR_SCHEMA
from cursor_byok.rescue.items import StoreItem
from helpers.cli import cli_runner
from helpers.leaks import assert_no_key_shown
from helpers.old_machines import (
    FIXTURES,
    OldHome,
    build_home,
    dpapi_vector,
    fixture_bytes,
    put,
    tree_state,
)
from helpers.transfer import SAMPLE_ENDPOINTS, fingerprints, identity, list_json, make_target, options

DAEMON_KEYRING_PASSWORD = "old-laptop-login-2019"  # tests/fixtures/rescue/gnome/README.md
DAEMON_KEYRING_SECRET = b"bWFkZS11cC1mb3ItdGVzdHM="
KWALLET_PASSWORD = "fixture-login-password-2024"  # tests/fixtures/rescue/kwallet/README.md
KWALLET_SECRET = b"q3Jx9Lm2Vt8Rk5Wp0Ha7Zg=="
KEYCHAIN_PASSWORD = "keychainbreaker-test"  # tests/fixtures/rescue/keychain/SOURCE.md
MAC_SECRET = b"c3RvcmVkQXNJdEl6Pz8/Pz8="  # made up: a Keychain safeStorage password's shape
OO7_LOGIN = "oo7-made-up-login-password"
NEMESIS_SID = "S-1-5-21-3821320868-1508310791-3575676346-1103"
NEMESIS_PASSWORD = "Qwerty12345"  # Nemesis's tests say so (tests/fixtures/rescue/dpapi/nemesis-domain)
NEMESIS_KEY_SHA256 = "556836173750a3a3b5297ac66fe636ab5f8c8730b7ec6681426d7ba1af068974"  # pypykatz agrees
ENTRA_SID = "S-1-12-1-3217461782-1102447462-2447373485-1417371981"
BASIC = b"peanuts"  # the basic backend has no secret of its own; the samples' codec ignores it


class Harness:
    """Where a test lays out old copies (`backup`), keeps its own files (`out`), and runs the command."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.backup, self.out = tmp_path / "backup", tmp_path / "out"
        self.tmp, self.cwd = tmp_path / "tmp", tmp_path / "cwd"
        self.journals = tmp_path / "byok-data"  # conftest's data_dir: undo journals would go there
        for folder in (self.backup, self.out, self.tmp, self.cwd):
            folder.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(self.tmp))  # private_tempdir() goes here
        monkeypatch.chdir(self.cwd)
        self.outputs: list[str] = []

    def home(self, generation: str, secret: bytes, name: str = "home", **kw: Any) -> OldHome:
        return build_home(self.backup / name, generation, secret, **kw)

    def file(self, name: str, text: str) -> Path:
        path = self.out / name
        path.write_text(text + "\n")
        return path

    def run(self, *args: Any, env: dict[str, str] | None = None, input: str | None = None):
        """`cursor-byok ARGS`, checking that the backup is unchanged and no temporary file is left."""
        before = tree_state(self.backup)
        result = cli_runner().invoke(main, [str(a) for a in args], env=env, input=input)
        assert tree_state(self.backup) == before, "the old copy changed"
        assert list(self.tmp.iterdir()) == [], "a temporary file was left behind"
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        self.outputs.append(result.stdout + result.stderr)
        return result

    def rescue(self, home: OldHome | Path, *args: Any, env: dict[str, str] | None = None):
        root = home.root if isinstance(home, OldHome) else home
        return self.run("rescue", "--from", root, *args, env=env)


def rescued(h: Harness, home: OldHome, *args: Any) -> dict:
    done = h.rescue(home, *args, "--json")
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def expected_prints(home: OldHome) -> dict[str, str]:
    return {field: fingerprint(value) for field, value in home.expected.items()}


def check_rescued(h: Harness, home: OldHome, doc: dict, *secrets: str | bytes) -> None:
    """Every key, and nothing else: fingerprints equal, no value or secret printed, unknown rows named only."""
    assert fingerprints(doc) == expected_prints(home)
    assert doc["left_out"] == []
    assert sorted(doc["not_rescued"]) == sorted(f"secret://cursorAuth/{n}" for n in home.never)
    text = "\n".join(h.outputs)
    assert_no_key_shown(text, *home.expected.values())
    for value in (*home.never.values(), *secrets):
        assert (value.decode() if isinstance(value, bytes) else value) not in text


def imports_with_equal_fingerprints(h: Harness, home: OldHome, make_sample_dir, *args: Any) -> None:
    """The rescued bundle (encrypted to an age recipient) imports on another machine: same fingerprints there."""
    ident, recipient = identity(h.out)
    bundle = h.out / "rescued.age"
    done = h.rescue(home, *args, "-o", bundle, "-r", recipient)
    assert done.exit_code == 0, done.stderr
    assert f"{len(home.expected)} key(s)" in done.stderr
    target = make_target(make_sample_dir, "v11")
    imported = h.run(*options(target), "import", bundle, "-i", ident, *SAMPLE_ENDPOINTS, "--yes")
    assert imported.exit_code == 0, imported.stderr
    there = fingerprints(list_json(target))
    assert {f: there.get(f) for f in home.expected} == expected_prints(home)


def daemon_wallet(home: OldHome) -> None:
    """kwalletd5's committed wallet (tests/fixtures/rescue/kwallet/kwalletd5) where KDE keeps it."""
    for suffix in ("kwl", "salt"):
        data = fixture_bytes("kwallet", "kwalletd5", f"kdewallet.{suffix}")
        put(data, home.root / f".local/share/kwalletd/kdewallet.{suffix}")


def windows_home(h: Harness, profile: str, key: bytes, *, sid_folder: str | None = None, name: str = "home") -> OldHome:
    """A Windows home whose database is built around a real (or independently checked) Local State: the rows are
    AES-256-GCM under the key that Local State wraps with DPAPI."""
    home = h.home("windows", key, name=name)
    source = FIXTURES / "dpapi" / profile
    shutil.copyfile(source / "Local State", home.udd / "Local State")
    (sid,) = [p.name for p in (source / "Protect").iterdir()]
    shutil.copytree(source / "Protect" / sid, home.root / "AppData/Roaming/Microsoft/Protect" / (sid_folder or sid))
    return home


def built_local_key() -> tuple[bytes, dict]:
    vector = dpapi_vector("built-local")
    folder = FIXTURES / "dpapi" / "built-local" / "Protect" / vector["sid"]
    local_state = (FIXTURES / "dpapi" / "built-local" / "Local State").read_bytes()
    key = dpapi_offline.oscrypt_key(local_state, dpapi_offline.read_master_keys(folder), vector["sid"],
                                    [vector["old_password"]])  # fmt: skip
    assert hashlib.sha256(key).hexdigest() == vector["oscrypt_key_sha256"]  # checked by impacket and pypykatz
    return key, vector


def gnome_home(h: Harness) -> OldHome:
    home = h.home("v11", DAEMON_KEYRING_SECRET, name="gnome")
    put(fixture_bytes("gnome", "daemon-login.keyring"), home.root / ".local/share/keyrings/login.keyring")
    return home


def oo7_v1_keyring(secret: bytes, password: str, iterations: int = 100_000) -> bytes:
    """A 1.0 keyring holding Cursor's item, built from the format by the writer that reproduces oo7's own test
    file byte for byte (tests/rescue/test_oo7_keyring.py), so the reader that opens oo7's file opens it."""
    from helpers.store_files import CODE_ITEM, build_keyring

    cursor = StoreItem("Chromium Safe Storage", {"xdg:schema": CURSOR_SCHEMA, "application": "Cursor"}, secret)
    return build_keyring(password, [CODE_ITEM, cursor], iterations=iterations)


def nemesis_key() -> bytes:
    folder = FIXTURES / "dpapi" / "nemesis-domain" / "Protect" / NEMESIS_SID
    local_state = (FIXTURES / "dpapi" / "nemesis-domain" / "Local State").read_bytes()
    key = dpapi_offline.oscrypt_key(local_state, dpapi_offline.read_master_keys(folder), NEMESIS_SID,
                                    [NEMESIS_PASSWORD])  # fmt: skip
    assert hashlib.sha256(key).hexdigest() == NEMESIS_KEY_SHA256
    return key


def refused(h: Harness, target: OldHome | Path, code: int, reason: str, *args: Any, env=None) -> str:
    done = h.rescue(target, *args, "--json", env=env)
    assert done.exit_code == code, done.stderr
    assert json.loads(done.stdout)["error"]["reason"] == reason
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cursor-byok: error: "), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert not h.journals.exists() and list(h.out.glob("*.age")) == []  # nothing written anywhere
    return lines[0]


def oo7_home(h: Harness) -> OldHome:
    home = h.home("v11", b"b283LWJ1aWx0LXNlY3JldC0y", name="oo7")
    put(oo7_v1_keyring(b"b283LWJ1aWx0LXNlY3JldC0y", OO7_LOGIN, 1000), home.root / ".local/share/keyrings/v1/l.keyring")
    return home


def kwallet_home(h: Harness) -> OldHome:
    home = h.home("v11", KWALLET_SECRET, name="kde")
    daemon_wallet(home)
    return home


def keychain_home(h: Harness) -> OldHome:
    home = h.home("macos", MAC_SECRET, name="mac")
    put(fixture_bytes("keychain", "test.keychain-db"), home.root / "Library/Keychains/login.keychain-db")
    return home


STORES: dict[str, Callable[[Harness], OldHome]] = {
    "gnome-keyring": gnome_home,
    "oo7-keyring": oo7_home,
    "kwallet": kwallet_home,
    "keychain": keychain_home,
    "dpapi-local": lambda h: windows_home(h, "built-local", built_local_key()[0], name="win-local"),
    "dpapi-domain": lambda h: windows_home(h, "nemesis-domain", nemesis_key(), name="win-domain"),
}
