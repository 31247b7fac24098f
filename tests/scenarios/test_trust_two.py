"""Trust nothing, round two (issue 22): what still leaked, reached too far, or never ended.

Each test here was run against the code before its fix and failed there; the names say what is defended.
Real sample databases (cursor_byok.samples), real age bundles and the real command line (in process through
CliRunner, or as subprocesses where the process itself is under test). No key may appear in any output.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
from helpers.cli import cli_runner
from helpers.paths import REPO
from helpers.writes import assert_refused, cli, disk_state

import cursor_byok as api
from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.cli import Exit, main
from cursor_byok.errors import ByokError
from cursor_byok.key_shapes import NOT_SHOWN, shown_path
from cursor_byok.samples.installs import make_key

DOCUMENTED_EXITS = {int(code) for code in Exit}


@pytest.fixture
def env(clean_env, tmp_path, monkeypatch) -> Path:
    data = tmp_path / "byok-data"
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(data))
    return data


def invoke(*args: str, input: str | None = None, env: dict | None = None):
    return cli_runner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def assert_never_shown(result, *secrets: str) -> None:
    """No secret, and no long piece of one, anywhere in what the command printed."""
    out = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in out, out
        assert secret[6:-4] not in out, out


def assert_one_error(result, code: Exit | None = None) -> None:
    assert result.exit_code in DOCUMENTED_EXITS - {0}, (result.exit_code, result.stderr)
    if code is not None:
        assert result.exit_code == int(code), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith("cursor-byok: error: "), result.stderr


# --- 2. a secret pasted where a path goes is never repeated ----------------------------------------------------

SECRETS = {
    "openai key": make_key("openai", random.Random(2201)),
    "anthropic key": make_key("anthropic", random.Random(2202)),
    "age identity": agefile.generate_identity()[0],
    "age plugin identity": "AGE-PLUGIN-YUBIKEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQY",
    "vault token": "hvs." + "CAESIJ" + "x7Yq2" * 18,
}

# Every option and argument that takes a path, each given a secret instead: (words before, words after).
PATH_PLACES = {
    "--db": (["--db", "{s}"], ["list"]),
    "--user-data-dir": (["--user-data-dir", "{s}"], ["list"]),
    "--safe-storage-password-file": (
        ["--safe-storage", "password", "--safe-storage-scheme", "linux", "--safe-storage-password-file", "{s}"],
        ["get", "openai"],
    ),
    "import FILE": ([], ["import", "{s}", "--yes"]),
    "list --bundle FILE": ([], ["list", "--bundle", "{s}"]),
    "import -i": ([], ["import", "{bundle}", "-i", "{s}", "--yes"]),
    "list --bundle -i": ([], ["list", "--bundle", "{bundle}", "-i", "{s}"]),
    "export -R": ([], ["export", "-o", "{out}", "-R", "{s}"]),
    "export -o": ([], ["export", "-o", "{s}", "-r", "{recipient}"]),
    "export --passphrase-file": ([], ["export", "-o", "{out}", "--passphrase-file", "{s}"]),
    "import --passphrase-file": ([], ["import", "{phrase_bundle}", "--passphrase-file", "{s}", "--yes"]),
    "apply MANIFEST": ([], ["apply", "{s}", "--yes"]),
    "set --key-file": ([], ["set", "openai", "--key-file", "{s}", "--yes"]),
    "--data-dir": (["--data-dir", "{s}/journals"], ["set", "openai", "--key-env", "NEW_KEY", "--yes"]),
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, str]:
    """A recipient bundle, a passphrase bundle and the recipient, made by the library."""
    folder = tmp_path_factory.mktemp("bundles")
    _secret, public = agefile.generate_identity()
    doc = {"format": "cursor-byok-bundle", "version": 1, "created": "2026-01-01T00:00:00Z", "profile": {}}
    (folder / "r.age").write_bytes(agefile.seal(doc, passphrase=None, recipients=[public]))
    (folder / "p.age").write_bytes(agefile.seal(doc, passphrase="round two passphrase"))
    return {"bundle": str(folder / "r.age"), "recipient": public, "phrase_bundle": str(folder / "p.age")}


@pytest.mark.parametrize("place", sorted(PATH_PLACES))
@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_a_secret_given_as_a_path_is_never_repeated(place, kind, make_sample_dir, tmp_path, env, bundles):
    sd = make_sample_dir("v11" if "password" in place else "basic")  # v11 rows need the machine secret
    secret = SECRETS[kind]
    before, after = PATH_PLACES[place]
    fill = {"s": secret, "out": str(tmp_path / "out.age"), **bundles}
    group = ["--user-data-dir", str(sd.udd), "--safe-storage", "basic"]
    args = [*group, *(w.format(**fill) for w in before), *(w.format(**fill) for w in after)]
    state = disk_state(sd.db)
    os.chdir(tmp_path)  # a relative "path" that is a key resolves here: nothing may be created by its name
    for json_flag in ([], ["--json"]):
        result = invoke(*args, *json_flag, env={"NEW_KEY": make_key("openai", random.Random(1))})
        assert_one_error(result)
        assert_never_shown(result, secret)
        assert NOT_SHOWN in result.stderr or "looks like a key" in result.stderr
    assert disk_state(sd.db) == state
    assert not any(secret in p.name for p in tmp_path.rglob("*"))


def test_the_library_never_repeats_a_secret_given_as_a_path(make_sample_dir, bundles, tmp_path):
    sd = make_sample_dir("basic")
    data = Path(bundles["bundle"]).read_bytes()
    ctx = api.Context(user_data_dir=str(sd.udd), safe_storage=api.SafeStorageConfig("basic"))
    for secret in SECRETS.values():
        attempts = [
            lambda secret=secret: api.open_bundle(data, identity_files=[secret]),
            lambda secret=secret: api.import_bundle(ctx, secret, dry_run=True),
            lambda secret=secret: api.import_bundle(ctx, Path(secret), dry_run=True),
            lambda secret=secret: api.list_keys(api.Context(db=secret)),
            lambda secret=secret: api.list_keys(api.Context(user_data_dir=secret)),
            lambda secret=secret: api.export_bundle(ctx, recipients=[bundles["recipient"]], output=tmp_path / secret),
        ]
        for attempt in attempts:
            with pytest.raises(ByokError) as caught:
                attempt()
            assert secret not in str(caught.value) and secret[6:-4] not in str(caught.value)


@pytest.mark.parametrize(
    "words",
    [
        ["{s}"],
        ["--safe-storage", "{s}", "list"],
        ["import", "x.age", "{s}"],
        ["models", "{s}"],
        ["list", "--on", "{s}"],
    ],
    ids=["as a command", "as a choice", "as an extra argument", "as a subcommand", "after a bad option"],
)
def test_a_key_in_a_usage_error_is_never_repeated(words, env):
    """click's own usage errors quote what they refused."""
    secret = SECRETS["openai key"]
    for json_flag in ([], ["--json"]):
        result = invoke(*(w.format(s=secret) for w in words), *json_flag)
        assert result.exit_code == int(Exit.USAGE), result.stderr
        assert_never_shown(result, secret)


