"""Why a BYOK key fails in Cursor: offline checks for each error, and online key checks.

`offline_checks(profile)` is pure: it turns the BYOK error table people follow
(401, 403, 429, "model not appearing", Azure connection refused, slow
responses) into a verdict per provider. `verify_keys(profile)` asks each
provider's free model-listing endpoint whether a key is accepted, and reads
its rate-limit headers; it never makes a billable call, sends a key only in a
header, only for a provider that is switched on, and only to the provider's
official URL or the one this machine's Cursor would use (openai.base_url, the
Azure endpoint). Nothing in the environment can change where a key goes: the
`provider_urls` parameter that tests use is never set by the CLI.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .. import __version__, key_shapes
from ..changes.journal import vanished_keys
from ..cursor.paths import Installation
from ..cursor.reading import cursor_facts
from ..cursor.rows import SECRET_PREFIX
from ..errors import InputError
from ..key_table import known_vendor
from ..lazy import LazyModule
from ..model import SELECTED_PREFIX, Profile, Secret, StoredKey, mask
from ..providers import Provider, registry
from . import ratelimit
from .audit import endpoint_issue, is_local, is_loopback, safe_url, unseen_keys, unseen_message
from .provider_pages import tier_page

if TYPE_CHECKING:
    import http.client as http_client
    import urllib.error as url_error
    import urllib.request as url_request
    from email.message import Message
else:  # the network modules (http.client loads ssl) load only when a key is checked online (doctor --online)
    http_client = LazyModule("http.client")
    url_error = LazyModule("urllib.error")
    url_request = LazyModule("urllib.request")

OK, LIKELY, NOTE = "ok", "likely", "note"
VERIFIED, INVALID, UNKNOWN = "verified", "invalid", "unknown"
RATE_LIMITED, REFUSED = "rate-limited", "refused"
S401, S403, S429 = "401 Unauthorized", "403 Forbidden", "429 Too Many Requests"
NOT_SHOWN, AZURE_REFUSED, SLOW = "model not appearing", "Azure connection refused", "slow responses"
TAB = "Tab and Apply"
KEY_GONE = "key disappeared"
IGNORED = "Cursor does not read this"  # a setting people believe in (checks/outside)
UNKNOWN_ROWS = "unknown to cursor-byok"  # rows and settings this tool does not know (checks/outside, report)

AZURE_API_VERSION = "2024-10-21"  # the GA data-plane version the BYOK guide uses; --azure-api-version changes it
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
TIMEOUT_S = 5.0  # the longest wait for any one read (connect, each chunk of the answer)
DEADLINE_S = 10.0  # the longest a check may take, however slowly a server sends: each request and the whole run
SLOW_S = 3.0  # a model list that takes longer than this is slow


@dataclass(frozen=True)
class Check:
    """One symptom for one provider: is this the likely cause, and what to do."""

    provider: str
    symptom: str
    verdict: str  # ok | likely | note
    detail: str
    fix: str = ""


_article = key_shapes.article


def command(*words: str) -> str:
    """A command of this tool, quoted as the "what to do" column names it."""
    return "`cursor-byok " + " ".join(w if w.isupper() else shlex.quote(w) for w in words) + "`"


def set_key(provider: str) -> str:
    """The command that stores a provider's key (a hidden prompt) and switches the provider on."""
    return command("set", provider)


def endpoint_fix(provider: Provider) -> str:
    """The command that sets a provider's endpoint (Azure's), with a placeholder to replace."""
    shape = provider.endpoint_shape
    if shape is None:
        return ""
    option = "--" + shape.setting.replace("_", "-")
    return "set the endpoint: " + command("set", provider.name, "--no-key", option, shape.example)


def _name(provider: str) -> str:
    return registry().title(provider)


def _compatible_base(profile: Profile, provider: str) -> str | None:
    """The base URL that points `provider` at an OpenAI-compatible server, when it is that provider."""
    record = registry().get(provider)
    field = record.compatible_field if record else None
    return profile.get(field) if field else None


def _key(profile: Profile, field: str) -> StoredKey | None:
    value = profile.get(field)
    return value if isinstance(value, StoredKey) else None


def active_providers(profile: Profile) -> list[str]:
    """Providers with a key, a toggle on, or (OpenAI) a base URL to an OpenAI-compatible server."""
    out = []
    for provider in registry():
        if profile.get(provider.enabled_field) or any(_key(profile, f) for f in provider.settable_key_fields):
            out.append(provider.name)
        elif _compatible_base(profile, provider.name):
            out.append(provider.name)
    return out


