"""Options shared by several commands, and the library Context they build."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, TypeVar, cast

import click
from click.core import ParameterSource
from click.shell_completion import CompletionItem

from ..errors import InputError
from ..providers import provider_named, registry
from .exits import Exit
from .lib import backends, context, key_shapes, password, private_files
from .output import is_terminal
from .prompts import hidden_prompt

AskOr = Literal["ask", "fail", "keep", "replace"]  # --on-conflict: ask settles conflicts on the terminal
F = TypeVar("F", bound=Callable[..., Any])  # a command function an option decorates


def api_context(ctx: click.Context) -> context.Context:
    o = {**ctx.find_root().params, **ctx.meta.get(GLOBALS_META, {})}  # given after the command: that one wins
    return context.Context(
        env=machine_secret_env(ctx, o),
        profile=ctx.meta.get(PROFILE_META),
        db=o.get("db"),
        user_data_dir=o.get("user_data_dir"),
        safe_storage=backends.SafeStorageConfig(
            choice=o.get("safe_storage") or "auto",
            scheme=o.get("safe_storage_scheme"),
            password_file=o.get("safe_storage_password_file"),
            chosen_by=_from_environment(ctx, "safe_storage", "CURSOR_BYOK_SAFE_STORAGE"),
        ),
    )


def _from_environment(ctx: click.Context, name: str, variable: str) -> str | None:
    """`VARIABLE=value` when the environment gave the option's value (not given after the command either)."""
    root = ctx.find_root()
    if name in ctx.meta.get(GLOBALS_META, {}) or root.get_parameter_source(name) != ParameterSource.ENVIRONMENT:
        return None
    return f"{variable}={root.params.get(name)}"


def machine_secret_env(ctx: click.Context, o: Mapping[str, Any]) -> Mapping[str, str]:
    """os.environ, plus the machine secret asked for (hidden, once) when --safe-storage password has no file
    or variable and a terminal is there."""
    if (
        o.get("safe_storage") != "password"
        or o.get("safe_storage_password_file")
        or os.environ.get(password.PASSWORD_ENV)
    ):
        return os.environ
    if "cursor_byok.machine_secret" not in ctx.meta:
        ask = hidden_prompt()
        ctx.meta["cursor_byok.machine_secret"] = ask("Machine secret for --safe-storage password") if ask else None
    secret: str | None = ctx.meta["cursor_byok.machine_secret"]
    return {**os.environ, password.PASSWORD_ENV: secret} if secret else os.environ


def provider_names() -> tuple[str, ...]:
    """The providers a command takes, read at parse time from the registry (a test may swap it)."""
    return registry().names


def only_choices() -> tuple[str, ...]:
    """What --only takes: the providers, then `extra` (unknown providers' keys) and `models`."""
    return (*registry().names, "extra", "models")


SMALL_INPUT_LIMIT = 64 << 10  # passphrase files


if TYPE_CHECKING:
    TextType = click.ParamType[str]
else:  # click 8.1, which setup.cfg allows, has no generic ParamType
    TextType = click.ParamType


class ProviderName(TextType):
    """A provider name: any letter case, common aliases (claude, gemini, aws, azure-openai), 'did you mean' on typos.

    `choices` may be a callable, read each time: the provider registry's names at parse time.
    """

    name = "provider"

    def __init__(self, choices: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> None:
        self._choices = choices

    @property
    def choices(self) -> tuple[str, ...]:
        return self._choices() if callable(self._choices) else self._choices

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:  # 8.1: only param
        return "{" + "|".join(self.choices) + "}"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete.lower())]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return provider_named(value, self.choices)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def split_only(ctx: click.Context, param: click.Parameter, values: Iterable[str]) -> tuple[str, ...]:
    """--only a,b as well as --only a --only b, each name checked like a provider argument."""
    kind = ProviderName(only_choices)
    names = [n for v in values for n in str(v).split(",") if n.strip()]
    return tuple(dict.fromkeys(kind.convert(n, param, ctx) for n in names))


