"""Sample Cursor installs for the benchmarks, built once and cached under --work.

Each sample is a whole user-data dir from `cursor_byok.samples.installs` (storage
generation v11, a 250 KB settings blob, WAL mode) grown to a target file
size with chat history in cursorDiskKV. A few MB of other ItemTable rows
(workbench state and extension secrets) are added along the way, so the
BYOK rows sit among pages spread over the file as in a long-used install.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cursor_byok.bundle import document as bundle
from cursor_byok.samples import installs as sample

BUILDER_VERSION = 1
BLOB_FILLER = 250_000
ITEMTABLE_EXTRA_BYTES = 3_000_000
EXTENSION_SECRETS = 20
BATCH_BYTES = 32 * 2**20
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """Bytes in '10MB', '2GB', '512MiB' or a plain number (MB and GB are decimal)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise ValueError(f"not a size: {text!r} (try 10MB, 2GB, 512MiB)")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def size_label(size: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor:
            return f"{size / factor:g}{unit}"
    return f"{size}B"


@dataclass(frozen=True)
class Install:
    """A cached sample: where its database and safe-storage password file are."""

    folder: Path

    @property
    def user_data_dir(self) -> Path:
        return self.folder / "udd"

    @property
    def db(self) -> Path:
        return self.user_data_dir / "User" / "globalStorage" / "state.vscdb"

    @property
    def password_file(self) -> Path:
        return self.folder / "safe-storage-password"

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.json"

    def safe_storage_args(self) -> list[str]:
        return [
            "--safe-storage", "password",
            "--safe-storage-scheme", "linux",
            "--safe-storage-password-file", str(self.password_file),
        ]  # fmt: skip

    def cli_args(self) -> list[str]:
        return ["--db", str(self.db), *self.safe_storage_args()]


def _manifest_for(target: int, seed: int) -> dict:
    return {"builder": BUILDER_VERSION, "target_bytes": target, "seed": seed, "generation": "v11"}


def cached_install(work: Path, target: int, *, seed: int = 7, log=print) -> Install:
    """The sample of `target` bytes under `work`, built now unless a matching one is cached."""
    inst = Install(work / f"db-{size_label(target)}")
    wanted = _manifest_for(target, seed)
    if inst.manifest.is_file() and inst.db.is_file():
        if json.loads(inst.manifest.read_text()) == wanted:
            return inst
    log(f"building the {size_label(target)} sample in {inst.folder} ...")
    staging = Install(work / f".building-{size_label(target)}")
    shutil.rmtree(staging.folder, ignore_errors=True)
    _build(staging, target, seed)
    staging.manifest.write_text(json.dumps(wanted))
    shutil.rmtree(inst.folder, ignore_errors=True)
    staging.folder.rename(inst.folder)
    return inst


def _build(inst: Install, target: int, seed: int) -> None:
    rng = random.Random(seed)
    spec = sample.Sample(
        generation="v11",
        keys=sample.sample_keys(rng),
        settings=sample.default_settings(),
        blob_filler=BLOB_FILLER,
        wal=True,
        seed=seed,
    )
    inst.folder.mkdir(parents=True)
    sample.build_user_data_dir(inst.user_data_dir, spec)
    inst.password_file.write_bytes(spec.secret)
    grow(inst.db, target, rng)


def grow(db: Path, target: int, rng: random.Random) -> None:
    """Add chat history (and some ItemTable rows) until the file holds `target` bytes."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        _add_extension_secrets(conn, rng)
        item_budget = ITEMTABLE_EXTRA_BYTES
        n = 0
        while _file_bytes(conn) < target:
            missing = target - _file_bytes(conn)
            n, used = _add_chat_batch(conn, rng, n, min(BATCH_BYTES, missing))
            item_budget -= _add_item_rows(conn, rng, min(item_budget, max(used // 50, 4096)))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _file_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return pages * conn.execute("PRAGMA page_size").fetchone()[0]


def _text(rng: random.Random, size: int) -> str:
    return rng.randbytes(max(size // 2, 1)).hex()


def _add_chat_batch(conn: sqlite3.Connection, rng: random.Random, start: int, budget: int) -> tuple[int, int]:
    """Chat bubbles of 1 to 48 KB; returns the next row number and the bytes written."""
    rows, used = [], 0
    while used < budget:
        size = min(rng.randint(1_000, 48_000), max(budget - used, 200))
        value = json.dumps({"type": 2, "text": _text(rng, size)})
        rows.append((f"bubbleId:{start // 64:06d}:{start:09d}", value))
        start += 1
        used += len(value)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", rows)
    conn.execute("COMMIT")
    return start, used


def _add_item_rows(conn: sqlite3.Connection, rng: random.Random, budget: int) -> int:
    """Workbench-state rows, like the few MB of ItemTable in a real install."""
    if budget <= 0:
        return 0
    rows, used = [], 0
    while used < budget:
        value = json.dumps({"state": _text(rng, rng.randint(100, 4_000))})
        rows.append((f"workbench.view.{rng.getrandbits(64):016x}", value))
        used += len(value)
    conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", rows)
    return used


def _add_extension_secrets(conn: sqlite3.Connection, rng: random.Random) -> None:
    """secret:// rows of extensions: inside the prefix range that `list` reads."""
    rows = [
        (f'secret://{{"extensionId":"pub.ext{i}","key":"token"}}', sample.make_key("openrouter", rng))
        for i in range(EXTENSION_SECRETS)
    ]
    conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", rows)


# --- bundles -------------------------------------------------------------------------


def bundle_document(rng: random.Random) -> dict:
    """A bundle document with fresh made-up keys and the sample's model settings."""
    keys = sample.sample_keys(rng)
    return {
        "format": bundle.FORMAT,
        "version": bundle.VERSION,
        "created": "2025-01-01T00:00:00Z",
        "source": {"tool": "cursor-byok benchmark", "os": "linux"},
        "profile": {
            "providers": {
                "openai": {"enabled": True, "base_url": None, "key": keys["openai.key"]},
                "anthropic": {"enabled": True, "key": keys["anthropic.key"]},
                "google": {"enabled": True, "key": keys["google.key"]},
                "azure": {"enabled": True, "key": keys["azure.key"]},
            },
            "models": {"user_added": ["llama-3.1-70b"], "enabled": ["llama-3.1-70b"], "disabled": []},
        },
    }


def write_bundles(folder: Path, count: int = 2, seed: int = 11) -> tuple[Path, list[Path]]:
    """(identity file, bundles) : `count` bundles with different keys, sealed to one x25519 identity."""
    from cursor_byok.bundle import age_envelope as agefile

    folder.mkdir(parents=True, exist_ok=True)
    identity, recipient = agefile.generate_identity()
    identity_file = folder / "identity.txt"
    identity_file.write_text(identity + "\n")
    identity_file.chmod(0o600)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        data = agefile.encrypt(bundle.encode(bundle_document(rng)), recipients=[recipient])
        path = folder / f"bundle-{i}.age"
        path.write_bytes(data)
        paths.append(path)
    return identity_file, paths