def test_one_path_display_rule():
    from cursor_byok.key_shapes import secret_in_path

    assert shown_path("~/Library/Application Support/Cursor/User/globalStorage/state.vscdb").startswith("~/Library")
    assert shown_path("C:\\Users\\dev\\bundle.age") == "C:\\Users\\dev\\bundle.age"
    assert shown_path("bundle.age") == "bundle.age"
    assert shown_path("bundle") == NOT_SHOWN  # a bare word may be a passphrase
    assert shown_path("bundle", opened=True) == "bundle"  # unless a file by that name was read
    for secret in SECRETS.values():
        for given in (secret, f"/home/dev/{secret}", f"./{secret}.age", f"C:\\keys\\{secret}"):
            assert shown_path(given) == NOT_SHOWN and shown_path(given, opened=True) == NOT_SHOWN
            assert secret_in_path(given)
    assert shown_path("/tmp/0f3a9c" + "4" * 26) == NOT_SHOWN  # an Azure key (32 hex) as the last part
    workspace = "User/workspaceStorage/0f3a9c" + "4" * 26 + "/state.vscdb"  # a workspace folder is 32 hex
    assert shown_path(workspace) == workspace


def test_error_lines_never_hold_a_key_whatever_raised_them():
    from cursor_byok.key_shapes import without_secrets

    for secret in SECRETS.values():
        line = without_secrets(f"/work/{secret}: cannot read; also {secret}.")
        assert secret not in line and line.count("(a key, not shown)") == 2
    assert without_secrets("sk-proj-…abcd fingerprint 0123456789ab") == "sk-proj-…abcd fingerprint 0123456789ab"


# --- 9. terminal escapes and bidi controls from outside never reach the terminal -------------------------------

RETITLE = "\x1b]0;PWNED\x07"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows shows reversed
RAW = ("\x1b", "\x07", RLO, "\u2066", "\u200b", "\r")


def assert_nothing_raw(result) -> None:
    out = result.stdout + result.stderr
    for char in RAW:
        assert char not in out, (char, out)


def hostile_install(make_sample_dir, tmp_path: Path):
    """A Cursor whose rows, settings blob, profiles and a workspace database hold terminal escapes and bidi."""
    from cursor_byok.samples.installs import ProfileSample, default_settings

    settings = default_settings()
    settings["aiSettings"]["userAddedModels"] = [f"gpt-4o{RLO}ini-m", f"x{RETITLE}"]
    settings["aiSettings"]["modelConfig"]["composer"]["modelName"] = f"claude{RLO}4"
    sd = make_sample_dir(
        "basic",
        extras={
            f"x{RETITLE}Key": make_key("openrouter", random.Random(3)),
            f"y{RLO}Key": make_key("openrouter", random.Random(5)),
        },
        settings=settings,
        profiles=(ProfileSample("p1", f"work{RLO}krow"),),
    )
    workspace = sd.udd / "User" / "workspaceStorage" / ("0f3a9c" + "4" * 26)
    workspace.mkdir(parents=True)
    conn = sqlite3.connect(workspace / "state.vscdb")
    conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    conn.execute(
        "INSERT INTO ItemTable VALUES (?, ?)", (f"row{RETITLE}{RLO}", make_key("openrouter", random.Random(4)))
    )
    conn.commit()
    conn.close()
    return sd


