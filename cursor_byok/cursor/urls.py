"""Base URLs: the one check every incoming URL passes, where it points, and how it is shown. Pure, no I/O.

Every base URL that arrives from a bundle, a manifest or `set --base-url`
goes through `check()`: https only (plain http only to this machine), no user
info, an ASCII hostname with no punycode label, and no key-shaped part. A
URL that passes may still point where Cursor cannot reach (`unreachable()`):
Cursor's servers make the BYOK requests, so a loopback, private, CGNAT,
link-local or `.local` address works only for tools on this machine.
`shown()` masks the key-shaped parts of any URL, for every output.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, overload
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ..errors import UnsafeURL
from ..key_shapes import NOT_SHOWN, holds_a_key, secret_in_path
from ..key_table import looks_like_key
from ..model import mask
from ..providers import registry

MAX_URL_LENGTH = 2048


def __getattr__(name: str) -> Any:
    """URL_FIELDS (every base-URL setting of the provider registry): a view, never frozen at import."""
    if name == "URL_FIELDS":
        return registry().url_fields
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Query parameter names that carry a credential, compared lower-case without '-' and '_'.
KEY_PARAM_NAMES = frozenset(
    {
        "key",
        "apikey",
        "token",
        "accesstoken",
        "authtoken",
        "idtoken",
        "bearer",
        "auth",
        "authorization",
        "secret",
        "clientsecret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "credential",
        "credentials",
        "sig",
        "signature",
        "subscriptionkey",
        "xapikey",
    }
)
KEY_PARAM_SUFFIXES = ("key", "token", "secret", "password")
LOCAL_SUFFIXES = (".local", ".localhost", ".lan", ".internal", ".home.arpa")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


# --- secrets inside a URL ----------------------------------------------------------------


def is_key_param(name: str) -> bool:
    """True for a query parameter name that says it carries a credential (api_key, token, ...)."""
    plain = unquote(name).lower().replace("-", "").replace("_", "")
    return plain in KEY_PARAM_NAMES or plain.endswith(KEY_PARAM_SUFFIXES)


def _query_secrets(query: str) -> list[str]:
    """The raw values of a query (or fragment) that are secrets: under a key-like name, or key-shaped."""
    out = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and (is_key_param(name) or looks_like_key(unquote(value))):
            out.append(value)
        elif not sep and looks_like_key(unquote(name)):
            out.append(name)
    return out


def _split(url: str) -> tuple[SplitResult, str]:
    """(parts, userinfo) of a URL; userinfo is '' when there is none. Raises ValueError."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return parts, userinfo


def secret_parts(url: str) -> list[str]:
    """The raw pieces of `url` that hold a secret: user info, key-like query values, key-shaped path segments."""
    try:
        parts, userinfo = _split(url)
    except ValueError:
        return [url] if looks_like_key(url) else []
    out = [userinfo] if userinfo else []
    out += [seg for seg in parts.path.split("/") if seg and looks_like_key(unquote(seg))]
    return out + _query_secrets(parts.query) + _query_secrets(parts.fragment)


def has_secret(url: str | None) -> bool:
    return bool(url and secret_parts(url))


def _masked_query(query: str) -> str:
    secrets = set(_query_secrets(query))
    pairs = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value in secrets:
            pairs.append(f"{name}={mask(unquote(value))}")
        elif not sep and name in secrets:
            pairs.append(mask(unquote(name)))
        else:
            pairs.append(pair)
    return "&".join(pairs)


@overload
def shown(url: str) -> str: ...
@overload
def shown(url: None) -> None: ...


def shown(url: str | None) -> str | None:
    """`url` for output: each key-shaped part replaced by its masked form (prefix and last 4 at most).

    None (no URL) is returned as it is."""
    if not isinstance(url, str) or not secret_parts(url):
        return url
    try:
        parts, userinfo = _split(url)
    except ValueError:
        return mask(url)
    netloc = parts.netloc
    if userinfo:
        netloc = "…@" + netloc.rpartition("@")[2]
    path = "/".join(mask(unquote(s)) if s and looks_like_key(unquote(s)) else s for s in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, _masked_query(parts.query), _masked_query(parts.fragment)))


def without_secrets(url: str | None) -> str | None:
    """The URL, or None when it holds a secret (for bundles made without keys)."""
    return None if has_secret(url) else url


# --- where a URL points --------------------------------------------------------------------


