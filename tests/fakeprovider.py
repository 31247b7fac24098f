"""A fake model-listing server for OpenAI, Anthropic, Google and Azure, on 127.0.0.1.

Each provider lives under its own path, checks the auth header that provider
uses, and answers 200 with a model list for a key it knows, 401 otherwise. It
records every request (method, path, query and headers) so a test can assert
exactly what was sent, and that no key ever appeared in a URL.

    with FakeProvider(known={"openai": key}) as fake:
        fake.base("openai")  # -> "http://127.0.0.1:PORT/openai-api/v1"
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Mapping
from urllib.parse import parse_qs, urlsplit

# provider -> (base path a client is given, path it must then request)
ROUTES = {
    "openai": ("/openai-api/v1", "/openai-api/v1/models"),
    "anthropic": ("/anthropic", "/anthropic/v1/models"),
    "google": ("/google", "/google/v1beta/models"),
    "azure": ("", "/openai/models"),
}
REDIRECT_PATH = "/redirect/v1"
BROKEN_PATH = "/broken/v1"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names

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
    return None


class FakeProvider:
    """Context manager: a ThreadingHTTPServer on a random port, served from a thread."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def base(self, provider: str) -> str:
        return self.root + ROUTES[provider][0]

    def __enter__(self) -> "FakeProvider":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def answer(self, path: str, query: dict, headers: Mapping[str, str]) -> tuple[int, dict, dict]:
        """(status, extra headers, body) for one GET."""
        if path.startswith(REDIRECT_PATH):
            return 302, {"Location": self.root + ROUTES["openai"][1]}, {}
        if path.startswith(BROKEN_PATH):
            return 500, {}, {"error": "server error"}
        for provider, (_base, models_path) in ROUTES.items():
            if path == models_path:
                key = presented_key(provider, headers, query)
                if key is not None and key == self.known.get(provider):
                    return 200, {}, {"data": [{"id": f"{provider}-model-1"}]}
                return 401, {}, {"error": {"message": "invalid key"}}
        return 404, {}, {"error": "no such path"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
                fake.record(Seen("GET", parts.path, query, headers))
                status, extra, body = fake.answer(parts.path, query, headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - a key check must never POST
                fake.record(Seen("POST", urlsplit(self.path).path, {}, dict(self.headers.items())))
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
