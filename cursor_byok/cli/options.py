"""Options shared by several commands, and the library Context they build."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Literal, cast

import click

from .. import errors as E

if TYPE_CHECKING:
    from ..model import ConflictPolicy

from .exits import Exit
from .output import is_terminal, status
from .prompts import hidden_prompt

AskOr = Literal["ask", "fail", "keep", "replace"]  # --on-conflict: ask settles conflicts on the terminal


def wait_with_status(actx, seconds: float | None) -> None:
    """--wait: give Cursor time to exit, saying so on one erased status line."""
    from ..cursor.paths import cursor_running
    from ..library import wait_until_closed

    running = cursor_running(actx.installation()) if seconds else None
    with status(f"waiting for Cursor (pid {running.pid}) to exit…" if running else None):
        wait_until_closed(actx, seconds)


def api_context(ctx: click.Context):
    from ..library import Context
    from ..safestorage.backends import SafeStorageConfig

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
    from ..safestorage.password import PASSWORD_ENV

    if o.get("safe_storage") != "password" or o.get("safe_storage_password_file") or os.environ.get(PASSWORD_ENV):
        return os.environ
    if "cursor_byok.machine_secret" not in ctx.meta:
        ask = hidden_prompt()
        ctx.meta["cursor_byok.machine_secret"] = ask("Machine secret for --safe-storage password") if ask else None
    secret = ctx.meta["cursor_byok.machine_secret"]
    return {**os.environ, PASSWORD_ENV: secret} if secret else os.environ


def PROVIDER_CHOICES() -> tuple[str, ...]:  # read at parse time: the registry's providers
    from ..providers import registry

    return (*registry().names, "extra", "models")


SMALL_INPUT_LIMIT = 64 << 10  # passphrase files


class ProviderName(click.ParamType):
    """A provider name: any letter case, common aliases (claude, gemini, aws, azure-openai), 'did you mean' on typos.

    `choices` may be a callable, read each time: the provider registry's names at parse time.
    """

    name = "provider"

    def __init__(self, choices: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> None:
        self._choices = choices

    @property
    def choices(self) -> tuple[str, ...]:
        return self._choices() if callable(self._choices) else self._choices

    def get_metavar(self, param, ctx=None) -> str:  # click 8.1 passes only param
        return "{" + "|".join(self.choices) + "}"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete.lower())]

    def convert(self, value, param, ctx):
        from ..model import provider_named

        try:
            return provider_named(value, self.choices)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def split_only(ctx, param, values) -> tuple[str, ...]:
    """--only a,b as well as --only a --only b, each name checked like a provider argument."""
    kind = ProviderName(PROVIDER_CHOICES)
    names = [n for v in values for n in str(v).split(",") if n.strip()]
    return tuple(dict.fromkeys(kind.convert(n, param, ctx) for n in names))


def read_passphrase_option(passphrase_file: str | None, passphrase_env: str | None) -> str | None:
    """A passphrase from a file or an environment variable; never from argv."""
    from ..checks.key_shapes import ENV_NAME, shown_env_name, shown_path
    from ..private_files import read_small

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
        from_env = os.environ.get(passphrase_env) if ENV_NAME.fullmatch(passphrase_env) else None
        if not from_env:
            raise E.InputError(f"--passphrase-env: {shown_env_name(passphrase_env)} is not set or empty")
        return from_env
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


def conflict_policy(on_conflict: str | None, as_json: bool) -> AskOr:
    """The --on-conflict policy (click has checked the choice), defaulting to ask on a terminal and fail
    otherwise; --json changes only the output."""
    return cast("AskOr", on_conflict or ("ask" if is_terminal(sys.stdin) else "fail"))


def held_policy(policy: AskOr) -> ConflictPolicy:
    """The library's policy while planning: conflicts the user is to be asked about stay conflicts."""
    return "fail" if policy == "ask" else policy


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


SAFE_STORAGE_CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")


GLOBALS_META = "cursor_byok.globals"


def _remember_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta.setdefault(GLOBALS_META, {})[param.name] = value


def _global_copies(root: click.Group) -> list[click.Option]:
    """The group's database and safe-storage options, for use after a command (no env: the group reads it)."""
    out = []
    for opt in root.params:
        if isinstance(opt, click.Option) and opt.name in GLOBAL_NAMES:
            out.append(
                click.Option(
                    opt.opts,
                    type=opt.type,
                    metavar=opt.metavar,
                    expose_value=False,
                    callback=_remember_global,
                    help=f"{opt.help} Also accepted before the command; given here, it wins.",
                )
            )
    return out


GLOBAL_NAMES = ("db", "user_data_dir", "safe_storage", "safe_storage_password_file", "safe_storage_scheme")


def add_global_options(group: click.Group, root: click.Group | None = None) -> None:
    """Every command but demo accepts --db, --user-data-dir and --safe-storage* after its name (like gh)."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            add_global_options(command, root or group)
        elif name != "demo":
            command.params.extend(_global_copies(root or group))
