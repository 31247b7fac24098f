"""Commands that move keys: export, import, undo, redo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import OutputRefused
from ..model import KeyStorage, ModelsPolicy
from .bundle_io import export_passphrase, gather_recipients, load_bundle_cli
from .group import main
from .lib import move, private_files, render
from .options import (
    allow_endpoint_option,
    api_context,
    conflict_option,
    conflict_policy,
    json_option,
    key_storage_option,
    only_option,
    passphrase_options,
    profile_option,
    verbose,
    write_options,
)
from .output import echo, emit_json, is_terminal, show_status
from .prompts import confirm_write
from .writes import TerminalRun

if TYPE_CHECKING:
    from ..changes.undo import JournalInfo
    from ..library.context import Context


@main.command()
@click.option("-o", "--output", required=True, metavar="FILE", help="Bundle file to write ('-' for a pipe).")
@click.option("--armor", "-a", is_flag=True, help="Write ASCII-armored (PEM-like) text.")
@only_option
@click.option("--no-models", is_flag=True, help="Leave model lists and selections out.")
@click.option("--no-keys", is_flag=True, help="Leave every key out: a shareable bundle of settings and models.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("-r", "--recipient", multiple=True, metavar="KEY", help="Encrypt to an age or SSH public key.")
@click.option("-R", "--recipients-file", multiple=True, metavar="FILE", help="Encrypt to each key in FILE.")
@passphrase_options
@profile_option
@click.option("--skip-undecryptable", is_flag=True,
              help="Export the rest when some keys cannot be decrypted here (a partial bundle).")  # fmt: skip
@json_option
@click.pass_context
def export(ctx: click.Context, output: str, armor: bool, only: tuple[str, ...], no_models: bool, no_keys: bool,
           force: bool, recipient: tuple[str, ...], recipients_file: tuple[str, ...], passphrase_file: str | None,
           passphrase_env: str | None, skip_undecryptable: bool, as_json: bool) -> None:  # fmt: skip
    """Write keys, provider settings and models to an encrypted age bundle.

    Refuses (exit 7) when a key cannot be decrypted here, before asking for a
    passphrase; --skip-undecryptable writes the rest and says how many were
    LEFT OUT.

    \b
    Examples:
      cursor-byok export -o keys.age -r age1...       # to the new machine's age or SSH key
      cursor-byok export -o keys.age --passphrase-env BUNDLE_PASS --only openai,anthropic,models
      cursor-byok export -o settings.age --no-keys --armor -R team.pub
    """
    recipients = _export_checks(output, force, as_json, recipient, recipients_file, passphrase_file, passphrase_env)

    def passphrase() -> str:  # asked only once the keys are known to be readable
        value = export_passphrase(passphrase_file, passphrase_env)
        show_status("deriving key…")
        return value

    try:
        exported = move.export_bundle(
            api_context(ctx), passphrase=None if recipients else passphrase, recipients=recipients, only=only,
            keys=not no_keys, models=not no_models, skip_undecryptable=skip_undecryptable, armor=armor,
            output=None if output == "-" else output, overwrite=force,
        )  # fmt: skip
    finally:
        show_status(None)
    if output == "-":
        _to_stdout(exported.data)
    _export_report(exported, recipients, as_json)


def _export_checks(output: str, force: bool, as_json: bool, recipient: tuple[str, ...],
                   recipients_file: tuple[str, ...], passphrase_file: str | None,
                   passphrase_env: str | None) -> list[str]:  # fmt: skip
    """Everything about the options that can fail is checked before the database is read."""
    if (recipient or recipients_file) and (passphrase_file or passphrase_env):
        raise click.UsageError(
            "-r/-R and --passphrase-file/--passphrase-env exclude each other: encrypt to recipients or to a passphrase"
        )
    if output == "-":
        if is_terminal(sys.stdout):
            raise OutputRefused("refusing to write a bundle to a terminal; redirect stdout or use -o FILE")
        if as_json:
            raise click.UsageError("--json prints on stdout, where -o - writes the bundle: use -o FILE")
    else:
        private_files.check_target(Path(output), overwrite=force)
    return gather_recipients(recipient, recipients_file)


def _to_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as exc:  # a full disk behind the redirect, a reader that went away
        raise OutputRefused(f"cannot write the bundle to stdout ({exc.strerror or exc}); use -o FILE") from None


def _export_report(exported: move.ExportedBundle, recipients: list[str], as_json: bool) -> None:
    """What the bundle really holds, on stderr (the JSON document on stdout); keys left out are said loudly."""
    if as_json:
        emit_json(exported.to_json())
    for line in render.note_lines(list(exported.notes), verbose=verbose()):
        echo(line, err=True)
    left_out = len(exported.left_out)
    to = f"{len(recipients)} recipient(s)" if recipients else "a passphrase"
    echo(
        render.wrapped(
            f"wrote {exported.output or 'stdout'}: {exported.keys} key(s), {exported.providers} provider(s)"
            f"{', models' if exported.models else ''}; encrypted to {to}"
            + (f"; {left_out} keys LEFT OUT (they cannot be decrypted here)" if left_out else "")
        ),
        err=True,
    )


@main.command("import")
@click.argument("bundle_file", metavar="FILE")
@only_option
@conflict_option
@allow_endpoint_option
@click.option("--models", "models_policy", type=click.Choice(("union", "replace", "keep")), default="union",
              show_default=True, help="How bundle model lists combine with the stored ones.")  # fmt: skip
@click.option("--no-models", is_flag=True, help="Import no model lists (same as --models keep).")
@click.option("--no-keys", is_flag=True, help="Import settings and models only: no key is written.")
@key_storage_option
@click.option("-i", "--identity", multiple=True, metavar="FILE", help="age identity or SSH private key file.")
@passphrase_options
@write_options
@click.pass_context
def import_cmd(ctx: click.Context, bundle_file: str, dry_run: bool, check: bool, only: tuple[str, ...],
               on_conflict: str | None, allow_endpoints: tuple[str, ...], models_policy: ModelsPolicy,
               no_models: bool, no_keys: bool, key_storage: KeyStorage, wait: float | None, yes: bool,
               identity: tuple[str, ...], passphrase_file: str | None, passphrase_env: str | None,
               as_json: bool) -> None:  # fmt: skip
    """Import a bundle into this Cursor, re-encrypting keys for this machine.

    Checks first that Cursor is closed and this machine's secret can encrypt
    keys, then asks for the bundle's passphrase, shows the plan, and asks
    once about conflicts and once before writing (--yes without a terminal).
    A bundle that points a provider at a new host is a conflict of its own:
    --allow-endpoint HOST accepts it. The plan marks keys stored LESS
    PROTECTED than at the source.

    \b
    Examples:
      cursor-byok import keys.age --dry-run
      cursor-byok import keys.age -i ~/.ssh/id_ed25519
      cursor-byok import team.age --no-keys --allow-endpoint openrouter.ai --yes
    """
    run = TerminalRun(yes=yes, as_json=as_json)
    result = move.import_bundle(
        api_context(ctx), lambda: load_bundle_cli(bundle_file, identity, passphrase_file, passphrase_env),
        only=only, no_keys=no_keys, on_conflict=conflict_policy(on_conflict), allow_endpoints=allow_endpoints,
        models="keep" if no_models else models_policy, key_storage=key_storage, dry_run=dry_run, check=check,
        wait=wait, ui=run.ui, command=f"import {bundle_file}",
    )  # fmt: skip
    run.report(result)


@main.command()
@click.argument("journal_id", required=False, metavar="[ID]")
@click.option("--list", "list_only", is_flag=True, help="List this database's journals: which writes are undone.")
@click.option("--dry-run", is_flag=True, help="Show what would be restored, write nothing.")
@click.option("--force", is_flag=True, help="Restore even rows that changed since.")
@click.option("--purge", is_flag=True, help="Delete this database's journals (they hold the old row values).")
@click.option("--wait", type=float, metavar="SECONDS", help="Wait up to SECONDS for Cursor to exit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@profile_option
@click.pass_context
def undo(ctx: click.Context, journal_id: str | None, list_only: bool, dry_run: bool, force: bool, purge: bool,
         wait: float | None, yes: bool, as_json: bool) -> None:  # fmt: skip
    """Restore what the newest write not yet undone changed; each undo goes one step further back.

    Run it twice to go back two writes. `cursor-byok redo` re-applies the
    write the last undo restored. With ID, restore that journal (an undo's
    own ID too: that is a redo). The plan is shown first; a terminal asks,
    without one pass --yes. Journals hold the old values of the rows each
    write changed, which may include keys; --purge deletes them once you no
    longer need to go back (`cursor-byok where` shows their folder).

    \b
    Examples:
      cursor-byok undo --list
      cursor-byok undo --dry-run
      cursor-byok undo --yes
    """
    actx = api_context(ctx)
    if purge:
        return purge_journals(actx, journal_id, yes=yes, as_json=as_json)
    if list_only:
        return list_journals(actx, as_json=as_json)
    run = TerminalRun(yes=yes, as_json=as_json)
    run.report(move.undo(actx, journal_id, force=force, dry_run=dry_run, wait=wait, ui=run.ui))


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would be re-applied, write nothing.")
@click.option("--force", is_flag=True, help="Re-apply even rows that changed since the undo.")
@click.option("--wait", type=float, metavar="SECONDS", help="Wait up to SECONDS for Cursor to exit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@profile_option
@click.pass_context
def redo(ctx: click.Context, dry_run: bool, force: bool, wait: float | None, yes: bool, as_json: bool) -> None:
    """Re-apply the write the newest undo restored (undo of that undo's journal).

    Redo steps forward again through the writes undone, newest undo first; a
    new write since the last undo ends what can be redone (as in an editor),
    though `cursor-byok undo ID` still restores any journal by its id.

    \b
    Examples:
      cursor-byok redo --dry-run
      cursor-byok redo --yes
    """
    run = TerminalRun(yes=yes, as_json=as_json)
    run.report(move.redo(api_context(ctx), force=force, dry_run=dry_run, wait=wait, ui=run.ui))


def list_journals(actx: Context, *, as_json: bool) -> None:
    listed = move.journals(actx)
    if as_json:
        return emit_json(listed.to_json())
    rows = [[j.id, j.command, len(j.rows), journal_state(j)] for j in listed.journals]
    echo(render.table(rows, ["id", "command", "rows", "state"]) if rows else "no undo journals for this database")


def journal_state(j: JournalInfo) -> str:
    """A journal's line in `undo --list`: undone (by which undo), redone, or in effect."""
    if j.kind == "write":
        return f"undone by {j.undone_by}" if j.undone_by else "in effect"
    state = f"{j.kind} of {j.undoes}"
    return f"{state}, undone by {j.undone_by}" if j.undone_by else state


def purge_journals(actx: Context, journal_id: str | None, *, yes: bool, as_json: bool) -> None:
    found = [j for j in move.journals(actx).journals if not journal_id or j.id.startswith(journal_id)]
    if found:
        confirm_write(f"Delete {len(found)} undo journal(s)? They can no longer be undone.", yes=yes)
    purged = move.purge_journals(actx, journal_id)
    if as_json:
        emit_json(purged.to_json())
    else:
        echo(f"deleted {len(purged.purged)} undo journal(s)")
