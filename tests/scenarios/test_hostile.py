"""Hostile input: damaged bundles, the age testkit, damaged databases and fuzzed parsers.

Everything goes through real code: bundles made by `cursor-byok export`, real
age decryption (pyrage), real SQLite files, and the command line in process
(CliRunner) or as a subprocess. Whatever the input, nothing may be accepted
that should not be, no command may crash (an exit code outside the README's
table, a traceback, more than one error line), and a failed command leaves the
database byte for byte as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import x25519
from helpers.age_testkit import VECTOR_PATHS, load_vector
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import cursor_byok as api
from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.bundle import document as bundle
from cursor_byok.changes import manifest
from cursor_byok.changes import wanted as onboard
from cursor_byok.changes.diff import diff
from cursor_byok.checks.listing import bundle_listing
from cursor_byok.cli import Exit, main
from cursor_byok.cursor import blob_patch as blobpatch
from cursor_byok.cursor.rows import BLOB_KEY, RowWriter, blob_paths, read_profile
from cursor_byok.errors import BundleAuthError, BundleError, InputError
from cursor_byok.model import Secret
from cursor_byok.providers import registry
from cursor_byok.render import plan_text, profile_text
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, sample_keys

DOCUMENTED_EXITS = {int(code) for code in Exit}
PASSPHRASE = "hostile-input passphrase 7"
ENV_TO_CLEAR = (
    "CURSOR_STATE_DB",
    "CURSOR_USER_DATA_DIR",
    "CURSOR_BYOK_SAFE_STORAGE",
    "CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE",
    "CURSOR_BYOK_SAFE_STORAGE_SCHEME",
    "CURSOR_BYOK_DEBUG",
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- running the command line -------------------------------------------------------------


def invoke(args: list[str], data_dir: Path):
    """The CLI in this process, with no Cursor or safe-storage choice leaking in from the environment."""
    env = {name: None for name in ENV_TO_CLEAR}
    env["CURSOR_BYOK_DATA_DIR"] = str(data_dir)
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def subprocess_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_TO_CLEAR}
    env["CURSOR_BYOK_DATA_DIR"] = str(data_dir)
    return env


def assert_one_line_error(stdout: str, stderr: str, code: int, allowed: set[int]) -> None:
    """A documented exit code, exactly one error line (the last on stderr), no traceback."""
    assert code in allowed, f"exit {code}, expected one of {sorted(allowed)}: {stderr}"
    assert "Traceback" not in stdout + stderr
    lines = stderr.splitlines()
    assert lines, "a failure must say why on stderr"
    assert lines[-1].startswith("cursor-byok: error: "), stderr
    assert not lines[-1].startswith("cursor-byok: error: internal error"), stderr
    for line in lines[:-1]:  # anything before the error is a note or a warning
        assert line.startswith(("note: ", "warning: ")), stderr


def db_state(db: Path) -> tuple[str | None, ...]:
    """Digests of the database and of any sidecar that holds data."""
    digests = []
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-journal")):
        data = path.read_bytes() if path.exists() else b""
        digests.append(hashlib.sha256(data).hexdigest() if data else None)
    return tuple(digests)


# --- the bundles under attack, all made by `export` ----------------------------------------


@dataclass
class World:
    root: Path
    data_dir: Path
    source_db: Path
    target_db: Path
    identity: Path
    passphrase_file: Path
    x25519: bytes
    armored: bytes
    document: dict

    @cached_property
    def passphrase(self) -> bytes:
        """A passphrase bundle, made on first use: scrypt takes about a second, and the fast loop needs none."""
        args = ("--passphrase-file", str(self.passphrase_file), "--no-models")
        return _export(self.root, self.source_db, self.data_dir, "phrase.age", *args)


def _sample_db(root: Path, name: str, seed: int) -> Path:
    sample = Sample(
        generation="basic",
        keys=sample_keys(random.Random(seed)),
        settings=default_settings(),
        blob_filler=500,
        seed=seed,
    )
    return build_user_data_dir(root / name, sample)


def _export(world_root: Path, db: Path, data_dir: Path, name: str, *options: str) -> bytes:
    out = world_root / name
    result = invoke(["--db", str(db), "--safe-storage", "basic", "export", "-o", str(out), *options], data_dir)
    assert result.exit_code == 0, result.stderr
    return out.read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("hostile")
    data_dir = root / "tool-data"
    source = _sample_db(root, "source", seed=11)
    target = _sample_db(root, "target", seed=12)
    secret, public = agefile.generate_identity()
    identity = root / "identity.txt"
    identity.write_text(secret + "\n")
    passphrase_file = root / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    x25519 = _export(root, source, data_dir, "x25519.age", "-r", public, "--only", "openai", "--no-models")
    armored = _export(root, source, data_dir, "armored.age", "-r", public, "--armor", "--only", "openai", "--no-models")
    document = api.open_bundle(x25519, identity_files=[str(identity)]).document_in_clear
    return World(root, data_dir, source, target, identity, passphrase_file, x25519, armored, document)


def without_time(document: dict) -> dict:
    """A bundle document without its `created` time: the world's bundles are exported a moment apart."""
    return {k: v for k, v in document.items() if k != "created"}


