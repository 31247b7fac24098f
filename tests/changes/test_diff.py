"""The pure diff: what a write would change, from the profile read and the values wanted. Where prompts and code
go is its own decision (a new endpoint is never taken by a blanket replace); a switch the user made is kept."""

from __future__ import annotations

import random

import pytest

from cursor_byok.changes.diff import diff
from cursor_byok.model import Profile, StoredKey
from cursor_byok.model import Secret as S
from cursor_byok.samples.installs import make_key

KEY = make_key("openai", random.Random(11))


# --- the endpoint rule, as data ---------------------------------------------------------------


def held(**fields) -> Profile:
    return Profile(fields={"openai.key": StoredKey(S(KEY), "plaintext", "cursorAuth/openAIKey"), **fields})


@pytest.mark.parametrize("policy, action", [("fail", "conflict"), ("replace", "conflict"), ("keep", "kept")])
def test_a_new_endpoint_follows_only_keep_never_a_blanket_replace(policy, action):
    for profile in (held(), Profile(fields={})):  # whether or not a key is held here
        change = diff(profile, {"openai.base_url": "https://gw.example.com/v1"}, on_conflict=policy).changes[0]
        assert change.action == action
        assert "prompts and code" in (change.sends or "")
        if action == "conflict":
            assert "--allow-endpoint gw.example.com" in change.note and change.allow == "gw.example.com"


def test_allow_endpoint_accepts_that_host_only():
    wanted = {"openai.base_url": "https://gw.example.com/v1"}
    assert diff(held(), wanted, allow_endpoints=["GW.example.com"]).changes[0].action == "add"
    assert diff(held(), wanted, allow_endpoints=["other.example.com"]).changes[0].action == "conflict"


def test_the_providers_own_endpoint_needs_no_decision_unless_a_held_key_would_move():
    official = {"openai.base_url": "https://api.openai.com/v1"}
    assert diff(Profile(fields={}), official).changes[0].action == "add"
    assert diff(held(), official).changes[0].action == "conflict"  # this machine's key would go to another host


def test_region_and_deployment_are_guarded_when_they_change_a_stored_value():
    stored = Profile(fields={"bedrock.region": "us-east-1", "azure.deployment": "a"})
    assert diff(Profile(fields={}), {"bedrock.region": "eu-west-1"}).changes[0].action == "add"
    assert diff(stored, {"bedrock.region": "eu-west-1"}).changes[0].action == "conflict"
    assert diff(stored, {"bedrock.region": "eu-west-1"}, allow_endpoints=["eu-west-1"]).changes[0].action == "replace"
    assert diff(stored, {"azure.deployment": "b"}, on_conflict="replace").changes[0].action == "conflict"


def test_set_is_exempt():
    wanted = {"openai.base_url": "https://gw.example.com/v1"}
    assert diff(held(), wanted, guard_endpoints=False).changes[0].action == "add"


def test_a_model_switch_the_user_made_is_kept_under_union():
    current = Profile({"models.enabled": ("a",), "models.disabled": ("b",)})
    plan = diff(current, {"models.enabled": ("a", "b"), "models.disabled": ()}, on_conflict="keep")
    actions = {c.field: c.action for c in plan.changes}
    assert actions == {"models.enabled": "kept", "models.disabled": "unchanged"}
    assert "b" in next(c.note for c in plan.changes if c.field == "models.enabled")
    assert not plan.effective
    growing = diff(current, {"models.enabled": ("a", "b", "c")}, on_conflict="keep")
    assert {c.field: c.action for c in growing.changes}["models.enabled"] == "replace"  # c is still added
