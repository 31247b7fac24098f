"""Undo that works like undo: each `undo` goes one step further back, `redo` steps forward again,
the plan is shown in words first, `--dry-run` writes nothing, and `where` names the journal folder."""

from __future__ import annotations

import json
import re

import pytest
from helpers.transfer import assert_unchanged, dump, journals, options, run, snapshot

from cursor_byok.changes import journal
from cursor_byok.cli import Exit
from cursor_byok.samples.installs import make_key

WRITES = [
    ("set", "openai", "--base-url", "https://llm.example.net/v1", "--no-key"),
    ("models", "add", "my-model"),
    ("unset", "anthropic"),
]


@pytest.fixture
def history(make_sample_dir, data_dir):
    """(sample dir, [dump before write 1, after write 1, after 2, after 3]) after three writes."""
    sd = make_sample_dir("v11")
    states = [dump(sd.db)]
    for args in WRITES:
        result = run(*options(sd), *args, "--yes")
        assert result.exit_code == 0, result.stderr
        states.append(dump(sd.db))
    assert len({json.dumps(s, sort_keys=True, default=str) for s in states}) == 4  # each write changed something
    assert len(journals(data_dir)) == 3
    return sd, states


def undo(sd, *args: str):
    return run(*options(sd), "undo", "--yes", *args)


def redo(sd, *args: str):
    return run(*options(sd), "redo", "--yes", *args)


def test_each_undo_goes_one_step_further_back(history):
    sd, states = history
    for step in (3, 2, 1):
        result = undo(sd)
        assert result.exit_code == 0, result.stderr
        assert dump(sd.db) == states[step - 1]  # byte-identical rows: the state before the last writes
    before = snapshot(sd.db)
    result = undo(sd)
    assert result.exit_code == int(Exit.NOTHING_TO_UNDO)
    assert "nothing left to undo" in result.stderr and "redo" in result.stderr
    assert_unchanged(sd.db, before)


def test_redo_steps_forward_again_and_stops_at_the_newest_write(history):
    sd, states = history
    assert undo(sd).exit_code == 0 and undo(sd).exit_code == 0
    assert dump(sd.db) == states[1]
    first = redo(sd, "--json")
    assert first.exit_code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["redo"] is True and doc["redoes"]["command"] == "models add my-model" and doc["applied"] is True
    assert dump(sd.db) == states[2]
    second = redo(sd)
    assert second.exit_code == 0, second.stderr
    assert "re-applied" in second.stdout and "undo it again with `cursor-byok --user-data-dir" in second.stdout
    assert dump(sd.db) == states[3]
    result = redo(sd)
    assert result.exit_code == int(Exit.NOTHING_TO_UNDO) and "nothing to redo" in result.stderr
    assert dump(sd.db) == states[3]
    assert undo(sd).exit_code == 0  # and back again: the redone write is undone once more
    assert dump(sd.db) == states[2]


def test_undo_of_an_undo_journal_by_id_is_a_redo(history):
    sd, states = history
    result = undo(sd, "--json")
    assert result.exit_code == 0
    undo_id = json.loads(result.stdout)["journal"]
    again = undo(sd, undo_id)
    assert again.exit_code == 0, again.stderr
    assert dump(sd.db) == states[3]
    assert undo(sd).exit_code == 0  # the write counts as in effect again, so plain undo takes it
    assert dump(sd.db) == states[2]


def test_a_new_write_after_an_undo_ends_what_can_be_redone(history):
    sd, states = history
    assert undo(sd).exit_code == 0
    assert run(*options(sd), "models", "add", "other-model", "--yes").exit_code == 0
    after = snapshot(sd.db)
    result = redo(sd)
    assert result.exit_code == int(Exit.NOTHING_TO_UNDO)
    assert "models add other-model" in result.stderr and "after the last undo" in result.stderr
    assert_unchanged(sd.db, after)


def test_undo_list_shows_which_writes_are_undone(history):
    sd, _ = history
    ids = [j["id"] for j in json.loads(undo(sd, "--list", "--json").stdout)["journals"]]
    assert undo(sd).exit_code == 0
    listed = json.loads(undo(sd, "--list", "--json").stdout)["journals"]
    undo_doc, unset_doc = listed[0], listed[1]
    assert unset_doc["id"] == ids[0] and unset_doc["undone"] is True and unset_doc["undone_by"] == undo_doc["id"]
    assert undo_doc["kind"] == "undo" and undo_doc["undoes"] == ids[0] and undo_doc["undone"] is False
    assert [j["undone"] for j in listed[2:]] == [False, False]
    text = undo(sd, "--list").stdout
    assert f"undone by {undo_doc['id']}" in text and f"undo of {ids[0]}" in text and "in effect" in text


