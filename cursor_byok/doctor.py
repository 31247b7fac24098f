"""Why a BYOK key fails in Cursor: offline checks for each error, and online key checks.

`offline_checks(profile)` is pure: it turns Cursor's BYOK error table (401,
403, "model not appearing", Azure connection refused) into a verdict per
provider. `verify_keys(profile)` asks each provider's free model-listing
endpoint whether a key is accepted; it never makes a billable call, sends a
key only in a header, and only to the provider's official URL or one the user
configured (openai.base_url, the Azure endpoint, CURSOR_BYOK_PROVIDER_URLS).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Mapping
from urllib.parse import urlsplit

from . import __version__, formats
from .audit import PROVIDER_NAMES, TOGGLE_KEYS, azure_endpoint_issue, is_local, is_loopback, safe_url
from .errors import InputError
from .model import SELECTED_PREFIX, Profile, Secret, StoredKey

OK, LIKELY, NOTE = "ok", "likely", "note"
VERIFIED, INVALID, UNKNOWN = "verified", "invalid", "unknown"
S401, S403 = "401 Unauthorized", "403 Forbidden"
NOT_SHOWN, AZURE_REFUSED, TAB = "model not appearing", "Azure connection refused", "Tab and Apply"
KEY_GONE = "key disappeared"

URLS_ENV = "CURSOR_BYOK_PROVIDER_URLS"
OFFICIAL_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
}
AZURE_API_VERSION = "2024-10-21"
ANTHROPIC_VERSION = "2023-06-01"
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    """One symptom for one provider: is this the likely cause, and what to do."""

    provider: str
    symptom: str
    verdict: str  # ok | likely | note
    detail: str
    fix: str = ""


def _name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def _key(profile: Profile, field: str) -> StoredKey | None:
    value = profile.get(field)
    return value if isinstance(value, StoredKey) else None


def active_providers(profile: Profile) -> list[str]:
    """Providers with a key, a toggle on, or (OpenAI) a base URL."""
    out = []
    for provider, (toggle, fields) in TOGGLE_KEYS.items():
        if profile.get(toggle) or any(_key(profile, f) for f in fields):
            out.append(provider)
        elif provider == "openai" and profile.get("openai.base_url"):
            out.append(provider)
    return out


def key_active(profile: Profile, provider: str) -> bool:
    """The provider is switched on and has its key(s)."""
    toggle, fields = TOGGLE_KEYS[provider]
    if provider == "bedrock" and profile.bedrock_iam:
        return bool(profile.get(toggle))
    return bool(profile.get(toggle)) and all(_key(profile, f) for f in fields)


# --- 401 -------------------------------------------------------------------------------


def check_401(profile: Profile, provider: str) -> Check | None:
    fields = [f for f in TOGGLE_KEYS[provider][1] if _key(profile, f)]
    if not fields:
        return None
    base_url = profile.get("openai.base_url") if provider == "openai" else None
    for field in fields:
        problem = _key_problem(field, _key(profile, field), base_url)
        if problem:
            return Check(provider, S401, problem[0], problem[1], problem[2])
    if base_url:
        return Check(
            provider,
            S401,
            NOTE,
            f"the key goes to {safe_url(base_url)}, so only that server can tell whether it is valid",
            "check the key with that service, or run doctor --online",
        )
    return Check(
        provider,
        S401,
        OK,
        f"the key has the {_name(provider)} format",
        "if Cursor still says 401, the key was revoked or belongs to another account: run doctor --online",
    )


def _key_problem(field: str, key: StoredKey, base_url: str | None) -> tuple[str, str, str] | None:
    if key.secret is None:
        return NOTE, f"cannot check {field}: {key.reason}", "choose the right --safe-storage"
    value, own = key.secret.reveal(), field.split(".")[0]
    if formats.looks_placeholder(value) or formats.looks_truncated(field, value):
        return LIKELY, f"{field} ({key.secret.masked}) is a placeholder or cut short", "paste the full key again"
    if formats.check_format(field, value, base_url) != formats.UNEXPECTED:
        return None
    vendor = formats.known_vendor(value)
    if vendor and vendor != own:
        return (
            LIKELY,
            f"{field} holds a {_name(vendor)} key ({key.secret.masked}); {_name(own)} rejects it",
            f"move it to the {_name(vendor)} slot and paste the {_name(own)} key here",
        )
    return LIKELY, f"{field} ({key.secret.masked}) does not match the {_name(own)} format", "paste the key again"


# --- 403 -------------------------------------------------------------------------------


def model_family(name: str) -> str | None:
    """The provider whose API serves a model name, for Cursor's built-in names; None for custom ones."""
    n = name.lower()
    if n.startswith("claude"):
        return "anthropic"
    if n.startswith("gemini"):
        return "google"
    if n.startswith(("gpt-", "chatgpt", "o1", "o3", "o4", "codex")):
        return "openai"
    return None


