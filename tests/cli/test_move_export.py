"""`cursor-byok export` and `list --bundle`: what a bundle holds, how it is written, and what is refused."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from helpers.children import on_a_terminal
from helpers.leaks import assert_no_key_shown, sha12
from helpers.transfer import (
    expected_values,
    fingerprints,
    identity,
    list_json,
    options,
    revealed,
    run,
    wrong_password_options,
)

from cursor_byok.cli import Exit
from cursor_byok.samples.installs import default_settings

PASSPHRASE = "correct horse battery staple"
KEY_NAMES = {"key", "access_key", "secret_key", "session_token"}


@pytest.fixture
def source(make_sample_dir):
    return make_sample_dir("macos", settings=default_settings("http://localhost:1234/v1"))


@pytest.fixture
def age_key(tmp_path):
    """(identity file, recipient, pyrage identity)."""
    path, recipient = identity(tmp_path)
    secret = path.read_text().split()[-1]
    return path, recipient, pyrage.x25519.Identity.from_str(secret)


def opened(data: bytes, ident) -> dict:
    return json.loads(pyrage.decrypt(data, [ident]))


def export_args(sd, out, *extra: str) -> list[str]:
    return [*options(sd), "export", "-o", str(out), *extra]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", ["000", "022"])
def test_bundle_file_is_0600_whatever_the_umask(umask, source, age_key, tmp_path):
    out = tmp_path / "out" / "keys.age"
    out.parent.mkdir()
    script = f'umask {umask} && exec "$@"'
    args = [sys.executable, "-m", "cursor_byok", *export_args(source, out, "-r", age_key[1])]
    proc = subprocess.run(
        ["sh", "-c", script, "sh", *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert leftovers(out.parent) == []
    assert opened(out.read_bytes(), age_key[2])["format"] == "cursor-byok-bundle"
    assert_no_key_shown(proc.stdout + proc.stderr, *expected_values(source).values())


def test_an_existing_file_is_kept_unless_force(source, age_key, tmp_path):
    out = tmp_path / "keys.age"
    out.write_bytes(b"precious")
    os.chmod(out, 0o644)
    result = run(*export_args(source, out, "-r", age_key[1]))
    assert result.exit_code == int(Exit.OUTPUT_REFUSED)
    assert "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    result = run(*export_args(source, out, "-r", age_key[1], "--force"))
    assert result.exit_code == 0, result.stderr
    assert opened(out.read_bytes(), age_key[2])["version"] == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_target_is_refused(force, source, age_key, tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours")
    link = tmp_path / "keys.age"
    link.symlink_to(elsewhere)
    dangling = tmp_path / "dangling.age"
    dangling.symlink_to(tmp_path / "does-not-exist")
    for target in (link, dangling):
        result = run(*export_args(source, target, "-r", age_key[1], *(["--force"] if force else [])))
        assert result.exit_code == int(Exit.OUTPUT_REFUSED), result.stderr
        assert "symlink" in result.stderr
        assert target.is_symlink()
    assert elsewhere.read_text() == "not yours"
    assert not (tmp_path / "does-not-exist").exists()
    assert leftovers(tmp_path) == []


def test_export_to_a_pipe(source, age_key):
    proc = subprocess.run(
        [sys.executable, "-m", "cursor_byok", *options(source), "export", "-o", "-", "-r", age_key[1]],
        capture_output=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = opened(proc.stdout, age_key[2])
    assert doc["profile"]["providers"]["openai"]["key"] == source.keys["openai.key"]
    assert b"wrote stdout" in proc.stderr


def read_all(fd: int) -> bytes:
    """What is buffered on a pty master once the other side has closed."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        except OSError as exc:  # EIO: the slave side is closed and drained
            if exc.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_export_to_a_terminal_is_refused(source, age_key):
    master, slave = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cursor_byok", *options(source), "export", "-o", "-", "-r", age_key[1]],
            stdout=slave,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
            timeout=120,
        )
        os.close(slave)
        slave = -1
        shown = read_all(master)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == int(Exit.OUTPUT_REFUSED)
    assert b"terminal" in proc.stderr
    assert b"age-encryption" not in shown and b"BEGIN AGE" not in shown
    assert_no_key_shown(shown.decode("utf-8", "replace"), *expected_values(source).values())


# --- what the document holds --------------------------------------------------------------------


