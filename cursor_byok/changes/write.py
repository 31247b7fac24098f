"""The one write path: the only code that writes to a Cursor database.

`write_plan()` checks that Cursor is closed, proves the machine secret, makes every
ciphertext, writes the undo journal, runs one short transaction, then re-reads
and verifies. `write_rows()` is the same path for undo's rows.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..crashpoint import hit
from ..cursor.paths import Installation, command_for, cursor_running, refuse_other_names
from ..cursor.rows import (
    BLOB_KEY,
    ROW_KEYS,
    ROW_PREFIXES,
    RowWriter,
    ciphertext,
    encrypted_prefixes,
    is_encrypted_row,
    read_profile,
)
from ..cursor.store import RowWrite, Store
from ..errors import ByokError, CursorRunning, PlanConflict, SafeStorageUnavailable, VerifyFailed, WrongMachineKey
from ..model import EXTRA_PREFIX, Plan, Profile, Secret, StoredKey, is_key_field
from ..results import Invocation
from ..safestorage.backends import SafeStorage
from ..safestorage.oscrypt import CbcCodec, GcmCodec, encode_buffer_json
from . import journal
from .diff import wanted_values


@dataclass(frozen=True)
class WriteResult:
    """What write_plan() did: the journal id (None when nothing was written) and the rows touched."""

    journal_id: str | None
    rows: tuple[str, ...]
    quick_check: str | None
    warnings: tuple[str, ...] = ()
    profile_journal_id: str | None = None  # the journal of a profile database's settings blob, written apart


Codec = CbcCodec | GcmCodec


def prove_machine_key(rows: Mapping[str, Any], storage: SafeStorage) -> tuple[bytes, Codec, str]:
    """(prefix, codec, label) of this machine, for new secret:// values.

    A wrong ciphertext makes Cursor delete the key, so the secret must be
    proven. Any stored encrypted row (a secret:// row of any kind, an
    extension's included, or an MCP server's `mcpOAuth.secret.*` token) that
    decrypts with the machine secret's own key proves it; a row that opens only with
    Chromium's empty-password fallback proves nothing. When the backend was
    chosen explicitly (storage.required_prefix) that prefix is written;
    otherwise a keyring (v11) row wins over a basic (v10) one. Linux v10 needs
    no proof: its key is the fixed 'peanuts' one. Stored rows that prove
    nothing (a wrong secret, or rows of another backend than the one chosen)
    refuse the write. With no secret:// row at all (a fresh Cursor), the
    backend Cursor uses is the authority: its own item is fetched, and if it
    cannot be, nothing is written.
    """
    required = storage.required_prefix()
    if required == b"v10" and storage.scheme == "linux":
        return b"v10", *storage.codec_for_prefix(b"v10")[::-1]
    proven = _proven_codecs(rows, storage)
    for prefix in (required,) if required else (b"v11", b"v10"):
        if prefix in proven:
            return prefix, *proven[prefix]
    if stored_prefixes(rows):  # rows Cursor wrote, none of which proves the secret: wrong secret or backend
        raise WrongMachineKey(
            "no existing encrypted row (secret:// or MCP token) decrypts with this machine's secret, so new "
            f"keys could not be encrypted safely (Cursor deletes keys it cannot decrypt). This run used the "
            f"{storage.backend} backend ({storage.backend_reason}); check --safe-storage (`cursor-byok where` "
            "shows the backend and why it was chosen). Only a Cursor 2.1 or older reads plain rows: for it, "
            "--key-storage plaintext"
        )
    return _from_backend(storage)


def _from_backend(storage: SafeStorage) -> tuple[bytes, Codec, str]:
    """The backend's own item decides, when no row can; exit 7 with what to do if it cannot be reached."""
    try:
        prefix, label, codec = storage.backend_codec()
    except SafeStorageUnavailable as exc:
        raise SafeStorageUnavailable(
            f"cannot encrypt keys the way this Cursor reads them: it uses the {storage.backend} backend here "
            f"({storage.backend_reason}), and {exc}. Nothing was written. Unlock the keyring, or start and quit "
            "Cursor once so it creates its item, then retry; if Cursor uses another backend, pass "
            "--safe-storage (see `cursor-byok where`)"
        ) from None
    return prefix, codec, label


