"""Private files and folders: on Windows (run here on any OS, os.getuid gone and the ACL calls recorded) the
write path uses no POSIX-only call and gives each file an owner-only ACL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import cli_runner

from cursor_byok import private_files as files
from cursor_byok import winsec
from cursor_byok.errors import InputError, OutputRefused


@pytest.fixture
def windows_files(monkeypatch):
    """files.py as on Windows: no os.getuid, and every owner-only ACL call recorded."""
    calls: list[tuple[Path, bool, bytes | None]] = []

    def record(path, *, folder):
        path = Path(path)
        calls.append((path, folder, None if folder else path.read_bytes()))

    monkeypatch.delattr(os, "getuid", raising=False)
    monkeypatch.delattr(os, "geteuid", raising=False)
    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(winsec, "make_private", record)
    return calls


def test_private_dir_and_file_without_getuid_get_an_owner_acl(tmp_path, windows_files):
    target = tmp_path / "a" / "b"
    files.ensure_private_dir(target)
    written = files.write_private(target / "bundle.age", b"secret bytes")

    assert written.read_bytes() == b"secret bytes"
    assert [(p, folder) for p, folder, _ in windows_files[:2]] == [(tmp_path / "a", True), (target, True)]
    temp, folder, content = windows_files[2]
    assert temp.parent == target and temp.name.startswith(".bundle.age.") and not folder
    assert content == b"", "the ACL must be set before the first byte is written"
    assert files.remove_stale_temps(target) == []


def test_existing_folder_is_left_alone_on_windows(tmp_path, windows_files):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    files.ensure_private_dir(folder)
    assert windows_files == [] and (folder.stat().st_mode & 0o777) == 0o755


def test_refused_acl_leaves_nothing_behind(tmp_path, monkeypatch):
    def refuse(path, *, folder):
        raise OutputRefused(f"{path}: cannot make it private to you")

    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(winsec, "make_private", refuse)
    out = tmp_path / "out"  # tmp_path itself also holds the test's HOME
    out.mkdir()
    with pytest.raises(OutputRefused):
        files.write_private(out / "keys.age", b"data")
    with pytest.raises(OutputRefused):
        files.ensure_private_dir(out / "data" / "journals")
    assert list(out.iterdir()) == []


def test_write_commands_run_without_getuid(make_sample_dir, clean_env, tmp_path, windows_files, monkeypatch):
    """`set` (journal folder, journal file, database write) on a platform without os.getuid."""
    sd = make_sample_dir("plaintext")
    data = tmp_path / "tool-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    monkeypatch.setenv("NEW_KEY", "sk-proj-" + "A" * 40)
    res = cli_runner().invoke(
        __import__("cursor_byok.cli").cli.main,
        ["--user-data-dir", str(sd.udd), "set", "openai", "--key-env", "NEW_KEY", "--yes"],
    )
    assert res.exit_code == 0, res.output + res.stderr
    journals = [p for p, folder, _ in windows_files if not folder]
    assert journals and all(p.parent.parent == data for p in journals)
    assert data in [p for p, folder, _ in windows_files if folder]


# --- a small text file the user named: one message for every way it cannot be read -----------------


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: p.write_bytes(b"\xff\xfe not text"), "not UTF-8 text"),
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_bytes(b"x" * 65), "larger than"),
    ],
    ids=["not utf-8", "missing", "a folder", "too large"],
)
def test_read_small_text_fails_in_one_line_that_names_the_file_and_what_it_held(tmp_path, make, why):
    path = tmp_path / "recipients.txt"
    make(path)
    with pytest.raises(InputError) as caught:
        files.read_small_text(path, 64, "recipients")
    assert str(caught.value).startswith(f"{path}: cannot read recipients (") and why in str(caught.value)


def test_read_small_text_hides_a_key_pasted_as_the_path(tmp_path):
    key = "sk-proj-" + "Q7" * 30  # made-up, in OpenAI's project-key shape
    with pytest.raises(InputError) as caught:
        files.read_small_text(key, 64, "the manifest")
    assert key not in str(caught.value) and key[8:40] not in str(caught.value)
    readable = tmp_path / "ok.txt"
    readable.write_text("héllo\n", encoding="utf-8")
    assert files.read_small_text(readable, 64, "a greeting") == "héllo\n"
