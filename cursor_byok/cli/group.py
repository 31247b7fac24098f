"""The `cursor-byok` group: its options, and how errors become one line and an exit code."""

from __future__ import annotations

import os
from typing import Any

import click

from .. import errors as E
from .._version import __version__
from .exits import Exit, exit_code_for
from .options import SAFE_STORAGE_CHOICES
from .output import JSON_META, _json_state, echo, emit_json, fail, fit_tables_to_terminal, flag_words


def _use_data_dir(value: str | None) -> None:
    """--data-dir: the folder of the undo journals, for this process and the library it calls."""
    if value:
        os.environ["CURSOR_BYOK_DATA_DIR"] = os.path.abspath(os.path.expanduser(value))


def _without_secrets(exc: click.ClickException) -> click.ClickException:
    """The same usage error with any key in its message dropped (click quotes the value it refused)."""
    from ..key_shapes import without_secrets

    exc.message = without_secrets(exc.message)
    return exc


class ByokGroup(click.Group):
    """Turns domain errors into one line on stderr and a documented exit code (and, with --json, a JSON error)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from ..console import setup_streams

        setup_streams()  # UTF-8 on pipes and files, whatever the OS's code page
        return super().main(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:  # fmt: skip
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:  # a key pasted as an option's value or a command: never repeated
            raise _without_secrets(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        fit_tables_to_terminal()
        if ctx.parent is None:
            protected: list[str] = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
            rest = [*protected, *ctx.args]
            ctx.meta[JSON_META] = {"wanted": "--json" in rest}
        try:
            return super().invoke(ctx)
        except E.ByokError as exc:
            state = _json_state()
            if exc.result is not None and state.get("wanted") and not state.get("emitted"):
                emit_json(exc.result.to_json())  # e.g. the plan a conflict stopped: scripts read it, then the error
            fail(flag_words(str(exc) or type(exc).__doc__ or type(exc).__name__), exit_code_for(exc))
        except (KeyboardInterrupt, click.Abort):
            echo("", err=True)  # off the prompt's line
            fail("interrupted; nothing written", Exit.INTERRUPTED)
        except click.ClickException as exc:
            if not _json_state().get("wanted"):
                raise _without_secrets(exc) from None
            known = exc.exit_code in {int(code) for code in Exit}
            fail(exc.format_message(), Exit(exc.exit_code) if known else Exit.USAGE)
        except (click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # unexpected: loud, but no traceback unless asked
            if os.environ.get("CURSOR_BYOK_DEBUG"):
                raise
            fail(
                f"internal error ({type(exc).__name__}); rerun with CURSOR_BYOK_DEBUG=1 and report it",
                Exit.FAILURE,
            )


@click.group(cls=ByokGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="cursor-byok")
@click.option("--db", metavar="FILE", help="Cursor's state.vscdb [env: CURSOR_STATE_DB].")
@click.option("--user-data-dir", metavar="DIR", help="Cursor's user-data dir [env: CURSOR_USER_DATA_DIR].")
@click.option(
    "--safe-storage",
    type=click.Choice(SAFE_STORAGE_CHOICES),
    envvar="CURSOR_BYOK_SAFE_STORAGE",
    help="Where the machine secret that encrypts keys comes from (default: auto, per OS).",
)
@click.option(
    "--safe-storage-password-file",
    metavar="FILE",
    envvar="CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE",
    help="File holding the machine secret, for --safe-storage password.",
)
@click.option(
    "--safe-storage-scheme",
    type=click.Choice(("macos", "linux", "windows")),
    envvar="CURSOR_BYOK_SAFE_STORAGE_SCHEME",
    help="Encryption scheme of the database (default: this OS); for windows the secret is the 64-hex AES key.",
)
@click.option(
    "--data-dir",
    metavar="DIR",
    envvar="CURSOR_BYOK_DATA_DIR",
    callback=lambda _ctx, _param, value: _use_data_dir(value),
    expose_value=False,
    help="cursor-byok's own folder: undo journals [env: CURSOR_BYOK_DATA_DIR].",
)
def main(**_options: Any) -> None:
    """Find, audit, move and script the API keys Cursor stores.

    Options before the command choose which Cursor database and which safe
    storage to use. Keys print masked unless --reveal is given.
    """
