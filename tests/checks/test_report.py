"""`cursor-byok report`: a redacted description of this Cursor. The canary: rows and fields planted under the BYOK
places are named (names redacted where they hold an e-mail, a URL or base64), and none of their values shows, on
every fixture generation (tests/fixtures/cursor-* and the sample installs of each storage generation)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.paths import FIXTURES
from helpers.transfer import run, snapshot

from cursor_byok.checks.report import redact
from cursor_byok.cursor.rows import BLOB_KEY
from cursor_byok.samples.installs import GENERATIONS, REAL_LAYOUTS

DB = "User/globalStorage/state.vscdb"
CANARY = "CANARY-value-7f3a9c"  # no value may show; every planted value contains it
EMAIL = "alice.canary@example.org"
URL = "https://canary.example.net/v1/secret-path"
B64 = base64.b64encode(b"https://canary.example.net/token-for-alice").decode()

PLANTED_ROWS = {
    "cursorAuth/zetaProviderKey": f"zeta-{CANARY}",
    f"cursorAuth/sessionFor:{EMAIL}": f"token-{CANARY}",
    f"cursorAuth/cache:{B64}": json.dumps({"t": CANARY}),
    f"cursorAuth/endpoint:{URL}": CANARY,
    "secret://cursorAuth/zetaKey": json.dumps({"type": "Buffer", "data": list(f"raw-{CANARY}".encode())}),
}
PLANTED_FIELDS = {"useZetaKey": True, "zetaBaseUrl": f"https://{CANARY}.example.com/v1", "zetaApiKey": CANARY}
PLANTED_INNER = {"azureState": {"apiVersion": f"2024-{CANARY}"}, "aiSettings": {"newThing": [CANARY]}}
EXPECTED_NAMES = {
    ("row", "cursorAuth/zetaProviderKey"),
    ("row", f"cursorAuth/sessionFor:<email:{len(EMAIL)}>"),
    ("row", f"cursorAuth/cache:<base64:{len(B64)}>"),
    ("row", f"cursorAuth/endpoint:<url:{len(URL)}>"),
    ("row", "secret://cursorAuth/zetaKey"),
    ("settings blob", "useZetaKey"),
    ("settings blob", "zetaBaseUrl"),
    ("settings blob", "zetaApiKey"),
    ("settings blob", "azureState.apiVersion"),
    ("settings blob", "aiSettings.newThing"),
}


def plant(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", list(PLANTED_ROWS.items()))
        (text,) = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()
        doc = json.loads(text)
        doc.update(PLANTED_FIELDS)
        for container, fields in PLANTED_INNER.items():
            doc.setdefault(container, {}).update(fields)
        conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (BLOB_KEY, json.dumps(doc)))
        conn.commit()
    finally:
        conn.close()


def installs(tmp_path: Path, make_sample_dir) -> list[Path]:
    """A copy of every committed fixture and a sample install of every storage generation."""
    out = []
    for name in sorted(REAL_LAYOUTS):
        shutil.copytree(FIXTURES / name, tmp_path / name)
        out.append(tmp_path / name)
    return out + [make_sample_dir(generation).udd for generation in GENERATIONS]


def test_report_names_planted_unknowns_and_holds_none_of_their_values(tmp_path, make_sample_dir, clean_env):
    for udd in installs(tmp_path, make_sample_dir):
        plant(udd / DB)
        before = snapshot(udd / DB)
        result = run("--user-data-dir", udd, "report", "--json")
        assert result.exit_code == 0, (udd, result.stderr)
        doc = json.loads(result.stdout)
        named = {(u["place"], u["name"]) for u in doc["unknown"]}
        assert EXPECTED_NAMES <= named, (udd.name, EXPECTED_NAMES - named)
        text = run("--user-data-dir", udd, "report").stdout
        for output in (result.stdout, text):
            for secret in (CANARY, EMAIL, URL, B64, "example.net", "alice"):
                assert secret not in output, (udd.name, secret)
        assert str(tmp_path) not in result.stdout  # no path names the user
        assert snapshot(udd / DB) == before


@pytest.mark.parametrize(
    "name, version, forms, prefixes",
    [
        ("cursor-0.42", "0.42.5", {"plaintext row": 1}, []),
        ("cursor-2.4", "2.4.31", {"encrypted (v11)": 2, "settings-json": 0}, ["v11"]),
        ("cursor-3.7", "3.7.42", {}, []),
        ("cursor-3.7-mcp", "3.7.42", {}, ["v11"]),
    ],
)
def test_report_describes_each_generation(name, version, forms, prefixes, tmp_path, clean_env):
    udd = tmp_path / name
    shutil.copytree(FIXTURES / name, udd)
    doc = json.loads(run("--user-data-dir", udd, "report", "--json").stdout)
    assert (doc["version"], doc["version_source"]) == (version, "database")
    assert {k: v for k, v in doc["key_forms"].items() if v} == {k: v for k, v in forms.items() if v}
    assert doc["backend"]["row_prefixes"] == prefixes and doc["unknown"] == [] and doc["ignored"] == []
    assert doc["journal_mode"] == ("delete" if name == "cursor-0.42" else "wal")
    assert doc["backups"] is (name not in ("cursor-3.7", "cursor-3.7-mcp"))
    if name == "cursor-3.7-mcp":
        assert doc["other_rows"]["mcpOAuth."] == 1


def test_doctor_points_to_report_when_it_meets_something_unknown(tmp_path, clean_env):
    udd = tmp_path / "cursor-2.4"
    shutil.copytree(FIXTURES / "cursor-2.4", udd)
    clean = json.loads(run("--user-data-dir", udd, "doctor", "--json").stdout)
    assert not [c for c in clean["checks"] if c["symptom"] == "unknown to cursor-byok"]
    plant(udd / DB)
    result = run("--user-data-dir", udd, "doctor", "--json")
    (check,) = [c for c in json.loads(result.stdout)["checks"] if c["symptom"] == "unknown to cursor-byok"]
    assert re.search(r"`cursor-byok [^`]*report`", check["fix"]) and "cursorAuth/zetaProviderKey" in check["detail"]
    assert CANARY not in result.stdout and EMAIL not in result.stdout


@pytest.mark.parametrize(
    "name, shown",
    [
        ("cursorAuth/openAIKey", "cursorAuth/openAIKey"),
        ("availableDefaultModels2", "availableDefaultModels2"),
        ("stripeSubscriptionStatus", "stripeSubscriptionStatus"),
        ("mcpOAuth.secret.ZGVmYXVsdA", "mcpOAuth.secret.<base64:10>"),
        ("x:bob@example.com", "x:<email:15>"),
        ("u=https://h.example/p?q=1", "u=<url:23>"),
        ("machine-3f1c7a520c4e4c599d1e4d2c1b0a9e77", "machine-<hex:32>"),
    ],
)
def test_names_lose_their_encoded_parts(name, shown):
    assert redact(name) == shown


@pytest.mark.parametrize("content", [b"not a database at all", b"SQLite format 3\x00" + b"\xff" * 4000])
def test_report_on_a_damaged_database_is_one_line_and_its_exit_code(content, tmp_path, clean_env):
    db = tmp_path / "state.vscdb"
    db.write_bytes(content)
    result = run("--db", db, "report")
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == content
