"""`rescue`: keys from an old machine's disk or backup (see cursor_byok.library.rescue)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from ..errors import InputError, printable
from .bundle_io import export_passphrase
from .group import main
from .lib import key_shapes, private_files, render, rescue
from .move import _export_checks, _to_stdout
from .options import (
    GLOBALS_META,
    SMALL_INPUT_LIMIT,
    allow_endpoint_option,
    api_context,
    conflict_option,
    conflict_policy,
    key_storage_option,
    only_option,
    passphrase_options,
    write_options,
)
from .output import echo, emit_json, show_status
from .prompts import hidden_prompt
from .writes import TerminalRun

if TYPE_CHECKING:
    from ..rescue.engine import OldMachine
    from ..rescue.sparse_copy import CopyProgress

F = TypeVar("F", bound=Callable[..., Any])
Options = dict[str, Any]

SECRET_FILE = "safe_storage_password_file"
EXPORT_ONLY = ("recipient", "recipients_file", "passphrase_file", "passphrase_env", "armor", "force")
IMPORT_ONLY = ("dry_run", "check", "yes", "wait", "on_conflict", "models_policy", "no_keys")


def store_options(f: F) -> F:
    f = click.option("--os", "old_os", type=click.Choice(("linux", "macos", "windows")),
                     help="The old system, when DIR holds Cursor data of more than one.")(f)  # fmt: skip
    f = click.option("--protect-dir", metavar="DIR", help="Windows: the old Microsoft/Protect (or Protect/<SID>).")(f)
    f = click.option("--keychain", metavar="FILE", help="macOS: the old login.keychain-db, when not under DIR.")(f)
    f = click.option("--wallet", metavar="FILE", help="KDE: the old .kwl (its .salt beside it), when not under DIR.")(f)
    f = click.option("--keyring", multiple=True, metavar="FILE",
                     help="GNOME or oo7: an old .keyring file, when not under DIR (repeatable).")(f)  # fmt: skip
    f = click.option("--login-password-env", metavar="VAR", help="Read the old login password from variable VAR.")(f)
    return click.option("--login-password-file", multiple=True, metavar="FILE",
                        help="Read the old login password from FILE (repeatable: older passwords too).")(f)  # fmt: skip


def bundle_options(f: F) -> F:
    f = passphrase_options(f)
    f = click.option("-R", "--recipients-file", multiple=True, metavar="FILE", help="Encrypt to each key in FILE.")(f)
    f = click.option("-r", "--recipient", multiple=True, metavar="KEY", help="Encrypt to an age or SSH public key.")(f)
    f = click.option("--force", is_flag=True, help="Replace FILE if it exists.")(f)
    f = click.option("--armor", "-a", is_flag=True, help="Write ASCII-armored (PEM-like) text.")(f)
    return click.option("-o", "--output", metavar="FILE", help="Write the bundle `export` writes ('-' for a pipe).")(f)


def import_options(f: F) -> F:
    f = write_options(f)
    f = key_storage_option(f)
    f = click.option("--no-keys", is_flag=True, help="--import: settings and models only, no key.")(f)
    f = click.option("--models", "models_policy", type=click.Choice(("union", "replace", "keep")),
                     help="--import: how old model lists join the stored ones (default: union).")(f)  # fmt: skip
    f = allow_endpoint_option(f)
    f = conflict_option(f)
    return click.option("--import", "into_cursor", is_flag=True,
                        help="Import into this machine's Cursor, as `import` does (plan, undo).")(f)  # fmt: skip


@main.command("rescue")
@click.option("--from", "from_dir", required=True, metavar="DIR",
              help="The old home folder, user-data dir or AppData/Roaming (a copy or a mounted backup).")  # fmt: skip
@store_options
@bundle_options
@only_option
@click.option("--no-models", is_flag=True, help="Leave model lists and selections out.")
@import_options
@click.pass_context
def rescue_cmd(ctx: click.Context, /, **o: Any) -> None:
    """Rescue keys from an old machine's disk or backup, its secret store opened offline.

    Finds the old Cursor data and secret store under DIR by their layout and
    opens the store with the old login password (asked hidden on a terminal,
    or --login-password-file / --login-password-env; never on the command
    line), or with the safeStorage secret itself (--safe-storage-password-file).
    DIR is only read: nothing is written or created in it. Without -o or
    --import it shows what can be rescued, masked like `list`. Exit 3: no
    Cursor data, store or entry (the paths looked at are named); 20: wrong
    password; 21: a store that cannot be opened offline, or a damaged one.

    \b
    Examples:
      cursor-byok rescue --from /media/backup/home/ana
      cursor-byok rescue --from /media/backup/home/ana -o keys.age -r age1...
      cursor-byok rescue --from /mnt/old/Users/ana --login-password-file pw.txt --import
    """
    _check_modes(o)
    old = _old_machine(ctx, o)
    if o["into_cursor"]:
        return _import(ctx, old, o)
    if o["output"]:
        return _write(old, o)
    shown = rescue.rescue_keys(old, progress=_progress)
    if o["as_json"]:
        return emit_json(shown.to_json())
    echo(rescued_text(shown.to_json()))
    root = printable(str(old.root))
    echo(f"next: `cursor-byok rescue --from {root} -o FILE` writes a bundle; --import imports here", err=True)


def _check_modes(o: Options) -> None:
    """-o and --import exclude each other, and each one's options need it; checked before anything is read."""
    if o["output"] and o["into_cursor"]:
        raise click.UsageError("-o and --import exclude each other: write a bundle, or import here")

    def given(names: tuple[str, ...]) -> list[str]:
        return [n for n in names if o[n]]

    if not o["output"] and given(EXPORT_ONLY):
        raise click.UsageError(f"--{given(EXPORT_ONLY)[0].replace('_', '-')} needs -o FILE")
    if not o["into_cursor"] and (given(IMPORT_ONLY) or o["key_storage"] != "auto"):
        name = (given(IMPORT_ONLY) or ["key_storage"])[0]
        raise click.UsageError(f"--{name.replace('_policy', '').replace('_', '-')} needs --import")
    if not (o["output"] or o["into_cursor"]) and (o["only"] or o["no_models"]):
        raise click.UsageError(f"--{'only' if o['only'] else 'no-models'} needs -o FILE or --import")


