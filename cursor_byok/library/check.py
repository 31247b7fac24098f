"""The commands that check: audit, doctor, report."""

from __future__ import annotations

from typing import Callable, Literal, Mapping

from ..checks.doctor import AZURE_API_VERSION
from ..checks.report import CursorReport, describe
from ..checks.reports import AuditReport, DoctorReport, audit_report, doctor_report
from .context import Context, context

FailOn = Literal["info", "warning", "error", "none"]  # audit: the least severe finding that counts as a problem


def audit(
    ctx: Context | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    file_progress: Callable[[str, int, int], None] | None = None,
    fail_on: FailOn = "error",
) -> AuditReport:
    """Stored keys, their protection, and old copies in files around the database; `problems` is true when
    a finding is at least as severe as `fail_on`."""
    ctx = context(ctx)
    inst = ctx.installation()
    return audit_report(inst, ctx.storage_for(inst), fail_on=fail_on, progress=progress, file_progress=file_progress)


def doctor(
    ctx: Context | None = None,
    *,
    online: bool = False,
    azure_api_version: str | None = None,
    provider_urls: Mapping[str, str] | None = None,
) -> DoctorReport:
    """Likely causes of Cursor's BYOK errors. `online`: ask each switched-on provider whether its key is
    accepted (free calls, each key only to its own provider's host); `provider_urls` is for tests."""
    ctx = context(ctx)
    inst = ctx.installation()
    version = AZURE_API_VERSION if azure_api_version is None else azure_api_version
    return doctor_report(inst, ctx.storage_for(inst), online=online, azure_api_version=version,
                         provider_urls=provider_urls, invocation=ctx.invocation(inst))  # fmt: skip


def report(ctx: Context | None = None) -> CursorReport:
    """A redacted description of this Cursor for a bug report or to compare machines: version and its source,
    journal mode, backups, backend and its evidence, key forms, profiles, and every row and settings field under
    the BYOK places this tool does not know (name, type, size). Never a value; decrypts nothing."""
    ctx = context(ctx)
    inst = ctx.installation()
    return describe(inst, ctx.storage_for(inst))
