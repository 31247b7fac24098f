"""Commands that change keys, settings and models here: set, unset, models, apply."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, TypedDict

import click

from ..errors import InputError
from ..model import KeyStorage, Secret
from .group import main
from .lib import edit, read, render, wanted
from .options import (
    ProviderName,
    allow_endpoint_option,
    api_context,
    conflict_option,
    conflict_policy,
    force_option,
    json_option,
    key_storage_option,
    profile_option,
    provider_names,
    write_options,
)
from .output import echo, emit_json, is_terminal
from .prompts import confirm_commands, hidden_prompt
from .writes import TerminalRun

if TYPE_CHECKING:
    from typing_extensions import Unpack


class KeySources(TypedDict):
    """`set`'s key source options, as click passes them."""

    key_env: str | None
    key_file: str | None
    key_stdin: bool
    secret_key_env: str | None
    secret_key_file: str | None


def key_reader(provider: str, sources: KeySources) -> Callable[[], dict[str, Secret]]:
    """`set`'s key sources, checked now; the function it returns reads them (step 2, after preflight)."""
    specs = wanted.set_key_specs(provider, **sources)
    if "stdin" in specs.values() and is_terminal(sys.stdin):
        raise InputError("--key-stdin reads a pipe; on a terminal leave it out to get a hidden prompt")

    def read_stdin() -> str:
        return sys.stdin.read(wanted.SOURCE_LIMIT + 1)  # bounded: stdin may be /dev/zero

    return lambda: wanted.read_set_keys(specs, read_stdin=read_stdin, prompt=hidden_prompt())


def check_key_sources(no_key: bool, from_row: bool, given: bool, settings: bool) -> None:
    """`set` takes one key source at most: a source given, --from-row (the stored key) or --no-key."""
    if no_key and (given or from_row or not settings):
        raise InputError(
            "--no-key takes no key source; drop one or the other" if given or from_row
            else "nothing to set: give --base-url, --deployment, --region, --enable or --disable"
        )  # fmt: skip
    if from_row and given:
        raise InputError("--from-row takes the key already stored: drop the other key source")


@main.command("set")
@click.argument("provider", type=ProviderName(provider_names))
@click.option("--key-env", metavar="VAR", help="Read the key (Bedrock: access key ID) from environment variable VAR.")
@click.option("--key-file", metavar="FILE", help="Read the key from FILE; a trailing newline is dropped.")
@click.option("--key-stdin", is_flag=True, help="Read the key from stdin (Bedrock: access key ID, then secret key).")
@click.option("--secret-key-env", metavar="VAR", help="Bedrock: read the secret access key from VAR.")
@click.option("--secret-key-file", metavar="FILE", help="Bedrock: read the secret access key from FILE.")
@click.option("--no-key", is_flag=True, help="Change only settings and keep the stored key.")
@click.option(
    "--from-row",
    is_flag=True,
    help="Take the key already stored and store it again the way this Cursor reads it (one another tool wrote "
    "in clear into its secret:// row: `audit` and `doctor` name this fix).",
)
@click.option("--base-url", metavar="URL", help="openai: OpenAI-compatible server ('' clears it); azure: endpoint.")
@click.option("--deployment", metavar="NAME", help="azure: deployment name.")
@click.option("--region", metavar="REGION", help="bedrock: AWS region, e.g. us-east-1.")
@click.option("--enable/--disable", "enabled", default=None, help="Switch the provider on or off (a new key: on).")
@force_option
@key_storage_option
@write_options
@click.pass_context
def set_cmd(ctx: click.Context, provider: str, no_key: bool, from_row: bool, base_url: str | None,
            deployment: str | None, region: str | None, enabled: bool | None, force: bool, key_storage: KeyStorage,
            dry_run: bool, check: bool, wait: float | None, yes: bool, as_json: bool,
            **sources: Unpack[KeySources]) -> None:  # fmt: skip
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
    settings = wanted.setting_options(provider, {"base_url": base_url, "deployment": deployment, "region": region})
    check_key_sources(no_key, from_row, any(sources.values()), bool(settings) or enabled is not None)
    run = TerminalRun(yes=yes, as_json=as_json)
    result = edit.set_key(
        api_context(ctx), provider, keys=None if no_key or from_row else key_reader(provider, sources),
        base_url=base_url, deployment=deployment, region=region, enabled=enabled, key_storage=key_storage,
        from_row=from_row, force=force, dry_run=dry_run, check=check, wait=wait, ui=run.ui,
    )  # fmt: skip
    run.report(result)


@main.command()
@click.argument("provider", type=ProviderName(provider_names))
@write_options
@click.pass_context
def unset(ctx: click.Context, provider: str, dry_run: bool, check: bool, wait: float | None, yes: bool,
          as_json: bool) -> None:  # fmt: skip
    """Remove a provider's key(s) and switch the provider off.

    \b
    Examples:
      cursor-byok unset azure
      cursor-byok unset claude --dry-run
      cursor-byok unset openai --yes --json
    """
    run = TerminalRun(yes=yes, as_json=as_json)
    run.report(edit.unset_key(api_context(ctx), provider, dry_run=dry_run, check=check, wait=wait, ui=run.ui))


@main.group()
def models() -> None:
    """Show and change custom models, on/off lists and per-surface selections.

    \b
    Examples:
      cursor-byok models list
      cursor-byok models add llama-3.1-70b qwen2.5-coder:32b
      cursor-byok models select composer claude-sonnet-4
    """


