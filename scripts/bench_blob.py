"""The memory a write costs with a large settings blob, measured in this process with tracemalloc.

    python scripts/bench_blob.py WORK_DIR [--size 5MB]

Builds a sample install whose settings blob holds about SIZE bytes, then runs
one `set` of a provider's base URL and switch (the blob's fields change, no
key) through the library's one write flow (byok.set_key), and
prints JSON: the blob's size, and the peak of Python allocations during the
write above what was allocated before it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tracemalloc
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

import cursor_byok as byok  # noqa: E402
from cursor_byok.cursor.reading import read_rows  # noqa: E402
from cursor_byok.cursor.rows import BLOB_KEY  # noqa: E402
from cursor_byok.safestorage.backends import SafeStorageConfig  # noqa: E402
from cursor_byok.samples import installs as sample  # noqa: E402


def build(folder: Path, size: int) -> tuple[Path, bytes]:
    """A v11 install whose settings blob is grown to about `size` bytes of ASCII account caches."""
    spec = sample.Sample(generation="v11", keys=sample.sample_keys(random.Random(3)),
                         settings=sample.default_settings(), seed=3)  # fmt: skip
    sample.build_user_data_dir(folder, spec)
    db = folder / "User" / "globalStorage" / "state.vscdb"
    conn = sqlite3.connect(db)
    doc = json.loads(conn.execute("SELECT value FROM ItemTable WHERE key = ?", (BLOB_KEY,)).fetchone()[0])
    rng = random.Random(5)
    for i in range(max(size // 2100, 1)):
        doc[f"reactiveCache{i}"] = {"h": rng.randbytes(1000).hex(), "n": i, "on": i % 3 == 0}
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (BLOB_KEY, json.dumps(doc, separators=(",", ":"))))
    conn.commit()
    conn.close()
    return folder, spec.secret


def measure(folder: Path, secret: bytes, url: str) -> dict:
    password = folder.parent / "password"
    password.write_bytes(secret)
    ctx = byok.Context(
        user_data_dir=str(folder),
        safe_storage=SafeStorageConfig("password", scheme="linux", password_file=str(password)),
    )
    blob_size = len(read_rows(ctx.installation().db_path)[BLOB_KEY].encode())
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = byok.set_key(ctx, "openai", base_url=url, enabled=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if not result.applied:
        raise SystemExit("the write changed nothing")
    return {"blob_bytes": blob_size, "peak_above_baseline": peak - base}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("work")
    p.add_argument("--size", type=int, default=5 * 2**20)
    p.add_argument("--repeat", type=int, default=3, help="writes measured (default: 3)")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CURSOR_BYOK_DATA_DIR", str(work / "data"))
    folder, secret = build(work / "udd", a.size)
    # The first write adds the base URL, the others replace it (journalled against the one before).
    runs = [measure(folder, secret, f"https://llm-{i}.example.com/v1") for i in range(a.repeat)]
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
