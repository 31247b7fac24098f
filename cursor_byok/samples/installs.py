"""Sample Cursor user-data dirs with made-up keys, for the demo and the tests.

Keys are random values in each provider's published format, generated at run
time: nothing here is a real key. `build_user_data_dir` lays out what Cursor
would leave on disk for one storage generation.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..cursor.rows import ANY_SECRET_PREFIX, BLOB_KEY, MCP_SECRET_PREFIX, PLAIN_PREFIX, SECRET_PREFIX
from ..providers import registry
from ..safestorage import dpapi, oscrypt

B64URL = string.ascii_letters + string.digits + "-_"
GENERATIONS = ("plaintext", "basic", "v11", "macos", "windows")


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_key(kind: str, rng: random.Random | None = None) -> str:
    """A made-up key in the real format of `kind`."""
    rng = rng or random.Random()
    if kind == "openai":
        return "sk-proj-" + _pick(rng, B64URL, 74) + "T3BlbkFJ" + _pick(rng, B64URL, 74)
    if kind == "anthropic":
        return "sk-ant-api03-" + _pick(rng, B64URL, 93) + "AA"
    if kind == "google":
        return "AIza" + _pick(rng, B64URL, 35)
    if kind == "azure":
        return hex_key(rng)
    if kind == "aws_access":
        return "AKIA" + _pick(rng, string.ascii_uppercase + "234567", 16)
    if kind == "aws_secret":
        return _pick(rng, string.ascii_letters + string.digits + "/+", 40)
    if kind == "openrouter":
        return "sk-or-v1-" + _pick(rng, "0123456789abcdef", 64)
    raise ValueError(kind)


def hex_key(rng: random.Random | None = None) -> str:
    """32 hex digits: an Azure OpenAI key's shape, and a plausible key of a provider with no shape of its own."""
    return _pick(rng or random.Random(), "0123456789abcdef", 32)


def sample_keys(rng: random.Random | None = None) -> dict[str, str]:
    """One made-up key per key field."""
    rng = rng or random.Random()
    return {
        "openai.key": make_key("openai", rng),
        "anthropic.key": make_key("anthropic", rng),
        "google.key": make_key("google", rng),
        "azure.key": make_key("azure", rng),
        "bedrock.access_key": make_key("aws_access", rng),
        "bedrock.secret_key": make_key("aws_secret", rng),
    }


def filler_blob(size: int, rng: random.Random) -> dict[str, Any]:
    """Account and machine fields that are not BYOK data, about `size` bytes."""
    doc: dict[str, Any] = {
        "cursorCreds": {"websiteUrl": "https://cursor.com", "backendUrl": "https://api2.cursor.sh"},
        "membershipType": "pro",
        "teamSettings": {"privacyMode": True, "ratio": 1e-7, "big": 1.5e300},
        "availableDefaultModels2": [{"name": f"model-{i}", "defaultOn": i % 2 == 0} for i in range(20)],
        "availableAPIKeyModels": ["gpt-4o", "claude-sonnet-4"],
    }
    chunk = 0
    while len(json.dumps(doc)) < size:
        doc[f"reactiveCache{chunk}"] = {"h": _pick(rng, string.hexdigits, 2000), "n": chunk, "u": "é✓"}
        chunk += 1
    return doc


@dataclass
class Sample:
    """What to lay out: the storage generation, its machine secret, the settings."""

    generation: str = "v11"
    secret: bytes = b"sample-machine-password-0"  # password (cbc) or 32-byte key (windows)
    keys: Mapping[str, str] = field(default_factory=dict)
    extra_secrets: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # top-level blob fields
    blob_filler: int = 4000
    wal: bool = True
    disk_kv_bytes: int = 0
    seed: int = 0
    # Cursor 3.21 is reported to keep Azure/Bedrock keys in rows of their own;
    # 2.x keeps them in the settings blob (the default here).
    azure_bedrock_rows: bool = False
    # What real installs of a given Cursor version look like (docs/cursor-versions.md).
    cursor_version: str | None = None  # recorded in releaseNotes/lastVersion and friends
    disk_kv: bool = True  # no global database up to 0.42 has cursorDiskKV
    options_json: bool = True  # 2.4 writes state.vscdb.options.json; 3.7 does not
    backups: bool | None = None  # True: a state.vscdb.backup; False: 3.7's switch row; None: neither
    mcp_key: bool = True  # secret://mcpEncryptionKey (absent on a fresh 3.x install)
    # MCP servers' OAuth tokens, name -> token: `mcpOAuth.secret.<base64 of the name>` rows, encrypted like keys
    mcp_oauth: Mapping[str, str] = field(default_factory=dict)
    # extension secrets, (extension id, key) -> value: `secret://{"extensionId":...,"key":...}` rows
    extension_secrets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    raw_rows: Mapping[str, str] = field(default_factory=dict)  # rows stored as given (what other tools write)
    profiles: tuple["ProfileSample", ...] = ()  # userDataProfiles with their own settings blob

    def codec(self) -> oscrypt.Codec | None:
        if self.generation == "basic":
            return oscrypt.linux_basic_codec()
        if self.generation == "v11":
            return oscrypt.linux_keyring_codec(self.secret)
        if self.generation == "macos":
            return oscrypt.macos_codec(self.secret)
        if self.generation == "windows":
            return oscrypt.GcmCodec(self.secret)
        return None


