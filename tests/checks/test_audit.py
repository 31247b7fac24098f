"""`cursor-byok audit`: every finding code in a crafted case, none in a clean one,
--fail-on exit codes, the JSON shape, and no key value in any output.

Each case is a real sample user-data dir (SQLite files built by
cursor_byok.samples.installs) plus the files Cursor leaves around it.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import string
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from helpers import doctor
from helpers.cli import cli_runner as runner
from helpers.leaks import assert_no_key_in

from cursor_byok.checks import audit
from cursor_byok.checks import surroundings as scan
from cursor_byok.cli import Exit, main
from cursor_byok.cursor.rows import BLOB_KEY
from cursor_byok.key_table import trim_scanned
from cursor_byok.samples.installs import create_db, default_settings, make_key

FINDING_SHAPE = {"code", "severity", "subject", "message", "fix"}


@pytest.fixture(autouse=True)
def env(clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(tmp_path / "data"))
    return clean_env


def clean_settings(**changes) -> dict:
    """Every provider on, with its key: nothing for the audit to say."""
    settings = default_settings()
    settings["useGoogleKey"] = True
    settings["bedrockState"] = {"useBedrock": True, "region": "us-east-1"}
    settings.update(changes)
    return settings


@dataclass
class Case:
    """A user-data dir to audit, the options that decode it, and every key value put in or around it."""

    udd: Path
    options: list[str]
    secrets: list[str] = field(default_factory=list)

    def run(self, *args: str):
        return runner().invoke(main, [*self.options, "audit", *args], catch_exceptions=False)

    def document(self, *args: str) -> dict:
        result = self.run("--json", *args)
        assert result.exit_code in (0, Exit.FINDINGS), result.stderr
        return json.loads(result.stdout)


def make_case(make_sample_dir, tmp_path, generation="v11", *, keys=None, settings=None, **kw) -> Case:
    keys = keys_with() if keys is None else keys  # fixed keys, so extras come out the same too
    sample = make_sample_dir(generation, keys=keys, settings=clean_settings() if settings is None else settings, **kw)
    opts = ["--user-data-dir", str(sample.udd)]
    if generation in ("v11", "macos", "windows"):
        opts += sample.password_options(tmp_path / f"secret-{sample.udd.name}")
    return Case(sample.udd, opts, [*sample.keys.values(), *sample.extras.values()])


def db_of(udd: Path) -> Path:
    return udd / "User" / "globalStorage" / "state.vscdb"


def set_row(db: Path, key: str, value: str | None) -> None:
    conn = sqlite3.connect(db)
    try:
        if value is None:
            conn.execute("DELETE FROM ItemTable WHERE key = ?", (key,))
        else:
            conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, value))
        conn.commit()
    finally:
        conn.close()


# --- crafted cases, one per finding code ----------------------------------------------------------

RNG = random.Random(42)
OTHER_OPENAI = make_key("openai", RNG)
OTHER_ANTHROPIC = make_key("anthropic", RNG)
OTHER_GOOGLE = make_key("google", RNG)


def keys_with(**changes) -> dict:
    return doctor.keys(seed=7, **changes)


def case_plaintext(mk, tmp):
    return make_case(mk, tmp, "plaintext")


def case_basic(mk, tmp):
    return make_case(mk, tmp, "basic")


def case_password_store(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    argv = Path.home() / ".cursor" / "argv.json"
    argv.parent.mkdir(parents=True, exist_ok=True)
    argv.write_text(
        '// Cursor argv\n{\n  // keyring\n  "password-store": "basic",\n  "enable-crash-reporter": false\n}\n'
    )
    return case


def case_undecryptable(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    wrong = tmp / "wrong-secret"
    wrong.write_text("not-the-machine-password\n")
    case.options[case.options.index("--safe-storage-password-file") + 1] = str(wrong)
    return case


def case_placeholder(mk, tmp):
    return make_case(mk, tmp, keys=keys_with(openai__key="your-api-key-here"), azure_bedrock_rows=True)


def case_truncated(mk, tmp):
    return make_case(mk, tmp, keys=keys_with(anthropic__key=OTHER_ANTHROPIC[:30]), azure_bedrock_rows=True)


def case_format(mk, tmp):
    return make_case(mk, tmp, keys=keys_with(google__key="GOOG" + OTHER_GOOGLE[4:]), azure_bedrock_rows=True)


def case_wrong_slot(mk, tmp):
    return make_case(mk, tmp, keys=keys_with(anthropic__key=OTHER_OPENAI), azure_bedrock_rows=True)


def case_unused(mk, tmp):
    return make_case(mk, tmp, settings=clean_settings(useGoogleKey=False), azure_bedrock_rows=True)


def case_missing(mk, tmp):
    return make_case(mk, tmp, keys=keys_with(google__key=None), azure_bedrock_rows=True)


def case_missing_local(mk, tmp):
    settings = clean_settings(openAIBaseUrl="http://localhost:11434/v1")
    return make_case(mk, tmp, keys=keys_with(openai__key=None), settings=settings, azure_bedrock_rows=True)


def case_bedrock_session(mk, tmp):
    access = "ASIA" + make_key("aws_access", random.Random(3))[4:]
    return make_case(mk, tmp, keys=keys_with(bedrock__access_key=access), azure_bedrock_rows=True)


def azure_case(mk, tmp, **state):
    azure = {"useAzure": True, "baseUrl": "https://contoso-ai.openai.azure.com", "deployment": "gpt-4o-prod"}
    azure.update(state)
    return make_case(mk, tmp, settings=clean_settings(azureState=azure), azure_bedrock_rows=True)


def case_azure_no_endpoint(mk, tmp):
    return azure_case(mk, tmp, baseUrl=None)


def case_azure_no_deployment(mk, tmp):
    return azure_case(mk, tmp, deployment="")


def case_azure_shape(mk, tmp):
    return azure_case(mk, tmp, baseUrl="https://contoso.example.com/openai/deployments/gpt-4o")


def case_azure_nonstandard(mk, tmp):
    return azure_case(mk, tmp, baseUrl="https://contoso.cognitiveservices.azure.com/")


def case_azure_unseen(mk, tmp):
    """Cursor 3.7 with Azure on: its key is kept somewhere this tool does not read."""
    return make_case(mk, tmp, keys=keys_with(azure__key=None), azure_bedrock_rows=True, cursor_version="3.7.42")


def case_base_url(mk, tmp):
    return make_case(
        mk, tmp, settings=clean_settings(openAIBaseUrl="https://openrouter.ai/api/v1"), azure_bedrock_rows=True
    )


def case_base_url_http(mk, tmp):
    return make_case(mk, tmp, settings=clean_settings(openAIBaseUrl="http://10.1.2.3:8000/v1"), azure_bedrock_rows=True)


def case_duplicate(mk, tmp):
    keys = keys_with()
    return make_case(mk, tmp, keys=keys, extras={"mistralKey": keys["openai.key"]}, azure_bedrock_rows=True)


def case_backup_old(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    old = make_case(mk, tmp, keys=keys_with(openai__key=OTHER_OPENAI), azure_bedrock_rows=True)
    shutil.copyfile(db_of(old.udd), db_of(case.udd).with_name("state.vscdb.backup"))
    case.secrets.append(OTHER_OPENAI)
    return case


def case_backup_current(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    shutil.copyfile(db_of(case.udd), db_of(case.udd).with_name("state.vscdb.backup"))
    return case


def case_corrupted(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    junk = b"\x00garbage page\x00" * 100 + b'{"k":"' + OTHER_ANTHROPIC.encode() + b'"}' + b"\xff" * 64
    db_of(case.udd).with_name("state.vscdb.corrupted.1712345678901").write_bytes(junk)
    case.secrets.append(OTHER_ANTHROPIC)
    return case


def case_settings_file(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    settings = {"editor.fontSize": 13, "someExtension.apiKey": OTHER_GOOGLE}
    (case.udd / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    case.secrets.append(OTHER_GOOGLE)
    return case


def case_workspace(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    ws = case.udd / "User" / "workspaceStorage" / "4f1c2e9a0b"
    rows = {"memento/webviewView.chat": json.dumps({"draft": f"export OPENAI_API_KEY={OTHER_OPENAI}"})}
    create_db(ws / "state.vscdb", rows, wal=False)
    case.secrets.append(OTHER_OPENAI)
    return case


def case_workspace_unreadable(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    ws = case.udd / "User" / "workspaceStorage" / "deadbeef"
    ws.mkdir(parents=True)
    (ws / "state.vscdb").write_bytes(b"this is not a database")
    return case


def case_read_note(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    set_row(db_of(case.udd), BLOB_KEY, "{not json")
    return case


URL_SECRET = make_key("openrouter", random.Random(43))


def case_key_in_url(mk, tmp):
    url = f"https://gateway.example.com/v1?api_key={URL_SECRET}"
    case = make_case(mk, tmp, settings=clean_settings(openAIBaseUrl=url), azure_bedrock_rows=True)
    case.secrets.append(URL_SECRET)
    return case


def case_base_url_local(mk, tmp):
    settings = clean_settings(openAIBaseUrl="https://192.168.1.20:8443/v1")
    return make_case(mk, tmp, settings=settings, azure_bedrock_rows=True)


def case_schema_foreign(mk, tmp):
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    conn = sqlite3.connect(db_of(case.udd))
    try:
        conn.execute("CREATE TABLE loot (value)")
        conn.execute("CREATE TRIGGER grab AFTER INSERT ON ItemTable BEGIN INSERT INTO loot VALUES (NEW.value); END")
        conn.commit()
    finally:
        conn.close()
    return case


def case_raw_row(mk, tmp):
    """A tool wrote the OpenAI key itself into secret://cursorAuth/openAIKey: Cursor deletes it at start."""
    case = make_case(mk, tmp, azure_bedrock_rows=True)
    set_row(db_of(case.udd), "secret://cursorAuth/openAIKey", OTHER_OPENAI)
    case.secrets.append(OTHER_OPENAI)
    return case


