"""Commands that only read: where, list, get."""

from __future__ import annotations

import sys

import click

from .bundle_io import load_bundle_cli
from .exits import Exit
from .group import main
from .options import ProviderName, api_context, json_option, passphrase_options, profile_option
from .output import emit_json


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
    from ..library import where_documents
    from ..render import where_text

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
    from ..library import bundle_list_document, list_all_profiles, list_document
    from ..render import profile_text

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
    from ..model import KEY_NAMES

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
    from ..library import get_key

    value = get_key(api_context(ctx), provider, field)
    if as_json:
        emit_json({"provider": provider, "field": field or ("access_key" if provider == "bedrock" else "key"),
                   "value": value})
    else:
        click.echo(value)
