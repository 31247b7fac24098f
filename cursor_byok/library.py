"""The library: what each command does, without any click (`import cursor_byok` re-exports its API).

`Context` holds the choices a user makes before a command (which database,
which safe storage). The public functions at the end, one per command, call
down into cursor/ (paths, reading, rows), safestorage/, changes/ (diff, write,
journal), bundle/ and checks/, and return objects whose `to_json()` is the
command's --json document; render.py turns those into text.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, get_args

from .changes.journal import vanished_keys as _vanished
from .cursor import paths as locate
from .cursor.reading import cursor_facts, load_profile, read_merged_rows, source_info
from .model import Change, ConflictPolicy, KeyStorage, ModelsPolicy, Plan, Profile, is_key_field
from .providers import registry
from .safestorage import backends as keyring
from .safestorage.backends import SafeStorage, SafeStorageConfig

if TYPE_CHECKING:
    from .changes.journal import Entry
    from .changes.manifest import Manifest
    from .changes.write import ApplyResult


@dataclass
class Context:
    """Which Cursor and which safe storage a command works with."""

    db: str | None = None
    user_data_dir: str | None = None
    safe_storage: SafeStorageConfig = field(default_factory=SafeStorageConfig)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    profile: str | None = None  # a profile's name or location; None: the default profile

    def __post_init__(self) -> None:  # "~/..." as a shell would expand it
        self.db = os.path.expanduser(self.db) if self.db else self.db
        self.user_data_dir = os.path.expanduser(self.user_data_dir) if self.user_data_dir else self.user_data_dir

    def installation(self) -> locate.Installation:
        return locate.resolve(db=self.db, user_data_dir=self.user_data_dir, env=self.env, platform=self.platform)

    def selected_profile(self, inst: locate.Installation) -> locate.UserProfile | None:
        return locate.select_profile(inst, self.profile)

    def storage_for(self, inst: locate.Installation) -> SafeStorage:
        return SafeStorage(self.safe_storage, local_state=inst.local_state, env=self.env, platform=self.platform)


def load_chosen(ctx: Context):
    """(installation, chosen profile or None, Profile, rows): the keys, and the chosen profile's settings blob."""
    inst = ctx.installation()
    chosen = ctx.selected_profile(inst)
    profile, rows = load_profile(inst, ctx.storage_for(inst), chosen.db if chosen else None)
    return inst, chosen, profile, rows


def list_document(ctx: Context, *, reveal: bool = False) -> dict:
    """The `list --json` document for the chosen installation and profile."""
    return listed(*load_chosen(ctx), reveal=reveal)


def listed(
    inst: locate.Installation,
    chosen: locate.UserProfile | None,
    profile: Profile,
    rows: Mapping[str, Any],
    *,
    reveal: bool = False,
) -> dict:
    from .render import profile_json

    doc = profile_json(profile, source=source_info(inst), reveal=reveal)
    doc["notes"] += _vanished(inst.db_path, rows).values()
    doc["cursor"] = cursor_facts(inst, rows).to_json()
    doc["profile"] = chosen.name if chosen else locate.DEFAULT_PROFILE
    doc["profiles"] = [locate.DEFAULT_PROFILE, *(p.name for p in locate.profiles(inst))]
    return with_billing(doc)


def list_all_profiles(ctx: Context, *, reveal: bool = False) -> dict:
    """`list --profile all`: one document per profile (keys are shared: they live in the default database)."""
    inst = ctx.installation()
    names = [locate.DEFAULT_PROFILE, *(p.location for p in locate.profiles(inst) if p.db.is_file())]
    docs = [list_document(replace(ctx, profile=name), reveal=reveal) for name in names]
    return {**source_info(inst), "profiles": docs[0]["profiles"], "documents": docs}


def with_billing(doc: dict) -> dict:
    """Each provider with a key gets `billing`: its usage and spending-limit pages (BYOK is billed by it)."""
    from .checks.provider_pages import billing
    from .model import KEY_NAMES

    for name, entry in doc["providers"].items():
        entry["billing"] = billing(name) if any(entry.get(k) for k in KEY_NAMES) else None
    return doc


def where_documents(ctx: Context) -> list[dict]:
    """One document per installation found (explicit choices even when missing)."""
    found = locate.find_installations(db=ctx.db, user_data_dir=ctx.user_data_dir, env=ctx.env, platform=ctx.platform)
    if not found:
        from .errors import DatabaseNotFound

        searched = locate.candidate_installations(
            db=ctx.db, user_data_dir=ctx.user_data_dir, env=ctx.env, platform=ctx.platform
        )
        raise DatabaseNotFound(
            f"no Cursor installation found (searched: {'; '.join(str(c.db_path) for c in searched)}); "
            "pass --user-data-dir DIR or --db FILE (or set CURSOR_STATE_DB)"
        )
    docs = [_where_one(ctx, inst) for inst in found]
    for n, doc in enumerate(docs):
        doc["used"] = n == 0  # the one every other command works on
    return docs


def backends_needed(rows: Mapping[str, Any], scheme: str) -> dict[str, str]:
    """Ciphertext prefix of the stored secret:// rows -> the backend that decrypts them (as `list` uses it)."""
    from .changes.write import stored_prefixes
    from .cursor.versions import row_backend_words

    return {p.decode(errors="replace"): row_backend_words(scheme, p) for p in sorted(stored_prefixes(rows))}


def _where_one(ctx: Context, inst: locate.Installation) -> dict:
    from .cursor.rows import ANY_SECRET_PREFIX
    from .cursor.store import Store
    from .cursor.versions import FACT_ROWS
    from .errors import ByokError

    size = inst.db_path.stat().st_size if inst.db_path.is_file() else None
    storage = ctx.storage_for(inst)
    mode = error = facts = None
    rows_need: dict[str, str] = {}
    if size is not None:
        try:  # one open: the journal mode, Cursor's facts and the secret:// rows in one read
            with Store(inst.db_path) as st:
                mode = st.journal_mode()
                rows = st.get_items(FACT_ROWS, (ANY_SECRET_PREFIX,))
            facts = cursor_facts(inst, rows).to_json()
            rows_need = backends_needed(rows, storage.scheme)
        except ByokError as exc:
            error = str(exc)
    running = locate.cursor_running(inst)
    doc = {
        **source_info(inst),
        "source": inst.source,
        "channel": inst.channel,
        "size": size,
        "journal_mode": mode,
        "local_state": bool(inst.local_state and inst.local_state.is_file()),
        "cursor_running": {"pid": running.pid, "how": running.how} if running else None,
        "safe_storage": {
            "backend": storage.backend,
            "scheme": storage.scheme,
            "status": keyring.probe(storage),
            "chosen_by": storage.backend_reason,
        },
        "cursor": facts or {"version": None, "backups": None},
        "rows_need": rows_need,
        "undo_journals": undo_journal_place(inst.db_path),
        "profiles": [
            {"name": locate.DEFAULT_PROFILE, "location": None, "db": str(inst.db_path)},
            *(p.to_json() for p in locate.profiles(inst)),
        ],
    }
    if error:
        doc["error"] = error
    return doc


