"""The provider registry: one record per provider slot Cursor reads, and every view derived from it. Pure.

A record says everything cursor-byok knows about one provider: its name and
human title, the aliases a user may type, where Cursor keeps its key(s)
(`cursorAuth/<row>` rows, the settings blob), its settings and the toggle that
switches it on, which settings decide where its key is sent, the free
endpoint `doctor --online` asks, its billing pages, and the few things only
one provider does (an IAM-role marker, a deployment, an endpoint shape) as
data, not as branches elsewhere.

Every list of providers, fields, rows, titles, CLI choices and manifest
tables is a view of the current `Registry` (`registry()`), computed when it
is asked for. A test swaps in a made-up provider with `scratch_registry(...)`
and every view, command and check follows; tests/test_providers.py checks
that the views agree with the records.

Layer: the bottom, beside model.py and key_table.py. Imports nothing of ours
but key_table.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, Literal, Mapping

from .key_table import vendor_title

SettingKind = Literal["url", "name", "region"]  # how a setting's value is checked (changes.wanted.setting_check)


@dataclass(frozen=True)
class KeySlot:
    """One key of a provider: its json name, where Cursor keeps it, how a person calls it."""

    name: str  # json name in `list --json`, bundles and manifests: key, access_key, secret_key, session_token
    label: str  # "OpenAI key", "AWS access key ID": prompts, warnings
    row: str | None = None  # `cursorAuth/<row>` and `secret://cursorAuth/<row>`; None: never a row of its own
    blob: tuple[str, ...] = ()  # where the settings blob holds it (Cursor 2.x); () when never there
    settable: bool = True  # False: carried along with the others (a session token), never set by hand or required
    starts: str = ""  # the start every key of this slot has: a shorter value with it was cut short
    hidden_from: int | None = None  # Cursor major version from which the key may sit where no tool can see it
    temporary: str = ""  # the start of temporary keys, which need the provider's carried key (a session token)


@dataclass(frozen=True)
class Setting:
    """One setting of a provider, kept in the settings blob."""

    name: str  # json name: base_url, deployment, region
    blob: tuple[str, ...]
    kind: SettingKind
    sends_keys: bool = True  # changing it sends the provider's keys elsewhere (an endpoint field)
    clearable: bool = False  # an empty value given clears it (OpenAI's base URL override)
    host: str = ""  # a region's: the host its requests go to, with "{value}" for the region


@dataclass(frozen=True)
class Probe:
    """The free model-listing request `doctor --online` makes with a key; never a billable call."""

    path: str  # under the base URL: "/models", "/v1/models"
    auth: tuple[tuple[str, str], ...]  # (header, value) pairs; "{key}" in a value is replaced by the key
    base_setting: str | None = None  # the setting whose value replaces the official URL (a base URL, an endpoint)
    api_version: bool = False  # the request carries `?api-version=` (Azure)
    deployment: str | None = None  # the setting naming a deployment, probed with an empty chat request
    deployment_path: str = ""  # under the base URL, with "{deployment}" in it

    def headers(self, key: str) -> dict[str, str]:
        return {header: value.replace("{key}", key) for header, value in self.auth}


@dataclass(frozen=True)
class Billing:
    """Where the provider shows usage, spending limits and rate-limit tiers (see checks/provider_pages)."""

    usage: str
    spending_limit: str
    rate_limits: str


@dataclass(frozen=True)
class Role:
    """A marker Cursor stores in every settable key slot when a team role stands in for keys."""

    marker: str  # "iam": Bedrock with a team IAM role; never a key, never migrated
    what: str  # the role in words: "a team IAM role"


@dataclass(frozen=True)
class EndpointShape:
    """What the provider's endpoint setting should look like, for audit and doctor."""

    setting: str  # the setting holding the endpoint
    host: str  # a regular expression the usual host fully matches
    host_words: str  # that host in words: "an *.openai.azure.com host"
    example: str  # an endpoint with a placeholder a command line takes: "https://RESOURCE.openai.azure.com"
    other_hosts: tuple[str, ...] = ()  # host endings of other endpoints that also serve it
    other_words: str = ""  # what those are, in words
    deployments: str = ""  # where a person finds deployment names, when the provider has deployments


MythPlace = Literal["settings.json", "blob", "row"]