def stored_prefixes(rows: Mapping[str, Any]) -> set[bytes]:
    """The ciphertext prefixes (`v10`, `v11`, ...) of the non-empty encrypted rows stored: every secret:// row
    and MCP token row. A value with no version prefix (a key another tool wrote in clear) is no ciphertext."""
    return encrypted_prefixes(rows)


def _proven_codecs(rows: Mapping[str, Any], storage: SafeStorage) -> dict[bytes, tuple[Codec, str]]:
    """prefix -> (codec, label) for each prefix whose rows decrypt with the primary key."""
    proven: dict[bytes, tuple[Codec, str]] = {}
    for key in sorted(rows):
        if not is_encrypted_row(key):
            continue
        try:
            blob = ciphertext(rows[key])
            if not blob or blob[:3] in proven:
                continue
            label, codec = storage.codec_for(blob)
            strict = replace(codec, fallback_keys=()) if isinstance(codec, CbcCodec) and codec.fallback_keys else codec
            strict.decrypt(blob)
        except Exception:  # any failure just means this row proves nothing
            continue
        proven[blob[:3]] = (strict, label)
    return proven


def _needs_encryption(wanted: Mapping[str, Any], key_form: str) -> bool:
    keyish = [f for f, v in wanted.items() if v is not None and (is_key_field(f) and f != "bedrock.session_token")]
    return any(f.startswith(EXTRA_PREFIX) for f in keyish) or (key_form == "secret" and bool(keyish))


def _unprovable_extras(wanted: Mapping[str, Any]) -> WrongMachineKey | None:
    """The refusal for unknown-provider keys: they exist only as secret:// rows, so
    --key-storage plaintext cannot help; leaving them out with --only can."""
    names = sorted(f[len(EXTRA_PREFIX) :] for f, v in wanted.items() if f.startswith(EXTRA_PREFIX) and v is not None)
    if not names:
        return None
    return WrongMachineKey(
        f"{len(names)} key(s) of providers this tool does not know ({', '.join(names)}) can only be stored "
        "encrypted as secret:// rows, and no existing secret:// row decrypts with this machine's secret; "
        "check --safe-storage, or leave them out with --only for each other provider "
        "(--only openai --only anthropic ...)"
    )


OBFUSCATED_ONLY = "this Cursor uses the basic backend: new keys are only obfuscated, not encrypted"


def encryption_notes(
    rows: Mapping[str, Any], storage: SafeStorage, wanted: Mapping[str, Any], key_form: str
) -> list[str]:
    """What the plan should say, before any confirmation, about how new keys will be protected."""
    if not _needs_encryption(wanted, key_form):
        return []
    try:
        prefix, _codec, label = prove_machine_key(rows, storage)
    except SafeStorageUnavailable as exc:
        return [f"keys cannot be encrypted here: {exc}"]
    if label == "basic":
        return [OBFUSCATED_ONLY]
    return [f"new secret:// values are encrypted with the {label} backend's secret ({prefix.decode()})"]


def build_writes(
    rows: Mapping[str, Any], storage: SafeStorage, wanted: Mapping[str, Any], key_form: str
) -> tuple[list[RowWrite], list[str]]:
    """(row writes, warnings): every ciphertext is made here, before any lock."""
    warnings: list[str] = []
    encrypt: Callable[[str], str] | None = None
    if _needs_encryption(wanted, key_form):
        try:
            prefix, codec, label = prove_machine_key(rows, storage)
        except WrongMachineKey as exc:
            raise _unprovable_extras(wanted) or exc from None
        if label == "basic":
            warnings.append(OBFUSCATED_ONLY)

        def encrypt_here(plaintext: str) -> str:
            return encode_buffer_json(codec.encrypt(plaintext))

        encrypt = encrypt_here

    writer = RowWriter(rows, key_form, encrypt)
    return writer.writes(wanted), warnings


