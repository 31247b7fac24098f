"""A new laptop, start to finish, as a newcomer meets it (issue 23): each friction run as a user would, on a
terminal 80 columns wide where the terminal matters."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.children import on_a_terminal
from helpers.transfer import SAMPLE_ENDPOINTS, cli_process, export, identity, import_, make_target, options, run

from cursor_byok.changes import journal
from cursor_byok.cli import Exit
from cursor_byok.cursor.rows import BLOB_KEY
from cursor_byok.samples.installs import Sample, build_user_data_dir, default_settings, sample_keys

WIDTH = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
JARGON = ("padding", "UTF-8", "Exception", "v11", "password backend", "secret://")


def on_terminal(*args, env: dict | None = None) -> tuple[int, str]:
    """`cursor-byok ARGS` on a pty 80 columns wide: (exit code, what the terminal showed, without colour)."""
    env = {**(env or os.environ), "COLUMNS": str(WIDTH)}
    code, shown = on_a_terminal([sys.executable, "-m", "cursor_byok", *map(str, args)], [], env=env)
    return code, ANSI.sub("", shown.decode("utf-8", "replace")).replace("\r", "")


def assert_fits(text: str, width: int = WIDTH) -> None:
    """Every line fits `width`, but for a quoted command, a URL or a path, which are never split (they paste
    whole)."""
    for line in text.splitlines():
        rest = re.sub(r"`[^`]*`|https?://\S+|/\S+", "", line)
        assert len(line) <= width or len(rest) <= width, line


def hints(text: str) -> list[str]:
    """Every `cursor-byok ...` command quoted in the text."""
    return list(dict.fromkeys(re.findall(r"`(cursor-byok [^`]*)`", text)))


# --- help --------------------------------------------------------------------------------------------


def test_bare_command_prints_its_help_on_stdout_and_exits_0():
    done = cli_process([], capture_output=True, text=True)
    assert done.returncode == 0 and "Commands:" in done.stdout and not done.stderr


def test_help_command_shows_the_tool_and_one_command():
    assert "Commands:" in run("help").stdout
    shown = run("help", "models", "add").stdout
    assert "Add custom models" in shown and "models add" in shown
    wrong = run("help", "nope")
    assert wrong.exit_code == 2 and "no command 'nope'" in wrong.stderr


def test_only_with_spaces_says_to_use_commas():
    done = run("export", "-o", "x.age", "--only", "openai", "anthropic")
    assert done.exit_code == 2
    assert "use commas (--only openai,anthropic) or repeat --only" in done.stderr


def test_global_options_are_one_heading_in_a_commands_help():
    shown = run("import", "--help").stdout
    heading = "Global options (before or after the command; see cursor-byok --help):"
    assert heading in shown
    after = shown.split(heading, 1)[1].strip().splitlines()
    assert len(after) <= 3 and "--safe-storage-scheme" in " ".join(after) and "--verbose" in " ".join(after)
    assert "Also accepted before the command" not in shown


COMMANDS_WITH_HELP = [[], ["list"], ["get"], ["export"], ["import"], ["set"], ["unset"], ["models"],
                      ["models", "add"], ["apply"], ["undo"], ["redo"], ["where"], ["audit"], ["doctor"],
                      ["report"], ["rescue"], ["demo"]]  # fmt: skip


@pytest.mark.parametrize("width", ["60", "80"])
def test_help_never_splits_an_option_or_a_variable_at_its_hyphen(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", width)  # click wraps help to the terminal's width
    for command in COMMANDS_WITH_HELP:
        shown = run(*command, "--help").stdout
        split = [line for line in shown.splitlines() if re.search(r"[A-Za-z]-$", line)]
        assert not split, (command, split)  # "--safe-" at a line's end, "storage" on the next


# --- a laptop where Cursor never ran --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["list"], ["where"], ["doctor"], ["audit"], ["get", "openai"], ["models", "add", "m", "--yes"],
     ["export", "-o", "k.age", "--passphrase-env", "P"], ["undo", "--yes"]],
)  # fmt: skip
def test_never_launched_cursor_says_where_it_looked_and_what_to_do(args, clean_env):
    done = run(*args)
    assert done.exit_code == int(Exit.NOT_FOUND), done.stderr
    home = clean_env["HOME"]
    assert f"{home}/.config/Cursor/User/globalStorage/state.vscdb" in done.stderr
    assert "start cursor once and quit it, so it creates its database" in done.stderr.lower()
    assert "--db FILE" in done.stderr


def test_an_empty_user_data_dir_says_cursor_has_not_made_its_database(tmp_path):
    done = run("--user-data-dir", tmp_path, "list")
    assert done.exit_code == int(Exit.NOT_FOUND)
    assert "holds no database yet: start Cursor once and quit it" in done.stderr


# --- where ---------------------------------------------------------------------------------------------


def test_where_says_the_variable_chose_the_backend_and_json_agrees_with_the_text(make_sample_dir, monkeypatch):
    sd = make_sample_dir("v11")
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE", "basic")
    text = run("--user-data-dir", sd.udd, "where").stdout
    assert "CURSOR_BYOK_SAFE_STORAGE=basic" in text and "--safe-storage basic" not in text
    doc = json.loads(run("--user-data-dir", sd.udd, "where", "--json").stdout)["installations"][0]
    assert doc["cursor_running"] is False and "Cursor running    no" in text
    assert doc["safe_storage"]["chosen_by"] == "CURSOR_BYOK_SAFE_STORAGE=basic"
    given = run("--user-data-dir", sd.udd, "where", "--safe-storage", "basic").stdout
    assert "chosen by         --safe-storage basic" in given


# --- a database from a Mac or from Windows, read on Linux -------------------------------------------


def copied_from(tmp_path: Path, generation: str, secret: bytes) -> Path:
    udd = tmp_path / f"copied-{generation}"
    sample = Sample(generation=generation, secret=secret, keys=sample_keys(), settings=default_settings())
    build_user_data_dir(udd, sample)
    return udd


def test_a_mac_database_read_on_linux_says_how_to_read_it(tmp_path):
    udd = copied_from(tmp_path, "macos", b"a-mac-keychain-secret")
    code, shown = on_terminal("--user-data-dir", udd, "list")
    assert code == int(Exit.SAFE_STORAGE)
    assert_fits(shown)
    assert "saved by Cursor on a Mac" in shown
    assert '`security find-generic-password -s "Cursor Safe Storage" -a "Cursor Key" -w`' in shown
    read = f"--user-data-dir {udd} --safe-storage password --safe-storage-scheme macos --safe-storage-password-file"
    assert f"`cursor-byok --user-data-dir {udd} " in shown  # the same database, whatever the data folder
    assert "--safe-storage password --safe-storage-scheme macos --safe-storage-password-file FILE list`" in shown
    assert not [word for word in JARGON if word in shown.replace(str(udd), "")]
    secret = tmp_path / "mac.secret"
    secret.write_text("a-mac-keychain-secret\n")  # what the Mac's command prints: the advice, followed, works
    followed = run(*shlex.split(read)[:], str(secret), "list")  # the pasted command, FILE filled in
    assert followed.exit_code == 0, followed.stderr
    detail = run("--user-data-dir", udd, "list", "-v")
    assert "bad padding" in detail.stdout  # the technical reason, when asked for
    refused = run("--user-data-dir", udd, "export", "-o", tmp_path / "k.age", "--passphrase-env", "P")
    assert refused.exit_code == int(Exit.SAFE_STORAGE) and "saved by Cursor on a Mac" in refused.stderr
    doctor = run("--user-data-dir", udd, "doctor").stdout
    assert "keys unreadable here (likely cause)" in doctor and "find-generic-password" in doctor
    got = run("--user-data-dir", udd, "get", "openai")  # one key asked for: the same advice, for that command
    assert got.exit_code == int(Exit.SAFE_STORAGE) and "saved by Cursor on a Mac" in got.stderr
    assert "--safe-storage-password-file FILE get openai" in got.stderr and got.stdout == ""


def test_a_windows_database_read_on_linux_says_how_to_get_its_key(tmp_path):
    udd = copied_from(tmp_path, "windows", bytes(range(100, 132)))
    shown = run("--user-data-dir", udd, "list").stdout
    assert "saved by Cursor on Windows (its Local State holds a Windows key" in shown
    assert "ProtectedData]::Unprotect" in shown and "--safe-storage-scheme windows" in shown
    (udd / "Local State").unlink()  # the rows alone tell it too: their shape is not the Mac's or Linux's
    assert "saved by Cursor on Windows (its keys have the shape" in run("--user-data-dir", udd, "list").stdout


def test_linux_basic_rows_get_no_advice_about_another_os(make_sample_dir):
    sd = make_sample_dir("basic")
    assert "saved by Cursor on" not in run("--user-data-dir", sd.udd, "--safe-storage", "basic", "list").stdout


# --- quiet by default ------------------------------------------------------------------------------


def test_models_add_without_a_keyring_says_nothing_about_keys(make_sample_dir, monkeypatch):
    sd = make_sample_dir("v11")  # keys in a keyring this machine cannot reach (no D-Bus session)
    done = run("--user-data-dir", sd.udd, "models", "add", "my-model", "--yes")
    assert done.exit_code == 0, done.stderr
    said = done.stdout + done.stderr
    assert "decrypt" not in said and "SecretService" not in said and "note:" not in said


@pytest.fixture
def moved(make_sample_dir, tmp_path):
    """(target, bundle, identity): a bundle of every provider's key and a v11 machine to import it into."""
    ident, recipient = identity(tmp_path)
    bundle = export(make_sample_dir("v11", azure_bedrock_rows=True), tmp_path / "keys.age", recipient)
    return make_target(make_sample_dir, "v11"), bundle, ident


