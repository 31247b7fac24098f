"""The demo runs the real command line end to end and never prints a key."""

import re
import subprocess
import sys

import pytest

KEY_SHAPES = [
    re.compile(r"sk-proj-[A-Za-z0-9_-]{20,}"),
    re.compile(r"sk-ant-api03-[A-Za-z0-9_-]{20,}"),
    re.compile(r"AIza[A-Za-z0-9_-]{30,}"),
    re.compile(r"AKIA[A-Z2-7]{16}"),
    re.compile(r"\b[0-9a-f]{32}\b"),
]


def test_demo_moves_every_key_and_prints_none(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "cursor_byok", "demo"], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "Fingerprints matching on both laptops: 7/7" in out
    for step in ("list", "export -o", "list --bundle", "--dry-run", "--yes"):
        assert step in out
    for shape in KEY_SHAPES:
        assert not shape.search(out), f"demo output holds a key-shaped string: {shape.pattern}"
    # the temporary folder is gone afterwards
    assert not list(tmp_path.glob("cursor-byok-demo-*"))


@pytest.mark.slow
def test_demo_keep_leaves_private_files(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "cursor_byok", "demo", "--keep"], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr
    (root,) = tmp_path.glob("cursor-byok-demo-*")
    for name in ("keys.age", "new-laptop.agekey", "old-laptop.secret", "new-laptop.secret"):
        assert (root / name).stat().st_mode & 0o777 == 0o600, name
    journals = list((root / "tool-data" / "journals").glob("*.json"))
    assert len(journals) == 1 and journals[0].stat().st_mode & 0o777 == 0o600