def ensure_closed(inst: Installation) -> None:
    running = cursor_running(inst)
    if not running:
        refuse_other_names(inst)  # a hard link: another name's -wal and Cursor are out of sight
    if running:
        raise CursorRunning(
            f"Cursor is running (pid {running.pid}, found by {running.how}); quit Cursor completely "
            "(File > Exit), then run again, or pass --wait SECONDS"
        )


def write_plan(
    inst: Installation,
    storage: SafeStorage,
    plan: Plan,
    rows: Mapping[str, Any],
    *,
    key_form: str,
    command: str,
    journal_dir: Path | None = None,
    blob_db: Path | None = None,
    invocation: Invocation | None = None,
) -> WriteResult:
    """The one write path for field changes. Raises before writing anything if a check fails.

    With `blob_db` (a profile's database) the settings blob is written there
    and key rows to the default database: two transactions, each journaled,
    then every field is read back from both.
    """
    if plan.conflicts:
        raise PlanConflict(
            f"{len(plan.conflicts)} field(s) already hold different values; rerun with "
            "--on-conflict replace or keep (or --dry-run to see them)"
        )
    wanted = wanted_values(plan)
    writes, warnings = build_writes(rows, storage, wanted, key_form) if wanted else ([], [])
    if blob_db is None:
        check = partial(verify_fields, storage=storage, wanted=wanted, written=writes)
        result = write_rows(
            inst, rows, writes, command=command, journal_dir=journal_dir, check=check, invocation=invocation
        )
        return WriteResult(result.journal_id, result.rows, result.quick_check, tuple(warnings))
    result = _write_to_profile(
        inst, storage, rows, writes, wanted, blob_db, command=command, journal_dir=journal_dir, invocation=invocation
    )
    return WriteResult(result.journal_id, result.rows, result.quick_check, tuple(warnings), result.profile_journal_id)


def _write_to_profile(
    inst: Installation,
    storage: SafeStorage,
    rows: Mapping[str, Any],
    writes: list[RowWrite],
    wanted: Mapping[str, Any],
    blob_db: Path,
    *,
    command: str,
    journal_dir: Path | None,
    invocation: Invocation | None,
) -> WriteResult:
    """Key rows into the default database, the settings blob into the profile's; then verify both."""
    parts = (
        (inst, [w for w in writes if w.key != BLOB_KEY]),
        (replace(inst, db_path=blob_db), [w for w in writes if w.key == BLOB_KEY]),
    )
    for target, part in parts:  # both databases are checked before either is written
        if part:
            ensure_closed(target)
            with Store(target.db_path) as st:
                st.check_writable()
    (inst, key_writes), (profile_inst, blob_writes) = parts
    keys = write_rows(inst, rows, key_writes, command=command, journal_dir=journal_dir, invocation=invocation)
    undo_keys = (
        f"undo them with {undo_command(inst, keys.journal_id, invocation=invocation)}" if keys.journal_id else ""
    )
    try:
        blob = write_rows(
            profile_inst, rows, blob_writes, command=command, journal_dir=journal_dir, invocation=invocation
        )
    except ByokError as exc:
        if not keys.journal_id:
            raise
        raise VerifyFailed(
            f"the key rows were written but the profile's settings were not ({exc}); {undo_keys}"
        ) from None
    if writes:
        try:
            verify_merged(inst.db_path, blob_db, storage, wanted)
        except VerifyFailed as exc:
            location = profile_inst.db_path.parent.parent.name
            undo_blob = undo_command(inst, blob.journal_id, location, invocation) if blob.journal_id else ""
            raise VerifyFailed(f"{exc}; {' and '.join(x for x in (undo_keys, undo_blob) if x)}") from None
    return WriteResult(
        keys.journal_id,
        (*keys.rows, *blob.rows),
        blob.quick_check or keys.quick_check,
        profile_journal_id=blob.journal_id,
    )


def undo_command(
    inst: Installation, journal_id: str, profile_location: str | None = None, invocation: Invocation | None = None
) -> str:
    """`cursor-byok [global options] undo [--profile P] ID`, quoted and ready to paste: it names the database the
    write went to (and, given the invocation, the user's own global options), so it undoes that write only."""
    args = ("undo", *(("--profile", profile_location) if profile_location else ()), journal_id)
    if invocation is not None:
        return f"`{invocation.hint(*args)}`"
    return f"`{command_for(inst, shlex.join(args))}`"


