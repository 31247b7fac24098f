"""Helpers for the export / import / undo tests: CLI runs, database snapshots, direct decoding.

The decoder here is written against cursor-storage.md with `cryptography`
primitives, not with cursor_byok.safestorage, so a round trip is checked by
code that did not produce the ciphertext.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cursor_byok.bundle.age_envelope import generate_identity, seal
from cursor_byok.bundle.document import FORMAT
from cursor_byok.cli import main
from cursor_byok.cursor.rows import BLOB_KEY, PLAIN_PREFIX, SECRET_PREFIX
from cursor_byok.providers import registry
from helpers.cli import cli_runner as runner

# Blob paths of the keys that Cursor 2.x keeps in the settings blob (a session token is never set by hand).
BLOB_KEY_PATHS = {field: slot.blob for field, slot in registry().key_slots.items() if slot.blob and slot.settable}
# Top-level blob fields that hold BYOK data; every other field must survive an import untouched.
BYOK_TOP_FIELDS = tuple(dict.fromkeys(path[0] for path in registry().blob_paths.values()))
MODEL_FIELDS = ("userAddedModels", "modelOverrideEnabled", "modelOverrideDisabled", "modelConfig")
KNOWN_PROVIDERS = registry().names
ONLY_KNOWN = [arg for p in KNOWN_PROVIDERS for arg in ("--only", p)]

# A second machine: its own secret, no provider keys yet, its own account data in the blob.
TARGET_SECRET = {"windows": bytes(range(180, 212))}
TARGET_SETTINGS = {
    "useOpenAIKey": False,
    "workbench.experimental": {"nested": [1, 2.5, None, "é✓"], "on": True, "tiny": 1e-7},
    "aiSettings": {
        "teamPolicyVersion": 3,
        "modelConfig": {"composer": {"modelName": "gpt-4.1", "maxMode": True, "thinking": "high"}},
    },
}
TARGET_EXTRA = {"deepseekKey": "ds-made-up-target-key-0123456789abcdef"}


def make_target(make_sample_dir, generation: str, **kw):
    """Another machine of `generation`: no provider keys, a different machine secret, an unrelated secret row."""
    kw.setdefault("keys", {})
    kw.setdefault("extras", {} if generation == "plaintext" else dict(TARGET_EXTRA))
    kw.setdefault("settings", json.loads(json.dumps(TARGET_SETTINGS)))
    kw.setdefault("secret", TARGET_SECRET.get(generation, b"target-machine-password-9"))
    return make_sample_dir(generation, seed=kw.pop("seed", 99), **kw)


# --- running the CLI ----------------------------------------------------------------------


def run(*args: str, input: bytes | str | None = None):
    return runner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def options(sd) -> list[str]:
    """Group options that decode this sample dir: basic for plaintext/basic, the password backend otherwise."""
    opts = ["--user-data-dir", str(sd.udd)]
    if sd.generation in ("plaintext", "basic"):
        return opts + ["--safe-storage", "basic"]
    return opts + sd.password_options(sd.udd.parent / f"{sd.udd.name}.machine-secret")


def wrong_password_options(sd) -> list[str]:
    """Options for sd's scheme with a machine secret that is not sd's."""
    scheme = {"v11": "linux", "macos": "macos", "windows": "windows"}[sd.generation]
    wrong = bytes(32).hex() if scheme == "windows" else "not-this-machine-password"
    path = sd.udd.parent / f"{sd.udd.name}.wrong-secret"
    path.write_text(wrong + "\n")
    return [
        "--user-data-dir",
        str(sd.udd),
        "--safe-storage",
        "password",
        "--safe-storage-password-file",
        str(path),
        "--safe-storage-scheme",
        scheme,
    ]


def cli_process(args: list[str], *, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """`python -m cursor_byok ARGS` in a real process (failing with TimeoutExpired after `timeout` s)."""
    argv = [sys.executable, "-m", "cursor_byok", *map(str, args)]
    return subprocess.run(argv, env=env or dict(os.environ), timeout=timeout, **kw)


def identity(folder: Path, name: str = "identity.txt") -> tuple[Path, str]:
    """(age identity file, its age1... recipient), made with pyrage."""
    secret, public = generate_identity()
    path = folder / name
    path.write_text(f"# made-up test identity\n{secret}\n")
    return path, public


def bundle_of(tmp_path: Path, providers: dict, name: str = "b.age") -> tuple[Path, Path]:
    """(bundle, identity) for a hand-made document: what an attacker could send."""
    ident, recipient = identity(tmp_path, f"{name}.id")
    doc = {"format": FORMAT, "version": 1, "created": "2026-01-01T00:00:00Z", "profile": {"providers": providers}}
    path = tmp_path / name
    path.write_bytes(seal(doc, passphrase=None, recipients=[recipient]))
    return path, ident


def export(sd, bundle: Path, recipient: str, *extra: str) -> Path:
    result = run(*options(sd), "export", "-o", bundle, "-r", recipient, *extra)
    assert result.exit_code == 0, result.stderr
    return bundle


# The sample installs' Azure resource: a new endpoint for every target that has none, which an import
# accepts only by name (the tests of that rule use other hosts).
SAMPLE_ENDPOINTS = ("--allow-endpoint", "contoso-ai.openai.azure.com", "--allow-endpoint", "localhost")


def import_(sd, bundle: Path, ident: Path, *extra: str):
    return run(*options(sd), "import", bundle, "-i", ident, *SAMPLE_ENDPOINTS, *extra)


def list_json(sd, *extra: str) -> dict:
    result = run(*options(sd), "list", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def revealed(doc: dict) -> dict[str, str]:
    """Field -> value of every key in a `list --json --reveal` document."""
    out = {}
    for provider, entry in doc["providers"].items():
        for name in registry().key_names:
            if entry.get(name):
                out[f"{provider}.{name}"] = entry[name]["value"]
    for extra in doc["extra_secrets"]:
        out["extra." + extra["name"].rsplit("/", 1)[-1]] = extra["key"]["value"]
    return out


def fingerprints(doc: dict) -> dict[str, str]:
    out = {}
    for provider, entry in doc["providers"].items():
        for name in registry().key_names:
            if entry.get(name):
                out[f"{provider}.{name}"] = entry[name]["fingerprint"]
    for extra in doc["extra_secrets"]:
        out["extra." + extra["name"].rsplit("/", 1)[-1]] = extra["key"]["fingerprint"]
    return out


def expected_values(sd) -> dict[str, str]:
    """Field -> plain value of every key a sample dir was built with."""
    return {**sd.keys, **{"extra." + n: v for n, v in sd.extras.items()}}


# --- database snapshots -------------------------------------------------------------------


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def dump(db: Path) -> dict[str, Any]:
    """Every row of both tables with its SQLite type, and the schema version: the content, not the bytes."""
    conn = _ro(db)
    try:
        out: dict[str, Any] = {"user_version": conn.execute("PRAGMA user_version").fetchone()[0]}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in ("ItemTable", "cursorDiskKV"):
            if table not in tables:  # no global database up to Cursor 0.42 has cursorDiskKV
                continue
            rows = conn.execute(f"SELECT key, typeof(value), value FROM {table} ORDER BY key").fetchall()
            out[table] = {k: (t, v) for k, t, v in rows}
        return out
    finally:
        conn.close()


def items(db: Path) -> dict[str, Any]:
    return {k: v for k, (_t, v) in dump(db)["ItemTable"].items()}


def snapshot(db: Path) -> tuple[str, dict]:
    """(sha256 of the main file, content dump): equal before and after means nothing was written."""
    return hashlib.sha256(db.read_bytes()).hexdigest(), dump(db)


def assert_unchanged(db: Path, before: tuple[str, dict]) -> None:
    after = snapshot(db)
    assert after[1] == before[1], "database content changed"
    assert after[0] == before[0], "main database file changed"
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "a write left frames in -wal"


def changed_rows(before: dict, after: dict, table: str = "ItemTable") -> set[str]:
    keys = set(before[table]) | set(after[table])
    return {k for k in keys if before[table].get(k) != after[table].get(k)}


def journals(data_dir: Path) -> list[Path]:
    folder = data_dir / "journals"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


# --- decoding, independent of cursor_byok.safestorage -----------------------------------------


def buffer_bytes(text: str) -> bytes:
    """The bytes of Electron's `{"type":"Buffer","data":[...]}` text; the exact no-space form is required."""
    doc = json.loads(text)
    assert doc["type"] == "Buffer"
    assert text == json.dumps(doc, separators=(",", ":")), "Buffer JSON is not in Electron's exact form"
    return bytes(doc["data"])