@pytest.mark.parametrize(
    "command",
    [["list"], ["list", "--profile", "all"], ["audit"], ["doctor"], ["models", "list"], ["where"]],
    ids=" ".join,
)
def test_escapes_in_rows_names_and_models_never_reach_the_terminal(command, make_sample_dir, tmp_path, env):
    sd = hostile_install(make_sample_dir, tmp_path)
    base = ["--user-data-dir", str(sd.udd), "--safe-storage", "basic"]
    result = invoke(*base, *command)
    assert result.exit_code in DOCUMENTED_EXITS, result.stderr
    assert_nothing_raw(result)
    if command[0] in ("list", "audit", "doctor", "where"):
        as_json = invoke(*base, *command, "--json")
        assert_nothing_raw(as_json)
        json.loads(as_json.stdout)  # still one valid document


def test_the_json_document_keeps_the_text_but_escapes_it(make_sample_dir, tmp_path, env):
    sd = hostile_install(make_sample_dir, tmp_path)
    result = invoke("--user-data-dir", str(sd.udd), "--safe-storage", "basic", "list", "--json")
    assert "\\u202e" in result.stdout and "\\u001b" in result.stdout and RLO not in result.stdout
    doc = json.loads(result.stdout)
    assert f"gpt-4o{RLO}ini-m" in doc["models"]["user_added"]  # the value itself is unchanged
    # a row name with a control character is no provider's key row: named in a note, escaped (review finding 4)
    assert not doc["extra_secrets"] and any("x\\x1b]0;PWNED\\x07Key" in note for note in doc["notes"])
    shown = invoke("--user-data-dir", str(sd.udd), "--safe-storage", "basic", "list")
    assert "gpt-4o\\u202eini-m" in shown.stdout  # shown escaped, as repr() would


