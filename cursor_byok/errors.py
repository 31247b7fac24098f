"""The exception tree of cursor-byok.

Each class docstring is a sentence that describes the failure. The message of
an instance is one line that says what went wrong and what to do next; it never
contains a key. ``cli.py`` maps each class to an exit code in one place.
"""


class ByokError(Exception):
    """Something cursor-byok could not do."""


class DatabaseNotFound(ByokError):
    """No Cursor state database was found."""


class NotACursorDatabase(ByokError):
    """The file is not a SQLite database with Cursor's tables."""


class DatabaseUnreadable(ByokError):
    """The database file exists but cannot be opened or read."""


class DatabaseBusy(ByokError):
    """Another process holds a lock on the database for too long."""


class CursorRunning(ByokError):
    """Cursor is running for this installation, so a write would be lost."""


class SafeStorageUnavailable(ByokError):
    """The OS secret that protects Cursor's keys cannot be fetched."""


class DecryptFailed(ByokError):
    """A stored secret cannot be decrypted with the machine secret at hand."""


class UnknownCiphertext(DecryptFailed):
    """A stored secret uses an encryption scheme this tool does not know."""


class KeysUndecryptable(SafeStorageUnavailable):
    """Some stored keys cannot be decrypted here, so an export would silently lack them."""


class WrongMachineKey(SafeStorageUnavailable):
    """The machine secret at hand does not decrypt this database's secrets."""


class BundleError(ByokError):
    """The bundle file is damaged, truncated or of an unknown format."""


class BundleVersionError(BundleError):
    """The bundle was written by a newer cursor-byok."""


class BundleAuthError(BundleError):
    """No passphrase or identity given can open the bundle."""


class OutputRefused(ByokError):
    """The output path is unsafe: it exists, is a symlink or a terminal."""


class InputError(ByokError):
    """An input the user gave (file, variable, manifest) is missing or invalid."""


class PlanConflict(ByokError):
    """The target already holds different values and no conflict policy allows replacing them."""


class VerifyFailed(ByokError):
    """After writing, the database did not read back as planned."""


class NothingToUndo(ByokError):
    """There is no undo journal to restore."""


class ProfileNotFound(InputError):
    """No Cursor profile has that name or location."""


class UnsafeURL(InputError):
    """A base URL would send a key somewhere unsafe, or carries a secret itself."""


class ForeignSchema(NotACursorDatabase):
    """The database holds triggers, views or other objects Cursor does not make, so it is not written."""


class ChangesPending(ByokError):
    """--check found changes or conflicts that a run would write or stop at; nothing was written."""


class KeyStorageRefused(InputError):
    """--key-storage secret cannot be honoured: this Cursor keeps some keys only in its plain settings blob."""


class KeyNotStored(ByokError):
    """No key is stored for that provider."""


class Declined(ByokError):
    """The user answered no to a confirmation, so nothing was written."""


class ConfirmationNeeded(InputError):
    """A write needs confirming and no terminal can confirm it: --yes is needed."""


class MistakeRefused(InputError):
    """The write looks like a mistake (another provider's key, a provider on with no key, an unknown surface)."""