@dataclass(frozen=True)
class Myth:
    """A setting blog posts and third-party tools tell users to set, which Cursor does not read (absent from
    every real database and from Cursor's settings code; docs/cursor-versions.md has the evidence)."""

    place: MythPlace  # a `User/settings.json` key, a top-level settings-blob field, an ItemTable row
    name: str
    instead: str = ""  # what Cursor reads instead: "key", "enabled" or a setting's name; "" when nothing


@dataclass(frozen=True)
class Provider:
    """Everything cursor-byok knows about one provider slot of Cursor."""

    name: str  # as typed on the command line and written in bundles, manifests and `list --json`
    title: str  # human name: "OpenAI", "Azure OpenAI", "AWS Bedrock"
    short: str  # in running text: "Azure is switched on", "Bedrock uses a team IAM role here"
    toggle: tuple[str, ...]  # blob path of the bool that switches it on ("use its key")
    keys: tuple[KeySlot, ...]
    settings: tuple[Setting, ...] = ()
    aliases: tuple[str, ...] = ()  # other names a user may type: claude, gemini, aws, azure-openai
    official_url: str | None = None  # the provider's own API base URL; its host is the official endpoint
    probe: Probe | None = None
    unprobed: str = "not checked: no known endpoint for this provider"  # why doctor sends no request
    billing: Billing | None = None
    model_prefixes: tuple[str, ...] = ()  # Cursor's built-in model names it serves ("claude", "gpt-")
    serves_models_of: tuple[str, ...] = ()  # other providers whose models its key also serves
    compatible: str | None = None  # the setting that points it at any OpenAI-compatible server
    role: Role | None = None
    endpoint_shape: EndpointShape | None = None
    myths: tuple[Myth, ...] = ()  # settings people set for this provider that Cursor does not read

    def field(self, name: str) -> str:
        """The field name of one of its keys or settings ("enabled" too): "bedrock.region"."""
        return f"{self.name}.{name}"

    @property
    def role_note(self) -> str:
        """What a plan says when keys would replace the role: "Bedrock uses a team IAM role here"."""
        return f"{self.short} uses {self.role.what} here" if self.role else ""

    @property
    def enabled_field(self) -> str:
        return self.field("enabled")

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(self.field(k.name) for k in self.keys)

    @property
    def settable_keys(self) -> tuple[KeySlot, ...]:
        return tuple(k for k in self.keys if k.settable)

    @property
    def settable_key_fields(self) -> tuple[str, ...]:
        """The keys a person sets (and a switched-on provider needs): `set`, `get`, manifests."""
        return tuple(self.field(k.name) for k in self.settable_keys)

    @property
    def primary_key(self) -> KeySlot:
        """The key `set` reads first, `get` prints by default, and doctor's probe sends."""
        return self.settable_keys[0]

    @property
    def endpoint_fields(self) -> tuple[str, ...]:
        return tuple(self.field(s.name) for s in self.settings if s.sends_keys)

    @property
    def compatible_field(self) -> str | None:
        return self.field(self.compatible) if self.compatible else None

    @property
    def official_host(self) -> str | None:
        if not self.official_url:
            return None
        return self.official_url.split("://", 1)[-1].split("/", 1)[0]

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)

    def layout(self) -> dict[str, str]:
        """json name -> field name, in the order documents show them: enabled, settings, keys."""
        names = ("enabled", *(s.name for s in self.settings), *(k.name for k in self.keys))
        return {n: self.field(n) for n in names}


