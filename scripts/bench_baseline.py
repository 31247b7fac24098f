"""The floor for `cursor-byok list`: the same reads and decryption with sqlite3 directly.

Run as a child process by scripts/bench:
    bench_baseline.py DB PASSWORD_FILE --key K ... --prefix P ...

It imports the libraries cursor-byok depends on (so both sides pay the same
import cost), fetches the same ItemTable rows in one read transaction (the
exact keys plus the prefix ranges, as `key >= p AND key < p'` so the index is
used), parses the settings blob, and decrypts every `secret://cursorAuth/`
row with Chromium's Linux v11 scheme. It prints a short JSON summary.
It deliberately does not import cursor_byok.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from urllib.parse import quote

import click  # noqa: F401  (same imports as the CLI)
import platformdirs  # noqa: F401
import sqlalchemy  # noqa: F401
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_ROW_PREFIX = "secret://cursorAuth/"
BLOB_KEY = "src.vs.platform.reactivestorage.browser.reactiveStorageServiceImpl.persistentStorage.applicationUser"


def fetch(db: str, keys: list[str], prefixes: list[str]) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{quote(db)}?mode=ro", uri=True, isolation_level=None)
    try:
        where = ["key IN (%s)" % ",".join("?" * len(keys))] + ["(key >= ? AND key < ?)"] * len(prefixes)
        params = [*keys] + [b for p in prefixes for b in (p, p[:-1] + chr(ord(p[-1]) + 1))]
        conn.execute("BEGIN")
        rows = conn.execute(f"SELECT key, value FROM ItemTable WHERE {' OR '.join(where)}", params).fetchall()
        conn.execute("COMMIT")
        return dict(rows)
    finally:
        conn.close()


def decrypt_v11(password: bytes, text: str) -> str:
    blob = bytes(json.loads(text)["data"])
    assert blob[:3] == b"v11", blob[:3]
    key = hashlib.pbkdf2_hmac("sha1", password, b"saltysalt", 1, 16)
    dec = Cipher(algorithms.AES(key), modes.CBC(b" " * 16)).decryptor()
    padded = dec.update(blob[3:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("password_file")
    parser.add_argument("--key", action="append", default=[])
    parser.add_argument("--prefix", action="append", default=[])
    args = parser.parse_args(argv)
    with open(args.password_file, "rb") as fh:
        password = fh.read()
    rows = fetch(args.db, args.key, args.prefix)
    settings = json.loads(rows[BLOB_KEY])
    keys = {k: decrypt_v11(password, v) for k, v in rows.items() if k.startswith(KEY_ROW_PREFIX)}
    summary = {
        "rows": len(rows),
        "settings_fields": len(settings),
        "keys": {k: hashlib.sha256(v.encode()).hexdigest()[:12] for k, v in sorted(keys.items())},
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
