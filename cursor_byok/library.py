"""The library's front door: what each command does, without any click.

`Context` holds the choices a user makes before a command (which database,
which safe storage). Each function here calls down into locate, store,
keyring and profile, and returns plain data for render.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .cursor import paths as locate
from .model import Profile, is_key_field
from .safestorage import backends as keyring
from .safestorage.backends import SafeStorage, SafeStorageConfig


@dataclass
class Context:
    """Which Cursor and which safe storage a command works with."""

    db: str | None = None
    user_data_dir: str | None = None
    safe_storage: SafeStorageConfig = field(default_factory=SafeStorageConfig)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    profile: str | None = None  # a profile's name or location; None: the default profile

    def installation(self) -> locate.Installation:
        return locate.resolve(db=self.db, user_data_dir=self.user_data_dir, env=self.env, platform=self.platform)

    def selected_profile(self, inst: locate.Installation) -> locate.UserProfile | None:
        return locate.select_profile(inst, self.profile)

    def storage_for(self, inst: locate.Installation) -> SafeStorage:
        return SafeStorage(self.safe_storage, local_state=inst.local_state, env=self.env, platform=self.platform)


def read_rows(db_path: Path) -> dict[str, Any]:
    """The BYOK rows of a database, read-only, in one short read transaction."""
    from .cursor.rows import ROW_KEYS, ROW_PREFIXES
    from .cursor.store import Store

    with Store(db_path) as st:
        return st.get_items(ROW_KEYS, ROW_PREFIXES)


def read_merged_rows(db_path: Path, blob_db: Path | None = None) -> dict[str, Any]:
    """The BYOK rows: key rows from the default database, the settings blob from a profile's when given."""
    from .cursor.rows import BLOB_KEY

    rows = read_rows(db_path)
    if blob_db is not None:
        rows.pop(BLOB_KEY, None)
        rows.update({k: v for k, v in read_rows(blob_db).items() if k == BLOB_KEY})
    return rows


def load_profile(
    inst: locate.Installation, storage: SafeStorage, blob_db: Path | None = None
) -> tuple[Profile, dict[str, Any]]:
    """The installation's Profile and the raw rows it came from (a profile's settings blob when given)."""
    from .cursor.rows import read_profile

    rows = read_merged_rows(inst.db_path, blob_db)
    return read_profile(rows, storage), rows


def load_chosen(ctx: Context):
    """(installation, chosen profile or None, Profile, rows): the keys, and the chosen profile's settings blob."""
    inst = ctx.installation()
    chosen = ctx.selected_profile(inst)
    profile, rows = load_profile(inst, ctx.storage_for(inst), chosen.db if chosen else None)
    return inst, chosen, profile, rows


def source_info(inst: locate.Installation) -> dict[str, Any]:
    return {"db": str(inst.db_path), "user_data_dir": str(inst.user_data_dir) if inst.user_data_dir else None}


def cursor_facts(inst: locate.Installation, rows: Mapping[str, Any]):
    """The version Cursor recorded and whether it makes state.vscdb.backup."""
    from .cursor.versions import cursor_facts as facts

    return facts(rows, Path(f"{inst.db_path}.backup").is_file())


def vanished_keys(inst: locate.Installation, rows: Mapping[str, Any]) -> dict[str, str]:
    """Row -> note, for secret:// key rows this tool wrote that are gone now (Cursor deletes what it cannot decrypt)."""
    from .changes import journal
    from .cursor.rows import SECRET_PREFIX
    from .errors import ByokError

    notes = {}
    try:
        written = journal.last_written(inst.db_path, SECRET_PREFIX)
    except ByokError:  # a journal folder the tool refuses: undo and writes say so; a read goes on
        return {}
    for key, entry in sorted(written.items()):
        if key not in rows:
            notes[key] = (
                f"{key}, written by cursor-byok on {entry.created} ({entry.command}), is gone: Cursor deletes a "
                "secret:// row it cannot decrypt, so unless you removed it since (in Cursor's settings, or with "
                "a write whose journal you purged), it was most likely encrypted with a secret this Cursor does "
                "not use. Check the backend `cursor-byok where` "
                "reports against the one Cursor uses (argv.json password-store, desktop), then import or set the "
                "key again with the matching --safe-storage"
            )
    return notes


def list_document(ctx: Context, *, reveal: bool = False) -> dict:
    """The `list --json` document for the chosen installation and profile."""
    from .render import profile_json

    inst, chosen, profile, rows = load_chosen(ctx)
    doc = profile_json(profile, source=source_info(inst), reveal=reveal)
    doc["notes"] += vanished_keys(inst, rows).values()
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


ROW_BACKENDS = {
    ("linux", "v10"): "basic",
    ("linux", "v11"): "a keyring: secret-service or kwallet",
    ("macos", "v10"): "keychain",
    ("windows", "v10"): "dpapi",
}


def backends_needed(rows: Mapping[str, Any], scheme: str) -> dict[str, str]:
    """Ciphertext prefix of the stored secret:// rows -> the backend that decrypts them (as `list` uses it)."""
    from .changes.write import stored_prefixes

    return {
        p.decode(errors="replace"): ROW_BACKENDS.get((scheme, p.decode(errors="replace")), "unknown")
        for p in sorted(stored_prefixes(rows))
    }


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


def open_bundle(data: bytes, *, passphrases=(), identity_files=(), ask=None) -> dict:
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
    rows: dict[str, Any]
    plan: Any
    key_form: str
    wanted: Mapping[str, Any] = field(default_factory=dict)
    ask: bool = False  # resolve conflicts by asking (a terminal is there)
    user_profile: locate.UserProfile | None = None  # whose settings blob is written; None: the default one
    other_profiles: tuple[str, ...] = ()  # names of profiles a write without --profile leaves alone


