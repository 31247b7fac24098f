"""Writes on a sample dir through the command line in process, and what they left: the options that decode
the sample, the database's bytes, the undo journals, the settings blob; refusals that change nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from cursor_byok.cli import Exit, main
from cursor_byok.cursor.rows import BLOB_KEY
from helpers.cli import cli_runner as runner


def options(sd, tmp_path: Path) -> list[str]:
    """Group options that decode this sample: basic for plaintext/basic, the password backend for v11."""
    opts = ["--user-data-dir", str(sd.udd)]
    if sd.generation == "v11":
        return opts + sd.password_options(tmp_path / f"machine-secret-{sd.udd.name}")
    return opts + ["--safe-storage", "basic"]


def cli(sd, tmp_path, *args, input=None, env=None):
    return runner().invoke(main, [*options(sd, tmp_path), *args], input=input, env=env, catch_exceptions=False)


def listed(sd, tmp_path) -> dict:
    result = cli(sd, tmp_path, "list", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def disk_state(db: Path) -> str:
    """SHA-256 over the database and its -wal: equal means nothing was written."""
    h = hashlib.sha256(db.read_bytes())
    wal = db.with_name(db.name + "-wal")
    h.update(wal.read_bytes() if wal.exists() else b"")
    return h.hexdigest()


def journal_count(data: Path) -> int:
    folder = data / "journals"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def blob(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        (text,) = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()
    finally:
        conn.close()
    return json.loads(text)


def assert_secret_free(result, *values: str) -> None:
    """No key value, and no long piece of one, in stdout or stderr."""
    out = result.stdout + result.stderr
    for value in values:
        assert value not in out
        assert value[8:-4] not in out


def assert_refused(result, sd, before: str, data: Path, code: Exit = Exit.INPUT) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("cursor-byok: error: ")
    assert len(result.stderr.strip().splitlines()) == 1 or "warning:" in result.stderr
    assert disk_state(sd.db) == before
    assert journal_count(data) == 0