WS = "User/workspaceStorage"
CASES: dict[str, tuple[Callable, str, str]] = {
    # case id: (builder, code, subject the finding names)
    "plaintext-row": (case_plaintext, "key-plaintext", "openai.key"),
    "plaintext-blob": (case_basic, "key-plaintext", "azure.key"),
    "basic": (case_basic, "key-obfuscated", "openai.key"),
    "argv-basic": (case_password_store, "password-store-basic", "~/.cursor/argv.json"),
    "undecryptable": (case_undecryptable, "key-undecryptable", "openai.key"),
    "placeholder": (case_placeholder, "key-placeholder", "openai.key"),
    "truncated": (case_truncated, "key-truncated", "anthropic.key"),
    "format": (case_format, "key-format", "google.key"),
    "wrong-slot": (case_wrong_slot, "key-wrong-slot", "anthropic.key"),
    "unused": (case_unused, "key-unused", "google.enabled"),
    "missing": (case_missing, "key-missing", "google.key"),
    "missing-local": (case_missing_local, "key-missing", "openai.key"),
    "bedrock-session": (case_bedrock_session, "bedrock-session-missing", "bedrock.session_token"),
    "azure-no-endpoint": (case_azure_no_endpoint, "azure-endpoint-missing", "azure.base_url"),
    "azure-no-deployment": (case_azure_no_deployment, "azure-deployment-missing", "azure.deployment"),
    "azure-shape": (case_azure_shape, "azure-endpoint-shape", "azure.base_url"),
    "azure-nonstandard": (case_azure_nonstandard, "azure-endpoint-nonstandard", "azure.base_url"),
    "azure-unseen": (case_azure_unseen, "azure-key-unseen", "azure.key"),
    "base-url": (case_base_url, "openai-base-url", "openai.base_url"),
    "base-url-http": (case_base_url_http, "openai-base-url-http", "openai.base_url"),
    "duplicate": (case_duplicate, "key-duplicate", "extra.mistralKey, openai.key"),
    "backup-old": (case_backup_old, "backup-old-key", "User/globalStorage/state.vscdb.backup"),
    "backup-current": (case_backup_current, "backup-current-key", "User/globalStorage/state.vscdb.backup"),
    "corrupted": (case_corrupted, "backup-old-key", "User/globalStorage/state.vscdb.corrupted.1712345678901"),
    "corrupted-unreadable": (
        case_corrupted,
        "file-unreadable",
        "User/globalStorage/state.vscdb.corrupted.1712345678901",
    ),
    "settings-file": (case_settings_file, "settings-file-key", "User/settings.json"),
    "workspace": (case_workspace, "workspace-key", f"{WS}/4f1c2e9a0b/state.vscdb#memento/webviewView.chat"),
    "workspace-unreadable": (case_workspace_unreadable, "file-unreadable", f"{WS}/deadbeef/state.vscdb"),
    "read-note": (case_read_note, "read-note", "settings"),
    "key-in-url": (case_key_in_url, "key-in-url", "openai.base_url"),
    "base-url-local": (case_base_url_local, "base-url-local", "openai.base_url"),
    "schema-foreign": (case_schema_foreign, "db-schema-foreign", "database"),
    "raw-row": (case_raw_row, "key-raw-row", "openai.key"),
}
EXPECTED_SEVERITY = {"missing-local": "info"}