class Registry:
    """The providers, in the order every listing shows them, and the views derived from them.

    Views are computed once per Registry; swapping the registry (scratch_registry) swaps them all.
    """

    def __init__(self, providers: tuple[Provider, ...]) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names repeat: {names}")
        self.providers = providers

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Provider:
        return self.by_name[name]

    def get(self, name: str) -> Provider | None:
        return self.by_name.get(name)

    @cached_property
    def by_name(self) -> dict[str, Provider]:
        return {p.name: p for p in self.providers}

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.providers)

    @cached_property
    def aliases(self) -> dict[str, str]:
        """alias -> provider name."""
        return {a: p.name for p in self.providers for a in p.aliases}

    @cached_property
    def titles(self) -> dict[str, str]:
        return {p.name: p.title for p in self.providers}

    def title(self, name: str) -> str:
        """A provider's or another key vendor's human name ("OpenRouter"); the name itself when unknown."""
        provider = self.get(name)
        return provider.title if provider else vendor_title(name)

    # --- fields -------------------------------------------------------------------------

    @cached_property
    def layout(self) -> dict[str, dict[str, str]]:
        """provider -> {json name: field name}: `list --json`, bundles, manifests."""
        return {p.name: p.layout() for p in self.providers}

    @cached_property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f for p in self.providers for f in p.key_fields)

    @cached_property
    def setting_fields(self) -> tuple[str, ...]:
        """Each provider's toggle, then its settings."""
        return tuple(f for p in self.providers for f in (p.enabled_field, *(p.field(s.name) for s in p.settings)))

    @cached_property
    def key_names(self) -> tuple[str, ...]:
        """Every json name a key has under some provider: key, access_key, secret_key, session_token."""
        return tuple(dict.fromkeys(k.name for p in self.providers for k in p.keys))

    @cached_property
    def settable_key_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.name for p in self.providers for k in p.settable_keys))

    @cached_property
    def settable_key_fields(self) -> dict[str, tuple[str, ...]]:
        """provider -> the key fields a person sets."""
        return {p.name: p.settable_key_fields for p in self.providers}

    @cached_property
    def setting_names(self) -> dict[str, tuple[str, ...]]:
        """provider -> json names of its settings (not keys, not the toggle)."""
        return {p.name: tuple(s.name for s in p.settings) for p in self.providers}

    @cached_property
    def key_slots(self) -> dict[str, KeySlot]:
        """field -> its key slot."""
        return {p.field(k.name): k for p in self.providers for k in p.keys}

    @cached_property
    def settings(self) -> dict[str, Setting]:
        """field -> its setting."""
        return {p.field(s.name): s for p in self.providers for s in p.settings}

    @cached_property
    def labels(self) -> dict[str, str]:
        """Settable key field -> how a person calls that key."""
        return {p.field(k.name): k.label for p in self.providers for k in p.settable_keys}

    # --- where Cursor keeps them ----------------------------------------------------------

    @cached_property
    def key_row_names(self) -> dict[str, str]:
        """Key field -> its row name (after `cursorAuth/` or `secret://cursorAuth/`), for keys with rows."""
        return {p.field(k.name): k.row for p in self.providers for k in p.keys if k.row}

    @cached_property
    def blob_paths(self) -> dict[str, tuple[str, ...]]:
        """Field -> where the settings blob keeps it: toggles, settings, and the keys kept there."""
        out: dict[str, tuple[str, ...]] = {}
        for p in self.providers:
            out[p.enabled_field] = p.toggle
            out.update({p.field(s.name): s.blob for s in p.settings})
            out.update({p.field(k.name): k.blob for k in p.keys if k.blob})
        return out

    @cached_property
    def blob_key_fields(self) -> tuple[str, ...]:
        """Key fields the settings blob may hold (unless the key has a row of its own)."""
        return tuple(p.field(k.name) for p in self.providers for k in p.keys if k.blob)

    @cached_property
    def toggle_fields(self) -> tuple[str, ...]:
        return tuple(p.enabled_field for p in self.providers)

    @cached_property
    def text_setting_fields(self) -> tuple[str, ...]:
        return tuple(p.field(s.name) for p in self.providers for s in p.settings)

    @cached_property
    def role_markers(self) -> frozenset[str]:
        return frozenset(p.role.marker for p in self.providers if p.role)

    # --- where keys go ------------------------------------------------------------------

    @cached_property
    def endpoint_fields(self) -> dict[str, tuple[str, ...]]:
        """Endpoint field -> the keys whose destination it decides."""
        return {f: p.key_fields for p in self.providers for f in p.endpoint_fields}

    @cached_property
    def url_fields(self) -> tuple[str, ...]:
        return tuple(p.field(s.name) for p in self.providers for s in p.settings if s.kind == "url")

    @cached_property
    def official_hosts(self) -> dict[str, str]:
        """Base-URL field -> the host keys go to while it is unset."""
        return {
            p.field(s.name): host
            for p in self.providers
            for s in p.settings
            if s.kind == "url" and (host := p.official_host) and p.probe and p.probe.base_setting == s.name
        }

    @cached_property
    def official_urls(self) -> dict[str, str]:
        return {p.name: p.official_url for p in self.providers if p.official_url}

    @cached_property
    def compatible(self) -> Provider | None:
        """The provider whose base URL may point at any OpenAI-compatible server (custom models go there)."""
        return next((p for p in self.providers if p.compatible), None)

    def compatible_base_url(self, field: str, fields: Mapping[str, object]) -> str | None:
        """The base URL set for a key field's provider when it may point at any OpenAI-compatible server."""
        compatible = self.compatible
        if compatible is None or compatible.compatible_field is None or field not in compatible.key_fields:
            return None
        value = fields.get(compatible.compatible_field)
        return value if isinstance(value, str) else None

    @cached_property
    def myths(self) -> tuple[tuple[Provider | None, Myth], ...]:
        """(provider, myth) for every setting people believe Cursor reads: each provider's, then the general
        ones (provider None)."""
        return (*((p, m) for p in self.providers for m in p.myths), *((None, m) for m in GENERAL_MYTHS))

    def model_family(self, model: str) -> str | None:
        """The provider whose API serves one of Cursor's built-in model names; None for a custom model."""
        lowered = model.lower()
        return next((p.name for p in self.providers if p.model_prefixes and lowered.startswith(p.model_prefixes)), None)

    @cached_property
    def model_families(self) -> tuple[str, ...]:
        """Providers that serve some of Cursor's built-in models, in registry order."""
        return tuple(p.name for p in self.providers if p.model_prefixes)


