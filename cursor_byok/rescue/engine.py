"""Rescuing Cursor's keys from an old machine's copy: copy, open the store, prove the secret, decode, bundle.

1. `locate.find_cursor` finds the old user-data dir and database under --from.
2. The database is read through `sparse_copy.open_copy` in a `private_tempdir()`
   (0700, removed on the way out): in place with `immutable=1` when nothing
   sits beside it, else the pages a read of ItemTable needs, `-wal` frames
   laid over them. Nothing is created in the source, ever.
3. The system (the layout, else `Local State` and the rows' prefixes) says
   which secret the encrypted rows need: none (Linux `v10`, the fixed
   'peanuts' key; or no encrypted row), the secret given
   (--safe-storage-password-file), or the old store's (`stores`), opened
   with the old login passwords.
4. A secret is **proven** only by decrypting a stored row with it (any
   encrypted row counts: a key row, an extension's `secret://` row, an
   `mcpOAuth.secret.*` row; the last two are never rescued). A secret that
   decrypts none is a wrong-password failure, never a wrong key.
5. The rows are decoded by `cursor.rows.read_profile` with a `SafeStorage`
   whose fetcher hands out the proven secret (the codecs of
   `safestorage.oscrypt`): key rows, blob keys, model lists, and unknown
   providers' keys (`secret://cursorAuth/<name>` whose name ends in `Key`);
   any other unknown row (authToken, jwt, sessionId...) is never exported and
   is listed by name.
6. `RescuedProfile.document` is the bundle document `export` writes, and
   `seal` encrypts it the same way.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from os import PathLike, devnull
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..bundle import age_envelope
from ..bundle.document import to_document, undecryptable, written_counts
from ..checks.listing import ExtraKey, ModelsView, ProviderView, extra_keys, provider_views
from ..cursor.rows import ENCRYPTED_ROW_PREFIXES, SECRET_PREFIX, as_text, read_profile, row_keys, withheld_rows
from ..cursor.store import Store, has_sidecar
from ..errors import DecryptFailed, InputError, RescueError, RescueNotFound, SafeStorageUnavailable, StoreLocked
from ..model import EXTRA_PREFIX, MIN_PASSPHRASE, Profile, StoredKey
from ..private_files import read_small
from ..results import Result, internal, omit_if_none
from ..safestorage.backends import SafeStorage, SafeStorageConfig
from ..safestorage.oscrypt import CbcCodec, decode_buffer_json
from ..safestorage.password import windows_key_from_hex
from ..versions import KEYRING, ROW_BACKENDS, CursorFacts, cursor_facts, prefix_written
from .locate import OldCursor, OldOS, find_cursor, inside, is_file
from .sparse_copy import Progress, open_copy, private_tempdir
from .stores import (
    Found,
    Passwords,
    StorePaths,
    has_dpapi_key,
    linux_stores,
    macos_stores,
    other_provider,
    provider_unsupported,
    windows_stores,
    worst,
)

SCHEMES: dict[OldOS, str] = {"linux": "linux", "macos": "macos", "windows": "windows"}
PLATFORMS: dict[OldOS, str] = {"linux": "linux", "macos": "darwin", "windows": "win32"}
# The prefixes Cursor writes (versions.ROW_BACKENDS), and on each system the one a secret store's secret opens.
KNOWN_PREFIXES = frozenset(prefix for (_scheme, prefix) in ROW_BACKENDS)
STORE_PREFIX: dict[OldOS, bytes] = {system: prefix_written(scheme, KEYRING) for system, scheme in SCHEMES.items()}
SECRET_FILE_LIMIT = 64 << 10
EXTRA_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
KEY_ROW_TAIL = "key"  # an unknown provider's key row: its name ends in Key, in any case


@dataclass(frozen=True)
class OldMachine:
    """The old machine's copy (`root`: --from) and what opens its store: the old login passwords (several when
    the password changed), `ask` (a hidden prompt, asked only once a store needs it), store files not under
    `root`, the system when the copy holds several (`os`), or the safeStorage secret itself (`secret_file`)."""

    root: str | PathLike[str]
    passwords: Sequence[str] = field(default=(), repr=False)
    ask: Callable[[str], str] | None = field(default=None, repr=False)
    stores: StorePaths = StorePaths()
    os: OldOS | None = None
    secret_file: str | PathLike[str] | None = None


@dataclass(frozen=True)
class CopyUsed:
    """How the old database was read: in place, from a sparse copy or from a full copy (and why)."""

    how: str
    reason: str
    pages_copied: int
    bytes_written: int
    wal_frames: int


@dataclass(frozen=True)
class StoreUsed:
    """Where the secret came from (`kind`: gnome-keyring, oo7-keyring, kwallet, keychain, dpapi; or basic,
    empty-password, secret-given, none), the file, how it opened, and the row that proved it (its name)."""

    kind: str
    path: str | None
    opened_with: str
    proven_by: str | None


@dataclass(frozen=True)
class BundleWritten:
    """The bundle `rescue -o` wrote: the same document and encryption `export` uses."""

    output: str | None  # None: written to stdout
    keys: int
    providers: int
    models: bool
    encrypted_to: str  # "passphrase" or "recipients"
    recipients: int
    armor: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rescued(Result):
    """What `rescue` found in the old machine's copy, masked like `list`, and the bundle it wrote (-o)."""

    from_dir: str
    os: str | None
    db: str
    user_data_dir: str
    copy: CopyUsed
    store: StoreUsed
    providers: Mapping[str, ProviderView]
    extra_secrets: tuple[ExtraKey, ...]
    models: ModelsView
    key_form: str
    not_rescued: tuple[str, ...]  # unknown rows that are not provider keys: never exported (names only)
    left_out: tuple[str, ...]  # keys held but not decryptable with the proven secret
    notes: tuple[str, ...]
    cursor: CursorFacts | None = omit_if_none()
    written: BundleWritten | None = omit_if_none()
    stored: Profile | None = internal()
    data: bytes = internal(b"")


