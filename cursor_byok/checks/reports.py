"""The results of `audit` and `doctor`: typed findings and checks; `to_json()` is the command's document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..cursor.paths import Installation
from ..cursor.reading import load_profile
from ..results import Result, internal
from ..safestorage.backends import SafeStorage
from . import audit as auditing
from . import doctor as diagnosing
from .provider_pages import billing


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
    billed: str
    usage: str
    spending_limit: str
    rate_limits: str
    checked: str


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
    checks: tuple[diagnosing.Check, ...]
    online: tuple[diagnosing.Verification, ...] | None
    costs: tuple[Cost, ...]
    summary: DoctorSummary

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
    from .surroundings import gather

    profile, _rows = load_profile(inst, storage)
    found = auditing.audit(profile, gather(inst, storage, progress, file_progress))
    findings = tuple(AuditFinding(f.code, f.severity, f.subject, f.message, f.fix) for f in found)
    problems = fail_on != "none" and any(auditing.RANK[f.severity] >= auditing.RANK[fail_on] for f in found)
    return AuditReport(str(inst.db_path), findings, auditing.summary(found), problems)


def costs(providers: Iterable[str]) -> tuple[Cost, ...]:
    return tuple(Cost(p, **pages) for p in providers if (pages := billing(p)) is not None)


def doctor_report(
    inst: Installation,
    storage: SafeStorage,
    *,
    online: bool = False,
    azure_api_version: str = diagnosing.AZURE_API_VERSION,
    provider_urls: Mapping[str, str] | None = None,
    timeout: float = diagnosing.TIMEOUT_S,
    slow_s: float = diagnosing.SLOW_S,
    deadline_s: float = diagnosing.DEADLINE_S,
) -> DoctorReport:
    """Doctor's checks for one installation. `provider_urls` (provider -> base URL) replaces the official
    URLs: it is for tests, which point it at a server on 127.0.0.1; the CLI never sets it. The online checks
    end within `deadline_s` (at most doctor.DEADLINE_S), however slowly a server answers."""
    diagnosing.check_api_version(azure_api_version)
    profile, rows = load_profile(inst, storage)
    verifications = None
    if online:
        verifications = diagnosing.verify_keys(
            profile, urls=provider_urls, api_version=azure_api_version, timeout=timeout, slow_s=slow_s,
            deadline_s=deadline_s,
        )  # fmt: skip
    checks = diagnosing.in_order(
        [*diagnosing.offline_checks(profile), *diagnosing.installation_checks(inst, profile, rows)]
    )
    found = [v.status for v in verifications or ()]
    summary = DoctorSummary(
        sum(1 for c in checks if c.verdict == diagnosing.LIKELY),
        found.count(diagnosing.INVALID),
        found.count(diagnosing.RATE_LIMITED),
        found.count(diagnosing.REFUSED),
    )
    online_part = None if verifications is None else tuple(verifications)
    return DoctorReport(
        str(inst.db_path), tuple(checks), online_part, costs(diagnosing.providers_with_keys(profile)), summary
    )