def export_doc(sd, age_key, tmp_path, *extra: str) -> dict:
    out = tmp_path / f"doc-{len(list(tmp_path.glob('doc-*')))}.age"
    result = run(*export_args(sd, out, "-r", age_key[1], *extra))
    assert result.exit_code == 0, result.stderr
    assert_no_key_shown(result.stdout + result.stderr, *expected_values(sd).values())
    return opened(out.read_bytes(), age_key[2])


def test_full_document(source, age_key, tmp_path):
    doc = export_doc(source, age_key, tmp_path)
    assert (doc["format"], doc["version"]) == ("cursor-byok-bundle", 1)
    providers = doc["profile"]["providers"]
    assert providers["openai"] == {
        "enabled": True,
        "base_url": "http://localhost:1234/v1",
        "key": source.keys["openai.key"],
    }
    assert providers["azure"]["key"] == source.keys["azure.key"]
    assert providers["bedrock"]["secret_key"] == source.keys["bedrock.secret_key"]
    assert doc["profile"]["extra_secrets"] == source.extras
    assert doc["profile"]["models"]["selected"] == {"cmd-k": "gpt-4o", "composer": "claude-sonnet-4"}
    text = json.dumps(doc)
    for never in ("accessToken", "refreshToken", "machineId", "cursorCreds", "availableAPIKeyModels", str(source.udd)):
        assert never not in text


def test_no_keys_bundle_holds_no_key(source, age_key, tmp_path):
    doc = export_doc(source, age_key, tmp_path, "--no-keys")
    assert "extra_secrets" not in doc["profile"]
    for entry in doc["profile"]["providers"].values():
        assert not KEY_NAMES & set(entry)
    assert doc["profile"]["providers"]["azure"]["deployment"] == "gpt-4o-prod"
    assert doc["profile"]["models"]["user_added"] == ["llama-3.1-70b", "qwen2.5-coder:32b"]
    assert_no_key_shown(json.dumps(doc), *expected_values(source).values())


def test_only_limits_providers(source, age_key, tmp_path):
    doc = export_doc(source, age_key, tmp_path, "--only", "anthropic", "--only", "bedrock")
    assert set(doc["profile"]["providers"]) == {"anthropic", "bedrock"}
    assert "extra_secrets" not in doc["profile"]
    assert "models" not in doc["profile"]  # models are a group of their own for --only
    with_models = export_doc(source, age_key, tmp_path, "--only", "anthropic", "--only", "models")
    assert set(with_models["profile"]["providers"]) == {"anthropic"} and "models" in with_models["profile"]
    assert_no_key_shown(json.dumps(doc), source.keys["openai.key"], source.keys["google.key"], *source.extras.values())
    extra = export_doc(source, age_key, tmp_path, "--only", "extra")
    assert extra["profile"]["providers"] == {} and extra["profile"]["extra_secrets"] == source.extras


def test_no_models(source, age_key, tmp_path):
    doc = export_doc(source, age_key, tmp_path, "--no-models")
    assert "models" not in doc["profile"]
    assert doc["profile"]["providers"]["google"]["key"] == source.keys["google.key"]


def test_undecryptable_keys_refuse_the_export_and_name_the_keys(source, age_key, tmp_path):
    out = tmp_path / "partial.age"
    result = run(*wrong_password_options(source), "export", "-o", out, "-r", age_key[1])
    assert result.exit_code == int(Exit.SAFE_STORAGE)
    assert "openai.key" in result.stderr and "secret://cursorAuth/mistralKey" in result.stderr
    assert "--skip-undecryptable" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_undecryptable_keys_refuse_before_the_passphrase_prompt(source, tmp_path):
    out = tmp_path / "partial.age"
    argv = [sys.executable, "-m", "cursor_byok", *wrong_password_options(source), "export", "-o", str(out)]
    code, shown = on_a_terminal(argv, [])  # stdin is a terminal, so a passphrase prompt would be shown
    assert code == int(Exit.SAFE_STORAGE), shown
    assert b"cannot be decrypted here" in shown and b"assphrase" not in shown
    assert not out.exists()


