"""The old machine's secret store in the copy: which files may hold Cursor's secret, and opening them offline.

Each system keeps Cursor's safeStorage secret in one kind of store
(rescue-formats.md): Linux in a GNOME keyring (`gnome_keyring`, binary or
textual), an oo7 keyring (`oo7_keyring`) or a KDE wallet (`kwallet_file`);
macOS in the login keychain (`keychain_file`); Windows in `Local State`,
wrapped by a DPAPI master key of `Protect/<SID>/` (`dpapi_offline`). This
module finds the files of the store the layout calls for (or those the user
named: `StorePaths`), and turns each into a `Candidate` whose `open` gives
Cursor's secret from it with the old passwords. Which candidate is right is
not decided here: the engine proves a secret by decrypting a stored row.

Files are read whole, bounded and without blocking (`private_files.read_small`),
and only inside the copy (`locate.inside`): a symlink in a backup may point
anywhere on this machine. Nothing here writes.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

from ..errors import RescueError, RescueNotFound, StoreDamaged, StoreLocked, StoreUnsupported
from ..private_files import FileTooLarge, NotRegularFile, read_small
from . import dpapi_offline, gnome_keyring, keychain_file, kwallet_file, oo7_keyring
from .dpapi_masterkey import ENTRA_PREFIX, SID_SHAPE, check_sid
from .items import StoreItem
from .locate import exists, inside, is_file

StoreKind = Literal["gnome-keyring", "oo7-keyring", "kwallet", "keychain", "dpapi"]
STORE_FILE_LIMIT = 64 << 20  # keyrings, wallets and keychains hold KiB to a few MiB
LOCAL_STATE_LIMIT = 16 << 20
TRIES = 3  # passwords typed at a prompt
# Store files tried: a home has a handful, and each costs a key derivation per password (oo7 allows 2,000,000
# PBKDF2 iterations: 0.5 s a try), so a copy with thousands would run for hours. Named files always count.
MAX_STORE_FILES = 32

KEYRING_DIRS = ((".local", "share", "keyrings", "v1"), (".local", "share", "keyrings"), (".gnome2", "keyrings"))
WALLET_DIRS = (
    (".local", "share", "kwalletd"),
    (".kde4", "share", "apps", "kwallet"),
    (".kde", "share", "apps", "kwallet"),
)
KEYCHAINS = (("Library", "Keychains", "login.keychain-db"), ("Library", "Keychains", "login.keychain"))
PROTECT = ("Microsoft", "Protect")
GUID_NAME = dpapi_offline.GUID_NAME
# Other Secret Service providers (their databases are theirs to open): where their traces are in a home.
OTHER_PROVIDERS = (
    ("KeePassXC", ((".config", "keepassxc"), (".cache", "keepassxc"), (".local", "share", "keepassxc"))),
    ("pass", ((".password-store",),)),
)
# Which failure to report when no store gave a secret that decrypts a row: the first reason in this order.
REASON_ORDER = (
    "legacy-ciphers-missing",
    "keychain-v2",
    "entra-account",
    "gpg-wallet",
    "wrong-password",
    "salt-missing",
    "store-damaged",
    "store-unsupported",
    "provider-unsupported",
    "entry-missing",
    "store-missing",
)


@dataclass(frozen=True)
class StorePaths:
    """Store files the user named because they are not under --from (a partial backup): --keyring FILE
    (repeatable: GNOME or oo7), --wallet FILE (a .kwl, its .salt beside it), --keychain FILE, --protect-dir DIR
    (`Protect` or `Protect/<SID>`)."""

    keyrings: tuple[Path, ...] = ()
    wallet: Path | None = None
    keychain: Path | None = None
    protect_dir: Path | None = None


class Passwords:
    """The old login passwords: those given, in order; with none given, `ask` (a hidden prompt) is asked when a
    store first needs one and, after every store refused it, again up to TRIES times."""

    def __init__(self, given: Sequence[str], ask: Callable[[str], str] | None) -> None:
        self.given = list(dict.fromkeys(given))
        self.ask = ask
        self.typed: list[str] = []

    def __call__(self, what: str) -> list[str]:
        if self.given:
            return self.given
        if not self.typed and self.ask is not None:
            self.typed.append(self.ask(f"Old login password (for {what})"))
        if not self.typed:
            raise StoreLocked(
                f"{what} needs the old login password: give it with --login-password-file FILE or "
                "--login-password-env VAR (or run on a terminal to be asked)"
            )
        return self.typed[-1:]

    def again(self) -> bool:
        """Ask once more after a wrong password typed at the prompt; False when nothing more can be asked."""
        if self.given or self.ask is None or not self.typed or len(self.typed) >= TRIES:
            return False
        self.typed.append(self.ask(f"That did not open it; old login password (try {len(self.typed) + 1} of {TRIES})"))
        return True


@dataclass(frozen=True)
class Opened:
    """Cursor's secret as a store gave it, and how the store was opened (for the report: never the password)."""

    secret: bytes = field(repr=False)
    opened_with: str


