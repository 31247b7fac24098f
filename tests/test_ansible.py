"""examples/ansible/onboard.yml driven by the real engine: ansible-playbook against a sample install on localhost.

Keys come from an Ansible Vault file, the play reports "changed" from the
tool's JSON, check mode writes nothing, and no key reaches Ansible's output
even at -vvv.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from test_set_models import cli, disk_state, journal_count, listed, options, sha12

from cursor_byok.samples.installs import make_key

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "examples" / "ansible" / "onboard.yml"
RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")

pytestmark = pytest.mark.slow  # each ansible-playbook run takes seconds


def ansible_tool(name: str) -> str:
    """An Ansible command: on PATH, or next to this Python (pip's scripts folder)."""
    beside = Path(sys.executable).parent / name
    if shutil.which(name) is None and beside.is_file():
        return str(beside)
    return require_tool(name)


@pytest.fixture
def keys() -> dict[str, str]:
    rng = random.Random(401)
    return {"TEAM_OPENAI_KEY": make_key("openrouter", rng), "TEAM_ANTHROPIC_KEY": make_key("anthropic", rng)}


@pytest.fixture
def fleet(clean_env, make_sample_dir, tmp_path, monkeypatch, keys):
    """A sample install with no provider keys, the play's variables, and the keys in an Ansible Vault file."""
    playbook_bin = ansible_tool("ansible-playbook")
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    sd = make_sample_dir("v11", keys={})  # its unknown-provider secret:// row proves the machine secret
    work = tmp_path / "control"
    work.mkdir()
    manifest = work / "team.toml"
    manifest.write_text(
        'version = 1\n[openai]\nkey = "env:TEAM_OPENAI_KEY"\nbase_url = "https://openrouter.ai/api/v1"\n'
        '[anthropic]\nkey = "env:TEAM_ANTHROPIC_KEY"\n[models]\nadd = ["llama-3.3-70b"]\n'
    )
    tool = work / "cursor-byok"  # the tool of this tree, as a command like the installed one
    tool.write_text(f'#!/bin/sh\nexec {sys.executable} -m cursor_byok "$@"\n')
    tool.chmod(0o755)
    play_vars = {
        "manifest": str(manifest),
        "cursor_byok_bin": str(tool),
        "cursor_byok_args": options(sd, tmp_path),  # --user-data-dir and --safe-storage password options
        "ansible_python_interpreter": sys.executable,
    }
    (work / "vars.json").write_text(json.dumps(play_vars))
    vault = vault_file(work, keys)
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
    }

    def play(*extra: str) -> tuple[subprocess.CompletedProcess, tuple[int, int, int]]:
        argv = [playbook_bin, "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-vvv", "-e", f"@{work / 'vars.json'}"]
        argv += ["-e", f"@{vault}", "--vault-password-file", str(work / "vault-pass"), *extra]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=work, timeout=600)
        output = done.stdout + done.stderr
        for value in keys.values():  # no key, and no long piece of one, even at -vvv
            assert value not in output and value[8:-4] not in output
        found = RECAP.search(done.stdout)
        assert found, output[-3000:]
        ok, changed, _unreachable, failed = map(int, found.groups())
        return done, (ok, changed, failed)

    return sd, data, play


def vault_file(work: Path, keys: dict[str, str]) -> Path:
    """cursor_byok_env in a file encrypted by ansible-vault, as a team keeps it."""
    (work / "vault-pass").write_text("made-up vault password for the test\n")
    path = work / "keys.vault.yml"
    path.write_text("cursor_byok_env:\n" + "".join(f"  {name}: {json.dumps(value)}\n" for name, value in keys.items()))
    vault = ansible_tool("ansible-vault")
    args = [vault, "encrypt", str(path), "--vault-password-file", str(work / "vault-pass")]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert path.read_text().startswith("$ANSIBLE_VAULT;") and not any(v in path.read_text() for v in keys.values())
    return path


def test_the_playbook_applies_once_then_reports_ok_and_checks_drift(fleet, keys, tmp_path):
    sd, data, play = fleet
    done, (_ok, changed, failed) = play()
    assert (done.returncode, changed, failed) == (0, 1, 0), done.stdout[-3000:]
    providers = listed(sd, tmp_path)["providers"]  # the keys decrypt on the target
    assert providers["openai"]["key"]["fingerprint"] == sha12(keys["TEAM_OPENAI_KEY"])
    assert providers["anthropic"]["key"]["fingerprint"] == sha12(keys["TEAM_ANTHROPIC_KEY"])
    assert providers["openai"]["base_url"] == "https://openrouter.ai/api/v1"
    assert journal_count(data) == 1

    done, (_ok, changed, failed) = play()
    assert (done.returncode, changed, failed) == (0, 0, 0), done.stdout[-3000:]
    assert journal_count(data) == 1

    assert cli(sd, tmp_path, "models", "remove", "llama-3.3-70b", "--yes").exit_code == 0  # a local change
    before, journals = disk_state(sd.db), journal_count(data)
    done, (_ok, changed, failed) = play("--check")
    assert (done.returncode, changed, failed) == (0, 1, 0), done.stdout[-3000:]
    assert "models.user_added: replace" in done.stdout  # the plan, by field name
    assert disk_state(sd.db) == before and journal_count(data) == journals

    done, (_ok, changed, failed) = play()  # the real run puts it back
    assert (done.returncode, changed, failed) == (0, 1, 0), done.stdout[-3000:]
    assert "llama-3.3-70b" in listed(sd, tmp_path)["models"]["user_added"]


def test_cursor_running_is_a_clear_failure(fleet, tmp_path):
    sd, data, play = fleet
    (sd.udd / "code.lock").write_text(str(os.getpid()))  # this process stands in for a running Cursor
    before = disk_state(sd.db)
    done, (_ok, changed, failed) = play()
    assert (changed, failed) == (0, 1) and done.returncode != 0
    assert "Cursor is running on this host, so nothing was written" in done.stdout
    assert "cursor_byok_wait" in done.stdout
    assert disk_state(sd.db) == before and journal_count(data) == 0
