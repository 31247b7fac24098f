"""Cursor's argv.json read as VS Code reads it (JSON with comments); an unusable one is ignored."""

from __future__ import annotations

import pytest

from cursor_byok.safestorage import argv_json, linux_choice


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"password-store": 5}', ""])
def test_unusable_argv_json_is_ignored(tmp_path, text):
    argv = tmp_path / "argv.json"
    argv.write_text(text)
    assert argv_json.argv_password_store(argv) is None
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "GNOME"}, argv) == "secret-service"


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "enable-crash-reporter": true,\n  "password-store": "basic" // keys stay on this machine\n}',
        '{\n  "enable-crash-reporter": true,\n  "password-store": "basic",\n}',
        '{\n  "password-store": "basic", // trailing comma and a comment\n}',
        '{\n  /* block */ "password-store": /* inline */ "basic"\n}',
        '{\n  "crash-reporter-id": "a//b/*c*/,}", "password-store": "basic"\n}',
    ],
)
def test_argv_json_is_read_like_vscode_reads_it(tmp_path, text):
    # VS Code parses argv.json as JSON with comments and trailing commas.
    argv = tmp_path / "argv.json"
    argv.write_text(text)
    assert argv_json.argv_password_store(argv) == "basic"
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "GNOME"}, argv) == "basic"
