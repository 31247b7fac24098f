"""Where each provider shows usage, spending limits and rate-limit tiers, with the date the pages were checked.

A BYOK key is billed by the provider that issued it, never by Cursor, and its
rate limits are those of the provider account's tier. `doctor` and `list --json`
link these pages; nothing here is ever fetched. The pages themselves are each
provider's `billing` in the registry (cursor_byok.providers).
"""

from __future__ import annotations

from typing import Any

from ..providers import registry

CHECKED = "2026-11-29"  # the date these addresses were last checked against each provider's documentation
BILLED_BY = "billed by the provider directly, not by Cursor"


def pages() -> dict[str, tuple[str, str, str]]:
    """provider -> (usage page, spending-limit page, rate-limit / tier page), for providers that have them."""
    return {p.name: (p.billing.usage, p.billing.spending_limit, p.billing.rate_limits) for p in registry() if p.billing}


def billing(provider: str) -> dict[str, Any] | None:
    """The `billing` object of `list --json` and `doctor --json` for one provider, or None if unknown."""
    record = registry().get(provider)
    if record is None or record.billing is None:
        return None
    return {
        "billed": BILLED_BY,
        "usage": record.billing.usage,
        "spending_limit": record.billing.spending_limit,
        "rate_limits": record.billing.rate_limits,
        "checked": CHECKED,
    }


def tier_page(provider: str) -> str | None:
    record = registry().get(provider)
    return record.billing.rate_limits if record and record.billing else None


def __getattr__(name: str) -> Any:
    """PAGES: a view of the current provider registry, never frozen at import."""
    if name == "PAGES":
        return pages()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
