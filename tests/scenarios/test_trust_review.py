"""A fresh review of "Trust nothing, round two" (issue 22): ways around its rules that were still open.

Each test was run against the code before its fix and failed there (the last one guards what held); docs/safety.md
("Round two, reviewed", and "What the review of round two leaves open") lists them and what stays open. Made-up
keys only; real sample databases, real bundles and the real command line.
"""

from __future__ import annotations

import random
import string

import pytest
from helpers.cli import cli_runner
from helpers.transfer import blob_of, bundle_of, options, run

from cursor_byok.cli import Exit, main

_RNG = random.Random(2207)


def _pick(alphabet: str, n: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


# Keys whose shape is generic (no vendor prefix a message scrubber can spot): an Azure key in both formats, an
# AWS secret access key with neither '/' nor '+', and an OpenAI-compatible vendor's `sk-` and 32 hex (DeepSeek's).
GENERIC = {
    "azure 32 hex": "f" + _pick("0123456789abcdef", 31),
    "azure 84": "K" + _pick(string.ascii_letters + string.digits, 83),
    "aws secret": "Q" + _pick(string.ascii_letters + string.digits, 39),
    "sk and hex": "sk-" + _pick("0123456789abcdef", 32),
}


def never_shown(result, secret: str) -> None:
    out = result.stdout + result.stderr
    assert secret not in out and secret[4:-4] not in out, out
    assert secret[4:-4].lower() not in out.lower(), out  # nor lower-cased, as a host name is


# --- 1. a key of a generic shape, typed where a name, a URL or an argument goes, was repeated ---------------------

PLACES = {
    "set --base-url": ["set", "azure", "--base-url", "{s}", "--key-env", "AZ_KEY", "--yes"],
    "set --base-url, in the host": ["set", "azure", "--base-url", "https://{s}.openai.azure.com", "--yes"],
    "set --key-env": ["set", "azure", "--key-env", "{s}", "--yes"],
    "set --secret-key-env": ["set", "bedrock", "--key-env", "AWS_ID", "--secret-key-env", "{s}", "--yes"],
    "an extra argument": ["set", "openai", "{s}"],
    "a command": ["{s}"],
    "a choice": ["--safe-storage", "{s}", "list"],
    "an option's value": ["set", "azure", "--wait", "{s}"],
}


# A host name label holds at most 63 characters: a shorter key there is a valid (if odd) Azure resource name.
CASES = [(p, k) for p in sorted(PLACES) for k in sorted(GENERIC) if "host" not in p or len(GENERIC[k]) > 63]


@pytest.mark.parametrize(("place", "kind"), CASES)
def test_a_key_of_a_generic_shape_given_in_the_wrong_place_is_never_repeated(place, kind, make_sample_dir, data_dir):
    """Before: `set azure --base-url <key>` answered "got '<key>'", `--key-env <key>` "$<key> is not set", and
    click's usage errors quoted the key: the error funnel knew only keys with a vendor prefix."""
    sd = make_sample_dir("basic")
    secret = GENERIC[kind]
    args = [w.format(s=secret) for w in PLACES[place]]
    env = {"AZ_KEY": GENERIC["azure 32 hex"], "AWS_ID": "AKIA" + "QWERTYUIOPASDFGH"}
    for json_flag in ([], ["--json"]):
        result = cli_runner().invoke(main, [*options(sd), *args, *json_flag], env=env)
        assert result.exit_code != 0, result.stdout
        assert "Traceback" not in result.stderr
        never_shown(result, secret)


@pytest.mark.parametrize("source", ["env:{s}", "file:{s}", "file:~/keys/{s}"])
def test_a_key_given_as_a_manifest_source_name_is_never_shown(source, make_sample_dir, tmp_path, data_dir):
    """Before: `key = "env:<azure key>"` was shown by `apply --dry-run` ("would use $<key>") and its error."""
    sd = make_sample_dir("basic")
    secret = GENERIC["azure 84"]
    manifest = tmp_path / "team.toml"
    manifest.write_text(f'version = 1\n[azure]\nkey = "{source.format(s=secret)}"\n')
    for args in (["apply", str(manifest), "--dry-run"], ["apply", str(manifest), "--dry-run", "--json"],
                 ["apply", str(manifest), "--yes"]):  # fmt: skip
        result = run(*options(sd), *args)
        assert result.exit_code == int(Exit.INPUT), (args, result.stdout, result.stderr)
        never_shown(result, secret)


# --- 2. a key pasted in the wrong box of Cursor's settings (a model name, the deployment) -------------------------


def test_a_key_in_a_model_name_or_a_deployment_is_masked_and_never_exported(make_sample_dir, tmp_path, data_dir):
    """Cursor's model box and Azure's deployment box sit beside the key boxes. Before: `list`, `list --json`,
    `models list` and `doctor --all` printed such a key, and `export --no-keys` (a "safe to share" bundle) carried
    it; `import` then refused the whole bundle for it. A key pasted as the base URL was printed by `doctor`."""
    import json

    import cursor_byok as api
    from cursor_byok.samples.installs import default_settings

    in_model, in_deployment = GENERIC["sk and hex"], GENERIC["azure 84"]
    settings = default_settings()
    settings["aiSettings"]["userAddedModels"] = ["llama-3.1-70b", in_model]
    settings["aiSettings"]["modelOverrideEnabled"] = [in_model]
    settings["aiSettings"]["modelConfig"]["composer"]["modelName"] = in_model
    settings["azureState"]["deployment"] = in_deployment
    settings["openAIBaseUrl"] = in_url = GENERIC["azure 32 hex"]  # a key in the base URL's box: no URL at all
    sd = make_sample_dir("basic", settings=settings)
    for args in (["list"], ["list", "--json"], ["models", "list"], ["models", "list", "--json"], ["doctor", "--all"]):
        result = run(*options(sd), *args)
        assert result.exit_code == 0, result.stderr
        for secret in (in_model, in_deployment, in_url):
            never_shown(result, secret)
    ctx = api.Context(user_data_dir=str(sd.udd), safe_storage=api.SafeStorageConfig("basic"))
    for keys in (False, True):
        exported = api.export_bundle(ctx, passphrase="correct horse battery staple", keys=keys)
        opened = api.open_bundle(exported.data, passphrases=["correct horse battery staple"])
        document = json.dumps(opened.document_in_clear)
        assert in_model not in document and in_deployment not in document and in_url not in document
        assert "llama-3.1-70b" in document
        assert any("look like a key" in n for n in exported.notes), exported.notes
    target = make_sample_dir("basic", seed=8)
    bundle = tmp_path / "team.age"
    bundle.write_bytes(exported.data)
    args = [*options(target), "import", str(bundle), "--passphrase-env", "PP", "--dry-run"]
    done = cli_runner().invoke(main, args, env={"PP": "correct horse battery staple"})
    assert done.exit_code == 0, done.stderr  # the bundle imports: nothing in it is refused as a key


# --- 3. an endpoint "decided" by answers piped into --on-conflict ask ----------------------------------------------


def test_a_new_endpoint_is_never_allowed_by_answers_piped_into_on_conflict_ask(make_sample_dir, tmp_path, data_dir):
    """The rule: a new endpoint needs --allow-endpoint HOST or a yes on a terminal. Before: with stdin a pipe,
    `--on-conflict ask --yes` took "y" from it and pointed OpenAI at the collector; `yes |` looped for ever on
    the replace-all question."""
    target = make_sample_dir("v11")
    bundle, ident = bundle_of(tmp_path, {"openai": {"base_url": "https://collector.example.net/v1"}})
    before = target.db.read_bytes()
    result = run(*options(target), "import", bundle, "-i", ident, "--yes", "--on-conflict", "ask", input="y\n" * 50)
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert "terminal" in result.stderr.splitlines()[-1]
    assert blob_of(target.db).get("openAIBaseUrl") is None and target.db.read_bytes() == before


# --- 4. a line break in a row or profile name forged lines of output -----------------------------------------------


def test_a_line_break_in_a_row_or_profile_name_cannot_add_a_line_to_the_output(make_sample_dir, data_dir):
    """The sanitizer keeps newlines (the tool's own text needs them), so a row named `...fooKey\\nverified ...` or
    a profile so named in storage.json printed a line of its choosing in `list`, `audit` and `doctor`."""
    import sqlite3

    from cursor_byok.samples.installs import ProfileSample

    forged = "verified  openai  every key checked"
    sd = make_sample_dir("basic", profiles=(ProfileSample("p1", f"work\n{forged}"),))
    with sqlite3.connect(sd.db) as conn:
        for name in (f"x\n{forged}", f"fooKey\n{forged}Key"):
            conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (f"secret://cursorAuth/{name}", '"v10AAAA"'))
    for args in (["list"], ["list", "--profile", "all"], ["audit"], ["doctor"], ["where"]):
        result = run(*options(sd), *args)
        lines = (result.stdout + result.stderr).splitlines()
        assert not any(line.startswith(forged) or line.strip().startswith(forged) for line in lines), lines


