"""Team manifests: a TOML file that says which providers, settings and models a Cursor should have.

A manifest never holds a key. Each key field names a source instead:
`env:VAR`, `file:PATH` (`~` expanded, relative to the manifest's folder),
`cmd:COMMAND` (run without a shell in the manifest's folder, 30 s and 64 KiB
of output at most, stdout trimmed, a scrubbed environment) or `prompt` (a
hidden prompt; needs a terminal).

    version = 1                      # required; this tool reads version 1
    description = "Team defaults"    # optional, ignored
    [openai]     key, base_url, enabled
    [anthropic]  key, enabled
    [google]     key, enabled
    [azure]      key, base_url, deployment, enabled
    [bedrock]    access_key, secret_key, region, enabled
    [models]     add, remove, enable, disable (lists of names), select (surface = name)

A provider with a key is switched on unless `enabled = false`. Parsing checks
everything and runs nothing; `review` says what each source would do, still
running and reading nothing (what `apply --dry-run` shows); `resolve_keys` then
reads the sources: variables and files first, commands last, each command with
an environment that holds none of the keys read so far.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, NoReturn

from ..errors import InputError
from ..key_shapes import shown_path
from ..model import Profile, Secret
from ..private_files import read_small_text
from ..providers import Provider, registry
from .wanted import (
    Prompt,
    check_models,
    check_name,
    check_setting,
    command_environment,
    model_notes,
    model_ops,
    parse_source,
    provider_fields,
    read_source,
    resolve_program,
    select_fields,
)

VERSION = 1
MAX_MANIFEST = 1 << 20
MODEL_LISTS = ("add", "remove", "enable", "disable")
MODEL_SCHEMA = (*MODEL_LISTS, "select")


def provider_schema(provider: Provider) -> dict[str, str]:
    """One provider's table: {field: "source" (where a key comes from) | "setting" (a string) | "bool"}."""
    settable = {k.name for k in provider.settable_keys}
    carried = {k.name for k in provider.keys} - settable  # a session token is never set from a manifest
    return {
        n: "source" if n in settable else "bool" if n == "enabled" else "setting"
        for n in provider.layout()
        if n not in carried
    }


def schema() -> dict[str, dict[str, str]]:
    """provider -> its table's fields, for every provider of the registry."""
    return {p.name: provider_schema(p) for p in registry()}


def top_level() -> tuple[str, ...]:
    return ("version", "description", *registry().names, "models")


_VIEWS: dict[str, Callable[[], Any]] = {"PROVIDER_SCHEMA": schema, "TOP_LEVEL": top_level}


