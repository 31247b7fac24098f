"""Rate-limit facts read from providers' answers (cursor_byok.checks.ratelimit), including hostile header values."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cursor_byok.checks import ratelimit

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, seconds",
    [("20ms", 0.02), ("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("12", 12.0), ("0.25", 0.25)],
)
def test_durations(text, seconds):
    assert ratelimit.duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "nan", "inf", "-inf", "1x", "s", "1s garbage"])
def test_nonsense_durations_are_ignored(text):
    assert ratelimit.duration_s(text) is None


def test_huge_durations_are_capped():
    assert ratelimit.duration_s("1e300") == ratelimit.MAX_WAIT_S
    assert ratelimit.duration_s("-5") == 0.0


def test_openai_headers():
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "2s",
    }
    found = ratelimit.parse(headers, b"", NOW)
    assert found == {
        "requests_limit": 500,
        "requests_remaining": 0,
        "tokens_limit": 30000,
        "tokens_remaining": 29000,
        "reset_at": "2026-01-02T03:05:35Z",  # the exhausted limit (requests) decides, not the sooner tokens reset
    }


def test_anthropic_headers_and_retry_after():
    headers = {
        "retry-after": "40",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-02T03:04:45Z",
    }
    found = ratelimit.parse(headers, b"", NOW)
    assert found["retry_after_s"] == 40.0 and found["reset_at"] == "2026-01-02T03:04:45Z"
    assert (found["requests_limit"], found["requests_remaining"]) == (50, 0)


def test_anthropic_reset_without_retry_after():
    headers = {"anthropic-ratelimit-tokens-remaining": "10", "anthropic-ratelimit-tokens-reset": "2026-01-02T03:10:00Z"}
    assert ratelimit.parse(headers, b"", NOW)["reset_at"] == "2026-01-02T03:10:00Z"


def test_azure_retry_after_ms_wins_over_retry_after():
    found = ratelimit.parse({"retry-after": "10", "retry-after-ms": "1500"}, b"", NOW)
    assert found == {"retry_after_s": 1.5, "reset_at": "2026-01-02T03:04:06Z"}


def test_retry_after_as_an_http_date():
    found = ratelimit.parse({"retry-after": "Fri, 02 Jan 2026 03:05:05 GMT"}, b"", NOW)
    assert found == {"retry_after_s": 60.0, "reset_at": "2026-01-02T03:05:05Z"}


def test_google_retry_info_in_the_body():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
    body = json.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{"x": 1}, retry]}})
    assert ratelimit.parse({}, body.encode(), NOW) == {"retry_after_s": 38.0, "reset_at": "2026-01-02T03:04:43Z"}


@pytest.mark.parametrize(
    "headers, body",
    [
        ({}, b""),
        ({}, b"not json"),
        ({}, b'{"error": "text"}'),
        ({}, b'{"error": {"details": "x"}}'),
        ({}, b"[1, 2]"),
        ({"retry-after": "nan"}, b""),
        ({"retry-after": "whenever"}, b""),
        ({"x-ratelimit-remaining-requests": "many", "x-ratelimit-reset-requests": "later"}, b""),
    ],
)
def test_nothing_usable_gives_nothing(headers, body):
    assert ratelimit.parse(headers, body, NOW) == {}
