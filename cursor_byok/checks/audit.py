"""Findings about stored keys and the files around them. Pure: no I/O.

`audit(profile, surroundings)` takes a Profile and what `scan.gather` read
from the files next to the database (backups, the -wal file, settings.json,
workspace databases) and returns Findings. A finding names a field or a file
and shows a key only masked, with its fingerprint.

Finding codes are short slugs, stable across releases; CODES lists them all.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from .. import key_shapes
from ..cursor import urls
from ..key_table import VENDOR_TITLES, known_vendor, scan_alternatives, scan_literals, trim_scanned
from ..model import PLAINTEXT, RAW, RAW_WORDS, SETTINGS_JSON, Profile, Secret, StoredKey, mask, provider_of
from ..providers import Provider, registry

INFO, WARNING, ERROR = "info", "warning", "error"
SEVERITIES = (INFO, WARNING, ERROR)
RANK = {s: i for i, s in enumerate(SEVERITIES)}

# code -> (severity, what to do). A few codes lower their severity case by case.
CODES: dict[str, tuple[str, str]] = {
    "key-plaintext": (
        WARNING,
        "re-save the key with a current Cursor (Settings > Models) so it is stored encrypted; "
        "keep state.vscdb and its backups private (chmod 600) and out of synced folders",
    ),
    "key-obfuscated": (
        WARNING,
        "run Cursor with a keyring (GNOME Keyring, KWallet) instead of --password-store=basic, then re-save the key",
    ),
    "password-store-basic": (
        WARNING,
        'remove "password-store": "basic" from ~/.cursor/argv.json once a keyring is available, then re-save keys',
    ),
    "key-undecryptable": (
        ERROR,
        "choose the safe storage that encrypted it (--safe-storage ...); if the database came from another "
        "machine, Cursor will delete this key: re-enter it",
    ),
    "key-raw-row": (
        ERROR,
        "stop the tool or extension that writes the key into that row (one rewrites it every 1.5 s while Cursor "
        "runs), quit Cursor, then run the command the message names: it re-encrypts the key the way this Cursor "
        "reads it, as a journaled write that undo takes back",
    ),
    "key-placeholder": (ERROR, "paste the real key from the provider's console"),
    "key-truncated": (ERROR, "the key was cut short while copying: paste it again in full"),
    "key-format": (WARNING, "check that this is the key of this provider; paste it again if unsure"),
    "key-wrong-slot": (ERROR, "move the key to the slot of the provider that issued it"),
    "key-unused": (INFO, "switch the provider on in Cursor Settings > Models, or remove the key if unneeded"),
    "key-missing": (WARNING, "enter the key in Cursor Settings > Models, or switch the provider off"),
    "bedrock-session-missing": (WARNING, "temporary (ASIA) AWS keys need their session token: add it, or use AKIA"),
    "azure-endpoint-missing": (ERROR, "set the Azure base URL to https://<resource>.openai.azure.com"),
    "azure-deployment-missing": (ERROR, "set the Azure deployment name (Azure portal > your resource > Deployments)"),
    "azure-endpoint-shape": (WARNING, "use the resource endpoint only: https://<resource>.openai.azure.com"),
    "azure-endpoint-nonstandard": (
        INFO,
        "fine if requests work; the usual form is https://<resource>.openai.azure.com",
    ),
    "openai-base-url": (INFO, "clear the override if you did not set it: it also redirects the OpenAI key"),
    "openai-base-url-http": (WARNING, "use https: over plain http the OpenAI key crosses the network readable"),
    "key-in-url": (
        WARNING,
        "remove the key from the base URL (Cursor Settings > Models) and put it in the provider's key field; "
        "revoke it if the settings were shared: URLs end up in logs",
    ),
    "base-url-local": (
        WARNING,
        "Cursor's servers make the BYOK requests and cannot reach this address: "
        "expose the server on a public https URL (a tunnel) or clear the override",
    ),
    "db-schema-foreign": (
        ERROR,
        "the database holds triggers, views or tables Cursor does not make, which could copy or change keys "
        "on every write; cursor-byok will not write to it: inspect it with sqlite3 (.schema) and drop them",
    ),
    "key-duplicate": (WARNING, "store each provider's own key in its slot"),
    "backup-old-key": (
        WARNING,
        "revoke the old key at its provider if it may have leaked; delete the copy once Cursor is closed",
    ),
    "backup-current-key": (INFO, "protect this copy like the database itself, or delete it while Cursor is closed"),
    "wal-key": (
        WARNING,
        "quit Cursor so SQLite checkpoints the -wal file; revoke the key at its provider if it may have leaked",
    ),
    "settings-file-key": (WARNING, "remove the key from User/settings.json and revoke it if the file was shared"),
    "workspace-key": (WARNING, "remove the key from that workspace's settings and revoke it if it was shared"),
    "azure-key-unseen": (
        WARNING,
        "this tool cannot read, export or check that key: after moving to a new machine, enter it again in "
        "Cursor Settings > Models",
    ),
    "journal-holds-key": (
        INFO,
        "once you no longer need to undo that write, delete the journal: cursor-byok undo --purge ID --yes",
    ),
    "file-unreadable": (INFO, "check the file's permissions, or delete it if it is an old copy"),
    "read-note": (INFO, "open Cursor once so it rewrites its settings, then audit again"),
}


def toggle_keys() -> dict[str, tuple[str, tuple[str, ...]]]:
    """provider -> (its toggle, the keys it needs when on), from the provider registry."""
    return {p.name: (p.enabled_field, p.settable_key_fields) for p in registry()}


def __getattr__(name: str) -> Any:
    """PROVIDER_NAMES and TOGGLE_KEYS: views of the current provider registry, never frozen at import."""
    if name == "PROVIDER_NAMES":
        return {**registry().titles, **VENDOR_TITLES}
    if name == "TOGGLE_KEYS":
        return toggle_keys()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Provider-key shapes to look for inside arbitrary bytes (the -wal file, settings,
# workspace rows). Azure keys (32 hex) and AWS secret keys (40 base64) are too
# generic to find without false alarms, so they are not searched for.
#
# Inside SQLite pages a value sits right after its row key ("cursorAuth/openAIKey"
# + "sk-...") and right before the next cell's binary header, which can be any
# byte. So a match may start after a non-key character or after "key"/"Key", and
# fixed-length shapes take no lookahead; variable-length ones keep one.
#
# The shapes come from the one table (cursor_byok/key_table.py): its distinct shapes,
# grouped by vendor, each variable-length one with the end guard the table gives it.
_SCAN = {vendor: alternatives.encode("ascii") for vendor, alternatives in scan_alternatives().items()}
SCAN_PATTERN = re.compile(
    rb"(?:(?<![A-Za-z0-9_+/-])|(?<=[Kk]ey))(?:"
    + b"|".join(rb"(?P<%s>%s)" % (k.encode(), v) for k, v in _SCAN.items())
    + rb")"
)
SCAN_OVERLAP = 512
# Bytes that, right before a key shape, mean it is part of a longer word (the
# pattern's negative look-behind), unless they end "key" or "Key".
_GLUED = bytes(1 if chr(b) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/-" else 0
               for b in range(256))  # fmt: skip
# The literal starts of the shapes in _SCAN, from the same table.
SCAN_LITERALS = tuple(literal.encode("ascii") for literal in scan_literals())
_LITERAL_SEARCH = tuple(re.compile(re.escape(literal)) for literal in SCAN_LITERALS)


@dataclass(frozen=True)
class Finding:
    """One thing worth telling: never a key value, only masked forms and fingerprints."""

    code: str
    severity: str
    subject: str
    message: str
    advice: str | None = None  # what to do, when it differs from the code's usual fix

    @property
    def fix(self) -> str:
        return self.advice or fix_for(self.code)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
        }


# Advice that differs on Windows, where chmod does not decide who reads a file.
WINDOWS_FIXES: dict[str, str] = {
    "key-plaintext": "re-save the key with a current Cursor (Settings > Models) so it is stored encrypted; "
    "keep state.vscdb and its backups inside your user profile (%APPDATA%, private to you) and out of synced folders",
}


# Cursor keeps some keys (Azure's, Bedrock's) only in its settings blob and never encrypts them: nothing to re-save.
SETTINGS_ONLY = (
    "nothing to re-save: Cursor keeps this key only in its settings, unencrypted; keep state.vscdb and its backups "
    "private and out of synced folders"
)


def fix_for(code: str, platform: str | None = None) -> str:
    """What to do about a finding, worded for this OS."""
    if (platform or sys.platform).startswith("win") and code in WINDOWS_FIXES:
        return WINDOWS_FIXES[code]
    return CODES[code][1]


def finding(code: str, subject: str, message: str, severity: str | None = None) -> Finding:
    return Finding(code, severity or CODES[code][0], subject, message)


# --- what scan.gather hands in --------------------------------------------------------


@dataclass(frozen=True)
class FoundKey:
    """A provider-key-shaped string found in a file; `where` is a row key, if any."""

    vendor: str
    secret: Secret
    where: str = ""


@dataclass(frozen=True)
class SideCopy:
    """A state.vscdb.backup or .corrupted.* file: its profile, or why it could not be read."""

    path: str
    profile: Profile | None
    error: str | None = None
    found: tuple[FoundKey, ...] = ()  # raw scan, when it could not be read as a database


@dataclass(frozen=True)
class FileScan:
    """Key-shaped strings found in one file. kind: "wal", "user-settings" or "workspace"."""

    path: str
    kind: str
    found: tuple[FoundKey, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Surroundings:
    """Everything around the database that the audit looks at."""

    password_store: str | None = None
    argv_json: str = "~/.cursor/argv.json"
    side_copies: tuple[SideCopy, ...] = ()
    scans: tuple[FileScan, ...] = ()
    foreign_schema: tuple[str, ...] = ()  # schema objects of the database that Cursor does not make
    journals: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (journal id, rows whose old value is a key)
    tool: str = "cursor-byok"  # this tool with the options that name the database, for commands to paste


def key_strings(
    data: bytes | bytearray, *, first: bool = True, last: bool = True, end: int | None = None
) -> list[tuple[str, str]]:
    """(vendor, value) of every provider-key-shaped string in `data[:end]` (bytes or bytearray).

    For a window of a longer file: `first=False` skips a match at offset 0 (the
    previous window, which overlaps this one, saw it whole) and `last=False`
    one that runs to the end (the next window sees it whole).

    Every shape begins with one of SCAN_LITERALS, so the fast `find` locates
    candidates and the full pattern runs only there: the pattern's leading
    look-behind would otherwise be tried at every byte. Candidates are taken in
    order and those inside an earlier match skipped, which finds exactly what
    `SCAN_PATTERN.finditer` finds.
    """
    end = len(data) if end is None else end
    out = []
    taken = 0  # end of the last match: finditer resumes there
    for pos in _candidates(data, end):
        if pos < taken or (pos and _GLUED[data[pos - 1]] and data[pos - 3 : pos] not in (b"key", b"Key")):
            continue  # inside the last match, or fails the pattern's look-behind (checked cheaply here)
        m = SCAN_PATTERN.match(data, pos, end)
        if m is None:
            continue
        taken = m.end()
        if (m.start() == 0 and not first) or (m.end() == end and not last):
            continue
        vendor = m.lastgroup or "unknown"
        out.append((vendor, trim_scanned(vendor, m.group(0).decode("ascii"))))
    return out


def _candidates(data: bytes | bytearray, end: int) -> list[int]:
    """Offsets in data[:end] where one of SCAN_LITERALS starts, in order."""
    hits: list[int] = []
    for literal in _LITERAL_SEARCH:  # a plain literal pattern searches like `find`, with less cost per hit
        hits += [m.start() for m in literal.finditer(data, 0, end)]
    return sorted(hits)


# --- helpers ---------------------------------------------------------------------------


def _name(provider: str) -> str:
    return registry().title(provider)


_article = key_shapes.article


def _shown(secret: Secret) -> str:
    return f"{secret.masked} (fingerprint {secret.fingerprint})"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local(host: str | None) -> bool:
    """Loopback or a private network address: where Ollama or LM Studio usually run."""
    if is_loopback(host):
        return True
    try:
        addr = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return (host or "").lower().endswith((".local", ".lan", ".internal"))
    return addr.is_private or addr.is_unspecified


def safe_url(url: str) -> str:
    """A URL for display: no user info, query or fragment (they may carry secrets); a key pasted in the URL's box
    (no URL at all: 32 hex, say) masked."""
    if key_shapes.holds_a_key(url):
        return mask(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    if not parts.scheme or not host:
        return urls.shown(url.split("?", 1)[0].split("@")[-1])
    return urls.shown(f"{parts.scheme}://{host}{port}{parts.path}")


def _readable(profile: Profile) -> dict[str, Secret]:
    return {f: k.secret for f, k in profile.keys().items() if k.secret is not None}


# --- keys ------------------------------------------------------------------------------


def storage_findings(field: str, key: StoredKey) -> list[Finding]:
    if key.secret is None:
        return [finding("key-undecryptable", field, f"cannot decrypt {key.row}: {key.reason}")]
    if key.storage == PLAINTEXT:
        return [finding("key-plaintext", field, f"stored in plain text in row {key.row}")]
    if key.storage == SETTINGS_JSON:
        where = key.row.split("#", 1)[-1]
        found = finding("key-plaintext", field, f"stored in plain text inside Cursor's settings blob ({where})")
        return [replace(found, advice=SETTINGS_ONLY)]
    if key.storage == "basic":
        return [
            finding(
                "key-obfuscated",
                field,
                "encrypted with Chromium's fixed 'peanuts' password (no keyring): anyone with the file can read it",
            )
        ]
    return []


def value_findings(field: str, secret: Secret, base_url: str | None) -> list[Finding]:
    """Placeholder, truncated, misplaced or oddly shaped key values."""
    value = secret.reveal()
    shown = _shown(secret)
    if key_shapes.looks_placeholder(value):
        return [finding("key-placeholder", field, f"{secret.masked} looks like a placeholder, not a key")]
    if key_shapes.looks_truncated(field, value):
        return [finding("key-truncated", field, f"{shown} is only {len(value)} characters long")]
    if key_shapes.check_format(field, value, base_url) != key_shapes.UNEXPECTED:
        return []
    own, vendor = provider_of(field), known_vendor(value)
    if vendor and vendor != own:
        message = f"{shown} looks like {_article(_name(vendor))} key, not {_article(_name(own))} one"
        return [finding("key-wrong-slot", field, message)]
    message = f"{shown} does not match the {_name(own)} key format"
    if key_shapes.takes_any_key(field) and any(p.fullmatch(value) for p in key_shapes.COMPATIBLE):
        message += "; it looks like a key of an OpenAI-compatible service, which needs the OpenAI base URL override"
    return [finding("key-format", field, message)]


def key_findings(profile: Profile) -> list[Finding]:
    out: list[Finding] = []
    for field, key in sorted(profile.keys().items()):
        out += storage_findings(field, key)
        if key.secret is not None:
            out += value_findings(field, key.secret, registry().compatible_base_url(field, profile.fields))
    return out


def raw_row_findings(profile: Profile, tool: str = "cursor-byok") -> list[Finding]:
    """A key another tool wrote in clear into its secret://cursorAuth row: Cursor cannot read it and deletes
    it at start. The message names the command that re-encrypts it (never the key)."""
    out = []
    for field, key in sorted(profile.keys().items()):
        if key.storage != RAW or key.secret is None:
            continue
        provider = registry().get(provider_of(field))
        again = (
            f"re-encrypt it: `{tool} set {provider.name} --from-row`"
            if provider
            else "enter it again in Cursor (this tool writes no key of a provider it does not know)"
        )
        message = f"{key.row} holds {key.secret.masked} {RAW_WORDS}; {again}"
        out.append(finding("key-raw-row", field, message))
    return out


def duplicate_findings(profile: Profile) -> list[Finding]:
    by_print: dict[str, list[str]] = {}
    for field, secret in sorted(_readable(profile).items()):
        by_print.setdefault(secret.fingerprint, []).append(field)
    return [
        finding("key-duplicate", ", ".join(fields), f"the same key (fingerprint {fp}) is stored in {len(fields)} slots")
        for fp, fields in by_print.items()
        if len(fields) > 1
    ]


# --- providers and settings -----------------------------------------------------------


def toggle_findings(profile: Profile) -> list[Finding]:
    out: list[Finding] = []
    for provider in registry():
        toggle, key_fields = provider.enabled_field, provider.settable_key_fields
        present = [f for f in key_fields if profile.get(f) is not None]
        if present and not profile.get(toggle):
            out.append(finding("key-unused", toggle, f"a key is stored but {provider.title} is switched off"))
        if profile.get(toggle):
            out += _missing_keys(profile, provider, key_fields, present)
    return out


def _missing_keys(
    profile: Profile, provider: Provider, key_fields: Sequence[str], present: Sequence[str]
) -> list[Finding]:
    if profile.uses_role(provider.name):
        return []
    missing = [f for f in key_fields if f not in present]
    if not missing:
        return []
    unseen = unseen_keys(profile, provider)
    if unseen:
        return [finding(f"{provider.name}-key-unseen", unseen[0], unseen_message(provider))]
    message = f"{provider.title} is switched on but {', '.join(missing)} is not set"
    base = profile.get(provider.compatible_field) if provider.compatible_field else None
    if base and is_local(urlsplit(base).hostname):
        return [finding("key-missing", missing[0], message + f" (fine for a local server at {safe_url(base)})", INFO)]
    return [finding("key-missing", missing[0], message)]


def unseen_message(provider: Provider) -> str:
    """What `audit` (<provider>-key-unseen) and `doctor` say about a key this Cursor keeps out of sight."""
    return (
        f"{provider.short} is switched on but no {provider.short} key is in the settings blob or in any row this "
        "tool knows: this Cursor keeps it where cursor-byok cannot see it"
    )


def unseen_keys(profile: Profile, provider: Provider) -> list[str]:
    """Key fields of a switched-on provider found nowhere we look, in a Cursor that may keep them out of sight
    (the slot's `hidden_from` major version on, or no version recorded): Azure's key on 3.x; 2.x keeps it in
    the blob."""
    if not profile.get(provider.enabled_field):
        return []
    version = profile.cursor_version
    major = None if version is None else int(version.split(".")[0])
    return [
        provider.field(k.name)
        for k in provider.keys
        if k.hidden_from is not None
        and profile.get(provider.field(k.name)) is None
        and (major is None or major >= k.hidden_from)
    ]


def session_findings(profile: Profile) -> list[Finding]:
    """A temporary key (AWS's ASIA access keys) stored without the session token it needs."""
    out: list[Finding] = []
    for provider in registry():
        carried = [provider.field(k.name) for k in provider.keys if not k.settable]
        for slot in provider.keys:
            key = profile.get(provider.field(slot.name))
            if not slot.temporary or not carried or not (key and key.secret):
                continue
            if key.secret.reveal().startswith(slot.temporary) and profile.get(carried[0]) is None:
                what = f"the {slot.name.replace('_', ' ')} is temporary ({slot.temporary})"
                out.append(finding(f"{provider.name}-session-missing", carried[0], what))
    return out


def endpoint_issue(provider: Provider, url: str) -> tuple[str, str] | None:
    """(code, why) when an endpoint does not have its provider's usual shape (Azure's
    https://<resource>.openai.azure.com); None when it has, or the provider has no shape."""
    shape = provider.endpoint_shape
    if shape is None:
        return None
    bad, other = f"{provider.name}-endpoint-shape", f"{provider.name}-endpoint-nonstandard"
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return bad, "is not a URL"
    if parts.scheme != "https":
        return bad, "does not start with https://"
    if parts.path not in ("", "/") or parts.query:
        return bad, f"has a path ({parts.path or '?'}): Cursor adds the API path itself"
    if re.fullmatch(shape.host, host):
        return None
    if shape.other_hosts and host.endswith(shape.other_hosts):
        return other, f"is {shape.other_words}"
    return bad, f"is not {shape.host_words}"


def endpoint_findings(profile: Profile) -> list[Finding]:
    """A provider with an endpoint shape (Azure) switched on without its endpoint or deployment, or an odd one."""
    out: list[Finding] = []
    for provider in registry():
        shape = provider.endpoint_shape
        if shape is None:
            continue
        name, short = provider.name, provider.short
        field = provider.field(shape.setting)
        endpoint, enabled = profile.get(field), profile.get(provider.enabled_field)
        if enabled and not endpoint:
            out.append(finding(f"{name}-endpoint-missing", field, f"{short} is switched on but has no endpoint"))
        deployment = provider.probe.deployment if provider.probe else None
        if enabled and deployment and not profile.get(provider.field(deployment)):
            message = f"{short} is switched on with no deployment"
            out.append(finding(f"{name}-deployment-missing", provider.field(deployment), message))
        issue = endpoint_issue(provider, endpoint) if endpoint else None
        if issue:
            code, why = issue
            out.append(finding(code, field, f"{safe_url(endpoint)} {why}"))
    return out


def base_url_findings(profile: Profile) -> list[Finding]:
    """The OpenAI-compatible provider's base URL override: where its key goes instead, over https or not."""
    route = registry().compatible
    field = route.compatible_field if route else None
    url = profile.get(field) if field else None
    if not route or not field or not url:
        return []
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:
        scheme, host = "", None
    shown = safe_url(url)
    if scheme == "http" and not is_loopback(host):
        return [finding(f"{route.name}-base-url-http", field, f"{shown} is plain http to another host")]
    return [
        finding(
            f"{route.name}-base-url",
            field,
            f"every {route.title}-routed model, and the {route.title} key, goes to {shown} "
            f"instead of {route.official_host}",
        )
    ]


def url_findings(profile: Profile) -> list[Finding]:
    """Base URLs that carry a key, or that Cursor's servers cannot reach."""
    out: list[Finding] = []
    for field in registry().url_fields:
        url = profile.get(field)
        if not isinstance(url, str) or not url:
            continue
        if urls.has_secret(url):
            out.append(finding("key-in-url", field, f"{urls.shown(url)} holds what looks like a key"))
        why = urls.unreachable(url)
        if why:
            message = f"{safe_url(url)} is {why}, which Cursor's servers cannot reach"
            out.append(finding("base-url-local", field, message))
    return out


def schema_findings(foreign: Iterable[str]) -> list[Finding]:
    return [finding("db-schema-foreign", "database", f"holds {what}, which Cursor does not make") for what in foreign]


def note_findings(profile: Profile) -> list[Finding]:
    return [finding("read-note", "settings", n) for n in profile.notes if "cannot decrypt" not in n]


def argv_findings(surroundings: Surroundings) -> list[Finding]:
    if surroundings.password_store == "basic":
        return [
            finding(
                "password-store-basic",
                surroundings.argv_json,
                'Cursor is told "password-store": "basic": new keys are only obfuscated, not encrypted',
            )
        ]
    return []


# --- files around the database ---------------------------------------------------------


def side_copy_findings(copy: SideCopy, current: dict[str, Secret]) -> list[Finding]:
    current_prints = {s.fingerprint for s in current.values()}
    out: list[Finding] = []
    if copy.profile is None:
        out.append(finding("file-unreadable", copy.path, f"not readable as a database ({copy.error})"))
        found = [(f"{k.vendor} key", k.secret) for k in copy.found]
    else:
        found = [(field, s) for field, s in sorted(_readable(copy.profile).items())]
        found += [(k.vendor, k.secret) for k in copy.found]  # plain rows a secret:// row hides
        hidden = [k.row for k in copy.profile.keys().values() if k.secret is None]
        if hidden:
            out.append(finding("file-unreadable", copy.path, f"{len(hidden)} key(s) in it cannot be decrypted here"))
    same = sorted({label for label, s in found if s.fingerprint in current_prints})
    for label, secret in found:
        if secret.fingerprint not in current_prints:
            message = f"holds a key that is no longer current: {label} {_shown(secret)}"
            out.append(finding("backup-old-key", copy.path, message))
    if same:
        out.append(finding("backup-current-key", copy.path, f"holds a copy of the current {', '.join(same)}"))
    return out


SCAN_CODES = {"wal": "wal-key", "user-settings": "settings-file-key", "workspace": "workspace-key"}


def scan_findings(scan: FileScan, profile: Profile) -> list[Finding]:
    if scan.error:
        return [finding("file-unreadable", scan.path, scan.error)]
    current = _readable(profile)
    by_print = {s.fingerprint: f for f, s in current.items()}
    plain = {
        k.secret.fingerprint
        for k in profile.keys().values()
        if k.secret is not None and k.storage in (PLAINTEXT, SETTINGS_JSON)
    }
    out: list[Finding] = []
    for key in _unique(scan.found):
        fp = key.secret.fingerprint
        if scan.kind == "wal" and fp in plain:
            continue  # the database holds it in plain text anyway: key-plaintext says so
        subject = f"{scan.path}#{key.where}" if key.where else scan.path
        if fp in by_print:
            what = f"a plain-text copy of the current {by_print[fp]}"
        else:
            what = f"a plain-text {_name(key.vendor)} key that is not among the stored keys"
        out.append(finding(SCAN_CODES[scan.kind], subject, f"{what}: {_shown(key.secret)}"))
    return out


def journal_findings(journals: Iterable[tuple[str, tuple[str, ...]]], tool: str = "cursor-byok") -> list[Finding]:
    """An undo journal that keeps an old key: info when the key is encrypted (a secret:// row), a warning when
    it is in clear (a plain row or a settings-blob field), as the same key in the database would be."""
    from ..cursor.rows import SECRET_PREFIX  # audit stays pure: cursor.rows loads the store (sqlite3)

    out = []
    for jid, rows in journals:
        plain = [r for r in rows if not r.startswith(SECRET_PREFIX)]
        if not rows:
            continue
        how = "keeps the old value of " + ", ".join(f"{r} (in clear)" if r in plain else r for r in rows)
        message = f"{how} so its write can be undone (delete it with `{tool} undo --purge {jid} --yes`)"
        out.append(finding("journal-holds-key", f"undo journal {jid}", message, WARNING if plain else None))
    return out


def _unique(found: Iterable[FoundKey]) -> list[FoundKey]:
    seen: set[tuple[str, str]] = set()
    out = []
    for key in found:
        mark = (key.secret.fingerprint, key.where)
        if mark not in seen:
            seen.add(mark)
            out.append(key)
    return out


# --- the audit -------------------------------------------------------------------------


def audit(profile: Profile, surroundings: Surroundings | None = None) -> list[Finding]:
    """Every finding about this profile and the files around it, worst first."""
    around = surroundings or Surroundings()
    out = [
        *key_findings(profile),
        *raw_row_findings(profile, around.tool),
        *duplicate_findings(profile),
        *toggle_findings(profile),
        *session_findings(profile),
        *endpoint_findings(profile),
        *base_url_findings(profile),
        *url_findings(profile),
        *schema_findings(around.foreign_schema),
        *note_findings(profile),
        *argv_findings(around),
    ]
    current = _readable(profile)
    for copy in around.side_copies:
        out += side_copy_findings(copy, current)
    for scan in around.scans:
        out += scan_findings(scan, profile)
    out += journal_findings(around.journals, around.tool)
    return sorted(out, key=lambda f: (-RANK[f.severity], f.code, f.subject))


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s: 0 for s in reversed(SEVERITIES)}
    for f in findings:
        counts[f.severity] += 1
    return counts


def document_reaches(doc: Mapping[str, Any], fail_on: str) -> bool:
    """True when any finding of an `audit --json` document is at least as severe as `fail_on`."""
    return any(RANK[f["severity"]] >= RANK[fail_on] for f in doc["findings"])


def report_json(findings: list[Finding], *, db: str) -> dict[str, Any]:
    """The `audit --json` document."""
    return {"db": db, "findings": [f.to_json() for f in findings], "summary": summary(findings)}