@dataclass(frozen=True)
class Candidate:
    """A store file that may hold Cursor's secret; `open(passwords)` gives it (Opened) or a RescueError."""

    kind: StoreKind
    path: Path
    open: Callable[[Passwords], Opened] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Found:
    """The candidates of one system's store, and every path looked at (for store-missing)."""

    candidates: tuple[Candidate, ...]
    looked_at: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # files not read: symlinks out of the copy


# --- reading the files -----------------------------------------------------------------------------------------


def read_store_file(path: Path, limit: int = STORE_FILE_LIMIT) -> bytes:
    """A store file's bytes, read without blocking and bounded; a one-line RescueError otherwise. A name that is
    not a regular file is never opened: opening a device can act (a tape rewinds, a watchdog starts)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a folder, FIFO or device)", str(path))
        return read_small(path, limit)
    except FileNotFoundError:
        raise RescueNotFound(f"{path}: no such file", reason="store-missing") from None
    except (NotRegularFile, FileTooLarge) as exc:
        raise StoreDamaged(f"{path}: {exc.strerror}, so not a store file") from None
    except OSError as exc:
        raise RescueNotFound(f"{path}: cannot read it ({exc.strerror or exc})", reason="store-missing") from None


def _files(folder: Path, pattern: str, first: str) -> list[Path]:
    try:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name != first)


# --- Linux ------------------------------------------------------------------------------------------------------


def _keyring(path: Path) -> Candidate:
    def open_(passwords: Passwords) -> Opened:
        data, name = read_store_file(path), path.name
        kind = gnome_keyring.format_of(data, name=name)
        if kind == "oo7-1.0":
            items, how = _oo7_items(data, name, passwords, str(path))
        elif kind == "textual":
            items, how = gnome_keyring.open_keyring(data, [], name=name), "no password (a textual keyring)"
        else:
            items, how = gnome_keyring.open_keyring(data, passwords(str(path)), name=name), "a login password"
        return Opened(gnome_keyring.cursor_secret(items, store_name=f"keyring {path}"), how)

    return Candidate("oo7-keyring" if path.parent.name == "v1" else "gnome-keyring", path, open_)


def _oo7_items(data: bytes, name: str, passwords: Passwords, what: str) -> tuple[list[StoreItem], str]:
    try:  # oo7 writes a keyring without a password in clear
        return oo7_keyring.open_keyring(data, [], name=name), "no password (written without one)"
    except StoreLocked:
        return oo7_keyring.open_keyring(data, passwords(what), name=name), "a login password"


def _wallet(path: Path, base: Path | None) -> Candidate:
    """A KDE wallet; its .salt beside it is read only inside `base` (None: the user named the wallet)."""

    def open_(passwords: Passwords) -> Opened:
        kwl, salt_path = read_store_file(path), path.with_suffix(".salt")
        if base is not None and exists(salt_path) and not inside(salt_path, base):
            raise RescueNotFound(
                f"{salt_path} is a symlink to outside the copy: not read; copy the salt file itself next to "
                f"{path.name}",
                reason="salt-missing",
            )
        salt = read_store_file(salt_path) if exists(salt_path) else None
        try:  # a wallet with an empty password opens without a dialog
            items, how = kwallet_file.open_wallet(kwl, salt, [""], name=path.stem), "the empty wallet password"
        except StoreLocked:
            items = kwallet_file.open_wallet(kwl, salt, passwords(str(path)), name=path.stem)
            how = "a login password"
        return Opened(kwallet_file.cursor_secret(items, store_name=f"KDE Wallet {path}"), how)

    return Candidate("kwallet", path, open_)


def linux_stores(home: Path | None, base: Path, given: StorePaths) -> Found:
    """GNOME and oo7 keyrings, then KDE wallets: those named, then those in the old home."""
    named = [*given.keyrings, *([given.wallet] if given.wallet else [])]
    looked: list[str] = [str(p) for p in named]
    paths: list[Path] = list(named)
    for parts in (*KEYRING_DIRS, *WALLET_DIRS):
        if home is None:
            break
        is_wallet = parts in WALLET_DIRS
        pattern, first = ("*.kwl", "kdewallet.kwl") if is_wallet else ("*.keyring", "login.keyring")
        looked.append(str(home.joinpath(*parts, pattern)))
        paths += _files(home.joinpath(*parts), pattern, first)
    if home is None and not named:
        looked.append("(no home folder around the user-data dir: name the store with --keyring or --wallet)")
    by_name = set(named)
    kept, skipped = _within(paths, base, by_name)
    if len(kept) > MAX_STORE_FILES:
        left = [p for p in kept if p not in by_name][max(MAX_STORE_FILES - len(by_name), 0) :]
        kept = [p for p in kept if p not in left]
        skipped += (f"{len(left)} more store files not tried (first: {left[0]}); name the right one with "
                    "--keyring or --wallet",)  # fmt: skip
    candidates = (_wallet(p, None if p in by_name else base) if p.suffix == ".kwl" else _keyring(p) for p in kept)
    return Found(tuple(candidates), tuple(looked), skipped)


def other_provider(home: Path | None) -> str | None:
    """A Secret Service provider whose database this tool cannot open (KeePassXC, pass), by its traces."""
    if home is None:
        return None
    for name, places in OTHER_PROVIDERS:
        if any(exists(home.joinpath(*parts)) for parts in places):
            return name
    return None


def provider_unsupported(provider: str, root: Path) -> StoreUnsupported:
    return StoreUnsupported(
        f"Cursor's secret on that machine was probably kept by {provider} (its traces are in the copy), whose "
        f"database this tool cannot open: open it with {provider}, copy the password of the entry 'Chromium Safe "
        "Storage' (application Cursor) into a file, and run `cursor-byok rescue --from "
        f"{root} --safe-storage-password-file FILE`",
        reason="provider-unsupported",
    )


# --- macOS ------------------------------------------------------------------------------------------------------


def _keychain(path: Path) -> Candidate:
    def open_(passwords: Passwords) -> Opened:
        data = read_store_file(path)
        items = keychain_file.open_keychain(data, passwords(str(path)), name=str(path))
        return Opened(keychain_file.cursor_secret(items, store_name=str(path)), "a login password")

    return Candidate("keychain", path, open_)


def macos_stores(home: Path | None, base: Path, given: StorePaths) -> Found:
    if given.keychain is not None:
        return Found((_keychain(given.keychain),), (str(given.keychain),))
    places = [home.joinpath(*parts) for parts in KEYCHAINS] if home is not None else []
    looked = tuple(str(p) for p in places) or ("(no home folder around the user-data dir: name it with --keychain)",)
    kept, skipped = _within([p for p in places if is_file(p)][:1], base, set())
    return Found(tuple(_keychain(p) for p in kept), looked, skipped)


# --- Windows ----------------------------------------------------------------------------------------------------


def local_state(udd: Path, base: Path) -> bytes | None:
    """The old `Local State`, or None when there is none (Cursor writes it on Windows only); read only inside
    the copy (`base`)."""
    path = udd / "Local State"
    if not is_file(path):
        return None
    if not inside(path, base):
        raise RescueNotFound(
            f"{path} is a symlink to outside the copy ({base}): not read; copy the file itself",
            reason="store-missing",
        )
    return read_store_file(path, LOCAL_STATE_LIMIT)


def has_dpapi_key(udd: Path, base: Path) -> bool:
    """True when the user-data dir's `Local State` holds a DPAPI-wrapped key: a Windows install."""
    try:
        data = local_state(udd, base)
        return data is not None and dpapi_offline.local_state_blob(data) is not None
    except RescueError:
        return False