def wanted_models(profile: Profile) -> list[str]:
    """Models switched on or selected for a surface, in a stable order."""
    names = list(profile.get("models.enabled", ()))
    names += [v for k, v in sorted(profile.fields.items()) if k.startswith(SELECTED_PREFIX)]
    disabled = set(profile.get("models.disabled", ()))
    return list(dict.fromkeys(n for n in names if n not in disabled))


def serves(profile: Profile, family: str) -> bool:
    if key_active(profile, family):
        return True
    if family == "openai" and key_active(profile, "azure"):
        return True
    return False


def check_403(profile: Profile, provider: str) -> Check | None:
    """A model of `provider`'s family is wanted, its key is not active, another key is."""
    models = [m for m in wanted_models(profile) if model_family(m) == provider]
    if not models:
        return None
    if serves(profile, provider):
        return Check(provider, S403, OK, f"{', '.join(models)}: served by the active {_name(provider)} key")
    if profile.get("openai.base_url") and key_active(profile, "openai"):
        return Check(
            provider, S403, NOTE, f"{', '.join(models)} go to the OpenAI base URL; that server must serve them"
        )
    others = [p for p in TOGGLE_KEYS if p != provider and key_active(profile, p)]
    if not others:
        return None
    return Check(
        provider,
        S403,
        LIKELY,
        f"{', '.join(models)} enabled but there is no active {_name(provider)} key; "
        f"the {', '.join(_name(p) for p in others)} key cannot serve them",
        f"add a {_name(provider)} key and switch it on, or disable those models",
    )


# --- model not appearing ------------------------------------------------------------------


def check_not_shown(profile: Profile, provider: str) -> Check:
    toggle, fields = TOGGLE_KEYS[provider]
    present = [f for f in fields if _key(profile, f)]
    if present and not profile.get(toggle):
        detail = f"a key is saved but {toggle} is off: its models run on Cursor's plan, or do not appear"
        return Check(provider, NOT_SHOWN, NOTE, detail, "switch the provider on to use the key")
    if profile.get(toggle) and len(present) < len(fields) and not (provider == "bedrock" and profile.bedrock_iam):
        base = profile.get("openai.base_url")
        if provider == "openai" and base and is_local(urlsplit(base).hostname):
            return Check(provider, NOT_SHOWN, NOTE, f"no key saved; fine if {safe_url(base)} needs none")
        return Check(provider, NOT_SHOWN, LIKELY, "switched on but no key is saved", "enter and verify the key again")
    return Check(provider, NOT_SHOWN, OK, "key saved and switched on")


def model_checks(profile: Profile) -> list[Check]:
    """Models that cannot appear: switched off, or custom with no OpenAI route."""
    out = []
    disabled = set(profile.get("models.disabled", ()))
    selected = [v for k, v in sorted(profile.fields.items()) if k.startswith(SELECTED_PREFIX)]
    for name in dict.fromkeys([*profile.get("models.user_added", ()), *selected]):
        if name in disabled:
            out.append(Check("models", NOT_SHOWN, LIKELY, f"{name} is in the disabled list", "switch it on"))
    custom = [m for m in profile.get("models.user_added", ()) if model_family(m) is None and m not in disabled]
    if custom and not key_active(profile, "openai") and not profile.get("openai.base_url"):
        out.append(
            Check(
                "models",
                NOT_SHOWN,
                LIKELY,
                f"custom models ({', '.join(custom)}) need the OpenAI key or base URL switched on",
                "switch on the OpenAI key, with a base URL for non-OpenAI servers",
            )
        )
    return out


# --- Azure ---------------------------------------------------------------------------------


def check_azure(profile: Profile) -> Check:
    endpoint, deployment = profile.get("azure.base_url"), profile.get("azure.deployment")
    if not endpoint:
        return Check("azure", AZURE_REFUSED, LIKELY, "no endpoint is set", "set https://<resource>.openai.azure.com")
    issue = azure_endpoint_issue(endpoint)
    if issue and issue[0] == "azure-endpoint-shape":
        return Check(
            "azure",
            AZURE_REFUSED,
            LIKELY,
            f"{safe_url(endpoint)} {issue[1]}",
            "use https://<resource>.openai.azure.com",
        )
    if not deployment:
        return Check("azure", AZURE_REFUSED, LIKELY, "no deployment name is set", "copy it from Azure > Deployments")
    if issue:
        return Check("azure", AZURE_REFUSED, NOTE, f"{safe_url(endpoint)} {issue[1]}")
    return Check("azure", AZURE_REFUSED, OK, f"endpoint {safe_url(endpoint)}, deployment {deployment}")


