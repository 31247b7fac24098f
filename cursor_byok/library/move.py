"""The commands that move keys: export, import (and list --bundle), undo, redo."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..bundle import age_envelope, document
from ..changes.diff import filter_fields
from ..changes.flow import FieldWrite, Interaction, Mode, Policy, check_closed, conflict_policy, run
from ..changes.outcome import Written
from ..changes.planner import Prepared, Target, prepare
from ..changes.undo import JournalList, Purged, UndoResult, UndoWrite, journal_list, purge, undo_plan
from ..checks.listing import Listing, bundle_listing
from ..checks.origin import origin_notes
from ..cursor.reading import load_profile
from ..cursor.rows import RAW_LEFT_OUT
from ..errors import InputError, KeysUndecryptable
from ..key_shapes import NOT_SHOWN, secret_in_path, shown_path
from ..model import MIN_PASSPHRASE, ConflictPolicy, KeyStorage, ModelsPolicy, Profile
from ..private_files import read_small, write_private
from ..results import Result, internal
from .context import Context, context


@dataclass(frozen=True)
class Bundle(Result):
    """An opened, checked bundle. `to_json()` says what it holds, masked; the keys in clear are only in
    `document_in_clear`, to keep in memory."""

    created: str | None
    source: Any
    providers: tuple[str, ...]
    keys: int
    models: bool
    document_in_clear: Mapping[str, Any] = internal()
    profile: Profile | None = internal()
    notes: tuple[str, ...] = internal(())  # said in the import plan (rescue: what the old copy could not give)

    def listing(self, *, path: str = "", reveal: bool = False) -> Listing:
        """What it holds, as `list --bundle` shows it (keys masked unless `reveal`)."""
        assert self.profile is not None
        return bundle_listing(self.profile, self.document_in_clear, path=shown_path(path, opened=True), reveal=reveal)


def open_bundle(
    data: bytes,
    *,
    passphrases: Iterable[str] = (),
    identity_files: Iterable[str] = (),
    ask: Callable[[str], str] | None = None,
) -> Bundle:
    """Decrypt and check a bundle (hostile input: BundleError / BundleAuthError, never anything else);
    `ask(label)` unlocks a passphrase-protected SSH identity."""
    identities = [i for path in identity_files for i in age_envelope.load_identities(path, ask)]
    return bundle_of(document.decode(age_envelope.decrypt(data, passphrases=list(passphrases), identities=identities)))


def bundle_of(doc: dict[str, Any], notes: Iterable[str] = ()) -> Bundle:
    """A Bundle of a decoded bundle document (its keys checked as import checks them: BundleError); `notes` are
    shown with the import plan."""
    keys, _providers = document.written_counts(doc)
    held = tuple(doc["profile"].get("providers", {}))
    return Bundle(doc.get("created"), doc.get("source"), held, keys, "models" in doc["profile"], doc,
                  document.to_profile(doc), tuple(notes))  # fmt: skip


@dataclass(frozen=True)
class ExportedBundle(Result):
    """An encrypted bundle (`export`); `data` is the age file, written to `output` when one was given."""

    output: str | None
    keys: int  # keys written
    providers: int
    models: bool
    encrypted_to: str  # "passphrase" or "recipients"
    recipients: int
    armor: bool
    left_out: tuple[str, ...] = ()  # keys left out (only with skip_undecryptable)
    notes: tuple[str, ...] = ()
    data: bytes = internal(b"")


def export_bundle(
    ctx: Context | None = None,
    *,
    passphrase: str | Callable[[], str] | None = None,
    recipients: Iterable[str] = (),
    only: Iterable[str] = (),
    keys: bool = True,
    models: bool = True,
    skip_undecryptable: bool = False,
    armor: bool = False,
    output: str | Path | None = None,
    overwrite: bool = False,
) -> ExportedBundle:
    """Keys, settings and models, encrypted to a passphrase or to age/SSH recipients (exactly one of them), and
    written to `output` (0600) when given. Refuses (KeysUndecryptable) a key that cannot be decrypted here unless
    `skip_undecryptable`; a passphrase function is called only once the document is ready."""
    recipients = list(recipients)
    if output is not None and secret_in_path(output):
        raise InputError(f"the output file {NOT_SHOWN} looks like a key, which must never become a file name")
    if bool(recipients) == bool(passphrase):
        raise InputError("encrypt to a passphrase or to recipients: give exactly one")
    doc, notes = export_document(context(ctx), only=only, keys=keys, models=models, skip=skip_undecryptable)
    phrase = passphrase() if callable(passphrase) else passphrase
    if phrase is not None and len(phrase) < MIN_PASSPHRASE:
        raise InputError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters, or recipients")
    data = age_envelope.seal(doc, passphrase=phrase, recipients=recipients, armor=armor)
    if output is not None:
        write_private(Path(output), data, overwrite=overwrite)
    n_keys, n_providers = document.written_counts(doc)
    left = tuple(n for n in notes if document.LEFT_OUT in n or RAW_LEFT_OUT in n)
    written = None if output is None else shown_path(output, opened=True)
    return ExportedBundle(written, n_keys, n_providers, "models" in doc["profile"],
                          "recipients" if recipients else "passphrase", len(recipients), armor, left, tuple(notes),
                          data)  # fmt: skip


def export_document(
    ctx: Context, *, only: Iterable[str], keys: bool, models: bool, skip: bool
) -> tuple[dict[str, Any], list[str]]:
    """The bundle document of the chosen installation and the notes on what it leaves out."""
    inst = ctx.installation()
    chosen, storage = ctx.selected_profile(inst), ctx.storage_for(inst)
    profile, rows = load_profile(inst, storage, chosen.db if chosen else None)
    missing = document.undecryptable(profile, only=only, keys=keys)
    if missing and not skip:
        found = origin_notes(inst, rows, storage, ctx.invocation(inst), ("export", "-o", "keys.age"))
        what = (
            f"{found[0]}; or pass" if found else "check the safe storage (`cursor-byok where`, --safe-storage), or pass"
        )
        raise KeysUndecryptable(
            f"{len(missing)} key(s) cannot be decrypted here ({', '.join(missing)}), so the bundle would lack "
            f"them; {what} skip_undecryptable=True to export the rest without them"
        )
    return document.to_document(profile, only=only, keys=keys, models=models)


BundleInput = Bundle | bytes | str | Path | Callable[[], Bundle]
MAX_BUNDLE = 64 << 20  # a bundle holds a few KiB; this only stops a runaway read


def import_bundle(
    ctx: Context | None,
    bundle: BundleInput,
    *,
    passphrase: str | None = None,
    identity_files: Iterable[str] = (),
    only: Iterable[str] = (),
    no_keys: bool = False,
    on_conflict: ConflictPolicy | str = "fail",
    models: ModelsPolicy = "union",
    key_storage: KeyStorage = "auto",
    allow_endpoints: Iterable[str] = (),
    dry_run: bool = False,
    check: bool = False,
    wait: float | None = None,
    ui: Interaction | None = None,
    command: str = "import",
) -> Written:
    """The whole import, in the order a user needs: preflight (Cursor closed, the machine secret proven unless
    no key is written), then the bundle opened (`bundle`: an opened Bundle, its bytes, or a function that opens
    it, asking for its passphrase), the plan, the decisions, the write. on_conflict="ask" hands the conflicts to
    `ui.decide`; a new endpoint goes ahead only for a host in `allow_endpoints` or by its own decision."""
    ctx, ui = context(ctx), ui or Interaction()
    mode, policy = Mode(dry_run, check, wait), conflict_policy(on_conflict, ui)
    target = ctx.target(mode, keys=not no_keys and _keys_wanted(only), key_storage=key_storage, ui=ui)
    prepare = partial(prepare_bundle, only=only, no_keys=no_keys, on_conflict=on_conflict, models=models,
                   key_storage=key_storage, allow_endpoints=allow_endpoints)  # fmt: skip

    def make(target: Target) -> FieldWrite:
        return FieldWrite(prepare(target, _opened(bundle, passphrase, identity_files)), command)

    return run(target, make, mode=mode, policy=policy, ui=ui)


def plan_import(ctx: Context | None, bundle: BundleInput, **options: Any) -> Written:
    """What import_bundle() would do, written nowhere (a dry run): the same plan, notes and conflicts."""
    return import_bundle(ctx, bundle, dry_run=True, **options)


def _keys_wanted(only: Iterable[str]) -> bool:
    chosen = set(only)
    return not chosen or bool(chosen - {"models"})


def _opened(bundle: BundleInput, passphrase: str | None, identity_files: Iterable[str]) -> Bundle:
    if isinstance(bundle, Bundle):
        return bundle
    if callable(bundle):
        return bundle()
    data = bundle if isinstance(bundle, bytes) else _read_bundle(Path(bundle))
    return open_bundle(data, passphrases=[passphrase] if passphrase else [], identity_files=identity_files)


def _read_bundle(path: Path) -> bytes:
    try:
        return read_small(path, MAX_BUNDLE)
    except OSError as exc:
        raise InputError(f"{shown_path(str(path))}: cannot read the bundle ({exc.strerror})") from None


def prepare_bundle(
    target: Target,
    opened: Bundle,
    *,
    only: Iterable[str] = (),
    no_keys: bool = False,
    on_conflict: ConflictPolicy | str = "fail",
    models: ModelsPolicy = "union",
    key_storage: KeyStorage = "auto",
    allow_endpoints: Iterable[str] = (),
) -> Prepared:
    """The Prepared plan of importing an opened bundle into a target that passed preflight."""
    wanted = filter_fields(document.to_fields(dict(opened.document_in_clear)), only, keys=not no_keys)
    policy: ConflictPolicy = "fail" if on_conflict == "ask" else on_conflict  # type: ignore[assignment]
    return prepare(
        target, wanted, on_conflict=policy, models=models, key_storage=key_storage, allow_endpoints=allow_endpoints,
        source_protection=document.source_protection(opened.document_in_clear), notes=opened.notes,
    )  # fmt: skip


# --- undo and redo ----------------------------------------------------------------------


def undo(
    ctx: Context | None = None,
    journal_id: str | None = None,
    *,
    redo: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: float | None = None,
    ui: Interaction | None = None,
) -> UndoResult:
    """Restore the rows and settings fields of a journal: the given one, or the newest write not undone yet (each
    undo goes one step further back; a write that never landed is passed over). `redo=True` re-applies what the
    newest undo restored. Values changed since the write are restored only with `force`."""
    ctx, ui, mode = context(ctx), ui or Interaction(), Mode(dry_run=dry_run, wait=wait)
    inst = ctx.undo_installation()
    invocation = ctx.invocation(ctx.installation())
    check_closed(inst, mode, invocation, ui)  # preflight: Cursor closed, before anything is read or asked

    def make(_target: Target) -> UndoWrite:
        plan = undo_plan(inst, journal_id, redo=redo, invocation=invocation, profile=ctx.profile, force=force)
        return UndoWrite(plan)

    target = Target(inst, ctx.storage_for(inst), {}, invocation)
    return run(target, make, mode=mode, policy=Policy(), ui=ui)


def redo(ctx: Context | None = None, **options: Any) -> UndoResult:
    """Re-apply the write the newest undo restored (an undo of that undo's journal)."""
    return undo(ctx, redo=True, **options)


def journals(ctx: Context | None = None) -> JournalList:
    """This database's undo journals, newest first: which writes are undone, by which undo (`undo --list`)."""
    return journal_list(context(ctx).undo_installation())


def purge_journals(ctx: Context | None = None, journal_id: str | None = None) -> Purged:
    """Delete this database's journals (or those whose id starts with `journal_id`): they hold old values."""
    inst = context(ctx).undo_installation()
    ids = [j.id for j in journal_list(inst).journals if not journal_id or j.id.startswith(journal_id)]
    return purge(inst, ids)