def prepare(
    ctx: Context,
    wanted: Mapping[str, Any] | Callable[[Profile], Mapping[str, Any]],
    *,
    on_conflict: str = "fail",
    models: str = "union",
    key_storage: str = "auto",
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

    inst, chosen, profile, rows = load_chosen(ctx)
    storage = ctx.storage_for(inst)
    wanted = dict(wanted(profile) if callable(wanted) else wanted)
    notes = tuple(notes(profile) if callable(notes) else notes)
    check_new_endpoints(wanted, profile)
    key_form = planning.choose_key_form(profile, key_storage)
    wanted, dropped = planning.drop_homeless_extras(rows, wanted, key_form, profile.cursor_version)
    the_plan = planning.diff(
        profile,
        wanted,
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
        inst, storage, profile, rows, the_plan, key_form, wanted, user_profile=chosen, other_profiles=others
    )


def check_new_endpoints(wanted: Mapping[str, Any], profile: Profile) -> None:
    """Every endpoint setting that would change passes the checks of `set` (InputError, exit 15, nothing written).

    Base URLs pass urls.check; an Azure deployment must be a plain name and a
    Bedrock region look like one, whether they come from a bundle, a manifest or `set`.
    """
    from .changes import wanted as onboard
    from .cursor import urls

    checks = {name: urls.check for name in urls.URL_FIELDS}
    checks.update({"azure.deployment": onboard.check_name, "bedrock.region": onboard.check_region})
    for name, check in checks.items():
        value = wanted.get(name)
        if value is not None and value != profile.get(name):
            check(value, name)


def plan_warnings(plan) -> list[str]:
    """Warnings about a plan's new values: base URLs Cursor's servers cannot reach."""
    from .cursor import urls

    found = (urls.unreachable_warning(c.field, c.new) for c in plan.effective if c.field in urls.URL_FIELDS and c.new)
    return [w for w in found if w]


def execute(prep: Prepared, *, command: str):
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


def undo(ctx: Context, journal_id: str | None = None, *, force: bool = False):
    """Restore the rows and settings fields of a journal: the given one, or the newest write not undone yet,
    so each `undo` goes one step further back (changes/history.py). Returns (the journal restored, the result).

    Without an ID, a write whose rows all still hold their old values is
    passed over: it never landed (the process was killed between the journal
    and the commit), so undoing it would change nothing and would hide the
    write before it.
    """
    plan = undo_plan(ctx, journal_id)
    return plan.entry, apply_undo(plan, force=force)


def redo(ctx: Context, *, force: bool = False):
    """Re-apply the write the newest undo restored, by undoing that undo's journal."""
    plan = undo_plan(ctx, redo=True)
    return plan.entry, apply_undo(plan, force=force)


@dataclass
class UndoPlan:
    """What an undo (or redo) would write: the journal it restores, each field in words, conflicts in words."""

    inst: locate.Installation
    entry: Any  # the journal restored
    rows: dict[str, Any]
    writes: list
    restores: list[dict]  # {"field", "now", "restored"} (model lists: "added", "removed" too), keys masked
    conflicts: list[str]
    redoes: Any = None  # for redo: the write that comes back (the journal the restored undo undid)

    @property
    def redo(self) -> bool:
        return self.redoes is not None

    def to_json(self) -> dict:
        return {
            "undone": self.entry.id,
            "command": self.entry.command,
            "redo": self.redo,
            "redoes": {"id": self.redoes.id, "command": self.redoes.command} if self.redo else None,
            "restores": self.restores,
            "conflicts": self.conflicts,
        }


def undo_plan(ctx: Context, journal_id: str | None = None, *, redo: bool = False) -> UndoPlan:
    """The plan of `undo [ID]` (or of `redo`), written nowhere."""
    inst = undo_target(ctx)
    entry, rows, redoes = _journal_to_redo(inst) if redo else (*_journal_to_undo(inst, journal_id), None)
    writes = _restoring_writes(entry, rows)
    restores = _restores_in_words(entry, rows, writes)
    return UndoPlan(inst, entry, rows, writes, restores, _changed_since(entry, rows), redoes)


def apply_undo(plan: UndoPlan, *, force: bool = False):
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
        raise NothingToUndo(f"no {what}; `cursor-byok undo --list` shows what can be undone")
    journal.usable(found[0])  # the newest (or the chosen) must be sound before anything else
    rows = _journaled_rows(inst, found)
    if journal_id:
        return found[0], rows
    candidates = _history(found, rows).undo_candidates()
    if not candidates:
        raise NothingToUndo(
            f"nothing left to undo: all {len(found)} journal(s) of this database are undone or undos; "
            "`cursor-byok redo` re-applies the newest undone write, `cursor-byok undo --list` lists them"
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
            "`cursor-byok undo --list` lists the journals, and `cursor-byok undo ID` restores any of them"
        )
    if entry is None:
        raise NothingToUndo("nothing to redo: no undone write for this database; `cursor-byok undo --list` lists them")
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

GET_FIELDS = {"bedrock": ("access_key", "secret_key")}


def get_key(ctx: Context, provider: str, field_name: str | None = None) -> str:
    """The plain value of one stored key: exit 18 when none is stored, 7 when it cannot be decrypted here."""
    from .errors import InputError, KeyNotStored, SafeStorageUnavailable
    from .model import PROVIDER_LAYOUT, StoredKey

    choices = GET_FIELDS.get(provider, ("key",))
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