@pytest.mark.parametrize(
    "line",
    [
        f'key = "cmd:op read op://vault/{RLO}yek-ia-nepo"',
        'key = "cmd:pass show \\u202eopenai"',
        'key = "file:~/keys/\\u2067openai.key"',
        'key = "cmd:get-key \\u200b--all"',
    ],
)
def test_bidi_and_format_characters_in_a_source_are_refused_before_it_is_shown(line, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    path = tmp_path / "m.toml"
    path.write_text(f"version = 1\n[openai]\n{line}\n", encoding="utf-8")
    before = disk_state(sd.db)
    for extra in (["--dry-run"], ["--yes"]):
        result = cli(sd, tmp_path, "apply", str(path), *extra)
        assert_refused(result, sd, before, env)
        assert "control character" in result.stderr and "bidi" in result.stderr
        assert_nothing_raw(result)


def test_bidi_in_model_names_is_refused_at_parse_time(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    for args in (["models", "add", f"gpt-4o{RLO}"], ["models", "select", "composer", f"claude{RLO}4"]):
        result = cli(sd, tmp_path, *args, "--yes")
        assert_refused(result, sd, before, env)
        assert_nothing_raw(result)
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'version = 1\n[models]\nadd = ["gpt-4o{RLO}"]\n', encoding="utf-8")
    result = cli(sd, tmp_path, "apply", str(manifest), "--yes")
    assert_refused(result, sd, before, env)
    assert_nothing_raw(result)


def test_a_bundle_with_bidi_in_a_model_name_is_refused(make_sample_dir, tmp_path, env):
    secret, public = agefile.generate_identity()
    doc = {
        "format": "cursor-byok-bundle",
        "version": 1,
        "created": "2026-01-01T00:00:00Z",
        "profile": {"models": {"user_added": [f"gpt-4o{RLO}ini-m"]}},
    }
    bundle = tmp_path / "b.age"
    bundle.write_bytes(agefile.seal(doc, passphrase=None, recipients=[public]))
    identity = tmp_path / "id.key"
    identity.write_text(secret + "\n")
    result = invoke("list", "--bundle", str(bundle), "-i", str(identity))
    assert_one_error(result, Exit.BUNDLE)
    assert "bidi" in result.stderr
    assert_nothing_raw(result)


def test_only_the_output_layer_prints():
    """Every line of the command line goes out through cli/output.py's echo, emit_json, fail or show_status."""
    import re

    folder = REPO / "cursor_byok" / "cli"
    printing = re.compile(r"\bclick\.(echo|secho)\(|\bprint\(|sys\.std(out|err)\.write\(")
    found = [
        f"{path.name}:{n}"
        for path in sorted(folder.glob("*.py"))
        if path.name != "output.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if printing.search(line)
    ]
    assert found == []


# --- 5. other tools' credentials are not taken as a key; one rule for unknown rows -----------------------------

TOKENS = {  # made-up values in each vendor's published shape
    "a HashiCorp Vault token": "hvs.CAESIJ" + "qR7x2" * 18,
    "an npm token": "npm_" + "aB3dE6gH9j" * 3 + "kLmN0p",
    "a GitLab token": "glpat-" + "x1Y2z3W4v5U6t7S8r9Q0",
    "a DigitalOcean token": "dop_v1_" + "0a1b2c3d" * 8,
    "a Hugging Face token": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "a Stripe secret key": "sk_live_" + "51H8xYzAbCdEfGhIjKlMnOpQr",
    "an AWS secret access key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "a GitHub token": "ghp_" + "A1b2C3d4" * 4 + "wxyz",
    "an age identity": agefile.generate_identity()[0],
}
LINES = {  # a line of another tool's credentials file: never one key, refused even with --force
    "a .pgpass line": "db.internal:5432:app:deploy:" + "s3cr3t-Pa55word",
    "an .npmrc line": "//registry.npmjs.org/:_authToken=npm_" + "aB3dE6gH9j" * 3 + "kLmN0p",
    "an AWS credentials file line": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "a .env line": "OPENAI_API_KEY=" + make_key("openai", random.Random(44)),
}
GATEWAY = "https://openrouter.ai/api/v1"


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_another_tools_token_is_refused_as_a_key_unless_forced(kind, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    token = TOKENS[kind]
    before = disk_state(sd.db)
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'version = 1\n[openai]\nkey = "env:TEAM_KEY"\nbase_url = "{GATEWAY}"\n')
    runs = [
        (["set", "openai", "--key-stdin", "--base-url", GATEWAY, "--yes"], None, token + "\n"),
        (["set", "anthropic", "--key-env", "TEAM_KEY", "--yes"], {"TEAM_KEY": token}, None),
        (["apply", str(manifest), "--yes", "--on-conflict", "replace"], {"TEAM_KEY": token}, None),
    ]
    for args, extra, stdin in runs:
        result = cli(sd, tmp_path, *args, env=extra, input=stdin)
        assert_refused(result, sd, before, env)
        assert kind.split(" (")[0] in result.stderr and "--force" in result.stderr, result.stderr
        assert_never_shown(result, token)
    args, extra, stdin = runs[0]
    forced = cli(sd, tmp_path, *args, "--force", env=extra, input=stdin)
    assert forced.exit_code == 0, forced.stderr  # a Hugging Face token at its router is a real use
    assert_never_shown(forced, token)


@pytest.mark.parametrize("kind", sorted(LINES))
def test_a_credentials_file_line_is_never_a_key(kind, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    key_file = tmp_path / "pasted"
    key_file.write_text(LINES[kind] + "\n")
    result = cli(sd, tmp_path, "set", "openai", "--key-file", str(key_file), "--base-url", GATEWAY, "--force", "--yes")
    assert_refused(result, sd, before, env)
    assert kind in result.stderr
    assert_never_shown(result, LINES[kind].rsplit(":", 1)[-1].split("=", 1)[-1])


def test_credential_shapes_are_told_apart_from_provider_keys():
    from cursor_byok.key_shapes import credential_kind, other_credential
    from cursor_byok.key_table import looks_like_secret

    for kind, token in TOKENS.items():
        assert credential_kind(token) == kind.replace("an age identity", "an age identity (a private key)")
    for kind, line in LINES.items():
        assert other_credential(line).startswith(kind)
    for provider in ("openai", "anthropic", "google", "openrouter", "aws_access"):
        key = make_key(provider, random.Random(7))
        assert credential_kind(key) is None and other_credential(key) is None and looks_like_secret(key)
    assert credential_kind("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12") is None  # no / or +: Cohere's shape too


UNKNOWN_ROWS = {
    "deepseekKey": make_key("openrouter", random.Random(11)),  # an unknown provider's key: it travels
    "customAPIKEY": make_key("openrouter", random.Random(12)),
    "authToken": "eyJhbGciOiJIUzI1NiJ9.made-up-auth-token-0001",  # not a key: never exported or written
    "jwt": "eyJhbGciOiJIUzI1NiJ9.made-up-jwt-0002",
    "sessionId": "made-up-session-id-0003-4d2c1b0a9e77",
}
TRAVELS = ("deepseekKey", "customAPIKEY")


def test_unknown_rows_one_rule_in_list_export_and_import(make_sample_dir, tmp_path, env):
    from cursor_byok.cursor.rows import EXTRA_KEY_ROW, WITHHELD_ROW, secret_row_kind

    assert {n: secret_row_kind(n) for n in UNKNOWN_ROWS} == {
        n: EXTRA_KEY_ROW if n in TRAVELS else WITHHELD_ROW for n in UNKNOWN_ROWS
    }
    sd = make_sample_dir("v11", extras=UNKNOWN_ROWS)
    listed = json.loads(cli(sd, tmp_path, "list", "--json").stdout)
    assert sorted(e["name"].rsplit("/", 1)[-1] for e in listed["extra_secrets"]) == sorted(TRAVELS)
    note = next(n for n in listed["notes"] if "never exported or written" in n)
    assert all(f"secret://cursorAuth/{name}" in note for name in UNKNOWN_ROWS if name not in TRAVELS)
    secret, public = agefile.generate_identity()
    bundle = tmp_path / "out.age"
    assert cli(sd, tmp_path, "export", "-o", str(bundle), "-r", public).exit_code == 0
    doc = json.loads(agefile.decrypt(bundle.read_bytes(), identities=agefile.parse_identities(secret, "t")))
    assert sorted(doc["profile"]["extra_secrets"]) == sorted(TRAVELS)
    assert not any(UNKNOWN_ROWS[n] in json.dumps(doc) for n in UNKNOWN_ROWS if n not in TRAVELS)


@pytest.mark.parametrize("name", ["authToken", "jwt", "sessionId"])
def test_a_bundle_that_carries_a_row_that_is_no_key_is_refused(name, make_sample_dir, tmp_path, env):
    from cursor_byok.bundle.document import FORMAT, encode
    from cursor_byok.cursor.rows import CursorOwnRow, RowWriter

    secret, public = agefile.generate_identity()
    doc = {"format": FORMAT, "version": 1, "profile": {"providers": {}, "extra_secrets": {name: "made-up-0123456"}}}
    bundle = tmp_path / "planted.age"
    bundle.write_bytes(agefile.encrypt(encode(doc), recipients=[public]))
    identity = tmp_path / "planted.key"
    identity.write_text(secret + "\n")
    sd = make_sample_dir("basic")
    before = disk_state(sd.db)
    for extra in (["--dry-run"], ["--yes"]):
        result = cli(sd, tmp_path, "import", str(bundle), "-i", str(identity), *extra)
        assert_refused(result, sd, before, env, Exit.BUNDLE)
        assert name in result.stderr and "not a provider key" in result.stderr
    with pytest.raises(CursorOwnRow):
        RowWriter({}, "secret", encrypt=lambda text: text).writes({f"extra.{name}": api.Secret("made-up-0123456")})


# --- 3. a stored key with a line break is never printed by doctor --online, and list flags it -------------------

BROKEN_KEYS = {
    "CR LF and a header": make_key("openai", random.Random(31)) + "\r\nX-Injected: 1",
    "trailing newline": make_key("openai", random.Random(32)) + "\n",
    "inner space": make_key("openai", random.Random(33))[:30] + " " + make_key("openai", random.Random(33))[30:],
    "bidi control": make_key("openai", random.Random(34)) + "\u202e",
}


def broken_parts(value: str) -> list[str]:
    """The pieces of a broken key that must not show, in the forms an error message may quote them."""
    good = value.split()[0].split("\u202e")[0]
    return [good, good[8:-4], repr(value)[1:-1], ascii(value)[1:-1]]


@pytest.mark.parametrize("case", sorted(BROKEN_KEYS))
def test_doctor_online_never_prints_a_key_that_holds_a_line_break(case, make_sample_dir, tmp_path, monkeypatch):
    from helpers.doctor import Dir, inject_urls, keys, only
    from helpers.fakeprovider import FakeProvider

    from cursor_byok.checks.doctor import UNSENDABLE

    value = BROKEN_KEYS[case]
    with FakeProvider({"openai": value}) as fake:
        inject_urls(monkeypatch, fake.urls())
        d = Dir(make_sample_dir, tmp_path, key_values=keys(openai__key=value), blob=only("openai"))
        as_json = d.run("--online", "--json")
        text = d.run("--online")
        seen = list(fake.seen)
    assert seen == []  # nothing was sent
    for result in (as_json, text):
        assert result.exit_code in DOCUMENTED_EXITS, result.stderr
        for part in broken_parts(value):
            assert part not in result.stdout + result.stderr
    checks = {v["field"]: v for v in json.loads(as_json.stdout)["online"]}
    assert checks["openai.key"]["reason"] == UNSENDABLE


def test_a_request_that_cannot_be_built_never_shows_its_error_text(monkeypatch):
    """Past the check before sending, an error raised while the request is built or its headers are checked
    (http.client quotes the header, escaped) shows only its class name."""
    from cursor_byok.checks import doctor
    from cursor_byok.model import Secret

    value = BROKEN_KEYS["CR LF and a header"]
    target = doctor.Target("openai", "openai.key", "http://127.0.0.1:9/v1/models", Secret(value))
    found = doctor.verify(target, timeout=2)
    assert found.reason.startswith("not sent: the request was refused before it left (ValueError)")
    for part in broken_parts(value):
        assert part not in found.reason
    monkeypatch.setattr(doctor, "auth_headers", lambda *_a: (_ for _ in ()).throw(ValueError(f"bad {value!r}")))
    found = doctor.verify(target, timeout=2)
    assert found.reason == "not sent: the request could not be built (ValueError)"
    secret = Secret(value)
    for form in (value, repr(value), ascii(value), json.dumps(value)):
        assert "sk-proj" not in doctor.without_key(f"error: {form}!", secret)


@pytest.mark.parametrize("case", sorted(BROKEN_KEYS))
def test_list_flags_a_key_that_holds_a_line_break_instead_of_breaking_its_table(case, make_sample_dir, tmp_path, env):
    sd = make_sample_dir("v11", keys={"openai.key": BROKEN_KEYS[case]})
    doc = json.loads(cli(sd, tmp_path, "list", "--json").stdout)
    key = doc["providers"]["openai"]["key"]
    assert key["format"] == "broken" and key["masked"].startswith("sk-proj-…")
    assert not any(c.isspace() or not c.isprintable() for c in key["masked"])
    text = cli(sd, tmp_path, "list").stdout
    row = next(line for line in text.splitlines() if line.lstrip().startswith("openai"))
    assert "format broken" in row or "broken" in text
    for part in broken_parts(BROKEN_KEYS[case]):
        assert part not in text


# --- 11. doctor --online ends, however slowly a server answers ---------------------------------------------------


def run_bounded(fn, limit: float):
    """fn() in a daemon thread; its result, or a failure if it is still running after `limit` s."""
    import threading

    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"still running after {limit:g} s")
    return box["result"]


@pytest.mark.parametrize("pause", [0.3, 1.5], ids=["drip-fast", "drip-slow"])
def test_doctor_online_stops_a_slow_drip_server_at_its_deadline(pause, make_sample_dir, tmp_path, monkeypatch):
    """The fake sends its answer, status line first, one byte every `pause` s: every read is quicker than the
    read timeout, so only a deadline ends it. The test's own deadline is 4 s plus a margin."""
    import time

    from helpers.doctor import Dir, inject_urls, keys, only
    from helpers.fakeprovider import FakeProvider

    values = keys()
    with FakeProvider({"openai": values["openai.key"]}, drip={"openai": pause}) as fake:
        from cursor_byok.checks import doctor

        monkeypatch.setattr(doctor, "DEADLINE_S", 4.0, raising=False)  # 10 s in a real run
        inject_urls(monkeypatch, fake.urls())
        d = Dir(make_sample_dir, tmp_path, key_values=values, blob=only("openai"))
        started = time.monotonic()
        result = run_bounded(lambda: d.run("--online", "--json"), 30)
        took = time.monotonic() - started
    assert took < 4.0 + 6.0, took  # 4 s of deadline, the rest for a CLI run on 2 busy cores
    assert result.exit_code in DOCUMENTED_EXITS, result.stderr
    check = {v["field"]: v for v in json.loads(result.stdout)["online"]}["openai.key"]
    assert check["status"] == "unknown" and check["slow"] is True
    assert "stopped at the 4 s deadline" in check["reason"]
    assert_never_shown(result, values["openai.key"])


def test_the_deadline_is_said_in_the_help():
    result = invoke("doctor", "--help")
    assert "10 s deadline" in " ".join(result.stdout.split())


# --- 12. audit ends on a workspace database that never ends --------------------------------------------------

RECURSIVE_VIEW = (
    "CREATE VIEW ItemTable AS WITH RECURSIVE forever(key, value) AS "
    "(SELECT 'a', 'b' UNION ALL SELECT key || 'a', value FROM forever) SELECT key, value FROM forever"
)


def workspace_db(sd, name: str, *statements: str) -> Path:
    folder = sd.udd / "User" / "workspaceStorage" / name
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "state.vscdb")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return folder / "state.vscdb"