def test_every_code_has_a_crafted_case():
    covered = {code for _builder, code, _subject in CASES.values()} | {"wal-key", "journal-holds-key"}  # own tests
    assert covered == set(audit.CODES)


def test_a_clean_install_has_no_findings(make_sample_dir, tmp_path):
    case = make_case(make_sample_dir, tmp_path, azure_bedrock_rows=True)
    doc = case.document("--fail-on", "info")
    assert doc["findings"] == []
    assert doc["summary"] == {"error": 0, "warning": 0, "info": 0}
    result = case.run("--fail-on", "info")
    assert result.exit_code == 0
    assert "no findings" in result.stdout


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_crafted_case_gives_its_finding(case_id, make_sample_dir, tmp_path):
    builder, code, subject = CASES[case_id]
    case = builder(make_sample_dir, tmp_path)
    result = case.run("--json", "--fail-on", "info")
    assert result.exit_code == Exit.FINDINGS, result.stderr
    doc = json.loads(result.stdout)
    hits = [f for f in doc["findings"] if f["code"] == code]
    assert [f["subject"] for f in hits].count(subject) >= 1, hits
    hit = next(f for f in hits if f["subject"] == subject)
    assert hit["severity"] == EXPECTED_SEVERITY.get(case_id, audit.CODES[code][0])
    assert set(hit) == FINDING_SHAPE and hit["message"] and hit["fix"]
    text = case.run("--fail-on", "info")
    assert code in text.stdout
    for output in (result.stdout, result.stderr, text.stdout, text.stderr):
        assert_no_key_in(output, case.secrets)


