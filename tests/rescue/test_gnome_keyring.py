"""gnome-keyring-daemon's files opened offline: the binary 0.0 format (with its password) and the textual one.

The keyrings are real: written by gnome-keyring-daemon 42.1 (committed, and
again at run time by the integration tests) and by the producer of oo7's
test data. See tests/fixtures/rescue/gnome/README.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from helpers.paths import REPO
from helpers.tools import require_module, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.errors import RescueNotFound, StoreDamaged, StoreLocked, StoreUnsupported
from cursor_byok.rescue import gnome_keyring
from cursor_byok.rescue.gnome_keyring import cursor_secret, format_of, open_keyring
from cursor_byok.rescue.items import StoreItem

ROOT = REPO
FIXTURES = ROOT / "tests" / "fixtures" / "rescue" / "gnome"
MAKE_KEYRING = ROOT / "scripts" / "fixtures" / "make-gnome-keyring"
SCRIPT_DEADLINE = 180  # seconds: two daemons start, store and stop on a loaded 2-core machine

DAEMON_PASSWORD = "old-laptop-login-2019"
CURSOR_SECRET = b"bWFkZS11cC1mb3ItdGVzdHM="
CODE_SECRET = b"bm90LWN1cnNvcnMtc2VjcmV0"
OO7_PASSWORD = "test"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def open_daemon_keyring(*passwords: str) -> list[StoreItem]:
    return open_keyring(fixture("daemon-login.keyring"), passwords, name="daemon-login.keyring")


# -- the daemon's binary file -----------------------------------------------------------------


def test_daemon_keyring_gives_cursors_secret_not_vs_codes():
    items = open_daemon_keyring(DAEMON_PASSWORD)
    assert {i.attributes["application"]: i.secret for i in items} == {"Cursor": CURSOR_SECRET, "Code": CODE_SECRET}
    assert {i.label for i in items} == {"Chromium Safe Storage"}
    assert cursor_secret(items, store_name="login.keyring") == CURSOR_SECRET


def test_daemon_keyring_with_a_wrong_password_is_locked_with_one_opaque_message():
    with pytest.raises(StoreLocked) as caught:
        open_daemon_keyring("old-laptop-login-2018", "")
    message = str(caught.value)
    assert caught.value.reason == "wrong-password"
    assert "daemon-login.keyring" in message and "--login-password-file" in message
    assert "2 password(s)" in message and "changed" in message
    assert "2018" not in message and CURSOR_SECRET.decode() not in message


def test_daemon_keyring_opens_with_the_second_password_given():
    items = open_daemon_keyring("the-new-login-password", DAEMON_PASSWORD)
    assert cursor_secret(items, store_name="login.keyring") == CURSOR_SECRET


def test_daemon_keyring_without_any_password_says_how_to_give_one():
    with pytest.raises(StoreLocked, match="needs its password.*--login-password-file"):
        open_daemon_keyring()


def test_a_wrong_iv_garbles_only_the_first_block_and_the_md5_check_catches_it():
    """A reader that decrypted with a zero IV (one public tool's bug) would get every block but the first right:
    the checksum block. Re-encrypt the daemon's plaintext under a zero IV and the file must not open."""
    data = fixture("daemon-login.keyring")
    sealed = gnome_keyring._read_sealed(data, "daemon-login.keyring")
    key, iv = _derive_independently(DAEMON_PASSWORD, sealed.salt, sealed.iterations)
    plaintext = _aes_cbc(key, iv, sealed.ciphertext, decrypt=True)
    assert plaintext[:16] == hashlib.md5(plaintext[16:]).digest()  # the independent derivation is right

    zero_iv_ciphertext = _aes_cbc(key, bytes(16), plaintext, decrypt=False)
    seen_with_the_real_iv = _aes_cbc(key, iv, zero_iv_ciphertext, decrypt=True)
    assert seen_with_the_real_iv[16:] == plaintext[16:] and seen_with_the_real_iv[:16] != plaintext[:16]

    assert data.endswith(sealed.ciphertext)
    swapped = data[: -len(sealed.ciphertext)] + zero_iv_ciphertext
    with pytest.raises(StoreLocked):
        open_keyring(swapped, [DAEMON_PASSWORD], name="zero-iv.keyring")


def _derive_independently(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    digest = hashlib.sha256(password.encode() + salt).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest[:16], digest[16:32]


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def test_a_header_that_counts_fewer_items_than_the_encrypted_part_holds_is_damaged():
    data = fixture("daemon-login.keyring")
    sealed = gnome_keyring._read_sealed(data, "x")
    plaintext = gnome_keyring._unsealed(sealed, DAEMON_PASSWORD)
    assert plaintext is not None
    with pytest.raises(StoreDamaged, match="more than padding after the 1 item"):
        gnome_keyring._read_items(plaintext, 1, "x")


# -- the daemon's textual file (empty password) -----------------------------------------------


def test_daemon_keyring_with_an_empty_password_is_textual_and_needs_none():
    data = fixture("daemon-login-empty-password.keyring")
    assert format_of(data, name="x") == "textual"
    items = open_keyring(data, [], name="daemon-login-empty-password.keyring")
    assert {i.attributes["application"]: i.secret for i in items} == {"Cursor": CURSOR_SECRET, "Code": CODE_SECRET}
    assert cursor_secret(items, store_name="login.keyring") == CURSOR_SECRET


# What the daemon writes for values it escapes (seen in files it wrote: display names and attributes take
# GKeyFile's escapes, `secret` is written raw, a secret that is not UTF-8 goes to `binary-secret` in hex).
BUILT_TEXTUAL = b"""[keyring]
display-name=Login
ctime=1796648711
mtime=0

[2]
item-type=0
display-name=\\sspaced\\nlabel
binary-secret=FF00016162
mtime=1796648711

[2:attribute0]
name=application
type=string
value=\\sa\\\\b

[1]
item-type=0
display-name=Chromium Safe Storage
secret=raw\\secret=x
"""


def test_built_textual_keyring_unescapes_what_the_daemon_escapes():
    items = open_keyring(BUILT_TEXTUAL, [], name="built.keyring")
    assert [(i.label, dict(i.attributes), i.secret) for i in items] == [
        ("Chromium Safe Storage", {}, b"raw\\secret=x"),
        (" spaced\nlabel", {"application": " a\\b"}, b"\xff\x00\x01ab"),
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff binary", b"[other]\nkey=value\n", b"[keyring]\n[1]\ndisplay-name=bad \\q escape\n"],
    ids=["empty", "not-utf8", "no-keyring-group", "unknown-escape"],
)
def test_a_file_that_is_neither_format_is_damaged(data):
    with pytest.raises(StoreDamaged):
        open_keyring(data, [DAEMON_PASSWORD], name="x.keyring")


# -- oo7's legacy file (a real 0.0 keyring of another producer) ------------------------------


def test_oo7s_legacy_keyring_opens_with_its_password():
    items = open_keyring(fixture("oo7-legacy.keyring"), [OO7_PASSWORD], name="oo7-legacy.keyring")
    assert [(i.label, dict(i.attributes), i.secret) for i in items] == [
        ("foo", {"xdg:schema": "org.gnome.keyring.Note"}, b"foo")
    ]


def test_a_keyring_without_cursors_item_names_its_labels_and_never_a_secret():
    items = open_keyring(fixture("oo7-legacy.keyring"), [OO7_PASSWORD], name="oo7-legacy.keyring")
    with pytest.raises(RescueNotFound) as caught:
        cursor_secret(items, store_name="GNOME keyring oo7-legacy.keyring")
    assert caught.value.reason == "entry-missing"
    assert "it holds: foo" in str(caught.value)
    assert str(caught.value).count("foo") == 1  # the label, not the secret `foo` beside it


def test_an_item_of_another_app_or_schema_is_not_cursors():
    schema = gnome_keyring.CURSOR_SCHEMA
    items = [
        StoreItem("Chromium Safe Storage", {"xdg:schema": schema, "application": "chromium"}, b"chromium's"),
        StoreItem("Chrome Safe Storage", {"xdg:schema": "chrome_libsecret_os_crypt_password"}, b"a v1 item"),
    ]
    with pytest.raises(RescueNotFound, match="Chrome Safe Storage, Chromium Safe Storage"):
        cursor_secret(items, store_name="login.keyring")


def test_cursors_schema_wins_over_another_item_with_application_cursor():
    items = [
        StoreItem("other", {"application": "Cursor", "xdg:schema": "org.example.Other"}, b"other"),
        StoreItem("Chromium Safe Storage", {"application": "Cursor", "xdg:schema": gnome_keyring.CURSOR_SCHEMA}, b"k"),
    ]
    assert cursor_secret(items, store_name="login.keyring") == b"k"
    assert cursor_secret(items[:1], store_name="login.keyring") == b"other"  # as Chromium's own lookup would


# -- versions and structure -------------------------------------------------------------------


def test_a_future_format_version_is_refused_by_name():
    data = bytearray(fixture("daemon-login.keyring"))
    data[16] = 2
    with pytest.raises(StoreUnsupported, match="format version 2.0"):
        open_keyring(bytes(data), [DAEMON_PASSWORD], name="future.keyring")


def test_oo7s_format_is_told_apart_and_not_read_as_0_0():
    data = fixture("oo7-default.keyring")
    assert format_of(data, name="x") == "oo7-1.0"
    with pytest.raises(StoreDamaged, match="oo7 keyring"):
        open_keyring(data, [OO7_PASSWORD], name="x")


@pytest.mark.parametrize("cut", [10, 17, 40, 60, 120, 300, 714], ids=lambda n: f"{n}-bytes")
def test_a_truncated_daemon_keyring_is_damaged(cut):
    with pytest.raises(StoreDamaged):
        open_keyring(fixture("daemon-login.keyring")[:cut], [DAEMON_PASSWORD], name="cut.keyring")


def test_a_huge_iteration_count_is_damaged_not_hours_of_hashing():
    data = bytearray(fixture("daemon-login.keyring"))
    iterations_at = 16 + 4 + 4 + len(b"Login") + 8 + 8 + 4 + 4  # magic, version+crypto+hash, name, times, flags
    data[iterations_at : iterations_at + 4] = (0xFFFFFFF0).to_bytes(4, "big")
    with pytest.raises(StoreDamaged, match="iteration count"):
        open_keyring(bytes(data), [DAEMON_PASSWORD], name="x")


# -- hostile input: only StoreDamaged or StoreLocked, never a wrong secret -------------------

HOSTILE = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def _opens_to_the_same_items_or_refuses(data: bytes, original: bytes, password: str) -> None:
    try:
        items = open_keyring(data, [password], name="hostile.keyring")
    except (StoreDamaged, StoreLocked, StoreUnsupported):
        return
    assert items == open_keyring(original, [password], name="original.keyring")


@pytest.mark.parametrize("name,password", [("daemon-login.keyring", DAEMON_PASSWORD), ("oo7-legacy.keyring", "test")])
@HOSTILE
@given(data=st.data())
def test_a_bit_flipped_keyring_refuses_or_gives_the_same_items(name, password, data):
    original = fixture(name)
    bit = data.draw(st.integers(0, len(original) * 8 - 1))
    flipped = bytearray(original)
    flipped[bit // 8] ^= 1 << (bit % 8)
    _opens_to_the_same_items_or_refuses(bytes(flipped), original, password)


@pytest.mark.parametrize("name,password", [("daemon-login.keyring", DAEMON_PASSWORD), ("oo7-legacy.keyring", "test")])
@HOSTILE
@given(data=st.data())
def test_a_truncated_or_extended_keyring_refuses_or_gives_the_same_items(name, password, data):
    original = fixture(name)
    cut = data.draw(st.integers(0, len(original)))
    tail = data.draw(st.binary(max_size=40))
    _opens_to_the_same_items_or_refuses(original[:cut] + tail, original, password)


@HOSTILE
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise_anything_else(blob):
    for data in (blob, gnome_keyring.MAGIC + b"\0\0" + blob):
        try:
            open_keyring(data, ["x"], name="random.keyring")
        except (StoreDamaged, StoreLocked, StoreUnsupported):
            pass


@HOSTILE
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_anything_else(text):
    try:
        open_keyring(("[keyring]\n" + text).encode(), [], name="random.keyring")
    except StoreDamaged:
        pass


# -- the real daemon, at run time -------------------------------------------------------------


def _make_with_the_daemon(out: Path, *args: str) -> None:
    for tool in ("dbus-daemon", "gnome-keyring-daemon", "secret-tool"):
        require_tool(tool)
    require_module("secretstorage")
    proc = subprocess.run(
        [sys.executable, str(MAKE_KEYRING), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_DEADLINE,  # on expiry run() kills the script; its daemons die with it (PR_SET_PDEATHSIG)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


RUN_PASSWORD = "a-login-password-made-up-now"
RUN_SECRET = "cnVuLXRpbWUtc2VjcmV0LTI0"


@pytest.mark.integration
@pytest.mark.slow
def test_daemon_writes_a_keyring_the_reader_opens_with_its_password(tmp_path):
    _make_with_the_daemon(tmp_path, "--binary", "--password", RUN_PASSWORD, "--cursor-secret", RUN_SECRET)
    data = (tmp_path / "daemon-login.keyring").read_bytes()
    assert format_of(data, name="x") == "binary-0.0"
    items = open_keyring(data, [RUN_PASSWORD], name="login.keyring")
    assert cursor_secret(items, store_name="login.keyring") == RUN_SECRET.encode()
    with pytest.raises(StoreLocked):
        open_keyring(data, [DAEMON_PASSWORD], name="login.keyring")


@pytest.mark.integration
@pytest.mark.slow
def test_daemon_writes_the_textual_format_for_an_empty_password(tmp_path):
    _make_with_the_daemon(tmp_path, "--empty-password", "--password", RUN_PASSWORD, "--cursor-secret", RUN_SECRET)
    data = (tmp_path / "daemon-login-empty-password.keyring").read_bytes()
    assert format_of(data, name="x") == "textual"
    assert cursor_secret(open_keyring(data, [], name="login.keyring"), store_name="x") == RUN_SECRET.encode()
