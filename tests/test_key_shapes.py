"""Provider key formats: made-up keys in the real shapes pass, wrong shapes do not."""

from __future__ import annotations

import random

import pytest

from cursor_byok.key_shapes import (
    OK,
    UNEXPECTED,
    UNKNOWN,
    check_format,
    looks_placeholder,
    looks_truncated,
)
from cursor_byok.key_table import known_vendor
from cursor_byok.samples.installs import make_key

KIND_OF_FIELD = {
    "openai.key": "openai",
    "anthropic.key": "anthropic",
    "google.key": "google",
    "azure.key": "azure",
    "bedrock.access_key": "aws_access",
    "bedrock.secret_key": "aws_secret",
}
SEEDS = range(20)


@pytest.mark.parametrize("field,kind", KIND_OF_FIELD.items())
@pytest.mark.parametrize("seed", SEEDS)
def test_made_up_keys_are_ok(field, kind, seed):
    assert check_format(field, make_key(kind, random.Random(seed))) == OK


@pytest.mark.parametrize(
    "field,value",
    [
        ("openai.key", "sk-proj-" + "a" * 40),  # no T3BlbkFJ marker
        ("openai.key", make_key("anthropic", random.Random(1))),
        ("openai.key", " " + make_key("openai", random.Random(1))),  # pasted with a space
        ("anthropic.key", make_key("anthropic", random.Random(2))[:-2]),
        ("anthropic.key", "sk-ant-api03-" + "x" * 93 + "AB"),
        ("anthropic.key", make_key("openai", random.Random(2))),
        ("google.key", "AIza" + "b" * 34),
        ("google.key", "AIzb" + "b" * 35),
        ("azure.key", "g" * 32),
        ("azure.key", "0" * 31),
        ("bedrock.access_key", "AKIA" + "1" * 16),  # 1 is not in base32
        ("bedrock.access_key", "AKIA" + "A" * 15),
        ("bedrock.secret_key", "a" * 39),
        ("bedrock.secret_key", "a" * 39 + "!"),
    ],
)
def test_wrong_shapes_are_unexpected(field, value):
    assert check_format(field, value) == UNEXPECTED


def test_aws_variants():
    assert check_format("bedrock.access_key", "ASIA" + "Q" * 16) == OK
    assert check_format("bedrock.access_key", "ABSK" + "QmVkcm9ja0FQSUtleQ==" * 2) == OK


def test_legacy_openai_key():
    assert check_format("openai.key", "sk-" + "A1" * 10 + "T3BlbkFJ" + "b2" * 10) == OK


def test_openai_slot_with_a_base_url_accepts_other_vendors():
    other = make_key("openrouter", random.Random(3))
    assert check_format("openai.key", other) == UNEXPECTED
    assert check_format("openai.key", other, base_url="https://openrouter.ai/api/v1") == UNKNOWN
    assert check_format("openai.key", "ollama", base_url="http://localhost:11434/v1") == UNKNOWN
    assert check_format("openai.key", make_key("openai"), base_url="http://localhost:1234/v1") == OK


def test_base_url_does_not_excuse_other_slots():
    assert check_format("anthropic.key", "not-a-claude-key", base_url="http://localhost:1234/v1") == UNEXPECTED


@pytest.mark.parametrize("field", ["bedrock.session_token", "extra.mistralKey", "extra.anything"])
def test_fields_without_a_pattern_are_unknown(field):
    assert check_format(field, "whatever-value") == UNKNOWN


@pytest.mark.parametrize(
    "value", ["your-api-key", "sk-xxxxxxxx", "<KEY>", "test", "PASTE_KEY_HERE", "aaaaaaaa", "sk-...", "changeme"]
)
def test_placeholders(value):
    assert looks_placeholder(value)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "google", "azure", "aws_access", "aws_secret", "openrouter"])
def test_made_up_keys_are_not_placeholders(kind):
    assert not looks_placeholder(make_key(kind, random.Random(5)))


def test_truncated():
    key = make_key("openai", random.Random(4))
    assert looks_truncated("openai.key", key[:30])
    assert not looks_truncated("openai.key", key)
    assert not looks_truncated("openai.key", "gsk_" + "a" * 10)  # a different vendor, not a cut key
    assert looks_truncated("google.key", "AIzaShort")
    assert not looks_truncated("azure.key", "abc")


@pytest.mark.parametrize(
    "kind,vendor",
    [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("google", "google"),
        ("aws_access", "bedrock"),
        ("azure", None),
        ("aws_secret", None),
        ("openrouter", None),
    ],
)
def test_known_vendor(kind, vendor):
    assert known_vendor(make_key(kind, random.Random(6))) == vendor
