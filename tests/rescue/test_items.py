"""What every store reader hands back: an item whose repr never shows its secret, and the one error that says a
store holds no entry of Cursor's, naming what it holds by name only, on one printable line."""

from __future__ import annotations

from cursor_byok.errors import RescueNotFound
from cursor_byok.rescue.items import StoreItem, entry_missing


def test_an_items_repr_never_shows_its_secret():
    item = StoreItem("Chromium Safe Storage", {"application": "Cursor"}, b"the-secret-itself")
    assert "the-secret-itself" not in repr(item) and "Chromium Safe Storage" in repr(item)


def test_entry_missing_names_the_items_held_sorted_once_each():
    error = entry_missing("the GNOME keyring", ["b-item", "a-item", "b-item", ""])
    assert isinstance(error, RescueNotFound) and error.reason == "entry-missing"
    assert "the GNOME keyring opened, but holds no entry of Cursor's (it holds: a-item, b-item)" in str(error)


def test_an_empty_store_says_so():
    assert "(it is empty)" in str(entry_missing("the wallet", []))


def test_a_long_list_is_cut_at_twelve_names():
    error = str(entry_missing("the keychain", [f"item-{i:02}" for i in range(20)]))
    assert "item-11" in error and "item-12" not in error and "and 8 more" in error


def test_names_from_the_copy_stay_on_one_line_and_drive_no_terminal():
    error = str(entry_missing("the wallet", ["evil\n\x1b[2Jname", "bidi\u202eeman"]))
    assert "\n" not in error and "\x1b" not in error and "\u202e" not in error
    assert "evil\\x0a\\x1b[2Jname" in error