def undo_journal_place(db: Path) -> dict:
    """Where this database's undo journals live: the tool's journal folder, files `<id>.<tag>.json`."""
    from .changes import journal
    from .errors import ByokError

    folder = journal.journal_dir()
    try:
        count: int | None = len(journal.entries(db=db))
    except (ByokError, OSError):  # a folder refused (another user's, writable by others) is still named
        count = None
    return {"folder": str(folder), "files": f"*.{journal.db_tag(db)}.json", "count": count}


# --- export / import / undo ------------------------------------------------------------


def export_document(
    ctx: Context, *, only=(), keys: bool = True, models: bool = True, skip_undecryptable: bool = False
) -> tuple[dict, list[str]]:
    """The bundle document of the chosen installation, and notes on what was left out.

    Keys that cannot be decrypted here are refused (KeysUndecryptable) unless
    skip_undecryptable: a bundle that silently lacks keys is how keys get lost.
    """
    from .bundle import document as bundle
    from .errors import KeysUndecryptable

    _inst, _chosen, profile, _rows = load_chosen(ctx)
    missing = bundle.undecryptable(profile, only=only, keys=keys)
    if missing and not skip_undecryptable:
        raise KeysUndecryptable(
            f"{len(missing)} key(s) cannot be decrypted here ({', '.join(missing)}), so the bundle would lack "
            "them; check the safe storage (`cursor-byok where`, --safe-storage), or pass --skip-undecryptable "
            "to export the rest without them"
        )
    return bundle.to_document(profile, only=only, keys=keys, models=models)


def seal(doc: dict, *, passphrase: str | None, recipients=(), armor: bool = False) -> bytes:
    from .bundle import age_envelope as agefile
    from .bundle import document as bundle

    return agefile.encrypt(bundle.encode(doc), passphrase=passphrase, recipients=list(recipients), armor=armor)


def open_bundle_document(data: bytes, *, passphrases=(), identity_files=(), ask=None) -> dict:
    """The checked document inside an age bundle; `ask(label)` unlocks passphrase-protected SSH identities."""
    from .bundle import age_envelope as agefile
    from .bundle import document as bundle

    identities = [i for path in identity_files for i in agefile.load_identities(path, ask)]
    return bundle.decode(agefile.decrypt(data, passphrases=list(passphrases), identities=identities))


def bundle_list_document(doc: dict, *, path: str, reveal: bool = False) -> dict:
    from .bundle import document as bundle
    from .render import profile_json

    source = {"bundle": path, "created": doc.get("created"), "source": doc.get("source"), "db": None}
    return only_what_the_bundle_holds(profile_json(bundle.to_profile(doc), source=source, reveal=reveal), doc)


def only_what_the_bundle_holds(listed: dict, doc: dict) -> dict:
    """Absent is not empty: providers, fields, model lists and extra keys the bundle does not hold are left out,
    not shown as false or []."""
    held = doc["profile"].get("providers", {})
    listed["providers"] = {
        name: {k: v for k, v in entry.items() if k in held[name] or (k == "configured")}
        for name, entry in listed["providers"].items()
        if name in held
    }
    if "extra_secrets" not in doc["profile"]:
        listed.pop("extra_secrets")
    models = doc["profile"].get("models")
    if not isinstance(models, dict):
        listed.pop("models")
    else:
        listed["models"] = {k: v for k, v in listed["models"].items() if k in models}
    return listed


@dataclass
class Prepared:
    """Everything a write needs, gathered before any lock: the plan and the rows it was made against."""

    inst: locate.Installation
    storage: SafeStorage
    profile: Profile
    rows: dict[str, Any] = field(repr=False)  # raw rows: the settings blob may hold keys in clear
    plan: Plan
    key_form: str
    wanted: Mapping[str, Any] = field(default_factory=dict)
    user_profile: locate.UserProfile | None = None  # whose settings blob is written; None: the default one
    other_profiles: tuple[str, ...] = ()  # names of profiles a write without --profile leaves alone


def prepare(
    ctx: Context,
    wanted: Mapping[str, Any] | Callable[[Profile], Mapping[str, Any]],
    *,
    on_conflict: ConflictPolicy = "fail",
    models: ModelsPolicy = "union",
    key_storage: KeyStorage = "auto",
    notes: Iterable[str] | Callable[[Profile], Iterable[str]] = (),
    guard_endpoints: bool = True,
    source_protection: Mapping[str, str] | None = None,
) -> Prepared:
    """Read the installation once and diff it against `wanted`.

    `wanted` (and `notes`) may be a function of the stored profile, for
    commands whose wanted values depend on what is there (models add, unset).
    Every new base URL passes urls.check; `guard_endpoints` (off only for
    `set`) makes a change of where a held key is sent a conflict.
    """
    from .changes import diff as planning
    from .changes import write as writer

    _one_of(on_conflict, ConflictPolicy, "on_conflict")
    _one_of(models, ModelsPolicy, "models")
    _one_of(key_storage, KeyStorage, "key_storage")
    inst, chosen, profile, rows = load_chosen(ctx)
    storage = ctx.storage_for(inst)
    asked = dict(wanted(profile) if callable(wanted) else wanted)
    notes = tuple(notes(profile) if callable(notes) else notes)
    check_new_endpoints(asked, profile)
    key_form = planning.choose_key_form(profile, key_storage)
    fields, dropped = planning.drop_homeless_extras(rows, asked, key_form, profile.cursor_version)
    the_plan = planning.diff(
        profile,
        fields,
        on_conflict=on_conflict,
        models=models,
        notes=(*notes, *dropped),
        guard_endpoints=guard_endpoints,
    )
    # What a run may write: the planned writes, and conflicts a prompt may turn into replacements; the
    # protection notes and the --key-storage refusal cover both, before anything is asked.
    writing = {**planning.wanted_values(the_plan), **{c.field: c.new for c in the_plan.conflicts}}
    planning.refuse_unhonoured_secret(rows, writing, key_storage)
    protection = writer.encryption_notes(rows, storage, writing, key_form) if writing else []
    if any(is_key_field(f) and v is not None for f, v in writing.items()):
        protection.insert(0, planning.key_form_note(profile, key_storage, key_form))
    protection += planning.weaker_protection_notes(profile, rows, writing, key_form, source_protection or {})
    the_plan = replace(the_plan, notes=(*the_plan.notes, *protection, *profile.notes))
    others = () if ctx.profile is not None else tuple(p.name for p in locate.profiles(inst))
    return Prepared(
        inst, storage, profile, rows, the_plan, key_form, fields, user_profile=chosen, other_profiles=others
    )