def test_skip_undecryptable_writes_a_partial_bundle_and_says_so(source, age_key, tmp_path):
    out = tmp_path / "partial.age"
    args = [*wrong_password_options(source), "export", "-o", out, "-r", age_key[1], "--skip-undecryptable"]
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert "note:" in result.stderr and "left out" in result.stderr
    assert "4 keys LEFT OUT" in result.stderr
    doc = opened(out.read_bytes(), age_key[2])
    assert "key" not in doc["profile"]["providers"]["openai"]
    assert doc["profile"]["extra_secrets"] == {}
    assert doc["profile"]["providers"]["azure"]["key"] == source.keys["azure.key"]  # plain in the blob
    held = sum(1 for p in doc["profile"]["providers"].values() for k in p if k in KEY_NAMES)
    assert f"wrote {out}: {held} key(s)," in result.stderr


def test_the_summary_counts_what_was_written(source, age_key, tmp_path):
    result = run(*export_args(source, tmp_path / "settings.age", "-r", age_key[1], "--no-keys", "--no-models"))
    assert result.exit_code == 0, result.stderr
    doc = opened((tmp_path / "settings.age").read_bytes(), age_key[2])
    providers = doc["profile"]["providers"]
    with_settings = [n for n, p in providers.items() if any(v for k, v in p.items() if k != "enabled")]
    assert f": 0 key(s), {len(with_settings)} provider(s); encrypted" in result.stderr
    assert len(with_settings) < len(providers)  # switched-off providers do not count


@pytest.mark.parametrize("passphrase_option", ["--passphrase-file", "--passphrase-env"])
@pytest.mark.parametrize("recipient_option", ["-r", "-R"])
def test_recipients_and_a_passphrase_together_are_refused(
    source, age_key, tmp_path, monkeypatch, passphrase_option, recipient_option
):
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("GOOD_PASS", PASSPHRASE)
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(age_key[1] + "\n")
    who = age_key[1] if recipient_option == "-r" else recipients
    how = pw if passphrase_option == "--passphrase-file" else "GOOD_PASS"
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, recipient_option, who, passphrase_option, how))
    assert result.exit_code == int(Exit.USAGE)
    assert "exclude each other" in result.stderr
    assert not out.exists()


def test_armor_writes_text(source, age_key, tmp_path):
    out = tmp_path / "keys.asc"
    result = run(*export_args(source, out, "-r", age_key[1], "--armor"))
    assert result.exit_code == 0, result.stderr
    text = out.read_bytes().decode("ascii")
    assert text.startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert text.rstrip("\n").endswith("-----END AGE ENCRYPTED FILE-----")
    assert all(len(line) <= 64 for line in text.splitlines())
    doc = list_json_bundle(out, age_key[0], "--reveal")
    assert doc["providers"]["anthropic"]["key"]["value"] == source.keys["anthropic.key"]


# --- passphrases and recipients -------------------------------------------------------------


@pytest.mark.slow
def test_passphrase_from_a_file(source, tmp_path):
    secret_file = tmp_path / "pass.txt"
    secret_file.write_text(PASSPHRASE + "\n")
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, "--passphrase-file", secret_file))
    assert result.exit_code == 0, result.stderr
    assert b"-> scrypt " in out.read_bytes().split(b"\n---")[0]
    doc = json.loads(pyrage.passphrase.decrypt(out.read_bytes(), PASSPHRASE))  # the newline is not part of it
    assert doc["profile"]["providers"]["openai"]["key"] == source.keys["openai.key"]


@pytest.mark.slow
def test_passphrase_from_the_environment(source, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_BUNDLE_PASS", PASSPHRASE)
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, "--passphrase-env", "MY_BUNDLE_PASS"))
    assert result.exit_code == 0, result.stderr
    assert PASSPHRASE not in result.stdout + result.stderr
    doc = json.loads(pyrage.passphrase.decrypt(out.read_bytes(), PASSPHRASE))
    assert doc["profile"]["extra_secrets"] == source.extras


def test_a_passphrase_is_never_an_argument(source, tmp_path):
    result = run(*export_args(source, tmp_path / "keys.age", "--passphrase", PASSPHRASE))
    assert result.exit_code == int(Exit.USAGE)
    assert not (tmp_path / "keys.age").exists()


