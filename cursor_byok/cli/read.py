"""Commands that only read: where, list, get."""

from __future__ import annotations

import sys
from typing import Any

import click

from .bundle_io import load_bundle_cli
from .exits import Exit
from .group import main
from .lib import read, render
from .options import (
    ProviderName,
    api_context,
    json_option,
    passphrase_options,
    profile_option,
    provider_names,
    verbose,
)
from .output import echo, emit_json


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
    found = read.where(api_context(ctx))
    if as_json:
        emit_json(found.to_json())
    else:
        echo(render.where_text(found.to_json()["installations"]))


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
    ctx: click.Context,
    as_json: bool,
    reveal: bool,
    bundle_file: str | None,
    identity: tuple[str, ...],
    passphrase_file: str | None,
    passphrase_env: str | None,
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
    if bundle_file:
        opened = load_bundle_cli(bundle_file, identity, passphrase_file, passphrase_env)
        listing: Any = opened.listing(path=bundle_file, reveal=reveal)
    else:
        listing = read.list_keys(api_context(ctx), reveal=reveal)
    doc = listing.to_json()
    if as_json:
        emit_json(doc)
    typed = getattr(listing, "documents", [listing])
    for one, each in () if as_json else zip(doc.get("documents", [doc]), typed, strict=True):
        echo(f"bundle: {one['bundle']}" if bundle_file else f"database: {one['db']}")
        where = None if bundle_file else str(each.invocation.hint("where"))
        echo(render.profile_text(one, verbose=verbose(ctx), where=where))
    if not bundle_file and listing.undecryptable:
        sys.exit(int(Exit.SAFE_STORAGE))  # the document is printed; the status says keys are missing from it


@main.command("get")
@click.argument("provider", type=ProviderName(provider_names))
@click.option(
    "--field", type=click.Choice(("access_key", "secret_key")), help="bedrock: which key (default: access_key)."
)
@json_option
@click.pass_context
def get_cmd(ctx: click.Context, provider: str, field: str | None, as_json: bool) -> None:
    """Print one stored key on stdout, for scripts (like `gh auth token`).

    Exits 18 when no key is stored, 7 when it cannot be decrypted here.

    \b
    Examples:
      export OPENAI_API_KEY="$(cursor-byok get openai)"
      cursor-byok get claude --json
      cursor-byok get bedrock --field secret_key
    """
    found = read.get_key(api_context(ctx), provider, field)
    if as_json:
        emit_json(found.to_json())
    else:
        echo(found.value)
