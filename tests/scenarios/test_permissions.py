"""Files the tool creates are private whatever the umask, and it never writes through a link.

Each command runs as a real subprocess under `umask 000`, `022` and `077`;
every file it creates must be 0600 and every folder 0700.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.cli import Exit

UMASKS = ["000", "022", "077"]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and umask")


def run_cli(args: list[str], *, umask: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m cursor_byok ARGS` started by a shell that first sets the umask."""
    command = f"umask {umask} && exec {shlex.quote(sys.executable)} -m cursor_byok {shlex.join(args)}"
    return subprocess.run(["sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def modes_under(root: Path) -> dict[str, tuple[str, int]]:
    """Relative path -> (kind, permission bits) of everything below root, links not followed."""
    out = {}
    for path in root.rglob("*"):
        st = path.lstat()
        kind = "link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
        out[str(path.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode))
    return out


def assert_private(root: Path) -> int:
    """Every folder from root down is 0700 and every file 0600; returns how many there are."""
    found = {".": ("dir", stat.S_IMODE(root.lstat().st_mode)), **modes_under(root)}
    assert found, f"nothing was created under {root}"
    for rel, (kind, mode) in found.items():
        assert kind != "link", rel
        assert mode == (0o700 if kind == "dir" else 0o600), f"{rel}: {kind} {oct(mode)}"
    return len(found)


@pytest.fixture
def setup(make_sample_dir, tmp_path, clean_env):
    """A source and a target install, an age identity, and the environment for subprocesses."""
    src = make_sample_dir("basic", seed=31)
    dst = make_sample_dir("basic", seed=32)
    secret, public = agefile.generate_identity()
    identity = tmp_path / "identity.txt"
    identity.write_text(secret + "\n")
    out = tmp_path / "out"
    out.mkdir()
    env = {**clean_env, "CURSOR_BYOK_DATA_DIR": str(tmp_path / "state" / "cursor-byok"), "TMPDIR": str(tmp_path)}
    return {"src": src, "dst": dst, "identity": identity, "recipient": public, "out": out, "env": env, "tmp": tmp_path}


@pytest.mark.slow
@pytest.mark.parametrize("umask", UMASKS)
def test_bundle_journals_and_data_dirs_are_private(umask, setup):
    s = setup
    bundle = s["out"] / "keys.age"
    export = run_cli(
        ["--db", str(s["src"].db), "export", "-o", str(bundle), "-r", s["recipient"]],
        umask=umask,
        env=s["env"],
        cwd=s["tmp"],
    )
    assert export.returncode == 0, export.stderr
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert not [p for p in s["out"].iterdir() if p != bundle], "a temp file was left next to the bundle"
    group = ["--db", str(s["dst"].db)]
    imported = run_cli(
        [*group, "import", str(bundle), "-i", str(s["identity"]), "--yes", "--on-conflict", "replace"],
        umask=umask,
        env=s["env"],
        cwd=s["tmp"],
    )
    assert imported.returncode == 0, imported.stderr
    undone = run_cli([*group, "undo", "--yes"], umask=umask, env=s["env"], cwd=s["tmp"])
    assert undone.returncode == 0, undone.stderr
    # The data dir and its missing parent were created by the tool: state, cursor-byok,
    # journals, and the journals of the import and of the undo.
    assert assert_private(s["tmp"] / "state") == 5


@pytest.mark.slow
@pytest.mark.parametrize("umask", UMASKS)
def test_demo_files_are_private(umask, tmp_path, clean_env):
    env = {**clean_env, "TMPDIR": str(tmp_path)}
    proc = run_cli(["demo", "--keep"], umask=umask, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (root,) = tmp_path.glob("cursor-byok-demo-*")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert assert_private(root) > 20  # two installs, their databases, secrets, identity, bundle, journal


def export_args(s, target: Path, *extra: str) -> list[str]:
    return ["--db", str(s["src"].db), "export", "-o", str(target), "-r", s["recipient"], *extra]


def test_force_replaces_a_world_readable_file_with_a_new_private_one(setup):
    s = setup
    target = s["out"] / "keys.age"
    target.write_text("an old, world-readable file\n")
    target.chmod(0o644)
    old_inode = target.stat().st_ino
    refused = run_cli(export_args(s, target), umask="022", env=s["env"], cwd=s["tmp"])
    assert refused.returncode == int(Exit.OUTPUT_REFUSED)
    assert target.read_text() == "an old, world-readable file\n"
    replaced = run_cli(export_args(s, target, "--force"), umask="022", env=s["env"], cwd=s["tmp"])
    assert replaced.returncode == 0, replaced.stderr
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_ino != old_inode  # a new file, renamed into place
    assert "X25519" in agefile.precheck(target.read_bytes()).stanza_types


@pytest.mark.slow
def test_force_over_a_hard_link_leaves_the_other_name_untouched(setup):
    s = setup
    victim = s["tmp"] / "victim.txt"
    victim.write_text("somebody else's file\n")
    target = s["out"] / "keys.age"
    os.link(victim, target)
    proc = run_cli(export_args(s, target, "--force"), umask="022", env=s["env"], cwd=s["tmp"])
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "somebody else's file\n"
    assert victim.stat().st_nlink == 1 and target.stat().st_ino != victim.stat().st_ino


@pytest.mark.slow
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_symlink_at_the_target_is_refused_and_its_target_untouched(dangling, force, setup):
    s = setup
    victim = s["tmp"] / "victim.txt"
    if not dangling:
        victim.write_text("do not overwrite\n")
        victim.chmod(0o644)
    link = s["out"] / "keys.age"
    link.symlink_to(victim)
    proc = run_cli(export_args(s, link, *(["--force"] if force else [])), umask="022", env=s["env"], cwd=s["tmp"])
    assert proc.returncode == int(Exit.OUTPUT_REFUSED), proc.stderr
    assert "symlink" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert link.is_symlink() and os.readlink(link) == str(victim)
    if dangling:
        assert not victim.exists()
    else:
        assert victim.read_text() == "do not overwrite\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert sorted(p.name for p in s["out"].iterdir()) == ["keys.age"]  # no temp file left either


def test_a_fifo_at_the_target_is_refused_without_blocking(setup):
    s = setup
    fifo = s["out"] / "keys.age"
    os.mkfifo(fifo)
    proc = run_cli(export_args(s, fifo, "--force"), umask="022", env=s["env"], cwd=s["tmp"])
    assert proc.returncode == int(Exit.OUTPUT_REFUSED), proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def _import_args(s) -> list[str]:
    bundle = s["out"] / "keys.age"
    if not bundle.exists():
        made = run_cli(export_args(s, bundle), umask="022", env=s["env"], cwd=s["tmp"])
        assert made.returncode == 0, made.stderr
    return [
        "--db",
        str(s["dst"].db),
        "import",
        str(bundle),
        "-i",
        str(s["identity"]),
        "--yes",
        "--on-conflict",
        "replace",
    ]


@pytest.mark.slow
def test_a_symlinked_journal_folder_is_refused_before_anything_is_written(setup):
    s = setup
    elsewhere = s["tmp"] / "elsewhere"
    elsewhere.mkdir()
    data = Path(s["env"]["CURSOR_BYOK_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "journals").symlink_to(elsewhere)
    before = s["dst"].db.read_bytes()
    proc = run_cli(_import_args(s), umask="022", env=s["env"], cwd=s["tmp"])
    assert proc.returncode == int(Exit.OUTPUT_REFUSED), proc.stderr
    assert list(elsewhere.iterdir()) == []
    assert s["dst"].db.read_bytes() == before


@pytest.mark.slow
def test_a_loose_journal_folder_is_tightened(setup):
    s = setup
    journals = Path(s["env"]["CURSOR_BYOK_DATA_DIR"]) / "journals"
    journals.mkdir(parents=True)
    journals.chmod(0o755)
    proc = run_cli(_import_args(s), umask="022", env=s["env"], cwd=s["tmp"])
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(journals.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in journals.iterdir()] == [0o600]