def _old_machine(ctx: click.Context, o: Options) -> OldMachine:
    """What opens the old store: the old login passwords (files, variable, else a hidden prompt on a terminal),
    store paths, and the safeStorage secret given with --safe-storage-password-file."""
    passwords = login_passwords(o["login_password_file"], o["login_password_env"])
    paths = rescue.StorePaths(tuple(Path(k) for k in o["keyring"]), _path(o["wallet"]), _path(o["keychain"]),
                       _path(o["protect_dir"]))  # fmt: skip
    secret_file = old_secret_file(ctx)
    ask = None if passwords else hidden_prompt()
    return rescue.OldMachine(o["from_dir"], passwords, ask, paths, o["old_os"], secret_file)


def old_secret_file(ctx: click.Context) -> str | None:
    """--safe-storage-password-file as typed on the command line: the old machine's safeStorage secret. From
    the environment (CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE) it configures this machine, never the old one."""
    late = ctx.meta.get(GLOBALS_META, {}).get(SECRET_FILE)
    if late:
        return str(late)
    root = ctx.find_root()
    given = root.get_parameter_source(SECRET_FILE) == click.core.ParameterSource.COMMANDLINE
    return root.params.get(SECRET_FILE) if given else None


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def login_passwords(files: tuple[str, ...], env_name: str | None) -> list[str]:
    """The old login passwords from files (first line of each) and a variable, in that order; never argv."""
    out: list[str] = []
    for path in files:
        text = private_files.read_small_text(path, SMALL_INPUT_LIMIT, "the login password")
        out.append(text.split("\n", 1)[0].rstrip("\r"))
    if env_name:
        value = os.environ.get(env_name) if key_shapes.ENV_NAME.fullmatch(env_name) else None
        if value is None:
            raise InputError(f"--login-password-env: {key_shapes.shown_env_name(env_name)} is not set")
        out.append(value)
    return out