def check_new_endpoints(wanted: Mapping[str, Any], profile: Profile) -> None:
    """Every endpoint setting that would change passes the checks of `set` (InputError, exit 15, nothing written).

    Base URLs pass urls.check; an Azure deployment must be a plain name and a
    Bedrock region look like one, whether they come from a bundle, a manifest or `set`.
    """
    from .changes import wanted as onboard

    checks: dict[str, Callable[[str, str], str]] = onboard.setting_checks()
    for name, check in checks.items():
        value = wanted.get(name)
        if value is not None and value != profile.get(name):
            check(value, name)


def plan_warnings(plan) -> list[str]:
    """Warnings about a plan's new values: base URLs Cursor's servers cannot reach."""
    from .cursor import urls

    found = (urls.unreachable_warning(c.field, c.new) for c in plan.effective if c.field in urls.URL_FIELDS and c.new)
    return [w for w in found if w]


def execute(prep: Prepared, *, command: str) -> ApplyResult:
    """Apply a prepared plan through the one write path."""
    from .changes import write as writer

    return writer.apply(
        prep.inst,
        prep.storage,
        prep.plan,
        prep.rows,
        key_form=prep.key_form,
        command=command,
        blob_db=prep.user_profile.db if prep.user_profile else None,
    )


def wait_until_closed(ctx: Context, seconds: float | None) -> None:
    """With --wait: before reading anything, give Cursor up to `seconds` to exit (it saves as it quits)."""
    if seconds:
        wait_for_cursor_exit(ctx.installation(), seconds)


def wait_for_cursor_exit(inst: locate.Installation, seconds: float, poll: float = 0.5) -> None:
    """Block until Cursor is not running for `inst`, at most `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while locate.cursor_running(inst) and time.monotonic() < deadline:
        time.sleep(poll)


def undo(
    ctx: Context | None = None, journal_id: str | None = None, *, force: bool = False
) -> tuple[Entry, ApplyResult]:
    """Restore the rows and settings fields of a journal: the given one, or the newest write not undone yet,
    so each `undo` goes one step further back (changes/history.py). Returns (the journal restored, the result).

    Without an ID, a write whose rows all still hold their old values is
    passed over: it never landed (the process was killed between the journal
    and the commit), so undoing it would change nothing and would hide the
    write before it.
    """
    plan = undo_plan(_ctx(ctx), journal_id)
    return plan.entry, apply_undo(plan, force=force)


def redo(ctx: Context | None = None, *, force: bool = False) -> tuple[Entry, ApplyResult]:
    """Re-apply the write the newest undo restored, by undoing that undo's journal."""
    plan = undo_plan(_ctx(ctx), redo=True)
    return plan.entry, apply_undo(plan, force=force)


@dataclass
class UndoPlan:
    """What an undo (or redo) would write: the journal it restores, each field in words, conflicts in words."""

    inst: locate.Installation
    entry: Entry  # the journal restored
    rows: dict[str, Any] = field(repr=False)  # raw rows: the settings blob may hold keys in clear
    writes: list = field(repr=False)  # the values to write back, keys among them
    restores: list[dict] = field(default_factory=list)  # {"field", "now", "restored"} (model lists too), masked
    conflicts: list[str] = field(default_factory=list)
    redoes: Entry | None = None  # for redo: the write that comes back (the journal the restored undo undid)

    @property
    def redo(self) -> bool:
        return self.redoes is not None

    def to_json(self) -> dict:
        return {
            "undone": self.entry.id,
            "command": self.entry.command,
            "redo": self.redo,
            "redoes": {"id": self.redoes.id, "command": self.redoes.command} if self.redoes is not None else None,
            "restores": self.restores,
            "conflicts": self.conflicts,
        }


def undo_plan(ctx: Context | None = None, journal_id: str | None = None, *, redo: bool = False) -> UndoPlan:
    """The plan of `undo [ID]` (or of `redo`), written nowhere."""
    inst = undo_target(_ctx(ctx))
    entry, rows, redoes = _journal_to_redo(inst) if redo else (*_journal_to_undo(inst, journal_id), None)
    writes = _restoring_writes(entry, rows)
    restores = _restores_in_words(entry, rows, writes)
    return UndoPlan(inst, entry, rows, writes, restores, _changed_since(entry, rows), redoes)


def apply_undo(plan: UndoPlan, *, force: bool = False) -> ApplyResult:
    """Write an undo plan through the one write path; its journal names the journal it restores."""
    from .changes import write as writer
    from .errors import PlanConflict

    if plan.conflicts and not force:
        raise PlanConflict(
            f"{len(plan.conflicts)} change(s) since {plan.entry.id} was written ({plan.conflicts[0]}); "
            "pass --force to restore them anyway"
        )
    return writer.apply_rows(plan.inst, plan.rows, plan.writes, command=f"undo {plan.entry.id}", undoes=plan.entry.id)