def key_active(profile: Profile, provider: str) -> bool:
    """The provider is switched on and has its key(s), or a team role stands in for them."""
    record = registry()[provider]
    on = bool(profile.get(record.enabled_field))
    if profile.uses_role(provider):
        return on
    return on and all(_key(profile, f) for f in record.settable_key_fields)


# --- 401 -------------------------------------------------------------------------------


def check_401(profile: Profile, provider: str) -> Check | None:
    keys = {f: key for f in registry()[provider].settable_key_fields if (key := _key(profile, f)) is not None}
    if not keys:
        return None
    base_url = _compatible_base(profile, provider)
    for field, key in keys.items():
        problem = _key_problem(field, key, base_url)
        if problem:
            return Check(provider, S401, problem[0], problem[1], problem[2])
    if base_url:
        return Check(
            provider,
            S401,
            NOTE,
            f"the key goes to {safe_url(base_url)}, so only that server can tell whether it is valid",
            f"check the key with that service, or run {command('doctor', '--online')}",
        )
    return Check(
        provider,
        S401,
        OK,
        f"the key has the {_name(provider)} format",
        "if Cursor still says 401, the key was revoked or belongs to another account: "
        f"run {command('doctor', '--online')}",
    )


def _key_problem(field: str, key: StoredKey, base_url: str | None) -> tuple[str, str, str] | None:
    if key.secret is None:
        return (
            NOTE,
            f"cannot check {field}: {key.reason}",
            f"run {command('where')}: pass the --safe-storage its 'stored keys need' line names",
        )
    value, own = key.secret.reveal(), field.split(".")[0]
    if key_shapes.looks_placeholder(value) or key_shapes.looks_truncated(field, value):
        fix = f"{set_key(own)} and paste the full key"
        return LIKELY, f"{field} ({key.secret.masked}) is a placeholder or cut short", fix
    if key_shapes.check_format(field, value, base_url) != key_shapes.UNEXPECTED:
        return None
    vendor = known_vendor(value)
    if vendor and vendor != own:
        return (
            LIKELY,
            f"{field} holds {_article(_name(vendor))} key ({key.secret.masked}); {_name(own)} rejects it",
            f"move it to the {_name(vendor)} slot ({set_key(vendor)}), "
            f"then paste the {_name(own)} key with {set_key(own)}",
        )
    fix = f"{set_key(own)} and paste it again"
    return LIKELY, f"{field} ({key.secret.masked}) does not match the {_name(own)} format", fix


# --- 403 -------------------------------------------------------------------------------


def model_family(name: str) -> str | None:
    """The provider whose API serves a model name, for Cursor's built-in names; None for custom ones."""
    return registry().model_family(name)


def wanted_models(profile: Profile) -> list[str]:
    """Models switched on or selected for a surface, in a stable order."""
    names = list(profile.get("models.enabled", ()))
    names += [v for k, v in sorted(profile.fields.items()) if k.startswith(SELECTED_PREFIX)]
    disabled = set(profile.get("models.disabled", ()))
    return list(dict.fromkeys(n for n in names if n not in disabled))


def serves(profile: Profile, family: str) -> bool:
    """An active key serves the family's models: its own, or one that also serves them (Azure: OpenAI's)."""
    if key_active(profile, family):
        return True
    return any(family in p.serves_models_of and key_active(profile, p.name) for p in registry())


def check_403(profile: Profile, provider: str) -> Check | None:
    """A model of `provider`'s family is wanted, its key is not active, another key is."""
    models = [m for m in wanted_models(profile) if model_family(m) == provider]
    if not models:
        return None
    if serves(profile, provider):
        return Check(provider, S403, OK, f"{', '.join(models)}: served by the active {_name(provider)} key")
    compatible = registry().compatible
    if compatible and _compatible_base(profile, compatible.name) and key_active(profile, compatible.name):
        return Check(
            provider,
            S403,
            NOTE,
            f"{', '.join(models)} go to the {compatible.title} base URL; that server must serve them",
        )
    others = [p for p in registry().names if p != provider and key_active(profile, p)]
    if not others:
        return None
    return Check(
        provider,
        S403,
        LIKELY,
        f"{', '.join(models)} enabled but there is no active {_name(provider)} key; "
        f"the {', '.join(_name(p) for p in others)} key cannot serve them",
        f"add {_article(_name(provider))} key with {set_key(provider)} (it switches the provider on), "
        f"or {command('models', 'disable', *models)}",
    )


# --- model not appearing ------------------------------------------------------------------


