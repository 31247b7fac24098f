"""Stable exit codes, and which domain error maps to which."""

from __future__ import annotations

import enum

from .. import errors as E


class Exit(enum.IntEnum):
    """Stable exit codes (click keeps 1 for failures and 2 for usage errors)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    NOT_A_CURSOR_DB = 4
    DB_BUSY = 5
    CURSOR_RUNNING = 6
    SAFE_STORAGE = 7
    DECRYPT = 8
    BUNDLE = 9
    BUNDLE_AUTH = 10
    CONFLICT = 11
    VERIFY_FAILED = 12
    FINDINGS = 13
    OUTPUT_REFUSED = 14
    INPUT = 15
    NOTHING_TO_UNDO = 16
    PENDING = 17
    NO_KEY = 18
    DECLINED = 19
    INTERRUPTED = 130


# Most specific first: the first class an error is an instance of wins.
EXIT_CODES: tuple[tuple[type[E.ByokError], Exit], ...] = (
    (E.DatabaseNotFound, Exit.NOT_FOUND),
    (E.NotACursorDatabase, Exit.NOT_A_CURSOR_DB),
    (E.DatabaseUnreadable, Exit.NOT_FOUND),
    (E.DatabaseBusy, Exit.DB_BUSY),
    (E.CursorRunning, Exit.CURSOR_RUNNING),
    (E.SafeStorageUnavailable, Exit.SAFE_STORAGE),
    (E.DecryptFailed, Exit.DECRYPT),
    (E.BundleAuthError, Exit.BUNDLE_AUTH),
    (E.BundleError, Exit.BUNDLE),
    (E.PlanConflict, Exit.CONFLICT),
    (E.VerifyFailed, Exit.VERIFY_FAILED),
    (E.OutputRefused, Exit.OUTPUT_REFUSED),
    (E.InputError, Exit.INPUT),
    (E.NothingToUndo, Exit.NOTHING_TO_UNDO),
    (E.ChangesPending, Exit.PENDING),
    (E.KeyNotStored, Exit.NO_KEY),
    (E.Declined, Exit.DECLINED),
)


def exit_code_for(exc: E.ByokError) -> Exit:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return Exit.FAILURE
