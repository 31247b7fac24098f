"""The commands that change keys, settings and models here: set, unset, models, apply."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ..changes import manifest, wanted
from ..changes.flow import FieldWrite, Interaction, Mode, conflict_policy, run
from ..changes.outcome import SourceReview, Written
from ..changes.planner import Target, decoded, prepare_write
from ..errors import ConfirmationNeeded, Declined, InputError
from ..model import ConflictPolicy, KeyStorage, Secret
from .context import Context, context
from .read import provider_name

KeySource = Callable[[], Mapping[str, Secret]]


def _write(ctx: Context | None, mode: Mode, ui: Interaction | None, keys: bool, make: Callable[[Target], FieldWrite],
           *, key_storage: KeyStorage = "auto", on_conflict: str = "fail") -> Written:  # fmt: skip
    """Preflight, then the rest of the one flow (changes.flow)."""
    ui = ui or Interaction()
    policy = conflict_policy(on_conflict, ui)
    target = context(ctx).target(mode, keys=keys, key_storage=key_storage, ui=ui)
    return run(target, make, mode=mode, policy=policy, ui=ui)


def set_key(
    ctx: Context | None,
    provider: str,
    key: str | None = None,
    *,
    secret_key: str | None = None,
    keys: KeySource | None = None,
    base_url: str | None = None,
    deployment: str | None = None,
    region: str | None = None,
    enabled: bool | None = None,
    key_storage: KeyStorage = "auto",
    from_row: bool = False,
    force: bool = False,
    dry_run: bool = False,
    check: bool = False,
    wait: float | None = None,
    ui: Interaction | None = None,
) -> Written:
    """Store a provider's key(s) and settings, as `cursor-byok set` does. `key` (Bedrock: the access key ID) and
    `secret_key`, or `keys`: a function read after preflight (field -> Secret, e.g. prompts); or `from_row`: the
    key already stored, re-encrypted the way this Cursor reads it (one another tool wrote in clear into its
    secret:// row), its switch left as it is."""
    provider = provider_name(provider)
    given = wanted.given_keys(provider, key, secret_key)
    settings = wanted.setting_options(provider, {"base_url": base_url, "deployment": deployment, "region": region},
                                       parameters=True)  # fmt: skip
    if from_row and (given or keys is not None):
        raise InputError("from_row takes the stored key: give no other key")
    reader = keys or (lambda: given)

    def make(target: Target) -> FieldWrite:
        stored = decoded(target) if from_row else None
        read = wanted.checked_keys(provider, wanted.stored_keys(stored, provider, force) if stored else reader())
        switch = stored.get(f"{provider}.enabled") if stored and enabled is None else enabled
        build = lambda _p: wanted.provider_fields(provider, read, settings, switch)  # noqa: E731
        prepared = prepare_write(
            target, build, key_storage=key_storage, guard_endpoints=False, force=force, keys=bool(read) or from_row
        )
        return FieldWrite(prepared, f"set {provider}" + (" --from-row" if from_row else ""))

    mode = Mode(dry_run, check, wait)
    return _write(ctx, mode, ui, bool(given) or keys is not None or from_row, make, key_storage=key_storage)


def unset_key(
    ctx: Context | None, provider: str, *, dry_run: bool = False, check: bool = False, wait: float | None = None,
    ui: Interaction | None = None,
) -> Written:  # fmt: skip
    """Remove a provider's key(s) and switch it off, as `cursor-byok unset` does."""
    provider = provider_name(provider)
    build = lambda profile: wanted.unset_fields(provider, profile)  # noqa: E731
    make = lambda target: FieldWrite(prepare_write(target, build), f"unset {provider}")  # noqa: E731
    return _write(ctx, Mode(dry_run, check, wait), ui, False, make)


def models(
    ctx: Context | None = None,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    select: Mapping[str, str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    check: bool = False,
    wait: float | None = None,
    ui: Interaction | None = None,
) -> Written:
    """Change model lists and per-surface selections as the `models` subcommands do, in one write (one undo).
    An unknown surface is refused (MistakeRefused) unless `force`."""
    ops = wanted.model_request(add=add, remove=remove, enable=enable, disable=disable, select=select or {})

    def make(target: Target) -> FieldWrite:
        notes = (lambda p: wanted.model_notes(p, ops.lists["remove"])) if ops.lists["remove"] else None
        prepared = prepare_write(target, ops.build, notes=notes, force=force, keys=False)  # no key is read or written
        return FieldWrite(prepared, "models " + ops.words())

    return _write(ctx, Mode(dry_run, check, wait), ui, False, make)


def apply_manifest(
    ctx: Context | None,
    path: str | Path,
    *,
    on_conflict: ConflictPolicy | str = "fail",
    key_storage: KeyStorage = "auto",
    allow_endpoints: Iterable[str] = (),
    force: bool = False,
    dry_run: bool = False,
    check: bool = False,
    wait: float | None = None,
    confirm_commands: Callable[[Sequence[tuple[str, str]]], bool] | None = None,
    prompt: Callable[[str], str] | None = None,
    ui: Interaction | None = None,
) -> Written:
    """Apply a team manifest (TOML). A dry run reads no key source and runs no command; a real run (and a
    check, which compares keys too) reads every source the manifest names, after preflight. `cmd:` sources
    run only when `confirm_commands(commands)` says yes (none given: refused); `prompt(label)` answers
    `prompt` sources."""
    loaded = manifest.load(path)  # a dry run reads no source; --check reads them, to compare the keys
    held = "fail" if on_conflict == "ask" else on_conflict

    def make(target: Target) -> FieldWrite:
        keys = {} if dry_run else _manifest_keys(loaded, confirm_commands, prompt)
        prepared = prepare_write(
            target, lambda p: manifest.wanted(loaded, keys, p), on_conflict=held, selections=held,  # type: ignore[arg-type]
            key_storage=key_storage, notes=lambda p: manifest.notes(loaded, p), force=force,
            allow_endpoints=allow_endpoints, supplied=set(loaded.sources) - set(keys),
        )  # fmt: skip
        review = tuple(SourceReview(**entry) for entry in manifest.review(loaded)) if dry_run else None
        return FieldWrite(prepared, f"apply {path}", review)

    return _write(ctx, Mode(dry_run, check, wait), ui, bool(loaded.sources), make, key_storage=key_storage,
                  on_conflict=on_conflict)  # fmt: skip


def _manifest_keys(
    loaded: manifest.Manifest,
    confirm_commands: Callable[[Sequence[tuple[str, str]]], bool] | None,
    prompt: Callable[[str], str] | None,
) -> dict[str, Secret]:
    """Step 2 of an apply: the commands the manifest runs are confirmed, then every key source is read."""
    commands = manifest.commands(loaded)
    if commands:
        if confirm_commands is None:
            raise ConfirmationNeeded(
                f"this manifest runs {len(commands)} command(s) to read keys; pass confirm_commands (a function "
                "that sees them and returns True) to run them"
            )
        if not confirm_commands(commands):
            raise Declined("declined; no command was run and nothing written")
    return manifest.resolve_keys(loaded, prompt=prompt)