# --- the providers Cursor reads ----------------------------------------------------------------

# Settings people believe in that belong to no one provider.
GENERAL_MYTHS = (Myth("blob", "encryptedKey"),)

_AZURE_STATE = "azureState"
_BEDROCK_STATE = "bedrockState"

BUILT_IN = Registry(
    (
        Provider(
            name="openai",
            title="OpenAI",
            short="OpenAI",
            toggle=("useOpenAIKey",),
            keys=(KeySlot("key", "OpenAI key", row="openAIKey", starts="sk-"),),
            settings=(Setting("base_url", ("openAIBaseUrl",), "url", clearable=True),),
            official_url="https://api.openai.com/v1",
            probe=Probe("/models", (("Authorization", "Bearer {key}"),), base_setting="base_url"),
            billing=Billing(
                "https://platform.openai.com/usage",
                "https://platform.openai.com/settings/organization/limits",
                "https://platform.openai.com/docs/guides/rate-limits",
            ),
            model_prefixes=("gpt-", "chatgpt", "o1", "o3", "o4", "codex"),
            compatible="base_url",
            myths=(
                Myth("settings.json", "cursor.openai.apiKey", "key"),
                *(
                    Myth("settings.json", name, "base_url")
                    for name in (
                        "cursor.openai.baseUrl",
                        "cursor.general.openAIBaseUrl",
                        "openai.baseUrl",
                        "cursor.openAIBaseUrl",
                    )
                ),
            ),
        ),
        Provider(
            name="anthropic",
            title="Anthropic",
            short="Anthropic",
            aliases=("claude",),
            toggle=("useClaudeKey",),
            keys=(KeySlot("key", "Anthropic key", row="claudeKey", starts="sk-ant-"),),
            official_url="https://api.anthropic.com",
            probe=Probe("/v1/models", (("x-api-key", "{key}"), ("anthropic-version", "2023-06-01"))),
            billing=Billing(
                "https://console.anthropic.com/settings/usage",
                "https://console.anthropic.com/settings/limits",
                "https://docs.anthropic.com/en/api/rate-limits",
            ),
            model_prefixes=("claude",),
            myths=(
                Myth("blob", "anthropicKey", "key"),
                Myth("blob", "useAnthropicKey", "enabled"),
                Myth("blob", "anthropicBaseUrl"),
                Myth("row", "cursorAuth/anthropicKey", "key"),
            ),
        ),
        Provider(
            name="google",
            title="Google",
            short="Google",
            aliases=("gemini",),
            toggle=("useGoogleKey",),
            keys=(KeySlot("key", "Google key", row="googleKey", starts="AIza"),),
            official_url="https://generativelanguage.googleapis.com",
            probe=Probe("/v1beta/models", (("x-goog-api-key", "{key}"),)),
            billing=Billing(
                "https://aistudio.google.com/usage",
                "https://console.cloud.google.com/billing/budgets",
                "https://ai.google.dev/gemini-api/docs/rate-limits",
            ),
            model_prefixes=("gemini",),
        ),
        Provider(
            name="azure",
            title="Azure OpenAI",
            short="Azure",
            aliases=("azure-openai",),
            toggle=(_AZURE_STATE, "useAzure"),
            # Cursor 2.x keeps the key in the blob; 3.x keeps it where no tool has found it yet.
            keys=(KeySlot("key", "Azure OpenAI key", row="azureApiKey", blob=(_AZURE_STATE, "apiKey"), hidden_from=3),),
            settings=(
                Setting("base_url", (_AZURE_STATE, "baseUrl"), "url"),
                Setting("deployment", (_AZURE_STATE, "deployment"), "name"),
            ),
            probe=Probe(
                "/openai/models",
                (("api-key", "{key}"),),
                base_setting="base_url",
                api_version=True,
                deployment="deployment",
                deployment_path="/openai/deployments/{deployment}/chat/completions",
            ),
            unprobed="no Azure endpoint is set",
            billing=Billing(
                "https://portal.azure.com/#view/Microsoft_Azure_CostManagement/Menu/~/costanalysis",
                "https://portal.azure.com/#view/Microsoft_Azure_CostManagement/Menu/~/budgets",
                "https://learn.microsoft.com/azure/ai-foundry/openai/quotas-limits",
            ),
            serves_models_of=("openai",),
            endpoint_shape=EndpointShape(
                setting="base_url",
                host=r"[a-z0-9][a-z0-9-]*\.openai\.azure\.com",
                host_words="an *.openai.azure.com host",
                example="https://RESOURCE.openai.azure.com",
                other_hosts=(".cognitiveservices.azure.com", ".services.ai.azure.com"),
                other_words="an Azure AI Services / Foundry endpoint, which also serves OpenAI",
                deployments="Azure > your resource > Deployments",
            ),
        ),
        Provider(
            name="bedrock",
            title="AWS Bedrock",
            short="Bedrock",
            aliases=("aws",),
            toggle=(_BEDROCK_STATE, "useBedrock"),
            keys=(
                KeySlot(
                    "access_key",
                    "AWS access key ID",
                    row="bedrockAccessKey",
                    blob=(_BEDROCK_STATE, "accessKey"),
                    temporary="ASIA",
                ),
                KeySlot(
                    "secret_key", "AWS secret access key", row="bedrockSecretKey", blob=(_BEDROCK_STATE, "secretKey")
                ),
                KeySlot("session_token", "AWS session token", blob=(_BEDROCK_STATE, "sessionToken"), settable=False),
            ),
            settings=(
                Setting("region", (_BEDROCK_STATE, "region"), "region", host="bedrock-runtime.{value}.amazonaws.com"),
            ),
            unprobed="not checked: AWS requests need SigV4 signing; try `aws bedrock list-foundation-models`",
            billing=Billing(
                "https://console.aws.amazon.com/costmanagement/home#/cost-explorer",
                "https://console.aws.amazon.com/billing/home#/budgets",
                "https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html",
            ),
            role=Role("iam", "a team IAM role"),
        ),
    )
)


