"""Whether a key leaked into some text: the key, its body, or any 8-character slice of its body."""

from __future__ import annotations

import hashlib

from cursor_byok.model import VENDOR_PREFIXES


def sha12(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def hidden_parts(value: str) -> list[str]:
    """Pieces of a key that must never be printed: all of it, its body, 8-char slices of the body."""
    prefix = next((p for p in VENDOR_PREFIXES if value.startswith(p)), "")
    body = value[len(prefix) : -4]
    return [value, body] + [body[i : i + 8] for i in range(0, max(len(body) - 8, 1), 8)]


def assert_no_key_in(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for part in hidden_parts(secret):
            if len(part) >= 8:
                assert part not in text, "a key value appeared in the output"


def assert_no_key_shown(text: str, *values: str) -> None:
    for value in values:
        for part in hidden_parts(value):
            assert part not in text