@dataclass(frozen=True)
class ProfileSample:
    """One userDataProfiles entry: its folder under User/profiles and its own settings."""

    location: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)


def default_settings(base_url: str | None = None) -> dict[str, Any]:
    return {
        "useOpenAIKey": True,
        "openAIBaseUrl": base_url,
        "useClaudeKey": True,
        "useGoogleKey": False,
        "azureState": {"useAzure": True, "baseUrl": "https://contoso-ai.openai.azure.com", "deployment": "gpt-4o-prod"},
        "bedrockState": {"useBedrock": False, "region": "us-east-1"},
        "aiSettings": {
            "userAddedModels": ["llama-3.1-70b", "qwen2.5-coder:32b"],
            "modelOverrideEnabled": ["llama-3.1-70b", "claude-sonnet-4"],
            "modelOverrideDisabled": ["gpt-4.1-nano"],
            "modelConfig": {
                "composer": {"modelName": "claude-sonnet-4", "maxMode": False},
                "cmd-k": {"modelName": "gpt-4o", "maxMode": False},
            },
        },
    }


def item_rows(sample: Sample) -> dict[str, str]:
    """The ItemTable rows Cursor of that generation would hold."""
    rng = random.Random(sample.seed)
    doc = filler_blob(sample.blob_filler, rng)
    doc.update(json.loads(json.dumps(sample.settings)))
    rows = {
        "cursorAuth/accessToken": "eyJhbGciOiJIUzI1NiJ9.sample-login-token",
        "cursorAuth/refreshToken": "sample-refresh-token",
        "cursorAuth/cachedEmail": "dev@example.com",
        "telemetry.machineId": _pick(rng, "0123456789abcdef", 64),
        "storage.serviceMachineId": "3f1c7a52-0c4e-4c59-9d1e-4d2c1b0a9e77",
        "workbench.panel.height": "300",
    }
    codec = sample.codec()
    for field_name, value in sample.keys.items():
        in_blob = codec is None or not sample.azure_bedrock_rows
        slot = registry().key_slots[field_name]
        if (slot.blob and in_blob) or slot.row is None:  # Cursor 2.x keeps Azure and Bedrock keys in the blob
            *parents, attr = slot.blob
            place = doc
            for parent in parents:
                place = place.setdefault(parent, {})
            place[attr] = value
            continue
        name = slot.row
        if codec is None:
            rows[PLAIN_PREFIX + name] = value
        else:
            rows[SECRET_PREFIX + name] = oscrypt.encode_buffer_json(codec.encrypt(value))
    if sample.extra_secrets:
        if codec is None:
            raise ValueError("extra secrets are secret:// rows, which a plaintext sample has no codec for")
        for name, value in sample.extra_secrets.items():
            rows[SECRET_PREFIX + name] = oscrypt.encode_buffer_json(codec.encrypt(value))
    if codec is not None and sample.mcp_key:
        rows["secret://mcpEncryptionKey"] = oscrypt.encode_buffer_json(codec.encrypt(_pick(rng, B64URL, 43)))
    if codec is not None:
        for name, token in sample.mcp_oauth.items():
            rows[mcp_oauth_row(name)] = oscrypt.encode_buffer_json(codec.encrypt(token))
        for (extension, key), value in sample.extension_secrets.items():
            rows[extension_secret_row(extension, key)] = oscrypt.encode_buffer_json(codec.encrypt(value))
    rows.update(sample.raw_rows)
    rows[BLOB_KEY] = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    rows.update(version_rows(sample))
    return rows