def host_of(url: str | None) -> str:
    """The host a URL names, for messages ('(no host)' when there is none)."""
    try:
        return urlsplit(url or "").hostname or "(no host)"
    except ValueError:
        return "(no host)"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    addr = _address(host)
    return bool(addr and addr.is_loopback)


def unreachable(url: str | None) -> str | None:
    """Why Cursor's servers cannot reach this URL ('a loopback address', ...), or None when they may."""
    host = host_of(url).lower().rstrip(".")
    if host == "(no host)":
        return None
    if is_loopback(host):
        return "a loopback address (this machine)"
    addr = _address(host)
    if addr is None:
        if host.endswith(LOCAL_SUFFIXES):
            return f"a local network name ({host.rsplit('.', 1)[-1]})"
        if "." not in host:
            return "a single-label name that only your network resolves"
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.version == 4 and addr in CGNAT:
        return "a CGNAT address (100.64.0.0/10, e.g. Tailscale)"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_unspecified:
        return "an unspecified address (0.0.0.0)"
    if addr.is_private:
        return "a private network address (RFC 1918)" if addr.version == 4 else "a private network address"
    return None


def unreachable_warning(field: str, url: str) -> str | None:
    why = unreachable(url)
    if why is None:
        return None
    return (
        f"{field}: {shown(url)} is {why}; Cursor's servers make the BYOK requests, so Cursor cannot reach it "
        "(stored as asked; use a public https URL for Cursor)"
    )


# --- the check -------------------------------------------------------------------------------


def check(url: str, label: str) -> str:
    """`url` itself when it is safe to send a key to; UnsafeURL (exit 15) with one line otherwise."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL(f"{label} must be an https:// URL")
    if len(url) > MAX_URL_LENGTH or _BAD_CHAR.search(url):
        raise UnsafeURL(f"{label} holds whitespace or a control character, or is over {MAX_URL_LENGTH} characters")
    got = _quoted(_shown_in_error(url))
    try:
        parts, userinfo = _split(url)
        port = parts.port  # noqa: F841  (raises ValueError on a bad port)
        host = parts.hostname or ""
    except ValueError:
        raise UnsafeURL(f"{label} is not a URL, got {got}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeURL(f"{label} must be an https:// URL (http:// only to this machine), got {got}")
    if userinfo:
        raise UnsafeURL(f"{label} holds user info (user:password@); put the key in the key source, not in the URL")
    _check_host(parts.netloc.rpartition("@")[2], host, label, got)
    if parts.scheme == "http" and not is_loopback(host):
        raise UnsafeURL(
            f"{label}: plain http:// would send the key readable over the network; use https:// "
            f"(http:// only to this machine), got {got}"
        )
    if secret_parts(url):
        raise UnsafeURL(f"{label} holds what looks like a key ({got}); put the key in the key source, never in the URL")
    return url


def _shown_in_error(url: str) -> str:
    """The URL for a refusal: shown() masks its key-shaped parts; here a part (or the whole) with even a generic
    key's shape (an Azure key pasted as --base-url, say) is masked too, and a part holding a key anywhere."""
    if holds_a_key(url) or secret_in_path(url):
        return NOT_SHOWN
    return re.sub(r"[^/:?#&=@.]+", lambda m: mask(m.group()) if holds_a_key(m.group()) else m.group(), shown(url))


def _quoted(text: str) -> str:
    """Quoted for a message; non-ASCII characters (look-alike letters) spelled as escapes, the mask's '…' kept."""
    return "'" + "".join(c if c.isascii() or c == "…" else f"\\u{ord(c):04x}" for c in text) + "'"


def _check_host(netloc: str, host: str, label: str, got: str) -> None:
    """An ASCII hostname with no punycode label (IDN look-alikes), or an IP address."""
    if not netloc.isascii():
        raise UnsafeURL(
            f"{label}: the hostname has non-ASCII characters (a look-alike of another host?), got {got}; "
            "type the host name in plain ASCII"
        )
    if _address(host) is not None:
        return
    labels = host.rstrip(".").split(".")
    if any(lab.startswith("xn--") for lab in labels):
        raise UnsafeURL(
            f"{label}: the hostname has a punycode (xn--) label, which can spell a look-alike of another host, "
            f"got {got}; use the provider's plain ASCII host name"
        )
    if not all(_HOST_LABEL.fullmatch(lab) for lab in labels):
        raise UnsafeURL(f"{label}: the host name of {got} is not a valid host name")
