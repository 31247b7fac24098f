"""Run one command and report its wall time, CPU time and peak RSS as JSON.

    python -I -S bench_launch.py REPORT_FILE COMMAND [ARG ...]

Why a launcher: a child's ru_maxrss starts from the resident size of the
process that forked it (Linux carries the parent's high-water mark through
fork or vfork and exec). Spawned from the benchmark script, which has built
samples and imported libraries, every child would look at least that big.
This launcher runs with -S (no site packages) and imports almost nothing,
so its own few MiB are the floor instead; the command inherits its output
files and environment. Wall time runs from the spawn to os.wait4 here, so
the launcher's own start-up is not counted.
"""

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    report, command = argv[0], argv[1:]
    start = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_bytes": usage.ru_maxrss * 1024,
        "returncode": os.waitstatus_to_exitcode(status),
    }
    with open(report, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
