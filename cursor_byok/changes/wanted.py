"""What `set`, `unset`, `models` and `apply` want: key sources, checked inputs, wanted fields.

Nothing here writes. Keys are read from an environment variable, a file, a
command's stdout, stdin or a hidden prompt, checked, and wrapped in Secret.
Every source gives at most SOURCE_LIMIT bytes; a file source must be a regular
file; a value shaped like another kind of credential is refused; commands run
without a shell, with a scrubbed environment (`command_environment`).
Wanted fields are built against the profile read for the plan;
`changes.planner.prepare_write` diffs them, and `changes.write` carries the plan out.
"""

from __future__ import annotations

import io
import ntpath
import os
import posixpath
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, cast

from ..console import has_unsafe
from ..cursor.rows import raw_travels
from ..cursor.urls import check
from ..errors import InputError, KeyNotStored, MistakeRefused, SafeStorageUnavailable
from ..key_shapes import (
    NOT_SHOWN,
    OK,
    UNEXPECTED,
    article,
    check_format,
    credential_kind,
    holds_a_key,
    looks_placeholder,
    other_credential,
    secret_in_path,
    shown_env_name,
    shown_path,
)
from ..key_table import has_a_key_shape, known_vendor, looks_like_key, looks_like_secret
from ..model import (
    RAW,
    SELECTED_PREFIX,
    ConflictPolicy,
    Plan,
    Profile,
    Secret,
    StoredKey,
    provider_of,
)
from ..private_files import FileTooLarge, NotRegularFile, read_small
from ..providers import registry
from .diff import settle

Prompt = Callable[[str], str]

# Each provider's settable key fields, settings and key labels come from the provider registry:
# registry().settable_key_fields (KEY_FIELDS_OF), .setting_names (SETTINGS_OF), .labels (LABELS).
_VIEWS: dict[str, Callable[[], Any]] = {
    "KEY_FIELDS_OF": lambda: dict(registry().settable_key_fields),
    "SETTINGS_OF": lambda: dict(registry().setting_names),
    "LABELS": lambda: dict(registry().labels),
}


def __getattr__(name: str) -> Any:
    """KEY_FIELDS_OF, SETTINGS_OF, LABELS: views of the current provider registry, never frozen at import."""
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SOURCE_KINDS = ("env", "file", "cmd")
COMMAND_TIMEOUT = 30.0
SOURCE_LIMIT = 64 << 10
"""Most bytes a key source may give (file, command output, variable, stdin): a key is a few hundred."""
TOOL_ENV_PREFIX = "CURSOR_BYOK_"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD_KEY_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MODEL = re.compile(r"[^\s\x00-\x1f\x7f]{1,200}")


# --- checked inputs --------------------------------------------------------------------


def clean_key(value: str, label: str) -> Secret:
    """A key without its trailing newline; empty, inner whitespace or a credentials line (never one key) is refused.

    A token of another kind (`credential_kind`) passes here: `mistakes` refuses it unless forced."""
    kind = other_credential(value)
    if kind:
        raise InputError(f"{label} looks like {kind}, not a provider API key; refused (give the provider's key)")
    value = value.rstrip("\r\n")
    if not value:
        raise InputError(f"{label} is empty; give the key itself")
    if _BAD_KEY_CHAR.search(value):
        raise InputError(f"{label} contains whitespace or a control character; a key is one unbroken line")
    return Secret(value)


def check_url(value: str, label: str) -> str:
    """A base URL that is safe to send a key to (urls.check: https, no user info, ASCII host, no key in it)."""
    return check(value, label)


def not_a_key(value: str, label: str) -> None:
    """A name, region or model is stored in the clear and printed in plans: a key given there by mistake is
    refused, and the message does not repeat it."""
    if has_a_key_shape(value) or other_credential(value) or credential_kind(value):
        raise InputError(f"{label}: the value looks like an API key, which never goes here; {NOT_SHOWN}")


def check_region(value: str, label: str) -> str:
    not_a_key(value, label)
    if not _REGION.fullmatch(value):
        raise InputError(f"{label} must be an AWS region like us-east-1, got {value!r}")
    return value


