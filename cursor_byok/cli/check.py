"""Commands that check: audit, doctor, report."""

from __future__ import annotations

import sys
from typing import cast

import click

from .exits import Exit
from .group import main
from .lib import check, render
from .options import api_context, json_option, verbose
from .output import ScanProgress, echo, emit_json, is_terminal


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
def audit(ctx: click.Context, as_json: bool, fail_on: str) -> None:
    """Check stored keys, their protection, and old copies in files around the database.

    \b
    Examples:
      cursor-byok audit
      cursor-byok audit --fail-on warning --json > audit.json
      cursor-byok audit --fail-on none
    """
    progress = ScanProgress() if is_terminal(sys.stderr) else None
    try:
        report = check.audit(
            api_context(ctx), progress=progress, file_progress=progress.file_bytes if progress else None,
            fail_on=cast("check.FailOn", fail_on),
        )  # fmt: skip
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        emit_json(report.to_json())
    else:
        echo(render.audit_text(report.to_json()), colour=True)
    if report.problems:
        sys.exit(int(Exit.FINDINGS))


@main.command()
@click.option("--online", is_flag=True, help="Also ask each provider whether its key is accepted (free calls).")
@click.option(
    "--azure-api-version",
    default="2024-10-21",
    show_default=True,
    help="API version for the online Azure checks; doctor says when the endpoint refuses it.",
)
@click.option("--all", "show_all", is_flag=True, help="Show every check, the ok ones too, and the billing pages.")
@json_option
@click.pass_context
def doctor(ctx: click.Context, online: bool, azure_api_version: str, show_all: bool, as_json: bool) -> None:
    """Explain likely causes of Cursor's BYOK errors (401, 403, 429, missing models, Azure, slow responses).

    What needs attention comes first; --all shows every check. Exits 13
    when a likely cause, an invalid key, a rate limit or a refused Azure
    setting is found. --online sends each key, in a header, only for a
    provider that is switched on, and only to its provider's free model-list
    endpoint or to the URL this Cursor uses (the OpenAI base URL, the Azure
    endpoint); each check says which host it went to. The checks run side by
    side and stop at a 10 s deadline, however slowly a server answers.

    \b
    Examples:
      cursor-byok doctor
      cursor-byok doctor --online --all
      cursor-byok doctor --online --azure-api-version 2025-01-01-preview --json
    """
    report = check.doctor(api_context(ctx), online=online, azure_api_version=azure_api_version)
    if as_json:
        emit_json(report.to_json())
    else:
        more = report.invocation.hint("doctor", *(["--online"] if online else []), "--all")
        shown = render.doctor_text(report.to_json(), show_all=show_all, more=str(more), verbose=verbose(ctx))
        echo(shown, colour=True)
    if report.problems:
        sys.exit(int(Exit.FINDINGS))


@main.command()
@json_option
@click.pass_context
def report(ctx: click.Context, as_json: bool) -> None:
    """Describe this Cursor, redacted, for a bug report or to compare machines.

    Names its version and where that came from, the journal mode, backups, the
    safe-storage backend and its evidence, how keys are kept, the profiles, and
    every row and settings field under the BYOK places that cursor-byok does not
    know, with type and size. Never a value: no key, token, e-mail or URL.

    \b
    Examples:
      cursor-byok report
      cursor-byok report --json > cursor-report.json
    """
    result = check.report(api_context(ctx))
    if as_json:
        emit_json(result.to_json())
    else:
        echo(render.report_text(result.to_json()))