def check_not_shown(profile: Profile, provider: str) -> Check:
    record = registry()[provider]
    toggle, fields = record.enabled_field, record.settable_key_fields
    present = [f for f in fields if _key(profile, f)]
    if present and not profile.get(toggle):
        detail = f"a key is saved but {toggle} is off: its models run on Cursor's plan, or do not appear"
        fix = f"switch it on to use the key: {command('set', provider, '--no-key', '--enable')}"
        return Check(provider, NOT_SHOWN, NOTE, detail, fix)
    if profile.get(toggle) and len(present) < len(fields) and not profile.uses_role(provider):
        base = _compatible_base(profile, provider)
        if base and is_local(urlsplit(base).hostname):
            return Check(provider, NOT_SHOWN, NOTE, f"no key saved; fine if {safe_url(base)} needs none")
        fix = f"{set_key(provider)}, or switch it off: {command('set', provider, '--no-key', '--disable')}"
        return Check(provider, NOT_SHOWN, LIKELY, "switched on but no key is saved", fix)
    return Check(provider, NOT_SHOWN, OK, "key saved and switched on")


def model_checks(profile: Profile) -> list[Check]:
    """Models that cannot appear: switched off, or custom with no OpenAI route."""
    out = []
    disabled = set(profile.get("models.disabled", ()))
    selected = [v for k, v in sorted(profile.fields.items()) if k.startswith(SELECTED_PREFIX)]
    off = [n for n in dict.fromkeys([*profile.get("models.user_added", ()), *selected]) if n in disabled]
    if off:
        detail = f"{', '.join(off)} {'is' if len(off) == 1 else 'are'} in the disabled list"
        out.append(Check("models", NOT_SHOWN, LIKELY, detail, command("models", "enable", *off)))
    custom = [m for m in profile.get("models.user_added", ()) if model_family(m) is None and m not in disabled]
    route = registry().compatible  # custom models go to the OpenAI-compatible slot
    if custom and route and not key_active(profile, route.name) and not _compatible_base(profile, route.name):
        out.append(
            Check(
                "models",
                NOT_SHOWN,
                LIKELY,
                f"custom models ({', '.join(custom)}) need the {route.title} key or base URL switched on",
                f"switch on the {route.title} key, with the server's base URL if it is not {route.title}: "
                f"{command('set', route.name, '--base-url', 'URL')}",
            )
        )
    return out


# --- Azure ---------------------------------------------------------------------------------


def check_endpoint(profile: Profile, provider: Provider) -> Check:
    """A provider with an endpoint shape and deployments (Azure): is its endpoint set, usual, with a deployment."""
    shape, name = provider.endpoint_shape, provider.name
    assert shape is not None
    deployment_setting = provider.probe.deployment if provider.probe else None
    endpoint = profile.get(provider.field(shape.setting))
    deployment = profile.get(provider.field(deployment_setting)) if deployment_setting else None
    if not endpoint:
        return Check(name, AZURE_REFUSED, LIKELY, "no endpoint is set", endpoint_fix(provider))
    issue = endpoint_issue(provider, endpoint)
    if issue and issue[0].endswith("-endpoint-shape"):
        return Check(name, AZURE_REFUSED, LIKELY, f"{safe_url(endpoint)} {issue[1]}", endpoint_fix(provider))
    if deployment_setting and not deployment:
        fix = f"copy the name from {shape.deployments}: "
        fix += command("set", name, "--no-key", "--" + deployment_setting.replace("_", "-"), "NAME")
        return Check(name, AZURE_REFUSED, LIKELY, "no deployment name is set", fix)
    if issue:
        return Check(name, AZURE_REFUSED, NOTE, f"{safe_url(endpoint)} {issue[1]}")
    return Check(
        name,
        AZURE_REFUSED,
        OK,
        f"endpoint {safe_url(endpoint)}, deployment {_name_shown(deployment)}; Cursor stores no API version, so "
        f"whether the endpoint accepts {AZURE_API_VERSION} is checked only by {command('doctor', '--online')} "
        "(--azure-api-version)",
    )


# --- 429 and slow responses ---------------------------------------------------------------------


def check_429(profile: Profile, provider: str) -> Check | None:
    """Rate limits belong to the provider account's tier: say so, and where to raise them."""
    if not key_active(profile, provider):
        return None
    return Check(
        provider,
        S429,
        NOTE,
        f"BYOK requests count against your {_name(provider)} account's rate limits, set by its plan or tier, "
        "not by Cursor",
        f"limits, and how to raise them: {tier_page(provider)}; {command('doctor', '--online')} reads the current ones",
    )


def slow_note() -> Check:
    return Check(
        "general",
        SLOW,
        NOTE,
        "with BYOK, speed comes from the provider (its load, your tier there, the model chosen), not from "
        "Cursor's plan",
        f"{command('doctor', '--online')} times each provider's answer",
    )