def test_audit_ends_on_a_workspace_itemtable_that_is_a_recursive_view(make_sample_dir, tmp_path, env):
    sd = make_sample_dir("basic")
    workspace_db(sd, "0f3a9c" + "1" * 26, RECURSIVE_VIEW)
    result = run_bounded(lambda: cli(sd, tmp_path, "audit", "--json", "--fail-on", "none"), 60)
    assert result.exit_code == 0, result.stderr
    found = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "file-unreadable"]
    assert any("workspaceStorage" in f["subject"] and "ItemTable is of type view" in f["message"] for f in found), found


def test_audit_bounds_the_work_on_each_workspace_database(make_sample_dir, tmp_path, env, monkeypatch):
    from cursor_byok.cursor import store

    monkeypatch.setattr(store, "STREAM_DEADLINE_S", 0.0, raising=False)  # 5 s in a real run
    sd = make_sample_dir("basic")
    rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
    workspace_db(
        sd,
        "0f3a9c" + "2" * 26,
        "CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)",
        rows + "INSERT INTO ItemTable SELECT 'row' || i, 'value' FROM n",
    )
    result = run_bounded(lambda: cli(sd, tmp_path, "audit", "--json", "--fail-on", "none"), 60)
    found = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "file-unreadable"]
    assert any("not read to the end within 0 s" in f["message"] for f in found), found


