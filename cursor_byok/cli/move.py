"""Commands that move keys: export, import, undo, redo."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import errors as E

if TYPE_CHECKING:
    from ..library import ExportedBundle
from .bundle_io import export_passphrase, gather_recipients, load_bundle_cli
from .group import main
from .options import (
    api_context,
    conflict_option,
    conflict_policy,
    held_policy,
    json_option,
    key_storage_option,
    only_option,
    passphrase_options,
    profile_option,
    wait_with_status,
    write_options,
)
from .output import coloured, emit_json, is_terminal, show_status
from .prompts import confirm_write
from .writes import run_plan


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
@click.option(
    "--skip-undecryptable",
    is_flag=True,
    help="Export the rest when some keys cannot be decrypted here (a partial bundle).",
)
@click.pass_context
def export(
    ctx,
    output,
    armor,
    only,
    no_models,
    no_keys,
    force,
    recipient,
    recipients_file,
    passphrase_file,
    passphrase_env,
    skip_undecryptable,
) -> None:
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
    from .. import library
    from ..private_files import check_target, write_private

    if (recipient or recipients_file) and (passphrase_file or passphrase_env):
        raise click.UsageError(
            "-r/-R and --passphrase-file/--passphrase-env exclude each other: encrypt to recipients or to a passphrase"
        )
    to_pipe = output == "-"
    if to_pipe and is_terminal(sys.stdout):
        raise E.OutputRefused("refusing to write a bundle to a terminal; redirect stdout or use -o FILE")
    if not to_pipe:
        check_target(__import__("pathlib").Path(output), overwrite=force)
    recipients = gather_recipients(recipient, recipients_file)

    def passphrase() -> str:  # asked only once the keys are known to be readable
        value = export_passphrase(passphrase_file, passphrase_env)
        show_status("deriving key…")
        return value

    try:
        exported = library.export_bundle(
            api_context(ctx), passphrase=None if recipients else passphrase, recipients=recipients, only=only,
            keys=not no_keys, models=not no_models, skip_undecryptable=skip_undecryptable, armor=armor,
        )  # fmt: skip
    finally:
        show_status(None)
    data = exported.data
    if to_pipe:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:  # a full disk behind the redirect, a reader that went away
            raise E.OutputRefused(f"cannot write the bundle to stdout ({exc.strerror or exc}); use -o FILE") from None
    else:
        write_private(__import__("pathlib").Path(output), data, overwrite=force)
    for note in exported.notes:
        click.echo(f"note: {note}", err=True)
    export_summary("stdout" if to_pipe else output, exported, recipients)


def export_summary(where: str, exported: ExportedBundle, recipients: list[str]) -> None:
    """What the bundle really holds, on stderr; keys left out are said loudly."""
    models = "models" in exported.document["profile"]
    left_out = len(exported.left_out)
    click.echo(
        f"wrote {where}: {exported.keys} key(s), {exported.providers} provider(s){', models' if models else ''}; "
        "encrypted to "
        f"{f'{len(recipients)} recipient(s)' if recipients else 'a passphrase'}"
        + (f"; {left_out} keys LEFT OUT (they cannot be decrypted here)" if left_out else ""),
        err=True,
    )


@main.command("import")
@click.argument("bundle_file", metavar="FILE")
@only_option
@conflict_option
@click.option(
    "--models",
    "models_policy",
    type=click.Choice(("union", "replace", "keep")),
    default="union",
    show_default=True,
    help="How bundle model lists combine with the stored ones.",
)
@click.option("--no-models", is_flag=True, help="Import no model lists (same as --models keep).")
@key_storage_option
@click.option("-i", "--identity", multiple=True, metavar="FILE", help="age identity or SSH private key file.")
@passphrase_options
@write_options
@click.pass_context
def import_cmd(
    ctx,
    bundle_file,
    dry_run,
    only,
    on_conflict,
    models_policy,
    no_models,
    key_storage,
    wait,
    yes,
    identity,
    passphrase_file,
    passphrase_env,
    as_json,
) -> None:
    """Import a bundle into this Cursor, re-encrypting keys for this machine.

    The plan marks keys that would be stored LESS PROTECTED than at the
    source; --key-storage secret fails (exit 15) when it cannot be honoured.
    A terminal asks before writing; without one, pass --yes.

    \b
    Examples:
      cursor-byok import keys.age --dry-run
      cursor-byok import keys.age -i ~/.ssh/id_ed25519
      cursor-byok import keys.age --passphrase-env BUNDLE_PASS --only openai,claude --yes
    """
    from .. import library

    opened = load_bundle_cli(bundle_file, identity, passphrase_file, passphrase_env)
    policy = conflict_policy(on_conflict, as_json)
    actx = api_context(ctx)
    wait_with_status(actx, wait)
    prep = library.plan_import(
        actx,
        opened,
        only=only,
        on_conflict=held_policy(policy),
        models="keep" if no_models else models_policy,
        key_storage=key_storage,
    )
    run_plan(ctx, prep, dry_run=dry_run, yes=yes, as_json=as_json, command=f"import {bundle_file}", ask=policy == "ask")


@main.command()
@click.argument("journal_id", required=False, metavar="[ID]")
@click.option("--list", "list_only", is_flag=True, help="List this database's journals: which writes are undone.")
@click.option("--dry-run", is_flag=True, help="Show what would be restored, write nothing.")
@click.option("--force", is_flag=True, help="Restore even rows that changed since.")
@click.option("--purge", is_flag=True, help="Delete this database's journals (they hold the old row values).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@profile_option
@click.pass_context
def undo(ctx, journal_id, list_only, dry_run, force, purge, yes, as_json) -> None:
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
    from .. import library as api

    actx = api_context(ctx)
    if purge:
        purge_journals(actx, journal_id, yes=yes, as_json=as_json)
    elif list_only:
        list_journals(actx, as_json=as_json)
    else:
        plan = api.undo_plan(actx, journal_id)
        run_undo_plan(actx, plan, dry_run=dry_run, force=force, yes=yes, as_json=as_json)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would be re-applied, write nothing.")
@click.option("--force", is_flag=True, help="Re-apply even rows that changed since the undo.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@profile_option
@click.pass_context
def redo(ctx, dry_run, force, yes, as_json) -> None:
    """Re-apply the write the newest undo restored (undo of that undo's journal).

    Redo steps forward again through the writes undone, newest undo first; a
    new write since the last undo ends what can be redone (as in an editor),
    though `cursor-byok undo ID` still restores any journal by its id.

    \b
    Examples:
      cursor-byok redo --dry-run
      cursor-byok redo --yes
    """
    from .. import library as api

    plan = api.undo_plan(api_context(ctx), redo=True)
    run_undo_plan(api_context(ctx), plan, dry_run=dry_run, force=force, yes=yes, as_json=as_json)


def run_undo_plan(actx, plan, *, dry_run: bool, force: bool, yes: bool, as_json: bool) -> None:
    """Show an undo's plan, then (unless --dry-run) confirm, write it and report, as every write does."""
    from .. import library as api
    from ..changes.write import undo_command

    doc = {**plan.to_json(), "dry_run": dry_run, "applied": False, "journal": None, "rows_written": 0}
    if not as_json:
        click.echo(coloured(undo_plan_text(plan)))
    if dry_run:
        if as_json:
            emit_json(doc)
        click.echo("dry run: nothing written", err=as_json)
        return
    if plan.writes and not (plan.conflicts and not force):
        confirm_write(f"{'Re-apply' if plan.redo else 'Restore'} {len(plan.restores)} value(s) in {plan.inst.db_path}?",
                      yes=yes)  # fmt: skip
    result = api.apply_undo(plan, force=force)
    doc.update(applied=bool(result.rows), journal=result.journal_id, rows_written=len(result.rows))
    if as_json:
        emit_json(doc)
        return
    again = "undo it again with" if plan.redo else "redo it with"
    hint = f"; {again} {undo_command(plan.inst, result.journal_id, actx.profile)}" if result.journal_id else ""
    verb = f"re-applied {plan.redoes.id}:" if plan.redo else "restored"
    click.echo(f"{verb} {len(result.rows)} row(s) from {plan.entry.id}{hint}")


def undo_plan_text(plan) -> str:
    """The plan in words: which journal, then each field as `name: now → restored` (keys masked)."""
    if plan.redo:
        lines = [f"redo: re-apply {plan.redoes.id} ({plan.redoes.command}), undone by {plan.entry.id}"]
    else:
        lines = [f"undo: restore {plan.entry.id} ({plan.entry.command})"]
    lines += [f"~ {r['field']}: {restored_words(r)}" for r in plan.restores]
    lines += [f"! {c}" for c in plan.conflicts]
    if not plan.restores:
        lines.append("nothing to restore: every row and field already holds its old value")
    return "\n".join(lines)


def restored_words(row: dict) -> str:
    """`now → restored`, or for a model list the names it adds and removes: `+ m, - n`."""
    if "added" in row:
        return ", ".join([*(f"+ {m}" for m in row["added"]), *(f"- {m}" for m in row["removed"])])
    return f"{row['now']} → {row['restored']}"


def list_journals(actx, *, as_json: bool) -> None:
    from .. import library as api
    from ..render import table

    docs = api.journal_documents(actx)
    if as_json:
        emit_json({"journals": docs})
        return
    rows = [[d["id"], d["command"], len(d["rows"]), journal_state(d)] for d in docs]
    click.echo(table(rows, ["id", "command", "rows", "state"]) if docs else "no undo journals for this database")


def journal_state(doc: dict) -> str:
    """A journal's line in `undo --list`: undone (by which undo), redone, or in effect."""
    if doc["kind"] == "write":
        return f"undone by {doc['undone_by']}" if doc["undone_by"] else "in effect"
    state = f"{doc['kind']} of {doc['undoes']}"
    return f"{state}, undone by {doc['undone_by']}" if doc["undone_by"] else state


def purge_journals(actx, journal_id: str | None, *, yes: bool, as_json: bool) -> None:
    from .. import library as api

    docs = api.journal_documents(actx)
    if journal_id:
        docs = [d for d in docs if d["id"].startswith(journal_id)]
    if docs:
        confirm_write(f"Delete {len(docs)} undo journal(s)? They can no longer be undone.", yes=yes)
    removed = api.purge_journals(actx, [d["id"] for d in docs])
    if as_json:
        emit_json({"purged": removed})
    else:
        click.echo(f"deleted {len(removed)} undo journal(s)")