@dataclass
class _Current:
    registry: Registry = field(default_factory=lambda: BUILT_IN)


_current = _Current()


def registry() -> Registry:
    """The providers every view, command and check uses right now."""
    return _current.registry


@contextmanager
def scratch_registry(*extra: Provider, only: tuple[Provider, ...] | None = None) -> Iterator[Registry]:
    """For tests: the built-in providers plus `extra` (or exactly `only`) until the block ends."""
    before = _current.registry
    _current.registry = Registry(only if only is not None else (*before.providers, *extra))
    try:
        yield _current.registry
    finally:
        _current.registry = before


def provider_named(text: str, choices: tuple[str, ...] | None = None) -> str:
    """A provider's name from what a user typed: any letter case, an alias (claude, gemini, aws,
    azure-openai). Raises ValueError with a 'did you mean' when it is none of `choices` (default: every
    provider)."""
    reg = registry()
    choices = reg.names if choices is None else choices
    aliases: Mapping[str, str] = reg.aliases
    name = str(text).strip().lower()
    name = aliases.get(name, name)
    if name in choices:
        return name
    known = [*choices, *(a for a, p in aliases.items() if p in choices)]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {aliases.get(close[0], close[0])!r}?" if close else ""
    raise ValueError(f"unknown provider {text!r}{hint} (choose from {', '.join(choices)})")