def test_undecryptable_finding_gives_the_reason(make_sample_dir, tmp_path):
    doc = case_undecryptable(make_sample_dir, tmp_path).document()
    hit = next(f for f in doc["findings"] if f["code"] == "key-undecryptable")
    assert "secret://cursorAuth/" in hit["message"] and "wrong machine secret" in hit["message"]


def test_old_key_in_a_backup_is_named_masked_with_its_fingerprint(make_sample_dir, tmp_path):
    case = case_backup_old(make_sample_dir, tmp_path)
    doc = case.document()
    old = [f for f in doc["findings"] if f["code"] == "backup-old-key"]
    assert len(old) == 1  # only the OpenAI key differs from the current ones
    assert audit.Secret(OTHER_OPENAI).fingerprint in old[0]["message"]
    assert audit.Secret(OTHER_OPENAI).masked in old[0]["message"]
    current = [f for f in doc["findings"] if f["code"] == "backup-current-key"]
    assert "anthropic.key" in current[0]["message"] and "openai.key" not in current[0]["message"]


def test_side_copies_are_read_without_leaving_files(make_sample_dir, tmp_path):
    case = case_backup_old(make_sample_dir, tmp_path)
    ws = case.udd / "User" / "workspaceStorage" / "ab12"
    create_db(ws / "state.vscdb", {"x": "1"}, wal=True)
    folders = [db_of(case.udd).parent, ws]
    before = {p: sorted(x.name for x in p.iterdir()) for p in folders}
    case.document()
    after = {p: sorted(x.name for x in p.iterdir()) for p in folders}
    main_sidecars = {"state.vscdb-wal", "state.vscdb-shm"}  # SQLite's own, for the live database
    assert set(after[folders[0]]) - set(before[folders[0]]) <= main_sidecars
    assert after[ws] == before[ws]


