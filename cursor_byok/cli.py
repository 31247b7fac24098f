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
    PENDING = 17
    NO_KEY = 18
    DECLINED = 19
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
    (E.ChangesPending, Exit.PENDING),
    (E.KeyNotStored, Exit.NO_KEY),
    (E.Declined, Exit.DECLINED),
)


def exit_code_for(exc: E.ByokError) -> Exit:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return Exit.FAILURE


JSON_META = "cursor_byok.json"  # ctx.meta: {"wanted": --json given, "emitted": a document was printed}


def fail(message: str, code: Exit) -> NoReturn:
    click.echo(f"cursor-byok: error: {message}", err=True)
    state = _json_state()
    if state.get("wanted") and not state.get("emitted"):  # a failure with no result: the error is the document
        click.echo(json.dumps({"error": {"code": int(code), "message": message}}, indent=2, ensure_ascii=False))
    sys.exit(int(code))


def _json_state() -> dict:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.setdefault(JSON_META, {}) if ctx is not None else {}


class ByokGroup(click.Group):
    """Turns domain errors into one line on stderr and a documented exit code (and, with --json, a JSON error)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from .console import setup_streams

        setup_streams()  # UTF-8 on pipes and files, whatever the OS's code page
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        fit_tables_to_terminal()
        if ctx.parent is None:
            protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", ())
            rest = [*protected, *ctx.args]
            ctx.meta[JSON_META] = {"wanted": "--json" in rest}
        try:
            return super().invoke(ctx)
        except E.ByokError as exc:
            fail(str(exc) or type(exc).__doc__ or type(exc).__name__, exit_code_for(exc))
        except (KeyboardInterrupt, click.Abort):
            click.echo("", err=True)  # off the prompt's line
            fail("interrupted; nothing written", Exit.INTERRUPTED)
        except click.ClickException as exc:
            if not _json_state().get("wanted"):
                raise
            fail(exc.format_message(), Exit(exc.exit_code) if exc.exit_code in iter(Exit) else Exit.USAGE)
        except (click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # unexpected: loud, but no traceback unless asked
            if os.environ.get("CURSOR_BYOK_DEBUG"):
                raise
            fail(
                f"internal error ({type(exc).__name__}); rerun with CURSOR_BYOK_DEBUG=1 and report it",
                Exit.FAILURE,
            )


def fit_tables_to_terminal() -> None:
    """On a terminal, tables wrap their last column to its width, with a hanging indent."""
    import shutil

    from . import render

    render.TERMINAL_WIDTH = shutil.get_terminal_size((0, 0)).columns or None if is_terminal(sys.stdout) else None


def show_status(text: str | None) -> None:
    """Write (or, with None, erase) a single status line on stderr; only when stderr is a terminal."""
    if is_terminal(sys.stderr):
        sys.stderr.write("\r\033[K" + (text or ""))
        sys.stderr.flush()


class status:
    """`with status("deriving key…"):` shows the line while the block runs, then erases it (no scrollback)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __enter__(self) -> None:
        if self.text:
            show_status(self.text)

    def __exit__(self, *exc) -> None:
        if self.text:
            show_status(None)


def wait_with_status(actx, seconds: float | None) -> None:
    """--wait: give Cursor time to exit, saying so on one erased status line."""
    from .cursor.paths import cursor_running
    from .library import wait_until_closed

    running = cursor_running(actx.installation()) if seconds else None
    with status(f"waiting for Cursor (pid {running.pid}) to exit…" if running else None):
        wait_until_closed(actx, seconds)


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


def use_colour(stream=None) -> bool:
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
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    _json_state()["emitted"] = True


def api_context(ctx: click.Context):
    from .library import Context
    from .safestorage.backends import SafeStorageConfig

    o = {**ctx.find_root().params, **ctx.meta.get(GLOBALS_META, {})}  # given after the command: that one wins
    return Context(
        env=machine_secret_env(ctx, o),
        profile=ctx.meta.get(PROFILE_META),
        db=o.get("db"),
        user_data_dir=o.get("user_data_dir"),
        safe_storage=SafeStorageConfig(
            choice=o.get("safe_storage") or "auto",
            scheme=o.get("safe_storage_scheme"),
            password_file=o.get("safe_storage_password_file"),
        ),
    )


def machine_secret_env(ctx: click.Context, o: dict):
    """os.environ, plus the machine secret asked for (hidden, once) when --safe-storage password has no file
    or variable and a terminal is there."""
    from .safestorage.backends import PASSWORD_ENV

    if o.get("safe_storage") != "password" or o.get("safe_storage_password_file") or os.environ.get(PASSWORD_ENV):
        return os.environ
    if "cursor_byok.machine_secret" not in ctx.meta:
        ask = hidden_prompt()
        ctx.meta["cursor_byok.machine_secret"] = ask("Machine secret for --safe-storage password") if ask else None
    secret = ctx.meta["cursor_byok.machine_secret"]
    return {**os.environ, PASSWORD_ENV: secret} if secret else os.environ


# --- shared options -----------------------------------------------------------------

PROVIDER_CHOICES = ("openai", "anthropic", "google", "azure", "bedrock", "extra", "models")
MIN_PASSPHRASE = 10
SMALL_INPUT_LIMIT = 64 << 10  # passphrase files
RECIPIENTS_FILE_LIMIT = 1 << 20
MAX_BUNDLE = 64 << 20  # a bundle holds a few KiB; this only stops a runaway read