def mcp_oauth_row(name: str) -> str:
    """The row Cursor keeps an MCP server's OAuth token in: `mcpOAuth.secret.` + base64 of its name."""
    return MCP_SECRET_PREFIX + base64.b64encode(name.encode()).decode()


def extension_secret_row(extension: str, key: str) -> str:
    """An extension's secret row, as VS Code names it: `secret://` + the JSON of its extension id and key."""
    return ANY_SECRET_PREFIX + json.dumps({"extensionId": extension, "key": key}, separators=(",", ":"))


def mcp_token(rng: random.Random) -> str:
    """A made-up MCP OAuth token document (the shape of what Cursor stores: JSON with the tokens)."""
    access = "ya29." + _pick(rng, B64URL, 120)
    return json.dumps({"access_token": access, "refresh_token": "1//" + _pick(rng, B64URL, 90), "token_type": "Bearer"})


def version_rows(sample: Sample) -> dict[str, str]:
    """The rows in which Cursor records its version, and 3.7's backup switch."""
    rows = {}
    if sample.cursor_version:
        rows["releaseNotes/lastVersion"] = sample.cursor_version
        rows["update/lastKnownVersion"] = sample.cursor_version
    if sample.backups is False:
        rows["cursor.storage.disableSqliteStorageBackup"] = "true"
    return rows


def profile_rows(profile: ProfileSample, seed: int) -> dict[str, str]:
    """A profile database: its own settings blob, no key rows (those stay in the default database)."""
    doc = filler_blob(1000, random.Random(seed))
    doc.update(json.loads(json.dumps(profile.settings)))
    return {BLOB_KEY: json.dumps(doc, separators=(",", ":"), ensure_ascii=False), "workbench.panel.height": "240"}


def create_db(
    path: Path,
    rows: Mapping[str, str],
    *,
    wal: bool = True,
    disk_kv_bytes: int = 0,
    seed: int = 0,
    disk_kv: bool = True,
) -> None:
    """A state.vscdb with Cursor's schema, these ItemTable rows and optional chat bloat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA user_version = 1")
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        for table in ("ItemTable", "cursorDiskKV") if disk_kv else ("ItemTable",):
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", list(rows.items()))
        _bloat(conn, disk_kv_bytes, seed)
        conn.commit()
    finally:
        conn.close()


def _bloat(conn: sqlite3.Connection, total: int, seed: int) -> None:
    """Chat history in cursorDiskKV, like the multi-GB files users have."""
    if total <= 0:
        return
    rng = random.Random(seed)
    piece = _pick(rng, string.ascii_letters, 4096)
    value = json.dumps({"text": piece * 16})  # ~64 KiB per bubble
    i = 0
    written = 0
    while written < total:
        batch = [(f"bubbleId:{i + j:08d}", value) for j in range(256)]
        conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", batch)
        conn.commit()
        i += 256
        written += 256 * len(value)


def dpapi_encrypted_key(secret: bytes, platform: str | None = None) -> str:
    """`os_crypt.encrypted_key` for this AES key: base64("DPAPI" + CryptProtectData(key)).

    On Windows the key is protected for real, for the current user, so Cursor
    and `--safe-storage dpapi` read it as they read a real install's. Elsewhere
    there is no DPAPI: the sample stores a marker that the tests' stand-in for
    CryptUnprotectData maps back to the key.
    """
    if (platform or sys.platform) == "win32":
        protected = dpapi.win_protect(secret)
    else:
        protected = b"fake:" + secret
    return base64.b64encode(b"DPAPI" + protected).decode()


def build_user_data_dir(root: Path, sample: Sample) -> Path:
    """Lay out `root` like a Cursor user-data dir; returns the database path."""
    udd = Path(root)
    db = udd / "User" / "globalStorage" / "state.vscdb"
    rows = item_rows(sample)
    create_db(db, rows, wal=sample.wal, disk_kv_bytes=sample.disk_kv_bytes, seed=sample.seed, disk_kv=sample.disk_kv)
    if sample.options_json:
        (db.parent / "state.vscdb.options.json").write_text(json.dumps({"useWAL": sample.wal}, indent=4))
    if sample.backups:
        create_db(Path(f"{db}.backup"), rows, wal=False, seed=sample.seed, disk_kv=sample.disk_kv)
    if sample.generation == "windows":  # Electron writes os_crypt prefs on Windows only
        encrypted_key = dpapi_encrypted_key(sample.secret)
        local_state = {"browser": {"enabled_labs_experiments": []}, "os_crypt": {"encrypted_key": encrypted_key}}
        (udd / "Local State").write_text(json.dumps(local_state))
    build_profiles(udd, sample)
    os.makedirs(udd / "User", exist_ok=True)
    return db


def build_profiles(udd: Path, sample: Sample) -> None:
    """storage.json's userDataProfiles and one database per profile, as VS Code lays them out."""
    if not sample.profiles:
        return
    storage = {
        "userDataProfiles": [{"location": p.location, "name": p.name, "icon": "server"} for p in sample.profiles],
        "profileAssociations": {"workspaces": {}, "emptyWindows": {}},
    }
    folder = udd / "User" / "globalStorage"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "storage.json").write_text(json.dumps(storage, indent=4))
    for i, p in enumerate(sample.profiles):
        db = udd / "User" / "profiles" / p.location / "globalStorage" / "state.vscdb"
        create_db(db, profile_rows(p, sample.seed + i), wal=sample.wal, disk_kv=sample.disk_kv)


