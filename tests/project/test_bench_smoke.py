"""scripts/bench runs end to end on tiny samples and reports every metric.

No timing is asserted here: the figures are for docs/benchmarks.md, measured
by a real run of the script, not by the test suite.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.paths import REPO

BENCH = REPO / "scripts" / "bench"
METRICS = ("list-scaling", "list-overhead", "list-memory", "import-scaling", "lock-hold", "startup", "startup-imports",
           "raw-scan", "raw-scan-memory", "workspaces", "models", "journals-list", "journals-undo", "journals-memory",
           "blob-memory", "passphrase-scrypt")  # fmt: skip


@pytest.mark.slow
def test_bench_quick_run_reports_every_metric(tmp_path):
    argv = [sys.executable, str(BENCH), "--quick", "--big-size", "20MB", "--small-size", "5MB"]
    argv += ["--runs", "2", "--warmup", "1", "--lock-imports", "3", "--work", str(tmp_path), "--json"]
    argv += ["--scan-size", "9MB", "--workspaces", "20", "--models", "300", "--journals", "20", "--blob-size", "1MB"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = done.stderr.splitlines()
    for metric in METRICS:
        row = [line.split() for line in table if line.split()[:1] == [metric]]
        assert row and {"PASS", "FAIL", "INFO"} & set(row[0]), metric
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert set(results) == set(METRICS)
    assert all(r["result"] in ("PASS", "FAIL", "INFO") for r in results.values())
    assert (tmp_path / "db-5MB" / "manifest.json").is_file()
