"""Input that comes from someone else: oversized bundle headers, bundles that name Cursor's own rows,
manifests reviewed before anything runs, and reads that are bounded.

Real bundles (pyrage), real sample databases, real subprocesses for `cmd:`
sources; pyrage's decrypt functions are wrapped only to prove that a refusal
came before any of its work.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
from helpers.age_testkit import Refuser
from helpers.cli import cli_runner
from helpers.writes import assert_refused, cli, disk_state, journal_count

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.cli import Exit, main
from cursor_byok.errors import BundleError
from cursor_byok.samples.installs import make_key


@pytest.fixture
def refuser(monkeypatch) -> Refuser:
    stand_in = Refuser()
    monkeypatch.setattr(pyrage, "decrypt", stand_in)
    monkeypatch.setattr(pyrage.passphrase, "decrypt", stand_in)
    return stand_in


# --- bundle headers are bounded --------------------------------------------------------------


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")


def _stanza(kind: bytes, body: bytes) -> bytes:
    text = _b64(body)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)] or [b""]
    if len(lines[-1]) == 64:
        lines.append(b"")
    return b"-> " + kind + b"\n" + b"\n".join(lines) + b"\n"


def _armor(binary: bytes) -> bytes:
    text = base64.b64encode(binary)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"\n".join([b"-----BEGIN AGE ENCRYPTED FILE-----", *lines, b"-----END AGE ENCRYPTED FILE-----", b""])


@pytest.fixture(scope="module")
def real_bundle() -> tuple[bytes, str]:
    secret, public = agefile.generate_identity()
    return agefile.encrypt(b'{"format": "x"}', recipients=[public]), secret


def with_stanzas(bundle: bytes, count: int, body_size: int = 32) -> bytes:
    """The real bundle with `count` well-formed X25519 stanzas put before its own."""
    rng = random.Random(count)
    extra = b"".join(_stanza(b"X25519 " + _b64(rng.randbytes(32)), rng.randbytes(body_size)) for _ in range(count))
    first = bundle.index(b"\n") + 1
    return bundle[:first] + extra + bundle[first:]


@pytest.mark.parametrize("armored", [False, True], ids=["binary", "armored"])
def test_a_thousand_stanzas_are_refused_before_pyrage(real_bundle, refuser, armored):
    data = with_stanzas(real_bundle[0], 1000)
    data = _armor(data) if armored else data
    message = rf"more than {agefile.MAX_STANZAS} recipient stanzas"
    with pytest.raises(BundleError, match=message):
        agefile.precheck(data)
    with pytest.raises(BundleError, match=message):
        agefile.decrypt(data, identities=agefile.parse_identities(real_bundle[1], "test"))
    assert refuser.calls == 0


def test_stanza_count_bound_is_exact(real_bundle):
    own = len(agefile.precheck(real_bundle[0]).stanza_types)
    assert len(agefile.precheck(with_stanzas(real_bundle[0], agefile.MAX_STANZAS - own)).stanza_types) == 64
    with pytest.raises(BundleError, match="more than 64 recipient stanzas"):
        agefile.precheck(with_stanzas(real_bundle[0], agefile.MAX_STANZAS - own + 1))


def test_a_bundle_for_many_real_recipients_still_opens():
    pairs = [agefile.generate_identity() for _ in range(60)]
    data = agefile.encrypt(b"payload", recipients=[public for _, public in pairs])
    assert agefile.decrypt(data, identities=agefile.parse_identities(pairs[-1][0], "test")) == b"payload"


@pytest.mark.parametrize("armored", [False, True], ids=["binary", "armored"])
def test_an_oversized_stanza_is_refused_before_pyrage(real_bundle, refuser, armored):
    big_body = with_stanzas(real_bundle[0], 1, body_size=agefile.MAX_STANZA_SIZE)
    first = real_bundle[0].index(b"\n") + 1
    long_args = (
        real_bundle[0][:first] + _stanza(b"grease " + b"a" * agefile.MAX_STANZA_SIZE, b"") + real_bundle[0][first:]
    )
    for data in (big_body, long_args):
        with pytest.raises(BundleError, match=f"stanza is longer than {agefile.MAX_STANZA_SIZE} bytes"):
            agefile.precheck(_armor(data) if armored else data)
    assert refuser.calls == 0


def test_a_header_over_the_total_bound_is_refused(real_bundle, refuser):
    data = with_stanzas(real_bundle[0], 12, body_size=1400)  # each stanza under its own bound, together too big
    with pytest.raises(BundleError, match="header is longer than 16 KiB"):
        agefile.precheck(data)
    with pytest.raises(BundleError, match="header is longer than 16 KiB"):
        agefile.precheck(_armor(data))
    assert refuser.calls == 0


def test_a_thousand_stanzas_through_the_command_line(real_bundle, refuser, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    bundle_file = tmp_path / "many.age"
    bundle_file.write_bytes(with_stanzas(real_bundle[0], 1000))
    identity = tmp_path / "id.key"
    identity.write_text(real_bundle[1] + "\n")
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "import", str(bundle_file), "-i", str(identity), "--yes")
    assert_refused(result, sd, before, env, Exit.BUNDLE)
    assert "more than 64 recipient stanzas" in result.stderr
    listed = cli_runner().invoke(main, ["list", "--bundle", str(bundle_file), "-i", str(identity)])
    assert listed.exit_code == Exit.BUNDLE and listed.stderr.count("\n") == 1
    assert refuser.calls == 0


@pytest.fixture
def env(clean_env, tmp_path, monkeypatch) -> Path:
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    return data


# --- a bundle never writes Cursor's own rows ---------------------------------------------------

OWN_ROWS = ["accessToken", "refreshToken", "cachedEmail", "mcpEncryptionKey", "cachedSignUpType", "AccessToken"]


def _sealed_extras(tmp_path: Path, extras: dict[str, str]) -> tuple[Path, Path]:
    from cursor_byok.bundle.document import FORMAT, encode

    secret, public = agefile.generate_identity()
    doc = {"format": FORMAT, "version": 1, "profile": {"providers": {}, "extra_secrets": extras}}
    bundle_file = tmp_path / "planted.age"
    bundle_file.write_bytes(agefile.encrypt(encode(doc), recipients=[public]))
    identity = tmp_path / "planted.key"
    identity.write_text(secret + "\n")
    return bundle_file, identity


@pytest.mark.parametrize("name", OWN_ROWS)
def test_a_bundle_that_plants_a_cursor_row_is_refused(name, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11")
    planted = "eyJhbGciOiJIUzI1NiJ9.planted-login-token-0123456789"
    bundle_file, identity = _sealed_extras(
        tmp_path, {"mistralKey": make_key("openrouter", random.Random(1)), name: planted}
    )
    before = disk_state(sd.db)
    for args in (["import", "--yes", "--on-conflict", "replace"], ["import", "--dry-run"]):
        result = cli(sd, tmp_path, *args, str(bundle_file), "-i", str(identity))
        assert_refused(result, sd, before, env, Exit.BUNDLE)
        assert f"extra secret {name!r}" in result.stderr and "Cursor's own" in result.stderr
        assert planted not in result.stdout + result.stderr
    shown = cli_runner().invoke(main, ["list", "--bundle", str(bundle_file), "-i", str(identity)])
    assert shown.exit_code == Exit.BUNDLE


def test_the_row_writer_refuses_a_cursor_row_whoever_asks():
    from cursor_byok.cursor.rows import CursorOwnRow, RowWriter
    from cursor_byok.model import Secret

    writer = RowWriter(rows={}, key_form="secret", encrypt=lambda text: "sealed")
    with pytest.raises(CursorOwnRow, match="Cursor's own"):
        writer.writes({"extra.refreshToken": Secret("planted-refresh-token")})
    assert [w.key for w in writer.writes({"extra.mistralKey": Secret("k" * 32)})] == ["secret://cursorAuth/mistralKey"]


def test_export_and_list_leave_cursor_rows_out(make_sample_dir, tmp_path, env):
    rng = random.Random(3)
    extras = {"mistralKey": make_key("openrouter", rng), "accessToken": "eyJhbGciOiJIUzI1NiJ9.login-token-secret-9876"}
    extras["mcpEncryptionKey"] = "mcp-encryption-key-secret-5432"
    sd = make_sample_dir("v11", extras=extras)
    listed = json.loads(cli(sd, tmp_path, "list", "--json", "--reveal").stdout)
    assert [e["name"] for e in listed["extra_secrets"]] == ["secret://cursorAuth/mistralKey"]
    secret, public = agefile.generate_identity()
    out = tmp_path / "out.age"
    result = cli(sd, tmp_path, "export", "-o", str(out), "-r", public)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(agefile.decrypt(out.read_bytes(), identities=agefile.parse_identities(secret, "t")))
    assert doc["profile"]["extra_secrets"] == {"mistralKey": extras["mistralKey"]}


# --- bounded reads ---------------------------------------------------------------------------------

MEMORY_CAP = 1 << 30  # a run that reads /dev/zero whole dies here instead of taking the shared machine down


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(args: list[str], env: dict[str, str] | None = None, input: str | None = None):
    """`python -m cursor_byok ARGS` in a process with a memory cap, stopped after 60 s (a hang is a failure)."""
    return subprocess.run(
        [sys.executable, "-m", "cursor_byok", *map(str, args)],
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_cap_memory,
    )


def one_error_line(done, code: Exit, *expected: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("cursor-byok: error: ") and not lines[-1].startswith("cursor-byok: error: internal")
    for text in expected:
        assert text in lines[-1], lines[-1]


@pytest.fixture
def hostile_files(tmp_path) -> dict[str, Path]:
    """A FIFO with no writer, /dev/zero, a symlink to it, a folder and a file one byte over 64 KiB."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    os.mkfifo(folder / "fifo")
    (folder / "zero-link").symlink_to("/dev/zero")
    (folder / "dir").mkdir()
    (folder / "big").write_bytes(b"k" * (64 * 1024 + 1))
    return {
        "fifo": folder / "fifo",
        "dev-zero": Path("/dev/zero"),
        "zero-link": folder / "zero-link",
        "dir": folder / "dir",
        "big": folder / "big",
    }


