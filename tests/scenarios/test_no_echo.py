"""A secret given where a name or path was expected is never repeated in the error."""

from __future__ import annotations

import pytest
from helpers.cli import cli_runner

from cursor_byok.cli import Exit, main
from cursor_byok.key_shapes import NOT_SHOWN, shown_env_name, shown_path
from cursor_byok.samples.installs import make_key


@pytest.fixture
def target(make_sample_dir, clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CURSOR_BYOK_DATA_DIR", str(tmp_path / "data"))
    return make_sample_dir("plaintext", keys={})


def invoke(*args: str, input: str | None = None):
    runner = cli_runner()
    return runner.invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize(
    "option,kind",
    [("--key-env", "openai"), ("--key-file", "openai"), ("--secret-key-env", "aws_secret")],
)
def test_set_with_a_key_where_a_name_goes_does_not_print_it(target, option, kind):
    key = make_key(kind)
    args = ["--db", str(target.db), "set", "bedrock" if option == "--secret-key-env" else "openai", option, key]
    if option == "--secret-key-env":
        args += ["--key-env", "SOME_ACCESS_KEY_VAR"]
    result = invoke(*args)
    assert result.exit_code == int(Exit.INPUT), result.stderr
    assert key not in result.stdout + result.stderr
    assert key[-8:] not in result.stdout + result.stderr


def test_export_with_a_passphrase_where_a_variable_name_goes_does_not_print_it(target, tmp_path):
    passphrase = "correct horse battery staple"
    result = invoke("--db", str(target.db), "export", "-o", str(tmp_path / "b.age"), "--passphrase-env", passphrase)
    assert result.exit_code == int(Exit.INPUT)
    assert "horse" not in result.stderr and NOT_SHOWN in result.stderr
    result = invoke("--db", str(target.db), "export", "-o", str(tmp_path / "b.age"), "--passphrase-file", passphrase)
    assert result.exit_code == int(Exit.INPUT)
    assert "horse" not in result.stderr


def test_names_and_paths_that_look_like_names_and_paths_are_shown():
    assert shown_env_name("OPENAI_API_KEY") == "$OPENAI_API_KEY"
    assert shown_path("~/.config/team/azure.key") == "~/.config/team/azure.key"
    assert shown_env_name(make_key("anthropic")) == NOT_SHOWN
    assert shown_env_name("gsk_" + "a1" * 20) == NOT_SHOWN  # a Groq key is a valid identifier
    assert shown_path(make_key("openai")) == NOT_SHOWN
    assert shown_path("my secret pass") == NOT_SHOWN


def test_a_key_inside_a_path_is_not_shown():
    assert shown_path("/home/dev/" + make_key("openai")) == NOT_SHOWN
    assert shown_path("C:\\Users\\dev\\" + make_key("google")) == NOT_SHOWN
