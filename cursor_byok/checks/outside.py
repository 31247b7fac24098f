"""What other tools and advice from elsewhere leave in a Cursor, for `doctor`: keys written in clear into
`secret://cursorAuth` rows, settings and fields Cursor does not read, rows and fields this tool does not know.

Pure over what the caller read (the profile, the rows, User/settings.json); never a value in what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..cursor import settings_json
from ..cursor.rows import BLOB_KEY, parse_blob
from ..cursor.settings_json import has_setting
from ..cursor.store import Store
from ..errors import ByokError
from ..model import RAW, RAW_WORDS, Profile, provider_of
from ..providers import Myth, Provider, registry
from .doctor import IGNORED, KEY_GONE, LIKELY, NOTE, UNKNOWN_ROWS, Check, command
from .report import BYOK_ROW_PREFIXES, unknown_entries

REWRITER = "one such tool rewrites it every 1.5 s while Cursor runs"
PLACES = {
    "settings.json": "User/settings.json sets",
    "blob": "the settings blob holds",
    "row": "the database holds row",
}
PLACEHOLDERS = {"url": "URL", "name": "NAME", "region": "REGION"}


@dataclass(frozen=True)
class Found:
    """What doctor reads besides the profile: the settings.json object (None when there is none to read) and
    which of the rows people believe in are present (never their values)."""

    settings: Mapping[str, Any] | None = None
    rows: frozenset[str] = frozenset()
    unknown: tuple[str, ...] = ()  # rows and BYOK-looking fields this tool does not know (redacted names)


def gather(inst: Any) -> Found:
    """Read User/settings.json (bounded, JSONC), the rows under the BYOK places (for the names of the myth rows
    present, and of the rows and fields this tool does not know). The only I/O here."""
    udd = getattr(inst, "user_data_dir", None)
    settings = settings_json.read(udd / "User" / "settings.json") if udd is not None else None
    names = [m.name for _p, m in registry().myths if m.place == "row"]
    try:
        with Store(inst.db_path) as st:
            rows = st.get_items((*names, BLOB_KEY), BYOK_ROW_PREFIXES)
    except ByokError:
        return Found(settings)
    unknown = tuple(u.name for u in unknown_entries(rows)[0] if u.notable)
    return Found(settings, frozenset(n for n in names if n in rows), unknown)


def unknown_check(found: Found) -> list[Check]:
    """Rows or settings this tool does not know, where BYOK data lives: `report` describes them for a bug report."""
    if not found.unknown:
        return []
    shown = ", ".join(found.unknown[:4]) + (", ..." if len(found.unknown) > 4 else "")
    detail = (
        f"{len(found.unknown)} row(s) or setting(s) where Cursor keeps BYOK data that this tool does not know: {shown}"
    )
    fix = (
        f"if something does not work, attach the output of {command('report')} to a bug report: it names them "
        "with their type and size, never a value"
    )
    return [Check("general", UNKNOWN_ROWS, NOTE, detail, fix)]


def raw_row_checks(profile: Profile) -> list[Check]:
    """A key another tool wrote in clear into its secret://cursorAuth row: Cursor cannot read it and deletes the
    row at start, so the key disappears. The fix re-encrypts it, once the tool that writes it is stopped."""
    out = []
    for field, key in sorted(profile.keys().items()):
        if key.storage != RAW or key.secret is None:
            continue
        provider = registry().get(provider_of(field))
        detail = f"{key.row} holds {key.secret.masked} {RAW_WORDS}"
        if provider is None:
            fix = "enter the key again in Cursor (this tool writes no key of a provider it does not know)"
        else:
            fix = (
                f"stop the tool or extension that writes it ({REWRITER}), quit Cursor, then "
                f"{command('set', provider.name, '--from-row')} re-encrypts it the way this Cursor reads it "
                "(undo takes it back)"
            )
        out.append(Check(provider.name if provider else "general", KEY_GONE, LIKELY, detail, fix))
    return out


def myth_found(myth: Myth, blob: Mapping[str, Any], found: Found) -> bool:
    if myth.place == "settings.json":
        return found.settings is not None and has_setting(dict(found.settings), myth.name)
    if myth.place == "blob":
        return myth.name in blob
    return myth.name in found.rows


def instead(provider: Provider | None, myth: Myth) -> tuple[str | None, str]:
    """(the field Cursor reads instead, where it lives and how to set it)."""
    if provider is None:
        return None, (
            "Cursor keeps each provider's key in its own secret://cursorAuth/<name> row, encrypted (a plain "
            f"cursorAuth/<name> row up to 2.1), never under this name: {command('list')} shows them"
        )
    if myth.instead == "key":
        row = provider.primary_key.row
        at = f"row secret://cursorAuth/{row} (cursorAuth/{row} up to 2.1)" if row else "its settings"
        return provider.field(provider.primary_key.name), (
            f"Cursor reads the {provider.title} key from the {at}: {command('set', provider.name)}"
        )
    if myth.instead == "enabled":
        return provider.enabled_field, (
            f"Cursor reads the switch {'.'.join(provider.toggle)} in its settings blob: "
            f"{command('set', provider.name, '--no-key', '--enable')}"
        )
    setting = provider.setting(myth.instead)
    if setting is not None:
        option = "--" + setting.name.replace("_", "-")
        return provider.field(setting.name), (
            f"Cursor reads it from {'.'.join(setting.blob)} in its settings blob: "
            f"{command('set', provider.name, '--no-key', option, PLACEHOLDERS[setting.kind])}"
        )
    route = registry().compatible
    url = route.setting(route.compatible) if route and route.compatible else None
    only = f": only the {route.title} base URL can be overridden ({'.'.join(url.blob)})" if route and url else ""
    return None, f"Cursor has no such setting for {provider.title}{only}"


def ignored_checks(profile: Profile, blob: Mapping[str, Any], found: Found) -> list[Check]:
    """Each setting people believe in that is set here, named as one Cursor does not read, with where the real
    one lives. Likely the cause of a problem when the real one is not set."""
    out = []
    for provider, myth in registry().myths:
        if not myth_found(myth, blob, found):
            continue
        real, where = instead(provider, myth)
        verdict = LIKELY if real is not None and not profile.get(real) else NOTE
        detail = f"{PLACES[myth.place]} {myth.name}: {IGNORED}"
        out.append(Check(provider.name if provider else "general", IGNORED, verdict, detail, where))
    return out


def outside_checks(inst: Any, profile: Profile, rows: Mapping[str, Any]) -> list[Check]:
    """Every check of this module, for doctor_report."""
    blob, found = parse_blob(rows, []), gather(inst)
    return [*raw_row_checks(profile), *ignored_checks(profile, blob, found), *unknown_check(found)]
