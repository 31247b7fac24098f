"""Tables for people and JSON documents for scripts. Masking happens here.

A key is shown as its vendor prefix and last 4 characters plus a fingerprint;
its value appears only when the caller passes reveal=True.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Iterable, Mapping

from .briefs import brief, plain
from .changes.outcome import list_delta, summary, value_json
from .changes.undo import UndoResult
from .model import Change, Plan
from .providers import registry

# --- human tables ----------------------------------------------------------------


def table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None) -> str:
    """A plain left-aligned table with two spaces between columns."""
    cells = [["" if c is None else str(c).replace("\n", "\\n") for c in r] for r in rows]  # one line per row
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


def use_width(columns: int | None) -> None:
    """The width tables and notes fit (None: they do not wrap); the CLI sets its terminal's."""
    global TERMINAL_WIDTH
    TERMINAL_WIDTH = columns


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
    glued = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(glued, room, break_on_hyphens=False, break_long_words=False) or [""]
    return [line.replace("\0", " ") for line in lines]


def _key_cell(doc: dict[str, Any] | None) -> tuple[str, str, str]:
    if not doc:
        return "-", "", ""
    if doc.get("fingerprint") is None:
        return "(cannot decrypt)", "", "undecryptable (note below)"
    shown = doc["masked"]  # a revealed value is printed whole below the table (revealed_keys)
    note = doc["storage"] + ("" if doc["format"] == "ok" else f", format {doc['format']}")
    return shown, doc["fingerprint"], note


def profile_text(doc: dict[str, Any], *, verbose: bool = False, where: str | None = None) -> str:
    """The human form of a `list --json` document: the providers' table (settings stacked under each row when the
    terminal is too narrow for them), the models, and the notes, one line per kind unless `verbose`. `where`:
    the command that says which safe storage the stored keys need (the action for keys that cannot be
    decrypted)."""
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
    out = [_provider_table(rows)]
    out += revealed_keys(doc)
    m = doc.get("models")
    out.append("")
    out.append("models" if m is not None else "models: not in bundle")
    if m is not None:
        out.append(table(_model_rows(m)))
    out += note_lines(doc.get("notes", []), verbose=verbose, where=where)
    if "cursor" in doc:
        out.append(f"cursor: {cursor_facts_text(doc['cursor'])}")
    if len(doc.get("profiles", ())) > 1:
        out.append(f"profile: {doc['profile']} (profiles: {', '.join(doc['profiles'])})")
    return "\n".join(out)