def test_old_key_left_in_the_wal_file(make_sample_dir, tmp_path):
    case = make_case(make_sample_dir, tmp_path, azure_bedrock_rows=True)
    old = make_key("anthropic", random.Random(99))
    db = db_of(case.udd)
    writer = sqlite3.connect(db)  # like a running Cursor: holds the WAL open, no checkpoint
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("INSERT INTO ItemTable VALUES ('cursorAuth/claudeKey', ?)", (old,))
        writer.commit()
        writer.execute("DELETE FROM ItemTable WHERE key = 'cursorAuth/claudeKey'")
        writer.commit()
        assert old.encode() in Path(f"{db}-wal").read_bytes()
        result = case.run("--json", "--fail-on", "warning")
    finally:
        writer.close()
    assert result.exit_code == Exit.FINDINGS
    doc = json.loads(result.stdout)
    hits = [f for f in doc["findings"] if f["code"] == "wal-key"]
    assert [h["subject"] for h in hits] == ["User/globalStorage/state.vscdb-wal"]
    assert audit.Secret(old).fingerprint in hits[0]["message"] and "not among the stored keys" in hits[0]["message"]
    assert_no_key_in(result.stdout + result.stderr, [*case.secrets, old])


def test_a_plaintext_key_in_the_wal_is_not_reported_twice(make_sample_dir, tmp_path):
    case = make_case(make_sample_dir, tmp_path, "plaintext")
    db = db_of(case.udd)
    writer = sqlite3.connect(db)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE ItemTable SET value = value WHERE key = 'cursorAuth/openAIKey'")
        writer.commit()
        doc = case.document()
    finally:
        writer.close()
    assert not [f for f in doc["findings"] if f["code"] == "wal-key"]
    assert [f for f in doc["findings"] if f["code"] == "key-plaintext" and f["subject"] == "openai.key"]


# --- exit codes and documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder, fail_on, code",
    [
        (case_base_url, None, Exit.OK),  # info only
        (case_base_url, "warning", Exit.OK),
        (case_base_url, "info", Exit.FINDINGS),
        (case_basic, None, Exit.OK),  # warnings and info
        (case_basic, "error", Exit.OK),
        (case_basic, "warning", Exit.FINDINGS),
        (case_placeholder, None, Exit.FINDINGS),  # an error
        (case_placeholder, "error", Exit.FINDINGS),
    ],
)
def test_fail_on_sets_the_exit_code(builder, fail_on, code, make_sample_dir, tmp_path):
    case = builder(make_sample_dir, tmp_path)
    args = ["--fail-on", fail_on] if fail_on else []
    assert case.run(*args).exit_code == code
    assert case.run("--json", *args).exit_code == code


def test_json_document_shape(make_sample_dir, tmp_path):
    case = case_basic(make_sample_dir, tmp_path)
    result = case.run("--json")
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {"output_version", "db", "findings", "summary"}
    assert doc["db"] == str(db_of(case.udd))
    assert list(doc["summary"]) == ["error", "warning", "info"]
    for severity, count in doc["summary"].items():
        assert count == sum(1 for f in doc["findings"] if f["severity"] == severity)
    assert all(set(f) == FINDING_SHAPE for f in doc["findings"])
    ranks = [audit.RANK[f["severity"]] for f in doc["findings"]]
    assert ranks == sorted(ranks, reverse=True)


def test_human_output_is_a_table_with_fixes_and_counts(make_sample_dir, tmp_path):
    result = case_basic(make_sample_dir, tmp_path).run()
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["severity", "code", "subject", "finding"]
    assert "what to do" in lines
    assert lines[-1].startswith("(warning: ")


