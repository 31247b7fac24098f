"""Tests for cursor_byok.bundle.age_envelope: the age testkit, round trips, the age tool, hostile input."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519
from helpers.age_testkit import TESTKIT, VECTOR_PATHS, Vector, install_refuser, load_vector, open_vector
from helpers.tools import age_keygen_identity, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.errors import BundleAuthError, BundleError, InputError

PLAINTEXT = b'{"format": "cursor-byok", "openai": "sk-test-not-a-real-key"}\n'
PASSPHRASE = "correct horse battery staple"


# --- the testkit ----------------------------------------------------------------------------


def test_testkit_copy_is_complete_and_has_no_hybrid_vectors():
    names = [p.name for p in VECTOR_PATHS]
    assert len(names) == 124
    assert not [n for n in names if "hybrid" in n]
    source = (TESTKIT / "SOURCE.md").read_text()
    assert "1e3d2860d46e94e777e1b17c7a6f2436387e3ecc" in source
    expectations = {load_vector(p).expect for p in VECTOR_PATHS}
    assert expectations == {"success", "no match", "HMAC failure", "header failure", "payload failure", "armor failure"}


# No vector needs an xfail. pyrage 1.4 alone would get four wrong (it accepts stanza_missing_body,
# stanza_missing_final_line and scrypt_work_factor_23, and rejects armor_whitespace_outside);
# the precheck refuses the first three and hands pyrage de-armored bytes for the fourth.
@pytest.mark.parametrize("path", VECTOR_PATHS, ids=lambda p: p.name)
def test_testkit_vector(path, monkeypatch):
    vector = load_vector(path)
    if vector.expect in ("header failure", "armor failure"):
        check_refused_by_precheck(vector, monkeypatch)
        return
    header = agefile.precheck(vector.data)
    assert header.armored is vector.armored
    if vector.expect == "success":
        assert hashlib.sha256(open_vector(vector)).hexdigest() == vector.payload
    elif vector.expect == "no match":
        with pytest.raises(BundleAuthError):
            open_vector(vector)
    else:  # HMAC failure, payload failure: damaged, not a question of keys
        with pytest.raises(BundleError) as caught:
            open_vector(vector)
        assert not isinstance(caught.value, BundleAuthError)


def check_refused_by_precheck(vector: Vector, monkeypatch) -> None:
    with pytest.raises(BundleError) as caught:
        agefile.precheck(vector.data)
    assert not isinstance(caught.value, BundleAuthError)
    refuser = install_refuser(monkeypatch)
    with pytest.raises(BundleError) as again:
        open_vector(vector)
    assert str(again.value) == str(caught.value)
    assert refuser.calls == 0


# --- the X25519 low-order list ------------------------------------------------------------

P25519 = 2**255 - 19


def x25519_stanza_file(share: bytes) -> bytes:
    """A structurally valid age file whose only stanza carries the given X25519 share."""
    arg = base64.b64encode(share).rstrip(b"=")
    body = base64.b64encode(bytes(32)).rstrip(b"=")
    mac = base64.b64encode(bytes(32)).rstrip(b"=")
    return b"age-encryption.org/v1\n-> X25519 " + arg + b"\n" + body + b"\n--- " + mac + b"\n" + bytes(40)


def encodings_of(u: int) -> list[int]:
    """Every 32-byte little-endian value X25519 reads as u: bit 255 is ignored, values >= p wrap."""
    values = [u, u + 2**255]
    if u + P25519 < 2**255:
        values += [u + P25519, u + P25519 + 2**255]
    return values


@pytest.mark.parametrize("u", sorted(agefile._LOW_ORDER_U))
def test_every_listed_low_order_point_really_gives_a_zero_shared_secret(u):
    for value in encodings_of(u):
        share = value.to_bytes(32, "little")
        peer = x25519.X25519PublicKey.from_public_bytes(share)
        with pytest.raises(ValueError):  # OpenSSL refuses an all-zero X25519 output
            x25519.X25519PrivateKey.generate().exchange(peer)
        with pytest.raises(BundleError, match="low-order"):
            agefile.precheck(x25519_stanza_file(share))


def test_an_ordinary_share_passes_the_low_order_check():
    share = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    assert agefile.precheck(x25519_stanza_file(share)).stanza_types == ("X25519",)


# --- keys for the round trips --------------------------------------------------------------


@dataclass(frozen=True)
class SshKey:
    private_path: Path
    public_line: str


def ssh_key_from_cryptography(directory: Path, kind: str) -> SshKey:
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path = directory / f"crypto_{kind}"
    path.write_bytes(private)
    return SshKey(path, public.decode() + " test@example")


def ssh_key_from_ssh_keygen(directory: Path, kind: str, passphrase: str = "") -> SshKey:
    exe = shutil.which("ssh-keygen")
    if not exe:
        pytest.skip("ssh-keygen is not installed (the cryptography-made keys cover the same path)")
    path = directory / f"keygen_{kind}_{len(passphrase)}"
    size = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        [exe, "-q", "-t", kind, *size, "-N", passphrase, "-C", "test@example", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return SshKey(path, Path(f"{path}.pub").read_text().strip())


@pytest.fixture(params=["cryptography", "ssh-keygen"])
def make_ssh_key(request, tmp_path):
    def make(kind: str) -> SshKey:
        if request.param == "ssh-keygen":
            return ssh_key_from_ssh_keygen(tmp_path, kind)
        return ssh_key_from_cryptography(tmp_path, kind)

    return make


# --- round trips -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passphrase_bundles() -> dict[bool, bytes]:
    """One binary and one armored passphrase bundle; pyrage picks its work factor (about 2 s each here)."""
    return {armor: agefile.encrypt(PLAINTEXT, passphrase=PASSPHRASE, armor=armor) for armor in (False, True)}


@pytest.mark.slow
@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_passphrase_round_trip(passphrase_bundles, armor):
    sealed = passphrase_bundles[armor]
    header = agefile.precheck(sealed)
    assert header.armored is armor
    assert header.passphrase_only and header.stanza_types == ("scrypt",)
    assert 1 <= header.scrypt_work_factor <= agefile.MAX_WORK_FACTOR
    assert agefile.decrypt(sealed, passphrases=[PASSPHRASE]) == PLAINTEXT


@pytest.mark.slow
def test_wrong_passphrase_is_an_auth_error(passphrase_bundles):
    with pytest.raises(BundleAuthError, match="wrong passphrase") as caught:
        agefile.decrypt(passphrase_bundles[False], passphrases=["Correct horse battery staple"])
    assert "orse" not in str(caught.value)


def test_each_passphrase_is_tried_in_turn():
    vector = load_vector(TESTKIT / "scrypt")  # work factor 10: cheap to try twice
    opened = agefile.decrypt(vector.data, passphrases=["not it", *vector.passphrases])
    assert hashlib.sha256(opened).hexdigest() == vector.payload
    with pytest.raises(BundleAuthError):
        agefile.decrypt(vector.data, passphrases=["not it", "nor this"])


def test_passphrase_bundle_given_only_an_identity_says_it_needs_the_passphrase(monkeypatch):
    secret, _public = agefile.generate_identity()
    sealed = load_vector(TESTKIT / "scrypt").data
    refuser = install_refuser(monkeypatch)
    with pytest.raises(BundleAuthError, match="passphrase"):
        agefile.decrypt(sealed, identities=agefile.parse_identities(secret, "test"))
    assert refuser.calls == 0


def test_recipient_bundle_given_only_a_passphrase_says_it_needs_an_identity(monkeypatch):
    _secret, public = agefile.generate_identity()
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public])
    refuser = install_refuser(monkeypatch)
    with pytest.raises(BundleAuthError, match="identity"):
        agefile.decrypt(sealed, passphrases=[PASSPHRASE])
    assert refuser.calls == 0


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_x25519_round_trip(armor):
    secret, public = agefile.generate_identity()
    assert secret.startswith("AGE-SECRET-KEY-1") and public.startswith("age1")
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public], armor=armor)
    header = agefile.precheck(sealed)
    assert header.armored is armor and "X25519" in header.stanza_types and not header.passphrase_only
    assert agefile.decrypt(sealed, identities=agefile.parse_identities(secret, "test")) == PLAINTEXT


def test_a_stranger_identity_is_an_auth_error():
    _secret, public = agefile.generate_identity()
    stranger, _ = agefile.generate_identity()
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public])
    with pytest.raises(BundleAuthError, match="no identity given matches"):
        agefile.decrypt(sealed, identities=agefile.parse_identities(stranger, "test"))


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_ssh_round_trip(make_ssh_key, kind, armor):
    key = make_ssh_key(kind)
    sealed = agefile.encrypt(PLAINTEXT, recipients=[key.public_line], armor=armor)
    assert f"ssh-{kind}" in agefile.precheck(sealed).stanza_types
    assert agefile.decrypt(sealed, identities=agefile.load_identities(str(key.private_path))) == PLAINTEXT


def test_multiple_recipients_each_open_the_bundle(tmp_path):
    secret, public = agefile.generate_identity()
    ed = ssh_key_from_cryptography(tmp_path, "ed25519")
    rs = ssh_key_from_cryptography(tmp_path, "rsa")
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public, ed.public_line, rs.public_line])
    assert {"X25519", "ssh-ed25519", "ssh-rsa"} <= set(agefile.precheck(sealed).stanza_types)
    for identities in (
        agefile.parse_identities(secret, "x"),
        agefile.load_identities(str(ed.private_path)),
        agefile.load_identities(str(rs.private_path)),
    ):
        assert agefile.decrypt(sealed, identities=identities) == PLAINTEXT


def test_identities_from_several_files_are_tried_together(tmp_path):
    stranger, _ = agefile.generate_identity()
    key = ssh_key_from_cryptography(tmp_path, "ed25519")
    (tmp_path / "stranger.txt").write_text(stranger + "\n")
    sealed = agefile.encrypt(PLAINTEXT, recipients=[key.public_line])
    identities = agefile.load_identities(str(tmp_path / "stranger.txt"))
    identities += agefile.load_identities(str(key.private_path))
    assert agefile.decrypt(sealed, identities=identities) == PLAINTEXT


def test_recipients_file_with_comments_blank_lines_and_crlf(tmp_path):
    secret, public = agefile.generate_identity()
    ed = ssh_key_from_cryptography(tmp_path, "ed25519")
    text = f"# team keys\r\n\r\n{public}\r\n   # laptop\r\n  {ed.public_line}  \r\n\n"
    recipients = agefile.parse_recipients_file(text, "team.txt")
    assert recipients == [public, ed.public_line]
    sealed = agefile.encrypt(PLAINTEXT, recipients=recipients, armor=True)
    assert agefile.decrypt(sealed, identities=agefile.parse_identities(secret, "x")) == PLAINTEXT
    assert agefile.decrypt(sealed, identities=agefile.load_identities(str(ed.private_path))) == PLAINTEXT


def test_identity_file_with_comments_as_age_keygen_writes_it(tmp_path):
    secret, public = agefile.generate_identity()
    path = tmp_path / "key.txt"
    path.write_text(f"# created: 2026-01-01T00:00:00Z\n# public key: {public}\n{secret}\n")
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public])
    assert agefile.decrypt(sealed, identities=agefile.load_identities(str(path))) == PLAINTEXT


def test_armored_output_follows_the_armor_rules():
    _secret, public = agefile.generate_identity()
    lines = agefile.encrypt(PLAINTEXT * 20, recipients=[public], armor=True).decode("ascii").splitlines()
    assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
    assert lines[-1] == "-----END AGE ENCRYPTED FILE-----"
    assert all(len(line) == 64 for line in lines[1:-2])
    assert 0 < len(lines[-2]) <= 64


# --- bad recipients and identities ----------------------------------------------------------

ECDSA_LINE = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwF"
    "B9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= user@host"
)


def test_recipients_file_names_the_line_of_an_unsupported_key_type():
    _secret, public = agefile.generate_identity()
    with pytest.raises(InputError, match=r"keys\.txt: line 3 .*ecdsa-sha2-nistp256"):
        agefile.parse_recipients_file(f"# keys\n{public}\n{ECDSA_LINE}\n", "keys.txt")


def test_recipients_file_never_echoes_a_secret_put_there_by_mistake():
    secret, _public = agefile.generate_identity()
    with pytest.raises(InputError, match="line 2 is a private key") as caught:
        agefile.parse_recipients_file(f"\n{secret}\n", "keys.txt")
    assert secret[16:] not in str(caught.value)


@pytest.mark.parametrize("text", ["", "# only comments\n\n   \n"])
def test_recipients_file_without_recipients_is_refused(text):
    with pytest.raises(InputError, match="no recipients"):
        agefile.parse_recipients_file(text, "empty.txt")


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "not a valid age1"),
        ("age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "age1yubikey1... recipients"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBROKEN", "not a valid SSH public key"),
        ("sk-proj-" + "x" * 60, "is not a recipient"),
    ],
)
def test_encrypt_names_the_bad_recipient_without_echoing_it(recipient, expected):
    _secret, public = agefile.generate_identity()
    with pytest.raises(InputError, match=re.escape(expected)) as caught:
        agefile.encrypt(PLAINTEXT, recipients=[public, recipient])
    message = str(caught.value)
    assert message.startswith("recipient 2")
    assert "\n" not in message and recipient[-20:] not in message


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"passphrase": PASSPHRASE, "recipients": ["age1x"]}, {"passphrase": ""}],
    ids=["neither", "both", "empty-passphrase"],
)
def test_encrypt_needs_exactly_one_way_to_open_the_bundle(kwargs):
    with pytest.raises(InputError):
        agefile.encrypt(PLAINTEXT, **kwargs)


def test_encrypted_openssh_key_must_be_decrypted_first(tmp_path):
    key = ssh_key_from_ssh_keygen(tmp_path, "ed25519", passphrase="a passphrase")
    with pytest.raises(InputError, match="passphrase-protected"):
        agefile.load_identities(str(key.private_path))


def test_encrypted_pem_rsa_key_must_be_decrypted_first(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "id_rsa"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    with pytest.raises(InputError, match="passphrase-protected"):
        agefile.load_identities(str(path))


def test_unencrypted_pem_rsa_key_is_accepted(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "id_rsa"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    sealed = agefile.encrypt(PLAINTEXT, recipients=[public.decode()])
    assert agefile.decrypt(sealed, identities=agefile.load_identities(str(path))) == PLAINTEXT


def test_identity_errors_name_the_line_and_hide_the_key(tmp_path):
    secret, public = agefile.generate_identity()
    broken = secret[:-1] + ("Q" if secret[-1] != "Q" else "P")  # breaks the Bech32 checksum
    path = tmp_path / "key.txt"
    path.write_text(f"# mine\n{secret}\n{broken}\n")
    with pytest.raises(InputError, match=r"key\.txt: line 3: not a valid AGE-SECRET-KEY-1") as caught:
        agefile.load_identities(str(path))
    assert secret[16:40] not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "no identities"),
        (b"# nothing here\n", "no identities"),
        (b"age1qqqq\n", "public key"),
        (b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI test\n", "public key"),
        (b"AGE-PLUGIN-YUBIKEY-1QQQQQ\n", "not supported"),
        (b"\xff\xfe\x00binary", "not a text file"),
        (b"age-encryption.org/v1\n-> scrypt x 18\n", "itself age-encrypted"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n-----END OPENSSH PRIVATE KEY-----\n", "SSH private key"),
    ],
)
def test_unusable_identity_files_are_input_errors(tmp_path, content, expected):
    path = tmp_path / "identity"
    path.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        agefile.load_identities(str(path))


def test_missing_identity_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read identity file"):
        agefile.load_identities(str(tmp_path / "nope.txt"))


# --- interop with the age command line tool ------------------------------------------------


@pytest.fixture
def age_key(tmp_path) -> tuple[Path, str]:
    """An identity file made by age-keygen and its public key, as age-keygen -y prints it."""
    return age_keygen_identity(tmp_path)


def run_age(*args: str) -> bytes:
    return subprocess.run([require_tool("age"), *args], check=True, capture_output=True, timeout=60).stdout


@pytest.mark.integration
@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_age_decrypts_what_we_encrypt(tmp_path, age_key, armor):
    key_path, public = age_key
    bundle = tmp_path / "bundle.age"
    bundle.write_bytes(agefile.encrypt(PLAINTEXT, recipients=[public], armor=armor))
    assert run_age("-d", "-i", str(key_path), str(bundle)) == PLAINTEXT


@pytest.mark.integration
@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_we_decrypt_what_age_encrypts(tmp_path, age_key, armor):
    key_path, public = age_key
    (tmp_path / "plain").write_bytes(PLAINTEXT)
    sealed = run_age("-r", public, *(["-a"] if armor else []), str(tmp_path / "plain"))
    assert agefile.precheck(sealed).armored is armor
    assert agefile.decrypt(sealed, identities=agefile.load_identities(str(key_path))) == PLAINTEXT


@pytest.mark.integration
def test_ssh_ed25519_interop_both_ways(tmp_path):
    key = ssh_key_from_cryptography(tmp_path, "ed25519")
    (tmp_path / "key.pub").write_text(key.public_line + "\n")
    (tmp_path / "plain").write_bytes(PLAINTEXT)
    from_age = run_age("-R", str(tmp_path / "key.pub"), str(tmp_path / "plain"))
    assert agefile.decrypt(from_age, identities=agefile.load_identities(str(key.private_path))) == PLAINTEXT
    (tmp_path / "ours.age").write_bytes(agefile.encrypt(PLAINTEXT, recipients=[key.public_line]))
    assert run_age("-d", "-i", str(key.private_path), str(tmp_path / "ours.age")) == PLAINTEXT


def run_on_terminal(argv: list[str], answers: list[str], hang_guard: float = 120.0) -> int:
    """Run argv on a pseudo-terminal, typing one answer per passphrase prompt (age reads them from /dev/tty)."""
    from helpers.children import on_a_terminal

    code, _ = on_a_terminal(argv, [(b"passphrase", answer) for answer in answers], timeout=hang_guard)
    return code  # past hang_guard, on_a_terminal kills it and fails the test with what it showed


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_passphrase_interop_through_a_terminal(tmp_path, armor):
    age = require_tool("age")
    (tmp_path / "plain").write_bytes(PLAINTEXT)
    sealed_by_age = tmp_path / "by-age.age"
    argv = [age, "-p", *(["-a"] if armor else []), "-o", str(sealed_by_age), str(tmp_path / "plain")]
    assert run_on_terminal(argv, [PASSPHRASE, PASSPHRASE]) == 0
    data = sealed_by_age.read_bytes()
    assert agefile.precheck(data).passphrase_only
    assert agefile.decrypt(data, passphrases=[PASSPHRASE]) == PLAINTEXT

    sealed_by_us = tmp_path / "by-us.age"
    sealed_by_us.write_bytes(agefile.encrypt(PLAINTEXT, passphrase=PASSPHRASE, armor=armor))
    opened = tmp_path / "opened"
    assert run_on_terminal([age, "-d", "-o", str(opened), str(sealed_by_us)], [PASSPHRASE]) == 0
    assert opened.read_bytes() == PLAINTEXT


# --- hostile input ---------------------------------------------------------------------------


def armor(binary: bytes) -> bytes:
    """ASCII-armor an age file the way the spec says: padded base64 in 64-column lines."""
    text = base64.b64encode(binary)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"\n".join([b"-----BEGIN AGE ENCRYPTED FILE-----", *lines, b"-----END AGE ENCRYPTED FILE-----", b""])


def with_work_factor(binary: bytes, work_factor: bytes) -> bytes:
    changed, count = re.subn(rb"^(-> scrypt \S+ )\S+$", rb"\g<1>" + work_factor, binary, count=1, flags=re.M)
    assert count == 1
    return changed


SCRYPT_VECTOR = load_vector(TESTKIT / "scrypt")


@pytest.mark.parametrize("work_factor", range(23, 41))
@pytest.mark.parametrize("armored", [False, True], ids=["binary", "armored"])
def test_high_scrypt_work_factor_is_refused_before_pyrage(monkeypatch, work_factor, armored):
    data = with_work_factor(SCRYPT_VECTOR.data, str(work_factor).encode())
    data = armor(data) if armored else data
    refuser = install_refuser(monkeypatch)
    with pytest.raises(BundleError, match=rf"work factor {work_factor}\b.*minutes of CPU") as caught:
        agefile.precheck(data)
    with pytest.raises(BundleError) as again:
        agefile.decrypt(data, passphrases=SCRYPT_VECTOR.passphrases)
    assert str(again.value) == str(caught.value)
    assert refuser.calls == 0


def test_the_highest_allowed_work_factor_passes_the_precheck():
    data = with_work_factor(SCRYPT_VECTOR.data, str(agefile.MAX_WORK_FACTOR).encode())
    assert agefile.precheck(data).scrypt_work_factor == agefile.MAX_WORK_FACTOR


def test_armor_helper_matches_the_testkit():
    vector = load_vector(TESTKIT / "armor_x25519")
    binary = base64.b64decode(b"".join(vector.data.strip().splitlines()[1:-1]))
    assert armor(binary) == vector.data.strip() + b"\n"


@pytest.fixture(scope="module")
def small_bundle() -> tuple[bytes, list]:
    secret, public = agefile.generate_identity()
    return agefile.encrypt(PLAINTEXT, recipients=[public]), agefile.parse_identities(secret, "test")


def header_length(binary: bytes) -> int:
    return binary.index(b"\n", binary.index(b"\n--- ")) + 1


def flips(data: bytes, upto: int):
    for index in range(upto):
        for bit in range(8):
            changed = bytearray(data)
            changed[index] ^= 1 << bit
            yield bytes(changed)


def assert_refused(data: bytes, **keys) -> None:
    with pytest.raises(BundleError):  # BundleAuthError is a BundleError; any other type fails the test
        agefile.decrypt(data, **keys)


def test_every_header_bit_flip_is_refused(small_bundle):
    data, identities = small_bundle
    for changed in flips(data, header_length(data)):
        assert_refused(changed, identities=identities)


@pytest.mark.slow
def test_every_header_bit_flip_of_a_passphrase_file_is_refused():
    data = SCRYPT_VECTOR.data
    assert agefile.decrypt(data, passphrases=SCRYPT_VECTOR.passphrases)  # the unflipped file opens
    for changed in flips(data, header_length(data)):
        assert_refused(changed, passphrases=SCRYPT_VECTOR.passphrases)


def test_every_armored_bit_flip_is_refused_or_harmless(small_bundle):
    data, identities = small_bundle
    armored = armor(data)
    for changed in flips(armored, len(armored)):
        try:
            opened = agefile.decrypt(changed, identities=identities)
        except BundleError:
            continue
        # Only whitespace changes outside the armor may pass (the spec allows them), and then nothing changed.
        assert opened == PLAINTEXT and changed.strip() == armored.strip()


def test_every_truncation_is_refused(small_bundle):
    data, identities = small_bundle
    for length in range(len(data)):
        assert_refused(data[:length], identities=identities)
    armored = armor(data)
    for length in range(len(armored) - 1):  # dropping only the final newline is allowed (testkit armor_no_eol)
        assert_refused(armored[:length], identities=identities)


@pytest.mark.parametrize("extra", [b"\x00", b"\n", b"A", b"\xff"])
def test_one_appended_byte_is_refused(small_bundle, extra):
    data, identities = small_bundle
    assert_refused(data + extra, identities=identities)
    if not extra.isspace():
        assert_refused(armor(data) + extra, identities=identities)


# --- property tests on precheck -----------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def precheck_only_raises_bundle_error(data: bytes) -> None:
    try:
        header = agefile.precheck(data)
    except BundleError:
        return
    assert isinstance(header, agefile.Header)


@PROPERTY_SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise_anything_but_bundle_error(data):
    precheck_only_raises_bundle_error(data)


@PROPERTY_SETTINGS
@given(st.sampled_from([b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----\n"]), st.binary())
def test_random_bytes_after_a_valid_start_never_raise_anything_but_bundle_error(start, rest):
    precheck_only_raises_bundle_error(start + rest)


VALID_FILES = [
    load_vector(TESTKIT / name).data
    for name in ("x25519", "scrypt", "x25519_grease", "x25519_multiple_recipients", "armor_x25519")
]
HEADER_TOKENS = [
    b"\n",
    b"\r\n",
    b" ",
    b"-> ",
    b"--- ",
    b"-",
    b"=",
    b"scrypt",
    b"X25519",
    b"0",
    b"22",
    b"23",
    b"A" * 64,
    b"AAAA",
    b"\x00",
    b"\xff",
    b"-----END AGE ENCRYPTED FILE-----",
]


@st.composite
def mutated_files(draw, sources: list[bytes] = VALID_FILES) -> bytes:
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "token"]))
        if action == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 70))]
        else:
            data[at:at] = draw(st.sampled_from(HEADER_TOKENS))
    return bytes(data)


@PROPERTY_SETTINGS
@given(mutated_files())
def test_mutated_valid_files_never_raise_anything_but_bundle_error(data):
    precheck_only_raises_bundle_error(data)


X25519_VECTOR = load_vector(TESTKIT / "x25519")


@settings(max_examples=200, deadline=None)
@given(mutated_files([X25519_VECTOR.data, armor(X25519_VECTOR.data)]))
def test_decrypting_a_mutated_x25519_file_is_refused_or_unchanged(data):
    vector = X25519_VECTOR
    identities = agefile.parse_identities("\n".join(vector.identities), "x25519")
    try:
        opened = agefile.decrypt(data, identities=identities)
    except BundleError:
        return
    assert hashlib.sha256(opened).hexdigest() == vector.payload
