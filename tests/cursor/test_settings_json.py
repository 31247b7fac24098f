"""`User/settings.json` read as VS Code reads it (JSON with comments and trailing commas), and a setting found
under a dotted or a nested spelling."""

from __future__ import annotations

import pytest

from cursor_byok.cursor import settings_json


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1,}', {"a": 1}),
        ('{"a": [1, 2,], // c\n "b": "//x", /* "c": 3 */ "d": "a\\",b",}', {"a": [1, 2], "b": "//x", "d": 'a",b'}),
        ('\ufeff{"cursor.openai.apiKey": "k"}', {"cursor.openai.apiKey": "k"}),
        ('{"a": 1,,}', None),
        ("", None),
    ],
)
def test_jsonc_is_read_as_vs_code_reads_it(text, expected):
    assert settings_json.parse(text) == expected


def test_a_nested_spelling_counts_too():
    assert settings_json.has_setting({"cursor": {"openai": {"apiKey": "k"}}}, "cursor.openai.apiKey")
    assert not settings_json.has_setting({"cursor": {"openai": "k"}}, "cursor.openai.apiKey")
