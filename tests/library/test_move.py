"""The library's move functions (export_bundle, open_bundle, plan_import, import_bundle, undo) on real sample
installs, the README's Python example run as written, and the inputs checked as the command line checks them.

Keys are real ciphertext (v11, AES-CBC under a PBKDF2 key from the machine secret given through the `password`
backend); databases are real SQLite files. Each command's result against its --json document: test_results.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers.library import PASSPHRASE, SAMPLE_HOSTS, ctx_for, revealed
from helpers.paths import REPO
from helpers.transfer import make_target

import cursor_byok as byok
from cursor_byok import errors as E
from cursor_byok.providers import registry


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


def test_export_needs_exactly_one_way_to_encrypt(make_sample_dir, tmp_path):
    ctx = ctx_for(make_sample_dir("v11"), tmp_path, "ctx")
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx)
    with pytest.raises(E.InputError):
        byok.export_bundle(ctx, passphrase=PASSPHRASE, recipients=["age1qqqq"])


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
