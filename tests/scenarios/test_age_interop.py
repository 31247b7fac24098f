"""Bundles and the reference `age` tool: each opens what the other wrote, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tools import age_keygen_identity, require_tool
from helpers.transfer import (
    SAMPLE_ENDPOINTS,
    TARGET_EXTRA,
    cli_process,
    expected_values,
    import_,
    list_json,
    make_target,
    options,
    stored_keys,
)

from cursor_byok.samples.installs import default_settings


@pytest.fixture
def age() -> str:
    return require_tool("age")


@pytest.fixture
def age_key(tmp_path) -> tuple[Path, str]:
    """(identity file, recipient) made by age-keygen."""
    return age_keygen_identity(tmp_path)


@pytest.fixture
def source(make_sample_dir):
    return make_sample_dir("macos", settings=default_settings("http://localhost:11434/v1"))


@pytest.mark.parametrize("armor", [False, True])
def test_age_decrypts_a_cursor_byok_bundle(armor, age, age_key, source, tmp_path):
    out = tmp_path / "keys.age"
    args = [*options(source), "export", "-o", out, "-r", age_key[1], *(["--armor"] if armor else [])]
    exported = cli_process(args, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    opened = subprocess.run([age, "-d", "-i", str(age_key[0]), str(out)], capture_output=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    doc = json.loads(opened.stdout)
    assert (doc["format"], doc["version"]) == ("cursor-byok-bundle", 1)
    providers = doc["profile"]["providers"]
    assert providers["openai"]["key"] == source.keys["openai.key"]
    assert providers["openai"]["base_url"] == "http://localhost:11434/v1"
    assert providers["bedrock"]["access_key"] == source.keys["bedrock.access_key"]
    assert doc["profile"]["extra_secrets"] == source.extras


def plain_document(age: str, age_key, source, tmp_path: Path) -> Path:
    """The source's bundle document in the clear, exported by cursor-byok and opened by age."""
    sealed = tmp_path / "from-byok.age"
    exported = cli_process([*options(source), "export", "-o", sealed, "-r", age_key[1]], capture_output=True)
    assert exported.returncode == 0, exported.stderr
    doc = tmp_path / "doc.json"
    subprocess.run(
        [age, "-d", "-i", str(age_key[0]), "-o", str(doc), str(sealed)], check=True, capture_output=True, timeout=60
    )
    return doc


@pytest.mark.slow
@pytest.mark.parametrize("armor", [False, True])
def test_a_document_encrypted_by_age_imports(armor, age, age_key, source, make_sample_dir, tmp_path):
    doc = plain_document(age, age_key, source, tmp_path)
    sealed = tmp_path / ("by-age.asc" if armor else "by-age.age")
    subprocess.run(
        [age, *(["-a"] if armor else []), "-r", age_key[1], "-o", str(sealed), str(doc)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    head = sealed.read_bytes()[:40]
    assert head.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----" if armor else b"age-encryption.org/v1\n")
    target = make_target(make_sample_dir, "windows")
    result = cli_process(
        [*options(target), "import", sealed, "-i", age_key[0], "--yes", *SAMPLE_ENDPOINTS],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert stored_keys(target) == {**expected_values(source), "extra.deepseekKey": TARGET_EXTRA["deepseekKey"]}


@pytest.mark.slow
def test_age_recipients_file_and_a_second_identity(age, age_key, source, make_sample_dir, tmp_path):
    """`age -R` with two recipients; cursor-byok opens it with the second identity file (CliRunner)."""
    keygen = require_tool("age-keygen")
    other = tmp_path / "other.txt"
    subprocess.run([keygen, "-o", str(other)], check=True, capture_output=True, timeout=60)
    other_recipient = subprocess.run(
        [keygen, "-y", str(other)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# two made-up recipients\n{age_key[1]}\n{other_recipient}")
    doc = plain_document(age, age_key, source, tmp_path)
    sealed = tmp_path / "team.age"
    subprocess.run(
        [age, "-R", str(recipients), "-o", str(sealed), str(doc)], check=True, capture_output=True, timeout=60
    )
    target = make_target(make_sample_dir, "v11")
    result = import_(target, sealed, other, "--yes", "--only", "anthropic")
    assert result.exit_code == 0, result.stderr
    assert stored_keys(target)["anthropic.key"] == source.keys["anthropic.key"]
    assert list_json(target)["providers"]["anthropic"]["enabled"] is True


def test_age_with_an_ssh_key_imports(age, source, make_sample_dir, tmp_path):
    keygen = require_tool("ssh-keygen")
    key = tmp_path / "id_ed25519"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "made-up@test", "-f", str(key)], check=True, timeout=60
    )
    sealed = tmp_path / "ssh.age"
    exported = cli_process([*options(source), "export", "-o", sealed, "-R", f"{key}.pub"], capture_output=True)
    assert exported.returncode == 0, exported.stderr
    opened = subprocess.run([age, "-d", "-i", str(key), str(sealed)], capture_output=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    doc_path = tmp_path / "doc.json"
    doc_path.write_bytes(opened.stdout)
    by_age = tmp_path / "by-age.age"
    subprocess.run(
        [age, "-R", f"{key}.pub", "-o", str(by_age), str(doc_path)], check=True, capture_output=True, timeout=60
    )
    target = make_target(make_sample_dir, "basic")
    result = import_(target, by_age, key, "--yes")
    assert result.exit_code == 0, result.stderr
    assert stored_keys(target)["google.key"] == source.keys["google.key"]


def test_age_refuses_a_wrong_key_like_cursor_byok(age, age_key, source, tmp_path):
    """A bundle to one age key: age with another key fails, and so does `list --bundle`."""
    keygen = require_tool("age-keygen")
    out = tmp_path / "keys.age"
    assert cli_process([*options(source), "export", "-o", out, "-r", age_key[1]], capture_output=True).returncode == 0
    stranger = tmp_path / "stranger.txt"
    subprocess.run([keygen, "-o", str(stranger)], check=True, capture_output=True, timeout=60)
    assert subprocess.run([age, "-d", "-i", str(stranger), str(out)], capture_output=True, timeout=60).returncode != 0
    listed = subprocess.run(
        [sys.executable, "-m", "cursor_byok", "list", "--bundle", str(out), "-i", str(stranger)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert listed.returncode == 10
    assert "no identity given matches" in listed.stderr