def read_passphrase_option(passphrase_file: str | None, passphrase_env: str | None) -> str | None:
    """A passphrase from a file or an environment variable; never from argv."""
    if passphrase_file:
        try:
            value = private_files.read_small(passphrase_file, SMALL_INPUT_LIMIT).decode("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InputError(f"{key_shapes.shown_path(passphrase_file)}: cannot read the passphrase ({why})") from None
        if not value:
            raise InputError(f"{key_shapes.shown_path(passphrase_file)}: the passphrase file is empty")
        return value
    if passphrase_env:
        from_env = os.environ.get(passphrase_env) if key_shapes.ENV_NAME.fullmatch(passphrase_env) else None
        if not from_env:
            raise InputError(f"--passphrase-env: {key_shapes.shown_env_name(passphrase_env)} is not set or empty")
        return from_env
    return None


def passphrase_options(f: F) -> F:
    f = click.option("--passphrase-env", metavar="VAR", help="Read the passphrase from environment variable VAR.")(f)
    f = click.option("--passphrase-file", metavar="FILE", help="Read the passphrase from FILE (first line).")(f)
    return f


def only_option(f: F) -> F:
    return click.option(
        "--only",
        multiple=True,
        metavar="PROVIDER[,PROVIDER...]",
        callback=split_only,
        help="Limit to these providers; extra: unknown providers' keys; models: model lists "
        "(repeatable, or comma-separated: --only openai,anthropic).",
    )(f)


PROFILE_META = "cursor_byok.profile"


def _remember_profile(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[PROFILE_META] = value


def profile_option(f: F) -> F:
    """--profile NAME: whose settings blob to read or write (keys always live in the default profile)."""
    return click.option(
        "--profile",
        metavar="NAME",
        expose_value=False,
        callback=_remember_profile,
        help="A Cursor profile's name or location (default: the default profile); keys are shared by all.",
    )(f)


def check_option(f: F) -> F:
    """--check: plan, write nothing, exit 17 when changes or conflicts are pending (drift for fleet jobs)."""
    return click.option(
        "--check",
        is_flag=True,
        help=f"Show the plan and write nothing; exit {int(Exit.PENDING)} if anything is pending, 0 if not.",
    )(f)


def allow_endpoint_option(f: F) -> F:
    """--allow-endpoint HOST: accept a new endpoint (a team gateway) by name; --on-conflict replace never does."""
    return click.option(
        "--allow-endpoint",
        "allow_endpoints",
        multiple=True,
        metavar="HOST",
        envvar="CURSOR_BYOK_ALLOW_ENDPOINT",
        help="Accept sending prompts, code and keys to this host (a new base URL, Azure resource or Bedrock "
        "region) without asking; repeatable [env: CURSOR_BYOK_ALLOW_ENDPOINT, space-separated]. "
        "--on-conflict replace never does.",
    )(f)


def write_options(f: F) -> F:
    """--dry-run, --check, --wait, --yes, --json and --profile, as `import` has them."""
    f = profile_option(f)
    f = check_option(f)
    f = json_option(f)
    f = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")(f)
    f = click.option("--wait", type=float, metavar="SECONDS", help="Wait up to SECONDS for Cursor to exit.")(f)
    return click.option("--dry-run", is_flag=True, help="Show the plan, change nothing.")(f)


def force_option(f: F) -> F:
    return click.option(
        "--force",
        is_flag=True,
        help="Do it even if it looks like a mistake (another provider's key, a provider on with no key, "
        "an unknown surface).",
    )(f)


def key_storage_option(f: F) -> F:
    return click.option(
        "--key-storage",
        type=click.Choice(("auto", "secret", "plaintext")),
        default="auto",
        show_default=True,
        help="Write keys encrypted (secret://) or as legacy plain rows; auto follows this Cursor.",
    )(f)


def conflict_option(f: F) -> F:
    return click.option(
        "--on-conflict",
        type=click.Choice(("ask", "keep", "replace", "fail")),
        help="When a different value is stored: ask (default on a terminal), keep, replace or fail (otherwise).",
    )(f)


def conflict_policy(on_conflict: str | None) -> AskOr:
    """The --on-conflict policy (click has checked the choice), defaulting to ask on a terminal and fail
    otherwise; --json changes only the output."""
    return cast("AskOr", on_conflict or ("ask" if is_terminal(sys.stdin) else "fail"))


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


SAFE_STORAGE_CHOICES = ("auto", "keychain", "secret-service", "kwallet", "basic", "dpapi", "password")


GLOBALS_META = "cursor_byok.globals"
VERBOSE_META = "cursor_byok.verbose"


class GlobalOption(click.Option):
    """A copy of a group option accepted after a command (`list --db F`); help lists these under one heading."""


def remember_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """-v/--verbose, before or after the command: kept in ctx.meta, which every nested context shares."""
    if value:
        ctx.meta[VERBOSE_META] = True


def verbose(ctx: click.Context | None = None) -> bool:
    """Whether -v/--verbose was given, anywhere on the command line."""
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(VERBOSE_META))


def _remember_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta.setdefault(GLOBALS_META, {})[param.name] = value


def _global_copies(root: click.Group) -> list[click.Option]:
    """The group's database and safe-storage options, and -v, for use after a command (no env: the group
    reads it)."""
    out: list[click.Option] = []
    for opt in root.params:
        if not isinstance(opt, click.Option) or opt.name not in (*GLOBAL_NAMES, "verbose"):
            continue
        if opt.is_flag:
            out.append(GlobalOption(opt.opts, is_flag=True, expose_value=False, callback=remember_verbose,
                                    help=opt.help))  # fmt: skip
            continue
        out.append(
            GlobalOption(
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
    """Every command but demo and help accepts --db, --user-data-dir, --safe-storage* and -v after its name
    (like gh)."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            add_global_options(command, root or group)
        elif name not in ("demo", "help"):
            command.params.extend(_global_copies(root or group))