def check_name(value: str, label: str) -> str:
    """A deployment or surface name: letters, digits, '.', '_' and '-'."""
    not_a_key(value, label)
    if not _NAME.fullmatch(value):
        raise InputError(f"{label} must be letters, digits, '.', '_' or '-', got {value!r}")
    return value


def check_models(names: Iterable[str], label: str) -> tuple[str, ...]:
    out: dict[str, None] = {}  # ordered, with set membership
    for name in names:
        if isinstance(name, str):
            not_a_key(name, label)
        if not isinstance(name, str) or not _MODEL.fullmatch(name) or has_unsafe(name):
            raise InputError(f"{label}: {name!r} is not a model name (one word, no spaces)")
        out[name] = None
    return tuple(out)


SETTING_CHECKS: dict[str, Callable[[str, str], str]] = {"url": check_url, "name": check_name, "region": check_region}


def setting_checks() -> dict[str, Callable[[str, str], str]]:
    """Setting field -> the check its values pass (a base URL, a deployment name, a region), per the registry."""
    return {field: SETTING_CHECKS[setting.kind] for field, setting in registry().settings.items()}


def check_setting(provider: str, name: str, value: str, label: str) -> str | None:
    """A provider setting (base_url, deployment, region); an empty value clears a clearable one (OpenAI's base URL)."""
    setting = registry()[provider].setting(name)
    if setting is None:
        raise InputError(f"{label}: {provider} has no setting {name!r}")
    if value == "" and setting.clearable:
        return None
    return SETTING_CHECKS[setting.kind](value, label)


def setting_options(provider: str, given: Mapping[str, str | None], *, parameters: bool = False) -> dict[str, Any]:
    """Checked `set` options (base_url, deployment, region) that were given, for this provider only; errors
    name the command's options, or with `parameters` the library's parameters."""
    settings_of = registry().setting_names
    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        option = name if parameters else "--" + name.replace("_", "-")
        if name not in settings_of[provider]:
            owners = " and ".join(p for p, names in settings_of.items() if name in names)
            raise InputError(f"{option} applies to {owners} only")
        out[name] = check_setting(provider, name, value, option)
    return out


# --- key sources -----------------------------------------------------------------------


def parse_source(spec: str, label: str) -> tuple[str, str]:
    """(kind, argument) of `env:VAR`, `file:PATH`, `cmd:COMMAND` or `prompt`; refuses a key value."""
    if spec == "prompt":
        return "prompt", ""
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in SOURCE_KINDS:
        what = "holds what looks like a key" if looks_like_key(spec) else "is not a key source"
        raise InputError(
            f"{label} {what}; never put a key in a manifest: use env:VAR, file:PATH, cmd:COMMAND or prompt"
        )
    if "\x00" in arg:  # no path or command can hold one; open() and exec() would raise ValueError
        raise InputError(f"{label}: the {kind}: source holds a NUL character")
    if _CONTROL.search(arg) or has_unsafe(arg):  # it is shown before it runs: a terminal must not act on it
        raise InputError(
            f"{label}: the {kind}: source holds a control character (or a bidi or other format character, which "
            "could hide or reorder what is shown)"
        )
    if kind == "env" and (not _ENV_NAME.fullmatch(arg) or holds_a_key(arg)):
        raise InputError(f"{label}: env: needs an environment variable name {NOT_SHOWN}")
    if kind == "file" and secret_in_path(arg):  # a dry run would show it: `would read ...`
        raise InputError(f"{label}: file: needs a path, and this one looks like a key {NOT_SHOWN}")
    try:
        words = shlex.split(arg) if kind == "cmd" else [arg]
    except ValueError as exc:
        raise InputError(f"{label}: cannot split the command ({exc})") from None
    if not words or not words[0]:
        raise InputError(f"{label}: {kind}: needs a {'command' if kind == 'cmd' else 'value'} after the colon")
    if any(looks_like_secret(w) for w in words) or looks_like_secret(arg):
        raise InputError(f"{label}: the source itself contains what looks like a key; read it from elsewhere")
    return kind, arg