@dataclass(frozen=True)
class RescuedProfile:
    """The old profile, decoded with a proven secret, and where it came from (internal: holds keys)."""

    found: OldCursor
    os: OldOS | None
    copy: CopyUsed
    store: StoreUsed
    profile: Profile = field(repr=False)
    not_rescued: tuple[str, ...]
    facts: CursorFacts
    notes: tuple[str, ...] = ()

    def document(self, *, only: Iterable[str] = (), models: bool = True) -> tuple[dict[str, Any], list[str]]:
        """The bundle document `export` would write on the old machine, and the notes on what it leaves out."""
        source = {"os": self.os or "unknown", "rescued": True}
        return to_document(self.profile, only=only, keys=True, models=models, source=source)

    def report(self, *, only: Iterable[str] = (), written: BundleWritten | None = None, data: bytes = b"") -> Rescued:
        left = tuple(undecryptable(self.profile, only=only))
        return Rescued(
            str(self.found.root), self.os, str(self.found.db), str(self.found.udd), self.copy, self.store,
            provider_views(self.profile, reveal=False), extra_keys(self.profile, reveal=False),
            ModelsView.of(self.profile.fields), self.profile.key_form, self.not_rescued, left,
            (*self.notes, *self.profile.notes), self.facts, written, self.profile, data,
        )  # fmt: skip


# --- the steps --------------------------------------------------------------------------------------------------


def rescue_profile(old: OldMachine, *, progress: Progress | None = None) -> RescuedProfile:
    """Steps 1 to 5: the old profile, decoded with a secret a stored row proved (see the module docstring)."""
    found = find_cursor(old.root, old.os)
    for side in (Path(f"{found.db}-wal"), Path(f"{found.db}-journal")):  # the database was checked, not these
        if os.path.lexists(side) and not inside(side, found.base):
            raise RescueNotFound(
                f"{side} is a symlink to outside the copy ({found.base}): not read; copy the file itself"
            )
    temp = Path(tempfile.gettempdir())
    if inside(temp, found.root):
        raise InputError(
            f"the temporary folder {temp} is inside the old copy, which is only read: set TMPDIR to a folder "
            "elsewhere (on this machine's disk)"
        )
    rows, copy = read_old_rows(found.db, progress)
    system = old_system(found, rows, old)
    store, storage, skipped = open_secret(found, system, rows, old)
    profile, not_rescued = rescuable(read_profile(rows, storage), withheld_rows(rows))
    facts = cursor_facts(rows, is_file(Path(f"{found.db}.backup")))
    return RescuedProfile(found, system, copy, store, profile, not_rescued, facts, skipped)


