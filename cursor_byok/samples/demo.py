"""`cursor-byok demo`: the whole laptop-to-laptop move on two sample installs.

Lays out an "old laptop" (macOS-style Keychain encryption, keys for every
provider, custom models, an OpenRouter gateway as the OpenAI base URL) and a "new laptop" (Linux
keyring encryption with a different machine secret; on Windows, a key
protected with the real DPAPI for the current user), then runs the real
command line on them, one subprocess per step, printing each command.
Nothing outside a temporary folder is read or written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..bundle.age_envelope import generate_identity
from ..cursor.rows import SECRET_PREFIX
from ..private_files import write_private
from ..results import Result
from ..safestorage import oscrypt
from .installs import Sample, build_user_data_dir, default_settings, hex_key, make_key, sample_keys

WINDOWS = sys.platform == "win32"


def _machine_secret() -> bytes:
    return secrets.token_urlsafe(18).encode()  # 24 characters, like a Keychain password


def lay_out(root: Path) -> dict[str, Path]:
    """Both laptops, their machine-secret files and an age identity, under root."""
    old_secret, new_secret = _machine_secret(), _machine_secret()
    old = Sample(
        generation="macos",
        secret=old_secret,
        keys={**sample_keys(), "openai.key": make_key("openrouter")},  # the gateway's key in the OpenAI slot
        extra_secrets={"mistralKey": hex_key()},
        azure_bedrock_rows=True,
        # Cursor's servers make the BYOK requests: a localhost server (Ollama) is out of their reach.
        settings=default_settings("https://openrouter.ai/api/v1"),
        blob_filler=250_000,
    )
    if WINDOWS:  # the new laptop is this Windows machine: its key DPAPI-protected for you, as Cursor does
        new_secret = os.urandom(32)
        new = Sample(generation="windows", secret=new_secret, settings={"useOpenAIKey": False}, seed=7)
    else:
        new = Sample(generation="v11", secret=new_secret, settings={"useOpenAIKey": False}, seed=7)
    build_user_data_dir(root / "old-laptop", old)
    new_db = build_user_data_dir(root / "new-laptop", new)
    _clear_openai_row(new_db)
    paths = {"old": root / "old-laptop", "new": root / "new-laptop"}
    paths["old_secret"] = write_private(root / "old-laptop.secret", old_secret)
    paths["new_secret"] = write_private(root / "new-laptop.secret", new_secret)
    identity, recipient = generate_identity()
    paths["identity"] = write_private(root / "new-laptop.agekey", (identity + "\n").encode())
    paths["recipient"] = Path(recipient)  # not a path: the public key text
    return paths


def _clear_openai_row(db: Path) -> None:
    """A current Cursor that once had a key and cleared it: an empty Buffer row."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO ItemTable VALUES (?, ?)", (SECRET_PREFIX + "openAIKey", oscrypt.encode_buffer_json(b""))
        )
        conn.commit()
    finally:
        conn.close()


def _group(paths: dict[str, Path], laptop: str) -> list[str]:
    if laptop == "new" and WINDOWS:
        return ["--user-data-dir", str(paths[laptop]), "--safe-storage", "dpapi"]
    scheme = "macos" if laptop == "old" else "linux"
    return [
        "--user-data-dir",
        str(paths[laptop]),
        "--safe-storage",
        "password",
        "--safe-storage-scheme",
        scheme,
        "--safe-storage-password-file",
        str(paths[f"{laptop}_secret"]),
    ]


def steps(paths: dict[str, Path], bundle: Path) -> list[tuple[str, list[str]]]:
    """(what it shows, arguments) for each step of the move."""
    old, new = _group(paths, "old"), _group(paths, "new")
    ident = ["-i", str(paths["identity"])]
    # The old laptop sends OpenAI requests through a gateway and has an Azure resource: prompts and code would go
    # to two new hosts, which an import accepts only by name.
    allow = ["--allow-endpoint", "openrouter.ai", "--allow-endpoint", "contoso-ai.openai.azure.com"]
    return [
        ("What the old laptop has (keys masked, with fingerprints)", [*old, "list"]),
        (
            "Export everything to an age bundle, encrypted to the new laptop's age key",
            [*old, "export", "-o", str(bundle), "-r", str(paths["recipient"])],
        ),
        ("Check what the bundle holds before importing it", ["list", "--bundle", str(bundle), *ident]),
        (
            "Dry run on the new laptop: the plan, nothing written",
            [*new, "import", str(bundle), *ident, *allow, "--dry-run"],
        ),
        (
            "Import for real: keys re-encrypted with the new laptop's secret",
            [*new, "import", str(bundle), *ident, *allow, "--yes"],
        ),
        ("What the new laptop has now", [*new, "list"]),
    ]


def fingerprints(args: list[str], env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "cursor_byok", *args, "list", "--json"],
        capture_output=True,
        encoding="utf-8",  # the CLI writes UTF-8 to a pipe on every OS
        env=env,
        check=True,
        timeout=300,
    ).stdout
    doc = json.loads(out)
    prints = {}
    for provider, entry in doc["providers"].items():
        for name, value in entry.items():
            if isinstance(value, dict) and value.get("fingerprint"):
                prints[f"{provider}.{name}"] = value["fingerprint"]
    for extra in doc["extra_secrets"]:
        prints[extra["name"]] = extra["key"]["fingerprint"]
    return prints