def test_missing_database_is_one_line_and_exit_not_found(tmp_path):
    result = runner().invoke(main, ["--db", str(tmp_path / "nope.vscdb"), "audit"])
    assert result.exit_code == Exit.NOT_FOUND
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_fail_on_is_a_usage_error(make_sample_dir, tmp_path):
    assert case_basic(make_sample_dir, tmp_path).run("--fail-on", "fatal").exit_code == Exit.USAGE


# --- the scan and the pure core ---------------------------------------------------------------------


def test_gather_reports_progress_per_file(make_sample_dir, tmp_path):
    case = case_workspace(make_sample_dir, tmp_path)
    (case.udd / "User" / "settings.json").write_text("{}")
    shutil.copyfile(db_of(case.udd), db_of(case.udd).with_name("state.vscdb.backup"))
    from cursor_byok import Context
    from cursor_byok.safestorage.backends import SafeStorageConfig

    ctx = Context(user_data_dir=str(case.udd), safe_storage=SafeStorageConfig("basic"))
    inst = ctx.installation()
    calls = []
    around = scan.gather(inst, ctx.storage_for(inst), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # backup, settings.json, one workspace db
    assert [s.kind for s in around.scans] == ["user-settings", "workspace"]


def _every_shape(rng: random.Random) -> list[tuple[str, str]]:
    """(vendor, key) of every shape the scan looks for (tests-only made-up values)."""
    alnum = string.ascii_letters + string.digits
    pick = lambda chars, n: "".join(rng.choice(chars) for _ in range(n))  # noqa: E731
    return [
        ("openai", make_key("openai", rng)),
        ("openai", "sk-" + pick(alnum, 20) + "T3BlbkFJ" + pick(alnum, 20)),
        ("anthropic", make_key("anthropic", rng)),
        ("google", make_key("google", rng)),
        ("bedrock", make_key("aws_access", rng)),
        ("bedrock", "ASIA" + pick(string.ascii_uppercase + "234567", 16)),
        ("bedrock", "ABSK" + pick(alnum + "+/", 60) + "=="),
        ("openrouter", make_key("openrouter", rng)),
        ("xai", "xai-" + pick(alnum, 80)),
        ("groq", "gsk_" + pick(alnum, 52)),
    ]


def _noise(rng: random.Random, size: int) -> bytes:
    """Bytes like a SQLite page of chat text, with many near misses of the literal starts."""
    words = [
        b"task-",
        b"disk-",
        b"sk-",
        b"AIza",
        b"AKIA",
        b"xai-",
        b"gsk_",
        b"Key",
        b"key",
        b"\x00",
        b"\x81",
        b"ASIAN",
        b"ABSKY",
        b"risk-free",
        b"the",
        b" ",
        b"T3BlbkFJ",
        b"-",
        b"_",
        b"/",
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


@pytest.mark.parametrize("seed", range(6))
def test_key_strings_finds_exactly_what_the_full_pattern_finds(seed):
    """The literal-first search gives the same matches as running the pattern at every byte."""
    rng = random.Random(seed)
    parts = []
    for _vendor, key in _every_shape(rng):
        parts += [_noise(rng, rng.randrange(0, 300)), rng.choice([b" ", b"Key", b"key", b"\x05", b""]), key.encode()]
    data = b"".join(parts) + _noise(rng, 200)
    matches = audit.SCAN_PATTERN.finditer(data)
    reference = [(m.lastgroup, trim_scanned(m.lastgroup, m.group(0).decode())) for m in matches]
    assert audit.key_strings(data) == reference
    assert len({v for v, _ in reference}) >= 5  # noise glued to a key can spoil a few shapes, as in real pages


def test_every_scan_shape_starts_with_a_listed_literal():
    for vendor, key in _every_shape(random.Random(3)):
        assert key.encode().startswith(audit.SCAN_LITERALS), vendor


@pytest.mark.parametrize("shape", [pytest.param(i, marks=() if i < 3 else pytest.mark.slow) for i in range(10)])
def test_a_key_is_found_at_every_offset_around_a_window_boundary(tmp_path, monkeypatch, shape):
    """Windows of 256 new bytes after 200 carried over: every key shape, at each offset near the first
    two window ends (456 and 712)."""
    monkeypatch.setattr(scan, "CHUNK", 256)
    monkeypatch.setattr(scan, "SCAN_OVERLAP", 200)
    vendor, key = _every_shape(random.Random(shape))[shape]
    path = tmp_path / "copy"
    for boundary in (456, 712):
        for start in range(boundary - len(key) - 2, boundary + 3):
            path.write_bytes(b"." * start + key.encode() + b"\x00" + b"z" * 900)
            found = [(k.vendor, k.secret.reveal()) for k in scan.scan_raw(path)]
            assert found == [(vendor, key)], (boundary, start)


def test_key_strings_finds_each_vendor_and_ignores_look_alikes():
    rng = random.Random(11)
    keys = {
        v: make_key(k, rng)
        for v, k in [
            ("openai", "openai"),
            ("anthropic", "anthropic"),
            ("google", "google"),
            ("bedrock", "aws_access"),
            ("openrouter", "openrouter"),
        ]
    }
    data = " ".join(f'"{v}"' for v in keys.values()).encode()
    assert audit.key_strings(data) == list(keys.items())
    decoys = b"AIza-too-short sk-proj-noMagicHere xAKIAABCDEFGHIJKLMNOP " + b"A" * 30 + b"AIza" + b"b" * 35
    assert audit.key_strings(decoys) == []


def test_audit_module_is_pure():
    code = (
        "import sys, cursor_byok.checks.audit\n"
        "io = ('sqlite3', 'sqlalchemy', 'urllib.request', 'click', 'cursor_byok.cursor.store')\n"
        "bad = [m for m in io if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_key_strings_in_sqlite_cells_next_to_row_keys_and_binary_headers():
    rng = random.Random(12)
    openai_key, google_key = make_key("openai", rng), make_key("google", rng)
    # A cell's text columns are stored back to back; the next cell's header may be any byte.
    data = b"\x81\x02cursorAuth/openAIKey" + openai_key.encode() + b"K7" + b"cursorAuth/googleKey" + google_key.encode()
    data += b"Zq\x00"
    assert audit.key_strings(data) == [("openai", openai_key), ("google", google_key)]


def test_a_current_key_copied_into_settings_json_is_named_by_its_field(make_sample_dir, tmp_path):
    case = make_case(make_sample_dir, tmp_path, azure_bedrock_rows=True)
    current = keys_with()["openai.key"]
    (case.udd / "User" / "settings.json").write_text(json.dumps({"openai.apiKey": current}))
    doc = case.document()
    hits = [f for f in doc["findings"] if f["code"] == "settings-file-key"]
    assert len(hits) == 1 and "copy of the current openai.key" in hits[0]["message"]


def test_a_workspace_database_is_read_one_row_at_a_time(make_sample_dir, tmp_path):
    """Python memory while scanning a workspace stays near its largest value, not its whole table."""
    import tracemalloc

    case = case_workspace(make_sample_dir, tmp_path)
    ws = case.udd / "User" / "workspaceStorage" / "big0001" / "state.vscdb"
    ws.parent.mkdir(parents=True)
    conn = sqlite3.connect(ws)
    conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    value = "x" * 400_000
    conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", [(f"memento/{i}", value) for i in range(60)])
    key = make_key("google", random.Random(21))
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("memento/last", f'{{"k":"{key}"}}'))
    conn.commit()
    conn.close()
    from cursor_byok import Context
    from cursor_byok.safestorage.backends import SafeStorageConfig

    inst = Context(user_data_dir=str(case.udd), safe_storage=SafeStorageConfig("basic")).installation()
    scan.scan_workspace(ws, inst)  # warm up imports
    tracemalloc.start()
    found = scan.scan_workspace(ws, inst)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(k.vendor, k.where) for k in found.found] == [("google", "memento/last")]
    assert peak < 4 * len(value)  # the table holds 24 MB


def test_windows_advice_never_says_chmod(monkeypatch):
    assert "chmod 600" in audit.fix_for("key-plaintext", "linux")
    for code in audit.CODES:
        assert "chmod" not in audit.fix_for(code, "win32"), code
    monkeypatch.setattr(sys, "platform", "win32")
    assert "chmod" not in audit.finding("key-plaintext", "openai.key", "plain").fix
