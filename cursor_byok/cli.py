"""The command line: options, prompts, rendering and exit codes. The only click user.

Every domain error maps to one exit code in EXIT_CODES below; the README lists
them. Library errors arrive as one-line messages that already say what to do.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from typing import Any, NoReturn

import click

from . import __version__
from . import errors as E


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
    INTERRUPTED = 130


# Most specific first: the first class an error is an instance of wins.
EXIT_CODES: tuple[tuple[type[E.ByokError], Exit], ...] = (
    (E.DatabaseNotFound, Exit.NOT_FOUND),
    (E.NotACursorDatabase, Exit.NOT_A_CURSOR_DB),
    (E.DatabaseUnreadable, Exit.NOT_FOUND),
    (E.DatabaseBusy, Exit.DB_BUSY),
    (E.CursorRunning, Exit.CURSOR_RUNNING),
    (E.SafeStorageUnavailable, Exit.SAFE_STORAGE),
    (E.DecryptFailed, Exit.DECRYPT),
    (E.BundleAuthError, Exit.BUNDLE_AUTH),
    (E.BundleError, Exit.BUNDLE),
    (E.PlanConflict, Exit.CONFLICT),
    (E.VerifyFailed, Exit.VERIFY_FAILED),
    (E.OutputRefused, Exit.OUTPUT_REFUSED),
    (E.InputError, Exit.INPUT),
    (E.NothingToUndo, Exit.NOTHING_TO_UNDO),
)


def exit_code_for(exc: E.ByokError) -> Exit:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return Exit.FAILURE


def fail(message: str, code: Exit) -> NoReturn:
    click.echo(f"cursor-byok: error: {message}", err=True)
    sys.exit(int(code))


class ByokGroup(click.Group):
    """Turns domain errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except E.ByokError as exc:
            fail(str(exc) or type(exc).__doc__ or type(exc).__name__, exit_code_for(exc))
        except KeyboardInterrupt:
            fail("interrupted; nothing more was written", Exit.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # unexpected: loud, but no traceback unless asked
            if os.environ.get("CURSOR_BYOK_DEBUG"):
                raise
            fail(
                f"internal error ({type(exc).__name__}); rerun with CURSOR_BYOK_DEBUG=1 and report it",
                Exit.FAILURE,
            )


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def api_context(ctx: click.Context):
    from .api import Context
    from .keyring import SafeStorageConfig

    o = ctx.find_root().params
    return Context(
        db=o.get("db"),
        user_data_dir=o.get("user_data_dir"),
        safe_storage=SafeStorageConfig(
            choice=o.get("safe_storage") or "auto",
            scheme=o.get("safe_storage_scheme"),
            password_file=o.get("safe_storage_password_file"),
        ),
    )


SAFE_STORAGE_CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")


@click.group(cls=ByokGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="cursor-byok")
@click.option("--db", metavar="FILE", help="Cursor's state.vscdb [env: CURSOR_STATE_DB].")
@click.option("--user-data-dir", metavar="DIR", help="Cursor's user-data dir [env: CURSOR_USER_DATA_DIR].")
@click.option("--safe-storage", type=click.Choice(SAFE_STORAGE_CHOICES), envvar="CURSOR_BYOK_SAFE_STORAGE",
              help="Where the machine secret that encrypts keys comes from (default: auto, per OS).")
@click.option("--safe-storage-password-file", metavar="FILE", envvar="CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE",
              help="File holding the machine secret, for --safe-storage password.")
@click.option("--safe-storage-scheme", type=click.Choice(("macos", "linux", "windows")),
              envvar="CURSOR_BYOK_SAFE_STORAGE_SCHEME",
              help="Encryption scheme of the database (default: this OS); for windows the secret is the 64-hex AES key.")
def main(**_options: Any) -> None:
    """Find, audit, move and script the API keys Cursor stores.

    Options before the command choose which Cursor database and which safe
    storage to use. Keys print masked unless --reveal is given.
    """


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def where(ctx: click.Context, as_json: bool) -> None:
    """Show each Cursor installation found and how its keys are protected."""
    from .api import where_documents
    from .render import where_text

    docs = where_documents(api_context(ctx))
    if as_json:
        emit_json({"installations": docs})
    else:
        click.echo(where_text(docs))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--reveal", is_flag=True, help="Print key values in full (they are masked otherwise).")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool, reveal: bool) -> None:
    """Show the stored provider keys, settings and models."""
    from .api import list_document
    from .render import profile_text

    doc = list_document(api_context(ctx), reveal=reveal)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"database: {doc['db']}")
        click.echo(profile_text(doc))


if __name__ == "__main__":  # pragma: no cover
    main()