def oscrypt_decrypt(generation: str, secret: bytes, blob: bytes) -> str:
    """Decrypt one OSCrypt value the way Chromium does for this storage generation."""
    if generation == "windows":
        assert blob[:3] == b"v10"
        return AESGCM(secret).decrypt(blob[3:15], blob[15:], None).decode("utf-8")
    prefix, password, iterations = {
        "basic": (b"v10", b"peanuts", 1),
        "v11": (b"v11", secret, 1),
        "macos": (b"v10", secret, 1003),
    }[generation]
    assert blob[:3] == prefix, f"{generation} rows start with {prefix!r}, got {blob[:3]!r}"
    key = hashlib.pbkdf2_hmac("sha1", password, b"saltysalt", iterations, 16)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(b" " * 16)).decryptor()
    padded = decryptor.update(blob[3:]) + decryptor.finalize()
    assert 1 <= padded[-1] <= 16 and padded.endswith(bytes([padded[-1]]) * padded[-1]), "bad PKCS#7 padding"
    return padded[: -padded[-1]].decode("utf-8")


def get_path(doc: dict, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def stored_keys(sd) -> dict[str, str]:
    """Field -> plain value of every key in sd's database, decrypted with sd's own machine secret."""
    rows = items(sd.db)
    out: dict[str, str] = {}
    for field, name in registry().key_row_names.items():
        secret_row, plain_row = rows.get(SECRET_PREFIX + name), rows.get(PLAIN_PREFIX + name)
        if secret_row is not None and buffer_bytes(secret_row):
            out[field] = oscrypt_decrypt(sd.generation, sd.sample.secret, buffer_bytes(secret_row))
        elif plain_row:
            out[field] = plain_row
    blob = json.loads(rows[BLOB_KEY])
    for field, path in BLOB_KEY_PATHS.items():
        value = get_path(blob, path)
        if value and field not in out:
            out[field] = value
    for row, value in rows.items():
        name = row[len(SECRET_PREFIX) :]
        if row.startswith(SECRET_PREFIX) and name not in registry().key_row_names.values() and buffer_bytes(value):
            out["extra." + name] = oscrypt_decrypt(sd.generation, sd.sample.secret, buffer_bytes(value))
    return out


def blob_of(db: Path) -> dict:
    return json.loads(items(db)[BLOB_KEY])


def assert_blob_preserved(before_text: str, after_text: str) -> None:
    """Every blob field that is not BYOK data is byte-identical, and the old key order is kept."""
    before, after = json.loads(before_text), json.loads(after_text)
    assert [k for k in after if k in before] == list(before), "blob key order changed"
    for key, value in before.items():
        if key in BYOK_TOP_FIELDS:
            continue
        if key == "aiSettings":
            assert [k for k in after[key] if k in value] == list(value)
            for inner, inner_value in value.items():
                if inner not in MODEL_FIELDS:
                    assert after[key][inner] == inner_value, f"aiSettings.{inner} changed"
            for surface, entry in value.get("modelConfig", {}).items():
                kept = {k: v for k, v in after[key]["modelConfig"][surface].items() if k != "modelName"}
                assert kept == {k: v for k, v in entry.items() if k != "modelName"}, surface
            continue
        raw = json.dumps({key: value}, separators=(",", ":"), ensure_ascii=False)[1:-1]
        assert raw in after_text, f"blob field {key!r} is not byte-identical"
        assert after[key] == value


def undo(target, *args: str):
    return run(*options(target), "undo", "--yes", *args)


def rewrite(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))
