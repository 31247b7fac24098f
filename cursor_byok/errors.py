"""The exception tree of cursor-byok, and the exit code each failure carries.

Each class docstring is a sentence that describes the failure. The message of
an instance is one line that says what went wrong and what to do next; it never
contains a key. Each class carries its exit code (`exit_code`), the one the
command line exits with; the codes are stable and documented in the README.
"""

from __future__ import annotations

import enum


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
    STORE_LOCKED = 20
    STORE_UNSUPPORTED = 21
    INTERRUPTED = 130


class ByokError(Exception):
    """Something cursor-byok could not do."""

    exit_code: Exit = Exit.FAILURE

    def __init__(self, *args: object, result: object = None) -> None:
        super().__init__(*args)
        self.result = result  # the command's result document when one was made before the failure (--json)


class DatabaseNotFound(ByokError):
    """No Cursor state database was found."""

    exit_code = Exit.NOT_FOUND


class NotACursorDatabase(ByokError):
    """The file is not a SQLite database with Cursor's tables."""

    exit_code = Exit.NOT_A_CURSOR_DB


class DatabaseUnreadable(ByokError):
    """The database file exists but cannot be opened or read."""

    exit_code = Exit.NOT_FOUND


class DatabaseBusy(ByokError):
    """Another process holds a lock on the database for too long."""

    exit_code = Exit.DB_BUSY


class CursorRunning(ByokError):
    """Cursor is running for this installation, so a write would be lost."""

    exit_code = Exit.CURSOR_RUNNING


class SafeStorageUnavailable(ByokError):
    """The OS secret that protects Cursor's keys cannot be fetched."""

    exit_code = Exit.SAFE_STORAGE


class DecryptFailed(ByokError):
    """A stored secret cannot be decrypted with the machine secret at hand."""

    exit_code = Exit.DECRYPT


class UnknownCiphertext(DecryptFailed):
    """A stored secret uses an encryption scheme this tool does not know."""


class KeysUndecryptable(SafeStorageUnavailable):
    """Some stored keys cannot be decrypted here, so an export would silently lack them."""


class WrongMachineKey(SafeStorageUnavailable):
    """The machine secret at hand does not decrypt this database's secrets."""


class BundleError(ByokError):
    """The bundle file is damaged, truncated or of an unknown format."""

    exit_code = Exit.BUNDLE


class BundleVersionError(BundleError):
    """The bundle was written by a newer cursor-byok."""


class BundleAuthError(BundleError):
    """No passphrase or identity given can open the bundle."""

    exit_code = Exit.BUNDLE_AUTH


class OutputRefused(ByokError):
    """The output path is unsafe: it exists, is a symlink or a terminal."""

    exit_code = Exit.OUTPUT_REFUSED


class InputError(ByokError):
    """An input the user gave (file, variable, manifest) is missing or invalid."""

    exit_code = Exit.INPUT


class PlanConflict(ByokError):
    """The target already holds different values and no conflict policy allows replacing them."""

    exit_code = Exit.CONFLICT


class VerifyFailed(ByokError):
    """After writing, the database did not read back as planned."""

    exit_code = Exit.VERIFY_FAILED


class NothingToUndo(ByokError):
    """There is no undo journal to restore."""

    exit_code = Exit.NOTHING_TO_UNDO


class LinkedDatabase(InputError):
    """The database chosen with --db has other names (hard links), so a write through it is refused."""


class ProfileNotFound(InputError):
    """No Cursor profile has that name or location."""


class UnsafeURL(InputError):
    """A base URL would send a key somewhere unsafe, or carries a secret itself."""


class ForeignSchema(NotACursorDatabase):
    """The database holds triggers, views or other objects Cursor does not make, so it is not written."""


class ChangesPending(ByokError):
    """--check found changes or conflicts that a run would write or stop at; nothing was written."""

    exit_code = Exit.PENDING


class KeyStorageRefused(InputError):
    """--key-storage secret cannot be honoured: this Cursor keeps some keys only in its plain settings blob."""


class KeyNotStored(ByokError):
    """No key is stored for that provider."""

    exit_code = Exit.NO_KEY


class Declined(ByokError):
    """The user answered no to a confirmation, so nothing was written."""

    exit_code = Exit.DECLINED


class ConfirmationNeeded(InputError):
    """A write needs confirming and no terminal can confirm it: --yes is needed."""


class MistakeRefused(InputError):
    """The write looks like a mistake (another provider's key, a provider on with no key, an unknown surface)."""


class RescueError(ByokError):
    """An old machine's copy could not give up Cursor's keys; `reason` names why, for scripts (JSON `reason`)."""

    reason = "rescue-failed"

    def __init__(self, message: str, *, reason: str | None = None, result: object = None) -> None:
        super().__init__(message, result=result)
        if reason is not None:
            self.reason = reason


class StoreLocked(RescueError):
    """The old machine's secret store did not open: its own password check failed for every password given."""

    exit_code = Exit.STORE_LOCKED
    reason = "wrong-password"


class StoreDamaged(RescueError):
    """A secret store's file is not in the format it claims, or is cut short: a wrong or damaged file."""

    exit_code = Exit.STORE_UNSUPPORTED
    reason = "store-damaged"


class StoreUnsupported(RescueError):
    """The old machine's store cannot be opened offline here (a Mac-bound keychain, an Entra ID account, a GPG
    wallet, another Secret Service provider); the message names the route that works."""

    exit_code = Exit.STORE_UNSUPPORTED
    reason = "store-unsupported"


class RescueNotFound(RescueError, DatabaseNotFound):
    """What rescue looks for is not in the copy (Cursor's data, the store, or Cursor's entry in the store);
    the message names the paths (or the entries) it looked at."""

    exit_code = Exit.NOT_FOUND
    reason = "cursor-missing"


class LayoutAmbiguous(RescueError):
    """The copy holds Cursor data of more than one system (a home with both a Linux and a macOS user-data dir,
    say); --os chooses which one to rescue."""

    exit_code = Exit.INPUT
    reason = "layout-ambiguous"


# --- showing text that came from elsewhere ------------------------------------------------------------------------

SURROGATE_ESCAPES = range(0xDC80, 0xDD00)  # how Python decodes a file name's bytes that are not UTF-8


def printable(text: str) -> str:
    """`text` safe to print on one line: every character a terminal acts on (controls, line breaks, bidi
    overrides) or a UTF-8 stream cannot take (a name's byte that is not UTF-8) written as an escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ord(ch)) for ch in text)


def _escaped(code: int) -> str:
    if code in SURROGATE_ESCAPES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
