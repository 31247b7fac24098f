"""The library's edit functions (set_key, unset_key, models, apply_manifest) on a real sample install, as the
commands do: `get` after `set`, a manifest's commands asked about before they run."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from helpers.library import ctx_for

import cursor_byok as byok
from cursor_byok import errors as E


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