PROVIDER_ALIASES = {"claude": "anthropic", "gemini": "google", "aws": "bedrock", "azure-openai": "azure"}


class ProviderName(click.ParamType):
    """A provider name: any letter case, common aliases (claude, gemini, aws, azure-openai), 'did you mean' on typos."""

    name = "provider"

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def get_metavar(self, param, ctx=None) -> str:  # click 8.1 passes only param
        return "{" + "|".join(self.choices) + "}"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete.lower())]

    def convert(self, value, param, ctx):
        import difflib

        name = str(value).strip().lower()
        name = PROVIDER_ALIASES.get(name, name)
        if name in self.choices:
            return name
        known = [*self.choices, *(a for a, p in PROVIDER_ALIASES.items() if p in self.choices)]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {PROVIDER_ALIASES.get(close[0], close[0])!r}?" if close else ""
        self.fail(f"unknown provider {value!r}{hint} (choose from {', '.join(self.choices)})", param, ctx)


def split_only(ctx, param, values) -> tuple[str, ...]:
    """--only a,b as well as --only a --only b, each name checked like a provider argument."""
    kind = ProviderName(PROVIDER_CHOICES)
    names = [n for v in values for n in str(v).split(",") if n.strip()]
    return tuple(dict.fromkeys(kind.convert(n, param, ctx) for n in names))


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_passphrase_option(passphrase_file: str | None, passphrase_env: str | None) -> str | None:
    """A passphrase from a file or an environment variable; never from argv."""
    from .checks.key_shapes import ENV_NAME, shown_env_name, shown_path
    from .files import read_small

    if passphrase_file:
        try:
            value = read_small(passphrase_file, SMALL_INPUT_LIMIT).decode("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise E.InputError(f"{shown_path(passphrase_file)}: cannot read the passphrase ({why})") from None
        if not value:
            raise E.InputError(f"{shown_path(passphrase_file)}: the passphrase file is empty")
        return value
    if passphrase_env:
        value = os.environ.get(passphrase_env) if ENV_NAME.fullmatch(passphrase_env) else None
        if not value:
            raise E.InputError(f"--passphrase-env: {shown_env_name(passphrase_env)} is not set or empty")
        return value
    return None


def passphrase_options(f):
    f = click.option("--passphrase-env", metavar="VAR", help="Read the passphrase from environment variable VAR.")(f)
    f = click.option("--passphrase-file", metavar="FILE", help="Read the passphrase from FILE (first line).")(f)
    return f


def only_option(f):
    return click.option(
        "--only",
        multiple=True,
        metavar="PROVIDER[,PROVIDER...]",
        callback=split_only,
        help="Limit to these providers; extra: unknown providers' keys; models: model lists "
        "(repeatable, or comma-separated: --only openai,anthropic).",
    )(f)


PROFILE_META = "cursor_byok.cursor.rows"


def _remember_profile(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:
        ctx.meta[PROFILE_META] = value


def profile_option(f):
    """--profile NAME: whose settings blob to read or write (keys always live in the default profile)."""
    return click.option(
        "--profile",
        metavar="NAME",
        expose_value=False,
        callback=_remember_profile,
        help="A Cursor profile's name or location (default: the default profile); keys are shared by all.",
    )(f)


CHECK = "cursor_byok.check"  # ctx.meta flag set by --check, read once in run_plan


def check_option(f):
    """--check: plan, write nothing, exit 17 when changes or conflicts are pending (drift for fleet jobs)."""

    def remember(ctx: click.Context, _param, value: bool) -> bool:
        if value:
            ctx.meta[CHECK] = True
        return value

    return click.option(
        "--check",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help=f"Show the plan and write nothing; exit {int(Exit.PENDING)} if anything is pending, 0 if not.",
    )(f)


def write_options(f):
    """--dry-run, --check, --wait, --yes, --json and --profile, as `import` has them."""
    f = profile_option(f)
    f = check_option(f)
    f = json_option(f)
    f = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")(f)
    f = click.option("--wait", type=float, metavar="SECONDS", help="Wait up to SECONDS for Cursor to exit.")(f)
    return click.option("--dry-run", is_flag=True, help="Show the plan, change nothing.")(f)


def force_option(f):
    return click.option(
        "--force",
        is_flag=True,
        help="Do it even if it looks like a mistake (another provider's key, a provider on with no key, "
        "an unknown surface).",
    )(f)


def key_storage_option(f):
    return click.option(
        "--key-storage",
        type=click.Choice(("auto", "secret", "plaintext")),
        default="auto",
        show_default=True,
        help="Write keys encrypted (secret://) or as legacy plain rows; auto follows this Cursor.",
    )(f)


def conflict_option(f):
    return click.option(
        "--on-conflict",
        type=click.Choice(("ask", "keep", "replace", "fail")),
        help="When a different value is stored: ask (default on a terminal), keep, replace or fail (otherwise).",
    )(f)


def conflict_policy(on_conflict: str | None, as_json: bool) -> str:
    """The --on-conflict policy, defaulting to ask on a terminal and fail otherwise."""
    return on_conflict or ("ask" if is_terminal(sys.stdin) else "fail")  # --json changes only the output


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


SAFE_STORAGE_CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")


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
def main(**_options: Any) -> None:
    """Find, audit, move and script the API keys Cursor stores.

    Options before the command choose which Cursor database and which safe
    storage to use. Keys print masked unless --reveal is given.
    """


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def where(ctx: click.Context, as_json: bool) -> None:
    """Show each Cursor installation found and how its keys are protected.

    With several, "used by commands" marks the one the other commands use;
    with none, the paths searched are listed (exit 3).

    \b
    Examples:
      cursor-byok where
      cursor-byok where --json
      cursor-byok where --user-data-dir ~/old-cursor
    """
    from .library import where_documents
    from .render import where_text

    docs = where_documents(api_context(ctx))
    if as_json:
        emit_json({"installations": docs})
    else:
        click.echo(where_text(docs))


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--reveal", is_flag=True, help="Print key values in full (they are masked otherwise).")
@click.option("--bundle", "bundle_file", metavar="FILE", help="Show what a bundle holds instead of the database.")
@click.option(
    "-i", "--identity", multiple=True, metavar="FILE", help="age identity or SSH private key (with --bundle)."
)
@passphrase_options
@profile_option
@click.pass_context
def list_cmd(
    ctx: click.Context, as_json: bool, reveal: bool, bundle_file, identity, passphrase_file, passphrase_env
) -> None:
    """Show the stored provider keys, settings and models.

    --profile NAME shows that profile's settings and models; --profile all
    shows every profile. Exits 7 (after printing) when keys cannot be
    decrypted here. With --bundle, what the bundle does not hold reads
    "not in bundle" (absent in --json).

    \b
    Examples:
      cursor-byok list
      cursor-byok list --json --db ./state.vscdb
      cursor-byok list --bundle keys.age -i ~/.ssh/id_ed25519
    """
    from .library import bundle_list_document, list_all_profiles, list_document
    from .render import profile_text

    actx = api_context(ctx)
    if bundle_file:
        doc = load_bundle_cli(bundle_file, identity, passphrase_file, passphrase_env)
        doc = bundle_list_document(doc, path=bundle_file, reveal=reveal)
    elif actx.profile == "all":
        doc = list_all_profiles(actx, reveal=reveal)
    else:
        doc = list_document(actx, reveal=reveal)
    if as_json:
        emit_json(doc)
    for one in () if as_json else doc.get("documents", [doc]):
        click.echo(f"bundle: {one['bundle']}" if bundle_file else f"database: {one['db']}")
        click.echo(profile_text(one))
    if not bundle_file and any(undecryptable_keys(one) for one in doc.get("documents", [doc])):
        sys.exit(int(Exit.SAFE_STORAGE))  # the document is printed; the status says keys are missing from it


def undecryptable_keys(doc: dict) -> list[str]:
    """The keys of a `list` document that cannot be decrypted here."""
    from .model import KEY_NAMES

    out = [f"{p}.{k}" for p, entry in doc["providers"].items() for k in KEY_NAMES
           if isinstance(entry.get(k), dict) and entry[k].get("fingerprint") is None]
    return out + [e["name"] for e in doc.get("extra_secrets", []) if e["key"].get("fingerprint") is None]


@main.command("get")
@click.argument("provider", type=ProviderName(("openai", "anthropic", "google", "azure", "bedrock")))
@click.option(
    "--field", type=click.Choice(("access_key", "secret_key")), help="bedrock: which key (default: access_key)."
)
@json_option
@click.pass_context
def get_cmd(ctx: click.Context, provider: str, field: str | None, as_json: bool) -> None:
    """Print one stored key on stdout, for scripts (like `gh auth token`).

    \b
    Exits 18 when no key is stored, 7 when it cannot be decrypted here.
    Examples:
      export OPENAI_API_KEY="$(cursor-byok get openai)"
      cursor-byok get claude --json
      cursor-byok get bedrock --field secret_key
    """
    from .library import get_key

    value = get_key(api_context(ctx), provider, field)
    if as_json:
        emit_json({"provider": provider, "field": field or ("access_key" if provider == "bedrock" else "key"),
                   "value": value})
    else:
        click.echo(value)


# --- export ----------------------------------------------------------------------------


PASSPHRASE_PROMPT = "Bundle passphrase"  # export and import word it the same
TRIES = 3


def new_passphrase_prompt() -> str:
    """A new passphrase on a terminal: its length checked on the first entry, then typed again to confirm."""
    for _ in range(TRIES):
        value = click.prompt(PASSPHRASE_PROMPT, hide_input=True, err=True)
        if len(value) < MIN_PASSPHRASE:
            click.echo(f"too short: use at least {MIN_PASSPHRASE} characters", err=True)
            continue
        if click.prompt(f"{PASSPHRASE_PROMPT} (again)", hide_input=True, err=True) == value:
            return value
        click.echo("the two entries differ; try again", err=True)
    raise E.InputError(f"no passphrase after {TRIES} tries; nothing written")


def export_passphrase(passphrase_file, passphrase_env) -> str:
    value = read_passphrase_option(passphrase_file, passphrase_env)
    if value is None:
        if not is_terminal(sys.stdin):
            raise E.InputError("no passphrase: pass --passphrase-file F, --passphrase-env VAR, or -r RECIPIENT")
        value = new_passphrase_prompt()
    if len(value) < MIN_PASSPHRASE:
        raise E.InputError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters, or -r RECIPIENT")
    return value


def gather_recipients(recipient: tuple[str, ...], recipients_file: tuple[str, ...]) -> list[str]:
    from .bundle.age_envelope import parse_recipients_file
    from .files import read_small

    out = list(recipient)
    for path in recipients_file:
        try:
            text = read_small(path, RECIPIENTS_FILE_LIMIT).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise E.InputError(f"{path}: cannot read recipients ({why})") from None
        out += parse_recipients_file(text, path)
    return out


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
    """Write keys, provider settings and models to an encrypted age bundle."""
    from .files import check_target, write_private
    from .library import export_document, seal

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
    doc, notes = export_document(
        api_context(ctx), only=only, keys=not no_keys, models=not no_models, skip_undecryptable=skip_undecryptable
    )
    passphrase = None if recipients else export_passphrase(passphrase_file, passphrase_env)
    with status("deriving key…" if passphrase else None):
        data = seal(doc, passphrase=passphrase, recipients=recipients, armor=armor)
    if to_pipe:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:  # a full disk behind the redirect, a reader that went away
            raise E.OutputRefused(f"cannot write the bundle to stdout ({exc.strerror or exc}); use -o FILE") from None
    else:
        write_private(__import__("pathlib").Path(output), data, overwrite=force)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    export_summary("stdout" if to_pipe else output, doc, notes, recipients)


def export_summary(where: str, doc: dict, notes: list[str], recipients: list[str]) -> None:
    """What the bundle really holds, on stderr; keys left out are said loudly."""
    from .bundle.document import LEFT_OUT, written_counts

    keys, providers = written_counts(doc)
    models = "models" in doc["profile"]
    left_out = sum(1 for n in notes if LEFT_OUT in n)
    click.echo(
        f"wrote {where}: {keys} key(s), {providers} provider(s){', models' if models else ''}; encrypted to "
        f"{f'{len(recipients)} recipient(s)' if recipients else 'a passphrase'}"
        + (f"; {left_out} keys LEFT OUT (they cannot be decrypted here)" if left_out else ""),
        err=True,
    )


# --- import ----------------------------------------------------------------------------


def read_input_file(path: str) -> bytes:
    """A bundle from a file or a pipe ('-'), read up to MAX_BUNDLE bytes."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BUNDLE + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_BUNDLE + 1)
    except OSError as exc:
        raise E.InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_BUNDLE:
        raise E.BundleError(f"{path}: larger than {MAX_BUNDLE >> 20} MiB, which no bundle is; check the file name")
    return data


def load_bundle_cli(path: str, identity: tuple[str, ...], passphrase_file, passphrase_env) -> dict:
    from .bundle import age_envelope as agefile
    from .library import open_bundle

    data = read_input_file(path)
    header = agefile.precheck(data)
    ask = hidden_prompt() if path != "-" else None
    if header.passphrase_only:
        value = read_passphrase_option(passphrase_file, passphrase_env)
        if value is None:
            if ask is None:
                raise E.BundleAuthError(
                    "this bundle needs its passphrase: pass --passphrase-file F or --passphrase-env VAR"
                )
            return open_with_tries(data, ask)
        with status("deriving key…"):
            return open_bundle(data, passphrases=[value])
    if not identity:
        raise E.BundleAuthError("this bundle is encrypted to recipients: pass -i IDENTITY_FILE")
    return open_bundle(data, identity_files=identity, ask=ask)


def open_with_tries(data: bytes, ask) -> dict:
    """On a terminal, a wrong bundle passphrase gets TRIES tries."""
    from .library import open_bundle

    for attempt in range(1, TRIES + 1):
        try:
            value = ask(PASSPHRASE_PROMPT)
            with status("deriving key…"):
                return open_bundle(data, passphrases=[value])
        except E.BundleAuthError:
            if attempt == TRIES:
                raise
            click.echo(f"wrong passphrase; {TRIES - attempt} tries left", err=True)
    raise AssertionError("unreachable")


def confirm_write(question: str, *, yes: bool) -> None:
    """The one confirmation rule for writes: --yes skips it; a terminal asks; otherwise refuse (exit 15).

    Declining raises Declined (exit 19); Ctrl-C at the prompt is click.Abort (exit 130).
    """
    if yes:
        return
    if not is_terminal(sys.stdin):
        raise E.ConfirmationNeeded("this command writes and no terminal can confirm it: pass --yes")
    if not click.confirm(question, default=False, err=True):
        raise E.Declined("declined; nothing written")


def ask_conflict(change) -> bool:
    from .render import _short

    why = f" ({change.note})" if change.note else ""  # e.g. where a held key would be sent
    click.echo(f"{change.field}: stored {_short(change.old)}, wanted {_short(change.new)}{why}", err=True)
    return click.confirm("  replace it?", default=False, err=True)


def run_plan(ctx, prep, *, dry_run: bool, yes: bool, as_json: bool, command: str, extra: dict | None = None) -> None:
    """Render a plan, confirm, apply through the one write path, report; `extra` goes into the JSON document."""
    from .changes import plan as planning
    from .library import execute, plan_warnings, source_info
    from .render import plan_json, plan_text

    check = bool(ctx.meta.get(CHECK))
    if prep.plan.conflicts and not (dry_run or check) and is_terminal(sys.stdin) and prep.ask:
        prep.plan = planning.resolve(prep.plan, ask_conflict)
    doc = {
        **source_info(prep.inst),
        "dry_run": dry_run or check,
        "check": check,
        "plan": plan_json(prep.plan),
        "applied": False,
        "journal": None,
        "warnings": [],
        **(extra or {}),
    }
    if not as_json:
        click.echo(coloured(plan_text(prep.plan)))
    if prep.other_profiles:
        click.echo(
            f"note: writing the default profile's settings; other profiles ({', '.join(prep.other_profiles)}) "
            "keep their own: pass --profile NAME for one of them",
            err=True,
        )
    for line in plan_warnings(prep.plan):
        click.echo(f"warning: {line}", err=True)
    if dry_run or check:
        finish_preview(prep.plan, doc, check=check, as_json=as_json)
        return
    if prep.plan.conflicts:
        if as_json:
            emit_json(doc)
        raise E.PlanConflict(
            f"{len(prep.plan.conflicts)} field(s) already hold different values; nothing was written. "
            "Rerun with --on-conflict replace or keep"
        )
    if prep.plan.effective:
        confirm_write(f"Apply {len(prep.plan.effective)} change(s) to {prep.inst.db_path}?", yes=yes)
    result = execute(prep, command=command)
    doc.update(
        applied=bool(result.rows),
        journal=result.journal_id,
        profile_journal=result.profile_journal_id,
        warnings=list(result.warnings),
        rows_written=len(result.rows),
        quick_check=result.quick_check,
    )
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    for line in planning.endpoint_messages(prep.plan) if result.rows else ():
        click.echo(f"note: {line}", err=True)
    if as_json:
        emit_json(doc)
    elif result.rows:
        click.echo(f"applied: {len(result.rows)} row(s) written, verified; undo with {undo_hint(prep, result)}")
    else:
        kept = sum(1 for c in prep.plan.changes if c.action == "kept")
        click.echo(f"nothing to write: {f'{kept} kept value(s) differ' if kept else 'the database already matches'}")
    removed_key_note(prep.plan, result.journal_id)


def finish_preview(plan, doc: dict, *, check: bool, as_json: bool) -> None:
    """The end of --dry-run and --check: nothing written; --check fails with 17 when anything is pending."""
    if as_json:
        emit_json(doc)
    click.echo("dry run: nothing written", err=as_json)
    pending, conflicts = len(plan.effective), len(plan.conflicts)
    if check and (pending or conflicts):
        raise E.ChangesPending(f"--check: {pending} change(s) and {conflicts} conflict(s) pending; nothing written")


def undo_hint(prep, result) -> str:
    """The undo command(s) for a write, ready to paste; a profile's settings blob is journaled apart from the keys."""
    from .changes.plan import undo_command

    hints = [undo_command(prep.inst, result.journal_id)] if result.journal_id else []
    if result.profile_journal_id:
        hints.append(undo_command(prep.inst, result.profile_journal_id, prep.user_profile.location))
    return " and ".join(hints)


def removed_key_note(plan, journal_id: str | None) -> None:
    """Say on stderr that removed keys stay in the undo journal, and how to delete it."""
    from .model import is_key_field

    removed = [c.field for c in plan.effective if c.new is None and is_key_field(c.field)]
    if journal_id and removed:
        click.echo(
            f"note: the removed key ({', '.join(removed)}) stays in undo journal {journal_id} so this can be "
            f"undone; delete it with `cursor-byok undo --purge {journal_id} --yes` once you no longer need it",
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
    from .bundle import document as bundle
    from .changes import plan as planning
    from .library import prepare

    doc = load_bundle_cli(bundle_file, identity, passphrase_file, passphrase_env)
    wanted = planning.filter_fields(bundle.to_fields(doc), only)
    policy = conflict_policy(on_conflict, as_json)
    wait_with_status(api_context(ctx), wait)
    prep = prepare(
        api_context(ctx),
        wanted,
        on_conflict="fail" if policy == "ask" else policy,
        models="keep" if no_models else models_policy,
        key_storage=key_storage,
        source_protection=bundle.source_protection(doc),
    )
    prep.ask = policy == "ask"
    run_plan(ctx, prep, dry_run=dry_run, yes=yes, as_json=as_json, command=f"import {bundle_file}")


# --- undo ------------------------------------------------------------------------------


@main.command()
@click.argument("journal_id", required=False, metavar="[ID]")
@click.option("--list", "list_only", is_flag=True, help="List the undo journals for this database.")
@click.option("--force", is_flag=True, help="Restore even rows that changed since.")
@click.option("--purge", is_flag=True, help="Delete this database's journals (they hold the old row values).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@profile_option
@click.pass_context
def undo(ctx, journal_id, list_only, force, purge, yes, as_json) -> None:
    """Restore the rows a write changed (newest journal by default).

    Journals hold the old values of the rows each write changed, which may
    include keys; --purge deletes them once you no longer need to go back.
    A terminal asks first; without one, pass --yes.

    \b
    Examples:
      cursor-byok undo --list
      cursor-byok undo --yes
      cursor-byok undo --purge
    """
    from . import library as api
    from .render import table

    actx = api_context(ctx)
    if purge:
        purge_journals(actx, journal_id, yes=yes, as_json=as_json)
        return
    if list_only:
        docs = api.journal_documents(actx)
        if as_json:
            emit_json({"journals": docs})
        else:
            click.echo(
                table([[d["id"], d["command"], len(d["rows"])] for d in docs], ["id", "command", "rows"])
                if docs
                else "no undo journals for this database"
            )
        return
    if api.journal_documents(actx):  # none: api.undo says there is nothing to undo (exit 16)
        confirm_write(f"Restore the rows {journal_id or 'the newest write'} changed?", yes=yes)
    entry, result = api.undo(actx, journal_id, force=force)
    if as_json:
        emit_json({"undone": entry.id, "journal": result.journal_id, "rows_written": len(result.rows)})
    else:
        click.echo(
            f"restored {len(result.rows)} row(s) from {entry.id}"
            + (f"; undo this with `cursor-byok undo {result.journal_id}`" if result.journal_id else "")
        )


def purge_journals(actx, journal_id: str | None, *, yes: bool, as_json: bool) -> None:
    from . import library as api

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


# --- set / unset / models / apply -----------------------------------------------------

WRITE_PROVIDERS = ("openai", "anthropic", "google", "azure", "bedrock")


def hidden_prompt():
    """A hidden prompt on stderr when stdin is a terminal; None otherwise (callers then refuse)."""
    if not is_terminal(sys.stdin):
        return None
    return lambda label: click.prompt(label, hide_input=True, err=True)


def run_write(
    ctx,
    build,
    *,
    command: str,
    dry_run,
    yes,
    as_json,
    wait,
    ask: bool = False,
    force: bool = False,
    extra=None,
    **prepare_kw,
) -> None:
    """Plan the fields `build(profile)` wants, refuse likely mistakes (unless --force), warn about odd key shapes,
    then run_plan."""
    from .changes.wanted import mistakes, prepare_from

    wait_with_status(api_context(ctx), wait)
    prep, warnings = prepare_from(api_context(ctx), build, **prepare_kw)
    found = [] if force else mistakes(prep.wanted, prep.profile)
    if found:
        raise E.MistakeRefused(f"{'; '.join(found)}. Nothing was written; pass --force to do it anyway")
    prep.ask = ask
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    run_plan(ctx, prep, dry_run=dry_run, yes=yes, as_json=as_json, command=command, extra=extra)


def read_keys_for_set(provider: str, no_key: bool, sources: dict) -> dict:
    from .changes import wanted as onboard

    if no_key:
        if any(sources.values()):
            raise E.InputError("--no-key takes no key source; drop one or the other")
        return {}
    specs = onboard.set_key_specs(provider, **sources)
    if "stdin" in specs.values() and is_terminal(sys.stdin):
        raise E.InputError("--key-stdin reads a pipe; on a terminal leave it out to get a hidden prompt")
    read_stdin = lambda: sys.stdin.read(onboard.SOURCE_LIMIT + 1)  # noqa: E731 - bounded: stdin may be /dev/zero
    return onboard.read_set_keys(specs, read_stdin=read_stdin, prompt=hidden_prompt())


@main.command("set")
@click.argument("provider", type=ProviderName(WRITE_PROVIDERS))
@click.option("--key-env", metavar="VAR", help="Read the key (Bedrock: access key ID) from environment variable VAR.")
@click.option("--key-file", metavar="FILE", help="Read the key from FILE; a trailing newline is dropped.")
@click.option("--key-stdin", is_flag=True, help="Read the key from stdin (Bedrock: access key ID, then secret key).")
@click.option("--secret-key-env", metavar="VAR", help="Bedrock: read the secret access key from VAR.")
@click.option("--secret-key-file", metavar="FILE", help="Bedrock: read the secret access key from FILE.")
@click.option("--no-key", is_flag=True, help="Change only settings and keep the stored key.")
@click.option("--base-url", metavar="URL", help="openai: OpenAI-compatible server ('' clears it); azure: endpoint.")
@click.option("--deployment", metavar="NAME", help="azure: deployment name.")
@click.option("--region", metavar="REGION", help="bedrock: AWS region, e.g. us-east-1.")
@click.option("--enable/--disable", "enabled", default=None, help="Switch the provider on or off (a new key: on).")
@force_option
@key_storage_option
@write_options
@click.pass_context
def set_cmd(
    ctx, provider, no_key, base_url, deployment, region, enabled, force, key_storage, dry_run, wait, yes, as_json,
    **sources,
) -> None:
    """Store a provider's key and settings; the key never comes from an argument.

    The key is read from --key-env VAR, --key-file FILE, --key-stdin, or a
    hidden prompt when stdin is a terminal. A stored different key is replaced.
    Another provider's key, or --enable with no key stored, is refused unless --force.

    \b
    Examples:
      cursor-byok set anthropic                       # hidden prompt
      cursor-byok set openai --key-env OPENAI_API_KEY --yes
      cursor-byok set openai --no-key --disable
    """
    from .changes import wanted as onboard

    settings = onboard.setting_options(provider, {"base_url": base_url, "deployment": deployment, "region": region})
    if no_key and not settings and enabled is None:
        raise E.InputError("nothing to set: give --base-url, --deployment, --region, --enable or --disable")
    api_context(ctx).installation()  # no Cursor found: say so before asking for a key
    keys = read_keys_for_set(provider, no_key, sources)
    run_write(
        ctx,
        lambda _profile: onboard.provider_fields(provider, keys, settings, enabled),
        command=f"set {provider}",
        key_storage=key_storage,
        guard_endpoints=False,  # the user's own request, not input from elsewhere
        force=force,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        wait=wait,
    )


@main.command()
@click.argument("provider", type=ProviderName(WRITE_PROVIDERS))
@write_options
@click.pass_context
def unset(ctx, provider, dry_run, wait, yes, as_json) -> None:
    """Remove a provider's key(s) and switch the provider off.

    \b
    Examples:
      cursor-byok unset azure
      cursor-byok unset claude --dry-run
      cursor-byok unset openai --yes --json
    """
    from .changes import wanted as onboard

    run_write(
        ctx,
        lambda profile: onboard.unset_fields(provider, profile),
        command=f"unset {provider}",
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        wait=wait,
    )


@main.group()
def models() -> None:
    """Show and change custom models, on/off lists and per-surface selections."""


@models.command("list")
@json_option
@profile_option
@click.pass_context
def models_list(ctx, as_json) -> None:
    """Show user-added, enabled, disabled and selected models."""
    from .changes.wanted import models_document
    from .render import table

    doc = models_document(api_context(ctx))
    if as_json:
        emit_json(doc)
        return
    m = doc["models"]
    rows = [
        [name, ", ".join(m[key]) or "-"]
        for name, key in (("user added", "user_added"), ("enabled", "enabled"), ("disabled", "disabled"))
    ]
    rows.append(["selected", ", ".join(f"{s}={n}" for s, n in m["selected"].items()) or "-"])
    click.echo(table(rows))


MODEL_OPS = {
    "add": "Add custom models (and switch them on).",
    "remove": "Remove custom models (from user-added and enabled).",
    "enable": "Switch models on.",
    "disable": "Switch models off.",
}


def model_list_command(op: str, summary: str) -> None:
    @models.command(op, help=summary)
    @click.argument("names", nargs=-1, required=True, metavar="NAME...")
    @write_options
    @click.pass_context
    def command(ctx, names, dry_run, wait, yes, as_json) -> None:
        from .changes import wanted as onboard

        names = onboard.check_models(names, f"models {op}")
        run_write(
            ctx,
            lambda profile: onboard.model_ops(profile, **{op: names}),
            command=f"models {op} {' '.join(names)}",
            notes=(lambda profile: onboard.model_notes(profile, names)) if op == "remove" else None,
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
            wait=wait,
        )


for _op, _summary in MODEL_OPS.items():
    model_list_command(_op, _summary)


@models.command("select")
@click.argument("surface")
@click.argument("name")
@force_option
@write_options
@click.pass_context
def models_select(ctx, surface, name, force, dry_run, wait, yes, as_json) -> None:
    """Select the model for a surface; its other settings stay.

    \b
    Surfaces: cmd-k, composer, background-composer, composer-ensemble,
    plan-execution, spec, deep-search, quick-agent (others need --force).
    Examples:
      cursor-byok models select composer claude-sonnet-4
      cursor-byok models select cmd-k gpt-4.1 --dry-run
    """
    from .changes import wanted as onboard

    surface = onboard.check_name(surface, "SURFACE")
    name = onboard.check_models([name], "NAME")[0]
    run_write(
        ctx,
        lambda _profile: onboard.select_fields({surface: name}),
        command=f"models select {surface} {name}",
        force=force,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        wait=wait,
    )


@main.command("apply")
@click.argument("manifest_file", metavar="MANIFEST")
@conflict_option
@force_option
@key_storage_option
@write_options
@click.pass_context
def apply_cmd(ctx, manifest_file, on_conflict, force, key_storage, dry_run, wait, yes, as_json) -> None:
    """Apply a team manifest (TOML): providers, settings, models and where each key comes from.

    --dry-run runs no command and reads no file or variable: it says what each
    key source would do. A real apply on a terminal lists the commands first
    and asks once before running them, unless --yes. Another provider's key, a
    provider on with no key and an unknown model surface are refused unless
    --force.

    \b
    Examples:
      cursor-byok apply team.toml --dry-run
      cursor-byok apply team.toml
      cursor-byok apply team.toml --yes --json --on-conflict keep
    """
    from .changes import manifest as mf

    wanted_manifest = mf.load(manifest_file)
    api_context(ctx).installation()  # no Cursor found: say so before running any key command
    extra = None
    if dry_run:
        extra = {"sources": mf.review(wanted_manifest)}
        show_sources(extra["sources"], as_json)
        keys = {}
    else:
        confirm_commands(mf.commands(wanted_manifest), yes)
        keys = mf.resolve_keys(wanted_manifest, prompt=hidden_prompt())
    policy = conflict_policy(on_conflict, as_json)
    held = "fail" if policy == "ask" else policy
    run_write(
        ctx,
        lambda profile: mf.wanted(wanted_manifest, keys, profile),
        command=f"apply {manifest_file}",
        on_conflict=held,
        selections=held,
        key_storage=key_storage,
        notes=lambda profile: mf.notes(wanted_manifest, profile),
        force=force,
        ask=policy == "ask",
        extra=extra,
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        wait=wait,
    )


def show_sources(review: list[dict], as_json: bool) -> None:
    if review and not as_json:
        click.echo("key sources (a dry run reads none of them; keys are left out of the plan):")
        for entry in review:
            click.echo(f"  {entry['field']}: {entry['action']}")


def confirm_commands(commands: list[tuple[str, str]], yes: bool) -> None:
    """On a terminal, list the commands a manifest runs and ask once; --yes: go ahead; neither: refuse
    before any command runs (the same rule as for writes)."""
    if not commands or yes:
        return
    if not is_terminal(sys.stdin):
        raise E.ConfirmationNeeded(
            f"this manifest runs {len(commands)} command(s) to read keys and no terminal can confirm them: "
            "review them with --dry-run, then pass --yes"
        )
    click.echo("This manifest runs these commands to read keys:", err=True)
    for field, command in commands:
        click.echo(f"  {field}: {command}", err=True)
    if not click.confirm(f"Run {'it' if len(commands) == 1 else f'these {len(commands)} commands'}?", err=True):
        raise E.Declined("declined; no command was run and nothing written")


# --- audit / doctor ----------------------------------------------------------------------


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
        click.echo(f"\rscanning {os.path.basename(path)}: {done * 100 // max(total, 1)}% of {total // 2**20} MiB{end}",
                   nl=False, err=True)  # fmt: skip


@main.command()
@json_option
@click.option(
    "--fail-on",
    type=click.Choice(("info", "warning", "error", "none")),
    default="error",
    show_default=True,
    help=f"Exit {int(Exit.FINDINGS)} when a finding is at least this severe (none: never).",
)
@click.pass_context
def audit(ctx, as_json: bool, fail_on: str) -> None:
    """Check stored keys, their protection, and old copies in files around the database.

    \b
    Examples:
      cursor-byok audit
      cursor-byok audit --fail-on warning --json > audit.json
      cursor-byok audit --fail-on none
    """
    from .checks.audit import document_reaches, report_text
    from .checks.surroundings import audit_document

    progress = ScanProgress() if is_terminal(sys.stderr) else None
    try:
        doc = audit_document(
            api_context(ctx), progress=progress, file_progress=progress.file_bytes if progress else None
        )
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        emit_json(doc)
    else:
        click.echo(coloured(report_text(doc)))
    if fail_on != "none" and document_reaches(doc, fail_on):
        sys.exit(int(Exit.FINDINGS))


@main.command()
@click.option("--online", is_flag=True, help="Also ask each provider whether its key is accepted (free calls).")
@click.option(
    "--azure-api-version",
    default="2024-10-21",
    show_default=True,
    help="API version for the online Azure checks; doctor says when the endpoint refuses it.",
)
@json_option
@click.pass_context
def doctor(ctx, online: bool, azure_api_version: str, as_json: bool) -> None:
    """Explain likely causes of Cursor's BYOK errors (401, 403, 429, missing models, Azure, slow responses).

    Exits 13 when a likely cause, an invalid key, a rate limit or a refused
    Azure setting is found. --online sends each key, in a header, only for a
    provider that is switched on, and only to its provider's free model-list
    endpoint or to the URL this Cursor uses (the OpenAI base URL, the Azure
    endpoint); each check says which host it went to.
    """
    from .checks import doctor as doc_mod

    doc = doc_mod.document(api_context(ctx), online=online, azure_api_version=azure_api_version)
    if as_json:
        emit_json(doc)
    else:
        click.echo(doc_mod.report_text(doc))
    if doc_mod.has_problems(doc):
        sys.exit(int(Exit.FINDINGS))


# --- demo ------------------------------------------------------------------------------


@main.command()
@click.option("--keep", is_flag=True, help="Keep the temporary folder to look around.")
def demo(keep: bool) -> None:
    """Move keys between two sample Cursor installs (needs no Cursor)."""
    from .samples import demo as demo_mod

    if not demo_mod.run(echo=click.echo, keep=keep):
        sys.exit(int(Exit.FAILURE))


# --- global options after the command too ----------------------------------------------------

GLOBALS_META = "cursor_byok.globals"


def _remember_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta.setdefault(GLOBALS_META, {})[param.name] = value


def _global_copies() -> list[click.Option]:
    """The group's database and safe-storage options, for use after a command (no env: the group reads it)."""
    out = []
    for opt in main.params:
        if isinstance(opt, click.Option) and opt.name in GLOBAL_NAMES:
            out.append(
                click.Option(
                    opt.opts, type=opt.type, metavar=opt.metavar, expose_value=False, callback=_remember_global,
                    help=f"{opt.help} Also accepted before the command; given here, it wins.",
                )
            )
    return out


GLOBAL_NAMES = ("db", "user_data_dir", "safe_storage", "safe_storage_password_file", "safe_storage_scheme")


def add_global_options(group: click.Group) -> None:
    """Every command but demo accepts --db, --user-data-dir and --safe-storage* after its name (like gh)."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            add_global_options(command)
        elif name != "demo":
            command.params.extend(_global_copies())


add_global_options(main)


if __name__ == "__main__":  # pragma: no cover
    main()
