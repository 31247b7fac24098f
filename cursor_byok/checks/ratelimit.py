"""Rate-limit facts from a provider's answer: retry-after, limits, remaining requests and the reset time.

Each provider says it differently:
- OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset as a duration (`6m0s`, `20ms`);
- Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset as an RFC 3339 time;
- Azure OpenAI: `x-ratelimit-remaining-{requests,tokens}` and `retry-after-ms`;
- Google: no headers; a 429 body `error.details[].retryDelay` (`"38s"`);
- anyone: `retry-after`, in seconds or as an HTTP date.
`parse` turns them into one flat dict holding only what the answer said.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_WHOLE_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
MAX_BODY = 64 * 1024
MAX_WAIT_S = 366 * 24 * 3600.0  # a longer wait than a year is nonsense from a hostile or broken server


def duration_s(text: str) -> float | None:
    """`1h2m3.5s`, `6m0s`, `20ms` or a bare number of seconds; None when it is neither."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        if not _WHOLE_DURATION.fullmatch(text):
            return None
        seconds = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_WAIT_S)


def _when(text: str, now: datetime) -> datetime | None:
    """A reset given as a duration, an RFC 3339 time or an HTTP date."""
    seconds = duration_s(text)
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    for parse in (lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")), parsedate_to_datetime):
        try:
            when = parse(text.strip())
        except (TypeError, ValueError, IndexError):
            continue
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _header(headers: Mapping[str, str], kind: str, what: str) -> str | None:
    for prefix in _PREFIXES:
        for name in (f"{prefix}{what}-{kind}", f"{prefix}{kind}-{what}"):
            if name in headers:
                return headers[name]
    return None


def _body_retry_delay(body: bytes) -> float | None:
    """Google's RetryInfo: {"error": {"details": [{"retryDelay": "38s"}]}}."""
    try:
        doc = json.loads(body[:MAX_BODY] or b"null")
    except ValueError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and isinstance(item.get("retryDelay"), str):
            return duration_s(item["retryDelay"])
    return None


def retry_after_s(headers: Mapping[str, str], body: bytes, now: datetime) -> float | None:
    if "retry-after-ms" in headers:
        ms = duration_s(headers["retry-after-ms"])
        if ms is not None:
            return ms / 1000
    if "retry-after" in headers:
        when = _when(headers["retry-after"], now)
        if when is not None:
            return max((when - now).total_seconds(), 0.0)
    return _body_retry_delay(body)


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse(headers: Mapping[str, str], body: bytes = b"", now: datetime | None = None) -> dict[str, Any]:
    """Rate-limit facts of one answer. `headers` has lower-case names. Empty when the answer said nothing."""
    now = now or datetime.now(timezone.utc)
    out: dict[str, Any] = {}
    resets = {}
    for kind in ("requests", "tokens"):
        for what in ("limit", "remaining"):
            value = _int(_header(headers, kind, what))
            if value is not None:
                out[f"{kind}_{what}"] = value
        reset = _header(headers, kind, "reset")
        when = _when(reset, now) if reset else None
        if when is not None:
            resets[kind] = when
    wait = retry_after_s(headers, body, now)
    if wait is not None:
        out["retry_after_s"] = round(wait, 3)
        out["reset_at"] = _stamp(now + timedelta(seconds=wait))
    elif resets:
        exhausted = [resets[k] for k in resets if out.get(f"{k}_remaining") == 0]
        out["reset_at"] = _stamp(max(exhausted) if exhausted else min(resets.values()))
    return out
