"""Where each provider shows usage, spending limits and rate-limit tiers, with the date the pages were checked.

A BYOK key is billed by the provider that issued it, never by Cursor, and its
rate limits are those of the provider account's tier. `doctor` and `list --json`
link these pages; nothing here is ever fetched. The pages themselves are each
provider's `billing` in the registry (cursor_byok.providers).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..providers import registry

CHECKED = "2026-11-29"  # the date these addresses were last checked against each provider's documentation
BILLED_BY = "billed by the provider directly, not by Cursor"


def pages() -> dict[str, tuple[str, str, str]]:
    """provider -> (usage page, spending-limit page, rate-limit / tier page), for providers that have them."""
    return {p.name: (p.billing.usage, p.billing.spending_limit, p.billing.rate_limits) for p in registry() if p.billing}


@dataclass(frozen=True)
class BillingPages:
    """The `billing` object of `list --json` (and, with its provider, an entry of `doctor --json`'s costs)."""

    billed: str
    usage: str
    spending_limit: str
    rate_limits: str
    checked: str


def billing(provider: str) -> BillingPages | None:
    """Where one provider bills a BYOK key, or None if unknown."""
    record = registry().get(provider)
    if record is None or record.billing is None:
        return None
    pages = record.billing
    return BillingPages(BILLED_BY, pages.usage, pages.spending_limit, pages.rate_limits, CHECKED)


def tier_page(provider: str) -> str | None:
    record = registry().get(provider)
    return record.billing.rate_limits if record and record.billing else None
