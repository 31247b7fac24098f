"""What the command line prints: JSON documents, errors, colour and erasable status lines.

Every line goes out through `echo` (or `emit_json`, `fail`, `show_status`), which shows outside text safely:
control, bidi and other format characters escaped (console.escape_unsafe; JSON keeps them as \\u escapes),
and this tool's own colours added only after that, so no text from a database, bundle or manifest can act on
the terminal. tests/scenarios/test_trust_two.py checks that no other module of the command line prints.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, NoReturn, TextIO

import click

from ..console import escape_unsafe, json_safe
from ..errors import printable
from .exits import Exit
from .lib import key_shapes, render

JSON_META = "cursor_byok.json"  # ctx.meta: {"wanted": --json given, "emitted": a document was printed}


# The library's messages name its Python parameters; on the command line the same words name the flags.
PARAMETER_FLAGS = (
    ("pass skip_undecryptable=True", "pass --skip-undecryptable"),
    ("field_name=", "--field "),
    ("pass confirm_commands (a function that sees them and returns True) to run them",
     "review them with --dry-run, then pass --yes (or answer on a terminal)"),
)  # fmt: skip


def flag_words(message: str) -> str:
    for parameter, flag in PARAMETER_FLAGS:
        message = message.replace(parameter, flag)
    return message


def display(text: object) -> str:
    """Text as the command line shows it: every unsafe character escaped (see the module's docstring)."""
    return escape_unsafe(str(text))


def echo(text: object = "", *, err: bool = False, nl: bool = True, colour: bool = False) -> None:
    """Print one line (or block) of output: made safe to show, then coloured when asked and use_colour() says so."""
    shown = display(text)
    click.echo(coloured(shown) if colour else shown, err=err, nl=nl)


def fail(message: str, code: Exit, reason: str | None = None) -> NoReturn:
    """One line on stderr and the exit code; with --json and no document printed, the error is the document
    (`reason`, when the failure has one, says why for scripts: rescue's wrong-password, store-missing...)."""
    message = printable(key_shapes.without_secrets(message))  # no key; names from files and databases on one line
    echo(f"cursor-byok: error: {message}", err=True)
    state = _json_state()
    if state.get("wanted") and not state.get("emitted"):  # a failure with no result: the error is the document
        error = {"code": int(code), "message": message, **({"reason": reason} if reason else {})}
        click.echo(json_safe(json_text({"error": error})))
    sys.exit(int(code))


def _json_state() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.setdefault(JSON_META, {}) if ctx is not None else {}


def fit_tables_to_terminal() -> None:
    """On a terminal, tables wrap their last column to its width, with a hanging indent."""
    width = shutil.get_terminal_size((0, 0)).columns or None if is_terminal(sys.stdout) else None
    given = os.environ.get(WIDTH_ENV, "")  # the demo's steps, run on pipes, fit the demo's own terminal
    if width is None and given.isdigit() and int(given) >= 40:
        width = int(given)
    render.use_width(width)


WIDTH_ENV = "CURSOR_BYOK_COLUMNS"


def show_status(text: str | None) -> None:
    """Write (or, with None, erase) a single status line on stderr; only when stderr is a terminal."""
    if is_terminal(sys.stderr):
        sys.stderr.write("\r\033[K" + display(text or ""))
        sys.stderr.flush()


class status:
    """`with status("deriving key…"):` shows the line while the block runs, then erases it (no scrollback)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __enter__(self) -> None:
        if self.text:
            show_status(self.text)

    def __exit__(self, *exc: object) -> None:
        if self.text:
            show_status(None)


LINE_COLOURS = (  # (line start, colour): plan markers, audit severities, notes that matter
    ("+ ", "green"),
    ("~ ", "yellow"),
    ("- ", "red"),
    ("! ", "red"),
    ("error ", "red"),
    ("warning ", "yellow"),
    ("info ", "cyan"),
    ("note: ", None),
)


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return is_terminal(stream or sys.stdout) and not os.environ.get("NO_COLOR")


def coloured(text: str) -> str:
    """Plan markers and severities in colour, line by line, when use_colour() says so."""
    if not use_colour():
        return text
    out = []
    for line in text.split("\n"):
        colour = next((c for start, c in LINE_COLOURS if line.startswith(start)), None)
        if line.startswith("note: ") and "LESS PROTECTED" in line:
            colour = "yellow"
        out.append(click.style(line, fg=colour, bold=True if line.startswith("! ") else None) if colour else line)
    return "\n".join(out)


def emit_json(doc: Any) -> None:
    """The command's JSON document on stdout: UTF-8 as it is, but every unsafe character as a \\u escape."""
    click.echo(json_safe(json_text(doc)))
    _json_state()["emitted"] = True


def json_text(doc: Any) -> str:
    """The JSON document as text a UTF-8 stream takes: a lone surrogate (a file name's byte that is not UTF-8)
    written as its JSON escape, as ensure_ascii would write it."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ScanProgress:
    """One status line on stderr for the audit's file scan, shown only on a terminal and erased at the end."""

    def __call__(self, done: int, total: int) -> None:
        show_status(f"scanning files {done}/{total}…")

    def close(self) -> None:
        show_status(None)

    @staticmethod
    def file_bytes(path: str, done: int, total: int) -> None:
        """How far the raw scan of one big file (over 100 MiB) has come."""
        end = "\n" if done >= total else ""
        name = display(os.path.basename(path))
        click.echo(f"\rscanning {name}: {done * 100 // max(total, 1)}% of {total // 2**20} MiB{end}",
                   nl=False, err=True)  # fmt: skip