def read_old_rows(db: Path, progress: Progress | None) -> tuple[dict[str, Any], CopyUsed]:
    """The BYOK rows and every encrypted row of the copied database, read without touching it."""
    with private_tempdir() as work, open_copy(db, workdir=work, progress=progress) as copy:
        if has_sidecar(copy.path):  # Store would then open it mode=ro, which creates files beside it
            raise RuntimeError(f"{copy.path}: a -wal or -journal appeared beside it")
        with Store(copy.path, snapshot=True) as store:
            rows = store.get_items(row_keys(), ENCRYPTED_ROW_PREFIXES)  # MCP tokens too: proof, never rescued
        used = CopyUsed(copy.how, copy.reason, copy.pages_copied, copy.bytes_written, copy.wal_frames_used)
    return dict(rows), used


def encrypted_rows(rows: Mapping[str, Any]) -> dict[str, bytes]:
    """Row name -> ciphertext, for every encrypted row with a prefix the codecs know (v10, v11)."""
    out = {}
    for name, value in rows.items():
        if name.startswith(ENCRYPTED_ROW_PREFIXES):
            try:
                blob = decode_buffer_json(as_text(value) or "")
            except ValueError:
                continue
            if blob[:3] in KNOWN_PREFIXES:
                out[name] = blob
    return out


def old_system(found: OldCursor, rows: Mapping[str, Any], old: OldMachine) -> OldOS | None:
    """The old system: the layout's, else Windows for a `Local State` key, else the rows' prefixes (a `v11` row is
    Linux's keyring; a `v10` row is Linux's basic key when that opens it, else a Mac's); None: nothing is
    encrypted, so it does not matter."""
    if found.os is not None:
        return found.os
    if has_dpapi_key(found.udd, found.base) or old.stores.protect_dir is not None:
        return "windows"
    prefixes = {blob[:3] for blob in encrypted_rows(rows).values()}
    if b"v11" in prefixes:
        return "linux"
    if b"v10" in prefixes:
        basic = proving_row(encrypted_rows(rows), storage_for("linux", "basic", b""), b"v10")
        return "linux" if basic is not None else "macos"
    return None


def storage_for(system: OldOS, kind: str, secret: bytes) -> SafeStorage:
    """A SafeStorage for the old system whose one fetcher hands out `secret` (labels as that store's)."""
    if kind == "basic":
        choice = "basic"
    elif kind == "secret-given":
        choice = "dpapi" if system == "windows" else "password"
    else:
        choice = {"linux": "kwallet" if kind == "kwallet" else "secret-service", "macos": "keychain"}.get(
            system, "dpapi"
        )
    config = SafeStorageConfig(choice, scheme=SCHEMES[system])
    return SafeStorage(config, env={}, platform=PLATFORMS[system], argv_json=Path(devnull),
                       fetchers={choice: lambda: secret})  # fmt: skip


def proving_row(encrypted: Mapping[str, bytes], storage: SafeStorage, prefix: bytes) -> str | None:
    """The first row with `prefix` that decrypts with the storage's own key (never Chromium's empty-password
    fallback, which proves nothing); None when none does."""
    for name in sorted(encrypted):
        blob = encrypted[name]
        if not blob.startswith(prefix):
            continue
        try:
            _label, codec = storage.codec_for(blob)
            strict = replace(codec, fallback_keys=()) if isinstance(codec, CbcCodec) else codec
            strict.decrypt(blob)
        except (DecryptFailed, SafeStorageUnavailable, ValueError):
            continue
        return name
    return None