@pytest.mark.parametrize("how", ["file", "env", "empty-file", "unset-env", "none"])
def test_bad_or_missing_passphrases_are_refused(how, source, tmp_path, monkeypatch):
    out = tmp_path / "keys.age"
    pw = tmp_path / "pw"
    args = {
        "file": ["--passphrase-file", pw],
        "env": ["--passphrase-env", "SHORT_PASS"],
        "empty-file": ["--passphrase-file", pw],
        "unset-env": ["--passphrase-env", "NOT_SET_ANYWHERE"],
        "none": [],
    }[how]
    pw.write_text("" if how == "empty-file" else "short\n")
    monkeypatch.setenv("SHORT_PASS", "short")
    result = run(*export_args(source, out, *args))
    assert result.exit_code == int(Exit.INPUT), result.stderr
    if how in ("file", "env"):
        assert "too short" in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def ssh_ed25519(tmp_path: Path) -> tuple[Path, str]:
    """(unencrypted OpenSSH private key file, its `ssh-ed25519 ...` public line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    path = tmp_path / "id_ed25519"
    path.write_bytes(private)
    os.chmod(path, 0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return path, public.decode() + " made-up@test"


def list_json_bundle(bundle: Path, ident: Path, *extra: str) -> dict:
    result = run("list", "--bundle", bundle, "-i", ident, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_recipients_from_arguments_and_a_file(source, tmp_path):
    age_a, recipient_a = identity(tmp_path, "a.txt")
    age_b, recipient_b = identity(tmp_path, "b.txt")
    ssh_key, ssh_public = ssh_ed25519(tmp_path)
    outsider, _ = identity(tmp_path, "outsider.txt")
    recipients = tmp_path / "team.txt"
    recipients.write_text(f"# the team\n\n{recipient_b}\n{ssh_public}\n")
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, "-r", recipient_a, "-R", recipients))
    assert result.exit_code == 0, result.stderr
    assert "3 recipient(s)" in result.stderr
    header = out.read_bytes().split(b"\n---")[0]
    assert header.count(b"-> X25519 ") == 2 and header.count(b"-> ssh-ed25519 ") == 1
    for ident in (age_a, age_b, ssh_key):
        doc = list_json_bundle(out, ident, "--reveal")
        assert doc["providers"]["google"]["key"]["value"] == source.keys["google.key"]
    result = run("list", "--bundle", out, "-i", outsider)
    assert result.exit_code == int(Exit.BUNDLE_AUTH)


def test_ssh_recipient_argument(source, tmp_path):
    ssh_key, ssh_public = ssh_ed25519(tmp_path)
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, "-r", ssh_public))
    assert result.exit_code == 0, result.stderr
    assert list_json_bundle(out, ssh_key)["providers"]["openai"]["key"]["fingerprint"]


@pytest.mark.parametrize("bad", ["age1notakey", "ssh-dss AAAAB3NzaC1kc3MAAACBAP made-up"])
def test_a_bad_recipient_is_refused(bad, source, tmp_path):
    out = tmp_path / "keys.age"
    result = run(*export_args(source, out, "-r", bad))
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert result.stderr.startswith("cursor-byok: error: recipient 1")
    assert not out.exists()


# --- list --bundle --------------------------------------------------------------------------


@pytest.mark.parametrize("generation", ["plaintext", "basic", "v11", "macos", "windows"])
def test_list_bundle_shows_the_source_fingerprints(generation, make_sample_dir, age_key, tmp_path):
    sd = make_sample_dir(generation)
    out = tmp_path / "keys.age"
    assert run(*export_args(sd, out, "-r", age_key[1])).exit_code == 0
    listed = list_json_bundle(out, age_key[0])
    assert fingerprints(listed) == fingerprints(list_json(sd))
    assert len(fingerprints(listed)) == len(expected_values(sd))
    assert listed["bundle"] == str(out) and listed["db"] is None
    assert listed["models"] == list_json(sd)["models"]
    assert_no_key_shown(json.dumps(listed), *expected_values(sd).values())
    assert revealed(list_json_bundle(out, age_key[0], "--reveal")) == expected_values(sd)


def test_list_bundle_human_output_is_masked(source, age_key, tmp_path):
    out = tmp_path / "keys.age"
    assert run(*export_args(source, out, "-r", age_key[1])).exit_code == 0
    result = run("list", "--bundle", out, "-i", age_key[0])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"bundle: {out}\n")
    for field, value in expected_values(source).items():
        assert sha12(value) in result.stdout, field
    assert_no_key_shown(result.stdout + result.stderr, *expected_values(source).values())
    shown = run("list", "--bundle", out, "-i", age_key[0], "--reveal")
    for value in expected_values(source).values():
        assert value in shown.stdout
