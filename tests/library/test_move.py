"""The public API: `import cursor_byok` covers every command without click, on real sample installs.

Keys are real ciphertext (v11, AES-CBC under a PBKDF2 key from the machine
secret given through the `password` backend); databases are real SQLite files.
The contract test runs each command both ways, the library function and the
command line with --json, on two copies of one sample, and compares the two
documents (paths, journal ids and times normalised).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from helpers.cli import cli_runner
from helpers.paths import REPO
from helpers.transfer import make_target

import cursor_byok as byok
from cursor_byok import errors as E
from cursor_byok.cli import main
from cursor_byok.providers import registry

PASSPHRASE = "correct horse battery staple"
SAMPLE_HOSTS = ("contoso-ai.openai.azure.com",)


def ctx_for(sd, tmp_path, name: str) -> byok.Context:
    """A Context that decrypts this sample dir with its own machine secret."""
    secret_file = tmp_path / f"{name}.secret"
    secret_file.write_text(sd.sample.secret.decode() + "\n")
    return byok.Context(
        user_data_dir=str(sd.udd),
        safe_storage=byok.SafeStorageConfig("password", scheme="linux", password_file=str(secret_file)),
    )


def revealed(listing: Any) -> dict[str, str]:
    """The provider keys of a listing, in clear (unknown providers' keys left out)."""
    assert listing.stored is not None
    keys = listing.stored.keys().items()
    return {f: k.secret.reveal() for f, k in keys if k.secret is not None and not f.startswith("extra.")}


def test_the_docstring_walk_moves_every_key_and_undo_takes_it_back(make_sample_dir, tmp_path):
    source = make_sample_dir("v11")
    target = make_target(make_sample_dir, "v11")
    src, dst = ctx_for(source, tmp_path, "src"), ctx_for(target, tmp_path, "dst")

    listing = byok.list_keys(src)
    assert revealed(listing) == source.keys and listing.undecryptable == ()
    assert source.keys["openai.key"] not in repr(listing) and source.keys["openai.key"] not in str(listing.to_json())

    bundle = byok.export_bundle(src, passphrase=PASSPHRASE)
    assert bundle.keys == len(source.keys) + len(source.extras) and bundle.left_out == ()
    assert bundle.data.startswith(b"age-encryption.org/v1") and source.keys["openai.key"].encode() not in bundle.data

    only = registry().names
    plan = byok.plan_import(dst, bundle.data, passphrase=PASSPHRASE, only=only, allow_endpoints=SAMPLE_HOSTS)
    assert plan.dry_run and {c.field for c in plan.plan.changes} >= set(source.keys)
    result = byok.import_bundle(dst, bundle.data, passphrase=PASSPHRASE, only=only, allow_endpoints=SAMPLE_HOSTS)
    assert result.applied and result.journal and result.undo is not None
    assert revealed(byok.list_keys(dst)) == source.keys
    undone = byok.undo(dst)
    assert undone.undone == result.journal and revealed(byok.list_keys(dst)) == {}


def test_conflicts_are_decided_once_after_the_plan_is_shown(make_sample_dir, tmp_path):
    source, other = make_sample_dir("v11"), make_sample_dir("v11", seed=3)
    src, dst = ctx_for(source, tmp_path, "src"), ctx_for(other, tmp_path, "dst")
    data = byok.export_bundle(src, passphrase=PASSPHRASE).data
    with pytest.raises(E.PlanConflict) as refused:
        byok.import_bundle(dst, data, passphrase=PASSPHRASE, only=("openai",))
    assert refused.value.exit_code == E.Exit.CONFLICT and refused.value.result is not None
    seen: list[str] = []

    def show(preview: Any) -> None:
        seen.append("plan")

    def decide(conflicts: byok.Conflicts) -> dict[str, bool]:
        seen.append(f"decide {len(conflicts.values)}")
        return {c.field: True for c in conflicts.values}

    ui = byok.Interaction(show=show, decide=decide, confirm=lambda q: seen.append("confirm") or True)
    byok.import_bundle(dst, data, passphrase=PASSPHRASE, only=("openai",), on_conflict="ask", ui=ui)
    assert seen == ["plan", "decide 1", "confirm"]
    assert revealed(byok.list_keys(dst))["openai.key"] == source.keys["openai.key"]


def test_set_unset_get_and_models_as_the_commands_do(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11", keys={})
    ctx = ctx_for(sd, tmp_path, "ctx")
    key = "sk-ant-api03-" + "Q" * 93 + "AA"
    written = byok.set_key(ctx, "claude", key)
    assert written.applied and byok.get_key(ctx, "anthropic").value == key
    assert key not in json.dumps(written.to_json())
    assert byok.unset_key(ctx, "anthropic").applied
    with pytest.raises(E.KeyNotStored):
        byok.get_key(ctx, "anthropic")
    listed = byok.list_models(ctx).models
    byok.models(ctx, add=["qwen-coder-x"], select={"composer": "qwen-coder-x"})
    after = byok.list_models(ctx).models
    assert after.user_added == (*listed.user_added, "qwen-coder-x") and after.selected["composer"] == "qwen-coder-x"
    with pytest.raises(E.InputError):
        byok.models(ctx)


def test_apply_manifest_reads_its_sources_only_when_it_writes_and_asks_before_commands(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11", keys={})
    ctx = ctx_for(sd, tmp_path, "ctx")
    key = "AIza" + "B" * 35
    manifest = tmp_path / "team.toml"
    manifest.write_text(f'version = 1\n[google]\nkey = "cmd:{sys.executable} -c \'print(\\"{key}\\")\'"\n')
    dry = byok.apply_manifest(ctx, manifest, dry_run=True)  # nothing runs
    assert not dry.applied and dry.sources is not None and dry.sources[0].kind == "cmd"
    with pytest.raises(E.ConfirmationNeeded):  # a command needs a yes, as on the command line
        byok.apply_manifest(ctx, manifest)
    asked: list[Any] = []
    done = byok.apply_manifest(ctx, manifest, confirm_commands=lambda commands: asked.append(commands) or True)
    assert done.applied and byok.get_key(ctx, "google").value == key
    assert [field for field, _command in asked[0]] == ["google.key"]


def test_export_needs_exactly_one_way_to_encrypt(make_sample_dir, tmp_path):
    ctx = ctx_for(make_sample_dir("v11"), tmp_path, "ctx")
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx)
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx, passphrase=PASSPHRASE, recipients=["age1qqqq"])


def test_errors_carry_their_exit_code():
    assert E.KeyNotStored("x").exit_code == E.Exit.NO_KEY == 18
    assert E.ProfileNotFound("x").exit_code == E.Exit.INPUT
    assert E.WrongMachineKey("x").exit_code == E.Exit.SAFE_STORAGE
    assert E.StoreLocked("x").reason == "wrong-password" and E.StoreLocked("x").exit_code == E.Exit.STORE_LOCKED


def test_import_cursor_byok_is_cheap_and_lists_its_api():
    code = (
        "import json, sys, cursor_byok as b\n"
        "names = sorted(set(b.__all__) - set(dir(b)))\n"
        "heavy = sorted(m for m in ('click', 'sqlalchemy', 'cryptography', 'pyrage') if m in sys.modules)\n"
        "print(json.dumps([names, heavy, callable(b.list_keys), 'click' in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert set(byok.__all__) == {"__version__", *byok._PUBLIC}
    missing, heavy, read_callable, click_after = json.loads(proc.stdout)
    assert missing == [] and heavy == [] and read_callable and not click_after
    with pytest.raises(AttributeError):
        byok.no_such_function  # noqa: B018


def every_command(group, prefix=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield (*prefix, name), command
            yield from every_command(command, (*prefix, name))
        else:
            yield (*prefix, name), command


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in every_command(main)])
def test_every_command_help_shows_two_or_three_examples(path):
    done = cli_runner().invoke(main, [*path.split(), "--help"], terminal_width=120)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    examples = [line for line in lines[start + 1 :] if line.strip().startswith("cursor-byok ")]
    assert 2 <= len(examples) <= 3, examples


def test_the_readme_python_example_runs(make_sample_dir, tmp_path, capsys):
    """The README's Python API block, run as written, on two sample installs instead of real ones."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    source, target = make_sample_dir("v11"), make_target(make_sample_dir, "v11")
    code = block.replace(
        'byok.Context(user_data_dir="/mnt/old-home/.config/Cursor", safe_storage=old_secret)', "SOURCE"
    )
    code = code.replace('password_file="old-keychain-secret.txt"', f'password_file="{tmp_path / "src.secret"}"')
    code = code.replace("byok.Context()", "TARGET")
    assert code.count("SOURCE") == 1 and code.count("TARGET") == 1, code
    space = {"SOURCE": ctx_for(source, tmp_path, "src"), "TARGET": ctx_for(target, tmp_path, "dst")}
    exec(compile(code, "README.md", "exec"), space)
    printed = capsys.readouterr().out
    assert "openai.key: add" in printed and source.keys["openai.key"] not in printed
    assert space["result"].journal and revealed(byok.list_keys(space["TARGET"])) == {}  # undone at the end


def test_library_inputs_are_checked_like_the_cli_checks_them(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    ctx = ctx_for(sd, tmp_path, "ctx")
    assert byok.get_key(ctx, "Claude").value == sd.keys["anthropic.key"]  # aliases and any case, as on the CLI
    with pytest.raises(E.InputError, match="did you mean 'openai'"):
        byok.get_key(ctx, "opnai")
    before = sd.db.read_bytes()
    with pytest.raises(E.InputError):
        byok.set_key(ctx, "claud", "sk-ant-api03-" + "A" * 93 + "AA", dry_run=True)
    with pytest.raises(E.InputError, match="not a key field of openai"):
        byok.set_key(ctx, "openai", keys=lambda: {"anthropic.key": "sk-ant-api03-" + "A" * 93 + "AA"}, dry_run=True)
    data = byok.export_bundle(ctx, passphrase=PASSPHRASE).data
    for bad in ({"key_storage": "bogus"}, {"models": "bogus"}):
        with pytest.raises(E.InputError):
            byok.plan_import(ctx, data, passphrase=PASSPHRASE, **bad)
    with pytest.raises(E.InputError, match="decide callback"):
        byok.import_bundle(ctx, data, passphrase=PASSPHRASE, on_conflict="ask", only=("openai",),
                           allow_endpoints=SAMPLE_HOSTS, wait=None)  # fmt: skip
    with pytest.raises(E.InputError, match="too short"):
        byok.export_bundle(ctx, passphrase="short")
    assert sd.db.read_bytes() == before


def test_results_never_show_a_key_when_printed(make_sample_dir, tmp_path, monkeypatch):
    """print() or a log line of any result must not carry a key, even one the settings blob holds in clear."""
    source = make_sample_dir("v11")
    target = make_target(make_sample_dir, "v11")
    monkeypatch.setenv("HOME", str(tmp_path))
    src = ctx_for(source, tmp_path, "src")
    home_relative = byok.Context(
        user_data_dir="~/" + str(target.udd.relative_to(tmp_path)), safe_storage=src.safe_storage
    )
    exported = byok.export_bundle(src, passphrase=PASSPHRASE)
    opened = byok.open_bundle(exported.data, passphrases=[PASSPHRASE])
    dst = ctx_for(target, tmp_path, "dst")
    plan = byok.plan_import(dst, opened, allow_endpoints=SAMPLE_HOSTS)
    applied = byok.import_bundle(dst, opened, allow_endpoints=SAMPLE_HOSTS)
    undone = byok.undo(dst, dry_run=True)
    results = (exported, opened, plan, applied, undone, byok.list_keys(dst), byok.where(home_relative))
    shown = " ".join([*(repr(x) for x in results), *(json.dumps(x.to_json()) for x in results)])
    for key in source.keys.values():
        assert key not in shown
    assert byok.where(home_relative).installations[0].db == str(target.db)  # "~/" is expanded, as a shell would


# --- the contract: library.<name>(...).to_json() is the command's --json document ---------------------------


class Copies:
    """Two copies of one sample install: the command line runs on `cli`, the library on `lib`."""

    def __init__(self, sd, tmp_path: Path) -> None:
        self.root = tmp_path
        self.cli, self.lib = tmp_path / "cli-copy", tmp_path / "lib-copy"
        shutil.copytree(sd.udd, self.cli)
        shutil.copytree(sd.udd, self.lib)
        self.options = sd.password_options(tmp_path / "machine.secret")
        self.config = byok.SafeStorageConfig("password", scheme="linux", password_file=str(tmp_path / "machine.secret"))

    def ctx(self) -> byok.Context:
        return byok.Context(user_data_dir=str(self.lib), safe_storage=self.config)

    def run(self, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        done = cli_runner().invoke(main, ["--user-data-dir", str(self.cli), *self.options, *args], env=env)
        assert done.stdout.strip(), done.stderr
        return json.loads(done.stdout)

    def normalised(self, doc: dict[str, Any]) -> Any:
        text = json.dumps(doc, sort_keys=True)
        for name in ("cli", "lib"):
            text = text.replace(str(getattr(self, name)), "<COPY>").replace(f"{name}-out", "<OUT>")
        text = re.sub(r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}", "<JOURNAL>", text)
        text = re.sub(r"\*\.[0-9a-f]{12}\.json", "*.<TAG>.json", text)  # journal files are named after the database
        return json.loads(re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "<TIME>", text))


KEY = "sk-ant-api03-" + "Z" * 93 + "AA"
MANIFEST = 'version = 1\n[anthropic]\nkey = "env:TEAM_KEY"\n[models]\nadd = ["team-model"]\n'

# (name, command-line arguments, library call, setup both copies get first)
Case = tuple[str, list[str], Callable[[byok.Context, Copies], Any], Callable[[byok.Context], Any] | None]
CASES: list[Case] = [
    ("where", ["where", "--json"], lambda c, _: byok.where(c), None),
    ("list", ["list", "--json"], lambda c, _: byok.list_keys(c), None),
    ("get", ["get", "openai", "--json"], lambda c, _: byok.get_key(c, "openai"), None),
    ("models list", ["models", "list", "--json"], lambda c, _: byok.list_models(c), None),
    ("set", ["set", "anthropic", "--key-env", "NEW_KEY", "--yes", "--json"],
     lambda c, _: byok.set_key(c, "anthropic", KEY), None),
    ("set --dry-run", ["set", "anthropic", "--key-env", "NEW_KEY", "--dry-run", "--json"],
     lambda c, _: byok.set_key(c, "anthropic", KEY, dry_run=True), None),
    ("unset", ["unset", "google", "--yes", "--json"], lambda c, _: byok.unset_key(c, "google"), None),
    ("models add", ["models", "add", "m-1", "--yes", "--json"], lambda c, _: byok.models(c, add=["m-1"]), None),
    ("models select", ["models", "select", "composer", "m-2", "--yes", "--json"],
     lambda c, _: byok.models(c, select={"composer": "m-2"}), None),
    ("apply", ["apply", "{manifest}", "--yes", "--json", "--on-conflict", "replace"],
     lambda c, cp: byok.apply_manifest(c, cp.root / "team.toml", on_conflict="replace"), None),
    ("apply --dry-run", ["apply", "{manifest}", "--dry-run", "--json"],
     lambda c, cp: byok.apply_manifest(c, cp.root / "team.toml", dry_run=True), None),
    ("export", ["export", "-o", "{root}/cli-out.age", "-r", "{recipient}", "--json"],
     lambda c, cp: byok.export_bundle(c, recipients=[cp.recipient], output=cp.root / "lib-out.age"), None),  # type: ignore[attr-defined]
    ("import", ["import", "{bundle}", "-i", "{identity}", "--yes", "--json", "--on-conflict", "replace"],
     lambda c, cp: byok.import_bundle(c, cp.bundle, identity_files=[str(cp.identity)], on_conflict="replace"), None),  # type: ignore[attr-defined]
    ("undo", ["undo", "--yes", "--json"], lambda c, _: byok.undo(c), lambda c: byok.models(c, add=["u-1"])),
    ("undo --dry-run", ["undo", "--dry-run", "--json"], lambda c, _: byok.undo(c, dry_run=True),
     lambda c: byok.models(c, add=["u-1"])),
    ("redo", ["redo", "--yes", "--json"], lambda c, _: byok.redo(c),
     lambda c: (byok.models(c, add=["u-1"]), byok.undo(c))),
    ("undo --list", ["undo", "--list", "--json"], lambda c, _: byok.journals(c), lambda c: byok.models(c, add=["u"])),
    ("undo --purge", ["undo", "--purge", "--yes", "--json"], lambda c, _: byok.purge_journals(c),
     lambda c: byok.models(c, add=["u"])),
    ("audit", ["audit", "--json"], lambda c, _: byok.audit(c), None),
    ("doctor", ["doctor", "--json"], lambda c, _: byok.doctor(c), None),
    ("rescue", ["rescue", "--from", "{old}", "--json"], lambda c, cp: byok.rescue_keys(cp.old), None),  # type: ignore[attr-defined]
    ("rescue -o", ["rescue", "--from", "{old}", "-o", "{root}/cli-out.age", "-r", "{recipient}", "--json"],
     lambda c, cp: byok.rescue_keys(cp.old, recipients=[cp.recipient], output=cp.root / "lib-out.age"), None),  # type: ignore[attr-defined]
    ("rescue --import", ["rescue", "--from", "{old}", "--import", "--yes", "--json", "--on-conflict", "replace"],
     lambda c, cp: byok.rescue_import(_own_secret(c), cp.old, on_conflict="replace"), None),  # type: ignore[attr-defined]
    ("rescue --import --dry-run", ["rescue", "--from", "{old}", "--import", "--dry-run", "--json"],
     lambda c, cp: byok.rescue_import(_own_secret(c), cp.old, dry_run=True), None),  # type: ignore[attr-defined]
    ("report", ["report", "--json"], lambda c, _: byok.report(c), None),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_library_result_is_the_commands_json_document(case, make_sample_dir, tmp_path, monkeypatch):
    name, args, call, setup = case
    copies = Copies(make_sample_dir("v11"), tmp_path)
    monkeypatch.setenv("NEW_KEY", KEY)
    monkeypatch.setenv("TEAM_KEY", KEY)
    (tmp_path / "team.toml").write_text(MANIFEST)
    _bundle_for(copies, make_sample_dir)
    _old_home_for(copies, make_sample_dir, monkeypatch)
    cli_ctx = byok.Context(user_data_dir=str(copies.cli), safe_storage=copies.config)
    for ctx in (cli_ctx, copies.ctx()) if setup else ():
        setup(ctx)
    fill = {"manifest": str(tmp_path / "team.toml"), "root": str(tmp_path), "bundle": str(copies.bundle),  # type: ignore[attr-defined]
            "identity": str(copies.identity), "recipient": copies.recipient,  # type: ignore[attr-defined]
            "old": str(copies.old.root)}  # type: ignore[attr-defined]  # fmt: skip
    printed = copies.run(*(a.format(**fill) for a in args))
    returned = call(copies.ctx(), copies).to_json()
    a, b = copies.normalised(printed), copies.normalised(returned)
    assert json.dumps(a, indent=1, sort_keys=True) == json.dumps(b, indent=1, sort_keys=True), name
    assert returned["output_version"] == printed["output_version"] == 2
    if name != "get":  # only get (and --reveal) hold a key: the user asked for it
        assert KEY not in json.dumps(returned) and not any(k in json.dumps(returned) for k in _sample_keys(copies))


def _bundle_for(copies: Copies, make_sample_dir) -> None:
    """A bundle of another sample, to import into both copies (its Azure resource is theirs already)."""
    from helpers.transfer import identity

    source = make_sample_dir("v11", seed=5)
    copies.identity, copies.recipient = identity(copies.root)  # type: ignore[attr-defined]
    ctx = byok.Context(user_data_dir=str(source.udd), safe_storage=byok.SafeStorageConfig(
        "password", scheme="linux", password_file=str(copies.root / "machine.secret")))  # fmt: skip
    copies.bundle = copies.root / "other.age"  # type: ignore[attr-defined]
    byok.export_bundle(ctx, recipients=[copies.recipient], output=copies.bundle)  # type: ignore[attr-defined]


def _old_home_for(copies: Copies, make_sample_dir, monkeypatch) -> None:
    """An old machine's home (a v11 sample with a -wal, its secret given as the safeStorage secret) that both
    copies rescue from; for --import, this machine's own secret comes from the environment, as the command
    leaves --safe-storage-password-file to the old machine."""
    source = make_sample_dir("v11", seed=6)
    home = copies.root / "old-home"
    shutil.copytree(source.udd, home / ".config" / "Cursor")
    copies.old = byok.OldMachine(home, secret_file=str(copies.root / "machine.secret"))  # type: ignore[attr-defined]
    monkeypatch.setenv("CURSOR_BYOK_SAFE_STORAGE_PASSWORD", source.sample.secret.decode())


def _own_secret(ctx: byok.Context) -> byok.Context:
    """The Context `rescue --import` uses: --safe-storage-password-file is the old machine's secret there."""
    from dataclasses import replace

    return replace(ctx, safe_storage=replace(ctx.safe_storage, password_file=None))


def _sample_keys(copies: Copies) -> list[str]:
    listing = byok.list_keys(copies.ctx())
    assert listing.stored is not None
    return [k.secret.reveal() for k in listing.stored.keys().values() if k.secret is not None]


@pytest.mark.slow
def test_the_demo_result_is_its_json_document():
    printed = json.loads(cli_runner().invoke(main, ["demo", "--json"]).stdout)
    returned = byok.demo().to_json()

    def shape(doc: dict[str, Any]) -> Any:
        return {**doc, "steps": [(s["title"], s["exit_code"]) for s in doc["steps"]],
                "fingerprints": [f["key"] for f in doc["fingerprints"]]}  # fmt: skip

    assert shape(printed) == shape(returned) and returned["ok"] and returned["matched"] == 7
