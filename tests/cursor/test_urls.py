"""urls.py: the one base URL check, where a URL points, and how a key inside one is masked. Pure."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_byok.cursor import urls
from cursor_byok.errors import InputError, UnsafeURL
from cursor_byok.samples.installs import make_key

KEY = make_key("openai", random.Random(11))

GOOD = [
    "https://api.openai.com/v1",
    "https://openrouter.ai/api/v1",
    "https://contoso.openai.azure.com",
    "https://contoso.openai.azure.com/?api-version=2024-10-21",
    "http://localhost:11434/v1",
    "http://127.0.0.1:1234/v1",
    "http://[::1]:8080/v1",
    "https://10.1.2.3:8443/v1",
    "https://gpu-box.local/v1",
    "https://my_host.example.com/v1",
]
BAD = {
    "http://api.example.com/v1": "plain http://",
    "http://10.1.2.3/v1": "plain http://",
    "ftp://api.example.com/": "https://",
    "api.example.com/v1": "https://",
    "https:///v1": "https://",
    "https://user:pw@api.example.com/v1": "user info",
    "https://evil.example\\@api.openai.com/v1": "user info",
    "https://api.openai.com\\.evil.example/v1": "not a valid host name",
    "https://\u0430pi.openai.com/v1": "non-ASCII",
    "https://api\uff0eopenai.com/v1": "non-ASCII",
    "https://xn--pi-7ld.openai.com/v1": "punycode",
    "https://api.example.com/v1?api_key=abc": "looks like a key",
    "https://api.example.com/v1?KEY=abc": "looks like a key",
    "https://api.example.com/v1?access-token=abc": "looks like a key",
    "https://api.example.com/v1?openai_key=abc": "looks like a key",
    f"https://api.example.com/v1?q={KEY}": "looks like a key",
    f"https://api.example.com/{KEY}/v1": "looks like a key",
    f"https://api.example.com/v1#{KEY}": "looks like a key",
    "https://api.example.com/v1\n": "control character",
    "https://api.example.com:99999/v1": "not a URL",
    "": "https://",
}


@pytest.mark.parametrize("url", GOOD)
def test_good_urls_pass_unchanged(url):
    assert urls.check(url, "--base-url") == url


@pytest.mark.parametrize("url", sorted(BAD))
def test_bad_urls_are_refused_with_one_line_that_shows_no_key(url):
    with pytest.raises(UnsafeURL) as caught:
        urls.check(url, "--base-url")
    message = str(caught.value)
    assert BAD[url] in message and "\n" not in message
    assert KEY[8:-4] not in message and "pw@" not in message
    assert isinstance(caught.value, InputError)  # exit 15


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://localhost:11434/v1", "loopback"),
        ("http://127.0.0.1/v1", "loopback"),
        ("https://[::1]/v1", "loopback"),
        ("https://10.0.0.1/v1", "private"),
        ("https://172.16.5.4/v1", "private"),
        ("https://192.168.0.10/v1", "private"),
        ("https://[fd00::1]/v1", "private"),
        ("https://100.64.0.1/v1", "CGNAT"),
        ("https://100.127.255.254/v1", "CGNAT"),
        ("https://169.254.1.1/v1", "link-local"),
        ("https://[fe80::1]/v1", "link-local"),
        ("https://0.0.0.0/v1", "unspecified"),
        ("https://gpu-box.local/v1", "local network"),
        ("https://llm.corp.internal/v1", "local network"),
        ("https://ollama/v1", "single-label"),
    ],
)
def test_addresses_cursor_cannot_reach(url, expected):
    assert expected in urls.unreachable(url)
    assert "Cursor cannot reach it" in urls.unreachable_warning("openai.base_url", url)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "https://100.128.0.1/v1", "https://8.8.8.8/v1", None])
def test_public_addresses_are_reachable(url):
    assert urls.unreachable(url) is None


def test_shown_masks_every_secret_part_and_keeps_the_rest():
    url = f"https://me:{KEY}@gw.example.com/{KEY}/v1?api-version=1&token=short&x={KEY}"
    shown = urls.shown(url)
    assert KEY[8:-4] not in shown and "short" not in shown
    assert shown.startswith("https://…@gw.example.com/sk-proj-…") and "api-version=1" in shown
    assert urls.shown("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert urls.without_secrets(url) is None and urls.without_secrets("https://a.example/v1") == "https://a.example/v1"


@given(st.text(max_size=80))
def test_check_raises_only_unsafe_url_and_shown_never_raises(text):
    try:
        assert urls.check(text, "u") == text
    except UnsafeURL as exc:
        assert "\n" not in str(exc)
    urls.shown(text)
    urls.unreachable(text)
    urls.host_of(text)


@given(
    st.sampled_from(["query", "path", "userinfo", "fragment"]),
    st.sampled_from(["openai", "anthropic", "google", "openrouter"]),
    st.integers(0, 1000),
)
def test_a_key_anywhere_in_a_url_is_refused_and_masked(where, kind, seed):
    key = make_key(kind, random.Random(seed))
    url = {
        "query": f"https://gw.example.com/v1?k={key}",
        "path": f"https://gw.example.com/{key}/v1",
        "userinfo": f"https://{key}@gw.example.com/v1",
        "fragment": f"https://gw.example.com/v1#x={key}",
    }[where]
    with pytest.raises(UnsafeURL):
        urls.check(url, "u")
    assert key[-20:-4] not in urls.shown(url)