def _changed_since(entry, rows: Mapping[str, Any]) -> list[str]:
    """What changed since the journal's write, in words: rows, and fields inside the settings blob."""
    from .changes.journal import digest
    from .cursor import blob_patch as blobpatch
    from .cursor.rows import BLOB_KEY, as_text

    old_values = entry.old_values()
    out = [
        f"{_row_words(r['key'])} changed since"
        for r in entry.rows
        if "fields" not in r and digest(rows.get(r["key"])) not in (r["new_sha256"], digest(old_values[r["key"]]))
    ]
    text = as_text(rows.get(BLOB_KEY))
    for f in entry.blob_fields():
        now = _raw_or_none(blobpatch, text, f["path"])
        if digest(now) not in (f.get("new_sha256"), digest(f["old"])):
            out.append(f"{_field_name(f['path'])} changed since, to {_shown_raw(f['path'], now)}")
    return out


def _restores_in_words(entry, rows: Mapping[str, Any], writes) -> list[dict]:
    """Each row and settings field an undo would put back: its name, what it holds now, what it gets."""
    from .cursor import blob_patch as blobpatch
    from .cursor.rows import BLOB_KEY, as_text

    out = [
        {"field": _row_words(w.key), "now": _row_value_words(rows.get(w.key)), "restored": _row_value_words(w.value)}
        for w in writes
        if w.key != BLOB_KEY
    ]
    text = as_text(rows.get(BLOB_KEY))
    for f in entry.blob_fields() if text is not None else ():
        now = _raw_or_none(blobpatch, text, f["path"])
        if now != f["old"]:
            shown = (_field_value_words(f["path"], now), _field_value_words(f["path"], f["old"]))
            out.append({"field": _field_name(f["path"]), "now": shown[0], "restored": shown[1],
                        **_list_delta(now, f["old"])})  # fmt: skip
    return out


def _list_delta(now: str | None, restored: str | None) -> dict:
    """For a model list: the names the restore adds and removes ({} for any other field)."""
    import json

    try:
        lists = [json.loads(raw) if raw is not None else [] for raw in (now, restored)]
    except ValueError:
        return {}
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists):
        return {}
    return {"added": [m for m in lists[1] if m not in lists[0]], "removed": [m for m in lists[0] if m not in lists[1]]}


def _row_words(key: str) -> str:
    """A key row in words: `anthropic.key (encrypted row)`, `openai.key (plain row)`, `extra.deepseekKey (...)`."""
    from .cursor.rows import KEY_ROW_NAMES, PLAIN_PREFIX, SECRET_PREFIX

    fields = {row: name for name, row in KEY_ROW_NAMES.items()}
    for prefix, form in ((SECRET_PREFIX, "encrypted row"), (PLAIN_PREFIX, "plain row")):
        if key.startswith(prefix):
            name = key[len(prefix) :]
            return f"{fields.get(name, 'extra.' + name)} ({form})"
    return f"row {key}"


def _row_value_words(value: Any) -> str:
    """A key row's value for a plan: never the key itself."""
    from .changes.journal import EMPTY_SECRET
    from .cursor.rows import as_text
    from .model import mask

    if value is None:
        return "(unset)"
    text = as_text(value)
    if text is None:
        return "a binary value"
    if text.startswith('{"type":"Buffer"'):
        return "(empty)" if text == EMPTY_SECRET else "an encrypted key"
    return mask(text) if text else "(empty)"


def _field_value_words(path, raw: str | None) -> str:
    """A settings field's JSON text for a plan: keys masked, URLs without query or user info."""
    import json

    from .checks.audit import safe_url
    from .cursor.rows import BLOB_KEY_FIELDS, BLOB_PATHS
    from .model import mask

    if raw is None:
        return "(unset)"
    try:
        value = json.loads(raw)
    except ValueError:
        return "an unreadable value"
    if tuple(path) in {BLOB_PATHS[f] for f in BLOB_KEY_FIELDS} and isinstance(value, str) and value != "iam":
        return mask(value) if value else "(empty)"
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return (safe_url(value) if "://" in value else value) or '""'
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _raw_or_none(blobpatch, text: str | None, path) -> str | None:
    try:
        return blobpatch.raw_at(text, path) if text is not None else None
    except blobpatch.PatchError:
        return None


def _field_name(path) -> str:
    from .cursor.rows import BLOB_PATHS

    names = {v: k for k, v in BLOB_PATHS.items()}
    path = tuple(path)
    if path in names:
        return names[path]
    return "models.selected." + path[2] if len(path) == 4 else ".".join(path)


