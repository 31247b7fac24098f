"""Moves you can trust: weaker protection said before writing, scripting, one confirmation rule, mistakes refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.transfer import (
    ONLY_KNOWN,
    assert_unchanged,
    export,
    identity,
    import_,
    items,
    journals,
    make_target,
    options,
    run,
    snapshot,
)

from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import PLAIN_PREFIX
from cursor_byok.providers import registry


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "byok-data"


@pytest.fixture
def moved(make_sample_dir, tmp_path):
    """(source v11 install, its bundle, the identity that opens it)."""
    source = make_sample_dir("v11")
    ident, recipient = identity(tmp_path)
    return source, export(source, tmp_path / "keys.age", recipient), ident


# --- weaker protection on import ---------------------------------------------------------


def test_plan_says_when_a_secret_key_becomes_a_plain_row(moved, make_sample_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "plaintext")
    result = import_(target, bundle, ident, "--dry-run", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "openai.key: LESS PROTECTED than at the source: was encrypted, will be stored in plain text" in result.stdout
    detail = import_(target, bundle, ident, "--dry-run", "--only", "openai", "-v")  # the technical words with -v
    assert "openai.key: LESS PROTECTED than at the source: was encrypted (secret://)" in detail.stdout
    assert "in a plain cursorAuth row" in detail.stdout
    doc = json.loads(import_(target, bundle, ident, "--dry-run", "--json", "--only", "openai").stdout)
    assert any("openai.key: LESS PROTECTED" in n for n in doc["plan"]["notes"])


def test_no_weaker_note_when_the_key_stays_encrypted(moved, make_sample_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "windows")
    result = import_(target, bundle, ident, "--dry-run", "--only", "openai")
    assert result.exit_code == 0, result.stderr
    assert "LESS PROTECTED" not in result.stdout


def test_key_storage_secret_refuses_keys_kept_only_in_the_blob(moved, make_sample_dir, data_dir):
    source, bundle, ident = moved
    target = make_target(make_sample_dir, "v11", extras={})
    before = snapshot(target.db)
    result = import_(target, bundle, ident, "--yes", "--key-storage", "secret", *ONLY_KNOWN)
    assert result.exit_code == int(Exit.INPUT), (result.stdout, result.stderr)
    assert "--key-storage secret cannot be honoured for azure.key" in result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(target.db, before)
    assert journals(data_dir) == []
    ok = import_(target, bundle, ident, "--yes", "--key-storage", "secret", "--only", "openai")
    assert ok.exit_code == 0, ok.stderr
    assert PLAIN_PREFIX + registry().key_row_names["openai.key"] not in items(target.db)


def test_key_storage_secret_is_refused_before_a_conflict_could_be_replaced_at_the_prompt(
    moved, make_sample_dir, data_dir
):
    """A stored, different Azure key is a conflict; replacing it at the prompt would write it in plain
    text, so --key-storage secret is refused before anything is asked."""
    from cursor_byok.samples.installs import make_key

    source, bundle, ident = moved
    target = make_target(make_sample_dir, "v11", extras={}, keys={"azure.key": make_key("azure")})
    before = snapshot(target.db)
    result = import_(target, bundle, ident, "--key-storage", "secret", "--only", "azure")
    assert result.exit_code == int(Exit.INPUT), (result.stdout, result.stderr)
    assert "--key-storage secret cannot be honoured for azure.key" in result.stderr
    assert_unchanged(target.db, before)
    assert journals(data_dir) == []


# --- scripting -----------------------------------------------------------------------------


def test_get_prints_one_key_and_nothing_else(make_sample_dir):
    sd = make_sample_dir("v11")
    result = run(*options(sd), "get", "openai")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == sd.keys["openai.key"] + "\n"
    assert run(*options(sd), "get", "Claude").stdout.strip() == sd.keys["anthropic.key"]  # alias, any case
    bedrock = run(*options(sd), "get", "aws", "--field", "secret_key")
    assert bedrock.stdout.strip() == sd.keys["bedrock.secret_key"]
    doc = json.loads(run(*options(sd), "get", "gemini", "--json").stdout)
    assert doc == {"output_version": 2, "provider": "google", "field": "key", "value": sd.keys["google.key"]}


def test_get_exit_codes_no_key_and_undecryptable(make_sample_dir):
    empty = make_target(make_sample_dir, "v11")
    result = run(*options(empty), "get", "openai")
    assert result.exit_code == int(Exit.NO_KEY) == 18
    assert result.stdout == "" and "no openai key is stored" in result.stderr
    result = run(*options(empty), "get", "openai", "--json")
    assert json.loads(result.stdout) == {"error": {"code": 18, "message": result.stderr.split("error: ", 1)[1].strip()}}
    sd = make_sample_dir("v11")
    wrong = sd.udd.parent / "wrong.secret"
    wrong.write_text("not-this-machine-password\n")
    opts = [
        "--user-data-dir",
        sd.udd,
        "--safe-storage",
        "password",
        "--safe-storage-password-file",
        wrong,
        "--safe-storage-scheme",
        "linux",
    ]
    result = run(*opts, "get", "openai")
    assert result.exit_code == int(Exit.SAFE_STORAGE) and result.stdout == ""
    assert sd.keys["openai.key"] not in result.stderr


def test_json_failures_print_an_error_document_and_results_keep_theirs(make_sample_dir, tmp_path):
    missing = run("--db", tmp_path / "nope" / "state.vscdb", "list", "--json")
    assert missing.exit_code == int(Exit.NOT_FOUND)
    assert json.loads(missing.stdout)["error"]["code"] == int(Exit.NOT_FOUND)
    usage = run("--db", tmp_path / "x", "get", "azure", "--field", "nope", "--json")
    assert usage.exit_code == 2 and json.loads(usage.stdout)["error"]["code"] == 2
    sd = make_sample_dir("v11")
    plain = run("--db", tmp_path / "nope" / "state.vscdb", "list")
    assert plain.stdout == ""  # without --json, stdout stays empty
    audit = run(*options(sd), "audit", "--json", "--fail-on", "info")
    assert "findings" in json.loads(audit.stdout) and "error" not in json.loads(audit.stdout)


def test_audit_fail_on_none_never_fails(make_sample_dir):
    sd = make_sample_dir("plaintext")  # plain key rows: findings
    assert run(*options(sd), "audit", "--fail-on", "info").exit_code == int(Exit.FINDINGS)
    assert run(*options(sd), "audit", "--fail-on", "none").exit_code == 0


def test_where_lists_the_paths_searched_and_marks_the_one_used(make_sample_dir, clean_env):
    result = run("where")
    assert result.exit_code == int(Exit.NOT_FOUND)
    assert "searched: " in result.stderr and ".config/Cursor/User/globalStorage/state.vscdb" in result.stderr
    config = Path(clean_env["HOME"]) / ".config"
    config.mkdir()
    make_sample_dir("basic").udd.rename(config / "Cursor")
    make_sample_dir("basic").udd.rename(config / "Cursor Nightly")
    found = json.loads(run("where", "--json").stdout)["installations"]
    assert [i["used"] for i in found] == [True, False]
    assert "used by commands  yes" in run("where").stdout


def test_shell_completion_script_and_completions(clean_env):
    import os
    import subprocess
    import sys

    code = "from cursor_byok.cli import main; main(prog_name='cursor-byok')"
    env = {**os.environ, "_CURSOR_BYOK_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_cursor_byok_completion" in script.stdout
    env = {**os.environ, "_CURSOR_BYOK_COMPLETE": "bash_complete", "COMP_WORDS": "cursor-byok ge", "COMP_CWORD": "1"}
    words = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,get" in words.stdout.splitlines()


# --- one rule for confirmations --------------------------------------------------------------


def pty_session(argv: list[str], steps: list[tuple[bytes, bytes]], timeout: float = 120) -> tuple[int, bytes]:
    """Run argv on a pty; for each (wait for, then type) step, wait for the text and type the bytes.
    The whole session has `timeout` s: then the child is killed and the test fails with what it showed."""
    import time

    from helpers.children import PtyChild

    with PtyChild(argv, timeout=timeout) as child:
        seen = 0  # how far the steps have matched
        for until, typed in steps:
            seen = child.expect(until, seen)
            if typed:
                time.sleep(0.3)  # let the child reach its read before typing
                child.type(typed)
        return child.exit_code(), child.shown


def cli_argv(sd, *args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "cursor_byok", *map(str, options(sd)), *args]


WRITES = [
    ("unset", "anthropic"),
    ("models", "add", "my-model"),
    ("models", "select", "composer", "gpt-4.1"),
    ("set", "openai", "--disable", "--no-key"),
]


@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a))
def test_every_write_needs_yes_without_a_terminal(make_sample_dir, args, data_dir):
    sd = make_sample_dir("v11")
    before = snapshot(sd.db)
    for extra in ((), ("--json",)):
        result = run(*options(sd), *args, *extra)
        assert result.exit_code == int(Exit.INPUT), (result.stdout, result.stderr)
        assert "pass --yes" in result.stderr
        assert_unchanged(sd.db, before)
    assert journals(data_dir) == []
    assert run(*options(sd), *args, "--dry-run").exit_code == 0  # a dry run writes nothing: no --yes needed
    assert run(*options(sd), *args, "--yes").exit_code == 0


def test_declining_on_a_terminal_writes_nothing_and_exits_19(make_sample_dir, data_dir):
    sd = make_sample_dir("v11")
    before = snapshot(sd.db)
    code, shown = pty_session(cli_argv(sd, "unset", "anthropic", "--json"), [(b"[y/N]", b"n\r")])
    assert code == int(Exit.DECLINED) == 19, shown
    assert b"declined; nothing written" in shown
    assert_unchanged(sd.db, before)
    assert journals(data_dir) == []


def test_yes_on_a_terminal_writes(make_sample_dir):
    sd = make_sample_dir("v11")
    code, shown = pty_session(cli_argv(sd, "models", "add", "my-model"), [(b"[y/N]", b"y\r")])
    assert code == 0, shown
    assert b"applied:" in shown


@pytest.mark.slow
def test_ctrl_c_at_a_prompt_exits_130_and_writes_nothing(make_sample_dir, data_dir):
    sd = make_sample_dir("v11")
    before = snapshot(sd.db)
    code, shown = pty_session(cli_argv(sd, "unset", "anthropic"), [(b"[y/N]", b"\x03")])
    assert code == int(Exit.INTERRUPTED) == 130, shown
    assert b"interrupted; nothing written" in shown and b"Traceback" not in shown
    assert_unchanged(sd.db, before)
    code, shown = pty_session(cli_argv(sd, "set", "google"), [(b"key", b"\x03")])  # the hidden key prompt
    assert code == 130 and b"interrupted; nothing written" in shown, shown
    assert_unchanged(sd.db, before)
    assert journals(data_dir) == []


def test_undo_asks_too(make_sample_dir, data_dir):
    sd = make_sample_dir("v11")
    assert run(*options(sd), "unset", "anthropic", "--yes").exit_code == 0
    after = snapshot(sd.db)
    refused = run(*options(sd), "undo")
    assert refused.exit_code == int(Exit.INPUT) and "pass --yes" in refused.stderr
    code, shown = pty_session(cli_argv(sd, "undo"), [(b"[y/N]", b"n\r")])
    assert code == 19, shown
    assert_unchanged(sd.db, after)
    assert run(*options(sd), "undo", "--yes").exit_code == 0


# --- mistakes refused ---------------------------------------------------------------------


def test_another_providers_key_is_refused_unless_forced(make_sample_dir, data_dir):
    import random

    from cursor_byok.samples.installs import make_key

    sd = make_sample_dir("v11")
    before = snapshot(sd.db)
    anthropic_key = make_key("anthropic", random.Random(5))
    env = {"K": anthropic_key}
    from helpers.cli import cli_runner

    from cursor_byok.cli import main

    def go(*extra):
        return cli_runner().invoke(
            main, [*map(str, options(sd)), "set", "google", "--key-env", "K", "--yes", *extra], env=env
        )

    refused = go()
    assert refused.exit_code == int(Exit.INPUT), refused.stderr
    assert "looks like an anthropic key, not a google one" in refused.stderr and "--force" in refused.stderr
    assert anthropic_key not in refused.stderr + refused.stdout
    assert_unchanged(sd.db, before)
    assert go("--force").exit_code == 0


def test_switching_on_a_provider_with_no_key_is_refused(make_sample_dir):
    sd = make_target(make_sample_dir, "v11")  # no keys
    before = snapshot(sd.db)
    refused = run(*options(sd), "set", "Anthropic", "--no-key", "--enable", "--yes")
    assert refused.exit_code == int(Exit.INPUT) and "switched on with no key stored" in refused.stderr
    assert_unchanged(sd.db, before)
    assert run(*options(sd), "set", "anthropic", "--no-key", "--enable", "--yes", "--force").exit_code == 0


def test_unknown_surface_refused_and_listed(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    before = snapshot(sd.db)
    refused = run(*options(sd), "models", "select", "composr", "gpt-4.1", "--yes")
    assert refused.exit_code == int(Exit.INPUT) and "unknown surface 'composr'" in refused.stderr
    assert "deep-search" in refused.stderr
    assert_unchanged(sd.db, before)
    assert "quick-agent" in run("models", "select", "--help").stdout
    manifest = tmp_path / "team.toml"
    manifest.write_text('version = 1\n[models]\nselect = { "my-surface" = "gpt-4.1" }\n')
    refused = run(*options(sd), "apply", manifest, "--yes")
    assert refused.exit_code == int(Exit.INPUT) and "unknown surface 'my-surface'" in refused.stderr
    assert_unchanged(sd.db, before)
    assert run(*options(sd), "apply", manifest, "--yes", "--force").exit_code == 0


def test_provider_names_aliases_typos_and_comma_only(moved, make_sample_dir):
    source, bundle, ident = moved
    typo = run(*options(source), "get", "antropic")
    assert typo.exit_code == 2 and "did you mean 'anthropic'" in typo.stderr
    target = make_target(make_sample_dir, "v11")
    result = import_(target, bundle, ident, "--dry-run", "--json", "--only", "OpenAI,claude", "--only", "gemini")
    assert result.exit_code == 0, result.stderr
    fields = {c["field"].split(".")[0] for c in json.loads(result.stdout)["plan"]["changes"]}
    assert fields == {"openai", "anthropic", "google"}


# --- global options anywhere --------------------------------------------------------------


def test_global_options_after_the_command(make_sample_dir, tmp_path):
    from helpers.cli import cli_runner

    from cursor_byok.cli import main

    sd = make_sample_dir("v11")
    after = run("list", "--json", *options(sd))
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout)["providers"]["openai"]["key"]["storage"] == "password"
    assert run("get", "openai", "--db", sd.db, *options(sd)[2:]).stdout.strip() == sd.keys["openai.key"]
    # given in both places, the one after the command wins
    both = run("--user-data-dir", tmp_path / "elsewhere", "--safe-storage", "basic", "get", "openai", *options(sd))
    assert both.exit_code == 0, both.stderr
    for command in (["list"], ["get"], ["import"], ["models", "select"], ["undo"], ["redo"], ["audit"], ["where"]):
        shown = cli_runner().invoke(main, [*command, "--help"]).stdout
        assert all(opt in shown for opt in ("--db", "--user-data-dir", "--safe-storage-scheme")), command


# --- where and list agree; list exits 7 ------------------------------------------------------


def test_list_gives_the_reason_once_and_exits_7_where_names_the_backend_rows_need(make_sample_dir):
    sd = make_sample_dir("v11")
    opts = ["--user-data-dir", sd.udd, "--safe-storage", "basic"]  # not the backend the v11 rows need
    result = run(*opts, "list")
    assert result.exit_code == int(Exit.SAFE_STORAGE) == 7
    assert result.stdout.count("cannot be decrypted here") == 1  # one note, with what to run
    assert "these keys need a keyring" in result.stdout and "v11 values" not in result.stdout  # no jargon unless -v
    assert f"`cursor-byok --user-data-dir {sd.udd} --safe-storage basic where`" in result.stdout
    detail = run(*opts, "list", "-v")
    assert detail.stdout.count("cannot decrypt (") == 1  # one note, naming every row
    assert "secret://cursorAuth/openAIKey, secret://cursorAuth/claudeKey" in detail.stdout
    doc = run(*opts, "list", "--json")
    assert doc.exit_code == 7 and "providers" in json.loads(doc.stdout)  # still the normal document
    where = json.loads(run(*opts, "where", "--json").stdout)["installations"][0]
    assert where["rows_need"] == {"v11": "a keyring: secret-service or kwallet"}
    assert "stored keys need  a keyring: secret-service or kwallet" in run(*opts, "where").stdout
    assert run(*options(sd), "list").exit_code == 0


# --- absent is not empty ------------------------------------------------------------------


def test_list_bundle_marks_what_the_bundle_does_not_hold(make_sample_dir, tmp_path):
    source = make_sample_dir("v11")
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "openai.age", recipient, "--only", "openai")
    text = run("list", "--bundle", bundle, "-i", ident)
    assert text.exit_code == 0, text.stderr
    assert [
        line.split()[:3] for line in text.stdout.splitlines() if "not in bundle" in line and "anthropic" in line
    ] == [["anthropic", "not", "in"]]
    assert "models: not in bundle" in text.stdout
    doc = json.loads(run("list", "--bundle", bundle, "-i", ident, "--json").stdout)
    assert list(doc["providers"]) == ["openai"]
    assert "models" not in doc and "extra_secrets" not in doc
    full = json.loads(
        run("list", "--bundle", export(source, tmp_path / "all.age", recipient), "-i", ident, "--json").stdout
    )
    assert set(full["providers"]) == set(registry().names)
    assert full["models"]["user_added"] and "extra_secrets" in full


def test_list_bundle_shows_providers_it_holds_without_a_key(make_sample_dir, tmp_path):
    """A settings-only bundle (--no-keys) still lists each provider it holds, in provider order."""
    source = make_sample_dir("v11")
    ident, recipient = identity(tmp_path)
    bundle = export(source, tmp_path / "settings.age", recipient, "--no-keys", "--only", "openai,azure")
    text = run("list", "--bundle", bundle, "-i", ident)
    assert text.exit_code == 0, text.stderr
    firsts = [line.split()[:1] for line in text.stdout.splitlines()[1:7]]
    assert firsts == [["provider"], ["openai"], ["anthropic"], ["google"], ["azure"], ["bedrock"]]
    azure = next(line for line in text.stdout.splitlines() if line.startswith("azure"))
    assert "no key in bundle" in azure and "deployment=" in azure
    assert "not in bundle" in next(line for line in text.stdout.splitlines() if line.startswith("google"))


# --- prompts on a terminal ----------------------------------------------------------------


@pytest.mark.slow
def test_export_checks_the_length_first_and_import_gives_three_tries(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    bundle = tmp_path / "p.age"
    code, shown = pty_session(
        cli_argv(sd, "export", "-o", bundle),
        [
            (b"Bundle passphrase: ", b"short\r"),
            (b"too short", b""),
            (b"Bundle passphrase: ", b"long enough pass\r"),
            (b"(again): ", b"long enough pass\r"),
        ],
    )
    assert code == 0, shown
    assert shown.count(b"(again)") == 1  # the short one was never asked twice
    target = make_target(make_sample_dir, "v11")
    code, shown = pty_session(
        cli_argv(target, "import", bundle, "--dry-run"),
        [
            (b"Bundle passphrase: ", b"wrong one 1\r"),
            (b"2 tries left", b""),
            (b"Bundle passphrase: ", b"wrong 2\r"),
            (b"1 tries left", b""),
            (b"Bundle passphrase: ", b"long enough pass\r"),
        ],
    )
    assert code == 0, shown
    assert b"openai.key" in shown
    code, shown = pty_session(
        cli_argv(target, "import", bundle, "--dry-run"),
        [
            (b"Bundle passphrase: ", b"w1\r"),
            (b"left", b""),
            (b"Bundle passphrase: ", b"w2\r"),
            (b"left", b""),
            (b"Bundle passphrase: ", b"w3\r"),
        ],
    )
    assert code == int(Exit.BUNDLE_AUTH), shown


@pytest.mark.slow
def test_a_passphrase_protected_ssh_key_is_asked_for(make_sample_dir, tmp_path):
    import shutil
    import subprocess

    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen missing")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "ssh key pass", "-f", key], check=True, timeout=60)
    sd = make_sample_dir("v11")
    bundle = tmp_path / "ssh.age"
    assert (
        run(*options(sd), "export", "-o", bundle, "-r", (tmp_path / "id_ed25519.pub").read_text().strip()).exit_code
        == 0
    )
    code, shown = pty_session(
        cli_argv(sd, "list", "--bundle", bundle, "-i", key), [(b"Passphrase for the SSH key", b"ssh key pass\r")]
    )
    assert code == 0, shown
    assert b"openai" in shown
    refused = run("list", "--bundle", bundle, "-i", key)  # no terminal: a clear refusal
    assert refused.exit_code == int(Exit.INPUT) and "passphrase-protected" in refused.stderr


@pytest.mark.slow
def test_safe_storage_password_is_asked_for_on_a_terminal(make_sample_dir):
    import sys

    sd = make_sample_dir("v11")
    argv = [
        sys.executable,
        "-m",
        "cursor_byok",
        "--user-data-dir",
        str(sd.udd),
        "--safe-storage",
        "password",
        "--safe-storage-scheme",
        "linux",
        "get",
        "openai",
    ]
    code, shown = pty_session(argv, [(b"Machine secret", sd.sample.secret + b"\r")])
    assert code == 0, shown
    assert sd.keys["openai.key"].encode() in shown
    assert sd.sample.secret not in shown.split(b"Machine secret", 1)[1].split(b"\n", 1)[0]  # hidden


# --- audit gap ------------------------------------------------------------------------------


def test_audit_sees_an_old_plain_key_behind_a_secret_row_in_the_backup(make_sample_dir):
    import random
    import shutil
    import sqlite3

    from cursor_byok.samples.installs import make_key

    sd = make_sample_dir("v11")
    backup = sd.db.with_name(sd.db.name + ".backup")
    shutil.copy(sd.db, backup)
    old_key = make_key("openai", random.Random(404))
    conn = sqlite3.connect(backup)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("cursorAuth/openAIKey", old_key))
    conn.commit()
    conn.close()
    result = run(*options(sd), "audit", "--json", "--fail-on", "none")
    assert result.exit_code == 0, result.stderr
    old = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "backup-old-key"]
    assert len(old) == 1 and "openai.key (plain row cursorAuth/openAIKey)" in old[0]["message"]
    assert old_key not in result.stdout


# --- feedback -------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_status_line_while_scrypt_runs_then_erased(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    secret = tmp_path / "pass.txt"
    secret.write_text("a long enough passphrase\n")
    code, shown = pty_session(cli_argv(sd, "export", "-o", tmp_path / "s.age", "--passphrase-file", secret), [])
    assert code == 0, shown
    assert b"deriving key\xe2\x80\xa6" in shown
    after = shown.split(b"deriving key\xe2\x80\xa6", 1)[1]
    assert after.startswith(b"\r\x1b[K")  # erased: nothing left in the scrollback
    piped = run(*options(sd), "export", "-o", tmp_path / "t.age", "--passphrase-file", secret)
    assert "deriving" not in piped.stderr  # not a terminal: no status line


def test_grammar_an_anthropic_key(make_sample_dir):
    import random

    from helpers.cli import cli_runner

    from cursor_byok.cli import main
    from cursor_byok.samples.installs import make_key

    sd = make_sample_dir("v11")
    args = [*map(str, options(sd)), "set", "google", "--key-env", "K", "--yes", "--force"]
    assert cli_runner().invoke(main, args, env={"K": make_key("anthropic", random.Random(9))}).exit_code == 0
    audit = run(*options(sd), "audit", "--fail-on", "none").stdout
    doctor = run(*options(sd), "doctor").stdout
    assert "an Anthropic key" in audit and "a Anthropic" not in audit + doctor


@pytest.mark.slow
def test_colour_only_on_a_terminal_and_never_with_no_color(make_sample_dir, monkeypatch):
    import os

    sd = make_sample_dir("v11")
    code, shown = pty_session(cli_argv(sd, "models", "add", "my-model", "--dry-run"), [])
    assert code == 0 and b"\x1b[33m~  models.user_added" in shown, shown
    monkeypatch.setenv("NO_COLOR", "1")
    code, shown = pty_session(cli_argv(sd, "models", "add", "my-model", "--dry-run"), [])
    assert code == 0 and b"\x1b[3" not in shown, shown
    assert os.environ["NO_COLOR"] == "1"
    piped = run(*options(sd), "models", "add", "my-model", "--dry-run")
    assert "\x1b[" not in piped.stdout


def test_tables_fit_the_terminal_with_a_hanging_indent(monkeypatch):
    from cursor_byok import render

    rows = [["error", "key-plaintext", "openai.key", "the key is stored in plain text in a legacy row " * 2]]
    monkeypatch.setattr(render, "TERMINAL_WIDTH", 60)
    lines = render.table(rows, ["severity", "code", "subject", "finding"]).splitlines()
    column = lines[0].index("finding")
    assert all(len(line) <= 60 for line in lines) and len(lines) > 3
    assert all(line[:column].strip() == "" and line[column] != " " for line in lines[2:])
    monkeypatch.setattr(render, "TERMINAL_WIDTH", None)
    assert len(render.table(rows).splitlines()) == 1  # not a terminal: one line per row
