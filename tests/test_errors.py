"""The exception tree: each error class carries its exit code (and a store failure its reason)."""

from __future__ import annotations

from cursor_byok import errors as E


def test_errors_carry_their_exit_code():
    assert E.KeyNotStored("x").exit_code == E.Exit.NO_KEY == 18
    assert E.ProfileNotFound("x").exit_code == E.Exit.INPUT
    assert E.WrongMachineKey("x").exit_code == E.Exit.SAFE_STORAGE
    assert E.StoreLocked("x").reason == "wrong-password" and E.StoreLocked("x").exit_code == E.Exit.STORE_LOCKED