def write_rows(
    inst: Installation,
    rows: Mapping[str, Any],
    writes: Sequence[RowWrite],
    *,
    command: str,
    journal_dir: Path | None = None,
    check: Callable[[Store], None] | None = None,
    undoes: str | None = None,
    invocation: Invocation | None = None,
) -> WriteResult:
    """Journal, then write `writes` in one transaction, then verify. Shared by write_plan and undo (an undo's
    journal names the journal it restores: `undoes`)."""
    if not writes:
        return WriteResult(None, (), None)
    ensure_closed(inst)
    with Store(inst.db_path) as st:
        st.check_writable()  # before the journal: a refused database keeps no trace of the attempt
    entry = journal.record(inst.db_path, rows, writes, command=command, folder=journal_dir, undoes=undoes)
    with Store(inst.db_path, writable=True) as st:
        try:
            st.write(writes, expect={w.key: rows.get(w.key) for w in writes}, on_step=hit)
        except BaseException:
            entry.path.unlink(missing_ok=True)  # rolled back: there is nothing to undo
            raise
        hit("verify")  # committed; a crash from here on leaves the new rows and their journal
        try:
            verify_rows(st, writes)
            if check is not None:
                check(st)
        except VerifyFailed as exc:
            raise VerifyFailed(f"{exc}; undo the write with {undo_command(inst, entry.id, None, invocation)}") from None
        quick = st.quick_check()
        if journal.key_rows(entry):  # a key was removed or replaced: no old page copy of it may stay in -wal
            st.checkpoint()
    if quick != "ok":
        undo = undo_command(inst, entry.id, None, invocation)
        raise VerifyFailed(f"PRAGMA quick_check says {quick!r}; undo the write with {undo}")
    return WriteResult(entry.id, tuple(w.key for w in writes), quick)


def verify_rows(st: Store, writes: Sequence[RowWrite]) -> None:
    """Every written row reads back exactly as written."""
    after = st.get_items([w.key for w in writes])
    for w in writes:
        if after.get(w.key) != w.value:
            raise VerifyFailed(f"row {w.key!r} did not read back as written")


def verify_fields(st: Store, storage: SafeStorage, wanted: Mapping[str, Any], written: Sequence[RowWrite] = ()) -> None:
    """Every wanted field decodes to the wanted value (keys decrypt with this machine's secret).

    `written` are the row writes that verify_rows has just read back as
    written: their values are taken as they are instead of being read again,
    so a large settings blob is not held twice more.
    """
    known = {w.key: w.value for w in written if w.value is not None}
    rows = st.get_items([k for k in ROW_KEYS if k not in known], ROW_PREFIXES)
    for w in written:
        if w.value is None:
            rows.pop(w.key, None)
        else:
            rows[w.key] = w.value
    _check_fields(read_profile(rows, storage), wanted)


def verify_merged(db_path: Path, blob_db: Path, storage: SafeStorage, wanted: Mapping[str, Any]) -> None:
    """verify_fields over a default database's key rows and a profile database's settings blob."""
    with Store(db_path) as st:
        rows: dict[str, str | bytes | None] = dict(st.get_items(ROW_KEYS, ROW_PREFIXES))
    with Store(blob_db) as st:
        rows[BLOB_KEY] = st.get_items([BLOB_KEY]).get(BLOB_KEY)  # None: the profile has no settings blob yet
    _check_fields(read_profile(rows, storage), wanted)


def _check_fields(profile: Profile, wanted: Mapping[str, Any]) -> None:
    for field, value in wanted.items():
        if not _reads_back(profile.fields.get(field), value):
            raise VerifyFailed(f"{field} did not read back as written")


def _reads_back(got: Any, value: Any) -> bool:
    if value is None:
        return got is None
    if isinstance(value, Secret):
        return isinstance(got, StoredKey) and got.secret == value
    if isinstance(value, (list, tuple)):
        return tuple(got or ()) == tuple(value)
    if value is False and got is None:
        return True
    return bool(got == value)