def base_url_notes(profile: Profile) -> list[Check]:
    route = registry().compatible
    base = _compatible_base(profile, route.name) if route else None
    if not route or not base or not is_local(urlsplit(base).hostname):
        return []
    return [
        Check(
            route.name,
            NOT_SHOWN,
            NOTE,
            f"{safe_url(base)} is on this machine or network; users report that Cursor's servers make BYOK "
            "requests, so they cannot reach it",
            "expose the server through an https tunnel and use that URL: "
            + command("set", route.name, "--no-key", "--base-url", "URL"),
        )
    ]


def offline_checks(profile: Profile) -> list[Check]:
    """Every offline check, per active provider, then models and the general note."""
    out: list[Check] = []
    for provider in active_providers(profile):
        out += [c for c in (check_401(profile, provider), check_403(profile, provider)) if c]
        out += [c for c in (check_429(profile, provider),) if c]
        out.append(check_not_shown(profile, provider))
        record = registry()[provider]
        if record.endpoint_shape:
            out.append(check_endpoint(profile, record))
    for provider in registry().model_families:
        if provider not in active_providers(profile):
            out += [c for c in (check_403(profile, provider),) if c]
    out += base_url_notes(profile)
    out += model_checks(profile)
    out.append(slow_note())
    out.append(
        Check(
            "general",
            TAB,
            NOTE,
            "Tab completion and Apply always run on Cursor's own models; they never use BYOK keys",
        )
    )
    return out


# --- online ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one check goes. The URL never holds a key; `skip` says why nothing is sent."""

    provider: str
    field: str
    url: str | None
    secret: Secret | None
    skip: str | None = None
    method: str = "GET"
    body: bytes | None = None
    deployment: bool = False  # the empty chat request to a deployment, not a model list

    @property
    def host(self) -> str | None:
        return host_of(self.url)


@dataclass(frozen=True)
class Verification:
    provider: str
    field: str
    status: str  # verified | invalid | rate-limited | refused | unknown
    reason: str
    url: str | None = None
    host: str | None = None
    elapsed_ms: int | None = None
    slow: bool = False
    rate_limit: dict[str, Any] | None = None


