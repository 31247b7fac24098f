"""One pass over a file, as a child process of scripts/bench.

    python bench_rawscan.py find FILE   # read it in 4 MiB windows, one bytes.find per window
    python bench_rawscan.py scan FILE   # the audit's raw key scan (cursor_byok.scan.scan_raw)

Prints JSON: the bytes read, and for `scan` the fingerprints of the keys found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]


def find_pass(path: str) -> dict:
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            window = fh.read(4 * 2**20)
            if not window:
                break
            window.find(b"T3BlbkFJ-not-here")
            total += len(window)
    return {"bytes": total}


def scan_pass(path: str) -> dict:
    from cursor_byok.checks import surroundings as scan

    found = scan.scan_raw(Path(path))
    return {"bytes": Path(path).stat().st_size, "found": sorted(k.secret.fingerprint for k in found)}


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    print(json.dumps(find_pass(path) if mode == "find" else scan_pass(path)))