def _stacked(rows: list[list[str]], *, indent: int, header: list[str] | None = None) -> str:
    """A table whose last column, on a terminal too narrow for it, goes on lines of its own under its row,
    `indent` columns in, wrapped (a narrow column wrapped beside the others reads badly)."""
    every = [*([header] if header else []), *rows]
    natural = max(len("  ".join(r).rstrip()) for r in every) if every else 0  # a lower bound of the unwrapped width
    if not TERMINAL_WIDTH or natural <= TERMINAL_WIDTH:
        return table(rows, header)
    if header is not None:
        rows = [[*header[:-1], ""], *rows]
    cells = [r[:-1] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    out = []
    for r, whole in zip(cells, rows, strict=True):
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if whole[-1]:
            out += _para(whole[-1], " " * indent)
    return "\n".join(out)


def wrapped(text: str) -> str:
    """One message wrapped to the terminal (when there is one); `quoted commands` stay whole."""
    return "\n".join(_para(text, ""))


PROVIDER_HEADER = ["provider", "on", "key", "fingerprint", "storage", "settings"]


def _provider_table(rows: list[list[str]]) -> str:
    """The providers' table; on a terminal too narrow for it, each row's settings go on lines of their own under
    its key (as gh stacks what does not fit), so no line wraps back to column 0 and reads as a new row."""
    wide = table(rows, PROVIDER_HEADER)
    if not TERMINAL_WIDTH or all(len(line) <= TERMINAL_WIDTH for line in wide.splitlines()):
        return wide
    cells = [PROVIDER_HEADER[:5], *(r[:5] for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(5)]
    indent = " " * (widths[0] + widths[1] + 4)  # under the key column
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n and rows[n - 1][5]:
            out += _para(rows[n - 1][5], indent)
    return "\n".join(out)


def note_lines(notes: list[str], *, verbose: bool = False, where: str | None = None) -> list[str]:
    """`note: ...` lines wrapped to the terminal, continuation lines indented: every note in full with `verbose`,
    else one line per kind of note in plain words (briefs.brief)."""
    shown = notes if verbose else brief(notes, where=where)
    out = []
    for note in shown:
        first, *rest = _para(f"note: {note}", "")
        out += [first, *(f"  {line}" for line in _rewrap(rest))]
    return out


def _rewrap(lines: list[str]) -> list[str]:
    """Continuation lines of a note, wrapped again two columns narrower for their indent."""
    if not TERMINAL_WIDTH or not lines:
        return lines
    return _wrap(" ".join(lines), max(TERMINAL_WIDTH - 2, 20))


def revealed_keys(doc: dict[str, Any]) -> list[str]:
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


def where_text(docs: list[dict[str, Any]]) -> str:
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
            ("stored keys need", ", ".join(dict.fromkeys(d.get("rows_need", {}).values())) or "-"),
            ("undo journals", _journals_text(d.get("undo_journals"))),
        ]
        if len(docs) > 1:
            used = "yes (the first found)" if d.get("used") else "no: pass --user-data-dir"
            lines.insert(0, ("used by commands", used))
        blocks.append(table(lines))
    return "\n\n".join(blocks)


def _journals_text(place: dict[str, Any] | None) -> str:
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


def plan_text(plan: Plan, *, show_unchanged: bool = False, verbose: bool = False) -> str:
    rows = []
    for c in plan.changes:
        if c.action == "unchanged" and not show_unchanged:
            continue
        old_new = _old_new(c)
        rows.append([SIGNS[c.action], c.field, c.action, old_new, c.note or ""])
    s = summary(plan)
    tail = ", ".join(f"{n} {k}" for k, n in s.items() if n)
    text = _stacked(rows, indent=3) if rows else "no changes"
    notes = "".join(f"\n{line}" for line in note_lines(list(plan.notes), verbose=verbose))
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
    for r in result.restores:
        lines.append(f"~ {r.field}: {restored_words(r.now, r.restored, r.added, r.removed)}")
        lines += [f"  Cursor would send {r.sends}"] if r.sends else []
    lines += [f"! {c}" for c in result.conflicts]
    if not result.restores:
        lines.append("nothing to restore: every row and field already holds its old value")
    return "\n".join(lines)


def restored_words(now: str, restored: str, added: Any, removed: Any) -> str:
    """`now → restored`, or for a model list the names it adds and removes: `+ m, - n`."""
    if added is not None:
        return ", ".join([*(f"+ {m}" for m in added), *(f"- {m}" for m in removed or ())])
    return f"{now} → {restored}"


def doctor_rows(checks: list[dict[str, Any]]) -> list[list[str]]:
    """One table row per check; a check that needs action has its "what to do" on the line below its detail."""
    from .checks import doctor  # doctor and its rate-limit parser load only when a doctor table is drawn

    rows = []
    for c in checks:
        rows.append([c["provider"], c["symptom"], c["verdict"], c["detail"]])
        if c["verdict"] != doctor.OK and c["fix"]:
            rows.append(["", "", "", f"what to do: {c['fix']}"])
    return rows


def doctor_text(doc: dict[str, Any], *, show_all: bool = False, more: str | None = None, verbose: bool = False) -> str:
    """The human form of a `doctor --json` document: what needs attention first, then notes that concern this
    machine, then a count of the rest; `show_all` (doctor --all): every check in one table, and the costs.
    `more`: the command that shows the rest (`cursor-byok ... doctor --all`)."""
    if show_all:
        return _doctor_table(doc)
    checks = doc["checks"]
    likely = [c for c in checks if c["verdict"] == "likely"]
    notes = [c for c in checks if c["verdict"] == "note" and c["symptom"] not in BACKGROUND]
    if any(c["symptom"] == UNREADABLE for c in likely):  # it says why no key can be checked, once
        notes = [c for c in notes if not c["detail"].startswith(CANNOT_CHECK)]
    lines = [f"database: {doc['db']}"]
    for group in _same_advice([*likely, *notes]):
        lines += ["", *_check_block(group, verbose)]
    lines += _online_blocks(doc["online"])
    hidden = len(checks) - len(likely) - len(notes)
    lines += ["", _doctor_summary(doc["summary"])]
    if hidden:
        rest = f"{hidden} more check(s) (ok, or general notes on rate limits and speed), and the billing pages"
        lines += _para(f"{rest}: `{more or 'cursor-byok doctor --all'}` shows them", "")
    return "\n".join(lines)


# Doctor's notes that say how BYOK works in general, true on every machine: shown by --all.
BACKGROUND = ("429 Too Many Requests", "slow responses", "Tab and Apply")


def _para(text: str, indent: str = "  ") -> list[str]:
    """`text` wrapped to the terminal (when there is one) under `indent`; `quoted commands` stay whole."""
    if not TERMINAL_WIDTH:
        return [indent + text]
    return [indent + line for line in _wrap(text, max(TERMINAL_WIDTH - len(indent), 20))]


UNREADABLE = "keys unreadable here"  # checks.reports: keys made on another OS
CANNOT_CHECK = "cannot check "


def _same_advice(checks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Checks of one symptom and verdict whose advice is the same, as one group (five "cannot check" notes
    with one fix are one block), in the order of their first."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for c in checks:
        key = (c["symptom"], c["verdict"], c["fix"]) if c["fix"] else (c["symptom"], c["verdict"], str(id(c)))
        groups.setdefault(key, []).append(c)
    return list(groups.values())


def _check_block(group: list[dict[str, Any]], verbose: bool = False) -> list[str]:
    c = group[0]
    sign = "!" if c["verdict"] == "likely" else "*"
    what = "likely cause" if c["verdict"] == "likely" else "note"
    providers = ", ".join(dict.fromkeys(g["provider"] for g in group))
    details = list(dict.fromkeys(g["detail"] if verbose else plain_words(g["detail"]) for g in group))
    out = [f"{sign} {providers}: {c['symptom']} ({what})", *_para("; ".join(details))]
    return out + (_para(f"what to do: {c['fix']}") if c["fix"] else [])


def plain_words(text: str) -> str:
    return plain(text)


def _online_blocks(online: list[dict[str, Any]] | None) -> list[str]:
    if online is None:
        return []
    out = ["", "online key checks" if online else "online key checks: no keys to check"]
    order = {"invalid": 0, "refused": 1, "rate-limited": 2, "unknown": 3, "verified": 4}
    for v in sorted(online, key=lambda v: order.get(v["status"], 3)):
        sign = "!" if order.get(v["status"], 3) < 3 else "="
        out.append(f"{sign} {v['field']}: {v['status']} (sent to {v['host'] or 'nowhere'})")
        out += _para(plain_words(v["reason"]))
    return out


def _doctor_summary(s: dict[str, Any]) -> str:
    counts = (("likely", "likely cause(s)"), ("invalid", "invalid key(s)"), ("rate_limited", "rate-limited"),
              ("refused", "refused setting(s)"))  # fmt: skip
    found = ", ".join(f"{s[k]} {words}" for k, words in counts if s[k])
    return f"({found})" if found else "nothing needs attention"


def _doctor_table(doc: dict[str, Any]) -> str:
    """doctor --all: every check, one table row each, "what to do" under the row; the costs; the online checks."""
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
    lines += ["", _doctor_summary(doc["summary"])]
    return "\n".join(lines)


def audit_text(doc: dict[str, Any]) -> str:
    """The human form of an `audit --json` document: a table, what to do, a count."""
    lines = [f"database: {doc['db']}"]
    if not doc["findings"]:
        return "\n".join([*lines, "no findings"])
    rows = [[f["severity"], f["code"], f["subject"], f["message"]] for f in doc["findings"]]
    lines.append(_stacked(rows, indent=2, header=["severity", "code", "subject", "finding"]))
    lines.append("")
    lines.append("what to do")
    fixes = {(f["code"], f["fix"]): None for f in doc["findings"]}  # a code whose advice differs case by case
    lines.append(table([[code, fix] for code, fix in fixes]))
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