def test_an_import_says_one_line_per_kind_of_note_wrapped_at_80_columns(moved):
    target, bundle, ident = moved
    args = [*options(target), "import", bundle, "-i", ident, *SAMPLE_ENDPOINTS, "--dry-run"]
    code, shown = on_terminal(*args)
    assert code == 0, shown
    assert_fits(shown)
    notes = [line for line in shown.splitlines() if line.startswith("note: ")]
    assert len(notes) <= 3, notes
    assert sum("LESS PROTECTED" in n for n in notes) <= 1  # one line for every key that lands less protected
    assert not [word for word in JARGON if word in shown], shown
    detail = run(*args, "-v").stdout  # every note in full, with -v
    assert "keys are written as encrypted secret://cursorAuth rows" in detail


def test_where_prompts_go_is_said_without_v(moved):
    target, bundle, ident = moved
    done = import_(target, bundle, ident, "--yes", "--allow-endpoint", "openrouter.ai")
    assert done.exit_code == 0, done.stderr
    assert "Cursor now sends your prompts, code and Azure OpenAI key to deployment" in done.stderr


# --- 80 columns ------------------------------------------------------------------------------------


def test_list_fits_80_columns_with_settings_under_the_row(make_sample_dir):
    sd = make_sample_dir("v11", azure_bedrock_rows=True, settings=default_settings("https://openrouter.ai/api/v1"))
    code, shown = on_terminal(*options(sd), "list")
    assert code == 0, shown
    assert_fits(shown)
    lines = shown.splitlines()
    azure = next(i for i, line in enumerate(lines) if line.startswith("azure "))
    assert lines[azure + 1].startswith(" ") and "base_url=https://contoso-ai.openai.azure.com" in lines[azure + 1]
    assert not [line for line in lines if line.startswith("base_url=")]  # nothing wraps back to column 0