def open_secret(
    found: OldCursor, system: OldOS | None, rows: Mapping[str, Any], old: OldMachine
) -> tuple[StoreUsed, SafeStorage | None, tuple[str, ...]]:
    """The store that gave a proven secret (or why none is needed), a SafeStorage for the rows, notes."""
    encrypted = encrypted_rows(rows)
    prefix = STORE_PREFIX[system] if system is not None else None
    if system is None or not any(blob.startswith(prefix or b"") for blob in encrypted.values()):
        return _no_store_needed(system, encrypted), storage_for(system or "linux", "basic", b""), ()
    if old.secret_file is not None:
        secret = _given_secret(old.secret_file, system)
        storage = storage_for(system, "secret-given", secret)
        proof = proving_row(encrypted, storage, prefix or b"")
        if proof is None:
            raise _mismatch(f"the secret in {old.secret_file}", found, _count(encrypted, system))
        return StoreUsed("secret-given", str(old.secret_file), "--safe-storage-password-file", proof), storage, ()
    if system == "linux" and _all_under_empty_password(encrypted):
        storage = storage_for(system, "secret-service", b"")
        proof = proving_row(encrypted, storage, b"v11")
        return StoreUsed("empty-password", None, "nothing: rows under Chromium's empty password", proof), storage, ()
    return _from_store(found, system, encrypted, old)


def _no_store_needed(system: OldOS | None, encrypted: Mapping[str, bytes]) -> StoreUsed:
    if system == "linux" and encrypted:
        proof = proving_row(encrypted, storage_for("linux", "basic", b""), b"v10")
        return StoreUsed("basic", None, "nothing: the basic backend's fixed key", proof)
    return StoreUsed("none", None, "nothing: no row is encrypted with a store's secret", None)


def _all_under_empty_password(encrypted: Mapping[str, bytes]) -> bool:
    """True when every v11 row decrypts with Chromium's empty-password key (a keyring never reached)."""
    v11 = {name: blob for name, blob in encrypted.items() if blob.startswith(b"v11")}
    empty = storage_for("linux", "secret-service", b"")
    return bool(v11) and all(proving_row({name: blob}, empty, b"v11") for name, blob in v11.items())


def _given_secret(path: str | PathLike[str], system: OldOS) -> bytes:
    try:
        secret = read_small(path, SECRET_FILE_LIMIT).rstrip(b"\r\n")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the safeStorage secret ({exc.strerror or exc})") from None
    if system != "windows":
        return secret
    try:
        return windows_key_from_hex(secret)
    except SafeStorageUnavailable:
        raise InputError(f"{path}: a Windows safeStorage secret is the 32-byte AES key as 64 hex digits") from None


def _count(encrypted: Mapping[str, bytes], system: OldOS) -> int:
    return sum(blob.startswith(STORE_PREFIX[system]) for blob in encrypted.values())


def _mismatch(what: str, found: OldCursor, count: int) -> StoreLocked:
    return StoreLocked(
        f"{what} decrypts none of the {count} encrypted row(s) of {found.db}, so it is not the secret they were "
        "encrypted with: the store and the database are from different machines or times (Cursor made a new "
        "secret after this copy of the store), or it is the wrong store; use copies made at the same time"
    )


def _stores(found: OldCursor, system: OldOS, old: OldMachine) -> Found:
    if system == "linux":
        return linux_stores(found.home, found.base, old.stores)
    if system == "macos":
        return macos_stores(found.home, found.base, old.stores)
    return windows_stores(found.udd, found.roaming, found.base, old.stores)


def _from_store(
    found: OldCursor, system: OldOS, encrypted: Mapping[str, bytes], old: OldMachine
) -> tuple[StoreUsed, SafeStorage, tuple[str, ...]]:
    """Try each candidate store until one gives a secret a row proves; else the most telling failure."""
    stores = _stores(found, system, old)
    if not stores.candidates:
        raise _store_missing(found, system, stores)
    passwords = Passwords(old.passwords, old.ask)
    while True:
        failures: list[RescueError] = []
        for candidate in stores.candidates:
            try:
                opened = candidate.open(passwords)
            except RescueError as exc:
                failures.append(exc)
                continue
            storage = storage_for(system, candidate.kind, opened.secret)
            proof = proving_row(encrypted, storage, STORE_PREFIX[system])
            if proof is not None:
                used = StoreUsed(candidate.kind, str(candidate.path), opened.opened_with, proof)
                return used, storage, stores.skipped
            failures.append(_mismatch(f"Cursor's secret in {candidate.path}", found, _count(encrypted, system)))
        failure = worst(failures)
        if failure.reason == "wrong-password" and passwords.again():
            continue
        raise _other_provider(found, system, failure)


