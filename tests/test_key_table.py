"""The one table of key shapes: the field checks, the masks and the audit's byte scan all agree with it.

Every shape in the table has a made-up example here, so a shape added without
one fails the first test; each example is then put through the three views.
"""

from __future__ import annotations

import random
import re
import string

import pytest

from cursor_byok.checks import audit
from cursor_byok.key_shapes import (
    COMPATIBLE,
    OK,
    PATTERNS,
    UNEXPECTED,
    check_format,
)
from cursor_byok.key_table import FAMILY_PREFIXES, SHAPES, Shape, known_vendor, looks_like_key
from cursor_byok.model import VENDOR_PREFIXES, mask
from cursor_byok.samples.installs import make_key

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


def _pick(chars: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(chars) for _ in range(n))


EXAMPLES = {
    "openai-project": make_key("openai", random.Random(1)),
    "openai-service-account": "sk-svcacct-" + _pick(B64URL, 74, 2) + "T3BlbkFJ" + _pick(B64URL, 74, 3),
    "openai-admin": "sk-admin-" + _pick(B64URL, 40, 4) + "T3BlbkFJ" + _pick(B64URL, 40, 5),
    "openai-legacy": "sk-" + _pick(ALNUM, 20, 6) + "T3BlbkFJ" + _pick(ALNUM, 20, 7),
    "anthropic": make_key("anthropic", random.Random(8)),
    "google": make_key("google", random.Random(9)),
    "azure-hex": "0f3a9c" + _pick("0123456789abcdef", 26, 10),
    "azure-84": "Qz" + _pick(ALNUM, 82, 11),
    "aws-access-key": make_key("aws_access", random.Random(12)),
    "aws-temporary-key": "ASIA" + _pick(string.ascii_uppercase + "234567", 16, 13),
    "bedrock-api-key": "ABSK" + "QmVkcm9ja0FQSUtleS0" + _pick(ALNUM + "+/", 113, 14) + "=",
    "aws-secret-key": "wq" + _pick(ALNUM + "/+", 38, 15),
    "openrouter": make_key("openrouter", random.Random(16)),
    "xai": "xai-" + _pick(ALNUM, 80, 17),
    "groq": "gsk_" + _pick(ALNUM, 52, 18),
    "sk-other": "sk-" + _pick(ALNUM, 48, 19),
}
BY_NAME = {shape.name: shape for shape in SHAPES}


def _field_view(shape: Shape, value: str) -> bool:
    """The format check's verdict: OK in its field, or a compatible key for the OpenAI slot."""
    return check_format(shape.field, value) == OK if shape.field else looks_like_key(value)


def _scan_view(value: str) -> list[tuple[str, str]]:
    """What the audit's byte scan finds when the value sits between two cells of a SQLite page."""
    return audit.key_strings(b"\x05" + value.encode() + b"\x00\x81")


def test_every_shape_has_an_example_and_names_are_unique():
    assert len(BY_NAME) == len(SHAPES)
    assert set(EXAMPLES) == set(BY_NAME)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_example_has_its_shape_and_only_its_shape(shape):
    value = EXAMPLES[shape.name]
    assert re.fullmatch(shape.regex, value)
    assert value.startswith(shape.prefix) and shape.regex.startswith(shape.prefix)
    if shape.distinct:
        others = [s.name for s in SHAPES if s is not shape and s.distinct and re.fullmatch(s.regex, value)]
        assert others == []


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_field_check_agrees_with_the_table(shape):
    value = EXAMPLES[shape.name]
    assert _field_view(shape, value)
    if shape.field:
        assert any(p.fullmatch(value) for p in PATTERNS[shape.field])
        assert known_vendor(value) == (shape.vendor if shape.distinct else None)
    else:
        assert any(p.fullmatch(value) for p in COMPATIBLE)
        assert check_format("openai.key", value) == UNEXPECTED  # fine only with a base URL set


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_byte_scan_agrees_with_the_table(shape):
    value = EXAMPLES[shape.name]
    assert _scan_view(value) == ([(shape.vendor, value)] if shape.distinct else [])
    if shape.distinct:
        assert value.encode().startswith(audit.SCAN_LITERALS)
        assert audit.key_strings(b"cursorAuth/someKey" + value.encode() + b"\x00") == [(shape.vendor, value)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_mask_keeps_the_shapes_prefix(shape):
    value = EXAMPLES[shape.name]
    assert mask(value) == f"{shape.prefix}…{value[-4:]}"


def test_derived_lists_cover_the_table_and_nothing_else():
    assert set(PATTERNS) == {s.field for s in SHAPES if s.field}
    assert len(COMPATIBLE) == sum(1 for s in SHAPES if s.field is None)
    assert set(audit._SCAN) == {s.vendor for s in SHAPES if s.distinct}
    prefixes = {s.prefix for s in SHAPES if s.prefix}
    assert set(VENDOR_PREFIXES) == prefixes | set(FAMILY_PREFIXES)
    lengths = [len(p) for p in VENDOR_PREFIXES]
    assert lengths == sorted(lengths, reverse=True)  # longest first: the first prefix that fits wins
    literals = {lit.decode() for lit in audit.SCAN_LITERALS}
    assert literals <= {s.prefix for s in SHAPES if s.distinct}
    assert all(s.prefix for s in SHAPES if s.distinct)  # a literal search needs a literal


def test_a_family_prefix_is_kept_for_keys_without_a_checked_shape():
    admin = "sk-ant-admin01-" + _pick(B64URL, 93, 20) + "AA"
    assert mask(admin) == f"sk-ant-…{admin[-4:]}"
    assert not looks_like_key(admin) and _scan_view(admin) == []


# (shape, just too short, just long enough): the check and the scan draw the line in the same place.
BOUNDARIES = [
    ("bedrock-api-key", "ABSK" + "QmVkcm9ja0FQSUtleS0" + "x" * 20, "ABSK" + "QmVkcm9ja0FQSUtleS0" + "x" * 21),
    ("xai", "xai-" + "Ab3" * 13, "xai-" + "Ab3" * 13 + "z"),
    ("groq", "gsk_" + "Xy9" * 13, "gsk_" + "Xy9" * 13 + "q"),
    ("openai-project", "sk-proj-" + "a" * 19 + "T3BlbkFJ" + "b" * 20, "sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20),
    ("openai-project", "sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 19, "sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20),
]


@pytest.mark.parametrize("name,short,enough", BOUNDARIES)
def test_check_and_scan_agree_on_the_shortest_key(name, short, enough):
    shape = BY_NAME[name]
    assert not _field_view(shape, short) and _scan_view(short) == []
    assert _field_view(shape, enough) and _scan_view(enough) == [(shape.vendor, enough)]


def test_bedrock_api_key_floor_is_40():
    """ABSK + base64("BedrockAPIKey-<id>-at-<account>:<secret>"): the check once took 20 characters, the scan 40."""
    assert check_format("bedrock.access_key", "ABSK" + "Qm9" * 13) == UNEXPECTED  # 39
    assert check_format("bedrock.access_key", "ABSK" + "Qm9" * 13 + "=") == OK  # 40