def __getattr__(name: str) -> Any:
    """PROVIDER_SCHEMA, TOP_LEVEL: views of the current provider registry, never frozen at import."""
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: where each key comes from, and the settings and models wanted."""

    path: Path
    sources: dict[str, str] = field(default_factory=dict)  # field -> source spec
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # provider -> {name: value}
    enabled: dict[str, bool] = field(default_factory=dict)
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    select: dict[str, str] = field(default_factory=dict)

    @property
    def providers(self) -> list[str]:
        named = {f.split(".")[0] for f in self.sources} | set(self.settings) | set(self.enabled)
        return [p for p in registry().names if p in named]


class _Checker:
    """Builds a Manifest from parsed TOML, raising InputError with the TOML path of a bad entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.out = Manifest(path)

    def fail(self, where: str, what: str) -> NoReturn:
        raise InputError(f"manifest {shown_path(self.path)}: {where} {what}")

    def run(self, doc: dict[str, Any]) -> Manifest:
        known = top_level()
        for name in doc:
            if name not in known:
                self.fail(
                    f"[{name}]" if isinstance(doc[name], dict) else name,
                    f"is not a known table or field (known: {', '.join(known)})",
                )
        self.version(doc.get("version"))
        if not isinstance(doc.get("description", ""), str):
            self.fail("description", "must be a string")
        for provider in registry():
            if provider.name in doc:
                self.provider(provider, self.table(doc[provider.name], f"[{provider.name}]"))
        if "models" in doc:
            self.models(self.table(doc["models"], "[models]"))
        return self.out

    def version(self, value: Any) -> None:
        if value is None:
            self.fail("version", f"is missing; start the file with `version = {VERSION}`")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.fail("version", "must be a whole number like 1")
        if value > VERSION:
            self.fail("version", f"is {value}, newer than this cursor-byok reads ({VERSION}); upgrade cursor-byok")

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "must be a table")
        return value

    def provider(self, record: Provider, table: dict[str, Any]) -> None:
        provider, fields = record.name, provider_schema(record)
        for name, value in table.items():
            where = f"[{provider}].{name}"
            kind = fields.get(name)
            if kind is None:
                self.fail(where, f"is not a known field (known: {', '.join(fields)})")
            if kind == "bool":
                if not isinstance(value, bool):
                    self.fail(where, "must be true or false")
                self.out.enabled[provider] = value
                continue
            if not isinstance(value, str):
                self.fail(where, "must be a string" + (" (a key source)" if kind == "source" else ""))
            label = f"manifest {shown_path(self.path)}: {where}"
            if kind == "source":
                parse_source(value, label)
                self.out.sources[f"{provider}.{name}"] = value
            else:
                self.out.settings.setdefault(provider, {})[name] = check_setting(provider, name, value, label)
        keys = [k.name for k in record.settable_keys]
        if len(keys) > 1 and len({k in table for k in keys}) > 1:  # a key pair (Bedrock's) comes whole
            self.fail(f"[{provider}]", f"needs both {' and '.join(keys)}, or neither")

    def models(self, table: dict[str, Any]) -> None:
        for name, value in table.items():
            where = f"[models].{name}"
            if name not in MODEL_SCHEMA:
                self.fail(where, f"is not a known field (known: {', '.join(MODEL_SCHEMA)})")
            if name == "select":
                self.selections(self.table(value, where))
                continue
            if not isinstance(value, list):
                self.fail(where, 'must be a list of model names, like ["llama-3.1-70b"]')
            self.out.models[name] = check_models(value, f"manifest {shown_path(self.path)}: {where}")
        self.overlap("add", "remove")
        self.overlap("enable", "disable")

    def selections(self, table: dict[str, Any]) -> None:
        for surface, model in table.items():
            where = f"[models].select.{surface}"
            check_name(surface, f"manifest {shown_path(self.path)}: {where} surface name")
            if not isinstance(model, str):
                self.fail(where, "must be a model name string")
            self.out.select[surface] = check_models([model], f"manifest {shown_path(self.path)}: {where}")[0]

    def overlap(self, a: str, b: str) -> None:
        both = set(self.out.models.get(a, ())) & set(self.out.models.get(b, ()))
        if both:
            self.fail(f"[models].{a}", f"and [models].{b} both name {', '.join(sorted(both))}; pick one")


def _toml() -> ModuleType:
    """The TOML reader: the standard library's from Python 3.11, else the tomli backport."""
    if sys.version_info >= (3, 11):
        import tomllib  # by version: tomli is the backport Python 3.10 needs

        return tomllib
    try:
        import tomli  # a missing backport is an InputError when a manifest is read, not at start-up
    except ImportError:
        raise InputError("reading manifests needs Python 3.11, or `pip install tomli`") from None
    backport: ModuleType = tomli
    return backport


def parse(text: str, path: Path) -> Manifest:
    """A checked Manifest from TOML text; nothing is read or run."""
    tomllib = _toml()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"manifest {shown_path(path)}: not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(f"manifest {shown_path(path)}: arrays or tables nested too deeply") from None
    return _Checker(path).run(doc)


def load(path: str | Path) -> Manifest:
    path = Path(path)
    return parse(read_small_text(path, MAX_MANIFEST, "the manifest"), path)


def _label(manifest: Manifest, fld: str) -> str:
    provider, name = fld.split(".")
    return f"manifest {shown_path(manifest.path)}: [{provider}].{name}"


def parsed_sources(manifest: Manifest) -> list[tuple[str, str, str]]:
    """(field, kind, argument) of every key source, in manifest order."""
    return [(fld, *parse_source(spec, _label(manifest, fld))) for fld, spec in manifest.sources.items()]