def host_of(url: str | None) -> str | None:
    """`host` or `host:port` of a URL, for saying where a check went."""
    try:
        parts = urlsplit(url or "")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def base_urls(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The providers' official base URLs. `overrides` exists for tests only: the CLI never passes it,
    and nothing in the environment or on disk can change where a key goes."""
    official = registry().official_urls
    urls = dict(official)
    urls.update({k: v for k, v in (overrides or {}).items() if k in official})
    return urls


def check_api_version(version: str) -> str:
    if not API_VERSION.fullmatch(version):
        raise InputError(f"--azure-api-version {version!r} is not a date like 2024-10-21 (or 2025-04-01-preview)")
    return version


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _switched_off(profile: Profile, provider: str) -> str | None:
    record = registry().get(provider)
    toggle = record.enabled_field if record else None
    if toggle and not profile.get(toggle):
        return f"not sent: {_name(provider)} is switched off, so Cursor does not use this key"
    return None


def _base_and_path(profile: Profile, provider: str, urls: Mapping[str, str], version: str) -> tuple[str, str] | None:
    """The base URL this machine's Cursor would use for `provider` (the setting that replaces the official URL,
    else that URL), and the free listing path under it (the registry's probe)."""
    record = registry().get(provider)
    probe = record.probe if record else None
    if probe is None:
        return None
    base = profile.get(f"{provider}.{probe.base_setting}") if probe.base_setting else None
    base = base or urls.get(provider)
    if not base:
        return None
    return base, probe.path + (f"?api-version={quote(version, safe='')}" if probe.api_version else "")


def _no_url(provider: str) -> str:
    record = registry().get(provider)
    return record.unprobed if record else "not checked: no known endpoint for this provider"


def target_for(profile: Profile, field: str, urls: Mapping[str, str], version: str = AZURE_API_VERSION) -> Target:
    provider = field.split(".", 1)[0]
    key = _key(profile, field)
    secret = key.secret if key else None
    if secret is None:
        return Target(provider, field, None, None, f"cannot decrypt ({key.reason if key else 'missing'})")
    where = _base_and_path(profile, provider, urls, version)
    if where is None:
        return Target(provider, field, None, secret, _no_url(provider))
    base, path = where
    skip = _unsendable(secret) or _switched_off(profile, provider) or _unsafe(base)
    return Target(provider, field, _join(base, path), secret, skip)


def deployment_target(profile: Profile, provider: Provider, version: str = AZURE_API_VERSION) -> Target | None:
    """An empty chat request to a deployment (Azure's): the provider refuses it before any model runs (nothing
    billed), and says on the way whether the deployment exists and the API version is accepted."""
    probe = provider.probe
    if probe is None or probe.deployment is None or probe.base_setting is None:
        return None
    key, endpoint, deployment = (
        _key(profile, provider.field(provider.primary_key.name)),
        profile.get(provider.field(probe.base_setting)),
        profile.get(provider.field(probe.deployment)),
    )
    if key is None or key.secret is None or not endpoint or not deployment:
        return None
    path = probe.deployment_path.replace("{deployment}", quote(deployment, safe=""))
    path += f"?api-version={quote(version, safe='')}" if probe.api_version else ""
    skip = _unsendable(key.secret) or _switched_off(profile, provider.name) or _unsafe(endpoint)
    field = provider.field(probe.deployment)
    return Target(provider.name, field, _join(endpoint, path), key.secret, skip, "POST", b"{}", deployment=True)


UNSENDABLE = (
    "not sent: the stored key holds whitespace or a control character (a line break pasted with it?), which no "
    "request can carry and Cursor's requests fail on too; store it again"
)


def _unsendable(secret: Secret) -> str | None:
    """Why a key cannot go in a header at all (checked before a request is built), or None."""
    return UNSENDABLE if key_shapes.unsendable(secret.reveal()) else None


def _unsafe(base: str) -> str | None:
    """Why a key must not go under this base URL, or None."""
    try:
        parts = urlsplit(base)
        host = parts.hostname
    except ValueError:
        return "not sent: the URL cannot be parsed"
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return "not sent: the URL has user info or a query, which may hold a secret"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and is_loopback(host):
        return None
    return "not sent: only https (or http to this machine) may carry a key"


def targets(profile: Profile, urls: Mapping[str, str] | None = None, version: str = AZURE_API_VERSION) -> list[Target]:
    """One target per stored key (each provider's primary key, then the extras) and per deployment (Azure's),
    in a stable order."""
    urls = base_urls(urls)
    fields = [p.field(p.primary_key.name) for p in registry()]
    fields += sorted(f for f in profile.keys() if f.startswith("extra."))
    out = [target_for(profile, f, urls, version) for f in fields if profile.get(f) is not None]
    deployments = (deployment_target(profile, p, version) for p in registry())
    return out + [d for d in deployments if d]


def auth_headers(provider: str, secret: Secret) -> dict[str, str]:
    headers = {"User-Agent": f"cursor-byok/{__version__} (key check)", "Accept": "application/json"}
    record = registry().get(provider)
    if record and record.probe:
        headers.update(record.probe.headers(secret.reveal()))
    return headers


class Deadline:
    """Cuts the sockets of one request when its deadline passes: a read timeout alone lets a server that sends
    one byte every few seconds hold a check for hours. The cut socket's read fails, and the request ends."""

    def __init__(self, at: float) -> None:
        self.at, self.passed = at, False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(at - time.monotonic(), 0.0), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.passed:
                _shut(sock)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)

    def left(self) -> float:
        return self.at - time.monotonic()