def read_source(
    spec: str,
    label: str,
    *,
    prompt: Prompt | None = None,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    prompt_text: str | None = None,
    command_env: Mapping[str, str] | None = None,
) -> Secret:
    """The key a source names, checked; nothing about the value appears in any error.

    A command gets `command_env`, or this process's environment scrubbed by `command_environment`.
    """
    kind, arg = parse_source(spec, label)
    env = os.environ if env is None else env
    if kind == "env":
        value = env.get(arg)
        if not value:
            raise InputError(f"{label}: {shown_env_name(arg)} is not set or empty")
        if len(value.encode("utf-8", "surrogateescape")) > SOURCE_LIMIT:
            raise InputError(f"{label}: {shown_env_name(arg)} holds more than 64 KiB; a key source gives one key")
    elif kind == "file":
        value = _read_key_file(arg, label, base_dir)
    elif kind == "cmd":
        value = run_key_command(arg, label, cwd=base_dir, env=command_env).strip()
    else:
        if prompt is None:
            raise InputError(f"{label}: a hidden prompt needs a terminal on stdin; use env:VAR, file:PATH or cmd:")
        value = prompt(prompt_text or label)
    return clean_key(value, label)


def _read_key_file(path: str, label: str, base_dir: Path | None) -> str:
    try:
        target = Path(path).expanduser()
    except RuntimeError:  # ~user of an unknown user, or no home directory
        raise InputError(f"{label}: cannot expand {shown_path(path.split('/', 1)[0])} to a home directory") from None
    if base_dir is not None and not target.is_absolute():
        target = base_dir / target
    shown = shown_path(str(target))
    try:
        return read_small(target, SOURCE_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label}: {shown} is not UTF-8 text") from None
    except FileTooLarge:
        raise InputError(f"{label}: {shown} is larger than 64 KiB; a key file holds one key") from None
    except NotRegularFile:
        raise InputError(
            f"{label}: {shown} is not a regular file (a folder, FIFO or device); "
            "give a file that holds the key (pipes: --key-stdin or cmd:)"
        ) from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read {shown_path(str(target))} ({exc.strerror})") from None


def command_environment(env: Mapping[str, str], held: Iterable[str] = (), drop: Iterable[str] = ()) -> dict[str, str]:
    """The environment a `cmd:` helper gets: `env` without what it has no business seeing.

    Left out: every CURSOR_BYOK_* variable (the machine secret among them), the
    variables named in `drop` (a manifest's env: sources), and every variable
    whose value holds one of the `held` keys. Everything else passes: PATH,
    HOME, and what password managers need (sessions, agent sockets, D-Bus).
    """
    keys = [k for k in held if len(k) >= 8]
    dropped = {name.upper() for name in drop}
    return {
        name: value
        for name, value in env.items()
        if not name.upper().startswith(TOOL_ENV_PREFIX)
        and name.upper() not in dropped
        and not any(k in value for k in keys)
    }


WINDOWS_EXTENSIONS = ".COM;.EXE;.BAT;.CMD"  # PATHEXT when it is not set


def resolve_program(
    program: str, env: Mapping[str, str], base_dir: Path | None = None, platform: str | None = None
) -> str | None:
    """The file a `cmd:` source's program names: a bare name searched on PATH only, the absolute folders of PATH
    in order (never the current folder, the manifest's folder or the tool's own: Windows' CreateProcess would
    look in those first), with PATHEXT's extensions on Windows; a name with a folder in it is taken as given,
    from the manifest's folder when relative. None when nothing is found."""
    windows = (platform or sys.platform).startswith("win")
    paths = ntpath if windows else posixpath
    if any(sep in program for sep in ("/", "\\") if windows or sep == "/"):
        return program if paths.isabs(program) or base_dir is None else paths.join(str(base_dir), program)
    extensions = [e for e in env.get("PATHEXT", WINDOWS_EXTENSIONS).split(";") if e] if windows else []
    has_extension = any(program.lower().endswith(e.lower()) for e in extensions)
    names = [program] if not windows or has_extension else [program + e for e in extensions]
    for folder in env.get("PATH", "").split(";" if windows else ":"):
        absolute = paths.isabs(folder) and (not windows or bool(ntpath.splitdrive(folder)[0]))
        if not folder or not absolute:  # empty or relative: the current folder; on Windows "\\x": its drive
            continue
        for name in names:
            candidate: str = paths.join(folder, name)
            if os.path.isfile(candidate) and (windows or os.access(candidate, os.X_OK)):
                return candidate
    return None