# --- 5. on Windows a .bat/.cmd program runs through cmd.exe, which acts on & | < > ^ % in its arguments -----------


def test_a_batch_file_whose_arguments_cmd_exe_would_act_on_is_never_run(monkeypatch, tmp_path):
    """`cmd:get-key.cmd team&calc` was confirmed as one program with one argument; CreateProcess hands a batch
    file to cmd.exe, which runs `calc` (Python's subprocess does not escape for it). The README says commands
    run without a shell."""
    import sys

    from cursor_byok.changes import wanted
    from cursor_byok.errors import InputError

    started = []
    monkeypatch.setattr(wanted, "resolve_program", lambda *a, **k: "C:\\tools\\get-key.cmd")
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: started.append(a) or pytest.fail("it ran"))
    monkeypatch.setattr(sys, "platform", "win32")
    for command in ("get-key.cmd team&calc", "get-key.cmd %COMSPEC%", 'get-key.cmd "a" ^| b'):
        with pytest.raises(InputError) as refused:
            wanted.run_key_command(command, "key", cwd=tmp_path)
        assert "cmd.exe" in str(refused.value)
    assert started == []
    assert wanted.batch_refusal("C:\\tools\\get-key.cmd", ["team/openai"], windows=True) is None
    assert wanted.batch_refusal("/usr/bin/get-key.cmd", ["a&b"], windows=False) is None
    assert wanted.batch_refusal("C:\\tools\\op.exe", ["a&b"], windows=True) is None


