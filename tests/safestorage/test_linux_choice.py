"""Which backend Cursor uses on Linux: its argv.json's password-store first, then the desktop session."""

from __future__ import annotations

import pytest
from helpers.samples import ARGV_JSON

from cursor_byok.safestorage import argv_json, linux_choice


@pytest.mark.parametrize(
    "store,expected",
    [
        ("basic", "basic"),
        ("gnome-libsecret", "secret-service"),
        ("gnome", "secret-service"),
        ("gnome-keyring", "secret-service"),
        ("kwallet", "kwallet"),
        ("kwallet5", "kwallet"),
        ("kwallet6", "kwallet"),
    ],
)
def test_argv_json_password_store_wins_over_the_desktop(tmp_path, store, expected):
    argv = tmp_path / "argv.json"
    argv.write_text(ARGV_JSON % store)
    assert argv_json.argv_password_store(argv) == store
    desktop = {"XDG_CURRENT_DESKTOP": "KDE" if expected != "kwallet" else "GNOME"}
    assert linux_choice.linux_backend(desktop, argv) == expected


@pytest.mark.parametrize(
    "desktop,expected",
    [
        ("GNOME", "secret-service"),
        ("ubuntu:GNOME", "secret-service"),
        ("XFCE", "secret-service"),
        ("KDE", "kwallet"),
        ("sway", "basic"),
        ("i3", "basic"),
        ("Hyprland", "basic"),
        ("", "basic"),
        ("X-Cinnamon", "secret-service"),
        ("Deepin", "secret-service"),
        ("Pantheon", "secret-service"),
        ("UKUI", "secret-service"),
        ("Unity", "secret-service"),
        ("COSMIC", "secret-service"),
        ("pop:COSMIC", "secret-service"),
        ("kde", "kwallet"),
        ("LXQt", "basic"),
        ("niri", "basic"),
        ("Budgie:GNOME", "secret-service"),
        ("LXQt:GNOME", "basic"),
    ],
)
def test_desktop_picks_the_backend(tmp_path, desktop, expected):
    env = {"XDG_CURRENT_DESKTOP": desktop} if desktop else {}
    assert linux_choice.linux_backend(env, tmp_path / "missing-argv.json") == expected


def test_an_unknown_password_store_leaves_the_choice_to_the_desktop(tmp_path):
    argv = tmp_path / "argv.json"
    argv.write_text(ARGV_JSON % "not-a-store")
    assert linux_choice.linux_backend({"XDG_CURRENT_DESKTOP": "KDE"}, argv) == "kwallet"
    assert linux_choice.linux_backend({}, argv) == "basic"


def test_the_reason_for_the_backend_is_kept_for_messages(tmp_path):
    backend, why = linux_choice.linux_backend_choice({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, tmp_path / "none.json")
    assert (backend, why) == ("secret-service", "XDG_CURRENT_DESKTOP=ubuntu:GNOME")
    assert linux_choice.linux_backend_choice({}, None) == ("basic", "no desktop session (XDG_CURRENT_DESKTOP unset)")


def test_desktop_session_is_a_fallback_hint():
    assert linux_choice.linux_backend({"DESKTOP_SESSION": "plasma-kde"}, None) == "kwallet"