def _shut(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: an SSL socket's own touches its state
    except OSError:
        pass


class DeadlinePassed(Exception):
    """A check ran into its deadline (Deadline)."""


def _opener(url: str, deadline: Deadline | None = None) -> url_request.OpenerDirector:
    """No redirects (a redirect would carry the key elsewhere); no proxy for this machine; every connection's
    socket watched by `deadline`."""

    class NoRedirect(url_request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def watched(http_class: type[http_client.HTTPConnection]) -> type[http_client.HTTPConnection]:
        # The TCP socket is watched from its creation: a TLS handshake or a proxy tunnel dripping byte by byte
        # is cut too. (`self` is Any: _create_connection is http.client's private attribute.)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            http_class.__init__(self, *args, **kwargs)
            create = self._create_connection

            def create_watched(*a: Any, **kw: Any) -> socket.socket:
                sock: socket.socket = create(*a, **kw)
                if deadline is not None:
                    deadline.watch(sock)
                return sock

            self._create_connection = create_watched

        subclass = type(f"Watched{http_class.__name__}", (http_class,), {"__init__": init})
        return cast("type[http_client.HTTPConnection]", subclass)  # type() made it a subclass of http_class

    class Http(url_request.HTTPHandler):  # http_class: Any, as typeshed types it with a private protocol
        def do_open(self, http_class: Any, req: url_request.Request, **kw: Any) -> http_client.HTTPResponse:
            return super().do_open(watched(http_class), req, **kw)

    class Https(url_request.HTTPSHandler):
        def do_open(self, http_class: Any, req: url_request.Request, **kw: Any) -> http_client.HTTPResponse:
            return super().do_open(watched(http_class), req, **kw)

    proxies = url_request.ProxyHandler({} if is_loopback(urlsplit(url).hostname) else None)
    return url_request.build_opener(NoRedirect, proxies, Http, Https)


def _send(target: Target, timeout: float, deadline: Deadline | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, lower-case headers, at most MAX_BODY bytes of body). Past `deadline`, its sockets
    are cut and DeadlinePassed is raised, whatever was read."""
    assert target.url is not None and target.secret is not None
    try:
        headers = auth_headers(target.provider, target.secret)
        if target.body is not None:
            headers["Content-Type"] = "application/json"
        request = url_request.Request(target.url, data=target.body, headers=headers, method=target.method)
    except Exception as exc:  # its text may quote a header, and so the key
        raise NotBuilt(type(exc).__name__) from None
    if deadline is not None:
        timeout = max(min(timeout, deadline.left()), 0.01)
    try:
        with _opener(target.url, deadline).open(request, timeout=timeout) as response:
            answer = response.status, _lower(response.headers), response.read(ratelimit.MAX_BODY)
    except url_error.HTTPError as exc:
        with exc:
            try:
                body = exc.read(ratelimit.MAX_BODY)
            except (OSError, ValueError):
                body = b""
            answer = exc.code, _lower(exc.headers), body
    except Exception:
        if deadline is not None and deadline.passed:
            raise DeadlinePassed() from None
        raise
    if deadline is not None and deadline.passed:
        raise DeadlinePassed()
    return answer


def _lower(headers: Message | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers.items() if headers else ())}


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)


class NotBuilt(Exception):
    """The request for a check could not be built (its text is never shown: it may quote the key)."""


def _network_error(exc: BaseException, secret: Secret) -> str:
    """What went wrong, without text the server chose (it could echo the key back), and without the text of an
    error raised while the request was built or its headers checked (it may quote the key, escaped)."""
    if isinstance(exc, NotBuilt):
        return f"not sent: the request could not be built ({exc})"
    if isinstance(exc, http_client.HTTPException):
        return f"network error: the answer is not valid HTTP ({type(exc).__name__})"
    reason = getattr(exc, "reason", exc)
    if isinstance(exc, ValueError) or isinstance(reason, ValueError):  # http.client refusing a header or URL
        return f"not sent: the request was refused before it left ({type(reason).__name__})"
    return "network error: " + without_key(str(reason), secret)


def without_key(text: str, secret: Secret) -> str:
    """`text` without the key in any form an error message may quote it: as it is, as repr() or ascii() or
    JSON escape it, percent-encoded; then without anything else key-shaped."""
    value = secret.reveal()
    forms = {value, repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
    forms |= {f.encode("unicode_escape").decode("ascii") for f in (value,)}
    for form in sorted((f for f in forms if len(f) >= 8), key=len, reverse=True):
        text = text.replace(form, "(the key)")
    return key_shapes.without_secrets(text)


def verify(
    target: Target, timeout: float = TIMEOUT_S, slow_s: float = SLOW_S, deadline: float | None = None
) -> Verification:
    """One request to a free endpoint; its status, rate-limit facts and how long it took. `deadline`
    (time.monotonic()) ends it, however slowly the server answers; by default DEADLINE_S from now."""
    found = Verification(target.provider, target.field, UNKNOWN, "", safe_url(target.url) if target.url else None)
    if target.skip or target.url is None or target.secret is None:
        return replace(found, reason=target.skip or "not checked")
    found = replace(found, host=target.host)
    started = time.monotonic()
    allowed = min(DEADLINE_S, (deadline or started + DEADLINE_S) - started)
    try:
        with Deadline(started + allowed) as cut:
            code, headers, body = _send(target, timeout, cut)
    except DeadlinePassed:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return replace(found, reason=stopped(target, allowed), elapsed_ms=elapsed_ms, slow=True)
    except (url_error.URLError, OSError, ValueError, http_client.HTTPException, NotBuilt) as exc:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        if _timed_out(exc):
            why = f"no answer within {timeout:g} s: {target.host} is slow or unreachable"
            return replace(found, reason=why, elapsed_ms=elapsed_ms, slow=True)
        return replace(found, reason=_network_error(exc, target.secret), elapsed_ms=elapsed_ms)
    elapsed = time.monotonic() - started
    limits = ratelimit.parse(headers, body)
    status, reason = classify(target, code, body, limits)
    if elapsed > slow_s:
        reason += f"; slow: {elapsed:.1f} s for a model list, which points at the provider's load or tier"
    return replace(
        found,
        status=status,
        reason=reason,
        elapsed_ms=int(elapsed * 1000),
        slow=elapsed > slow_s,
        rate_limit=limits or None,
    )


# --- what an answer means ----------------------------------------------------------------------------


def _error_text(body: bytes) -> str:
    """`code message` of a JSON error body, for matching only (never printed: it may quote the request)."""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return ""
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return ""
    return f"{error.get('code', '')} {error.get('type', '')} {error.get('message', '')}"


def _api_version(target: Target) -> str:
    return parse_qs(urlsplit(target.url or "").query).get("api-version", ["?"])[0]


def version_refused(code: int, body: bytes) -> bool:
    """Azure's answer to an API version it does not serve (400 or 404 naming the version)."""
    return code in (400, 404) and bool(re.search(r"api[- ]?version", _error_text(body), re.IGNORECASE))


def _limits_text(limits: Mapping[str, Any]) -> str:
    parts = [
        f"{limits[f'{kind}_remaining']}"
        + (f"/{limits[f'{kind}_limit']}" if f"{kind}_limit" in limits else "")
        + f" {kind} left"
        for kind in ("requests", "tokens")
        if f"{kind}_remaining" in limits
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _rate_limited(target: Target, limits: Mapping[str, Any]) -> str:
    host = target.host or "the server"
    when = f" until {limits['reset_at']}" if "reset_at" in limits else " (no reset time given)"
    page = tier_page(target.provider) or "the provider's plan page"
    return (
        f"HTTP 429: {host} is rate-limiting this key{when}; BYOK requests count against your "
        f"{_name(target.provider)} account's own limits, which a higher plan or tier raises: {page}"
    )


def classify(target: Target, code: int, body: bytes, limits: Mapping[str, Any]) -> tuple[str, str]:
    """(status, reason) for one answer."""
    host = target.host or "the server"
    versioned = _versioned(target.provider)
    if versioned and version_refused(code, body):
        why = f"HTTP {code}: {host} refuses api-version {_api_version(target)}, so Cursor's requests fail there too"
        return REFUSED, why + "; try another with --azure-api-version, as listed for your resource in Azure"
    if target.deployment:
        return _deployment_status(target, code, body)
    if 200 <= code < 300:
        return VERIFIED, f"HTTP {code}: {host} accepted the key{_limits_text(limits)}"
    if code in (401, 403):
        return INVALID, f"HTTP {code}: {host} rejected the key"
    if code == 429:
        return RATE_LIMITED, _rate_limited(target, limits)
    if 300 <= code < 400:
        return UNKNOWN, f"HTTP {code}: redirect not followed, so the key was not sent on"
    if code == 404:
        what = "endpoint (or --azure-api-version)" if versioned else "base URL"
        return UNKNOWN, f"HTTP 404: {host} has no model list at {urlsplit(target.url or '').path}: check the {what}"
    return UNKNOWN, f"HTTP {code} from {host}: cannot tell"


def _versioned(provider: str) -> bool:
    """The provider's requests carry an api-version (Azure's)."""
    record = registry().get(provider)
    return bool(record and record.probe and record.probe.api_version)


def _deployment_status(target: Target, code: int, body: bytes) -> tuple[str, str]:
    host = target.host or "the server"
    name = _name_shown(unquote(urlsplit(target.url or "").path.split("/")[-3]))  # .../deployments/NAME/chat/...
    if code in (401, 403):
        return INVALID, f"HTTP {code}: {host} rejected the key"
    if code == 404:
        gone = "DeploymentNotFound" in _error_text(body)
        why = f"deployment {name} does not exist" if gone else f"no deployment {name} (or the endpoint is wrong)"
        return REFUSED, f"HTTP 404 from {host}: {why}; copy the name from Azure > your resource > Deployments"
    if code == 429:
        return RATE_LIMITED, _rate_limited(target, {})
    if code == 400 or 200 <= code < 300:
        version = _api_version(target)
        return VERIFIED, f"deployment {name} answers with api-version {version} (the empty test request runs no model)"
    return UNKNOWN, f"HTTP {code} from {host} for deployment {name}: cannot tell"


def _name_shown(name: Any) -> Any:
    """A deployment name as shown: masked when it is a key pasted in the deployment box."""
    return mask(name) if isinstance(name, str) and key_shapes.holds_a_key(name) else name


def stopped(target: Target, allowed: float) -> str:
    return (
        f"stopped at the {allowed:.0f} s deadline of each check: {target.host or 'the server'} answers too slowly "
        "or stalls, so Cursor's requests there are slow too"
    )


def verify_keys(
    profile: Profile,
    *,
    urls: Mapping[str, str] | None = None,
    api_version: str = AZURE_API_VERSION,
    timeout: float = TIMEOUT_S,
    slow_s: float = SLOW_S,
    deadline_s: float = DEADLINE_S,
) -> list[Verification]:
    """Check every key online, in parallel, in a stable order, all within `deadline_s` (each request's sockets
    are cut at the deadline; a check still running then, stuck in a name lookup say, is reported as stopped and
    left to end on its own: its thread is a daemon, so it never holds the process). `urls` is for tests."""
    todo = targets(profile, urls, check_api_version(api_version))
    deadline = time.monotonic() + min(deadline_s, DEADLINE_S)
    results: list[Verification | None] = [None] * len(todo)

    def run(i: int, target: Target) -> None:
        results[i] = verify(target, timeout, slow_s, deadline)

    threads = [threading.Thread(target=run, args=(i, t), daemon=True) for i, t in enumerate(todo)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0) + 1.0)  # a cut request ends at once; 1 s to say so
    allowed = min(deadline_s, DEADLINE_S)
    return [
        found
        or Verification(
            t.provider,
            t.field,
            UNKNOWN,
            stopped(t, allowed),
            safe_url(t.url) if t.url else None,
            t.host,
            int(allowed * 1000),
            True,
        )  # fmt: skip
        for t, found in zip(todo, results, strict=True)
    ]


# --- documents ----------------------------------------------------------------------------


def providers_with_keys(profile: Profile) -> list[str]:
    """The providers a key is stored for, in the registry's order."""
    return [p.name for p in registry() if any(_key(profile, f) for f in p.settable_key_fields)]


def installation_checks(inst: Installation, profile: Profile, rows: Mapping[str, Any]) -> list[Check]:
    """What the Cursor version and this tool's own journals tell: backups off, keys Cursor deleted, hidden keys."""
    providers = {SECRET_PREFIX + name: field.split(".")[0] for field, name in registry().key_row_names.items()}
    out = [
        Check(providers.get(row, "general"), KEY_GONE, LIKELY, note, _gone_fix(providers.get(row)))
        for row, note in vanished_keys(inst.db_path, rows).items()
    ]
    for provider in registry():
        if unseen_keys(profile, provider):
            fix = f"after a move, enter the key again in Cursor Settings > Models > {provider.title}"
            out.append(Check(provider.name, AZURE_REFUSED, NOTE, unseen_message(provider), fix))
    if cursor_facts(inst, rows).backups is False:
        out.append(
            Check(
                "general",
                UNDO,
                NOTE,
                "Cursor keeps no state.vscdb.backup here (backups are off from 3.7 on): cursor-byok's undo "
                "journal is the only way back from a bad write",
                "keep the journals (`cursor-byok undo --list`) until you have checked a write in Cursor",
            )
        )
    return out


def _gone_fix(provider: str | None) -> str:
    again = f"store it again with {set_key(provider)}" if provider else "store it again"
    return f"{again} (or import the bundle again), with the --safe-storage that Cursor uses"


# --- one row per provider and symptom, in a fixed order ------------------------------------------

UNDO = "undo"


def provider_order() -> tuple[str, ...]:
    """The registry's providers, then the two groups that are not a provider."""
    return (*registry().names, "models", "general")


def __getattr__(name: str) -> Any:
    """PROVIDER_ORDER, OFFICIAL_URLS: views of the current provider registry, never frozen at import."""
    if name == "PROVIDER_ORDER":
        return provider_order()
    if name == "OFFICIAL_URLS":
        return dict(registry().official_urls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SYMPTOM_ORDER = (S401, S403, S429, NOT_SHOWN, AZURE_REFUSED, KEY_GONE, IGNORED, SLOW, TAB, UNDO, UNKNOWN_ROWS)
_WORST_FIRST = (LIKELY, NOTE, OK)


def in_order(checks: list[Check]) -> list[Check]:
    """One check per (provider, symptom): providers in provider_order(), then symptoms in the error table's order.

    Two findings for the same provider and symptom (an Azure endpoint note and an unseen Azure key, say)
    become one row: the worst verdict, with the details and fixes of every check that is not ok.
    """
    groups: dict[tuple[str, str], list[Check]] = {}
    for check in checks:
        groups.setdefault((check.provider, check.symptom), []).append(check)
    return sorted((_merged(group) for group in groups.values()), key=_place)


def _place(check: Check) -> tuple[int, int]:
    def rank(order: tuple[str, ...], value: str) -> int:
        return order.index(value) if value in order else len(order)

    return rank(provider_order(), check.provider), rank(SYMPTOM_ORDER, check.symptom)


def _merged(group: list[Check]) -> Check:
    worst = min((c.verdict for c in group), key=lambda v: _WORST_FIRST.index(v) if v in _WORST_FIRST else 0)
    kept = [c for c in group if c.verdict != OK] or group
    detail = "; ".join(dict.fromkeys(c.detail for c in kept))
    fix = "; ".join(dict.fromkeys(c.fix for c in kept if c.fix))
    return replace(kept[0], verdict=worst, detail=detail, fix=fix)
