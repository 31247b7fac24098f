"""Where each provider shows usage, spending limits and rate-limit tiers: one table, with the date it was checked.

A BYOK key is billed by the provider that issued it, never by Cursor, and its
rate limits are those of the provider account's tier. `doctor` and `list --json`
link these pages; nothing here is ever fetched.
"""

from __future__ import annotations

from typing import Any

CHECKED = "2026-11-29"  # the date these addresses were last checked against each provider's documentation

# provider -> (usage page, spending-limit page, rate-limit / tier page)
PAGES: dict[str, tuple[str, str, str]] = {
    "openai": (
        "https://platform.openai.com/usage",
        "https://platform.openai.com/settings/organization/limits",
        "https://platform.openai.com/docs/guides/rate-limits",
    ),
    "anthropic": (
        "https://console.anthropic.com/settings/usage",
        "https://console.anthropic.com/settings/limits",
        "https://docs.anthropic.com/en/api/rate-limits",
    ),
    "google": (
        "https://aistudio.google.com/usage",
        "https://console.cloud.google.com/billing/budgets",
        "https://ai.google.dev/gemini-api/docs/rate-limits",
    ),
    "azure": (
        "https://portal.azure.com/#view/Microsoft_Azure_CostManagement/Menu/~/costanalysis",
        "https://portal.azure.com/#view/Microsoft_Azure_CostManagement/Menu/~/budgets",
        "https://learn.microsoft.com/azure/ai-foundry/openai/quotas-limits",
    ),
    "bedrock": (
        "https://console.aws.amazon.com/costmanagement/home#/cost-explorer",
        "https://console.aws.amazon.com/billing/home#/budgets",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html",
    ),
}
BILLED_BY = "billed by the provider directly, not by Cursor"


def billing(provider: str) -> dict[str, Any] | None:
    """The `billing` object of `list --json` and `doctor --json` for one provider, or None if unknown."""
    pages = PAGES.get(provider)
    if pages is None:
        return None
    usage, spending_limit, rate_limits = pages
    return {
        "billed": BILLED_BY,
        "usage": usage,
        "spending_limit": spending_limit,
        "rate_limits": rate_limits,
        "checked": CHECKED,
    }


def tier_page(provider: str) -> str | None:
    pages = PAGES.get(provider)
    return pages[2] if pages else None