@models.command("list")
@json_option
@profile_option
@click.pass_context
def models_list(ctx: click.Context, as_json: bool) -> None:
    """Show user-added, enabled, disabled and selected models.

    \b
    Examples:
      cursor-byok models list
      cursor-byok models list --json | jq .models.enabled
      cursor-byok models list --profile Fullstack
    """
    listed = read.list_models(api_context(ctx))
    if as_json:
        return emit_json(listed.to_json())
    m = listed.models
    rows = [["user added", ", ".join(m.user_added) or "-"], ["enabled", ", ".join(m.enabled) or "-"],
            ["disabled", ", ".join(m.disabled) or "-"],
            ["selected", ", ".join(f"{s}={n}" for s, n in m.selected.items()) or "-"]]  # fmt: skip
    echo(render.table(rows))


MODEL_OPS = {
    "add": "Add custom models (and switch them on).\n\n\b\nExamples:\n  cursor-byok models add llama-3.1-70b\n"
    "  cursor-byok models add qwen2.5-coder:32b deepseek-coder-v2 --dry-run\n",
    "remove": "Remove custom models (from user-added and enabled).\n\n\b\nExamples:\n"
    "  cursor-byok models remove llama-3.1-70b\n  cursor-byok models remove qwen2.5-coder:32b --dry-run\n",
    "enable": "Switch models on.\n\n\b\nExamples:\n  cursor-byok models enable gpt-4.1-nano\n"
    "  cursor-byok models enable claude-sonnet-4 gemini-2.5-pro --yes\n",
    "disable": "Switch models off.\n\n\b\nExamples:\n  cursor-byok models disable gpt-4.1-nano\n"
    "  cursor-byok models disable gpt-4o --check\n",
}


def model_list_command(op: str, summary: str) -> None:
    @models.command(op, help=summary)
    @click.argument("names", nargs=-1, required=True, metavar="NAME...")
    @write_options
    @click.pass_context
    def command(ctx: click.Context, names: tuple[str, ...], dry_run: bool, check: bool, wait: float | None,
                yes: bool, as_json: bool) -> None:  # fmt: skip
        run = TerminalRun(yes=yes, as_json=as_json)
        ops: dict[str, Any] = {op: names}  # add=, remove=, enable= or disable=: names
        run.report(edit.models(api_context(ctx), **ops, dry_run=dry_run, check=check, wait=wait, ui=run.ui))


for _op, _summary in MODEL_OPS.items():
    model_list_command(_op, _summary)


@models.command("select")
@click.argument("surface")
@click.argument("name")
@force_option
@write_options
@click.pass_context
def models_select(ctx: click.Context, surface: str, name: str, force: bool, dry_run: bool, check: bool,
                  wait: float | None, yes: bool, as_json: bool) -> None:  # fmt: skip
    """Select the model for a surface; its other settings stay.

    \b
    Surfaces: cmd-k, composer, background-composer, composer-ensemble,
    plan-execution, spec, deep-search, quick-agent (others need --force).
    Examples:
      cursor-byok models select composer claude-sonnet-4
      cursor-byok models select cmd-k gpt-4.1 --dry-run
    """
    run = TerminalRun(yes=yes, as_json=as_json)
    result = edit.models(api_context(ctx), select={surface: name}, force=force, dry_run=dry_run, check=check,
                            wait=wait, ui=run.ui)  # fmt: skip
    run.report(result)


@main.command("apply")
@click.argument("manifest_file", metavar="MANIFEST")
@conflict_option
@allow_endpoint_option
@force_option
@key_storage_option
@write_options
@click.pass_context
def apply_cmd(ctx: click.Context, manifest_file: str, on_conflict: str | None,
              allow_endpoints: tuple[str, ...], force: bool, key_storage: KeyStorage, dry_run: bool, check: bool,
              wait: float | None, yes: bool, as_json: bool) -> None:  # fmt: skip
    """Apply a team manifest (TOML): providers, settings, models and where each key comes from.

    --dry-run runs no command and reads no file or variable: it says what each
    key source would do. A real apply checks first that Cursor is closed, then
    lists the commands the manifest runs and asks once before running them,
    unless --yes. A manifest that points a provider at a new host needs
    --allow-endpoint HOST (or a yes on a terminal). Another provider's key, a
    provider on with no key and an unknown model surface are refused unless
    --force.

    \b
    Examples:
      cursor-byok apply team.toml --dry-run
      cursor-byok apply team.toml --allow-endpoint openrouter.ai
      cursor-byok apply team.toml --yes --json --on-conflict keep
    """
    run = TerminalRun(yes=yes, as_json=as_json)
    result = edit.apply_manifest(
        api_context(ctx), manifest_file, on_conflict=conflict_policy(on_conflict), key_storage=key_storage,
        allow_endpoints=allow_endpoints, force=force, dry_run=dry_run, check=check, wait=wait,
        confirm_commands=lambda commands: confirm_commands(commands, yes), prompt=hidden_prompt(), ui=run.ui,
    )  # fmt: skip
    if result.sources and not as_json:
        echo("key sources (a dry run reads none of them; keys are left out of the plan):")
        for entry in result.sources:
            echo(f"  {entry.field}: {entry.action}")
    run.report(result)
