"""The public API: `import cursor_byok` covers every command without click, on real sample installs.

Keys are real ciphertext (v11, AES-CBC under a PBKDF2 key from the machine
secret given through the `password` backend); databases are real SQLite files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import cli_runner
from transfer import make_target

import cursor_byok as byok
from cursor_byok import errors as E
from cursor_byok.cli import main
from cursor_byok.providers import registry

PASSPHRASE = "correct horse battery staple"


def ctx_for(sd, tmp_path, name: str) -> byok.Context:
    """A Context that decrypts this sample dir with its own machine secret."""
    secret_file = tmp_path / f"{name}.secret"
    secret_file.write_text(sd.sample.secret.decode() + "\n")
    return byok.Context(
        user_data_dir=str(sd.udd),
        safe_storage=byok.SafeStorageConfig("password", scheme="linux", password_file=str(secret_file)),
    )


def revealed(listing: byok.Listing) -> dict[str, str]:
    """The provider keys of a listing, in clear (unknown providers' keys left out)."""
    assert listing.profile is not None
    keys = listing.profile.keys().items()
    return {f: k.secret.reveal() for f, k in keys if k.secret is not None and not f.startswith("extra.")}


def test_the_docstring_walk_moves_every_key_and_undo_takes_it_back(make_sample_dir, tmp_path):
    source = make_sample_dir("v11")
    target = make_target(make_sample_dir, "v11")
    src, dst = ctx_for(source, tmp_path, "src"), ctx_for(target, tmp_path, "dst")

    listing = byok.read(src)
    assert revealed(listing) == source.keys and listing.undecryptable == ()
    assert source.keys["openai.key"] not in repr(listing)  # keys print masked

    bundle = byok.export_bundle(src, passphrase=PASSPHRASE)
    assert bundle.keys == len(source.keys) + len(source.extras) and bundle.left_out == ()
    assert bundle.data.startswith(b"age-encryption.org/v1") and source.keys["openai.key"].encode() not in bundle.data

    opened = byok.open_bundle(bundle.data, passphrases=[PASSPHRASE])
    plan = byok.plan_import(dst, opened, only=registry().names)
    assert {c.field for c in plan.plan.effective} >= set(source.keys)
    result = byok.apply(plan)
    assert result.rows and result.journal_id
    assert revealed(byok.read(dst)) == source.keys

    entry, _undone = byok.undo(dst)
    assert entry.id == result.journal_id
    assert revealed(byok.read(dst)) == {}


def test_a_plan_with_conflicts_is_refused_by_apply_and_resolved_by_a_callback(make_sample_dir, tmp_path):
    source = make_sample_dir("v11")
    other = make_sample_dir("v11", seed=3)  # different keys, same machine secret
    src, dst = ctx_for(source, tmp_path, "src"), ctx_for(other, tmp_path, "dst")
    opened = byok.open_bundle(byok.export_bundle(src, passphrase=PASSPHRASE).data, passphrases=[PASSPHRASE])
    plan = byok.plan_import(dst, opened, only=("openai",))
    assert [c.field for c in plan.plan.conflicts] == ["openai.key"]
    with pytest.raises(E.PlanConflict):
        byok.apply(plan)
    assert revealed(byok.read(dst))["openai.key"] == other.keys["openai.key"]
    asked = []
    settled = byok.resolve_conflicts(plan, lambda change: asked.append(change.field) or True)
    assert asked == ["openai.key"] and not settled.plan.conflicts
    byok.apply(settled)
    assert revealed(byok.read(dst))["openai.key"] == source.keys["openai.key"]


def test_set_key_dry_run_writes_nothing_and_a_real_one_is_read_back(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11", keys={})
    ctx = ctx_for(sd, tmp_path, "ctx")
    key = "sk-ant-api03-" + "A" * 93 + "AA"
    before = sd.db.read_bytes()
    dry = byok.set_key(ctx, "anthropic", key, dry_run=True)
    assert dry.applied is None and dry.to_json()["dry_run"] is True
    assert "anthropic.key" in [c.field for c in dry.prepared.plan.effective]
    assert sd.db.read_bytes() == before
    done = byok.set_key(ctx, "anthropic", key)
    assert done.applied is not None and done.to_json()["applied"] is True
    assert byok.get_key(ctx, "anthropic") == key
    with pytest.raises(E.MistakeRefused):  # a key of another provider's shape
        byok.set_key(ctx, "google", key)
    byok.unset_key(ctx, "anthropic")
    with pytest.raises(E.KeyNotStored):
        byok.get_key(ctx, "anthropic")


def test_models_change_and_list(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    ctx = ctx_for(sd, tmp_path, "ctx")
    byok.models(ctx, add=["qwen-coder-x"])
    listed = byok.models_listing(ctx).to_json()["models"]
    assert "qwen-coder-x" in listed["user_added"] and "qwen-coder-x" in listed["enabled"]
    byok.models(ctx, select={"composer": "qwen-coder-x"})
    assert byok.models_listing(ctx).to_json()["models"]["selected"]["composer"] == "qwen-coder-x"
    done = byok.models(ctx, add=["qwen-2"], disable=["qwen-coder-x"], select={"cmd-k": "qwen-2"})
    after = byok.models_listing(ctx).to_json()["models"]
    assert (
        "qwen-2" in after["user_added"]
        and "qwen-coder-x" in after["disabled"]
        and after["selected"]["cmd-k"] == "qwen-2"
    )
    assert done.applied is not None and byok.undo(ctx)[0].id == done.applied.journal_id  # one write, one undo
    assert byok.models_listing(ctx).to_json()["models"] == listed | {
        "selected": {**listed["selected"], "composer": "qwen-coder-x"}
    }
    with pytest.raises(E.InputError):
        byok.models(ctx)


def test_apply_manifest_reads_its_sources_only_when_it_writes(make_sample_dir, tmp_path, monkeypatch):
    sd = make_sample_dir("v11", keys={})
    ctx = ctx_for(sd, tmp_path, "ctx")
    key = "AIza" + "B" * 35
    manifest = tmp_path / "team.toml"
    manifest.write_text('version = 1\n[google]\nkey = "env:TEAM_GOOGLE_KEY"\n\n[models]\nadd = ["gemini-2.5-pro"]\n')
    dry = byok.apply_manifest(ctx, manifest, dry_run=True)  # the variable is not even set: nothing is read
    assert dry.applied is None
    monkeypatch.setenv("TEAM_GOOGLE_KEY", key)
    done = byok.apply_manifest(ctx, manifest)
    assert done.applied is not None and byok.get_key(ctx, "google") == key


def test_where_audit_and_doctor_return_what_the_cli_prints(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    ctx = ctx_for(sd, tmp_path, "ctx")
    found = byok.where(ctx)
    assert [f.db for f in found] == [sd.db] and found[0].used and found[0].backend == "password"
    options = ["--user-data-dir", str(sd.udd), *sd.password_options(tmp_path / "cli.secret")]
    for command, report in (("audit", byok.audit(ctx)), ("doctor", byok.doctor(ctx))):
        done = cli_runner().invoke(main, [*options, command, "--json"])
        printed = json.loads(done.output)
        assert printed == report.to_json()
        assert (done.exit_code == 13) == report.problems


def test_export_needs_exactly_one_way_to_encrypt(make_sample_dir, tmp_path):
    ctx = ctx_for(make_sample_dir("v11"), tmp_path, "ctx")
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx)
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx, passphrase=PASSPHRASE, recipients=["age1qqqq"])


def test_import_cursor_byok_is_cheap_and_lists_its_api():
    code = (
        "import json, sys, cursor_byok as b\n"
        "names = sorted(set(b.__all__) - set(dir(b)))\n"
        "heavy = sorted(m for m in ('click', 'sqlalchemy', 'cryptography', 'pyrage') if m in sys.modules)\n"
        "print(json.dumps([names, heavy, callable(b.read), 'click' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
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
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    source, target = make_sample_dir("v11"), make_target(make_sample_dir, "v11")
    code = block.replace('byok.Context(user_data_dir="/mnt/old-home/.config/Cursor")', "SOURCE")
    code = code.replace("byok.Context()", "TARGET")
    assert code.count("SOURCE") == 1 and code.count("TARGET") == 2
    space = {"SOURCE": ctx_for(source, tmp_path, "src"), "TARGET": ctx_for(target, tmp_path, "dst")}
    exec(compile(code, "README.md", "exec"), space)
    printed = capsys.readouterr().out
    assert "('openai.key', 'add')" in printed and source.keys["openai.key"] not in printed
    assert space["result"].journal_id and revealed(byok.read(space["TARGET"])) == {}  # undone at the end


def test_library_inputs_are_checked_like_the_cli_checks_them(make_sample_dir, tmp_path):
    sd = make_sample_dir("v11")
    ctx = ctx_for(sd, tmp_path, "ctx")
    assert byok.get_key(ctx, "Claude") == sd.keys["anthropic.key"]  # aliases and any case, as on the CLI
    with pytest.raises(E.InputError, match="did you mean 'openai'"):
        byok.get_key(ctx, "opnai")
    before = sd.db.read_bytes()
    with pytest.raises(E.InputError):
        byok.set_key(ctx, "claud", "sk-ant-api03-" + "A" * 93 + "AA", dry_run=True)
    with pytest.raises(E.InputError, match="not a key field of openai"):
        byok.plan_set_key(ctx, "openai", {"anthropic.key": "sk-ant-api03-" + "A" * 93 + "AA"})
    opened = byok.open_bundle(byok.export_bundle(ctx, passphrase=PASSPHRASE).data, passphrases=[PASSPHRASE])
    for bad in ({"key_storage": "bogus"}, {"models": "bogus"}, {"on_conflict": "ask"}):
        with pytest.raises(E.InputError):
            byok.plan_import(ctx, opened, **bad)
    with pytest.raises(E.InputError, match="too short"):
        byok.export_bundle(ctx, passphrase="short")
    assert sd.db.read_bytes() == before


def test_plans_and_results_never_show_a_key_when_printed(make_sample_dir, tmp_path, monkeypatch):
    """print(plan) or a log line of any result must not carry a key, even one the settings blob holds in clear."""
    source = make_sample_dir("v11")
    target = make_target(make_sample_dir, "v11")
    monkeypatch.setenv("HOME", str(tmp_path))
    src = ctx_for(source, tmp_path, "src")
    home_relative = byok.Context(
        user_data_dir="~/" + str(target.udd.relative_to(tmp_path)), safe_storage=src.safe_storage
    )
    opened = byok.open_bundle(byok.export_bundle(src, passphrase=PASSPHRASE).data, passphrases=[PASSPHRASE])
    dst = ctx_for(target, tmp_path, "dst")
    plan = byok.plan_import(dst, opened)
    applied = byok.apply(plan)
    undo_plan = byok.undo_plan(dst)
    shown = " ".join(repr(x) for x in (plan, applied, undo_plan, opened, byok.read(dst), byok.where(home_relative)))
    for key in source.keys.values():
        assert key not in shown
    assert byok.where(home_relative)[0].db == target.db  # "~/" is expanded, as a shell would