def _store_missing(found: OldCursor, system: OldOS, stores: Found) -> Exception:
    provider = other_provider(found.home) if system == "linux" else None
    if provider is not None:
        return provider_unsupported(provider, found.root)
    hint = {
        "linux": "; if it was kept by another Secret Service provider (KeePassXC, pass...), copy its secret into "
        "a file and pass --safe-storage-password-file FILE",
        "macos": "; name the keychain with --keychain FILE",
        "windows": "; name the Protect folder with --protect-dir DIR",
    }[system]
    skipped = f" ({'; '.join(stores.skipped)})" if stores.skipped else ""
    return RescueNotFound(
        f"no {system} secret store with Cursor's secret in the copy: looked at {', '.join(stores.looked_at)}"
        f"{skipped}{hint}",
        reason="store-missing",
    )


def _other_provider(found: OldCursor, system: OldOS, failure: RescueError) -> Exception:
    """entry-missing in the keyrings found, with traces of KeePassXC or pass: say that provider instead."""
    provider = other_provider(found.home) if system == "linux" else None
    if provider is not None and failure.reason in ("entry-missing", "store-missing"):
        return provider_unsupported(provider, found.root)
    return failure


def rescuable(profile: Profile, withheld: list[str]) -> tuple[Profile, tuple[str, ...]]:
    """The profile without what must never travel: unknown `secret://cursorAuth/` rows that are not a provider
    key (`withheld`: their name does not end in Key: authToken, jwt, sessionId...; cursor.rows.secret_row_kind
    is the one rule), and values no bundle can carry."""
    fields: dict[str, Any] = {}
    dropped: list[str] = list(withheld)
    for name, value in profile.fields.items():
        if name.startswith(EXTRA_PREFIX):
            row = name[len(EXTRA_PREFIX) :]
            if not (row.lower().endswith(KEY_ROW_TAIL) and EXTRA_NAME.fullmatch(row)):
                dropped.append(SECRET_PREFIX + row)
                continue
        if isinstance(value, StoredKey) and value.secret is not None and not _carriable(value.secret.reveal()):
            dropped.append(f"{value.row} (not a key: it holds spaces or control characters)")
            continue
        fields[name] = value
    return replace(profile, fields=fields), tuple(dropped)


def _carriable(value: str) -> bool:
    return bool(value) and value.isprintable() and not any(c.isspace() for c in value)


# --- the bundle -------------------------------------------------------------------------------------------------


def seal(
    found: RescuedProfile,
    *,
    only: Iterable[str] = (),
    models: bool = True,
    passphrase: str | Callable[[], str] | None = None,
    recipients: Sequence[str] = (),
    armor: bool = False,
    output: str | None = None,
) -> tuple[bytes, BundleWritten]:
    """The age file `export` would write (exactly one of passphrase and recipients); a passphrase function is
    called only now, once the store has opened and the secret is proven."""
    if bool(recipients) == (passphrase is not None):
        raise InputError("encrypt to a passphrase or to recipients: give exactly one")
    doc, notes = found.document(only=only, models=models)
    phrase = passphrase() if callable(passphrase) else passphrase
    if phrase is not None and len(phrase) < MIN_PASSPHRASE:
        raise InputError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters, or recipients")
    data = age_envelope.seal(doc, passphrase=phrase, recipients=list(recipients), armor=armor)
    keys, providers = written_counts(doc)
    how = "recipients" if recipients else "passphrase"
    return data, BundleWritten(output, keys, providers, "models" in doc["profile"], how, len(recipients), armor,
                               tuple(notes))  # fmt: skip
