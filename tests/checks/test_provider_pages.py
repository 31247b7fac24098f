"""Each provider's billing pages (usage, spending limit, rate-limit tiers): dated, one per provider, and shown by
`doctor` and `list --json` for each provider with a key."""

from __future__ import annotations

import json
from datetime import datetime

from helpers.cli import cli_runner as runner
from helpers.doctor import Dir, keys

from cursor_byok.checks import provider_pages
from cursor_byok.cli import main
from cursor_byok.providers import registry
from cursor_byok.results import jsonable


def test_costs_link_usage_and_spending_limit_pages_of_each_provider_with_a_key(make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path, key_values=keys(google__key=None))
    doc = d.document()
    costs = {c["provider"]: c for c in doc["costs"]}
    assert set(costs) == {"openai", "anthropic", "azure", "bedrock"}  # Google has no key
    for provider, entry in costs.items():
        usage, spending_limit, _tier = provider_pages.pages()[provider]
        assert (entry["usage"], entry["spending_limit"]) == (usage, spending_limit)
        assert entry["checked"] == provider_pages.CHECKED and "not by Cursor" in entry["billed"]
        assert usage.startswith("https://") and spending_limit.startswith("https://")
    text = d.run("--all").stdout  # the billing pages are part of --all
    assert "billed by each provider directly, not by Cursor" in text
    assert provider_pages.pages()["openai"][1] in text


def test_the_page_table_is_dated():
    assert set(provider_pages.pages()) == set(registry().names)  # every provider links its billing pages
    assert datetime.strptime(provider_pages.CHECKED, "%Y-%m-%d")


def test_list_json_has_the_billing_pages_of_each_provider_with_a_key(make_sample_dir, tmp_path):
    d = Dir(make_sample_dir, tmp_path, key_values=keys(google__key=None))
    result = runner().invoke(main, [*d.options, "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    providers = json.loads(result.stdout)["providers"]
    assert providers["google"]["billing"] is None
    for name in ("openai", "anthropic", "azure", "bedrock"):
        assert providers[name]["billing"] == jsonable(provider_pages.billing(name))
        assert providers[name]["billing"]["spending_limit"] == provider_pages.pages()[name][1]
