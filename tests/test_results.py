"""What the commands return: each library result's to_json() is the command's --json document (the contract:
each command run both ways, the library function and the command line with --json, on two copies of one
sample, paths, journal ids and times normalised), and no result shows a key when printed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from helpers.cli import cli_runner
from helpers.library import PASSPHRASE, SAMPLE_HOSTS, ctx_for
from helpers.transfer import make_target

import cursor_byok as byok
from cursor_byok.cli import main


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
