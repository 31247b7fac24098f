"""Set-ups for the benchmarks of the files around the database (see scripts/bench).

Each function builds what one measurement needs under a scratch folder and
returns argv lists, or a callable that restores a state before a run; the
timing and the verdicts stay in scripts/bench.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import bench_samples as S

from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.bundle import document as bundle
from cursor_byok.changes import journal
from cursor_byok.samples import installs as sample

MIB = 2**20


# --- raw key scan ----------------------------------------------------------------------


def corrupted_copy(big: S.Install, folder: Path, size: int, rng: random.Random) -> tuple[Path, set[str]]:
    """A `state.vscdb.corrupted.<ms>` of `size` bytes cut from the big sample (chat pages),
    with a damaged header and made-up keys planted, some across 4 MiB window boundaries.
    Returns the path and the fingerprints of the planted keys."""
    from cursor_byok.model import Secret

    path = folder / "state.vscdb.corrupted.1712345678901"
    keys = [sample.make_key(kind, rng) for kind in ("openai", "anthropic", "google", "aws_access", "openrouter")] * 2
    spots = sorted({rng.randrange(1024, size - 1024) for _ in range(5)} | {n * 4 * MIB - 40 for n in (1, 3, 7)})
    spots = [s for s in spots if s < size - 1024][: len(keys)]
    with open(big.db, "rb") as src, open(path, "wb") as out:
        written = 0
        while written < size:
            block = src.read(min(16 * MIB, size - written))
            if not block:
                src.seek(0)
                continue
            out.write(block)
            written += len(block)
        out.seek(0)
        out.write(b"\x00" * 100)  # no SQLite header: Cursor set it aside, SQLite cannot open it
        for spot, key in zip(spots, keys, strict=False):
            out.seek(spot)
            out.write(b" cursorAuth/openAIKey" + key.encode() + b"\x00")
    return path, {Secret(k).fingerprint for k in keys[: len(spots)]}


# --- workspaces ------------------------------------------------------------------------


def copy_install(src: S.Install, dest: Path) -> S.Install:
    inst = S.Install(dest)
    shutil.copytree(src.user_data_dir, inst.user_data_dir)
    shutil.copy(src.password_file, inst.password_file)
    return inst


def add_workspaces(inst: S.Install, count: int, rng: random.Random) -> None:
    """`count` small workspace databases, like VS Code's: a few memento rows of up to 8 KB each."""
    base = inst.user_data_dir / "User" / "workspaceStorage"
    for _ in range(count):
        folder = base / f"{rng.getrandbits(128):032x}"
        folder.mkdir(parents=True)
        conn = sqlite3.connect(folder / "state.vscdb")
        conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        conn.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        rows = [(f"memento/workbench.part{j}", json.dumps({"state": rng.randbytes(rng.randint(50, 4000)).hex()}))
                for j in range(8)]  # fmt: skip
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", rows)
        conn.commit()
        conn.close()


# --- models ----------------------------------------------------------------------------


def model_bundles(folder: Path, counts: tuple[int, ...], rng: random.Random) -> tuple[Path, dict[int, Path]]:
    """(identity file, {count: bundle}): bundles with keys and `count` user-added models, all switched on."""
    folder.mkdir(parents=True, exist_ok=True)
    identity, recipient = agefile.generate_identity()
    identity_file = folder / "identity.txt"
    identity_file.write_text(identity + "\n")
    identity_file.chmod(0o600)
    out = {}
    for count in counts:
        doc = S.bundle_document(rng)
        names = [f"team-model-{i:05d}" for i in range(count)]
        doc["profile"]["models"] = {"user_added": names, "enabled": names, "disabled": []}
        path = folder / f"models-{count}.age"
        path.write_bytes(agefile.encrypt(bundle.encode(doc), recipients=[recipient]))
        out[count] = path
    return identity_file, out


class Pristine:
    """A saved copy of an install's database and a data dir, put back before each run."""

    def __init__(self, inst: S.Install, data_dir: Path, folder: Path) -> None:
        self.inst, self.data_dir, self.folder = inst, data_dir, folder
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(inst.db, folder / "db")
        if data_dir.exists():
            shutil.copytree(data_dir, folder / "data")

    def restore(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{self.inst.db}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.folder / "db", self.inst.db)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if (self.folder / "data").exists():
            shutil.copytree(self.folder / "data", self.data_dir)


# --- journals --------------------------------------------------------------------------


def clone_journals(data_dir: Path, count: int) -> None:
    """Make the one journal in data_dir/journals `count` journals of the same database:
    older copies with their own ids, as months of imports would leave."""
    folder = data_dir / "journals"
    (original,) = folder.glob("*.json")
    first, rest = original.read_bytes().split(b"\n", 1)
    header = json.loads(first[:-1] + b"}")
    tag = journal.db_tag(Path(header["db"]))
    for i in range(count - 1):
        jid = f"2024{(i // 28) % 12 + 1:02d}{i % 28 + 1:02d}T{i % 24:02d}0000.{i % 1000:03d}Z-{i:06x}"
        header["id"] = jid
        head = json.dumps(header)[:-1] + ","
        path = folder / f"{jid}.{tag}.json"
        path.write_bytes(head.encode() + b"\n" + rest)
        path.chmod(0o600)
