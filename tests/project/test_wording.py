"""Articles in messages: 'an Anthropic key', never 'a Anthropic key', from one helper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cursor_byok
from cursor_byok.key_shapes import article
from cursor_byok.key_table import VENDOR_TITLES
from cursor_byok.providers import registry

EXPECTED = {
    "OpenAI": "an OpenAI",
    "Anthropic": "an Anthropic",
    "Google": "a Google",
    "Azure OpenAI": "an Azure OpenAI",
    "AWS Bedrock": "an AWS Bedrock",
    "OpenRouter": "an OpenRouter",
    "xAI": "an xAI",
    "Groq": "a Groq",
    "URL": "a URL",
    "SSH key": "an SSH key",
    "PEM block": "a PEM block",
    "anthropic": "an anthropic",
    "google": "a google",
    "unknown": "an unknown",
}


@pytest.mark.parametrize("name, expected", sorted(EXPECTED.items()))
def test_article_fits_how_the_name_is_said(name, expected):
    assert article(name) == expected


def test_every_provider_name_is_covered():
    assert {*registry().titles.values(), *VENDOR_TITLES.values()} <= set(EXPECTED)


# An article typed before an interpolated word is how "a Anthropic key" happened; such text goes through
# article(). Allowed: "a command"/"a value" (fixed words).
ALLOWED = {
    ("changes/wanted.py", "needs a {'command' if kind == 'cmd' else 'value'}"),
}


def test_no_article_is_typed_before_an_interpolated_name():
    root = Path(cursor_byok.__file__).parent
    found = set()
    for path in sorted(root.rglob("*.py")):
        for match in re.finditer(r"[^\n]{0,20}\b[Aa]n? \{[^}\n]*\}[^\n\"]{0,10}", path.read_text(encoding="utf-8")):
            text = match.group(0)
            if not any(str(path.relative_to(root)) == file and snippet in text for file, snippet in ALLOWED):
                found.add((str(path.relative_to(root)), text.strip()))
    assert not found
