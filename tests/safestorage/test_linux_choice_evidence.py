"""The rows Cursor wrote decide the Linux backend before the desktop: a v11 row means a keyring, whatever the
desktop (or its absence) says; only v10 rows mean basic; an explicit choice stays as it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.paths import FIXTURES
from helpers.transfer import run

from cursor_byok.safestorage import linux_choice
from cursor_byok.samples.installs import MCP_SERVER, Sample, build_user_data_dir, make_key


def where_json(udd: Path, *extra: str) -> dict:
    result = run("--user-data-dir", udd, *extra, "where", "--json")
    assert result.exit_code == 0, result.stderr
    (found,) = json.loads(result.stdout)["installations"]
    return found["safe_storage"]


@pytest.mark.parametrize("name", ["cursor-2.4", "cursor-3.7-mcp"])
def test_where_on_a_v11_database_with_no_desktop_session_reports_a_keyring(name, tmp_path, clean_env):
    udd = tmp_path / name
    shutil.copytree(FIXTURES / name, udd)
    storage = where_json(udd)
    assert storage["backend"] == "secret-service", storage
    assert "v11" in storage["chosen_by"] and "no desktop session" in storage["chosen_by"]
    assert "then KWallet" in storage["chosen_by"]
    text = run("--user-data-dir", udd, "where").stdout
    assert "secret-service" in text and "v11" in text


def test_an_unknown_desktop_gives_way_to_a_v11_row_too(tmp_path, clean_env, monkeypatch):
    udd = tmp_path / "udd"
    build_user_data_dir(udd, Sample(generation="v11", keys={}, mcp_key=False, mcp_oauth={MCP_SERVER: "t"}))
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "sway")
    storage = where_json(udd)
    assert storage["backend"] == "secret-service" and "XDG_CURRENT_DESKTOP=sway" in storage["chosen_by"]


def test_only_v10_rows_mean_basic_whatever_the_desktop(tmp_path, clean_env, monkeypatch):
    udd = tmp_path / "udd"
    build_user_data_dir(udd, Sample(generation="basic", keys={"openai.key": make_key("openai")}))
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    storage = where_json(udd)
    assert storage["backend"] == "basic" and "only v10 rows" in storage["chosen_by"]


def test_an_explicit_choice_is_kept(tmp_path, clean_env):
    udd = tmp_path / "udd"
    build_user_data_dir(udd, Sample(generation="v11", keys={"openai.key": make_key("openai")}))
    assert where_json(udd, "--safe-storage", "basic")["backend"] == "basic"
    argv = Path(clean_env["HOME"]) / ".cursor" / "argv.json"
    argv.parent.mkdir(parents=True)
    argv.write_text('{"password-store": "basic"}')
    storage = where_json(udd)
    assert storage["backend"] == "basic" and "argv.json" in storage["chosen_by"]


def test_no_rows_leave_the_desktop_to_decide():
    assert linux_choice.backend_from_rows(frozenset(), "basic", "no desktop") is None
    assert linux_choice.backend_from_rows(frozenset({b"v11"}), "kwallet", "KDE") is None
    assert linux_choice.backend_from_rows(frozenset({b"v10", b"v11"}), "secret-service", "GNOME") is None
