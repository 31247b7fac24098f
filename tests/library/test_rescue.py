"""The library's rescue (rescue_keys): the keys of an old copy handed to Python, never in a result's repr."""

from __future__ import annotations

import json

from helpers.old_machines import (
    tree_state,
)
from helpers.rescue import (
    DAEMON_KEYRING_PASSWORD,
    gnome_home,
)

import cursor_byok as byok


def test_the_library_gives_the_keys_to_python_and_never_in_its_repr(h):
    home = gnome_home(h)
    before = tree_state(h.backup)
    old = byok.OldMachine(home.root, passwords=["wrong-first", DAEMON_KEYRING_PASSWORD])
    found = byok.rescue_keys(old)
    assert tree_state(h.backup) == before and list(h.tmp.iterdir()) == []
    assert found.stored is not None
    values = {f: k.secret.reveal() for f, k in found.stored.keys().items() if k.secret is not None}
    assert values == home.expected
    shown = repr(found) + repr(old) + json.dumps(found.to_json())
    assert DAEMON_KEYRING_PASSWORD not in shown and not any(v in shown for v in home.expected.values())