# --- 4. an unset key leaves no copy in the database file or its -wal -------------------------------------------


@pytest.fixture
def no_secure_delete_by_default(monkeypatch):
    """Every new SQLite connection starts with secure_delete off, as on python.org's macOS and Windows builds
    (this machine's SQLite is built with SQLITE_SECURE_DELETE, which would hide the problem)."""
    real = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def raw_copies(db: Path, value: str) -> list[str]:
    """Which of the database's files hold `value` in their raw bytes."""
    found = []
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-journal")):
        if path.exists() and value.encode() in path.read_bytes():
            found.append(path.name)
    return found


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "delete"])
@pytest.mark.parametrize("provider", ["openai", "azure"])
@pytest.mark.parametrize("reader", [False, True], ids=["alone", "another-reader"])
def test_an_unset_key_leaves_no_copy_in_the_database_files(
    provider, wal, reader, no_secure_delete_by_default, make_sample_dir, tmp_path, env
):
    """openai: a legacy plain row; azure: a plain-text field of the settings blob. With another program holding
    the database open, SQLite does not empty -wal when the tool's connection closes."""
    sd = make_sample_dir("plaintext", keys={}, wal=wal)
    with sqlite3.connect(sd.db) as conn:  # Cursor's many rows: the key row gets a page of its own, as in real life
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", [(f"filler.{i:04d}", "x" * 200) for i in range(400)])
    conn.close()
    key = make_key(provider, random.Random(41))
    holder = sqlite3.connect(sd.db) if reader else None
    try:
        if holder is not None:
            holder.execute("SELECT count(*) FROM ItemTable").fetchone()
        options = ["--base-url", "https://contoso-ai.openai.azure.com", "--deployment", "gpt-4o"] * (
            provider == "azure"
        )
        done = cli(sd, tmp_path, "set", provider, "--key-env", "NEW_KEY", *options, "--yes", env={"NEW_KEY": key})
        assert done.exit_code == 0, done.stderr
        assert raw_copies(sd.db, key)  # the test sees the key where it is stored
        removed = cli(sd, tmp_path, "unset", provider, "--yes")
        assert removed.exit_code == 0, removed.stderr
        assert raw_copies(sd.db, key) == []
    finally:
        if holder is not None:
            holder.close()


# --- 8. a hard link to the live database gets no write ----------------------------------------------------------