BATCH_EXTENSIONS = (".bat", ".cmd")
CMD_METACHARACTERS = frozenset('&|<>^%!"()')


def batch_refusal(program: str, args: Iterable[str], windows: bool) -> str | None:
    """Why a command must not run, or None. On Windows a .bat or .cmd file runs through cmd.exe whatever Popen is
    told, and cmd.exe reads &, |, <, >, ^, %, !, quotes and parentheses in its arguments as its own (`get-key.cmd
    team&calc` runs calc): what would run is not the command that was shown and confirmed."""
    if not windows or not program.lower().endswith(BATCH_EXTENSIONS):
        return None
    found = sorted({c for arg in args for c in arg if c in CMD_METACHARACTERS})
    if not found:
        return None
    return (
        f"{program} is a batch file, which cmd.exe runs, and its arguments hold {' '.join(found)}, which cmd.exe "
        "would act on; call the program the batch file calls, or drop those characters"
    )


def run_key_command(
    command: str,
    label: str,
    *,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> str:
    """stdout of `command` (at most SOURCE_LIMIT bytes), run without a shell; errors never show its output.

    The program is resolved first (`resolve_program`: a bare name on PATH only) and run by its full path."""
    args = shlex.split(command)
    child_env = command_environment(os.environ) if env is None else dict(env)
    program = resolve_program(args[0], child_env, cwd)
    if program is None:
        raise InputError(f"{label}: command not found: {args[0]} (looked on PATH only, never in the current folder)")
    refused = batch_refusal(program, args[1:], sys.platform.startswith("win"))
    if refused:
        raise InputError(f"{label}: `{command}` not run: {refused}")
    try:
        proc = subprocess.Popen(
            [program, *args[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=cwd, env=child_env,
        )  # fmt: skip
    except FileNotFoundError:
        raise InputError(f"{label}: command not found: {args[0]}") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot run `{command}` ({exc.strerror})") from None
    try:
        output, code = _bounded_output(proc, timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"{label}: `{command}` did not finish within {timeout:g} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if output is None:
        raise InputError(f"{label}: `{command}` printed more than 64 KiB; a key command prints one key")
    if code != 0:
        raise InputError(f"{label}: `{command}` failed with exit status {code}; run it yourself to see why")
    try:
        return output.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label}: `{command}` printed something that is not UTF-8 text") from None


def _bounded_output(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes | None, int | None]:
    """(stdout, exit status) of a started process; (None, None) once it prints more than SOURCE_LIMIT bytes.

    A thread reads, so the wait is bounded on every OS; raises TimeoutExpired when `timeout` passes.
    """
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    stdout = cast(io.BufferedReader, proc.stdout)  # stdout=PIPE with the default buffering: a BufferedReader

    def pump() -> None:
        total = 0
        while total <= SOURCE_LIMIT:
            chunk = stdout.read1(1 << 16)
            if not chunk:
                return
            chunks.append(chunk)
            total += len(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise subprocess.TimeoutExpired(proc.args, timeout)
    output = b"".join(chunks)
    if len(output) > SOURCE_LIMIT:
        return None, None
    return output, proc.wait(timeout=max(deadline - time.monotonic(), 0.01))


# --- `set` key input -------------------------------------------------------------------


def _one_source(env_var: str | None, file: str | None, stdin: bool, option: str) -> str:
    given = [s for s in (env_var and f"env:{env_var}", file and f"file:{file}", stdin and "stdin") if s]
    if len(given) > 1:
        raise InputError(f"give one source for the key: {option}-env, {option}-file or --key-stdin")
    return given[0] if given else "prompt"


def set_key_specs(
    provider: str,
    *,
    key_env: str | None = None,
    key_file: str | None = None,
    key_stdin: bool = False,
    secret_key_env: str | None = None,
    secret_key_file: str | None = None,
) -> dict[str, str]:
    """Field -> source for `set`: `env:VAR`, `file:PATH`, `stdin` or `prompt`.

    A provider with two settable keys (Bedrock's key pair) takes the second from --secret-key-*.
    """
    fields = registry().settable_key_fields[provider]
    has_secret_option = bool(secret_key_env or secret_key_file)
    if len(fields) < 2 and has_secret_option:
        pairs = [p for p, keys in registry().settable_key_fields.items() if len(keys) > 1]
        raise InputError(f"--secret-key-env and --secret-key-file are for {' and '.join(pairs)} only")
    if key_stdin and has_secret_option:
        raise InputError("--key-stdin reads both Bedrock keys (two lines); leave out --secret-key-*")
    first = _one_source(key_env, key_file, key_stdin, "--key")
    if len(fields) < 2:
        return {fields[0]: first}
    second = "stdin" if key_stdin else _one_source(secret_key_env, secret_key_file, False, "--secret-key")
    return {fields[0]: first, fields[1]: second}


def read_set_keys(
    specs: Mapping[str, str], *, read_stdin: Callable[[], str], prompt: Prompt | None
) -> dict[str, Secret]:
    """Field -> Secret from the sources `set_key_specs` chose; stdin holds one line per stdin field."""
    from_stdin = [f for f, s in specs.items() if s == "stdin"]
    text = read_stdin() if from_stdin else ""
    if len(text) > SOURCE_LIMIT:
        raise InputError("--key-stdin read more than 64 KiB; pipe only the key (Bedrock: two lines)")
    lines = _stdin_lines(text, len(from_stdin)) if from_stdin else []
    out: dict[str, Secret] = {}
    for field, spec in specs.items():
        label = registry().labels[field]
        if spec == "stdin":
            out[field] = clean_key(lines[from_stdin.index(field)], label)
        elif spec == "prompt" and prompt is None:
            raise InputError(
                f"no {label} given and stdin is not a terminal: pass --key-env VAR, --key-file F or --key-stdin"
            )
        else:
            out[field] = read_source(spec, label, prompt=prompt)
    return out


def _stdin_lines(text: str, count: int) -> list[str]:
    text = text.rstrip("\r\n")
    if count == 1:
        return [text]
    lines = text.splitlines()
    if len(lines) != count:
        raise InputError(
            f"--key-stdin for bedrock reads {count} lines (access key ID, then secret key), got {len(lines)}"
        )
    return lines


# --- wanted fields ---------------------------------------------------------------------


def provider_fields(
    provider: str, keys: Mapping[str, Secret], settings: Mapping[str, Any], enabled: bool | None
) -> dict[str, Any]:
    """Wanted fields for one provider: keys, settings, and on unless told otherwise when a key is set."""
    wanted: dict[str, Any] = dict(keys)
    wanted.update({f"{provider}.{name}": value for name, value in settings.items()})
    if enabled is None and keys:
        enabled = True
    if enabled is not None:
        wanted[f"{provider}.enabled"] = enabled
    return wanted


def unset_fields(provider: str, profile: Profile) -> dict[str, Any]:
    """Remove the provider's key(s), a session token too, and switch it off (left alone when it was never on)."""
    record = registry()[provider]
    wanted: dict[str, Any] = {f: None for f in record.key_fields}
    if profile.get(record.enabled_field) is not None:
        wanted[record.enabled_field] = False
    return wanted


def _plus(items: tuple[str, ...], more: Iterable[str]) -> tuple[str, ...]:
    have = set(items)
    return items + tuple(m for m in dict.fromkeys(more) if m not in have)


def _minus(items: tuple[str, ...], less: Iterable[str]) -> tuple[str, ...]:
    drop = set(less)
    return tuple(i for i in items if i not in drop)


def model_lists(profile: Profile) -> dict[str, tuple[str, ...]]:
    return {f: tuple(profile.get(f) or ()) for f in ("models.user_added", "models.enabled", "models.disabled")}


def model_ops(
    profile: Profile,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
) -> dict[str, tuple[str, ...]]:
    """The full new model lists after the operations, only for lists that change."""
    cur = model_lists(profile)
    added, on, off = cur["models.user_added"], cur["models.enabled"], cur["models.disabled"]
    added, on, off = _plus(added, add), _plus(on, add), _minus(off, add)
    added, on = _minus(added, remove), _minus(on, remove)
    on, off = _plus(on, enable), _minus(off, enable)
    off, on = _plus(off, disable), _minus(on, disable)
    new = {"models.user_added": added, "models.enabled": on, "models.disabled": off}
    return {f: v for f, v in new.items() if v != cur[f]}


def model_notes(profile: Profile, remove: Iterable[str]) -> list[str]:
    added = model_lists(profile)["models.user_added"]
    added_set = set(added)
    return [f"{name} is not a user-added model; nothing to remove" for name in remove if name not in added_set]


def select_fields(selections: Mapping[str, str]) -> dict[str, str]:
    return {SELECTED_PREFIX + surface: name for surface, name in selections.items()}


# --- warnings and planning -------------------------------------------------------------


def format_warnings(wanted: Mapping[str, Any], profile: Profile) -> list[str]:
    """One line per new key whose shape does not match its provider (a hint, never an error)."""
    labels = registry().labels
    out = []
    for field, value in wanted.items():
        if not isinstance(value, Secret) or field not in labels:
            continue
        text, label = value.reveal(), labels[field]
        if looks_placeholder(text):
            out.append(f"{field}: the {label} looks like a placeholder ({value.masked})")
        elif check_format(field, text, compatible_base_url(field, wanted, profile)) == UNEXPECTED:
            vendor = known_vendor(text)
            hint = f"; it looks like {_a(vendor)} {vendor} key" if vendor and vendor != provider_of(field) else ""
            out.append(f"{field}: {value.masked} does not look like {_a(label)} {label}{hint}")
    return out


def compatible_base_url(field: str, wanted: Mapping[str, Any], profile: Profile) -> str | None:
    """The base URL (wanted, else stored) that points a key field's provider at an OpenAI-compatible server."""
    record = registry().get(provider_of(field))
    base = record.compatible_field if record else None
    return wanted.get(base, profile.get(base)) if base else None


SURFACES = (
    "cmd-k",
    "composer",
    "background-composer",
    "composer-ensemble",
    "plan-execution",
    "spec",
    "deep-search",
    "quick-agent",
)


def mistakes(wanted: Mapping[str, Any], profile: Profile, supplied: Iterable[str] = ()) -> list[str]:
    """Likely mistakes a write refuses unless --force: another provider's key, a provider switched on
    with no key, a model surface Cursor does not have. `supplied`: key fields a source will fill (a
    manifest's dry run reads none, yet its keys are not missing)."""
    labels = registry().labels
    out = []
    for field, value in wanted.items():
        text = value.reveal() if isinstance(value, Secret) else ""
        base_url = compatible_base_url(field, wanted, profile)
        verdict = check_format(field, text, base_url) if isinstance(value, Secret) and field in labels else None
        if verdict not in (None, OK) and credential_kind(text):
            out.append(f"{field}: the value looks like {credential_kind(text)}, not a provider API key ({NOT_SHOWN})")
        elif verdict == UNEXPECTED:
            vendor, own = known_vendor(text), provider_of(field)
            if vendor and vendor != own:
                out.append(f"{field}: {value.masked} looks like {_a(vendor)} {vendor} key, not {_a(own)} {own} one")
        elif field.startswith(SELECTED_PREFIX) and field[len(SELECTED_PREFIX) :] not in SURFACES:
            out.append(f"models select: unknown surface {field[len(SELECTED_PREFIX) :]!r} ({', '.join(SURFACES)})")
    for provider in registry():
        if wanted.get(provider.enabled_field) is not True or profile.uses_role(provider.name):
            continue
        key = provider.field(provider.primary_key.name)
        if not (isinstance(wanted.get(key, profile.get(key)), (Secret, StoredKey)) or key in supplied):
            out.append(f"{provider.name}: switched on with no key stored, so every request would fail")
    return out


def _a(word: str) -> str:
    """The article alone: 'an' for 'anthropic', 'a' for 'google'."""
    return article(word).split(" ", 1)[0]


def hold_selections(plan: Plan, policy: ConflictPolicy) -> Plan:
    """Apply a conflict policy to model selections that would replace the user's choice."""
    if policy == "replace":
        return plan
    note = "you chose another model for this surface; --on-conflict replace takes this one"
    held = (settle(c, policy, c.note or note) if c.field.startswith(SELECTED_PREFIX) and c.action == "replace" else c
            for c in plan.changes)  # fmt: skip
    return Plan(tuple(held), plan.notes)


# --- the library's set and models ------------------------------------------------------


def given_keys(provider: str, key: str | None, secret_key: str | None) -> dict[str, Secret]:
    """Field -> Secret for `set_key(provider, key, secret_key=...)`: the provider's first key field (Bedrock: the
    access key ID), then its second (Bedrock's secret key)."""
    fields, labels = registry().settable_key_fields[provider], registry().labels
    out: dict[str, Secret] = {}
    if key is not None:
        out[fields[0]] = clean_key(key, labels.get(fields[0], f"{provider} key"))
    if secret_key is not None:
        if len(fields) < 2:
            raise InputError(f"secret_key does not apply to {provider}: it has one key")
        out[fields[1]] = clean_key(secret_key, labels.get(fields[1], f"{provider} secret key"))
    return out


def checked_keys(provider: str, keys: Mapping[str, Any]) -> dict[str, Secret]:
    """Keys for one provider's fields only, each checked (a str becomes a Secret)."""
    own, labels = registry().settable_key_fields[provider], registry().labels
    foreign = sorted(set(keys) - set(own))
    if foreign:
        raise InputError(f"{', '.join(foreign)}: not a key field of {provider} ({', '.join(own)})")
    return {f: v if isinstance(v, Secret) else clean_key(v, labels.get(f, f)) for f, v in keys.items()}


MODEL_OPS = ("add", "remove", "enable", "disable")


@dataclass(frozen=True)
class ModelRequest:
    """Checked model-list operations and per-surface selections: one plan, so one write and one journal."""

    lists: Mapping[str, tuple[str, ...]]
    chosen: Mapping[str, str]

    def build(self, profile: Profile) -> dict[str, Any]:
        return {**model_ops(profile, **self.lists), **select_fields(self.chosen)}

    def words(self) -> str:
        """The command recorded in the undo journal: `add a b; select composer m`."""
        ops = [f"{op} {' '.join(n)}" for op, n in self.lists.items() if n]
        return "; ".join([*ops, *(f"select {s} {m}" for s, m in self.chosen.items())])


def model_request(
    *,
    add: Iterable[str],
    remove: Iterable[str],
    enable: Iterable[str],
    disable: Iterable[str],
    select: Mapping[str, str],
) -> ModelRequest:
    given = {"add": add, "remove": remove, "enable": enable, "disable": disable}
    lists = {op: check_models(names, f"models {op}") for op, names in given.items()}
    chosen = {check_name(s, "SURFACE"): check_models([m], "NAME")[0] for s, m in select.items()}
    if not any(lists.values()) and not chosen:
        raise InputError("models: nothing to change; give add, remove, enable, disable or select")
    return ModelRequest(lists, chosen)


def stored_keys(profile: Profile, provider: str, force: bool = False) -> dict[str, Secret]:
    """`set --from-row`: the provider's keys as stored now (in `profile`, decrypted). A raw value another tool
    wrote must have the shape of the key (MistakeRefused unless `force`); one not readable here is refused."""
    out = {}
    for field in registry()[provider].settable_key_fields:
        stored = profile.get(field)
        if not isinstance(stored, StoredKey):
            continue
        if stored.secret is None:
            raise SafeStorageUnavailable(f"{field} cannot be read here ({stored.reason}); nothing was written")
        if stored.storage == RAW and not force:
            carry, note = raw_travels(field, stored, registry().compatible_base_url(field, profile.fields))
            if not carry:
                raise MistakeRefused(f"{note}. Nothing was written; pass --force to store it as the key anyway")
        out[field] = stored.secret
    if not out:
        raise KeyNotStored(f"no {provider} key is stored to re-encrypt")
    return out
