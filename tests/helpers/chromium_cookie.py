"""Make Debian's `chromium` write one encrypted cookie, and read it back.

A page on 127.0.0.1 sets a persistent cookie; headless chromium loads it with
`--dump-dom`, which exits once the page has loaded, and chromium writes its
cookie database (`Default/Cookies`) on the way out. The cookie's
`encrypted_value` is real OSCrypt ciphertext from a producer nobody here wrote.

Chromium runs in a session of its own, so `run_chromium` can kill whatever it
left behind (zygote, renderer, GPU process) by that session's process group.
Its two crashpad handlers start sessions of their own, so each run also puts a
unique marker in chromium's environment and ends, by pid, any process still
carrying it. (`--disable-crashpad-for-testing` would keep crashpad away, but
then the network service crashes on an "FD ownership violation".)
"""

from __future__ import annotations

import ctypes
import hashlib
import http.server
import os
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
COOKIE_NAME = "canary"
HOST = "127.0.0.1"
HOST_HASH_SINCE_VERSION = 24  # cookie DB version from which the plaintext starts with SHA-256(host_key)
RUN_TIMEOUT = 60
STRAGGLER_GRACE = 5.0  # seconds crashpad gets to notice chromium has gone
RUN_MARKER_ENV = "CURSOR_BYOK_CHROMIUM_RUN"
PR_SET_PDEATHSIG = 1


class ChromiumFailed(AssertionError):
    """Chromium did not leave the cookie we asked for."""


@dataclass
class CookieServer:
    url: str
    paths: list[str]  # every path requested, in order


@contextmanager
def cookie_server(value: str) -> Iterator[CookieServer]:
    """A page on 127.0.0.1 (random port) whose every response sets `canary=value` for an hour."""
    paths: list[str] = []
    body = b"<!doctype html><title>cookie</title><p>cookie set</p>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Set-Cookie", f"{COOKIE_NAME}={value}; Max-Age=3600; Path=/")
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="cookie-server", daemon=True)
    thread.start()
    try:
        yield CookieServer(url=f"http://{HOST}:{server.server_address[1]}/", paths=paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _die_with_parent() -> None:
    """Own session (so the group can be killed) and SIGKILL if the test process dies first."""
    os.setsid()
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left in the group


def _marked_pids(marker: bytes) -> list[int]:
    """Live processes whose environment holds `marker` (a zombie's environment reads empty)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _end_marked(marker: bytes) -> None:
    """Give marked stragglers a moment to exit on their own, then SIGKILL each by pid."""
    deadline = time.monotonic() + STRAGGLER_GRACE
    while (pids := _marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_chromium(
    chromium: str, url: str, user_data_dir: Path, password_store: str, env: dict[str, str], log: Path
) -> int:
    """Load `url` once in a fresh profile and wait for chromium to exit; returns its exit code.

    Its output goes to `log`. On a timeout, and always afterwards, every
    process this run started is ended (see the module docstring).
    """
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--password-store={password_store}",
        f"--user-data-dir={user_data_dir}",
        "--dump-dom",
        url,
    ]
    token = secrets.token_hex(16)
    marker = f"{RUN_MARKER_ENV}={token}".encode()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            env={**env, RUN_MARKER_ENV: token},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        try:
            return proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ChromiumFailed(f"chromium did not exit within {RUN_TIMEOUT} s\n{log_tail(log)}") from None
        finally:
            _kill_group(proc.pid)
            proc.wait(timeout=10)
            _end_marked(marker)


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no chromium output)"
    return "chromium output, last lines:\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class StoredCookie:
    db_version: int
    host_key: str
    value: str  # the clear-text column: empty when the cookie is encrypted
    encrypted_value: bytes


def read_cookie(cookies_db: Path, name: str = COOKIE_NAME) -> StoredCookie:
    """The one cookie called `name` in chromium's cookie database, opened read-only."""
    if not cookies_db.exists():
        raise ChromiumFailed(f"{cookies_db} was not written")
    with closing(sqlite3.connect(f"file:{cookies_db}?mode=ro", uri=True)) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        rows = conn.execute("SELECT host_key, value, encrypted_value FROM cookies WHERE name = ?", (name,)).fetchall()
    if len(rows) != 1:
        raise ChromiumFailed(f"{cookies_db}: expected one {name!r} cookie, found {len(rows)}")
    host_key, value, encrypted = rows[0]
    return StoredCookie(db_version=int(version), host_key=host_key, value=value, encrypted_value=bytes(encrypted))


def cookie_plaintext(cookie: StoredCookie, decrypted: bytes) -> bytes:
    """The cookie value from its decrypted bytes: from DB version 24 on, minus the leading SHA-256 of the host."""
    if cookie.db_version < HOST_HASH_SINCE_VERSION:
        return decrypted
    digest = hashlib.sha256(cookie.host_key.encode("utf-8")).digest()
    if decrypted[: len(digest)] != digest:
        raise AssertionError(f"decrypted cookie does not start with SHA-256({cookie.host_key!r})")
    return decrypted[len(digest) :]