def _shown_raw(path, raw: str | None) -> str:
    """A field's current JSON text for a message: keys never shown, URLs without query or user info."""
    import json

    from .checks.audit import safe_url
    from .cursor.rows import BLOB_KEY_FIELDS, BLOB_PATHS

    if raw is None:
        return "nothing (removed)"
    if tuple(path) in {BLOB_PATHS[f] for f in BLOB_KEY_FIELDS}:
        return "another key"
    try:
        value = json.loads(raw)
    except ValueError:
        return "an unreadable value"
    if isinstance(value, str) and "://" in value:
        return safe_url(value)
    shown = json.dumps(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _restoring_writes(entry, rows: Mapping[str, Any]) -> list:
    """The writes that put the journal's old values back, for what does not hold them now."""
    from .cursor.rows import BLOB_KEY, as_text
    from .cursor.store import RowWrite

    writes = [RowWrite(k, v) for k, v in entry.old_values().items()]  # byte for byte, BLOBs included
    writes = [w for w in writes if rows.get(w.key) != w.value]
    fields = entry.blob_fields()
    text = as_text(rows.get(BLOB_KEY))
    if fields and text is not None:
        restored = _restore_fields(text, fields)
        if restored != text:
            writes.append(RowWrite(BLOB_KEY, restored, tuple(tuple(f["path"]) for f in fields)))
    return writes


def _restore_fields(text: str, fields: list[dict]) -> str:
    """The blob with each journaled field back to its old JSON text, or removed where it was missing.

    Removals go last-first and re-creations first-last, the reverse and the
    order of the write, so when nothing else changed the text comes back byte
    for byte. A member the write created around a field (`azureState`) goes
    again only if it holds nothing but journaled fields.
    """
    from .cursor import blob_patch as blobpatch

    journaled = {tuple(f["path"]) for f in fields}
    for f in reversed(fields):
        if f["old"] is None:
            text = blobpatch.delete_path(text, _created_member(text, f, journaled))
    for f in fields:
        if f["old"] is not None:
            text = blobpatch.set_raw(text, f["path"], f["old"])
    return text


def _created_member(text: str, f: dict, journaled: set) -> tuple[str, ...]:
    """The member to remove for a field that was missing: the outermost one the write created,
    when nothing but journaled fields sits inside it; else the field itself."""
    import json

    from .cursor import blob_patch as blobpatch

    path = tuple(f["path"])
    outer = path[: f.get("absent_from", len(path) - 1) + 1]
    raw = blobpatch.raw_at(text, outer) if outer != path else None
    if raw is None:
        return path
    try:
        leaves = set(_leaf_paths(outer, json.loads(raw)))
    except (ValueError, RecursionError):
        return path
    return outer if leaves <= journaled else path


def _leaf_paths(prefix: tuple, value: Any):
    if isinstance(value, dict) and value:
        for name, inner in value.items():
            yield from _leaf_paths((*prefix, name), inner)
    else:
        yield prefix


def _journal_to_undo(inst: locate.Installation, journal_id: str | None):
    """(entry, the rows it touches as stored now): the given journal, or the newest write not undone yet
    that has something to restore.

    Headers are read first (one line per file, only this database's files);
    bodies only of the journals looked at, and of the undos (to tell whether
    they landed).
    """
    from .changes import journal
    from .errors import NothingToUndo

    found = journal.entries(db=inst.db_path)
    if journal_id:
        found = [e for e in found if e.id == journal_id or e.id.startswith(journal_id)][:1]
    if not found:
        what = f"journal {journal_id!r}" if journal_id else "journal for this database"
        raise NothingToUndo(f"no {what}; `{locate.command_for(inst, 'undo --list')}` shows what can be undone")
    journal.usable(found[0])  # the newest (or the chosen) must be sound before anything else
    rows = _journaled_rows(inst, found)
    if journal_id:
        return found[0], rows
    candidates = _history(found, rows).undo_candidates()
    if not candidates:
        raise NothingToUndo(
            f"nothing left to undo: all {len(found)} journal(s) of this database are undone or undos; "
            f"`{locate.command_for(inst, 'redo')}` re-applies the newest undone write, "
            f"`{locate.command_for(inst, 'undo --list')}` lists them"
        )
    for entry in candidates:
        if _restoring_writes(journal.usable(entry), rows):  # a damaged one further back is not skipped either
            return entry, rows
    return candidates[0], rows


def _journal_to_redo(inst: locate.Installation):
    """(the newest undo in effect, the rows, the write it undid): restoring that undo's journal re-applies
    the write."""
    from .changes import journal
    from .errors import NothingToUndo

    found = journal.entries(db=inst.db_path)
    rows = _journaled_rows(inst, found) if found else {}
    entry, later = _history(found, rows).redo_candidate()
    if later is not None:
        raise NothingToUndo(
            f"nothing to redo: {later.id} ({later.command}) was written after the last undo; "
            f"`{locate.command_for(inst, 'undo --list')}` lists the journals, and "
            f"`{locate.command_for(inst, 'undo ID')}` restores any of them"
        )
    if entry is None:
        raise NothingToUndo(
            f"nothing to redo: no undone write for this database; `{locate.command_for(inst, 'undo --list')}` "
            "lists them"
        )
    return journal.usable(entry), rows, next(e for e in found if e.id == entry.undone_id)


def _journaled_rows(inst: locate.Installation, found) -> dict[str, Any]:
    from .cursor.store import Store

    with Store(inst.db_path) as st:
        return st.get_items(sorted({k for e in found for k in e.keys}))


def _history(found, rows: Mapping[str, Any], *, lenient: bool = False):
    """Which of these journals are undone. An undo counts only if it landed (its rows do not all still hold
    what it recorded as old); `lenient` (for listing) takes a damaged one as not landed instead of refusing."""
    from .changes import journal
    from .changes.history import History

    def landed(entry) -> bool:
        try:
            return bool(_restoring_writes(journal.usable(entry), rows))
        except journal.InputError:
            if not lenient:
                raise
            return False

    return History(found, landed)


def undo_target(ctx: Context) -> locate.Installation:
    """The installation whose journals undo works on: with --profile, that profile's database."""
    inst = ctx.installation()
    chosen = ctx.selected_profile(inst)
    return replace(inst, db_path=chosen.db) if chosen else inst


def journal_documents(ctx: Context) -> list[dict]:
    """This database's journals, newest first, each with its kind and whether it was undone (or redone)."""
    from .changes import journal
    from .errors import ByokError

    inst = undo_target(ctx)
    found = journal.entries(db=inst.db_path)
    try:
        rows = _journaled_rows(inst, found) if found else {}
        history = _history(found, rows, lenient=True)
    except ByokError:  # the database cannot be read: every undo is taken as landed
        from .changes.history import History

        history = History(found, lambda e: True)
    return [
        {
            "id": e.id,
            "created": e.created,
            "command": e.command,
            "rows": list(e.keys),
            "damaged": e.version not in journal.READABLE_VERSIONS or e.header_damaged,
            **history.status(e),
            "undone": e.id in history.undone_by,
        }
        for e in found
    ]


def purge_journals(ctx: Context, ids) -> list[str]:
    """Delete these journals of the chosen installation; returns the ids deleted."""
    from .changes import journal

    inst = undo_target(ctx)
    wanted = set(ids)
    removed = []
    for entry in journal.entries(db=inst.db_path):
        if entry.id in wanted:
            entry.path.unlink(missing_ok=True)
            removed.append(entry.id)
    return removed


# --- get: one key for scripts --------------------------------------------------------------


def _provider(name: str) -> str:
    """A provider's name as the library's callers may type it (any case, aliases); InputError otherwise."""
    from .errors import InputError
    from .model import provider_named

    try:
        return provider_named(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _one_of(value: str, kind: Any, name: str) -> None:
    """A policy argument must be one of its Literal's values (InputError, not a silent default)."""
    from .errors import InputError

    if value not in get_args(kind):
        raise InputError(f"{name} must be one of {', '.join(get_args(kind))}, not {value!r}")


def get_key(ctx: Context | None, provider: str, field_name: str | None = None) -> str:
    """The plain value of one stored key: exit 18 when none is stored, 7 when it cannot be decrypted here."""
    from .errors import InputError, KeyNotStored, SafeStorageUnavailable
    from .model import PROVIDER_LAYOUT, StoredKey

    ctx, provider = _ctx(ctx), _provider(provider)

    choices = tuple(k.name for k in registry()[provider].settable_keys)
    name = field_name or choices[0]
    if name not in choices:
        raise InputError(f"--field {name} does not apply to {provider}; use {' or '.join(choices)}")
    inst = ctx.installation()
    profile, _rows = load_profile(inst, ctx.storage_for(inst))
    stored = profile.fields.get(PROVIDER_LAYOUT[provider][name])
    if not isinstance(stored, StoredKey):
        raise KeyNotStored(f"no {provider} {name.replace('_', ' ')} is stored in {inst.db_path}")
    if stored.secret is None:
        raise SafeStorageUnavailable(f"the {provider} key cannot be decrypted here ({stored.reason})")
    return stored.secret.reveal()


# --- the public API: one function per command, re-exported by `import cursor_byok` ---------------
#
# Each takes a Context (None: Cursor found as the CLI finds it, safe storage chosen per OS) and returns
# an object: typed attributes for Python callers, `to_json()` for the document `--json` prints. Writes
# come in two steps, as on the command line: plan_*() reads and plans; apply() writes. set_key(),
# models() and apply_manifest() do both, unless dry_run.


@dataclass(frozen=True)
class Result:
    """A command's outcome. `to_json()` is the document the command prints with --json."""

    document: dict[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return self.document


@dataclass(frozen=True)
class Found(Result):
    """One Cursor installation (`where`)."""

    db: Path = Path()
    used: bool = False  # the one the other commands work on
    backend: str = ""  # the safe-storage backend chosen for it


@dataclass(frozen=True)
class Listing(Result):
    """The keys, settings and models stored (`list`). Keys print masked; Secret.reveal() gives one."""

    db: Path | None = None
    profile: Profile | None = None  # None for `list --profile all` (see document["documents"])
    undecryptable: tuple[str, ...] = ()  # key fields that cannot be decrypted here


@dataclass(frozen=True)
class Bundle(Result):
    """An opened, checked bundle. Its document holds keys in clear: keep it in memory only."""

    profile: Profile = field(default_factory=lambda: Profile(fields={}), repr=False)

    def listing(self, *, path: str = "", reveal: bool = False) -> Listing:
        """What it holds, as `list --bundle` shows it: what it does not hold is absent."""
        return Listing(bundle_list_document(self.document, path=path, reveal=reveal), profile=self.profile)


@dataclass(frozen=True)
class ExportedBundle(Result):
    """An encrypted bundle (`export`): `data` is what goes to the file. The document holds keys in clear."""

    data: bytes = field(default=b"", repr=False)
    keys: int = 0  # keys written
    providers: int = 0
    left_out: tuple[str, ...] = ()  # notes on keys left out (only with skip_undecryptable)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Written(Result):
    """A write command's plan and, unless it was a dry run, what the one write path did."""

    prepared: Prepared | None = field(default=None, repr=False)
    applied: ApplyResult | None = None
    warnings: tuple[str, ...] = ()  # key shapes that look wrong, and what the write path noticed


@dataclass(frozen=True)
class Report(Result):
    """An `audit` or `doctor` report; `problems` is true when the command would exit 13."""

    problems: bool = False
    findings: tuple[dict[str, Any], ...] = ()


def _ctx(ctx: Context | None) -> Context:
    return ctx if ctx is not None else Context()


def where(ctx: Context | None = None) -> list[Found]:
    """Every Cursor installation found, the one other commands use first. Raises DatabaseNotFound."""
    docs = where_documents(_ctx(ctx))
    return [Found(d, db=Path(d["db"]), used=d["used"], backend=d["safe_storage"]["backend"]) for d in docs]


def read(ctx: Context | None = None, *, reveal: bool = False) -> Listing:
    """The stored keys, settings and models of the chosen profile (`Context.profile`; "all": every profile)."""
    ctx = _ctx(ctx)
    if ctx.profile == "all":
        doc = list_all_profiles(ctx, reveal=reveal)
        lost = tuple(k for one in doc["documents"] for k in undecryptable_keys(one))
        return Listing(doc, db=Path(doc["db"]), undecryptable=lost)
    inst, chosen, profile, rows = load_chosen(ctx)
    doc = listed(inst, chosen, profile, rows, reveal=reveal)
    return Listing(doc, db=inst.db_path, profile=profile, undecryptable=tuple(undecryptable_keys(doc)))


def undecryptable_keys(doc: Mapping[str, Any]) -> list[str]:
    """The keys of a `list` document that cannot be decrypted here."""
    from .model import KEY_NAMES

    out = [f"{p}.{k}" for p, entry in doc["providers"].items() for k in KEY_NAMES
           if isinstance(entry.get(k), dict) and entry[k].get("fingerprint") is None]  # fmt: skip
    return out + [e["name"] for e in doc.get("extra_secrets", []) if e["key"].get("fingerprint") is None]


def export_bundle(
    ctx: Context | None = None,
    *,
    passphrase: str | Callable[[], str] | None = None,
    recipients: Iterable[str] = (),
    only: Iterable[str] = (),
    keys: bool = True,
    models: bool = True,
    skip_undecryptable: bool = False,
    armor: bool = False,
) -> ExportedBundle:
    """Keys, settings and models, encrypted to a passphrase or to age/SSH recipients (exactly one of them).

    Raises KeysUndecryptable when a key cannot be decrypted here, unless skip_undecryptable. The
    passphrase may be a function, called only once the document is ready (so nobody is asked for a
    passphrase that could not be used).
    """
    from .bundle.document import LEFT_OUT, written_counts
    from .errors import InputError
    from .model import MIN_PASSPHRASE

    recipients = list(recipients)
    if bool(recipients) == bool(passphrase):
        raise InputError("encrypt to a passphrase or to recipients: give exactly one")
    doc, notes = export_document(_ctx(ctx), only=only, keys=keys, models=models, skip_undecryptable=skip_undecryptable)
    phrase = passphrase() if callable(passphrase) else passphrase
    if phrase is not None and len(phrase) < MIN_PASSPHRASE:
        raise InputError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters, or recipients")
    data = seal(doc, passphrase=phrase, recipients=recipients, armor=armor)
    n_keys, n_providers = written_counts(doc)
    left_out = tuple(n for n in notes if LEFT_OUT in n)
    return ExportedBundle(doc, data=data, keys=n_keys, providers=n_providers, left_out=left_out, notes=tuple(notes))


def open_bundle(
    data: bytes,
    *,
    passphrases: Iterable[str] = (),
    identity_files: Iterable[str] = (),
    ask: Callable[[str], str] | None = None,
) -> Bundle:
    """Decrypt and check a bundle (hostile input: BundleError / BundleAuthError, never anything else)."""
    from .bundle import document as bundle

    doc = open_bundle_document(data, passphrases=passphrases, identity_files=identity_files, ask=ask)
    return Bundle(doc, profile=bundle.to_profile(doc))


def plan_import(
    ctx: Context | None,
    opened: Bundle,
    *,
    only: Iterable[str] = (),
    on_conflict: ConflictPolicy = "fail",
    models: ModelsPolicy = "union",
    key_storage: KeyStorage = "auto",
) -> Prepared:
    """Plan importing a bundle here; nothing is written. apply() carries the plan out."""
    from .bundle import document as bundle
    from .changes.diff import filter_fields

    wanted = filter_fields(bundle.to_fields(opened.document), only)
    return prepare(
        _ctx(ctx),
        wanted,
        on_conflict=on_conflict,
        models=models,
        key_storage=key_storage,
        source_protection=bundle.source_protection(opened.document),
    )


def resolve_conflicts(prepared: Prepared, decide: Callable[[Change], bool]) -> Prepared:
    """Settle each conflict of a plan: decide(change) -> True replaces the stored value, False keeps it."""
    from .changes.diff import resolve

    return replace(prepared, plan=resolve(prepared.plan, decide))


def apply(prepared: Prepared, *, command: str = "python") -> ApplyResult:
    """Write a plan through the one write path: journal first, one transaction, verified after.

    Raises PlanConflict (nothing written) while the plan holds conflicts; `command`
    is recorded in the undo journal.
    """
    from .changes.diff import refuse_conflicts

    refuse_conflicts(prepared.plan)
    return execute(prepared, command=command)


def _written(prepared: Prepared, *, dry_run: bool, command: str, warnings: Iterable[str] = ()) -> Written:
    from .render import plan_json

    applied = None if dry_run else apply(prepared, command=command)
    doc = {**source_info(prepared.inst), "dry_run": dry_run, "plan": plan_json(prepared.plan),
           "applied": bool(applied and applied.rows), "journal": applied.journal_id if applied else None,
           "warnings": [*warnings, *(applied.warnings if applied else ())]}  # fmt: skip
    return Written(doc, prepared=prepared, applied=applied, warnings=tuple(doc["warnings"]))


def plan_write(
    ctx: Context | None,
    build: Callable[[Profile], Mapping[str, Any]],
    *,
    force: bool = False,
    on_conflict: ConflictPolicy = "replace",
    selections: ConflictPolicy = "replace",
    key_storage: KeyStorage = "auto",
    notes: Callable[[Profile], Iterable[str]] | None = None,
    guard_endpoints: bool = True,
    supplied: Iterable[str] = (),
) -> tuple[Prepared, list[str]]:
    """(plan, warnings about key shapes) for fields `build(stored profile)` wants; likely mistakes (another
    provider's key, a provider on with no key) raise MistakeRefused unless force. `supplied`: key fields
    whose sources were not read (a dry run), which are not missing."""
    from .changes.wanted import format_warnings, hold_selections, mistakes
    from .errors import MistakeRefused

    # Model lists come in whole (already merged by `build`), so they are diffed with models="replace"
    # and the plan shows exactly the list change; selections follow their own policy.
    prep = prepare(
        _ctx(ctx), build, on_conflict=on_conflict, models="replace", key_storage=key_storage, notes=notes or (),
        guard_endpoints=guard_endpoints,
    )  # fmt: skip
    prep = replace(prep, plan=hold_selections(prep.plan, selections))
    found = [] if force else mistakes(prep.wanted, prep.profile, set(supplied))
    if found:
        raise MistakeRefused(f"{'; '.join(found)}. Nothing was written; pass --force to do it anyway")
    return prep, format_warnings(prep.wanted, prep.profile)


def plan_set_key(
    ctx: Context | None,
    provider: str,
    keys: Mapping[str, Any],
    *,
    settings: Mapping[str, Any] | None = None,
    enabled: bool | None = None,
    key_storage: KeyStorage = "auto",
    force: bool = False,
) -> tuple[Prepared, list[str]]:
    """Plan storing a provider's key(s) (field -> Secret, e.g. "openai.key", "bedrock.secret_key") and settings."""
    from .changes import wanted as onboard
    from .errors import InputError
    from .model import Secret

    provider = _provider(provider)
    foreign = sorted(set(keys) - set(onboard.KEY_FIELDS_OF[provider]))
    if foreign:
        raise InputError(
            f"{', '.join(foreign)}: not a key field of {provider} ({', '.join(onboard.KEY_FIELDS_OF[provider])})"
        )
    keys = {f: v if isinstance(v, Secret) else onboard.clean_key(v, f) for f, v in keys.items()}
    return plan_write(
        ctx, lambda _p: onboard.provider_fields(provider, dict(keys), dict(settings or {}), enabled),
        key_storage=key_storage, guard_endpoints=False, force=force,
    )  # fmt: skip


def set_key(
    ctx: Context | None,
    provider: str,
    key: str | None = None,
    *,
    secret_key: str | None = None,
    base_url: str | None = None,
    deployment: str | None = None,
    region: str | None = None,
    enabled: bool | None = None,
    key_storage: KeyStorage = "auto",
    force: bool = False,
    dry_run: bool = False,
) -> Written:
    """Store a provider's key and settings, as `cursor-byok set` does (Bedrock: key is the access key ID)."""
    from .changes import wanted as onboard

    provider = _provider(provider)
    keys: dict[str, Any] = {}
    if key is not None:
        name = registry()[provider].primary_key.name
        keys[f"{provider}.{name}"] = onboard.clean_key(key, f"{provider} key")
    if secret_key is not None:
        keys[f"{provider}.secret_key"] = onboard.clean_key(secret_key, f"{provider} secret key")
    settings = onboard.setting_options(provider, {"base_url": base_url, "deployment": deployment, "region": region})
    prepared, warnings = plan_set_key(
        ctx, provider, keys, settings=settings, enabled=enabled, key_storage=key_storage, force=force
    )
    return _written(prepared, dry_run=dry_run, command=f"set {provider}", warnings=warnings)


def plan_unset(ctx: Context | None, provider: str) -> Prepared:
    """Plan removing a provider's key(s) and switching it off."""
    from .changes import wanted as onboard

    provider = _provider(provider)

    return plan_write(ctx, lambda profile: onboard.unset_fields(provider, profile))[0]


def unset_key(ctx: Context | None, provider: str, *, dry_run: bool = False) -> Written:
    """Remove a provider's key(s) and switch it off, as `cursor-byok unset` does."""
    return _written(plan_unset(ctx, provider), dry_run=dry_run, command=f"unset {_provider(provider)}")


FailOn = Literal["info", "warning", "error", "none"]  # audit: the least severe finding that counts as a problem


def plan_models(
    ctx: Context | None,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    select: Mapping[str, str] | None = None,
    force: bool = False,
) -> Prepared:
    """Plan model-list changes and per-surface selections together: one plan, so one write and one journal.
    An unknown surface is refused (MistakeRefused) unless force."""
    from .changes import wanted as onboard
    from .errors import InputError

    lists = {op: onboard.check_models(names, f"models {op}") for op, names in
             (("add", add), ("remove", remove), ("enable", enable), ("disable", disable))}  # fmt: skip
    chosen = {onboard.check_name(s, "SURFACE"): onboard.check_models([m], "NAME")[0] for s, m in (select or {}).items()}
    if not any(lists.values()) and not chosen:
        raise InputError("models: nothing to change; give add, remove, enable, disable or select")

    def build(profile: Profile) -> dict[str, Any]:
        return {**onboard.model_ops(profile, **lists), **onboard.select_fields(chosen)}

    notes = (lambda profile: onboard.model_notes(profile, lists["remove"])) if lists["remove"] else None
    return plan_write(ctx, build, notes=notes, force=force)[0]


def models(
    ctx: Context | None = None,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    select: Mapping[str, str] | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Written:
    """Change model lists and selections as the `models` subcommands do, all in one write (one undo).
    models_listing() reads them."""
    planned = plan_models(ctx, add=add, remove=remove, enable=enable, disable=disable, select=select, force=force)
    words = [f"{op} {' '.join(n)}" for op, n in (("add", add), ("remove", remove), ("enable", enable),
             ("disable", disable)) if n] + [f"select {s} {m}" for s, m in (select or {}).items()]  # fmt: skip
    return _written(planned, dry_run=dry_run, command="models " + "; ".join(words))


def models_listing(ctx: Context | None = None) -> Result:
    """The model lists and per-surface selections (`models list`); reads no key, so asks no keyring."""
    from .cursor.rows import read_profile
    from .render import models_json

    ctx = _ctx(ctx)
    inst = ctx.installation()
    chosen = ctx.selected_profile(inst)
    profile = read_profile(read_merged_rows(inst.db_path, chosen.db if chosen else None))
    return Result({**source_info(inst), "models": models_json(profile)})


def plan_manifest(
    ctx: Context | None,
    manifest: Manifest,
    keys: Mapping[str, Any],
    *,
    on_conflict: ConflictPolicy = "fail",
    key_storage: KeyStorage = "auto",
    force: bool = False,
) -> tuple[Prepared, list[str]]:
    """Plan a team manifest with its keys already read (changes.manifest.resolve_keys reads them)."""
    from .changes import manifest as mf

    return plan_write(
        ctx, lambda profile: mf.wanted(manifest, keys, profile), on_conflict=on_conflict, selections=on_conflict,
        key_storage=key_storage, notes=lambda profile: mf.notes(manifest, profile), force=force,
        supplied=set(manifest.sources) - set(keys),
    )  # fmt: skip


def apply_manifest(
    ctx: Context | None,
    path: str | Path,
    *,
    on_conflict: ConflictPolicy = "fail",
    key_storage: KeyStorage = "auto",
    force: bool = False,
    dry_run: bool = False,
) -> Written:
    """Apply a team manifest (TOML). A dry run reads no key source and runs no command; a real run reads
    every source the manifest names (`cmd:` sources run, with a scrubbed environment)."""
    from .changes import manifest as mf

    loaded = mf.load(path)
    keys = {} if dry_run else mf.resolve_keys(loaded, prompt=None)
    prepared, _warnings = plan_manifest(
        ctx, loaded, keys, on_conflict=on_conflict, key_storage=key_storage, force=force
    )
    return _written(prepared, dry_run=dry_run, command=f"apply {path}")


def audit(
    ctx: Context | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    file_progress: Callable[[str, int, int], None] | None = None,
    fail_on: FailOn = "error",
) -> Report:
    """Stored keys, their protection, and old copies in files around the database."""
    from .checks.audit import document_reaches
    from .checks.surroundings import audit_document

    doc = audit_document(_ctx(ctx), progress=progress, file_progress=file_progress)
    problems = fail_on != "none" and document_reaches(doc, fail_on)
    return Report(doc, problems=problems, findings=tuple(doc.get("findings", ())))


def doctor(
    ctx: Context | None = None,
    *,
    online: bool = False,
    azure_api_version: str | None = None,
    provider_urls: Mapping[str, str] | None = None,
) -> Report:
    """Likely causes of Cursor's BYOK errors. online: ask each switched-on provider whether its key is
    accepted (free calls, each key only to its own provider's host); provider_urls is for tests."""
    from .checks import doctor as checks

    extra: dict[str, Any] = {"provider_urls": provider_urls} if provider_urls is not None else {}
    version = checks.AZURE_API_VERSION if azure_api_version is None else azure_api_version
    doc = checks.document(_ctx(ctx), online=online, azure_api_version=version, **extra)
    return Report(doc, problems=checks.has_problems(doc), findings=tuple(doc.get("checks", ())))
