"""The `cursor-byok` group: its options, and how errors become one line and an exit code."""

from __future__ import annotations

import itertools
import os
import sys
import textwrap
from typing import Any, Mapping, Sequence

import click

from .._version import __version__
from ..briefs import plain
from ..console import setup_streams
from ..errors import ByokError, RescueError
from ..results import Result
from .exits import Exit, exit_code_for
from .lib import key_shapes, render
from .options import SAFE_STORAGE_CHOICES, GlobalOption, remember_verbose, verbose
from .output import JSON_META, _json_state, echo, emit_json, fail, fit_tables_to_terminal, flag_words


def _use_data_dir(value: str | None) -> None:
    """--data-dir: the folder of the undo journals, for this process and the library it calls."""
    if value:
        os.environ["CURSOR_BYOK_DATA_DIR"] = os.path.abspath(os.path.expanduser(value))


def _without_secrets(exc: click.ClickException) -> click.ClickException:
    """The same usage error with any key in its message dropped (click quotes the value it refused), generic
    shapes included: `set azure <32 hex>` is a key pasted as an argument."""
    exc.message = key_shapes.without_key_words(exc.message)
    return exc


def error_words(message: str, state: Mapping[str, Any]) -> str:
    """An error as the command line says it: flags for the library's parameter names, and (unless -v, or for
    --json, where scripts read it whole) no jargon."""
    message = flag_words(message)
    if state.get("wanted") or verbose():
        return message
    shown = plain(message)
    shown = shown if shown == message else f"{shown} (-v: the technical details)"
    return fitted(shown)


ERROR_PREFIX = "cursor-byok: error: "  # what output.fail() puts before the message


def fitted(message: str) -> str:
    """On a terminal, the message wrapped (after the prefix fail() adds); elsewhere one line, as scripts read it."""
    return render.wrapped(ERROR_PREFIX + message)[len(ERROR_PREFIX) :]


HELD_HYPHEN = "\u2011"  # a non-breaking hyphen, the width of "-", held in place while help text wraps


class HelpFormatter(click.HelpFormatter):
    """Help wrapped at spaces only: an option (--safe-storage) or a variable's name is never split at a hyphen."""

    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(text.replace("-", HELD_HYPHEN))
        self.buffer[start:] = [part.replace(HELD_HYPHEN, "-") for part in self.buffer[start:]]

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        start = len(self.buffer)
        super().write_dl([(term, text.replace("-", HELD_HYPHEN)) for term, text in rows], col_max, col_spacing)
        self.buffer[start:] = [part.replace(HELD_HYPHEN, "-") for part in self.buffer[start:]]


class HelpContext(click.Context):
    formatter_class = HelpFormatter


class ByokCommand(click.Command):
    """A command whose help lists its own options, then the global ones under one heading, in one line."""

    context_class = HelpContext

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own = [p for p in self.get_params(ctx) if not isinstance(p, GlobalOption)]
        records = [r for p in own if (r := p.get_help_record(ctx)) is not None]
        if records:
            with formatter.section("Options"):
                formatter.write_dl(records)
        inherited = [p.opts[-1] for p in self.get_params(ctx) if isinstance(p, GlobalOption)]
        if inherited:
            with formatter.section("Global options (before or after the command; see cursor-byok --help)"):
                room = max((formatter.width or 80) - formatter.current_indent, 40)
                for line in textwrap.wrap(", ".join(inherited), room, break_on_hyphens=False):
                    formatter.write(" " * formatter.current_indent + line + "\n")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes args
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.message = usage_hint(exc.message, given)
            raise


def usage_hint(message: str, args: list[str]) -> str:
    """A usage error with what to type instead: `--only a b` takes one name per --only."""
    if "unexpected extra argument" not in message or "--only" not in args:
        return message
    at = len(args) - 1 - args[::-1].index("--only")
    names = list(itertools.takewhile(lambda a: not a.startswith("-"), args[at + 1 :]))[:3] or ["A", "B"]
    return f"{message}: --only takes one value; use commas (--only {','.join(names)}) or repeat --only"


class HelpfulGroup(click.Group):
    """A group that prints its help on stdout and exits 0 when run with no command (like git and gh)."""

    command_class = ByokCommand
    context_class = HelpContext

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)


HelpfulGroup.group_class = HelpfulGroup


class ByokGroup(HelpfulGroup):
    """Turns domain errors into one line on stderr and a documented exit code (and, with --json, a JSON error)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
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
        except ByokError as exc:
            state = _json_state()
            if isinstance(exc.result, Result) and state.get("wanted") and not state.get("emitted"):
                emit_json(exc.result.to_json())  # e.g. the plan a conflict stopped: scripts read it, then the error
            reason = exc.reason if isinstance(exc, RescueError) else None
            fail(error_words(str(exc) or type(exc).__doc__ or type(exc).__name__, state), exit_code_for(exc), reason)
        except (KeyboardInterrupt, click.Abort):
            echo("", err=True)  # off the prompt's line
            fail("interrupted; nothing written", Exit.INTERRUPTED)
        except click.ClickException as exc:
            if not _json_state().get("wanted"):
                raise _without_secrets(exc) from None
            known = exc.exit_code in {int(code) for code in Exit}
            fail(_without_secrets(exc).format_message(), Exit(exc.exit_code) if known else Exit.USAGE)
        except (click.exceptions.Exit, SystemExit):
            raise
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as git does
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            sys.exit(int(Exit.FAILURE))
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
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    expose_value=False,
    callback=remember_verbose,
    help="Say more: the technical reason behind each note and error, and every note in full.",
)
def main(**_options: Any) -> None:
    """Find, audit, move and script the API keys Cursor stores.

    Options before the command choose which Cursor database and which safe
    storage to use. Keys print masked unless --reveal is given.

    \b
    Start here:
      cursor-byok demo                  the whole move, on two sample installs
      cursor-byok export -o keys.age    on the old laptop
      cursor-byok import keys.age       on the new one (quit Cursor first)
      cursor-byok doctor                a model does not show up in Cursor?
      cursor-byok help COMMAND          one command's options and examples
    """