def header_end(binary: bytes) -> int:
    """Offset just past the MAC line ('--- ...\\n') of a binary age file."""
    mac = binary.index(b"\n--- ") + 1
    return binary.index(b"\n", mac) + 1


def bit_flips(data: bytes, start: int, stop: int):
    for index in range(start, stop):
        for bit in range(8):
            changed = bytearray(data)
            changed[index] ^= 1 << bit
            yield index, bytes(changed)


# --- the age testkit through the command line ----------------------------------------------


class ExpensiveCall:
    """Wraps a pyrage decrypt function and counts how often the precheck let a file reach it."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.fixture
def pyrage_calls(monkeypatch) -> dict[str, ExpensiveCall]:
    calls = {"x25519": ExpensiveCall(pyrage.decrypt), "scrypt": ExpensiveCall(pyrage.passphrase.decrypt)}
    monkeypatch.setattr(pyrage, "decrypt", calls["x25519"])
    monkeypatch.setattr(pyrage.passphrase, "decrypt", calls["scrypt"])
    return calls


def vector_cli_args(vector, folder: Path) -> list[str]:
    bundle_file = folder / "vector.age"
    bundle_file.write_bytes(vector.data)
    args = [str(bundle_file)]
    if vector.identities:
        ident = folder / "vector.key"
        ident.write_text("\n".join(vector.identities) + "\n")
        args += ["-i", str(ident)]
    if vector.passphrases:
        phrase = folder / "vector.pass"
        phrase.write_text(vector.passphrases[0] + "\n")
        args += ["--passphrase-file", str(phrase)]
    return args


EXPECTED_VECTOR_EXIT = {
    "success": {int(Exit.BUNDLE)},  # opens, but holds no cursor-byok document
    "no match": {int(Exit.BUNDLE_AUTH)},
    "HMAC failure": {int(Exit.BUNDLE)},
    "payload failure": {int(Exit.BUNDLE)},
    "header failure": {int(Exit.BUNDLE)},
    "armor failure": {int(Exit.BUNDLE)},
}


@pytest.mark.parametrize("path", VECTOR_PATHS, ids=lambda p: p.name)
def test_testkit_vector_is_refused_by_import_and_list(path, world, tmp_path, pyrage_calls):
    vector = load_vector(path)
    args = vector_cli_args(vector, tmp_path)
    before = db_state(world.target_db)
    for command in (["--db", str(world.target_db), "--safe-storage", "basic", "import", "--yes"], ["list", "--bundle"]):
        result = invoke([*command, *args], world.data_dir)
        assert_one_line_error(result.stdout, result.stderr, result.exit_code, EXPECTED_VECTOR_EXIT[vector.expect])
        assert result.stdout == ""
    assert db_state(world.target_db) == before
    if vector.expect in ("header failure", "armor failure"):
        # Refused by the cheap header check: neither X25519 nor scrypt work was done.
        assert pyrage_calls["x25519"].calls == pyrage_calls["scrypt"].calls == 0


# --- every bit flip, truncation and appended byte of real bundles -------------------------


def assert_refused_by_open_bundle(data: bytes, **keys) -> BundleError:
    try:
        api.open_bundle(data, **keys)
    except BundleError as exc:  # BundleAuthError included; any other exception fails the test
        return exc
    pytest.fail("a damaged bundle was accepted")


@pytest.mark.slow
def test_the_unchanged_bundles_open(world):
    ident = {"identity_files": [str(world.identity)]}
    assert without_time(api.open_bundle(world.armored, **ident).document_in_clear) == without_time(world.document)
    phrase_doc = api.open_bundle(world.passphrase, passphrases=[PASSPHRASE]).document_in_clear
    assert phrase_doc["profile"]["providers"]["openai"] == world.document["profile"]["providers"]["openai"]
    assert world.document["profile"]["providers"]["openai"]["key"].startswith("sk-proj-")


@pytest.mark.slow
def test_every_bit_flip_of_an_x25519_bundle_is_refused(world):
    ident = {"identity_files": [str(world.identity)]}
    kinds = {BundleError: 0, BundleAuthError: 0}
    for _, changed in bit_flips(world.x25519, 0, len(world.x25519)):
        kinds[type(assert_refused_by_open_bundle(changed, **ident))] += 1
    assert sum(kinds.values()) == 8 * len(world.x25519)
    assert kinds[BundleAuthError] > 0  # flips in the recipient stanza: no identity matches any more


@pytest.mark.slow
def test_every_bit_flip_of_an_armored_bundle_is_refused_or_only_touches_outer_whitespace(world):
    ident = {"identity_files": [str(world.identity)]}
    harmless = 0
    for _, changed in bit_flips(world.armored, 0, len(world.armored)):
        try:
            opened = api.open_bundle(changed, **ident).document_in_clear
        except BundleError:
            continue
        # The armor may be surrounded by whitespace; flipping the final newline into
        # another whitespace byte changes nothing inside.
        assert changed.strip() == world.armored.strip() and without_time(opened) == without_time(world.document)
        harmless += 1
    assert harmless <= 8


def test_every_truncation_and_appended_byte_is_refused(world):
    ident = {"identity_files": [str(world.identity)]}
    for length in range(len(world.x25519)):
        assert_refused_by_open_bundle(world.x25519[:length], **ident)
    for length in range(len(world.armored) - 1):  # only the final newline may go (age allows it)
        assert_refused_by_open_bundle(world.armored[:length], **ident)
    for extra in (b"\x00", b"\n", b"A", b"\xff", b"-"):
        assert_refused_by_open_bundle(world.x25519 + extra, **ident)
        if not extra.isspace():
            assert_refused_by_open_bundle(world.armored + extra, **ident)


def _one_per_line(reached: list[tuple[int, bytes]], data: bytes) -> list[bytes]:
    """One flip per header line that still needs scrypt: the cheapest (lowest work factor) of each."""
    picked: dict[int, tuple[int, bytes]] = {}
    for index, changed in reached:
        line = data.count(b"\n", 0, index)
        cost = agefile.precheck(changed).scrypt_work_factor
        if line not in picked or cost < picked[line][0]:
            picked[line] = (cost, changed)
    return [changed for _, changed in picked.values()]


@pytest.mark.slow
def test_passphrase_bundle_header_flips_are_refused_and_most_before_scrypt(world, pyrage_calls):
    """All header flips; scrypt (about a second each) runs only for one flip per header line."""
    data = world.passphrase
    assert agefile.precheck(data).passphrase_only
    keys = {"passphrases": [PASSPHRASE]}
    reached = []
    for index, changed in bit_flips(data, 0, header_end(data)):
        try:
            still_scrypt = agefile.precheck(changed).passphrase_only
        except BundleError:
            still_scrypt = False
        if still_scrypt:
            reached.append((index, changed))
        else:  # e.g. 'scrypt' flipped to 'rcrypt' is a recipient stanza: no passphrase work either
            assert_refused_by_open_bundle(changed, **keys)
    assert pyrage_calls["scrypt"].calls == 0
    assert 0 < len(reached) < 8 * header_end(data)
    sample = _one_per_line(reached, data)
    assert len(sample) == 3  # the stanza line, its body line and the MAC line
    for changed in sample:
        assert_refused_by_open_bundle(changed, **keys)
    assert pyrage_calls["scrypt"].calls == len(sample)


@pytest.mark.slow
def test_passphrase_bundle_body_damage_is_refused(world):
    data, keys = world.passphrase, {"passphrases": [PASSPHRASE]}
    start = header_end(data)
    nonce_flip = bytearray(data)
    nonce_flip[start] ^= 0x01
    # Tag flips and truncations are covered byte by byte on the X25519 bundle (same payload
    # format); here the payload nonce and trailing data, each costing one scrypt run.
    for changed in (bytes(nonce_flip), data + b"\x00"):
        assert_refused_by_open_bundle(changed, **keys)


@pytest.mark.slow
def test_damaged_bundles_through_the_real_cli(world, tmp_path):
    x = world.x25519
    end = header_end(x)
    cases = {
        "stanza-flip": x[:30] + bytes([x[30] ^ 0x04]) + x[31:],
        "mac-flip": x[: end - 5] + bytes([x[end - 5] ^ 0x01]) + x[end - 4 :],
        "payload-flip": x[:-20] + bytes([x[-20] ^ 0x10]) + x[-19:],
        "truncated": x[: (end + len(x)) // 2],
        "armor-flip": world.armored[:80] + bytes([world.armored[80] ^ 0x02]) + world.armored[81:],
    }
    env = subprocess_env(world.data_dir)
    before = db_state(world.target_db)
    for name, data in cases.items():
        path = tmp_path / f"{name}.age"
        path.write_bytes(data)
        for command in (
            ["--db", str(world.target_db), "--safe-storage", "basic", "import", str(path), "--yes"],
            ["list", "--bundle", str(path)],
        ):
            proc = subprocess.run(
                [sys.executable, "-m", "cursor_byok", *command, "-i", str(world.identity)],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            expected = {int(Exit.BUNDLE), int(Exit.BUNDLE_AUTH)}
            assert_one_line_error(proc.stdout, proc.stderr, proc.returncode, expected)
    assert db_state(world.target_db) == before


# --- property tests: the parsers this project owns ---------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
DEEP = "[" * 50_000


def only_value_error(text: str) -> bytes | None:
    try:
        return ss.decode_buffer_json(text)
    except ValueError:
        return None


@FUZZ
@given(st.text(max_size=300))
@example(DEEP)
@example('{"type":"Buffer","data":' + DEEP + "}")
@example('{"type":"Buffer","data":[1e999]}')
@example('{"type":"Buffer","data":[' + "9" * 5000 + "]}")
def test_buffer_json_decoder_only_raises_value_error_on_any_text(text):
    only_value_error(text)


BUFFER_ITEMS = st.integers(-3, 300) | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=3) | st.none()


@pytest.mark.slow
@FUZZ
@given(
    st.dictionaries(st.sampled_from(["type", "data", "extra"]), JSON_VALUES, max_size=3)
    | st.fixed_dictionaries({"type": st.just("Buffer"), "data": st.lists(BUFFER_ITEMS, max_size=20)}),
    st.sampled_from([(",", ":"), (", ", ": ")]),
)
def test_buffer_json_decoder_accepts_exactly_lists_of_byte_values(obj, separators):
    text = json.dumps(obj, separators=separators)
    decoded = only_value_error(text)
    data = obj.get("data")
    is_buffer = (
        obj.get("type") == "Buffer" and isinstance(data, list) and all(type(b) is int and 0 <= b <= 255 for b in data)
    )
    assert (decoded is not None) == is_buffer
    if decoded is not None:
        assert decoded == bytes(data)
        assert ss.decode_buffer_json(ss.encode_buffer_json(decoded)) == decoded


# precheck is fuzzed in tests/bundle/test_age_envelope.py with random and mutated bytes; what it lacks is the
# positive side: every well-formed header, grease stanzas included, is read exactly.


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")


def _body(raw: bytes) -> bytes:
    text = _b64(raw)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)] or [b""]
    if len(lines[-1]) == 64:
        lines.append(b"")
    return b"\n".join(lines) + b"\n"


VCHAR_WORD = st.binary(min_size=1, max_size=12).map(lambda b: bytes(0x21 + x % 94 for x in b))


@st.composite
def stanzas(draw):
    kind = draw(st.sampled_from(["X25519", "grease", "scrypt"]))
    if kind == "X25519":
        seed = draw(st.binary(min_size=32, max_size=32))
        share = x25519.X25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()  # never low-order
        return "X25519", None, b"-> X25519 " + _b64(share) + b"\n" + _body(draw(st.binary(min_size=32, max_size=32)))
    if kind == "scrypt":
        factor = draw(st.integers(1, 40))
        salt = draw(st.binary(min_size=16, max_size=16))
        line = b"-> scrypt " + _b64(salt) + b" " + str(factor).encode() + b"\n"
        return "scrypt", factor, line + _body(draw(st.binary(min_size=32, max_size=32)))
    words = draw(st.lists(VCHAR_WORD, min_size=1, max_size=4))
    assume(words[0] not in (b"X25519", b"scrypt"))
    return words[0].decode(), None, b"-> " + b" ".join(words) + b"\n" + _body(draw(st.binary(max_size=150)))


def _armor(binary: bytes) -> bytes:
    text = base64.b64encode(binary)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"-----BEGIN AGE ENCRYPTED FILE-----\n" + b"\n".join(lines) + b"\n-----END AGE ENCRYPTED FILE-----\n"


@FUZZ
@given(st.lists(stanzas(), min_size=1, max_size=4), st.binary(min_size=16, max_size=80), st.booleans(), st.data())
def test_precheck_reads_every_well_formed_header_exactly(parts, payload, armored, data):
    mac = data.draw(st.binary(min_size=32, max_size=32))
    binary = b"age-encryption.org/v1\n" + b"".join(p[2] for p in parts) + b"--- " + _b64(mac) + b"\n" + payload
    # precheck deliberately refuses a binary file with the armor's BEGIN line in its first 4 KiB
    # (a pasted armor after junk); random ciphertext never holds those 34 bytes.
    assume(b"-----BEGIN AGE ENCRYPTED FILE-----" not in binary)
    file = _armor(binary) if armored else binary
    types = tuple(p[0] for p in parts)
    factors = [p[1] for p in parts if p[0] == "scrypt"]
    valid = not factors or (types == ("scrypt",) and factors[0] <= agefile.MAX_WORK_FACTOR)
    if not valid:
        with pytest.raises(BundleError):
            agefile.precheck(file)
        return
    header = agefile.precheck(file)
    assert header.stanza_types == types and header.armored is armored
    assert header.scrypt_work_factor == (factors[0] if factors else None)
    assert header.passphrase_only is bool(factors)


# --- the settings-blob writer keeps what is not ours -------------------------------------------

BYOK_TOP = {path[0] for path in blob_paths().values()}
OTHER_NAMES = st.text(min_size=1, max_size=12).filter(lambda n: n not in BYOK_TOP)
WANTED_FIELDS = {
    "openai.enabled": st.booleans(),
    "openai.base_url": st.none() | st.just("http://localhost:11434/v1"),
    "anthropic.enabled": st.booleans(),
    "azure.deployment": st.just("gpt-4o-prod"),
    "azure.key": st.just(Secret("0123456789abcdef0123456789abcdef")),
    "bedrock.region": st.just("eu-west-1"),
    "bedrock.secret_key": st.none() | st.just(Secret("a" * 40)),
    "models.user_added": st.lists(st.sampled_from(["llama-3.1-70b", "qwen", "é✓"]), max_size=3).map(tuple),
    "models.selected.composer": st.just("claude-sonnet-4"),
}


@st.composite
def blob_texts(draw):
    """A settings blob: foreign members (duplicates allowed) mixed with BYOK ones, in any spacing."""
    members = draw(st.lists(st.tuples(OTHER_NAMES, JSON_VALUES), max_size=6))
    byok = draw(st.lists(st.sampled_from(sorted(BYOK_TOP)), max_size=3, unique=True))
    for name in byok:
        value = (
            draw(st.dictionaries(st.text(max_size=6), JSON_SCALARS, max_size=3))
            if name.endswith(("State", "Settings"))
            else draw(JSON_SCALARS)
        )
        members.insert(draw(st.integers(0, len(members))), (name, value))
    gap = draw(st.sampled_from(["", " ", "\n  "]))
    ascii_only = draw(st.booleans())
    parts = [
        f"{gap}{json.dumps(n, ensure_ascii=ascii_only)}:{gap}{json.dumps(v, ensure_ascii=ascii_only)}"
        for n, v in members
    ]
    return "{" + ",".join(parts) + gap + "}"


@pytest.mark.slow
@FUZZ
@given(blob_texts(), st.fixed_dictionaries({}, optional=WANTED_FIELDS))
def test_row_writer_keeps_every_foreign_top_level_member_byte_identical(text, wanted):
    rows = {BLOB_KEY: text}
    try:
        writes = RowWriter(rows, "plaintext").writes(wanted)
    except blobpatch.PatchError:
        pytest.fail("a well-formed blob must be patchable")
    except Exception as exc:  # BlobUnpatchable: only when a BYOK member is not an object
        assert type(exc).__name__ == "BlobUnpatchable"
        return
    new_text = next((w.value for w in writes if w.key == BLOB_KEY), text)

    def foreign(blob: str) -> list[tuple[str, str]]:
        found, _ = blobpatch.members(blob, blob.index("{"))
        return [(name, blob[start:end]) for name, start, end in found if name not in BYOK_TOP]

    assert foreign(new_text) == foreign(text)
    assert isinstance(json.loads(new_text), dict)  # still one JSON object


# --- the bundle document: arbitrary JSON, and the places a document flows to --------------------

PROVIDER_ENTRIES = st.dictionaries(
    st.sampled_from(["key", "enabled", "base_url", "deployment", "region", "access_key", "secret_key", "x"]),
    JSON_SCALARS | st.sampled_from(["sk-proj-abcDEF0123456789abcdT3BlbkFJxyz", "http://localhost:1234/v1"]),
    max_size=4,
)
NEAR_DOCUMENTS = st.fixed_dictionaries(
    {
        "format": st.sampled_from([bundle.FORMAT, "other"]),
        "version": st.sampled_from([1, 1, 1, 0, 2, True, "1", None]),
        "profile": st.fixed_dictionaries(
            {},
            optional={
                "providers": st.dictionaries(
                    st.sampled_from([*registry().names, "mistral"]), PROVIDER_ENTRIES, max_size=3
                )
                | JSON_VALUES,
                "extra_secrets": st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3),
                "models": st.fixed_dictionaries(
                    {},
                    optional={
                        "user_added": st.lists(st.text(max_size=8), max_size=3) | JSON_SCALARS,
                        "enabled": st.lists(st.text(max_size=8), max_size=3),
                        "selected": st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=2),
                    },
                )
                | JSON_VALUES,
            },
        )
        | JSON_VALUES,
    }
)
EMPTY_TARGET = read_profile({BLOB_KEY: json.dumps(default_settings())})


@pytest.mark.slow
@FUZZ
@given(JSON_VALUES | NEAR_DOCUMENTS)
@example({"format": bundle.FORMAT, "version": 1, "profile": {"models": {"selected": {"a\x1b[2J": "m"}}}})
def test_bundle_documents_are_refused_only_with_bundle_error_and_render_safely(obj):
    try:
        doc = bundle.decode(json.dumps(obj).encode())
        fields = bundle.to_fields(doc)
    except BundleError as exc:
        assert "\x1b" not in str(exc) and "\n" not in str(exc)
        return
    # What `list --bundle` and `import --dry-run` do with an accepted document must work too.
    shown = bundle_listing(bundle.to_profile(doc), doc, path="b.age").to_json()
    printed = profile_text(shown) + plan_text(diff(EMPTY_TARGET, fields, on_conflict="replace"))
    assert not any(ch in printed for ch in "\x1b\x9b\x07")
    for value in fields.values():
        if isinstance(value, Secret):
            assert len(value.reveal()) < 20 or value.reveal() not in printed


# --- team manifests ---------------------------------------------------------------------------

TOML_SCALARS = (
    st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=15)
    | st.sampled_from(["env:OPENAI_KEY", "file:key.txt", "prompt", "cmd:pass show k", "file:~nobody-here/k", ""])
)
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON strings are TOML basic strings (\\u escapes included)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


TABLE_NAMES = st.sampled_from([*registry().names, "models", "openai.extra", "models.select"])
FIELD_NAMES = st.sampled_from(
    [
        "key",
        "base_url",
        "deployment",
        "region",
        "enabled",
        "access_key",
        "secret_key",
        "add",
        "remove",
        "enable",
        "disable",
        "select",
        "composer",
        "version",
        "bogus",
    ]
)


@st.composite
def manifest_texts(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(f"version = {toml_value(draw(st.sampled_from([1, 1, 2, 0, '1', True])))}")
    for table in draw(st.lists(TABLE_NAMES, max_size=3, unique=True)):
        lines.append(f"[{table}]")
        for name in draw(st.lists(FIELD_NAMES, max_size=4, unique=True)):
            lines.append(f"{name} = {toml_value(draw(TOML_VALUES))}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@FUZZ
@given(manifest_texts() | st.text(max_size=200))
@example('version = 1\n[openai]\nkey = "file:a\\u0000b"\n')
@example('version = 1\n[openai]\nkey = "cmd:x\\u0000"\n')
@example("a = " + "[" * 5000)
@example("a = " + "{b = " * 5000)
def test_manifest_reader_raises_only_input_error(text):
    try:
        manifest.parse(text, Path("team.toml"))
    except InputError as exc:
        assert "Traceback" not in str(exc)


@FUZZ
@given(
    kind=st.sampled_from(["file:", "env:"]),
    lead=st.sampled_from(["", "~", "./"]),
    rest=st.text(max_size=20).filter(lambda t: "/" not in t and ".." not in t),
)
@example(kind="file:", lead="~", rest="nobody-here-at-all/k")
@example(kind="file:", lead="", rest="a\x00b")
def test_reading_a_key_source_raises_only_input_error(tmp_path_factory, kind, lead, rest):
    base = tmp_path_factory.getbasetemp() / "sources"
    base.mkdir(exist_ok=True)
    (base / "k").write_text("sk-proj-fromfile\n")
    try:
        onboard.read_source(kind + lead + rest, "manifest team.toml: [openai].key", base_dir=base, env={})
    except InputError:
        pass


# --- damaged databases through list, import --dry-run and import ------------------------------


def _set_rows(db: Path, rows: dict) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.executemany("INSERT OR REPLACE INTO ItemTable VALUES (?, ?)", list(rows.items()))
        conn.commit()
    finally:
        conn.close()


def _sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _value(db: Path, key: str):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT value FROM ItemTable WHERE key = ?", (key,)).fetchone()[0]
    finally:
        conn.close()


def _rows_as_bytes(db: Path, *keys: str) -> None:
    _set_rows(db, {k: _value(db, k).encode() for k in keys})


def _big_blob(db: Path) -> None:
    doc = json.loads(_value(db, BLOB_KEY))
    doc["reactiveCacheHuge"] = "x" * (6 << 20)  # about 6 MB, like a long-lived install
    _set_rows(db, {BLOB_KEY: json.dumps(doc, separators=(",", ":"))})


OPENAI_ROW = "secret://cursorAuth/openAIKey"
CLAUDE_ROW = "secret://cursorAuth/claudeKey"
OK, NOT_CURSOR = int(Exit.OK), int(Exit.NOT_A_CURSOR_DB)
LISTED_UNDECRYPTABLE = int(Exit.SAFE_STORAGE)  # `list` prints its document and exits 7 for keys it cannot read

# name -> (damage, exit of list, of import --dry-run, of import). `import` may write only
# where its expected exit is 0; everywhere else the database must not change.
DAMAGE = {
    "empty-file": (lambda db: db.write_bytes(b""), NOT_CURSOR, NOT_CURSOR, NOT_CURSOR),
    "text-file": (lambda db: db.write_text("not sqlite\n" * 100), NOT_CURSOR, NOT_CURSOR, NOT_CURSOR),
    "truncated-header": (lambda db: db.write_bytes(db.read_bytes()[:60]), NOT_CURSOR, NOT_CURSOR, NOT_CURSOR),
    "truncated-half": (
        lambda db: db.write_bytes(db.read_bytes()[: db.stat().st_size // 2]),
        NOT_CURSOR,
        NOT_CURSOR,
        NOT_CURSOR,
    ),
    "last-page-cut": (lambda db: db.write_bytes(db.read_bytes()[:-4096]), NOT_CURSOR, NOT_CURSOR, NOT_CURSOR),
    # Every global database up to Cursor 0.42 looks like this: a Cursor database all the same.
    "no-cursorDiskKV": (lambda db: _sql(db, "DROP TABLE cursorDiskKV"), OK, OK, OK),
    "no-ItemTable": (lambda db: _sql(db, "DROP TABLE ItemTable"), NOT_CURSOR, NOT_CURSOR, NOT_CURSOR),
    "wrong-columns": (
        lambda db: _sql(db, "DROP TABLE ItemTable", "CREATE TABLE ItemTable (k TEXT, v BLOB)"),
        NOT_CURSOR,
        NOT_CURSOR,
        NOT_CURSOR,
    ),
    "key-not-unique": (
        lambda db: _sql(
            db,
            "ALTER TABLE ItemTable RENAME TO old",
            "CREATE TABLE ItemTable (key TEXT, value BLOB)",
            "INSERT INTO ItemTable SELECT * FROM old",
            "DROP TABLE old",
        ),
        OK,
        OK,
        NOT_CURSOR,
    ),
    "blob-as-bytes": (lambda db: _rows_as_bytes(db, BLOB_KEY), OK, OK, OK),
    "key-rows-as-bytes": (lambda db: _rows_as_bytes(db, OPENAI_ROW, CLAUDE_ROW), OK, OK, OK),
    "blob-invalid-utf8": (
        lambda db: _set_rows(db, {BLOB_KEY: b'{"useOpenAIKey":true,"x":"\xff"}'}),
        OK,
        OK,
        NOT_CURSOR,
    ),
    "key-invalid-utf8": (
        lambda db: _set_rows(db, {OPENAI_ROW: b"\xff\xfe", "cursorAuth/googleKey": b"AIza\xff"}),
        LISTED_UNDECRYPTABLE,
        OK,
        OK,
    ),
    "blob-null-key-int": (
        lambda db: _set_rows(db, {BLOB_KEY: None, OPENAI_ROW: 12345}),
        LISTED_UNDECRYPTABLE,
        OK,
        NOT_CURSOR,
    ),
    "blob-nested-too-deep": (lambda db: _set_rows(db, {BLOB_KEY: '{"a":' + DEEP + "}"}), OK, OK, NOT_CURSOR),
    "key-nested-too-deep": (lambda db: _set_rows(db, {OPENAI_ROW: DEEP}), LISTED_UNDECRYPTABLE, OK, OK),
    "blob-6MB": (_big_blob, OK, OK, OK),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_database_through_the_cli(case, make_sample_dir, tmp_path, world):
    damage, list_exit, dry_exit, import_exit = DAMAGE[case]
    sample = make_sample_dir("basic", seed=21)
    db = sample.db
    damage(db)
    bundle_file = tmp_path / "in.age"
    bundle_file.write_bytes(world.x25519)
    group = ["--db", str(db), "--safe-storage", "basic"]
    bundle_args = [str(bundle_file), "-i", str(world.identity), "--on-conflict", "replace"]
    data_dir = tmp_path / "tool-data"
    for args, expected in (
        (["list", "--json"], list_exit),
        (["import", "--dry-run", *bundle_args], dry_exit),
        (["import", "--yes", *bundle_args], import_exit),
    ):
        before = db_state(db)
        result = invoke([*group, *args], data_dir)
        assert "Traceback" not in result.stdout + result.stderr
        if expected in (OK, LISTED_UNDECRYPTABLE):  # list exits 7 for keys it cannot read, with its document
            assert result.exit_code == expected, result.stderr
            for line in result.stderr.splitlines():
                assert line.startswith(("note: ", "warning: ", "applied: ")), line
            if args[0] == "list":
                assert json.loads(result.stdout)["db"] == str(db)
        else:
            assert_one_line_error(result.stdout, result.stderr, result.exit_code, {expected})
            assert db_state(db) == before
    if import_exit == OK:  # the written rows are text again and read back
        assert isinstance(_value(db, OPENAI_ROW), str)
        listed = invoke([*group, "list", "--json"], data_dir)
        key = json.loads(listed.stdout)["providers"]["openai"]["key"]
        assert key["fingerprint"] == Secret(world.document["profile"]["providers"]["openai"]["key"]).fingerprint


def test_damaged_database_notes_say_what_was_read(make_sample_dir, tmp_path):
    sample = make_sample_dir("basic", seed=22)
    _set_rows(sample.db, {OPENAI_ROW: DEEP, BLOB_KEY: b"\xff"})
    result = invoke(["--db", str(sample.db), "--safe-storage", "basic", "list", "--json"], tmp_path)
    doc = json.loads(result.stdout)
    assert doc["providers"]["openai"]["key"]["storage"] == "undecryptable"
    assert any("settings blob is not a JSON object" in note for note in doc["notes"])
    assert doc["providers"]["anthropic"]["key"]["masked"].startswith("sk-ant-api03-")  # the rest still reads


@pytest.mark.slow
@pytest.mark.parametrize("case", ["truncated-half", "blob-invalid-utf8"])
def test_damaged_database_in_a_real_process(case, make_sample_dir, tmp_path, world):
    damage, *_ = DAMAGE[case]
    sample = make_sample_dir("basic", seed=23)
    damage(sample.db)
    before = db_state(sample.db)
    bundle_file = tmp_path / "in.age"
    bundle_file.write_bytes(world.x25519)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cursor_byok",
            "--db",
            str(sample.db),
            "--safe-storage",
            "basic",
            "import",
            str(bundle_file),
            "-i",
            str(world.identity),
            "--yes",
            "--on-conflict",
            "replace",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(tmp_path / "data"),
        timeout=60,
    )
    assert_one_line_error(proc.stdout, proc.stderr, proc.returncode, {NOT_CURSOR})
    assert proc.returncode in DOCUMENTED_EXITS
    assert db_state(sample.db) == before