def base_url_notes(profile: Profile) -> list[Check]:
    base = profile.get("openai.base_url")
    if not base or not is_local(urlsplit(base).hostname):
        return []
    return [
        Check(
            "openai",
            NOT_SHOWN,
            NOTE,
            f"{safe_url(base)} is on this machine or network; users report that Cursor's servers make BYOK "
            "requests, so they cannot reach it",
            "expose the server through an https tunnel and use that URL",
        )
    ]


def offline_checks(profile: Profile) -> list[Check]:
    """Every offline check, per active provider, then models and the general note."""
    out: list[Check] = []
    for provider in active_providers(profile):
        out += [c for c in (check_401(profile, provider), check_403(profile, provider)) if c]
        out.append(check_not_shown(profile, provider))
        if provider == "azure":
            out.append(check_azure(profile))
    for provider in ("anthropic", "google", "openai"):
        if provider not in active_providers(profile):
            out += [c for c in (check_403(profile, provider),) if c]
    out += base_url_notes(profile)
    out += model_checks(profile)
    out.append(
        Check(
            "general",
            TAB,
            NOTE,
            "Tab completion and Apply always run on Cursor's own models; they never use BYOK keys",
        )
    )
    return out


# --- online ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one key would be checked. The URL never holds the key; `skip` says why it is not sent."""

    provider: str
    field: str
    url: str | None
    secret: Secret | None
    skip: str | None = None


@dataclass(frozen=True)
class Verification:
    provider: str
    field: str
    status: str  # verified | invalid | unknown
    reason: str
    url: str | None = None


def provider_urls(env: Mapping[str, str]) -> dict[str, str]:
    """Base URL overrides from CURSOR_BYOK_PROVIDER_URLS (a JSON object provider -> URL)."""
    text = env.get(URLS_ENV)
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise InputError(f'${URLS_ENV} must be a JSON object like {{"openai": "https://host/v1"}}; fix or unset it')
    return doc


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def target_for(profile: Profile, field: str, urls: Mapping[str, str]) -> Target:
    provider = field.split(".", 1)[0]
    key = _key(profile, field)
    secret = key.secret if key else None
    if secret is None:
        return Target(provider, field, None, None, f"cannot decrypt ({key.reason if key else 'missing'})")
    if provider == "openai":
        base = profile.get("openai.base_url") or urls.get("openai") or OFFICIAL_URLS["openai"]
        url = _join(base, "/models")
    elif provider == "anthropic":
        url = _join(urls.get("anthropic") or OFFICIAL_URLS["anthropic"], "/v1/models")
    elif provider == "google":
        url = _join(urls.get("google") or OFFICIAL_URLS["google"], "/v1beta/models")
    elif provider == "azure":
        endpoint = profile.get("azure.base_url")
        if not endpoint:
            return Target(provider, field, None, secret, "no Azure endpoint is set")
        url = _join(endpoint, f"/openai/models?api-version={AZURE_API_VERSION}")
    elif provider == "bedrock":
        why = "not checked: AWS requests need SigV4 signing; try `aws bedrock list-foundation-models`"
        return Target(provider, field, None, secret, why)
    else:
        return Target(provider, field, None, secret, "not checked: no known endpoint for this provider")
    return Target(provider, field, url, secret, _unsafe(url))


def _unsafe(url: str) -> str | None:
    """Why a key must not go to this URL, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "not sent: the URL cannot be parsed"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and is_loopback(host):
        return None
    return "not sent: only https (or http to this machine) may carry a key"


def targets(profile: Profile, env: Mapping[str, str]) -> list[Target]:
    urls = provider_urls(env)
    fields = ["openai.key", "anthropic.key", "google.key", "azure.key", "bedrock.access_key"]
    fields += sorted(f for f in profile.keys() if f.startswith("extra."))
    return [target_for(profile, f, urls) for f in fields if profile.get(f) is not None]


def auth_headers(provider: str, secret: Secret) -> dict[str, str]:
    value = secret.reveal()
    headers = {"User-Agent": f"cursor-byok/{__version__} (key check)", "Accept": "application/json"}
    if provider == "openai":
        headers["Authorization"] = f"Bearer {value}"
    elif provider == "anthropic":
        headers["x-api-key"] = value
        headers["anthropic-version"] = ANTHROPIC_VERSION
    elif provider == "google":
        headers["x-goog-api-key"] = value
    elif provider == "azure":
        headers["api-key"] = value
    return headers


def _opener(url: str):
    """No redirects (a redirect would carry the key elsewhere); no proxy for this machine."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    proxies = urllib.request.ProxyHandler({} if is_loopback(urlsplit(url).hostname) else None)
    return urllib.request.build_opener(NoRedirect, proxies)