def _sid_folders(protect: Path) -> list[Path]:
    """`Protect/<SID>` folders: `protect` itself when it is one, else its SID-named subfolders."""
    if SID_SHAPE.fullmatch(protect.name):
        return [protect]
    try:
        return sorted(p for p in protect.iterdir() if p.is_dir() and SID_SHAPE.fullmatch(p.name))
    except OSError:
        return []


def _master_key(folder: Path, guid: str, base: Path | None) -> dict[str, bytes]:
    """The one master-key file the blob names (GUID -> bytes), read bounded, and only inside `base` (None: the
    user named the Protect folder); the folder may hold any number of others."""
    path = folder / guid
    if base is not None and not inside(path, base):
        raise RescueNotFound(
            f"{path} is a symlink to outside the copy ({base}): not read; copy the Protect folder itself",
            reason="store-missing",
        )
    return {guid: read_store_file(path, dpapi_offline.MASTERKEY_LIMIT)}


def _dpapi(udd: Path, protect: Path, base: Path | None, copy: Path) -> Candidate:
    """Cursor's key in `udd`'s Local State (read inside `copy`), its master key in `protect` (inside `base`)."""

    def open_(passwords: Passwords) -> Opened:
        data = local_state(udd, copy)
        if data is None:
            raise RescueNotFound(f"{udd / 'Local State'}: no such file (it holds Cursor's key)", reason="store-missing")
        guid = dpapi_offline.local_state_blob(data, str(udd / "Local State")).masterkey_guid
        folders = [f for f in _sid_folders(protect) if base is None or inside(f, base)]
        holding = [f for f in folders if is_file(f / guid)]
        if not holding:
            entra = [f for f in folders if f.name.upper().startswith(ENTRA_PREFIX.upper())]
            if entra:
                check_sid(entra[0].name)  # StoreUnsupported: entra-account
            shown = ", ".join(str(f) for f in folders) or f"no Protect/<SID> folder in {protect}"
            raise RescueNotFound(
                f"the DPAPI master key {guid} that protects Cursor's key is not in the copy (looked in {shown}); "
                "copy AppData/Roaming/Microsoft/Protect from the old machine whole, or name it with --protect-dir",
                reason="store-missing",
            )
        sid = check_sid(holding[0].name)  # an Entra ID account is refused before any password is asked
        key = dpapi_offline.oscrypt_key(
            data, _master_key(holding[0], guid, base), sid, passwords(str(holding[0])), folder=str(holding[0])
        )
        return Opened(key, "a login password")

    return Candidate("dpapi", protect, open_)


def windows_stores(udd: Path, roaming: Path, base: Path, given: StorePaths) -> Found:
    protect = given.protect_dir or roaming.joinpath(*PROTECT)
    looked = (str(udd / "Local State"), str(protect))
    if not is_file(udd / "Local State") or not _sid_folders(protect):
        return Found((), looked)
    return Found((_dpapi(udd, protect, None if given.protect_dir else base, base),), looked)


# --- choosing ---------------------------------------------------------------------------------------------------


def _within(paths: list[Path], base: Path, named: set[Path]) -> tuple[list[Path], tuple[str, ...]]:
    """The paths inside the copy (those the user named always), and a note for each one left out."""
    kept, skipped = [], []
    for path in dict.fromkeys(paths):
        if path in named or inside(path, base):
            kept.append(path)
        else:
            skipped.append(f"{path} is a symlink to outside the copy: not read")
    return kept, tuple(skipped)


def worst(failures: Sequence[RescueError]) -> RescueError:
    """The failure to report when no store gave a proven secret: the first by REASON_ORDER."""
    rank = {reason: i for i, reason in enumerate(REASON_ORDER)}
    return min(failures, key=lambda exc: rank.get(exc.reason, rank["store-unsupported"]))