def test_a_hard_link_to_the_live_database_is_refused(clean_env, tmp_path, env):
    import shutil
    import subprocess

    from cursor_byok.cursor import paths
    from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, sample_keys

    home = Path(clean_env["HOME"])
    udd = home / ".config" / "Cursor"  # the default installation on Linux
    sample = Sample(generation="basic", secret=b"x", keys=sample_keys(random.Random(81)), settings=default_settings())
    db = build_user_data_dir(udd, sample)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = elsewhere / "state.vscdb"
    os.link(db, link)
    shutil.copy(db, elsewhere / "copy.vscdb")
    before = disk_state(db)
    key = make_key("openai", random.Random(82))
    write = ["set", "openai", "--key-env", "NEW_KEY", "--yes"]

    def run(target: Path, *args: str):
        return invoke("--db", str(target), "--safe-storage", "basic", *args, env={"NEW_KEY": key})

    cursor = subprocess.Popen(["sleep", "600"])  # a stand-in Cursor: code.lock names a live process
    try:
        (udd / "code.lock").write_text(str(cursor.pid))
        refused = run(link, *write)
        assert_one_error(refused, Exit.CURSOR_RUNNING)
        assert str(cursor.pid) in refused.stderr and "the same file" in refused.stderr
        inst = paths.candidate_installations(db=str(link))[0]
        assert [o.user_data_dir for o in paths.same_file_elsewhere(inst)] == [udd]
        assert run(link, "set", "openai", "--key-env", "NEW_KEY", "--dry-run").exit_code == 0  # a preview is fine
    finally:
        cursor.kill()
        cursor.wait(timeout=10)
    refused = run(link, *write)  # Cursor has quit, but another name of the file may be any Cursor's
    assert_one_error(refused, Exit.INPUT)
    assert "hard link" in refused.stderr
    link_wal = Path(f"{link}-wal")  # a read through the link leaves an empty one: SQLite names it after the name
    assert disk_state(db) == before and (not link_wal.exists() or link_wal.stat().st_size == 0)
    copied = run(elsewhere / "copy.vscdb", *write)
    assert copied.exit_code == 0, copied.stderr  # a copy is a copy
    assert_never_shown(copied, key)


# --- 10. a bare cmd: program runs from PATH only, never from the manifest's folder ------------------------------


def key_printer(folder: Path, name: str, key: str) -> Path:
    """An executable `name` in `folder` that prints `key`."""
    import stat
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\nprint({key!r})\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_bare_program_name_is_never_run_from_the_manifests_folder(make_sample_dir, tmp_path, env, monkeypatch):
    """On POSIX an empty PATH entry means the current folder, where a command runs (the manifest's): the same
    hole as Windows' CreateProcess, which looks in the current folder before PATH whatever PATH says."""
    sd = make_sample_dir("basic", keys={})
    team = tmp_path / "team"
    planted = make_key("anthropic", random.Random(101))
    key_printer(team, "getkey", planted)
    manifest = team / "m.toml"
    manifest.write_text('version = 1\n[anthropic]\nkey = "cmd:getkey"\n')
    before = disk_state(sd.db)
    monkeypatch.setenv("PATH", ":" + os.environ["PATH"])  # "" first: the current folder
    result = cli(sd, tmp_path, "apply", str(manifest), "--yes")
    assert_refused(result, sd, before, env)
    assert "command not found: getkey (looked on PATH only" in result.stderr
    assert_never_shown(result, planted)
    real_key = make_key("anthropic", random.Random(102))
    tools = key_printer(tmp_path / "tools", "getkey", real_key)
    monkeypatch.setenv("PATH", f":{tools.parent}:{os.environ['PATH']}")
    dry = cli(sd, tmp_path, "apply", str(manifest), "--dry-run", "--json")
    sources = {s["field"]: s for s in json.loads(dry.stdout)["sources"]}
    assert sources["anthropic.key"]["program"] == str(tools)
    assert sources["anthropic.key"]["action"] == f"would run `getkey` (runs {tools})"
    done = cli(sd, tmp_path, "apply", str(manifest), "--yes")
    assert done.exit_code == 0, done.stderr
    fingerprint = json.loads(cli(sd, tmp_path, "list", "--json").stdout)["providers"]["anthropic"]["key"]
    assert fingerprint["fingerprint"] == api.Secret(real_key).fingerprint


def test_the_confirmation_shows_the_program_that_runs(make_sample_dir, tmp_path, env, monkeypatch):
    from cursor_byok.changes import manifest as manifests

    tools = key_printer(tmp_path / "tools", "getkey", make_key("anthropic", random.Random(103)))
    path = tmp_path / "team" / "m.toml"
    path.parent.mkdir()
    path.write_text('version = 1\n[anthropic]\nkey = "cmd:getkey --vault team"\n')
    monkeypatch.setenv("PATH", f"{tools.parent}:/usr/bin:/bin")
    loaded = manifests.load(path)
    assert manifests.commands(loaded) == [("anthropic.key", f"getkey --vault team (runs {tools})")]
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert manifests.commands(loaded) == [
        ("anthropic.key", "getkey --vault team (not found on PATH: it would be refused)")
    ]


