"""The installed Cursor's version from its product.json: only when the database records none, for display and
as a tie-break, always saying where it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.paths import FIXTURES
from helpers.transfer import run

from cursor_byok.cursor import installed
from cursor_byok.samples.installs import REAL_LAYOUTS, Sample, build_user_data_dir, make_key


def product(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "platform, env, relative",
    [
        ("linux", {}, "usr/share/cursor/resources/app/product.json"),
        ("linux", {}, "opt/Cursor/resources/app/product.json"),
        ("darwin", {}, "Applications/Cursor.app/Contents/Resources/app/product.json"),
        ("win32", {"LOCALAPPDATA": "{root}/Local"}, "Local/Programs/cursor/resources/app/product.json"),
        ("win32", {"ProgramFiles": "{root}/PF"}, "PF/Cursor/resources/app/product.json"),
    ],
)
def test_each_install_folder_gives_its_version(platform, env, relative, tmp_path):
    env = {k: v.format(root=tmp_path) for k, v in env.items()}
    path = product(tmp_path / relative, {"nameShort": "Cursor", "version": "3.22.7", "commit": "abc"})
    found = installed.installed_version("Cursor", platform, env, tmp_path)
    assert found == installed.InstalledVersion("3.22.7", path)


def test_the_nightly_channel_reads_its_own_app(tmp_path):
    product(tmp_path / "Applications/Cursor.app/Contents/Resources/app/product.json", {"version": "3.22.7"})
    nightly = product(
        tmp_path / "Applications/Cursor Nightly.app/Contents/Resources/app/product.json", {"version": "3.23.0"}
    )
    assert installed.installed_version("Cursor Nightly", "darwin", {}, tmp_path).source == nightly


def test_a_mounted_appimage_counts_only_while_mounted_and_for_its_own_channel(tmp_path):
    assert installed.installed_version("Cursor", "linux", {}, tmp_path) is None
    mount = tmp_path / "tmp/.mount_CursorAbC123"
    product(mount / "resources/app/product.json", {"nameLong": "Cursor", "version": "2.4.31"})
    assert installed.installed_version("Cursor", "linux", {}, tmp_path).version == "2.4.31"
    assert installed.installed_version("Cursor Nightly", "linux", {}, tmp_path) is None
    product(tmp_path / "tmp/.mount_CursorXyZ999/resources/app/product.json", {"nameLong": "Cursor Nightly",
                                                                               "version": "2.5.0"})  # fmt: skip
    assert installed.installed_version("Cursor Nightly", "linux", {}, tmp_path).version == "2.5.0"
    shutil.rmtree(mount)  # unmounted: gone
    assert installed.installed_version("Cursor", "linux", {}, tmp_path) is None


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b'{"version": 3}', b'{"version": "garbage"}', b"[" * 100000, b" " * (2 << 20)],
    ids=["garbage", "list", "number", "no-version", "deep", "too-large"],
)
def test_a_hostile_product_json_gives_no_version(content, tmp_path):
    path = tmp_path / "usr/share/cursor/resources/app/product.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert installed.installed_version("Cursor", "linux", {}, tmp_path) is None


def test_a_fifo_is_not_read(tmp_path):
    import os

    path = tmp_path / "usr/share/cursor/resources/app/product.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert installed.installed_version("Cursor", "linux", {}, tmp_path) is None  # returns at once, no hang


def test_where_and_list_say_the_version_came_from_the_installed_app(tmp_path, clean_env, monkeypatch):
    udd = tmp_path / "udd"
    build_user_data_dir(udd, Sample(generation="plaintext", keys={"openai.key": make_key("openai")}))
    monkeypatch.setattr(installed, "ROOT", tmp_path / "root")
    path = product(tmp_path / "root/usr/share/cursor/resources/app/product.json", {"version": "3.22.7"})
    (where,) = json.loads(run("--user-data-dir", udd, "where", "--json").stdout)["installations"]
    listed = json.loads(run("--user-data-dir", udd, "--safe-storage", "basic", "list", "--json").stdout)
    for facts in (where["cursor"], listed["cursor"]):
        assert facts["version"] == "3.22.7" and facts["version_source"] == "product.json"
        assert facts["version_file"] == str(path)
    assert "installed app" in run("--user-data-dir", udd, "where").stdout


def test_the_database_version_wins_over_the_installed_app(tmp_path, clean_env, monkeypatch):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    monkeypatch.setattr(installed, "ROOT", tmp_path / "root")
    product(tmp_path / "root/usr/share/cursor/resources/app/product.json", {"version": "3.22.7"})
    (where,) = json.loads(run("--user-data-dir", udd, "where", "--json").stdout)["installations"]
    assert (where["cursor"]["version"], where["cursor"]["version_source"]) == ("2.4.31", "database")
    assert "version_file" not in where["cursor"]


def test_the_installed_version_breaks_a_tie_only(tmp_path, clean_env, monkeypatch):
    """No version recorded and no key row: the installed 3.x decides secret:// rows (a dry run says why)."""
    sample = REAL_LAYOUTS["cursor-3.7"]()
    sample.cursor_version = None
    udd = tmp_path / "udd"
    build_user_data_dir(udd, sample)
    monkeypatch.setenv("NEW_KEY", make_key("openai"))
    args = ("-v", "--user-data-dir", udd, "--safe-storage", "basic", "set", "openai", "--key-env", "NEW_KEY")
    args = (*args, "--dry-run")
    assert "plain cursorAuth rows (no Cursor version recorded" in run(*args).stdout
    monkeypatch.setattr(installed, "ROOT", tmp_path / "root")
    product(tmp_path / "root/opt/Cursor/resources/app/product.json", {"version": "3.22.7"})
    shown = run(*args).stdout
    assert "encrypted secret://cursorAuth rows (no Cursor version recorded and no key row stored; the installed " \
           "Cursor 3.22.7 reads them)" in shown  # fmt: skip
