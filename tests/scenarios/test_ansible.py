"""examples/ansible/onboard.yml driven by the real engine: ansible-playbook against a sample install on localhost.

Keys come from an Ansible Vault file, the play reports "changed" from the
tool's JSON, check mode writes nothing, and no key reaches Ansible's output
even at -vvv. The play turns pipelining on itself (no module file on the host
during the key task), and installs the tool only from pinned artifacts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.leaks import sha12
from helpers.paths import REPO
from helpers.tools import require_tool
from helpers.writes import cli, disk_state, journal_count, listed, options

import cursor_byok
from cursor_byok.samples.installs import make_key

PLAYBOOK = REPO / "examples" / "ansible" / "onboard.yml"
SOURCE = Path(cursor_byok.__file__).resolve().parents[1]  # where this tree's tool is imported from
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
    # The tool of this tree, as a command like the installed one. Before it runs, it copies any module
    # file Ansible left on the "host" for this task (AnsiballZ_*) into module-files-seen/.
    spy = tmp_path / "module-files-seen"
    spy.mkdir()
    tool = work / "cursor-byok"
    tool.write_text(
        "#!/bin/sh\n"
        f"find '{tmp_path}/ansible-local' '{tmp_path}/ansible-remote' -name 'AnsiballZ_*' -type f"
        f" -exec cp {{}} '{spy}/' ';' 2>/dev/null\n"
        f'PYTHONPATH={SOURCE} exec {sys.executable} -m cursor_byok "$@"\n'
    )
    tool.chmod(0o755)
    play_vars = {
        "manifest": str(manifest),
        "cursor_byok_bin": str(tool),
        "cursor_byok_args": options(sd, tmp_path),  # --user-data-dir and --safe-storage password options
        "allow_endpoints": ["openrouter.ai"],  # the manifest's gateway, accepted by name
        "ansible_python_interpreter": sys.executable,
    }
    (work / "vars.json").write_text(json.dumps(play_vars))
    vault = vault_file(work, keys)
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
        # the play decides pipelining, not the environment (nor a stray keep_remote_files)
        "ANSIBLE_PIPELINING": None,
        "ANSIBLE_KEEP_REMOTE_FILES": None,
        "PYTHONPATH": None,  # the "host" sees only what is installed there (the tool commands set their own)
        # pip on the "host" installs only from the test's own folder
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(work / "index"),
        "PIP_CONFIG_FILE": os.devnull,
    }
    env = {name: value for name, value in env.items() if value is not None}

    def play(
        *extra: str, extra_env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess, tuple[int, int, int]]:
        argv = [playbook_bin, "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-vvv", "-e", f"@{work / 'vars.json'}"]
        argv += ["-e", f"@{vault}", "--vault-password-file", str(work / "vault-pass"), *extra]
        run_env = {**env, **(extra_env or {})}
        done = subprocess.run(argv, env=run_env, capture_output=True, text=True, cwd=work, timeout=600)
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


def test_the_play_turns_pipelining_on_so_no_module_file_holds_the_keys(fleet, tmp_path):
    sd, data, play = fleet
    spy = tmp_path / "module-files-seen"
    done, (_ok, changed, failed) = play()
    assert (done.returncode, changed, failed) == (0, 1, 0), done.stdout[-3000:]
    assert sorted(p.name for p in spy.iterdir()) == []  # nothing on disk while the key task ran

    # The check can fail: without pipelining, the key task's module file sits on the host while the tool runs.
    done, (_ok, _changed, failed) = play("-e", json.dumps({"ansible_pipelining": False}))
    assert (done.returncode, failed) == (0, 0), done.stdout[-3000:]
    assert "AnsiballZ_command.py" in {p.name for p in spy.iterdir()}


def test_keep_remote_files_is_refused_before_any_key_task(fleet, tmp_path):
    sd, data, play = fleet
    before = disk_state(sd.db)
    done, (_ok, changed, failed) = play(extra_env={"ANSIBLE_KEEP_REMOTE_FILES": "1"})
    assert (changed, failed) == (0, 1) and done.returncode != 0
    assert "keep_remote_files (ANSIBLE_KEEP_REMOTE_FILES) is on" in done.stdout
    assert disk_state(sd.db) == before and journal_count(data) == 0


def wheel(folder: Path, name: str, version: str, files: dict[str, str], requires=(), scripts: str = "") -> Path:
    """A minimal pure-Python wheel, as a build backend makes it."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{info}/METADATA"] = meta + "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        contents[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}\n"
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    contents[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_vars(tmp_path: Path, values: dict, name: str = "more-vars.json") -> Path:
    path = tmp_path / "control" / name
    path.write_text(json.dumps(values))
    return path


@pytest.fixture
def pinned(tmp_path):
    """A cursor-byok wheel (a stand-in that runs this tree's tool) whose one dependency is on the
    test's own package index, a requirements file pinning it by hash, and the host's venv path."""
    work = tmp_path / "control"
    dep = wheel(work / "index", "byok-pin-probe", "1.0", {"byok_pin_probe.py": "PINNED = True\n"})
    stub = (
        "import os, sys\n"
        "import byok_pin_probe  # the pinned dependency is installed\n"
        "def main():\n"
        f"    os.environ['PYTHONPATH'] = {str(SOURCE)!r}\n"
        f"    os.execv({sys.executable!r}, [{sys.executable!r}, '-m', 'cursor_byok', *sys.argv[1:]])\n"
    )
    tool = wheel(
        work / "dist",
        "cursor-byok",
        "0.0.1",
        {"cursor_byok_stub.py": stub},
        requires=["byok-pin-probe==1.0"],
        scripts="cursor-byok = cursor_byok_stub:main",
    )
    lock = work / "requirements.txt"
    lock.write_text(f"byok-pin-probe==1.0 \\\n    --hash=sha256:{sha256(dep)}\n    # via cursor-byok\n")
    venv = tmp_path / "host" / "cursor-byok-venv"
    install = {
        "cursor_byok_install": True,
        "cursor_byok_bin": "",
        "cursor_byok_venv": str(venv),
        "cursor_byok_python": sys.executable,
        "cursor_byok_requirements": str(lock),
        "cursor_byok_wheel": str(tool),
    }
    return install, lock, dep, venv


def test_install_from_a_pinned_wheel_and_hashed_requirements_then_apply(fleet, pinned, keys, tmp_path):
    sd, data, play = fleet
    install, _lock, _dep, venv = pinned
    more = write_vars(tmp_path, install)
    done, (_ok, changed, failed) = play("-e", f"@{more}")
    assert (done.returncode, failed) == (0, 0), done.stdout[-3000:]
    assert changed >= 3  # the venv, the requirements, the wheel; then the apply
    assert (venv / "bin" / "cursor-byok").is_file()
    providers = listed(sd, tmp_path)["providers"]  # the venv's tool wrote the keys
    assert providers["openai"]["key"]["fingerprint"] == sha12(keys["TEAM_OPENAI_KEY"])
    assert journal_count(data) == 1
    assert not list((tmp_path / "ansible-remote").glob("**/*.cursor-byok-install"))  # install files removed

    done, (_ok, changed, failed) = play("-e", f"@{more}")  # installed and applied: nothing to do
    assert (done.returncode, changed, failed) == (0, 0, 0), done.stdout[-3000:]

    done, (_ok, changed, failed) = play("-e", f"@{more}", "--check")  # check mode uses the venv's tool too
    assert (done.returncode, changed, failed) == (0, 0, 0), done.stdout[-3000:]


def test_a_requirement_whose_hash_differs_is_not_installed(fleet, pinned, tmp_path):
    sd, data, play = fleet
    install, lock, dep, venv = pinned
    lock.write_text(lock.read_text().replace(sha256(dep), "0" * 64))
    before = disk_state(sd.db)
    done, (_ok, _changed, failed) = play("-e", f"@{write_vars(tmp_path, install)}")
    assert failed == 1 and done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stdout
    assert not (venv / "bin" / "cursor-byok").exists()
    assert disk_state(sd.db) == before and journal_count(data) == 0


@pytest.mark.parametrize(
    "case",
    ["no requirements file", "a requirement without a hash", "no wheel and no cursor-byok pin", "the old package var"],
)
def test_install_without_a_pin_is_refused_before_anything_runs(fleet, pinned, tmp_path, case):
    sd, data, play = fleet
    install, lock, dep, venv = pinned
    if case == "no requirements file":
        install = {k: v for k, v in install.items() if k not in ("cursor_byok_requirements", "cursor_byok_wheel")}
    elif case == "a requirement without a hash":
        lock.write_text(lock.read_text() + "pyyaml>=6\n")
    elif case == "no wheel and no cursor-byok pin":
        install["cursor_byok_wheel"] = ""
    else:
        install["cursor_byok_package"] = "cursor-byok"
    before = disk_state(sd.db)
    done, (_ok, changed, failed) = play("-e", f"@{write_vars(tmp_path, install)}")
    assert (changed, failed) == (0, 1) and done.returncode != 0
    assert "cursor_byok_install=true installs only pinned artifacts" in done.stdout
    assert "the next task hands that code every key" in done.stdout
    assert not venv.exists()
    assert disk_state(sd.db) == before and journal_count(data) == 0