WHY_OPTIONS = (
    "Each command below names its sample install and that laptop's machine secret (--user-data-dir ... "
    "--safe-storage password ...), because a sample is not where Cursor keeps its data. On a real laptop "
    "cursor-byok finds Cursor and its secret by itself: the same commands are just `cursor-byok list`, "
    "`cursor-byok export -o keys.age`, `cursor-byok import keys.age`."
)


def _columns() -> int:
    """The width of the terminal the demo prints on; 0 when it prints on a pipe."""
    return shutil.get_terminal_size((0, 0)).columns if sys.stdout.isatty() else 0


def _width() -> dict[str, str]:
    """For each step: the demo's terminal width, which its output (on a pipe) then fits."""
    return {"CURSOR_BYOK_COLUMNS": str(_columns())} if _columns() else {}


def wrapped(text: str) -> str:
    """A sentence of the demo's own wrapped to the terminal, when there is one; a `quoted command` stays whole."""
    width = _columns()
    if not width:
        return text
    glued = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    return textwrap.fill(glued, width, break_on_hyphens=False, break_long_words=False).replace("\0", " ")


def what_now(kept: Path | None) -> str:
    """How the demo ends: the same move on real laptops, and where to look around."""
    lines = [
        "",
        "What now, on your own laptops (quit Cursor on the new one first):",
        "  old laptop:  cursor-byok export -o keys.age   (asks for a passphrase twice)",
        "  new laptop:  cursor-byok import keys.age      (shows the plan, asks first)",
        "  then:        cursor-byok list; cursor-byok doctor if a model is missing",
    ]
    if kept is None:
        lines.append(wrapped("The sample installs are deleted now; `cursor-byok demo --keep` keeps them to try undo, "
                             "audit or doctor on them, with the options shown above."))  # fmt: skip
    return "\n".join(lines)


@dataclass(frozen=True)
class DemoStep:
    title: str
    command: str
    exit_code: int


@dataclass(frozen=True)
class Fingerprints:
    key: str
    old_laptop: str
    new_laptop: str | None


@dataclass(frozen=True)
class DemoResult(Result):
    """The demo's steps and whether every key arrived with the same fingerprint (`ok`)."""

    steps: tuple[DemoStep, ...]
    fingerprints: tuple[Fingerprints, ...]
    matched: int
    ok: bool
    kept: str | None = None  # the sample folder, with --keep


def run(echo: Callable[[str], None] | None = print, keep: bool = False) -> DemoResult:
    """Run the demo, printing each step through `echo` (None: quietly)."""
    # The sample installs hold keys (made up, but shaped like real ones) and --keep leaves
    # them behind: every file and folder of the demo is private, whatever the user's umask.
    old_umask = os.umask(0o077)
    try:
        return _run(echo or (lambda _text: None), keep)
    finally:
        os.umask(old_umask)


def _run(echo: Callable[[str], None], keep: bool) -> DemoResult:
    root = Path(tempfile.mkdtemp(prefix="cursor-byok-demo-"))
    done: list[DemoStep] = []
    prints: tuple[Fingerprints, ...] = ()
    try:
        paths = lay_out(root)
        env = {**os.environ, "CURSOR_BYOK_DATA_DIR": str(root / "tool-data"), **_width()}
        for var in ("CURSOR_STATE_DB", "CURSOR_USER_DATA_DIR", "CURSOR_BYOK_SAFE_STORAGE"):
            env.pop(var, None)
        new_kind = "Windows DPAPI, protected for you" if WINDOWS else "Linux keyring scheme, another machine secret"
        echo(wrapped(f"Two sample Cursor installs under {root}: old-laptop (macOS Keychain scheme) and "
                     f"new-laptop ({new_kind}).") + f"\n{wrapped(WHY_OPTIONS)}\n")  # fmt: skip
        for title, args in steps(paths, root / "keys.age"):
            echo(f"# {title}\n$ cursor-byok {shlex.join(args)}")
            argv = [sys.executable, "-m", "cursor_byok", *args]
            res = subprocess.run(argv, capture_output=True, encoding="utf-8", errors="replace", env=env, timeout=300)
            echo((res.stdout + res.stderr).rstrip() + "\n")
            done.append(DemoStep(title, shlex.join(["cursor-byok", *args]), res.returncode))
            if res.returncode != 0:
                echo(f"step failed with exit code {res.returncode}")
                return DemoResult(tuple(done), (), 0, False, str(root) if keep else None)
        before = fingerprints(_group(paths, "old"), env)
        after = fingerprints(_group(paths, "new"), env)
        prints = tuple(Fingerprints(k.rsplit("/", 1)[-1], before[k], after.get(k)) for k in before)
        same = [p for p in prints if p.new_laptop == p.old_laptop]
        echo(f"Fingerprints matching on both laptops: {len(same)}/{len(before)}")
        for p in prints:
            sign = "==" if p.new_laptop == p.old_laptop else "!="
            echo(f"  {p.key:<20} {p.old_laptop}  {sign}  {p.new_laptop or '-'}")
        echo(what_now(root if keep else None))
        return DemoResult(tuple(done), prints, len(same), len(same) == len(before) and bool(before),
                          str(root) if keep else None)  # fmt: skip
    finally:
        if keep:
            echo(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
