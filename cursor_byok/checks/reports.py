"""The results of `audit` and `doctor`: typed findings and checks; `to_json()` is the command's document."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ..cursor.paths import Installation
from ..cursor.reading import load_profile
from ..results import Invocation, Result, fields_json, internal
from ..safestorage.backends import SafeStorage
from . import audit, doctor, outside
from .kept import SWITCHED_OFF, Change, changes_since
from .origin import origin_notes
from .provider_pages import BillingPages, billing
from .surroundings import gather


@dataclass(frozen=True)
class AuditFinding:
    """One finding: never a key value, only masked forms and fingerprints; `fix` says what to do."""

    code: str
    severity: str
    subject: str
    message: str
    fix: str


@dataclass(frozen=True)
class AuditReport(Result):
    """`audit`: stored keys, their protection, old copies around the database."""

    db: str
    findings: tuple[AuditFinding, ...]
    summary: Mapping[str, int]
    problems: bool = internal(False)  # true when the command exits 13 (a finding at least as severe as fail_on)


@dataclass(frozen=True)
class Cost:
    """Where a provider with a key shows usage and spending limits (BYOK is billed by the provider)."""

    provider: str
    pages: BillingPages

    def json(self) -> dict[str, Any]:
        return {"provider": self.provider, **fields_json(self.pages)}


@dataclass(frozen=True)
class DoctorSummary:
    likely: int
    invalid: int
    rate_limited: int
    refused: int


@dataclass(frozen=True)
class DoctorReport(Result):
    """`doctor`: one check per provider and symptom, the online key checks when asked, and the billing pages."""

    db: str
    checks: tuple[doctor.Check, ...]
    online: tuple[doctor.Verification, ...] | None
    costs: tuple[Cost, ...]
    summary: DoctorSummary
    invocation: Invocation = internal(Invocation())  # the global options its commands carry, for more hints

    @property
    def problems(self) -> bool:
        return any(vars(self.summary).values())


def audit_report(
    inst: Installation,
    storage: SafeStorage,
    *,
    fail_on: str = "error",
    progress: Any = None,
    file_progress: Any = None,
) -> AuditReport:
    """The audit of one installation; `fail_on`: the least severe finding that counts as a problem."""
    profile, _rows = load_profile(inst, storage)
    found = audit.audit(profile, gather(inst, storage, progress, file_progress))
    findings = tuple(AuditFinding(f.code, f.severity, f.subject, f.message, f.fix) for f in found)
    problems = fail_on != "none" and any(audit.RANK[f.severity] >= audit.RANK[fail_on] for f in found)
    return AuditReport(str(inst.db_path), findings, audit.summary(found), problems)


def costs(providers: Iterable[str]) -> tuple[Cost, ...]:
    return tuple(Cost(p, pages) for p in providers if (pages := billing(p)) is not None)


def doctor_report(
    inst: Installation,
    storage: SafeStorage,
    *,
    online: bool = False,
    azure_api_version: str = doctor.AZURE_API_VERSION,
    provider_urls: Mapping[str, str] | None = None,
    timeout: float = doctor.TIMEOUT_S,
    slow_s: float = doctor.SLOW_S,
    invocation: Invocation | None = None,
    deadline_s: float = doctor.DEADLINE_S,
) -> DoctorReport:
    """Doctor's checks for one installation. `provider_urls` (provider -> base URL) replaces the official
    URLs: it is for tests, which point it at a server on 127.0.0.1; the CLI never sets it. The online checks
    end within `deadline_s` (at most doctor.DEADLINE_S), however slowly a server answers. `invocation`: the
    global options the user ran with, which every command in a "what to do" carries, so that it works when
    pasted."""
    doctor.check_api_version(azure_api_version)
    profile, rows = load_profile(inst, storage)
    verifications = None
    if online:
        verifications = doctor.verify_keys(
            profile, urls=provider_urls, api_version=azure_api_version, timeout=timeout, slow_s=slow_s,
            deadline_s=deadline_s,
        )  # fmt: skip
    invocation = invocation or Invocation()
    changed = changes_since(inst.db_path, rows, invocation)
    checks = doctor.in_order(without_reenable(
        [*doctor.offline_checks(profile), *doctor.installation_checks(inst, profile, rows),
         *outside.outside_checks(inst, profile, rows)], changed
    ) + [kept_check(c) for c in changed])  # fmt: skip
    checks = doctor.in_order([*(with_invocation(c, invocation) for c in checks), *unreadable_checks(
        origin_notes(inst, rows, storage, invocation))])  # fmt: skip
    found = [v.status for v in verifications or ()]
    summary = DoctorSummary(
        sum(1 for c in checks if c.verdict == doctor.LIKELY),
        found.count(doctor.INVALID),
        found.count(doctor.RATE_LIMITED),
        found.count(doctor.REFUSED),
    )
    online_part = None if verifications is None else tuple(verifications)
    return DoctorReport(
        str(inst.db_path), tuple(checks), online_part, costs(doctor.providers_with_keys(profile)), summary,
        invocation,
    )  # fmt: skip


UNREADABLE = "keys unreadable here"  # made on another OS (checks.origin): Cursor here cannot use them either
TOOL = "`cursor-byok "  # how doctor's checks quote a command of this tool (checks.doctor.command)


def kept_check(change: Change) -> doctor.Check:
    """A value Cursor changed since this tool wrote it: a key switched off, custom models dropped."""
    provider = change.field.split(".")[0]
    return doctor.Check(provider, doctor.NOT_SHOWN, doctor.LIKELY, change.detail, change.advice)


def without_reenable(checks: list[doctor.Check], changed: tuple[Change, ...]) -> list[doctor.Check]:
    """A key Cursor switched off is said once, by its own check: no generic "a key is saved but it is off" (whose
    "switch it on" would be wrong where a team plan may forbid the key)."""
    held = {c.field.split(".")[0] for c in changed if c.change == SWITCHED_OFF}
    return [c for c in checks if not (c.provider in held and c.symptom == doctor.NOT_SHOWN)]


def unreadable_checks(notes: Iterable[str]) -> list[doctor.Check]:
    """Keys made on another OS (checks.origin): Cursor cannot use them here either, and deletes them."""
    out = []
    for note in notes:
        detail, _, fix = note.partition(". ")
        out.append(doctor.Check("general", UNREADABLE, doctor.LIKELY, detail, fix[:1].lower() + fix[1:]))
    return out


def with_invocation(check: doctor.Check, invocation: Invocation) -> doctor.Check:
    """The check with each quoted `cursor-byok ...` command carrying the user's global options."""
    if not invocation.globals:
        return check
    prefix = "`" + str(invocation.hint()) + " "
    bare = re.compile(re.escape(TOOL) + "(?=[^-])")  # a command that carries no global option yet
    return replace(check, detail=bare.sub(lambda _m: prefix, check.detail), fix=bare.sub(lambda _m: prefix, check.fix))
