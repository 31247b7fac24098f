"""Did Cursor keep what cursor-byok last wrote? What it changed since, with the date and the way back.

Cursor changes some values by itself: it switches a provider's key off (`useOpenAIKey` and the like) when
a key check fails or when a team policy forbids personal keys, and it drops custom models when it
refreshes its model list. (A key row it cannot decrypt it deletes: `changes.journal.vanished_keys` tells
that one.) Undo journals of format 3 keep the new value of each toggle and model list a write left; this
module compares them with the settings blob now, once, when asked (`list`, `doctor`). It never changes
anything and never watches: fighting Cursor in a loop would only hide why it changed the value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..changes import journal
from ..cursor import blob_patch
from ..cursor.rows import BLOB_KEY, MODEL_BLOB_PATHS, blob_paths
from ..errors import ByokError
from ..key_shapes import article
from ..providers import registry
from ..results import Invocation

USER_ADDED = "models.user_added"
TEAM_PLANS = ("business", "enterprise", "team")  # membershipType words of a team plan (teams can forbid BYOK)
SWITCHED_OFF, DROPPED = "switched off", "dropped"


@dataclass(frozen=True)
class Change:
    """One value Cursor changed since this tool's last write of it: which, how, and the way back."""

    field: str  # openai.enabled, models.user_added
    change: str  # "switched off" | "dropped"
    names: tuple[str, ...]  # the models dropped; () for a toggle
    written: str  # when the last write of this tool set the value (UTC, ISO 8601)
    command: str  # that write's command, as its journal records it
    journal: str
    team_plan: str | None  # the account's plan, when it is a team's (a policy may forbid personal keys)
    fix: str | None  # the one command that puts it back; None when only an admin can (a team policy)
    detail: str  # what changed, since when
    advice: str  # why Cursor does it, and what to do

    @property
    def note(self) -> str:
        """The whole sentence, as `list` says it."""
        return f"{self.detail}: {self.advice}"


def _expected(db: Path) -> dict[tuple[str, ...], tuple[Any, journal.Entry]]:
    """Blob path -> (the value the last write left, its journal), newest write first; a path whose last
    write kept no value (an older journal format, a key) is left out."""
    found: dict[tuple[str, ...], tuple[Any, journal.Entry] | None] = {}
    wanted = journal.kept_paths()
    for entry in journal.entries(db=db):
        if BLOB_KEY not in entry.keys or entry.damaged:
            continue
        for field in entry.blob_fields():
            path = tuple(field["path"])
            if path in wanted and path not in found:
                found[path] = (json.loads(field["new"]), entry) if isinstance(field.get("new"), str) else None
        if len(found) == len(wanted):
            break
    return {path: value for path, value in found.items() if value is not None}


def team_plan(blob: Mapping[str, Any]) -> str | None:
    """The account's plan when the settings blob says it is a team's (`membershipType`)."""
    plan = blob.get("membershipType")
    return plan if isinstance(plan, str) and any(word in plan.lower() for word in TEAM_PLANS) else None


def changes_since(db: Path, rows: Mapping[str, Any], invocation: Invocation) -> tuple[Change, ...]:
    """What Cursor changed in the settings blob of `db` (its rows given) since this tool last wrote it."""
    try:
        expected = _expected(db)
    except (ByokError, OSError, ValueError):  # a journal folder the tool refuses: undo says so; a read goes on
        return ()
    blob = _blob(rows)
    if not expected or blob is None:
        return ()
    out = []
    paths = blob_paths()
    for record in registry():
        path = paths[record.enabled_field]
        if path in expected and expected[path][0] is True and blob_patch.get_path(blob, path) is not True:
            out.append(_switched_off(record.name, record.enabled_field, expected[path][1], blob, invocation))
    path = MODEL_BLOB_PATHS[USER_ADDED]
    if path in expected and isinstance(expected[path][0], list):
        now = blob_patch.get_path(blob, path)
        gone = tuple(m for m in expected[path][0] if m not in (now if isinstance(now, list) else ()))
        if gone:
            out.append(_dropped(gone, expected[path][1], invocation))
    return tuple(out)


def _blob(rows: Mapping[str, Any]) -> dict[str, Any] | None:
    value = rows.get(BLOB_KEY)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    try:
        doc = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _since(entry: journal.Entry) -> str:
    return f"cursor-byok's write of {entry.created} ({entry.command})"


def _switched_off(provider: str, field: str, entry: journal.Entry, blob: Mapping[str, Any],
                  invocation: Invocation) -> Change:  # fmt: skip
    title, plan = registry().title(provider), team_plan(blob)
    online = f"`{invocation.hint('doctor', '--online')}`"
    detail = f"{title} was switched off ({field}) after {_since(entry)}"
    if plan:
        advice = (f"your Cursor account is on {article(plan)} plan, whose admin may forbid personal API keys; "
                  f"Cursor then switches them off again, so ask your admin rather than switching it back on. Or "
                  f"Cursor's check of the key failed: {online} checks it")  # fmt: skip
        return Change(field, SWITCHED_OFF, (), entry.created, entry.command, entry.id, plan, None, detail, advice)
    fix = str(invocation.hint("set", provider, "--no-key", "--enable"))
    advice = (f"Cursor does this when its check of the key fails ({online} checks it), or when a team policy "
              f"forbids personal keys. Unless you switched it off yourself, switch it back on: `{fix}`")  # fmt: skip
    return Change(field, SWITCHED_OFF, (), entry.created, entry.command, entry.id, None, fix, detail, advice)


def _dropped(gone: tuple[str, ...], entry: journal.Entry, invocation: Invocation) -> Change:
    fix = str(invocation.hint("models", "add", *gone))
    detail = f"custom model(s) {', '.join(gone)} left Cursor's list after {_since(entry)}"
    advice = (f"Cursor drops custom models when it refreshes its model list. Unless you removed them yourself, "
              f"add them back: `{fix}`")  # fmt: skip
    return Change(USER_ADDED, DROPPED, gone, entry.created, entry.command, entry.id, None, fix, detail, advice)
