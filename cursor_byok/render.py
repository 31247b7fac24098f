"""Tables for people and JSON documents for scripts. Masking happens here.

A key is shown as its vendor prefix and last 4 characters plus a fingerprint;
its value appears only when the caller passes reveal=True.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .changes.outcome import list_delta, summary, value_json
from .changes.undo import UndoResult
from .model import Change, Plan
from .providers import registry

# --- human tables ----------------------------------------------------------------


def table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None) -> str:
    """A plain left-aligned table with two spaces between columns."""
    cells = [["" if c is None else str(c) for c in r] for r in rows]
    if header is not None:
        cells.insert(0, list(header))
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(map(len, cells)))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    if TERMINAL_WIDTH and len(widths) > 1 and max(map(len, lines)) > TERMINAL_WIDTH:
        return _wrapped(cells, widths, TERMINAL_WIDTH)
    return "\n".join(lines)


TERMINAL_WIDTH: int | None = None  # set by the CLI when stdout is a terminal: tables then fit it


def _wrapped(rows: list[list[str]], widths: list[int], width: int) -> str:
    """The table with its last column wrapped to fit `width`, continuation lines indented under that column."""
    lead = sum(widths[:-1]) + 2 * (len(widths) - 1)
    room = max(width - lead, 20)
    out = []
    for r in rows:
        head = "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1]))
        last = r[-1] if len(r) == len(widths) else ""
        if len(r) < len(widths):
            head = "  ".join(c.ljust(widths[i]) for i, c in enumerate(r))
        parts = _wrap(last, room)
        out.append(f"{head}  {parts[0]}".rstrip() if len(r) == len(widths) else head.rstrip())
        out += [" " * lead + p for p in parts[1:]]
    return "\n".join(out)


def _wrap(text: str, room: int) -> list[str]:
    """`text` in lines of at most `room` characters; a `quoted command` is never split, so it pastes whole."""
    import re
    import textwrap

    glued = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(glued, room, break_on_hyphens=False, break_long_words=False) or [""]
    return [line.replace("\0", " ") for line in lines]


def _key_cell(doc: dict | None) -> tuple[str, str, str]:
    if not doc:
        return "-", "", ""
    if doc.get("fingerprint") is None:
        return "(cannot decrypt)", "", "undecryptable (see the note below)"
    shown = doc["masked"]  # a revealed value is printed whole below the table (revealed_keys)
    note = doc["storage"] + ("" if doc["format"] == "ok" else f", format {doc['format']}")
    return shown, doc["fingerprint"], note


def profile_text(doc: dict) -> str:
    """The human form of a `list --json` document."""
    rows = []
    in_bundle = "bundle" in doc  # a bundle: what it does not hold is "not in bundle", not off or empty
    reg = registry()
    names = [*reg.names, *(n for n in doc["providers"] if n not in reg)]
    setting_names = {s.name for p in reg for s in p.settings}
    for name in names:
        if name not in doc["providers"]:
            if in_bundle:
                rows.append([name, "", "not in bundle", "", "", ""])
            continue
        p, record = doc["providers"][name], reg.get(name)
        settings = [f"{k}={v}" for k, v in p.items() if k in setting_names and v]
        if p.get("iam_role"):
            settings.append("IAM role")
        keys = [(k, p[k]) for k in reg.key_names if k in p]
        if not keys:  # a bundle with this provider's settings and no key (--no-keys, or none was stored)
            on = {True: "on", False: "off"}.get(p.get("enabled"), "-")
            rows.append([name, on, "no key in bundle" if in_bundle else "-", "", "", " ".join(settings)])
        for i, (kname, kdoc) in enumerate(keys):
            shown, fp, note = _key_cell(kdoc)
            label = name if i == 0 else ""
            on = ({True: "on", False: "off"}.get(p.get("enabled"), "-")) if i == 0 else ""
            if kname != "key":
                shown = f"{kname}: {shown}"
            rows.append([label, on, shown, fp, note, " ".join(settings) if i == 0 else ""])
            if record and kname == record.settable_keys[-1].name:
                break  # keys carried along with the others (a session token) are not shown here
    for extra in doc.get("extra_secrets", []):
        shown, fp, note = _key_cell(extra["key"])
        rows.append([extra["name"].rsplit("/", 1)[-1], "", shown, fp, note, "(unknown provider key)"])
    out = [table(rows, ["provider", "on", "key", "fingerprint", "storage", "settings"])]
    out += revealed_keys(doc)
    m = doc.get("models")
    out.append("")
    out.append("models" if m is not None else "models: not in bundle")
    if m is not None:
        out.append(table(_model_rows(m)))
    for note in doc.get("notes", []):
        out.append(f"note: {note}")
    if "cursor" in doc:
        out.append(f"cursor: {cursor_facts_text(doc['cursor'])}")
    if len(doc.get("profiles", ())) > 1:
        out.append(f"profile: {doc['profile']} (profiles: {', '.join(doc['profiles'])})")
    return "\n".join(out)


def revealed_keys(doc: dict) -> list[str]:
    """`list --reveal`: each key value alone on its line, under a line naming it, so it copies whole at any width."""
    found = [
        (f"{name}.{kname}", p[kname])
        for name, p in doc["providers"].items()
        for kname in registry().key_names
        if isinstance(p.get(kname), dict)
    ]
    found += [(extra["name"].rsplit("/", 1)[-1], extra["key"]) for extra in doc.get("extra_secrets", [])]
    lines = [f"{label} ({key['fingerprint']}):\n{key['value']}" for label, key in found if key.get("value")]
    return ["", "keys (revealed, each on its own line):", *lines] if lines else []


def _model_rows(m: Mapping[str, Any]) -> list[list[str]]:
    """Model list rows; a list the document does not hold (a bundle's) reads "not in bundle"."""
    rows = [
        [label, ", ".join(m[key]) or "-" if key in m else "not in bundle"]
        for label, key in (("user added", "user_added"), ("enabled", "enabled"), ("disabled", "disabled"))
    ]
    selected = m.get("selected")
    rows.append(
        [
            "selected",
            ", ".join(f"{s}={n}" for s, n in selected.items()) or "-" if selected is not None else "not in bundle",
        ]
    )
    return rows


def cursor_facts_text(facts: Mapping[str, Any]) -> str:
    """ "3.7.42, backups off": the version Cursor recorded and whether it makes state.vscdb.backup."""
    version = facts.get("version") or "version not recorded"
    if facts.get("version_source") == "product.json":
        version += (
            f" (from the installed app's {facts.get('version_file') or 'product.json'}: the database records none)"
        )
    backups: dict[bool | None, str] = {True: "makes state.vscdb.backup", False: "backups off (no state.vscdb.backup)"}
    return f"{version}, {backups.get(facts.get('backups'), 'backups unknown')}"


def where_text(docs: list[dict]) -> str:
    blocks = []
    for d in docs:
        running = d["cursor_running"]
        lines = [
            ("user-data dir", d["user_data_dir"] or "-"),
            ("database", d["db"]),
            ("found via", d["source"]),
            ("size", _size(d["size"]) if d["size"] is not None else "missing"),
            ("journal mode", d.get("journal_mode") or "-"),
            ("Cursor", cursor_facts_text(d.get("cursor") or {})),
            ("profiles", ", ".join(p["name"] for p in d.get("profiles", ())) or "-"),
            ("Local State", "present" if d["local_state"] else "absent"),
            ("Cursor running", f"yes (pid {running['pid']}, {running['how']})" if running else "no"),
            (
                "safe storage",
                f"{d['safe_storage']['backend']} ({d['safe_storage']['scheme']} scheme): {d['safe_storage']['status']}",
            ),
            ("chosen by", d["safe_storage"].get("chosen_by") or "-"),
            ("stored rows need", ", ".join(f"{p} ({b})" for p, b in d.get("rows_need", {}).items()) or "-"),
            ("undo journals", _journals_text(d.get("undo_journals"))),
        ]
        if len(docs) > 1:
            used = "yes (the first found)" if d.get("used") else "no: pass --user-data-dir"
            lines.insert(0, ("used by commands", used))
        blocks.append(table(lines))
    return "\n\n".join(blocks)


def _journals_text(place: dict | None) -> str:
    if not place:
        return "-"
    count = "" if place["count"] is None else f" ({place['count']} for this database)"
    return f"{place['folder']}{count}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# --- plans -----------------------------------------------------------------------


def _short(value: Any) -> str:
    v = value_json(value)
    if isinstance(v, dict) and "masked" in v:
        return f"{v['masked']} ({v['fingerprint']})" if v["fingerprint"] else "(cannot decrypt)"
    if isinstance(v, list):
        return "[" + ", ".join(v) + "]"
    if v is None:
        return "-"
    return str(v).lower() if isinstance(v, bool) else str(v)


SIGNS = {"add": "+", "replace": "~", "remove": "-", "conflict": "!", "kept": "*", "unchanged": "="}


def plan_text(plan: Plan, *, show_unchanged: bool = False) -> str:
    rows = []
    for c in plan.changes:
        if c.action == "unchanged" and not show_unchanged:
            continue
        old_new = _old_new(c)
        rows.append([SIGNS[c.action], c.field, c.action, old_new, c.note or ""])
    s = summary(plan)
    tail = ", ".join(f"{n} {k}" for k, n in s.items() if n)
    text = table(rows) if rows else "no changes"
    notes = "".join(f"\nnote: {n}" for n in plan.notes)
    return f"{text}\n({tail or 'nothing to do'}){notes}"


def _old_new(c: Change) -> str:
    """What a plan row shows: the new value, old -> new, or a model list's items as + m / - m."""
    delta = list_delta(c)
    if delta is not None:
        added, removed = delta
        return ", ".join([*(f"+ {m}" for m in added), *(f"- {m}" for m in removed)]) or _short(c.new)
    return _short(c.new) if c.action == "add" else f"{_short(c.old)} -> {_short(c.new)}"


def undo_plan_text(result: UndoResult) -> str:
    """An undo's plan in words: which journal, then each field as `name: now → restored` (keys masked)."""
    if result.redoes is not None:
        lines = [f"redo: re-apply {result.redoes.id} ({result.redoes.command}), undone by {result.undone}"]
    else:
        lines = [f"undo: restore {result.undone} ({result.command})"]
    lines += [f"~ {r.field}: {restored_words(r.now, r.restored, r.added, r.removed)}" for r in result.restores]
    lines += [f"! {c}" for c in result.conflicts]
    if not result.restores:
        lines.append("nothing to restore: every row and field already holds its old value")
    return "\n".join(lines)


def restored_words(now: str, restored: str, added: Any, removed: Any) -> str:
    """`now → restored`, or for a model list the names it adds and removes: `+ m, - n`."""
    if added is not None:
        return ", ".join([*(f"+ {m}" for m in added), *(f"- {m}" for m in removed or ())])
    return f"{now} → {restored}"


def doctor_rows(checks: list[dict]) -> list[list[str]]:
    """One table row per check; a check that needs action has its "what to do" on the line below its detail."""
    from .checks.doctor import OK as DOCTOR_OK

    rows = []
    for c in checks:
        rows.append([c["provider"], c["symptom"], c["verdict"], c["detail"]])
        if c["verdict"] != DOCTOR_OK and c["fix"]:
            rows.append(["", "", "", f"what to do: {c['fix']}"])
    return rows


def doctor_text(doc: dict) -> str:
    """The human form of a `doctor --json` document."""
    lines = [f"database: {doc['db']}", table(doctor_rows(doc["checks"]), ["provider", "symptom", "verdict", "detail"])]
    if doc["costs"]:
        checked = doc["costs"][0]["checked"]
        lines += ["", f"costs: BYOK is billed by each provider directly, not by Cursor (pages checked {checked})"]
        lines.append(
            table(
                [[c["provider"], c["usage"], c["spending_limit"]] for c in doc["costs"]],
                ["provider", "usage", "spending limit"],
            )
        )
    if doc["online"] is not None:
        online = [[v["provider"], v["field"], v["host"] or "-", v["status"], v["reason"]] for v in doc["online"]]
        header = ["provider", "key", "sent to", "status", "reason"]
        lines += ["", "online", table(online, header) if online else "no keys"]
    s = doc["summary"]
    lines += [
        "",
        f"({s['likely']} likely cause(s), {s['invalid']} invalid key(s), {s['rate_limited']} rate-limited, "
        f"{s['refused']} refused setting(s))",
    ]
    return "\n".join(lines)


def audit_text(doc: dict) -> str:
    """The human form of an `audit --json` document: a table, what to do, a count."""
    lines = [f"database: {doc['db']}"]
    if not doc["findings"]:
        return "\n".join([*lines, "no findings"])
    rows = [[f["severity"], f["code"], f["subject"], f["message"]] for f in doc["findings"]]
    lines.append(table(rows, ["severity", "code", "subject", "finding"]))
    lines.append("")
    lines.append("what to do")
    fixes = {f["code"]: f["fix"] for f in doc["findings"]}
    lines.append(table([[code, fix] for code, fix in fixes.items()]))
    counts = ", ".join(f"{s}: {n}" for s, n in doc["summary"].items() if n)
    lines.append("")
    lines.append(f"({counts})")
    return "\n".join(lines)


def report_text(doc: Mapping[str, Any]) -> str:
    """`report` as text: one fact a line, then the rows and fields cursor-byok does not know."""
    backend = doc["backend"]
    prefixes = ", ".join(backend["row_prefixes"]) or "no encrypted row"
    version = doc["version"] or "not recorded"
    source = f" (from the {doc['version_source']})" if doc["version_source"] else ""
    forms = ", ".join(f"{form}: {n}" for form, n in doc["key_forms"].items()) or "no key stored"
    lines = [
        f"cursor-byok report ({doc['tool']}): nothing below is a value",
        f"os: {doc['os']} {doc['machine']}",
        f"cursor: {doc['channel']} {version}{source}",
        f"journal mode: {doc['journal_mode'] or 'unknown'}",
        f"backups: {_BACKUPS.get(doc['backups'], 'unknown')}; side copies next to the database: {doc['side_copies']}",
        f"backend: {backend['name']} ({backend['scheme']}); chosen by {backend['chosen_by']}; rows: {prefixes}",
        f"keys: {forms}",
        f"profiles: {doc['profiles']}",
    ]
    if doc["ignored"]:
        lines.append(f"set but not read by Cursor: {', '.join(doc['ignored'])}")
    lines.append(f"unknown to cursor-byok: {len(doc['unknown']) or 'nothing'}")
    lines += [f"  {u['place']}: {u['name']} ({u['type']}, {u['size']} bytes)" for u in doc["unknown"]]
    others = ", ".join(f"{p} {n}" for p, n in doc["other_rows"].items())
    lines.append(f"other rows by prefix: {others or 'none'}")
    lines.append(f"other settings-blob fields: {doc['other_blob_fields']}")
    return "\n".join(lines)


_BACKUPS = {True: "Cursor makes state.vscdb.backup", False: "off (3.7 and later)"}