def program(manifest: Manifest, command: str, env: Mapping[str, str] | None = None) -> str | None:
    """The file a `cmd:` source runs (wanted.resolve_program: a bare name on PATH only), or None."""
    words = shlex.split(command)
    base = manifest.path.parent.resolve()
    return resolve_program(words[0], os.environ if env is None else env, base) if words else None


def _runs(manifest: Manifest, command: str, env: Mapping[str, str] | None = None) -> str:
    found = program(manifest, command, env)
    return f"runs {found}" if found else "not found on PATH: it would be refused"


def commands(manifest: Manifest, env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(field, command) of every `cmd:` source: what a real apply runs, with the program it resolves to
    ("op read ... (runs /usr/local/bin/op)"), so a look-alike in the manifest's folder cannot hide."""
    return [(fld, f"{arg} ({_runs(manifest, arg, env)})") for fld, kind, arg in parsed_sources(manifest)
            if kind == "cmd"]  # fmt: skip


def review(manifest: Manifest, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """What each source would do, without running or reading any: for `apply --dry-run`.

    A variable is only checked for presence; its value is never read as a key.
    """
    env = os.environ if env is None else env
    out = []
    for fld, kind, arg in parsed_sources(manifest):
        entry: dict[str, Any] = {"field": fld, "kind": kind, "source": arg}
        if kind == "cmd":
            entry["program"] = program(manifest, arg, env)
            entry["action"] = f"would run `{arg}` ({_runs(manifest, arg, env)})"
        elif kind == "file":
            entry["action"] = f"would read `{arg}`"
        elif kind == "env":
            entry["present"] = bool(env.get(arg))
            entry["action"] = f"would use ${arg} ({'set' if entry['present'] else 'not set'})"
        else:
            entry["action"] = "would ask for it with a hidden prompt"
        out.append(entry)
    return out


def resolve_keys(
    manifest: Manifest, *, prompt: Prompt | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Secret]:
    """Field -> Secret, reading every source (commands run here, before any plan).

    Variables, files and prompts are read first and commands last, so that no
    command's environment holds a key read from any other source, nor any
    variable the manifest names, nor anything CURSOR_BYOK_*.
    """
    env = os.environ if env is None else env
    base = manifest.path.parent.resolve()
    sources = parsed_sources(manifest)
    named = [arg for _, kind, arg in sources if kind == "env"]
    held = [env[name] for name in named if env.get(name)]
    out: dict[str, Secret] = {}
    for fld, kind, _ in sorted(sources, key=lambda source: source[1] == "cmd"):
        provider, name = fld.split(".")
        out[fld] = read_source(
            manifest.sources[fld],
            _label(manifest, fld),
            prompt=prompt,
            base_dir=base,
            env=env,
            prompt_text=f"{registry().labels[fld]} ([{provider}].{name})",
            command_env=command_environment(env, held, named) if kind == "cmd" else None,
        )
        held.append(out[fld].reveal())
    return {fld: out[fld] for fld in manifest.sources}


def wanted(manifest: Manifest, keys: Mapping[str, Secret], profile: Profile) -> dict[str, Any]:
    """The fields the manifest wants, with model lists merged into what `profile` holds."""
    out: dict[str, Any] = {}
    for provider in manifest.providers:
        key_fields = registry().settable_key_fields[provider]
        provider_keys = {f: keys[f] for f in key_fields if f in keys}
        settings = manifest.settings.get(provider, {})
        enabled = manifest.enabled.get(provider)
        if enabled is None and any(f in manifest.sources for f in key_fields):
            enabled = True  # a provider given a key is switched on, in a dry run (keys not read) too
        out.update(provider_fields(provider, provider_keys, settings, enabled))
    out.update(model_ops(profile, **{op: manifest.models.get(op, ()) for op in MODEL_LISTS}))
    out.update(select_fields(manifest.select))
    return out


def notes(manifest: Manifest, profile: Profile) -> list[str]:
    return model_notes(profile, manifest.models.get("remove", ()))
