"""`doctor` on a v11 sample dir (`Dir`), the settings and keys it starts from, and `inject_urls`, which points
the official URLs at a fake provider inside this pytest process (see tests/checks/test_doctor.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from cursor_byok.cli import Exit, main
from cursor_byok.samples.installs import default_settings, sample_keys
from helpers.cli import cli_runner as runner


def settings(**changes) -> dict:
    doc = default_settings()
    doc["useGoogleKey"] = True
    doc["bedrockState"] = {"useBedrock": True, "region": "us-east-1"}
    doc.update(changes)
    return doc


def keys(*, seed: int = 21, **changes) -> dict:
    """The sample keys made from `seed`, with `provider__field=value` changed (None: removed)."""
    out = sample_keys(random.Random(seed))
    for name, value in changes.items():
        field = name.replace("__", ".")
        if value is None:
            out.pop(field, None)
        else:
            out[field] = value
    return out


class Dir:
    """A v11 sample dir and the options that decode it."""

    def __init__(self, make_sample_dir, tmp_path: Path, *, key_values=None, blob=None, extras=None):
        sample = make_sample_dir(
            "v11",
            keys=keys() if key_values is None else key_values,
            settings=settings() if blob is None else blob,
            extras={} if extras is None else extras,
            azure_bedrock_rows=True,
        )
        self.sample = sample
        self.secrets = [*sample.keys.values(), *sample.extras.values()]
        self.options = ["--user-data-dir", str(sample.udd), *sample.password_options(tmp_path / "secret")]

    def run(self, *args: str):
        return runner().invoke(main, [*self.options, "doctor", *args], catch_exceptions=False)

    def document(self, *args: str) -> dict:
        result = self.run("--json", *args)
        assert result.exit_code in (0, Exit.FINDINGS), result.stderr
        return json.loads(result.stdout)


def inject_urls(monkeypatch, urls: dict, **options) -> None:
    from cursor_byok.library import check as library

    real = library.doctor_report

    def with_urls(inst, storage, **kw):
        return real(inst, storage, **{**kw, "provider_urls": urls, **options})

    monkeypatch.setattr(library, "doctor_report", with_urls)


def only(provider: str, **changes) -> dict:
    """Settings with only `provider` switched on."""
    blob = settings(useOpenAIKey=False, useClaudeKey=False, useGoogleKey=False, **changes)
    blob["azureState"] = {**blob["azureState"], "useAzure": False}
    blob["bedrockState"] = {"useBedrock": False}
    toggle = {"openai": "useOpenAIKey", "anthropic": "useClaudeKey", "google": "useGoogleKey"}
    if provider == "azure":
        blob["azureState"]["useAzure"] = True
    else:
        blob[toggle[provider]] = True
    return blob