def test_read_small_refuses_what_is_not_a_small_regular_file(hostile_files, tmp_path):
    from cursor_byok.private_files import FileTooLarge, NotRegularFile, read_small

    for name in ("fifo", "dev-zero", "zero-link", "dir"):
        with pytest.raises(NotRegularFile):
            read_small(hostile_files[name], 1024)
    with pytest.raises(FileTooLarge, match="larger than 64 KiB"):
        read_small(hostile_files["big"], 64 * 1024)
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 1024)
    assert read_small(exact, 1024) == b"x" * 1024
    with pytest.raises(FileNotFoundError):
        read_small(tmp_path / "missing", 10)


KEY_FILE_CASES = {
    "fifo": "not a regular file",
    "dev-zero": "not a regular file",
    "zero-link": "not a regular file",
    "big": "larger than 64 KiB",
}


@pytest.mark.parametrize("case", sorted(KEY_FILE_CASES))
def test_set_key_file_is_bounded_and_never_blocks(case, hostile_files, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    done = run_capped(
        ["--user-data-dir", sd.udd, "--safe-storage", "basic", "set", "openai", "--key-file", hostile_files[case]]
    )
    one_error_line(done, Exit.INPUT, KEY_FILE_CASES[case])
    assert disk_state(sd.db) == before


@pytest.mark.parametrize("case", sorted(KEY_FILE_CASES))
def test_manifest_file_source_is_bounded_and_never_blocks(case, hostile_files, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text(f'version = 1\n[openai]\nkey = "file:{hostile_files[case]}"\n')
    before = disk_state(sd.db)
    done = run_capped(["--user-data-dir", sd.udd, "--safe-storage", "basic", "apply", path, "--yes"])
    one_error_line(done, Exit.INPUT, KEY_FILE_CASES[case], "[openai].key")
    assert disk_state(sd.db) == before


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fifo", "dev-zero", "zero-link"])
def test_manifest_passphrase_identity_and_recipients_files_never_block(case, hostile_files, tmp_path, env):
    hostile = hostile_files[case]
    done = run_capped(["apply", hostile, "--dry-run"])
    one_error_line(done, Exit.INPUT, "not a regular file")
    bundle_file = tmp_path / "b.age"
    bundle_file.write_bytes(agefile.encrypt(b"{}", passphrase="a passphrase long enough"))
    done = run_capped(["list", "--bundle", bundle_file, "--passphrase-file", hostile])
    one_error_line(done, Exit.INPUT, "not a regular file")
    secret, public = agefile.generate_identity()
    bundle_file.write_bytes(agefile.encrypt(b"{}", recipients=[public]))
    done = run_capped(["list", "--bundle", bundle_file, "-i", hostile])
    one_error_line(done, Exit.INPUT, "not a regular file")
    done = run_capped(["export", "-o", tmp_path / "never.age", "-R", hostile])
    one_error_line(done, Exit.INPUT, "not a regular file")
    assert not (tmp_path / "never.age").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fifo", "dev-zero"])
def test_cursor_files_that_are_fifos_or_devices_never_block(case, hostile_files, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    for name in ("code.lock", "Local State"):
        target = sd.udd / name
        target.unlink(missing_ok=True)
        target.symlink_to(hostile_files[case])
    argv_json = Path(os.environ["HOME"]) / ".cursor" / "argv.json"
    argv_json.parent.mkdir(parents=True, exist_ok=True)
    argv_json.symlink_to(hostile_files[case])
    before = disk_state(sd.db)
    done = run_capped(["--user-data-dir", sd.udd, "--safe-storage", "basic", "models", "add", "qwen-x", "--yes"])
    assert done.returncode == 0, done.stderr  # code.lock unreadable: not a live Cursor
    assert disk_state(sd.db) != before
    assert run_capped(["--user-data-dir", sd.udd, "where", "--json"]).returncode == 0
    probe = (
        "from pathlib import Path\n"
        "from cursor_byok.safestorage.argv_json import argv_password_store\n"
        "from cursor_byok.errors import SafeStorageUnavailable\n"
        "from cursor_byok.safestorage.dpapi import dpapi_key_from_local_state\n"
        f"print(argv_password_store(Path({str(argv_json)!r})))\n"
        "try:\n"
        f"    dpapi_key_from_local_state(Path({str(sd.udd / 'Local State')!r}), lambda b: b)\n"
        "except SafeStorageUnavailable as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, preexec_fn=_cap_memory
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "None" and "no readable os_crypt.encrypted_key" in done.stdout


# --- manifests are reviewed before anything runs ---------------------------------------------------

PY = sys.executable


def marker_command(marker: Path, key: str) -> str:
    """A cmd: source that leaves a marker file when it runs, and prints `key`."""
    return f"cmd:{PY} -c 'import pathlib, sys; pathlib.Path(sys.argv[1]).touch(); print(sys.argv[2])' {marker} {key}"


def reviewed_manifest(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(
        "version = 1\n"
        '[openai]\nkey = "env:TEAM_OPENAI_KEY"\nbase_url = "https://openrouter.ai/api/v1"\n'
        f'[anthropic]\nkey = "{marker_command(marker, "anthropic-key-from-cmd-0123456789")}"\n'
        '[google]\nkey = "file:~/.config/team/google.key"\n'
        '[azure]\nkey = "prompt"\n'
    )
    return path


def test_apply_dry_run_runs_no_command_and_reads_no_file(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    marker = tmp_path / "ran"
    path = reviewed_manifest(tmp_path, marker)  # the google key file does not even exist
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--dry-run", env={"TEAM_OPENAI_KEY": "sk-or-v1-" + "a" * 64})
    assert result.exit_code == 0, result.stderr
    assert not marker.exists()
    assert f"anthropic.key: would run `{PY} -c" in result.stdout
    assert "google.key: would read `~/.config/team/google.key`" in result.stdout
    assert "openai.key: would use $TEAM_OPENAI_KEY (set)" in result.stdout
    assert "azure.key: would ask for it with a hidden prompt" in result.stdout
    assert "a" * 64 not in result.stdout + result.stderr
    doc = json.loads(cli(sd, tmp_path, "apply", str(path), "--dry-run", "--json").stdout)
    assert not marker.exists()
    actions = {s["field"]: s["action"] for s in doc["sources"]}
    assert actions["google.key"] == "would read `~/.config/team/google.key`"
    assert actions["openai.key"] == "would use $TEAM_OPENAI_KEY (not set)"
    assert actions["anthropic.key"].startswith("would run `")
    fields = {c["field"] for c in doc["plan"]["changes"]}
    assert not fields & {"openai.key", "anthropic.key", "google.key", "azure.key"}  # no key is read, none is planned
    assert "openai.base_url" in fields
    assert disk_state(sd.db) == before and journal_count(env) == 0


def on_a_terminal(argv: list[str], until: bytes, answer: str, then: bytes | None = None) -> tuple[int, bytes]:
    """Answer `until` (and `then`, after it) with the same answer, on a terminal."""
    from helpers.children import on_a_terminal as drive

    return drive(argv, [(until, answer), *([(then, answer)] if then else [])], timeout=30)


def test_a_real_apply_on_a_terminal_shows_the_commands_and_asks_once(make_sample_dir, tmp_path, env):
    from helpers.writes import options

    sd = make_sample_dir("basic")
    marker = tmp_path / "ran"
    path = tmp_path / "m.toml"
    path.write_text(f'version = 1\n[anthropic]\nkey = "{marker_command(marker, "team-anthropic-key-0001")}"\n')
    argv = [PY, "-m", "cursor_byok", *options(sd, tmp_path), "apply", str(path), "--on-conflict", "replace"]
    before = disk_state(sd.db)
    code, shown = on_a_terminal(argv, until=b"Run it?", answer="n")
    assert code == 19 and not marker.exists(), shown  # declined: nothing run, nothing written
    assert b"This manifest runs these commands to read keys:" in shown and b"anthropic.key: " + PY.encode() in shown
    assert shown.count(b"Run it?") == 1
    assert disk_state(sd.db) == before
    code, shown = on_a_terminal([*argv, "--json"], until=b"Run it?", answer="y", then=b"change(s) to")
    assert code == 0 and marker.exists(), shown  # on a terminal the plan is confirmed too, --json or not
    assert shown.count(b"Run it?") == 1 and disk_state(sd.db) != before
    marker.unlink()
    result = cli(sd, tmp_path, "apply", str(path), "--yes", "--on-conflict", "replace")  # --yes: no question
    assert result.exit_code == 0 and marker.exists(), result.stderr


def _env_dump_command(tmp_path: Path, dump: Path) -> str:
    script = tmp_path / "dump_env.py"
    script.write_text("import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w'))\nprint('k' * 40)\n")
    return f"cmd:{PY} {script} {dump}"


def test_commands_get_a_scrubbed_environment(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    rng = random.Random(6)
    env_key, file_key = make_key("openrouter", rng), make_key("google", rng)
    home = Path(os.environ["HOME"])
    (home / "google.key").write_text(file_key + "\n")
    dump = tmp_path / "env.json"
    path = tmp_path / "m.toml"
    path.write_text(
        "version = 1\n"
        f'[anthropic]\nkey = "{_env_dump_command(tmp_path, dump)}"\n'  # listed first: it still runs last
        '[openai]\nkey = "env:TEAM_OPENAI_KEY"\nbase_url = "https://openrouter.ai/api/v1"\n'
        '[google]\nkey = "file:~/google.key"\n'
    )
    extra = {
        "TEAM_OPENAI_KEY": env_key,
        "SAME_KEY_ELSEWHERE": env_key,
        "FILE_KEY_COPY": f"Bearer {file_key}",
        "CURSOR_BYOK_SAFE_STORAGE_PASSWORD": "machine-secret-never-to-helpers",
        "cursor_byok_lower": "x",
        "PASSES_THROUGH": "yes",
    }
    args = ("apply", str(path), "--yes", "--on-conflict", "replace", "--allow-endpoint", "openrouter.ai")
    result = cli(sd, tmp_path, *args, env=extra)
    assert result.exit_code == 0, result.stderr
    seen = json.loads(dump.read_text())
    for name in ("TEAM_OPENAI_KEY", "SAME_KEY_ELSEWHERE", "FILE_KEY_COPY", "CURSOR_BYOK_DATA_DIR"):
        assert name not in seen
    assert not [n for n in seen if n.upper().startswith("CURSOR_BYOK_")]
    assert not [n for n, v in seen.items() if env_key in v or file_key in v]
    assert seen["PASSES_THROUGH"] == "yes" and seen["HOME"] == str(home) and seen["PATH"] == os.environ["PATH"]


CAPPED_SOURCES = {
    "cmd:yes": ("cmd:yes", "printed more than 64 KiB"),
    "cmd:/dev/zero": ("cmd:cat /dev/zero", "printed more than 64 KiB"),
    "env:70KB": ("env:HUGE_VALUE", "holds more than 64 KiB"),
}


@pytest.mark.parametrize("case", sorted(CAPPED_SOURCES))
def test_source_output_is_capped(case, make_sample_dir, tmp_path, env):
    spec, expected = CAPPED_SOURCES[case]
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text(f'version = 1\n[openai]\nkey = "{spec}"\n')
    before = disk_state(sd.db)
    done = run_capped(
        ["--user-data-dir", sd.udd, "--safe-storage", "basic", "apply", path, "--yes"], env={"HUGE_VALUE": "k" * 70_000}
    )
    one_error_line(done, Exit.INPUT, expected, "[openai].key")
    assert disk_state(sd.db) == before


def test_key_stdin_is_capped(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    done = run_capped(
        ["--user-data-dir", sd.udd, "--safe-storage", "basic", "set", "openai", "--key-stdin"], input="k" * 70_000
    )
    one_error_line(done, Exit.INPUT, "more than 64 KiB")
    assert disk_state(sd.db) == before


OTHER_CREDENTIALS = {
    "git-credentials": ("https://alice:ghp_" + "A1b2" * 9 + "@github.com\n", "~/.git-credentials"),
    "github classic": ("ghp_" + "A1b2C3d4" * 4 + "wxyz\n", "a GitHub token"),
    "github oauth": ("gho_" + "Z9y8" * 9 + "\n", "a GitHub token"),
    "github fine-grained": ("github_pat_11ABCDEFG0" + "x" * 70 + "\n", "a GitHub token"),
    "slack bot": ("xoxb-1234567890-0987654321-" + "a1B2" * 6 + "\n", "a Slack token"),
    "slack user": ("xoxp-1234567890-0987654321-" + "c3D4" * 6 + "\n", "a Slack token"),
    "pem": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n", "a PEM block"),
}


@pytest.mark.parametrize("case", sorted(OTHER_CREDENTIALS))
def test_another_kind_of_credential_is_refused_by_name(case, make_sample_dir, tmp_path, env):
    value, kind = OTHER_CREDENTIALS[case]
    sd = make_sample_dir("basic")
    secret_file = tmp_path / "credential"
    secret_file.write_text(value)
    before = disk_state(sd.db)
    runs = {
        "file:": ('key = "file:credential"', {}),
        "env:": ('key = "env:GITHUB_TOKEN"', {"GITHUB_TOKEN": value.rstrip("\n")}),
        "cmd:": (f'key = "cmd:cat {secret_file}"', {}),
    }
    for source, (line, extra) in runs.items():
        path = tmp_path / "m.toml"
        path.write_text(f'version = 1\n[openai]\n{line}\nbase_url = "https://openrouter.ai/api/v1"\n')
        result = cli(sd, tmp_path, "apply", str(path), "--yes", "--on-conflict", "replace", env=extra)
        assert_refused(result, sd, before, env)
        assert kind in result.stderr and "not a provider API key" in result.stderr, source
        assert value.strip().splitlines()[0][12:] not in result.stderr
    for args, extra, stdin in (
        (["--key-file", str(secret_file)], {}, None),
        (["--key-env", "GITHUB_TOKEN"], {"GITHUB_TOKEN": value.rstrip("\n")}, None),
        (["--key-stdin"], {}, value),
    ):
        result = cli(
            sd, tmp_path, "set", "openai", *args, "--base-url", "https://openrouter.ai/api/v1", env=extra, input=stdin
        )
        assert_refused(result, sd, before, env)
        assert kind in result.stderr


def test_a_control_character_in_a_command_is_refused_before_it_is_shown(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text('version = 1\n[openai]\nkey = "cmd:op read x\\u001b[2J"\n')
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--dry-run")
    assert_refused(result, sd, before, env)
    assert "control character" in result.stderr and "\x1b" not in result.stdout + result.stderr


def test_manifest_commands_never_run_without_a_terminal_or_yes(make_sample_dir, tmp_path):
    sd = make_sample_dir("basic")
    marker = tmp_path / "ran"
    path = tmp_path / "m.toml"
    path.write_text(f'version = 1\n[anthropic]\nkey = "{marker_command(marker, "team-anthropic-key-0001")}"\n')
    before = disk_state(sd.db)
    result = cli(sd, tmp_path, "apply", str(path), "--on-conflict", "replace")
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert "no terminal can confirm them" in result.stderr and not marker.exists()
    assert disk_state(sd.db) == before