def test_the_plan_names_each_field_in_words_and_masks_keys(make_sample_dir, data_dir, monkeypatch):
    sd = make_sample_dir("plaintext")  # plain key rows: the old key is in the journal, never on screen
    key = make_key("openai")
    monkeypatch.setenv("NEW_KEY", key)
    args = ["set", "openai", "--key-env", "NEW_KEY", "--base-url", "https://x.example.com/v1", "--yes"]
    result = run(*options(sd), *args)
    assert result.exit_code == 0, result.stderr
    result = run(*options(sd), "undo", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "openai.base_url: https://x.example.com/v1 → (unset)" in result.stdout
    assert re.search(r"^~ openai\.key \(plain row\): sk-proj-…\S{4} → sk-proj-…\S{4}$", result.stdout, re.M)
    assert f"sk-proj-…{key[-4:]} →" in result.stdout and key not in result.stdout + result.stderr
    doc = json.loads(run(*options(sd), "undo", "--dry-run", "--json").stdout)
    assert {"field": "openai.base_url", "now": "https://x.example.com/v1", "restored": "(unset)"} in doc["restores"]


def test_dry_run_writes_nothing(history, data_dir):
    sd, states = history
    files = sorted(p.name for p in journals(data_dir))
    before = snapshot(sd.db)
    for args in (["undo", "--dry-run"], ["undo", "--dry-run", "--json"], ["undo", "--dry-run", "--force"]):
        result = run(*options(sd), *args)  # no terminal, no --yes: a dry run needs neither
        assert result.exit_code == 0, result.stderr
        assert (result.stderr if "--json" in args else result.stdout).rstrip().endswith("dry run: nothing written")
        assert_unchanged(sd.db, before)
        assert sorted(p.name for p in journals(data_dir)) == files
    doc = json.loads(run(*options(sd), "undo", "--dry-run", "--json").stdout)
    assert doc["dry_run"] is True and doc["applied"] is False and doc["journal"] is None
    assert doc["command"] == "unset anthropic" and doc["restores"]
    assert undo(sd).exit_code == 0
    redo_before = snapshot(sd.db)
    result = run(*options(sd), "redo", "--dry-run")
    assert result.exit_code == 0 and "redo: re-apply" in result.stdout and "anthropic.enabled" in result.stdout
    assert_unchanged(sd.db, redo_before)


def test_without_a_terminal_undo_and_redo_need_yes(history):
    sd, _ = history
    before = snapshot(sd.db)
    for command in ("undo", "redo"):
        result = run(*options(sd), command)
        assert result.exit_code == int(Exit.INPUT) and "pass --yes" in result.stderr, (command, result.stderr)
        assert_unchanged(sd.db, before)
        if command == "undo":
            assert "anthropic.enabled" in result.stdout  # the plan is shown before the refusal
            assert undo(sd).exit_code == 0
            before = snapshot(sd.db)


def test_an_undo_from_before_the_undoes_field_still_counts(history):
    """An undo journal written by an older cursor-byok has no `undoes` in its header, only its command."""
    sd, states = history
    assert undo(sd).exit_code == 0
    newest = journal.entries(db=sd.db)[0]
    first, rest = newest.path.read_text().split("\n", 1)
    header = json.loads(first[:-1] + "}")
    assert header.pop("undoes") == newest.undone_id
    newest.path.write_text(json.dumps(header)[:-1] + ",\n" + rest)
    assert journal.entries(db=sd.db)[0].undoes is None
    assert undo(sd).exit_code == 0
    assert dump(sd.db) == states[1]  # the unset stays undone: this undo went on to the models add


def test_where_names_the_journal_folder(history, data_dir):
    sd, _ = history
    result = run(*options(sd), "where")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("undo journals"))
    assert str(data_dir / "journals") in line and "(3 for this database)" in line
    doc = json.loads(run(*options(sd), "where", "--json").stdout)
    (inst,) = doc["installations"]
    assert inst["undo_journals"] == {
        "folder": str(data_dir / "journals"),
        "files": f"*.{journal.db_tag(sd.db)}.json",
        "count": 3,
    }


def test_on_a_terminal_the_plan_comes_before_the_question(history):
    import sys

    from helpers.children import answer_prompt_on_a_terminal

    sd, states = history
    argv = [sys.executable, "-m", "cursor_byok", *map(str, options(sd)), "undo"]
    code, shown = answer_prompt_on_a_terminal(argv, b"[y/N]", "y")
    assert code == 0, shown
    text = shown.decode("utf-8", "replace")
    assert text.index("anthropic.enabled: false → true") < text.index("Restore 2 value(s)") < text.index("[y/N]")
    assert "restored 2 row(s)" in text
    assert dump(sd.db) == states[2]