def test_doctor_puts_what_needs_attention_first_and_fits_a_screen(make_sample_dir):
    settings = default_settings()
    settings["aiSettings"]["modelOverrideDisabled"] = ["llama-3.1-70b"]  # a custom model switched off: likely
    sd = make_sample_dir("v11", azure_bedrock_rows=True, settings=settings)
    code, shown = on_terminal(*options(sd), "doctor")
    assert code == int(Exit.FINDINGS), shown
    assert_fits(shown)
    blocks = [line for line in shown.splitlines() if line[:2] in ("! ", "* ")]
    assert blocks[0].startswith("! models: model not appearing (likely cause)")
    assert len(shown.splitlines()) <= 45
    assert "(1 likely cause(s))" in shown and "0 invalid" not in shown
    assert "doctor --all`" in shown and "Tab completion" not in shown
    everything = run(*options(sd), "doctor", "--all").stdout
    assert "Tab completion and Apply" in everything and "spending limit" in everything


def test_doctor_with_nothing_to_fix_says_so(make_sample_dir):
    sd = make_sample_dir("v11")
    shown = run(*options(sd), "doctor").stdout
    assert "nothing needs attention" in shown and "0 likely cause(s)" not in shown


# --- hints that work when pasted ---------------------------------------------------------------------


def paste(hint: str, env: dict, **placeholders: str) -> subprocess.CompletedProcess:
    """A printed hint run as typed: `cursor-byok` is this Python's module, upper-case placeholders filled in,
    no terminal (so a write takes --yes, which a terminal would have asked for)."""
    words = [placeholders.get(w, w) for w in shlex.split(hint)][1:]
    if words and set(words) & {"set", "models", "undo", "import", "unset", "redo"} and "--yes" not in words:
        words.append("--yes")
    return cli_process(words, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_every_hint_the_demo_and_doctor_print_works_when_pasted(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    demo = cli_process(["demo", "--keep"], env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Fingerprints matching on both laptops: 7/7" in demo.stdout and "What now" in demo.stdout
    (root,) = tmp_path.glob("cursor-byok-demo-*")
    printed = hints(demo.stdout)
    undo = [h for h in printed if " undo " in h]
    assert undo and "--data-dir" in undo[0]
    new = shlex.split(undo[0])[1:-2]  # the new laptop's global options, as the demo's own hint gives them
    for hint in printed:  # the undo hint; the commands for real laptops are checked by shape
        done = paste(hint if hint.startswith("cursor-byok --") else hint + " --help", env)
        assert done.returncode == 0, f"{hint}\n{done.stdout}{done.stderr}"
    assert cli_process([*new, "redo", "--yes"], env=env, capture_output=True).returncode == 0
    # What Cursor may do next: switch the OpenAI key off, drop a custom model. doctor says so, with hints.
    db = root / "new-laptop" / "User" / "globalStorage" / "state.vscdb"
    cursor_changes(db, useOpenAIKey=False, drop="llama-3.1-70b")
    doctor = cli_process([*new, "doctor"], env=env, capture_output=True, text=True)
    assert doctor.returncode == int(Exit.FINDINGS), doctor.stdout + doctor.stderr
    from_doctor = hints(doctor.stdout)
    assert any(" set openai --no-key --enable" in h for h in from_doctor)
    assert any(" models add llama-3.1-70b" in h for h in from_doctor)
    for hint in from_doctor:
        online = "--online" in hint  # would send keys to the providers: checked by its shape only
        done = paste(hint + " --help" if online else hint, env)
        assert done.returncode == 0, f"{hint}\n{done.stdout}{done.stderr}"
    after = cli_process([*new, "doctor"], env=env, capture_output=True, text=True)
    assert "switched off" not in after.stdout and "left Cursor's list" not in after.stdout


# --- after a write, did Cursor keep it? -----------------------------------------------------------------


def cursor_changes(db: Path, *, useOpenAIKey: bool | None = None, drop: str | None = None, **top) -> None:
    """What Cursor does by itself: switch a key off, drop a custom model, write its account's plan."""
    conn = sqlite3.connect(db)
    (text,) = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()
    blob = json.loads(text)
    if useOpenAIKey is not None:
        blob["useOpenAIKey"] = useOpenAIKey
    if drop:
        ai = blob["aiSettings"]
        for name in ("userAddedModels", "modelOverrideEnabled"):
            ai[name] = [m for m in ai.get(name, []) if m != drop]
    blob.update(top)
    conn.execute("UPDATE ItemTable SET value = ? WHERE key = ?", (json.dumps(blob), BLOB_KEY))
    conn.commit()
    conn.close()


def test_the_journal_keeps_new_toggles_and_model_lists_never_a_key(moved, data_dir):
    target, bundle, ident = moved
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    (path,) = data_dir.joinpath("journals").glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["version"] == journal.VERSION == 3
    (blob,) = [r for r in doc["rows"] if r["key"] == BLOB_KEY]
    kept = {".".join(f["path"]): json.loads(f["new"]) for f in blob["fields"] if "new" in f}
    assert kept["useOpenAIKey"] is True and "llama-3.1-70b" in kept["aiSettings.userAddedModels"]
    text = path.read_text()
    for value in target.keys.values():
        assert value not in text
    assert not [p for p in kept if "Key" in p.split(".")[-1] and p != "useOpenAIKey" and "use" not in p]


def test_list_and_doctor_name_what_cursor_changed_since_the_write(moved):
    target, bundle, ident = moved
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    cursor_changes(target.db, useOpenAIKey=False, drop="llama-3.1-70b")
    shown = run(*options(target), "list").stdout
    assert "OpenAI was switched off (openai.enabled) after cursor-byok's write of 20" in shown
    assert "(import " in shown and "set openai --no-key --enable`" in shown
    assert "custom model(s) llama-3.1-70b left Cursor's list" in shown and "models add llama-3.1-70b`" in shown
    doc = json.loads(run(*options(target), "list", "--json").stdout)
    assert [c["change"] for c in doc["cursor_changed"]] == ["switched off", "dropped"]
    doctor = run(*options(target), "doctor")
    assert doctor.exit_code == int(Exit.FINDINGS)
    assert "doctor --online" in doctor.stdout and "check of the key fails" in doctor.stdout  # the known causes
    # put back with the printed commands: nothing left to say
    assert run(*options(target), "set", "openai", "--no-key", "--enable", "--yes").exit_code == 0
    assert run(*options(target), "models", "add", "llama-3.1-70b", "--yes").exit_code == 0
    again = json.loads(run(*options(target), "list", "--json").stdout)
    assert again["cursor_changed"] == []


def test_a_team_plan_gets_no_switch_it_back_on(moved):
    target, bundle, ident = moved
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    cursor_changes(target.db, useOpenAIKey=False, membershipType="enterprise")
    shown = run(*options(target), "list").stdout
    assert "an enterprise plan, whose admin may forbid personal API keys" in shown
    assert "--enable" not in shown
    doctor = run(*options(target), "doctor").stdout
    assert "ask your admin" in doctor and "set openai --no-key --enable" not in doctor


def test_an_older_journal_is_read_and_says_nothing_it_cannot_know(moved, data_dir):
    target, bundle, ident = moved
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    (path,) = data_dir.joinpath("journals").glob("*.json")
    text = path.read_text().replace('"version": 3', '"version": 2', 1)
    path.write_text(re.sub(r',\s*"new": "(?:[^"\\]|\\.)*"', "", text))  # a format-2 journal: no new values
    cursor_changes(target.db, useOpenAIKey=False)
    listed = run(*options(target), "list")
    assert listed.exit_code == 0 and "switched off" not in listed.stdout
    assert run(*options(target), "undo", "--force", "--yes").exit_code == 0  # still undone as before


# --- small things ----------------------------------------------------------------------------------


def test_audit_does_not_ask_to_resave_keys_cursor_never_encrypts(moved):
    target, bundle, ident = moved
    assert import_(target, bundle, ident, "--yes").exit_code == 0
    shown = run(*options(target), "audit", "--fail-on", "none").stdout
    assert "nothing to re-save: Cursor keeps this key only in its settings" in shown
    assert "so it is stored encrypted" not in shown


def test_after_wait_runs_out_the_error_does_not_suggest_wait_again(make_sample_dir):
    sd = make_sample_dir("v11")
    sleeper = subprocess.Popen(["sleep", "60"])  # a live PID in code.lock: Cursor "runs"
    try:
        (sd.udd / "code.lock").write_text(str(sleeper.pid))
        done = run(*options(sd), "models", "add", "m", "--yes", "--wait", "0.5")
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    assert done.exit_code == int(Exit.CURSOR_RUNNING)
    assert "still running after --wait 0.5" in done.stderr and "pass --wait" not in done.stderr


def test_sets_refusal_does_not_suggest_an_option_set_lacks(make_sample_dir, monkeypatch):
    sd = make_sample_dir("v11", settings={"useOpenAIKey": False}, keys={})
    monkeypatch.setenv("AZ", "0123456789abcdef0123456789abcdef")
    done = run(*options(sd), "set", "azure", "--key-env", "AZ", "--key-storage", "secret", "--yes")
    assert done.exit_code == int(Exit.INPUT), done.stderr
    assert "--key-storage secret cannot be honoured" in done.stderr and "--only" not in done.stderr.split("(")[0]


def test_a_closed_pipe_ends_quietly(make_sample_dir):
    sd = make_sample_dir("v11")
    argv = [sys.executable, "-m", "cursor_byok", *map(str, options(sd)), "list"]
    done = subprocess.run(f"{shlex.join(argv)} | head -1", shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("database:") and done.stderr == ""
