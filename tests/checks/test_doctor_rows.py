"""`cursor-byok doctor` as people read it: each row once, in a fixed order, and the tool's own
commands in "what to do", on real sample databases."""

from __future__ import annotations

import json
import random
import re

import pytest
from helpers.cli import cli_runner

from cursor_byok import render
from cursor_byok.checks import doctor
from cursor_byok.cli import main
from cursor_byok.providers import registry
from cursor_byok.samples.installs import default_settings, sample_keys


@pytest.fixture(autouse=True)
def env(clean_env):
    return clean_env


def troubled_settings() -> dict:
    """Settings that used to give two rows for one symptom, and causes whose fix is one of our commands."""
    doc = default_settings("http://localhost:11434/v1")  # local server: a "no key" note and a tunnel note
    doc["useGoogleKey"] = True  # on, but no Google key below
    doc["azureState"] = {"useAzure": True, "baseUrl": "https://x.services.ai.azure.com"}  # no deployment, no key
    doc["aiSettings"]["modelOverrideDisabled"] = ["llama-3.1-70b", "qwen2.5-coder:32b"]
    return doc


def troubled_keys() -> dict:
    keys = sample_keys(random.Random(3))
    for field in ("openai.key", "google.key", "azure.key"):
        keys.pop(field)
    return keys


def run_doctor(make_sample_dir, tmp_path, *args, settings=None, keys=None):
    sample = make_sample_dir(
        "v11",
        keys=sample_keys(random.Random(3)) if keys is None else keys,
        settings=default_settings() if settings is None else settings,
        azure_bedrock_rows=True,
    )
    options = ["--user-data-dir", str(sample.udd), *sample.password_options(tmp_path / "secret")]
    table = [] if "--json" in args else ["--all"]  # the rows these tests read are --all's table
    return cli_runner().invoke(main, [*options, "doctor", *table, *args], catch_exceptions=False)


def own_options_out(text: str) -> str:
    """The text with each quoted command's global options (which name the sample install) left out."""
    return re.sub(r"`cursor-byok (?:--[\w-]+ \S+ )*", "`cursor-byok ", text)


def check_rows(text: str) -> list[tuple[str, str, str]]:
    """(provider, symptom, verdict) of each row of the first table, read by its header's columns."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("provider") and "symptom" in line)
    sym, ver, det = (lines[header].index(w) for w in ("symptom", "verdict", "detail"))
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        if line[:sym].strip():
            rows.append((line[:sym].strip(), line[sym:ver].strip(), line[ver:det].strip()))
    return rows


def assert_each_row_once_in_order(text: str) -> list[tuple[str, str, str]]:
    rows = check_rows(text)
    pairs = [(p, s) for p, s, _ in rows]
    assert len(pairs) == len(set(pairs)), pairs
    places = [(doctor.PROVIDER_ORDER.index(p), doctor.SYMPTOM_ORDER.index(s)) for p, s in pairs]
    assert places == sorted(places), pairs
    assert "what to do" not in text.splitlines()  # no second table repeating the rows
    return rows


def test_sample_install_rows_once_in_provider_then_symptom_order(make_sample_dir, tmp_path):
    result = run_doctor(make_sample_dir, tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = assert_each_row_once_in_order(result.stdout)
    assert [p for p, _s, _v in rows][:2] == ["openai", "openai"] and rows[-1][:2] == ("general", doctor.TAB)
    providers = list(dict.fromkeys(p for p, _s, _v in rows))
    assert providers == [*registry().names, "general"]


def test_findings_of_one_symptom_are_one_row_with_the_commands_to_run(make_sample_dir, tmp_path):
    result = run_doctor(make_sample_dir, tmp_path, settings=troubled_settings(), keys=troubled_keys())
    assert result.exit_code == 13, result.stderr
    text = own_options_out(result.stdout)
    rows = assert_each_row_once_in_order(text)
    verdicts = {(p, s): v for p, s, v in rows}
    assert verdicts[("azure", doctor.AZURE_REFUSED)] == "likely"  # no deployment, with the endpoint note folded in
    assert verdicts[("openai", doctor.NOT_SHOWN)] == "note"  # "no key is fine" and the tunnel note: one row
    assert verdicts[("models", doctor.NOT_SHOWN)] == "likely"
    for command in (
        "`cursor-byok models enable llama-3.1-70b qwen2.5-coder:32b`",
        "`cursor-byok set google`",
        "`cursor-byok set azure --no-key --deployment NAME`",
        "`cursor-byok set openai --no-key --base-url URL`",
        "`cursor-byok doctor --online`",
    ):
        assert command in text, command
    assert "Cursor Settings > Models > Azure OpenAI" in text  # what the tool cannot do names Cursor's setting
    # every "what to do" sits right under the row it belongs to
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("what to do:"):
            assert not lines[i - 1].lstrip().startswith("what to do:") and lines[i - 1].strip()


def test_json_checks_are_the_rows_in_the_same_order(make_sample_dir, tmp_path):
    text = run_doctor(make_sample_dir, tmp_path, settings=troubled_settings(), keys=troubled_keys()).stdout
    doc = json.loads(
        run_doctor(make_sample_dir, tmp_path, "--json", settings=troubled_settings(), keys=troubled_keys()).stdout
    )
    assert [(c["provider"], c["symptom"], c["verdict"]) for c in doc["checks"]] == check_rows(text)


def test_narrow_terminal_wraps_with_a_hanging_indent_and_keeps_commands_whole(make_sample_dir, tmp_path, monkeypatch):
    doc = json.loads(
        run_doctor(make_sample_dir, tmp_path, "--json", settings=troubled_settings(), keys=troubled_keys()).stdout
    )
    wide = render.doctor_text(doc, show_all=True)
    monkeypatch.setattr(render, "TERMINAL_WIDTH", 72)
    text = render.doctor_text(doc, show_all=True)
    assert check_rows(text) == check_rows(wide)
    commands = set(re.findall(r"`cursor-byok [^`]*`", wide))
    assert len(commands) >= 5
    for command in commands:
        assert any(command in line for line in text.splitlines()), command
    first = text.splitlines()[1]
    column = first.index("detail")
    table = text.split("\n\n")[0].splitlines()[2:]
    assert all(line[:column].strip() == "" or line[0] != " " for line in table)
    for line in table:  # only a URL or a command, which are never split, may stick out
        rest = re.sub(r"`[^`]*`", "`", line[column:])
        assert len(line) <= 72 or " " not in rest.strip(), line


def test_merged_row_takes_the_worst_verdict_and_every_finding():
    from cursor_byok.checks.doctor import AZURE_REFUSED, LIKELY, NOTE, OK, S401, TAB, Check, in_order

    rows = in_order(
        [
            Check("general", TAB, NOTE, "tab"),
            Check("azure", AZURE_REFUSED, NOTE, "endpoint note", "fix one"),
            Check("azure", AZURE_REFUSED, OK, "fine part"),
            Check("azure", AZURE_REFUSED, LIKELY, "no deployment", "fix two"),
            Check("openai", S401, OK, "format ok"),
        ]
    )
    assert [(c.provider, c.symptom) for c in rows] == [("openai", S401), ("azure", AZURE_REFUSED), ("general", TAB)]
    azure = rows[1]
    assert (azure.verdict, azure.detail, azure.fix) == (LIKELY, "endpoint note; no deployment", "fix one; fix two")