def _progress(step: CopyProgress) -> None:
    """A large copy of the old database (whole, or the pages a read needs): its size said first, then a status
    line."""
    if step.done == 0:
        echo(f"copying {step.total >> 20} MiB of the old database first: {step.reason}", err=True)
    show_status(f"copying {step.done * 100 // max(step.total, 1)}%…" if step.done < step.total else None)


def _write(old: OldMachine, o: Options) -> None:
    """-o: the bundle `export` writes, from the old copy; the passphrase is asked once the store has opened."""
    recipients = _export_checks(o["output"], o["force"], o["as_json"], o["recipient"], o["recipients_file"],
                                o["passphrase_file"], o["passphrase_env"])  # fmt: skip
    passphrase = None if recipients else (lambda: export_passphrase(o["passphrase_file"], o["passphrase_env"]))
    to_stdout = o["output"] == "-"
    done = rescue.rescue_keys(old, only=o["only"], models=not o["no_models"], passphrase=passphrase,
                          recipients=recipients, armor=o["armor"], output=None if to_stdout else o["output"],
                          overwrite=o["force"], progress=_progress)  # fmt: skip
    if to_stdout:
        _to_stdout(done.data)
    if o["as_json"]:
        emit_json(done.to_json())
    written = done.written
    assert written is not None
    for note in written.notes:
        echo(f"note: {note}", err=True)
    to = f"{written.recipients} recipient(s)" if recipients else "a passphrase"
    left = f"; {len(done.left_out)} key(s) LEFT OUT (they cannot be decrypted)" if done.left_out else ""
    echo(f"wrote {written.output or 'stdout'}: {written.keys} key(s), {written.providers} provider(s)"
               f"{', models' if written.models else ''}; encrypted to {to}{left}", err=True)  # fmt: skip


def _import(ctx: click.Context, old: OldMachine, o: Options) -> None:
    """--import: this machine's Cursor (the global --db/--user-data-dir), through import's flow. Its own secret
    comes from its own store (or CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE): --safe-storage-password-file on the
    command line names the old machine's here."""
    target = api_context(ctx)
    if old.secret_file is not None:  # the old machine's, not this one's
        target = replace(target, safe_storage=replace(target.safe_storage, password_file=None))
    run = TerminalRun(yes=o["yes"], as_json=o["as_json"])
    models = "keep" if o["no_models"] else o["models_policy"] or "union"
    result = rescue.rescue_import(
        target, old, only=o["only"], no_keys=o["no_keys"], on_conflict=conflict_policy(o["on_conflict"]),
        allow_endpoints=o["allow_endpoints"], models=models, key_storage=o["key_storage"], dry_run=o["dry_run"],
        check=o["check"], wait=o["wait"], ui=run.ui, progress=_progress,
    )  # fmt: skip
    run.report(result)


def rescued_text(doc: dict[str, Any]) -> str:
    """The human form of a `rescue --json` document: where it came from, how the store opened, then `list`'s table.
    Every string in it came from the copy (paths, row names, settings, model names): shown printable."""
    doc = _printable(doc)
    copy, store = doc["copy"], doc["store"]
    lines = [
        f"old copy: {doc['from_dir']} ({doc['os'] or 'system unknown: nothing is encrypted'})",
        f"database: {doc['db']} ({copy['how']}: {copy['reason']})",
        f"store: {store['kind']}{' ' + store['path'] if store['path'] else ''}, opened with {store['opened_with']}"
        + (f"; proven by {store['proven_by']}" if store["proven_by"] else ""),
        render.profile_text(doc),
    ]
    lines += [f"not rescued (not a provider key): {row}" for row in doc["not_rescued"]]
    if doc["left_out"]:
        lines.append(f"LEFT OUT (cannot be decrypted with the proven secret): {', '.join(doc['left_out'])}")
    return "\n".join(lines)


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value