# --- real layouts -------------------------------------------------------------------
# Installs as real Cursor versions leave them (docs/cursor-versions.md); the
# copies in tests/fixtures/ are made by scripts/make-fixtures from these.


def _legacy_settings() -> dict[str, Any]:
    """A 0.x settings blob: the key toggle and a custom model, no Azure or Bedrock yet."""
    return {"useOpenAIKey": True, "aiSettings": {"userAddedModels": ["gpt-4-turbo-preview"]}}


def layout_0_42(seed: int = 42) -> Sample:
    """Cursor 0.42 on Linux: only ItemTable, DELETE journal, a legacy plain key, a backup."""
    rng = random.Random(seed)
    return Sample(
        generation="plaintext",
        keys={"openai.key": make_key("openai", rng)},
        settings=_legacy_settings(),
        wal=False,
        disk_kv=False,
        options_json=False,
        backups=True,
        cursor_version="0.42.5",
        seed=seed,
    )


def layout_2_4(seed: int = 24) -> Sample:
    """Cursor 2.4 on Linux with GNOME Keyring: WAL, options.json, a backup, v11 secret:// keys."""
    rng = random.Random(seed)
    keys = {"openai.key": make_key("openai", rng), "anthropic.key": make_key("anthropic", rng)}
    return Sample(
        generation="v11",
        keys=keys,
        settings={**default_settings(), "useGoogleKey": False},
        wal=True,
        options_json=True,
        backups=True,
        cursor_version="2.4.31",
        seed=seed,
    )


def layout_3_7(seed: int = 37) -> Sample:
    """Cursor 3.7 freshly installed: WAL without options.json, backups off, no secret:// row at all."""
    return Sample(
        generation="v11",
        keys={},
        settings={"openAIBaseUrl": None, "aiSettings": {"modelConfig": {"composer": {"modelName": "default"}}}},
        wal=True,
        options_json=False,
        backups=False,
        mcp_key=False,
        cursor_version="3.7.42",
        seed=seed,
    )


MCP_SERVER = "[plugin-google-drive-google-drive::mcpScope:profile:ZGVmYXVsdA] mcp_tokens"  # a real row's name


def layout_3_7_mcp(seed: int = 38) -> Sample:
    """Cursor 3.7 with one MCP server signed in and no key set: its only encrypted row an `mcpOAuth.secret.*` one."""
    base = layout_3_7(seed)
    return Sample(**{**base.__dict__, "mcp_oauth": {MCP_SERVER: mcp_token(random.Random(seed))}})


def layout_profiles(seed: int = 5) -> Sample:
    """Two profiles next to the default one, each with its own settings blob and models (seen on 0.42)."""
    base = layout_0_42(seed)
    fullstack = ProfileSample(
        "39b0872a",
        "Fullstack",
        {"useOpenAIKey": False, "aiSettings": {"userAddedModels": ["deepseek-coder-v2"], "modelOverrideEnabled": []}},
    )
    data = ProfileSample("-5e2c91d0", "Data", {"useOpenAIKey": True, "aiSettings": {"userAddedModels": []}})
    return Sample(**{**base.__dict__, "profiles": (fullstack, data)})


REAL_LAYOUTS = {
    "cursor-0.42": layout_0_42,
    "cursor-2.4": layout_2_4,
    "cursor-3.7": layout_3_7,
    "cursor-3.7-mcp": layout_3_7_mcp,
    "cursor-profiles": layout_profiles,
}