def test_the_windows_search_looks_on_path_only(monkeypatch, tmp_path):
    """The Windows branch by its call shape: only PATH's absolute folders, in order, with PATHEXT's extensions;
    never the current folder, the manifest's folder or a relative PATH entry; the program is run by full path."""
    import subprocess

    from cursor_byok.changes import wanted

    asked: list[str] = []
    exists = {"C:\\Tools\\op.CMD"}
    monkeypatch.setattr(os.path, "isfile", lambda p: asked.append(p) or p in exists)
    env = {"PATH": "C:\\Tools;relative\\bin;;\\rooted;C:\\Windows\\System32", "PATHEXT": ".EXE;.CMD"}
    manifest_folder = Path("C:/Users/dev/team")
    assert wanted.resolve_program("op", env, manifest_folder, platform="win32") == "C:\\Tools\\op.CMD"
    assert asked == ["C:\\Tools\\op.EXE", "C:\\Tools\\op.CMD"]
    asked.clear()
    assert wanted.resolve_program("op.exe", env, manifest_folder, platform="win32") is None
    assert asked == ["C:\\Tools\\op.exe", "C:\\Windows\\System32\\op.exe"]
    assert wanted.resolve_program("C:\\bin\\op.exe", env, manifest_folder, platform="win32") == "C:\\bin\\op.exe"
    assert wanted.resolve_program("tools\\op.exe", {}, Path("C:\\team"), platform="win32") == "C:\\team\\tools\\op.exe"

    started: list[list[str]] = []

    class Stop(Exception):
        pass

    def popen(args, **kw):
        started.append(list(args))
        raise Stop

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(wanted.sys, "platform", "win32")
    with pytest.raises(Stop):
        wanted.run_key_command('op read "op://team/openai"', "test", cwd=manifest_folder, env=env)
    assert started == [["C:\\Tools\\op.CMD", "read", "op://team/openai"]]


# --- 7 (fixed on main before this round; its repros had no test) -------------------------------------------------


SPLICES = {
    "old text that closes the value and adds a member": (
        ["openAIBaseUrl"],
        'null, "cursorCreds": {"backendUrl": "https://collector.attacker.example"}',
        "not one JSON value",
    ),
    "a value of another type": (["useOpenAIKey"], '{"cursorCreds": {"backendUrl": "https://x.example"}}', "type"),
    "an endpoint no write would store": (["openAIBaseUrl"], '"http://llm-gateway.attacker.example/v1"', "http"),
    "a region that is a URL": (["bedrockState", "region"], '"https://attacker.example"', "region"),
}


@pytest.mark.parametrize("case", sorted(SPLICES))
def test_a_forged_journal_value_is_checked_like_any_write(case, make_sample_dir, tmp_path, data_dir):
    from helpers.transfer import dump, export, identity, import_, journals, make_target, rewrite, undo

    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("v11"), tmp_path / "keys.age", recipient)
    target = make_target(make_sample_dir, "v11")
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    (path,) = journals(data_dir)
    field_path, old, words = SPLICES[case]

    def forge(doc: dict) -> None:
        blob_row = next(r for r in doc["rows"] if "fields" in r)
        found = [f for f in blob_row["fields"] if f["path"] == field_path]
        entry = found[0] if found else {"path": field_path, "new_sha256": None}
        if not found:
            blob_row["fields"].append(entry)
        entry["old"] = old

    rewrite(path, forge)
    before = dump(target.db)
    result = undo(target)
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert "not restored" in result.stderr and words in result.stderr
    assert "attacker" not in json.dumps(before) and dump(target.db) == before


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_journal_that_is_a_fifo_or_a_device_never_hangs_undo_list(kind, make_sample_dir, tmp_path, data_dir):
    import subprocess
    import sys

    sd = make_sample_dir("basic")
    assert cli(sd, tmp_path, "set", "openai", "--key-env", "K", "--yes", env={"K": make_key("openai")}).exit_code == 0
    folder = data_dir / "journals"
    (real,) = [p for p in folder.iterdir() if p.suffix == ".json"]
    name = real.name.replace(real.name[:8], "20991231")
    if kind == "fifo":
        os.mkfifo(folder / name)
    else:
        (folder / name).symlink_to("/dev/zero")
    args = [sys.executable, "-m", "cursor_byok", "--user-data-dir", str(sd.udd), "--safe-storage", "basic"]
    env = {**os.environ, "CURSOR_BYOK_DATA_DIR": str(data_dir), "PYTHONPATH": str(Path(api.__file__).parent.parent)}
    done = subprocess.run([*args, "undo", "--list"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert real.name.split(".")[0] in done.stdout


def test_the_same_file_under_a_bind_mount_is_refused_while_cursors_own_wal_holds_changes(tmp_path, monkeypatch):
    """A bind mount gives the file one name here and Cursor's elsewhere (no second link to count): a -wal left
    under Cursor's name holds changes a write through this name would not see."""
    from cursor_byok.cursor import paths
    from cursor_byok.errors import LinkedDatabase

    here = paths.candidate_installations(db=str(tmp_path / "mnt" / "state.vscdb"))[0]
    cursors = paths.Installation(tmp_path / "Cursor" / "User" / "globalStorage" / "state.vscdb", tmp_path, "default")
    cursors.db_path.parent.mkdir(parents=True)
    monkeypatch.setattr(paths, "same_file_elsewhere", lambda inst, env=None: [cursors] if inst is here else [])
    paths.refuse_other_names(here)  # nothing pending: as good as Cursor's own path with Cursor closed
    Path(f"{cursors.db_path}-wal").write_bytes(b"\x37\x7f\x06\x82" + bytes(28))
    with pytest.raises(LinkedDatabase, match="holds changes"):
        paths.refuse_other_names(here)