def verify(target: Target, timeout: float = TIMEOUT_S) -> Verification:
    """One GET to a model-listing endpoint: 2xx verified, 401/403 invalid, else unknown."""
    import urllib.error
    import urllib.request

    shown = safe_url(target.url) if target.url else None
    if target.skip or target.url is None or target.secret is None:
        return Verification(target.provider, target.field, UNKNOWN, target.skip or "not checked", shown)
    request = urllib.request.Request(target.url, headers=auth_headers(target.provider, target.secret), method="GET")
    try:
        with _opener(target.url).open(request, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
        exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Verification(target.provider, target.field, UNKNOWN, f"network error: {reason}", shown)
    return Verification(target.provider, target.field, _status(code), _reason(code, shown), shown)


def _status(code: int) -> str:
    if 200 <= code < 300:
        return VERIFIED
    return INVALID if code in (401, 403) else UNKNOWN


def _reason(code: int, shown: str | None) -> str:
    host = urlsplit(shown or "").hostname or "the server"
    if 200 <= code < 300:
        return f"HTTP {code}: {host} accepted the key"
    if code in (401, 403):
        return f"HTTP {code}: {host} rejected the key"
    if 300 <= code < 400:
        return f"HTTP {code}: redirect not followed, so the key was not sent on"
    return f"HTTP {code} from {host}: cannot tell"


def verify_keys(
    profile: Profile, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT_S
) -> list[Verification]:
    """Check every key online, in parallel, in a stable order."""
    todo = targets(profile, os.environ if env is None else env)
    if not todo:
        return []
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        return list(pool.map(lambda t: verify(t, timeout), todo))


# --- documents ----------------------------------------------------------------------------


def report_json(checks: list[Check], verifications: list[Verification] | None, *, db: str) -> dict:
    """The `doctor --json` document."""
    likely = sum(1 for c in checks if c.verdict == LIKELY)
    invalid = sum(1 for v in verifications or () if v.status == INVALID)
    return {
        "db": db,
        "checks": [asdict(c) for c in checks],
        "online": None if verifications is None else [asdict(v) for v in verifications],
        "summary": {"likely": likely, "invalid": invalid},
    }


def has_problems(doc: dict) -> bool:
    return bool(doc["summary"]["likely"] or doc["summary"]["invalid"])


def report_text(doc: dict) -> str:
    from .render import table

    rows = [[c["provider"], c["symptom"], c["verdict"], c["detail"]] for c in doc["checks"]]
    lines = [f"database: {doc['db']}", table(rows, ["provider", "symptom", "verdict", "detail"])]
    fixes = [[c["provider"], c["symptom"], c["fix"]] for c in doc["checks"] if c["verdict"] != OK and c["fix"]]
    if fixes:
        lines += ["", "what to do", table(fixes)]
    if doc["online"] is not None:
        online = [[v["provider"], v["field"], v["status"], v["reason"]] for v in doc["online"]]
        lines += ["", "online", table(online, ["provider", "key", "status", "reason"]) if online else "no keys"]
    s = doc["summary"]
    lines += ["", f"({s['likely']} likely cause(s), {s['invalid']} invalid key(s))"]
    return "\n".join(lines)


def document(ctx, *, online: bool = False) -> dict:
    """The `doctor --json` document for the installation `ctx` (an api.Context) chooses."""
    from .api import load_profile

    inst = ctx.installation()
    profile, rows = load_profile(inst, ctx.storage_for(inst))
    verifications = verify_keys(profile, ctx.env) if online else None
    checks = [*offline_checks(profile), *installation_checks(inst, profile, rows)]
    return report_json(checks, verifications, db=str(inst.db_path))


def installation_checks(inst, profile: Profile, rows) -> list[Check]:
    """What the Cursor version and this tool's own journals tell: backups off, keys Cursor deleted, hidden keys."""
    from .api import cursor_facts, vanished_keys
    from .audit import AZURE_UNSEEN, azure_key_unseen
    from .profile import KEY_ROW_NAMES, SECRET_PREFIX

    providers = {SECRET_PREFIX + name: field.split(".")[0] for field, name in KEY_ROW_NAMES.items()}
    fix = "import or set the key again with the --safe-storage that Cursor uses"
    out = [
        Check(providers.get(row, "general"), KEY_GONE, LIKELY, note, fix)
        for row, note in vanished_keys(inst, rows).items()
    ]
    if azure_key_unseen(profile):
        out.append(Check("azure", AZURE_REFUSED, NOTE, AZURE_UNSEEN, "re-enter it in Cursor after a move"))
    if cursor_facts(inst, rows).backups is False:
        out.append(
            Check(
                "general",
                "undo",
                NOTE,
                "Cursor keeps no state.vscdb.backup here (backups are off from 3.7 on): cursor-byok's undo "
                "journal is the only way back from a bad write",
                "keep the journals (`cursor-byok undo --list`) until you have checked a write in Cursor",
            )
        )
    return out