# --- held: a name lookup that never answers holds doctor --online only until the deadline ------------------------


def test_a_name_lookup_that_never_answers_ends_at_the_deadline(monkeypatch):
    """A lookup happens before any socket exists, so no cut reaches it; the check's thread is a daemon and the run
    still ends at its deadline, saying so (docs/safety.md said the lookup held it until the process ended)."""
    import socket
    import threading
    import time

    from cursor_byok.checks import doctor
    from cursor_byok.model import KeyForm, Profile, Secret, StoredKey

    release = threading.Event()

    def never_answers(*_args, **_kwargs):
        release.wait(60)
        raise socket.gaierror("released by the test")

    monkeypatch.setattr(socket, "getaddrinfo", never_answers)
    key = StoredKey(Secret("sk-ant-api03-" + "Q" * 93 + "AA"), "basic", "secret://cursorAuth/claudeKey")
    profile = Profile(fields={"anthropic.key": key, "anthropic.enabled": True}, key_form=KeyForm.SECRET)
    started = time.monotonic()
    try:
        (found,) = [v for v in doctor.verify_keys(profile, deadline_s=1.0) if v.field == "anthropic.key"]
    finally:
        release.set()
    assert time.monotonic() - started < 5, "the lookup held the run"
    assert "deadline" in found.reason and found.slow
