"""A fake model-listing server for OpenAI, Anthropic, Google and Azure, on 127.0.0.1.

Each provider lives under its own path, checks the auth header that provider
uses, and answers as that provider does: 200 with a model list for a key it
knows, 401 otherwise; 403, 429 (with that provider's rate-limit headers or
body) or a slow answer when a test asks for them. Azure also checks the
`api-version` (400 "API version not supported" for one it does not serve) and
answers the deployment probe (404 DeploymentNotFound, or 400 for the empty
request). It records every request (method, path, query, headers, body), and a
proxy CONNECT, so a test can assert exactly what was sent where, and that no
key ever appeared in a URL. In slow-drip mode (`drip={"openai": 0.5}`) it sends
that provider's whole answer, status line and headers included, one byte every
so many seconds: each read is quick, the answer never ends (at most DRIP_LIMIT_S).

    with FakeProvider(known={"openai": key}, limited={"openai"}) as fake:
        fake.base("openai")  # -> "http://127.0.0.1:PORT/openai-api/v1"
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

# provider -> (base path a client is given, path it must then request)
ROUTES = {
    "openai": ("/openai-api/v1", "/openai-api/v1/models"),
    "anthropic": ("/anthropic", "/anthropic/v1/models"),
    "google": ("/google", "/google/v1beta/models"),
    "azure": ("", "/openai/models"),
}
DEPLOYMENT_PREFIX = "/openai/deployments/"
REDIRECT_PATH = "/redirect/v1"
BROKEN_PATH = "/broken/v1"
AZURE_VERSIONS = ("2024-10-21", "2025-04-01-preview")
DRIP_LIMIT_S = 60.0  # a dripping answer gives up after this long, so the server always shuts down


def rate_limited(provider: str, now: datetime) -> tuple[dict, dict]:
    """(headers, body) of each provider's 429, as its documentation describes them."""
    if provider == "openai":
        headers = {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m30s",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "2s",
        }
        return headers, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    if provider == "anthropic":
        reset = (now + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "retry-after": "40",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
        }
        return headers, {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests"}}
    if provider == "google":
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
        return {}, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota", "details": [retry]}}
    if provider == "azure":
        headers = {"retry-after": format_datetime(now + timedelta(seconds=20), usegmt=True)}
        headers["x-ratelimit-remaining-requests"] = "0"
        return headers, {"error": {"code": "429", "message": "Requests have exceeded the call rate limit"}}
    raise KeyError(provider)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes = b""

    @property
    def target(self) -> str:
        return self.path + ("?" + "&".join(f"{k}={v[0]}" for k, v in self.query.items()) if self.query else "")


def presented_key(provider: str, headers: Mapping[str, str], query: dict) -> str | None:
    """The key a request carries the way that provider expects it, or None."""
    h = {k.lower(): v for k, v in headers.items()}
    if provider == "openai":
        auth = h.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
    if provider == "anthropic":
        return h.get("x-api-key") if h.get("anthropic-version") else None
    if provider == "google":
        return h.get("x-goog-api-key")
    if provider == "azure":
        return h.get("api-key") if query.get("api-version") else None
    auth = h.get("authorization", "")  # a made-up provider (tests' scratch registries): a bearer token
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class Behaviour:
    """What the fake does beyond 200/401: providers that answer 403 or 429, delays, Azure's deployments."""

    forbidden: set = field(default_factory=set)
    limited: set = field(default_factory=set)
    delay: dict = field(default_factory=dict)
    deployments: tuple = ("gpt-4o-prod",)
    drip: dict = field(default_factory=dict)  # provider -> seconds between the bytes of its answer


class FakeProvider:
    """Context manager: a ThreadingHTTPServer on a random port, served from a thread."""

    def __init__(
        self,
        known: Mapping[str, str],
        *,
        forbidden: Iterable[str] = (),
        limited: Iterable[str] = (),
        delay: Mapping[str, float] | None = None,
        drip: Mapping[str, float] | None = None,
        deployments: Iterable[str] = ("gpt-4o-prod",),  # the sample install's deployment
        routes: Mapping[str, tuple[str, str]] | None = None,  # more providers (a scratch registry's), as ROUTES
    ) -> None:
        self.known = dict(known)
        self.routes = {**ROUTES, **(routes or {})}
        self.behaviour = Behaviour(
            set(forbidden), set(limited), dict(delay or {}), tuple(deployments), dict(drip or {})
        )
        self.closing = threading.Event()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # server_close() then waits for every handler: a delayed answer whose client gave up
        # fails inside its own test, not with a traceback on a later test's stderr
        self.server.daemon_threads = False
        # shutdown() waits for the serve loop's next poll: 0.05 s instead of the default 0.5 s per test
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def root(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def base(self, provider: str) -> str:
        return self.root + self.routes[provider][0]

    def urls(self) -> dict[str, str]:
        """The provider_urls a test passes to doctor: every official base URL pointed here."""
        return {p: self.base(p) for p in ("openai", "anthropic", "google")}

    def __enter__(self) -> "FakeProvider":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()  # a dripping answer stops at its next byte
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def answer(self, method: str, path: str, query: dict, headers: Mapping[str, str]) -> tuple[int, dict, dict]:
        """(status, extra headers, body) for one request."""
        if path.startswith(REDIRECT_PATH):
            return 302, {"Location": self.root + ROUTES["openai"][1]}, {}
        if path.startswith(BROKEN_PATH):
            return 500, {}, {"error": "server error"}
        if path.startswith(DEPLOYMENT_PREFIX) and method == "POST":
            return self.azure_deployment(path, query, headers)
        for provider, (_base, models_path) in self.routes.items():
            if path == models_path and method == "GET":
                return self.models(provider, query, headers)
        if method != "GET":
            return 405, {}, {"error": "a model list is read with GET"}
        return 404, {}, {"error": {"code": "404", "message": "Resource not found"}}

    def drip_of(self, path: str) -> float:
        """Seconds between the bytes of the answer to this path (0: send it at once)."""
        for provider, (_base, models_path) in self.routes.items():
            if path == models_path:
                return self.behaviour.drip.get(provider, 0.0)
        return self.behaviour.drip.get("azure", 0.0) if path.startswith(DEPLOYMENT_PREFIX) else 0.0

    def models(self, provider: str, query: dict, headers: Mapping[str, str]) -> tuple[int, dict, dict]:
        time.sleep(self.behaviour.delay.get(provider, 0.0))
        if provider == "azure" and query.get("api-version", [""])[0] not in AZURE_VERSIONS:
            return 400, {}, {"error": {"code": "BadRequest", "message": "API version not supported"}}
        key = presented_key(provider, headers, query)
        if key is None or key != self.known.get(provider):
            return 401, {}, {"error": {"message": "invalid key"}}
        if provider in self.behaviour.forbidden:
            return 403, {}, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "not allowed"}}
        if provider in self.behaviour.limited:
            extra, body = rate_limited(provider, datetime.now(timezone.utc))
            return 429, extra, body
        extra = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499"}
        return 200, extra if provider == "openai" else {}, {"data": [{"id": f"{provider}-model-1"}]}

    def azure_deployment(self, path: str, query: dict, headers: Mapping[str, str]) -> tuple[int, dict, dict]:
        name = unquote(path[len(DEPLOYMENT_PREFIX) :].split("/")[0])
        if query.get("api-version", [""])[0] not in AZURE_VERSIONS:
            return 400, {}, {"error": {"code": "BadRequest", "message": "API version not supported"}}
        if presented_key("azure", headers, query) != self.known.get("azure"):
            return 401, {}, {"error": {"code": "401", "message": "Access denied due to invalid subscription key"}}
        if name not in self.behaviour.deployments:
            message = "The API deployment for this resource does not exist."
            return 404, {}, {"error": {"code": "DeploymentNotFound", "message": message}}
        return 400, {}, {"error": {"code": None, "message": "'messages' is a required property", "param": None}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
                body = self.rfile.read(int(headers.get("content-length") or 0))
                fake.record(Seen(method, parts.path, query, headers, body))
                status, extra, doc = fake.answer(method, parts.path, query, headers)
                data = json.dumps(doc).encode()
                pause = fake.drip_of(parts.path)
                if pause:
                    self._drip(status, extra, data, pause)
                    return
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _drip(self, status: int, extra: dict, data: bytes, pause: float) -> None:
                """The whole answer, one byte at a time, `pause` s apart, until the client goes or time is up."""
                head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                head += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **extra}.items()]
                head += [f"Content-Length: {len(data)}", "", ""]
                answer = "\r\n".join(head).encode() + data
                give_up = time.monotonic() + DRIP_LIMIT_S
                for i in range(len(answer)):
                    if fake.closing.is_set() or time.monotonic() > give_up:
                        return
                    try:
                        self.wfile.write(answer[i : i + 1])
                        self.wfile.flush()
                    except OSError:  # the client cut the connection: what the test wants
                        return
                    fake.closing.wait(pause)
                self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802 - only Azure's empty deployment probe may POST
                self._serve("POST")

            def do_CONNECT(self) -> None:  # noqa: N802 - as an https proxy: record where, refuse the tunnel
                fake.record(Seen("CONNECT", self.path, {}, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
