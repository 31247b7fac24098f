"""Secret hygiene: planted canary keys never show up where they should not.

Every command runs as a real subprocess against sample installs whose keys
are canaries: made-up values in each provider's real format with a unique
marker inside. While it runs, /proc is polled for the command lines of every
process in its session; afterwards stdout, stderr and every file under the
test's folder (data dir, TMPDIR, HOME, outputs, leftovers of killed runs) are
searched for each canary in plain, base64, UTF-16 and Buffer-JSON byte-list
form. The only places allowed to hold one:

- the databases and their sidecars (that is where Cursor keeps them) and the
  input files the test wrote (key files, passphrase files);
- stdout of `list --reveal`, which asked for them;
- undo journals, and only for keys the database already held in plain text
  (legacy rows, Azure/Bedrock in the settings blob): a journal keeps old row
  values as they were (see docs/safety.md).

Bundles are scanned too: they must hold the keys encrypted only.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import pytest
from click.testing import CliRunner
from helpers import crash_runner
from helpers.transfer import SAMPLE_ENDPOINTS

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.cli import Exit, main
from cursor_byok.cursor.rows import PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.providers import registry
from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, make_key

LINUX_ONLY = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
pytestmark = [LINUX_ONLY, pytest.mark.slow]  # a campaign: about 55 real CLI processes watched through /proc

DB_FILE_NAMES = ("state.vscdb", "state.vscdb-wal", "state.vscdb-shm", "state.vscdb-journal", "state.vscdb.backup")
PASSPHRASE = "canary-scan passphrase 42"
MACHINE_SECRETS = {"src": "machine-secret-of-src", "dst": "machine-secret-of-dst"}

# --- canaries --------------------------------------------------------------------------------

B64URL = string.ascii_letters + string.digits + "-_"
MARKER_ALPHABETS = {  # the marker must fit the key's own alphabet so the key keeps its format
    "openai": B64URL,
    "anthropic": B64URL,
    "google": B64URL,
    "azure": "0123456789abcdef",
    "aws_access": string.ascii_uppercase + "234567",
    "aws_secret": string.ascii_letters + string.digits,
    "openrouter": "0123456789abcdef",
}
MARKER_OFFSET = {"openai": 8, "anthropic": 13, "google": 4, "aws_access": 4, "openrouter": 9}
FIELD_KINDS = {
    "openai.key": "openai",
    "anthropic.key": "anthropic",
    "google.key": "google",
    "azure.key": "azure",
    "bedrock.access_key": "aws_access",
    "bedrock.secret_key": "aws_secret",
}


def canary(kind: str, rng: random.Random) -> tuple[str, str]:
    """(key, marker): a made-up key of `kind` with a 12-character random marker spliced in."""
    marker = "".join(rng.choice(MARKER_ALPHABETS[kind]) for _ in range(12))
    key = make_key(kind, rng)
    at = MARKER_OFFSET.get(kind, 0)  # after the vendor prefix
    return key[:at] + marker + key[at + len(marker) :], marker


def needles(text: str) -> list[bytes]:
    """The encodings a leak could take: plain, base64, UTF-16, a Buffer JSON byte list."""
    raw = text.encode()
    return [raw, base64.b64encode(raw), text.encode("utf-16-le"), ",".join(map(str, raw)).encode()]


@dataclass
class Canaries:
    values: dict[str, str] = field(default_factory=dict)  # name -> key
    markers: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, kind: str, rng: random.Random) -> str:
        value, marker = canary(kind, rng)
        self.values[name], self.markers[name] = value, marker
        return value

    def found_in(self, blob: bytes) -> set[str]:
        hits = set()
        for name, value in self.values.items():
            if any(n in blob for n in needles(value) + needles(self.markers[name])):
                hits.add(name)
        return hits


# --- a lab: two sample installs full of canaries, and folders to scan ---------------------------


@dataclass
class Lab:
    root: Path
    generation: str
    canaries: Canaries
    plain_at_rest: set[str]  # canaries a database holds in plain text (legacy rows, settings blob)
    dbs: dict[str, Path]
    identity: Path
    recipient: str
    inputs: Path
    out: Path
    data: Path
    tmp: Path
    home: Path

    def group(self, which: str, secret: str | None = None) -> list[str]:
        opts = ["--user-data-dir", str(self.dbs[which].parents[2])]
        if self.generation == "plaintext":
            return opts + ["--safe-storage", "basic"]
        secret_file = self.inputs / f"machine-secret-{which}-{secret or 'right'}"
        secret_file.write_text((secret or MACHINE_SECRETS[which]) + "\n")
        return opts + [
            "--safe-storage",
            "password",
            "--safe-storage-password-file",
            str(secret_file),
            "--safe-storage-scheme",
            "linux",
        ]

    def input_file(self, name: str, text: str) -> Path:
        path = self.inputs / name
        path.write_text(text)
        return path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "CURSOR_BYOK_DATA_DIR": str(self.data),
            "LANG": "C.UTF-8",
        }
        return {**env, **(extra or {})}


def _install(lab_root: Path, name: str, generation: str, canaries: Canaries, rng) -> tuple[Path, set[str]]:
    keys = {f: canaries.add(f"{name}:{f}", kind, rng) for f, kind in FIELD_KINDS.items()}
    extras = {} if generation == "plaintext" else {"mistralKey": canaries.add(f"{name}:extra", "openrouter", rng)}
    sample = Sample(
        generation=generation,
        secret=MACHINE_SECRETS[name].encode(),
        keys=keys,
        extra_secrets=extras,
        settings=default_settings(),
        seed=rng.randrange(1 << 30),
    )
    db = build_user_data_dir(lab_root / f"{name}-cursor", sample)
    in_blob = {f"{name}:{f}" for f in ("azure.key", "bedrock.access_key", "bedrock.secret_key")}
    plain = {f"{name}:{f}" for f in keys} if generation == "plaintext" else in_blob
    return db, plain


@pytest.fixture(params=["v11"])
def lab(request, tmp_path) -> Lab:
    return make_lab(tmp_path, request.param)


def make_lab(root: Path, generation: str) -> Lab:
    rng = random.Random(secrets.randbits(64))
    canaries = Canaries()
    src, plain_src = _install(root, "src", generation, canaries, rng)
    dst, plain_dst = _install(root, "dst", generation, canaries, rng)
    folders = {name: root / name for name in ("inputs", "out", "tmp", "home")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)  # home: the autouse isolation made it already
    identity_text, recipient = agefile.generate_identity()
    identity = folders["inputs"] / "identity.txt"
    identity.write_text(identity_text + "\n")
    return Lab(
        root=root,
        generation=generation,
        canaries=canaries,
        plain_at_rest=plain_src | plain_dst,
        dbs={"src": src, "dst": dst},
        identity=identity,
        recipient=recipient,
        inputs=folders["inputs"],
        out=folders["out"],
        data=root / "tool-data",
        tmp=folders["tmp"],
        home=folders["home"],
    )


def export_in_process(lab: Lab, name: str, *options: str) -> Path:
    """A bundle of src made by `export` in this process (setup, not under scan)."""
    path = lab.out / name
    env = {"CURSOR_BYOK_DATA_DIR": str(lab.data), "CURSOR_STATE_DB": None, "CURSOR_USER_DATA_DIR": None}
    result = CliRunner().invoke(main, [*lab.group("src"), "export", "-o", str(path), *options], env=env)
    assert result.exit_code == 0, result.stderr
    return path


# --- running one command under watch -----------------------------------------------------------


@dataclass
class Watched:
    returncode: int
    stdout: bytes
    stderr: bytes
    cmdlines: set[bytes]
    samples_of_main: int


def _session_cmdlines(session: int) -> dict[int, bytes]:
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) != session:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                found[int(entry.name)] = fh.read()
        except (OSError, IndexError, ValueError):
            continue
    return found


def run_watched(args: list[str], env: dict[str, str], stdin: bytes, cwd: Path, cli: list[str] | None = None) -> Watched:
    """Run the CLI (or `cli`: the crash bootstrap) in its own session; poll /proc for its processes' command lines."""
    from helpers.children import fail_process

    proc = subprocess.Popen(
        [*(cli or [sys.executable, "-m", "cursor_byok"]), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    outputs: dict[str, tuple[bytes, bytes]] = {}
    talker = threading.Thread(target=lambda: outputs.setdefault("io", proc.communicate(stdin, timeout=120)))
    talker.start()
    cmdlines: set[bytes] = set()
    samples = 0
    while talker.is_alive():
        seen = _session_cmdlines(proc.pid)
        samples += proc.pid in seen and bool(seen[proc.pid])
        cmdlines.update(seen.values())
        time.sleep(0.003)
    talker.join(timeout=10)  # not alive: communicate returned, or timed out
    if "io" not in outputs:
        fail_process(proc, "still running after 120 s")
    out, err = outputs["io"]
    return Watched(proc.returncode, out, err, cmdlines, samples)


# --- scanning ----------------------------------------------------------------------------------


def journal_like(path: Path, lab: Lab) -> bool:
    """An undo journal, or the temp file of one that a killed run left."""
    return lab.data / "journals" in path.parents


def scan_files(lab: Lab) -> dict[str, set[str]]:
    """Relative path -> canaries found, for every file a command could have written."""
    hits = {}
    for path in sorted(p for p in lab.root.rglob("*") if p.is_file() or p.is_symlink()):
        if path.is_symlink() or lab.inputs in path.parents or path.name in DB_FILE_NAMES:
            continue
        found = lab.canaries.found_in(path.read_bytes())
        if found:
            hits[str(path.relative_to(lab.root))] = found
    return hits


def assert_no_leak(lab: Lab, watched: Watched, *, revealed: bool = False, note: str = "") -> dict[str, set[str]]:
    """Fail on any canary outside the allowed places; return the journal findings for the caller."""
    where = f" ({note})" if note else ""
    assert watched.samples_of_main > 0, "the /proc poll never saw the command running"
    for cmdline in watched.cmdlines:
        assert not lab.canaries.found_in(cmdline), f"a canary in a process command line{where}: {cmdline!r}"
    assert not lab.canaries.found_in(watched.stderr), f"a canary on stderr{where}"
    if not revealed:
        assert not lab.canaries.found_in(watched.stdout), f"a canary on stdout{where}"
    journals = {}
    for rel, names in scan_files(lab).items():
        if journal_like(lab.root / rel, lab):
            leaked = names - lab.plain_at_rest
            assert not leaked, f"journal {rel} holds keys that were encrypted at rest: {sorted(leaked)}{where}"
            journals[rel] = names
        else:
            pytest.fail(f"{rel} holds canaries {sorted(names)}{where}")
    return journals


# --- the commands --------------------------------------------------------------------------------

BUNDLE_OK = {int(Exit.OK)}
CHECKS = {int(Exit.OK), int(Exit.FINDINGS)}


@dataclass
class Scenario:
    """One command: its arguments (built from the lab), extra environment, stdin, and what it must exit with."""

    args: Callable[[Lab], list[str]]
    exits: set[int]
    env: Callable[[Lab], dict[str, str]] = lambda lab: {}
    stdin: Callable[[Lab], bytes] = lambda lab: b""
    revealed: bool = False
    during: Callable[[Lab], ContextManager] = lambda lab: nullcontext()


def _x25519_bundle(lab: Lab) -> Path:
    path = lab.out / "keys.age"
    if not path.exists():
        export_in_process(lab, "keys.age", "-r", lab.recipient)
    return path


def _passphrase_bundle(lab: Lab) -> Path:
    path = lab.out / "phrase.age"
    if not path.exists():
        export_in_process(lab, "phrase.age", "--passphrase-file", str(lab.input_file("pass", PASSPHRASE + "\n")))
    return path


def _import(lab: Lab, *extra: str) -> list[str]:
    return [*lab.group("dst"), "import", str(_x25519_bundle(lab)), "-i", str(lab.identity), *extra]


def _damaged_bundle(lab: Lab) -> Path:
    data = bytearray(_x25519_bundle(lab).read_bytes())
    data[-30] ^= 0x40
    path = lab.out / "damaged.age"
    path.write_bytes(bytes(data))
    return path


@contextmanager
def _write_lock(lab: Lab):
    """Another connection holds the write lock (BEGIN IMMEDIATE) on dst while the command runs."""
    conn = sqlite3.connect(lab.dbs["dst"], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _new_key(lab: Lab, name: str, kind: str) -> str:
    """A canary that enters through the command (env, file, stdin), not through the database."""
    if name not in lab.canaries.values:
        lab.canaries.add(name, kind, random.Random(secrets.randbits(64)))
    return lab.canaries.values[name]


def _manifest(lab: Lab, *, key_in_it: bool = False) -> Path:
    lab.input_file("anthropic.key", _new_key(lab, "manifest:anthropic", "anthropic") + "\n")
    lab.input_file("google.key", _new_key(lab, "manifest:google", "google") + "\n")
    openai = f'"{_new_key(lab, "manifest:openai", "openai")}"' if key_in_it else '"env:TEAM_OPENAI_KEY"'
    return lab.input_file(
        "team.toml",
        "version = 1\n"
        f'[openai]\nkey = {openai}\nbase_url = "http://localhost:11434/v1"\n'
        '[anthropic]\nkey = "file:anthropic.key"\n'
        '[google]\nkey = "cmd:cat google.key"\n'
        '[models]\nadd = ["llama-3.1-70b"]\nselect = { composer = "llama-3.1-70b" }\n',
    )


def _bedrock_stdin(lab: Lab) -> bytes:
    access = _new_key(lab, "stdin:bedrock.access_key", "aws_access")
    return f"{access}\n{_new_key(lab, 'stdin:bedrock.secret_key', 'aws_secret')}\n".encode()


SCENARIOS: dict[str, Scenario] = {
    # reading
    "where": Scenario(lambda lab: [*lab.group("src"), "where"], BUNDLE_OK),
    "where --json": Scenario(lambda lab: [*lab.group("src"), "where", "--json"], BUNDLE_OK),
    "list": Scenario(lambda lab: [*lab.group("src"), "list"], BUNDLE_OK),
    "list --json": Scenario(lambda lab: [*lab.group("src"), "list", "--json"], BUNDLE_OK),
    "list --reveal": Scenario(lambda lab: [*lab.group("src"), "list", "--reveal", "--json"], BUNDLE_OK, revealed=True),
    "list, wrong machine secret": Scenario(lambda lab: [*lab.group("src", "not-the-secret"), "list"], {0, 7}),
    "models list": Scenario(lambda lab: [*lab.group("src"), "models", "list", "--json"], BUNDLE_OK),
    "audit": Scenario(lambda lab: [*lab.group("src"), "audit"], CHECKS),
    "audit --json": Scenario(lambda lab: [*lab.group("src"), "audit", "--json"], CHECKS),
    "doctor": Scenario(lambda lab: [*lab.group("src"), "doctor"], CHECKS),
    "doctor --json": Scenario(lambda lab: [*lab.group("src"), "doctor", "--json"], CHECKS),
    # export and bundles
    "export -r": Scenario(
        lambda lab: [*lab.group("src"), "export", "-o", str(lab.out / "r.age"), "-r", lab.recipient], BUNDLE_OK
    ),
    "export --armor": Scenario(
        lambda lab: [*lab.group("src"), "export", "-a", "-o", str(lab.out / "a.age"), "-r", lab.recipient], BUNDLE_OK
    ),
    "export passphrase": Scenario(
        lambda lab: [
            *lab.group("src"),
            "export",
            "-o",
            str(lab.out / "p.age"),
            "--passphrase-file",
            str(lab.input_file("pass", PASSPHRASE + "\n")),
        ],
        BUNDLE_OK,
    ),
    "export to a pipe": Scenario(lambda lab: [*lab.group("src"), "export", "-o", "-", "-r", lab.recipient], BUNDLE_OK),
    "export over an existing file": Scenario(
        lambda lab: [*lab.group("src"), "export", "-o", str(_x25519_bundle(lab)), "-r", lab.recipient],
        {int(Exit.OUTPUT_REFUSED)},
    ),
    "export into a missing folder": Scenario(
        lambda lab: [*lab.group("src"), "export", "-o", str(lab.out / "no" / "x.age"), "-r", lab.recipient],
        {int(Exit.OUTPUT_REFUSED)},
    ),
    "list --bundle": Scenario(
        lambda lab: ["list", "--bundle", str(_x25519_bundle(lab)), "-i", str(lab.identity), "--json"], BUNDLE_OK
    ),
    "list --bundle, damaged": Scenario(
        lambda lab: ["list", "--bundle", str(_damaged_bundle(lab)), "-i", str(lab.identity)], {int(Exit.BUNDLE)}
    ),
    "list --bundle, wrong passphrase": Scenario(
        lambda lab: [
            "list",
            "--bundle",
            str(_passphrase_bundle(lab)),
            "--passphrase-env",
            "BUNDLE_PASSPHRASE",
        ],
        {int(Exit.BUNDLE_AUTH)},
        env=lambda lab: {"BUNDLE_PASSPHRASE": "not the passphrase at all"},
    ),
    "list --bundle, no identity": Scenario(
        lambda lab: ["list", "--bundle", str(_x25519_bundle(lab))], {int(Exit.BUNDLE_AUTH)}
    ),
    # importing
    "import --dry-run": Scenario(lambda lab: _import(lab, "--dry-run", "--on-conflict", "replace"), BUNDLE_OK),
    "import": Scenario(lambda lab: _import(lab, "--yes", "--on-conflict", "replace"), BUNDLE_OK),
    "import --json": Scenario(lambda lab: _import(lab, "--yes", "--on-conflict", "replace", "--json"), BUNDLE_OK),
    "import, conflict": Scenario(lambda lab: _import(lab, "--yes"), {int(Exit.CONFLICT)}),
    "import, damaged bundle": Scenario(
        lambda lab: [*lab.group("dst"), "import", str(_damaged_bundle(lab)), "-i", str(lab.identity), "--yes"],
        {int(Exit.BUNDLE)},
    ),
    "import, database busy": Scenario(
        lambda lab: _import(lab, "--yes", "--on-conflict", "replace"), {int(Exit.DB_BUSY)}, during=_write_lock
    ),
    "import, wrong machine secret": Scenario(
        lambda lab: [
            *lab.group("dst", "wrong"),
            "import",
            str(_x25519_bundle(lab)),
            "-i",
            str(lab.identity),
            "--yes",
            "--on-conflict",
            "replace",
        ],
        {int(Exit.SAFE_STORAGE), int(Exit.DECRYPT)},
    ),
    # set / unset / models / apply
    "set --key-env": Scenario(
        lambda lab: [*lab.group("dst"), "set", "openai", "--key-env", "NEW_OPENAI_KEY", "--yes"],
        BUNDLE_OK,
        env=lambda lab: {"NEW_OPENAI_KEY": _new_key(lab, "env:openai", "openai")},
    ),
    "set --key-file": Scenario(
        lambda lab: [
            *lab.group("dst"),
            "set",
            "anthropic",
            "--key-file",
            str(lab.input_file("k", _new_key(lab, "file:anthropic", "anthropic") + "\n")),
            "--yes",
        ],
        BUNDLE_OK,
    ),
    "set --key-stdin (bedrock)": Scenario(
        lambda lab: [*lab.group("dst"), "set", "bedrock", "--key-stdin", "--region", "eu-west-1", "--yes"],
        BUNDLE_OK,
        stdin=_bedrock_stdin,
    ),
    "set, key with a space": Scenario(
        lambda lab: [*lab.group("dst"), "set", "google", "--key-env", "BAD_KEY", "--yes"],
        {int(Exit.INPUT)},
        env=lambda lab: {
            "BAD_KEY": _new_key(lab, "env:bad", "google")[:20] + " " + lab.canaries.values["env:bad"][20:]
        },
    ),
    "set, database busy": Scenario(
        lambda lab: [*lab.group("dst"), "set", "google", "--key-env", "NEW_GOOGLE_KEY", "--yes"],
        {int(Exit.DB_BUSY)},
        env=lambda lab: {"NEW_GOOGLE_KEY": _new_key(lab, "env:google", "google")},
        during=_write_lock,
    ),
    "unset": Scenario(lambda lab: [*lab.group("dst"), "unset", "google", "--yes"], BUNDLE_OK),
    "models add": Scenario(lambda lab: [*lab.group("dst"), "models", "add", "qwen3-coder", "--yes"], BUNDLE_OK),
    "models select": Scenario(
        lambda lab: [*lab.group("dst"), "models", "select", "cmd-k", "qwen3-coder", "--yes"], BUNDLE_OK
    ),
    "apply": Scenario(
        lambda lab: [
            *lab.group("dst"),
            "apply",
            str(_manifest(lab)),
            "--yes",
            "--on-conflict",
            "replace",
            *SAMPLE_ENDPOINTS,
        ],
        BUNDLE_OK,
        env=lambda lab: {"TEAM_OPENAI_KEY": _new_key(lab, "manifest-env:openai", "openai")},
    ),
    "apply --dry-run --json": Scenario(
        lambda lab: [*lab.group("dst"), "apply", str(_manifest(lab)), "--dry-run", "--json"],
        BUNDLE_OK,
        env=lambda lab: {"TEAM_OPENAI_KEY": _new_key(lab, "manifest-env:openai", "openai")},
    ),
    "apply, key pasted into the manifest": Scenario(
        lambda lab: [*lab.group("dst"), "apply", str(_manifest(lab, key_in_it=True)), "--yes"], {int(Exit.INPUT)}
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_canary_escapes(name, lab):
    scenario = SCENARIOS[name]
    args = scenario.args(lab)
    env = lab.env(scenario.env(lab))
    stdin = scenario.stdin(lab)
    with scenario.during(lab):
        watched = run_watched(args, env, stdin, lab.root)
    assert watched.returncode in scenario.exits, watched.stderr.decode(errors="replace")
    assert b"Traceback" not in watched.stderr
    assert_no_leak(lab, watched, revealed=scenario.revealed, note=name)
    if scenario.revealed:  # it did print the keys it was asked to, so the scan would have seen them
        assert lab.canaries.found_in(watched.stdout) >= {"src:openai.key", "src:anthropic.key", "src:extra"}


def test_bundles_hold_no_plaintext_and_open_to_the_same_keys(lab):
    for name, opts in {"r.age": ["-r", lab.recipient], "a.age": ["-a", "-r", lab.recipient]}.items():
        watched = run_watched([*lab.group("src"), "export", "-o", str(lab.out / name), *opts], lab.env(), b"", lab.root)
        assert watched.returncode == 0
        data = (lab.out / name).read_bytes()
        assert not lab.canaries.found_in(data)
        opened = json.loads(agefile.decrypt(data, identities=agefile.load_identities(str(lab.identity))))
        assert opened["profile"]["providers"]["openai"]["key"] == lab.canaries.values["src:openai.key"]
    assert_no_leak(lab, watched)


def test_a_whole_session_leaves_journals_with_only_what_was_plain_at_rest(lab):
    """import, set, models add, undo in a row: journals hold the blob fields a write changed, and no other key."""
    journals: dict[str, set[str]] = {}
    steps = ["import", "set --key-env", "models add", "undo", "undo --list"]
    for step in steps:
        if step.startswith("undo"):
            args = [*lab.group("dst"), "undo", "--yes", *(["--list"] if step == "undo --list" else [])]
            watched = run_watched(args, lab.env(), b"", lab.root)
            assert watched.returncode == 0, watched.stderr
        else:
            scenario = SCENARIOS[step]
            watched = run_watched(scenario.args(lab), lab.env(scenario.env(lab)), b"", lab.root)
            assert watched.returncode == 0, watched.stderr
        journals.update(assert_no_leak(lab, watched, note=step))
    for path in (lab.root / rel for rel in journals):
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    # Documented in docs/safety.md: a journal keeps the old values of the settings fields a write
    # changes, so the Azure and Bedrock keys Cursor 2.x keeps in plain text in the blob appear
    # only where a write replaced them (dst's own, replaced by the import). src's keys, written
    # by the import, are never an old value here; keys encrypted at rest never appear.
    blob_keys = {f"dst:{f}" for f in ("azure.key", "bedrock.access_key", "bedrock.secret_key")}
    assert set().union(*journals.values()) == blob_keys


def test_legacy_plain_rows_end_up_in_the_journal_as_they_were(tmp_path):
    lab = make_lab(tmp_path, "plaintext")
    watched = run_watched(_import(lab, "--yes", "--on-conflict", "replace"), lab.env(), b"", lab.root)
    assert watched.returncode == 0, watched.stderr
    journals = assert_no_leak(lab, watched, note="plaintext import")
    held = set().union(*journals.values())
    assert {"dst:openai.key", "dst:anthropic.key", "dst:google.key"} <= held
    assert held <= lab.plain_at_rest
    rows = [
        PLAIN_PREFIX + registry().key_row_names["openai.key"],
        SECRET_PREFIX + registry().key_row_names["openai.key"],
    ]
    journal = json.loads((lab.root / next(iter(journals))).read_text())
    assert rows[0] in {r["key"] for r in journal["rows"]}


def _crash_point(lab: Lab, args: list[str], point: str) -> int:
    """The count of `point` among the crash points a run of `args` passes, found on a throwaway copy."""
    probe = lab.root.parent / f"{lab.root.name}-probe"
    shutil.copytree(lab.root, probe, symlinks=True)
    try:
        log = probe / "crash.log"
        probe_args = [a.replace(str(lab.root), str(probe)) for a in args]
        env = {k: v.replace(str(lab.root), str(probe)) for k, v in lab.env().items()}
        subprocess.run(
            [*crash_runner.command(None, log), *probe_args],
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        names = [line.split()[1] for line in log.read_text().splitlines()]
        return names.index(point) + 1
    finally:
        shutil.rmtree(probe, ignore_errors=True)


@pytest.mark.parametrize(
    "command, point",
    [("import", "file-fsync"), ("import", "sql-commit"), ("export", "file-fsync")],
    ids=["import-journal-written", "import-before-commit", "export-bundle-written"],
)
def test_a_killed_run_leaves_no_plaintext_behind(command, point, lab):
    """SIGKILL (an armed crash point) mid-write: leftovers are temp files; none holds a decrypted key."""
    if command == "import":
        args = _import(lab, "--yes", "--on-conflict", "replace")
    else:
        args = [*lab.group("src"), "export", "-o", str(lab.out / "k.age"), "-r", lab.recipient]
    at = _crash_point(lab, args, point)
    watched = run_watched(args, lab.env(), b"", lab.root, cli=crash_runner.command(at, None))
    assert watched.returncode == -9
    leftovers = [p for p in lab.root.rglob("*.tmp")] + list((lab.data / "journals").glob("*.json"))
    assert leftovers, "the kill should have left the written file behind"
    assert_no_leak(lab, watched, note=f"killed at {point}")


def wait_until_sleeping(pid: int) -> None:
    """Until the process sleeps in a timer (time.sleep): the --wait loop, after reading and planning."""
    deadline = time.monotonic() + 60
    while "nanosleep" not in Path(f"/proc/{pid}/wchan").read_text():
        assert time.monotonic() < deadline, "the command never reached its --wait loop"
        time.sleep(0.01)


def test_an_interrupted_wait_leaks_nothing(lab):
    """Ctrl-C while `import --wait` waits for a running Cursor: exit 130, nothing written, nothing leaked."""
    from helpers.children import default_signals

    lock = lab.dbs["dst"].parents[2] / "code.lock"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        lock.write_text(str(sleeper.pid))
        args = [sys.executable, "-m", "cursor_byok", *_import(lab, "--yes", "--on-conflict", "replace", "--wait", "30")]
        proc = subprocess.Popen(
            args,
            env=lab.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=lab.root,
            preexec_fn=default_signals,  # SIGINT must reach it even when the tests run with SIGINT ignored
        )
        wait_until_sleeping(proc.pid)  # in the --wait loop: read, planned, nothing written yet
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
        lock.unlink(missing_ok=True)
    assert proc.returncode == int(Exit.INTERRUPTED), err
    watched = Watched(proc.returncode, out, err, set(), 1)  # its command line is checked by the scenarios
    assert_no_leak(lab, watched, note="interrupted")
    assert not list(lab.data.rglob("*.json"))


def test_an_unexpected_error_with_debug_on_shows_a_traceback_without_keys(lab):
    """A real unexpected failure: undo of a journal whose rows lost their keys (hand-edited)."""
    first = run_watched(_import(lab, "--yes", "--on-conflict", "replace"), lab.env(), b"", lab.root)
    assert first.returncode == 0
    (journal,) = (lab.data / "journals").glob("*.json")
    doc = json.loads(journal.read_text())
    doc["rows"] = [{k: v for k, v in row.items() if k != "key"} for row in doc["rows"]]
    journal.write_text(json.dumps(doc))
    for debug in ("", "1"):
        env = lab.env({"CURSOR_BYOK_DEBUG": debug} if debug else {})
        watched = run_watched([*lab.group("dst"), "undo", "--yes"], env, b"", lab.root)
        if watched.returncode == int(Exit.FAILURE):  # unexpected: a traceback only when asked for
            assert (b"Traceback" in watched.stderr) == bool(debug), watched.stderr
        else:  # (if the journal reader learns to refuse such rows, it becomes a documented error)
            assert watched.returncode in {int(code) for code in Exit} - {0}
        assert_no_leak(lab, watched, note=f"undo of a damaged journal, debug={debug!r}")


def test_the_watch_sees_a_key_on_a_command_line(lab):
    """The /proc poll is not blind: a key passed as an argument (which no command asks for) is caught."""
    pasted = lab.canaries.values["src:openai.key"]
    watched = run_watched(["list", "--bundle", pasted], lab.env(), b"", lab.root)
    assert watched.returncode == int(Exit.INPUT)
    assert any("src:openai.key" in lab.canaries.found_in(c) for c in watched.cmdlines)
