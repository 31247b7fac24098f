#!/usr/bin/env python3
"""Benchmarks for reading an old machine's copied state.vscdb (cursor_byok.rescue.sparse_copy).

    scripts/bench_rescue.py [--work DIR] [--big-size 2GB] [--small-size 200MB] [--quick] [--runs 7] [--json]

Uses the sample databases of scripts/bench (built once, cached in --work and
shared with it: mostly cursorDiskKV chat history, a few MB of ItemTable), and
for each a backup "with -wal content": the same main file beside a -wal of
about 4 MB that a writer left (the settings blob rewritten five times, new
ItemTable rows, chat bubbles), copied while the writer was still open. Then
runs child processes, each reading the BYOK rows as `list` does, and compares:

  rescue-in-place    open_copy + Store read, no -wal / `list`'s read of the same database   <= 1.5
  rescue-memory      peak RSS of open_copy + read, in place and sparse, big database          <= 80 MiB
  rescue-wal-scaling sparse copy + read, big / small database, same -wal content              <= 1.2
  rescue-wal-cost    sparse copy + read / `list`'s read of the database without the -wal     (reported)
  rescue-full-copy   a full copy + read / the sparse copy + read, big database               (reported)

and the whole command, `rescue_keys` (what `cursor-byok rescue --from DIR`
shows: locate, copy, prove the secret by a row, decode every key), against
`list_keys` (`cursor-byok list`) on the same database. The old machine's
secret is given as the safeStorage secret itself, so no store's key
derivation runs (the v11 key is PBKDF2 with 1 iteration), and nothing is
sealed (no scrypt):

  rescue-cmd-in-place    rescue_keys, no -wal / list_keys, big database                      <= 1.5
  rescue-cmd-memory      peak RSS of rescue_keys, no -wal and with -wal, big database         <= 80 MiB
  rescue-cmd-wal-scaling rescue_keys with -wal, big / small database, same -wal content       <= 1.2
  rescue-cmd-wal-cost    rescue_keys with -wal / list_keys without it, big database          (reported)

Times are medians of --runs measured runs after warm-up runs, with the
commands taking turns and the page cache warm. Every figure in one table
comes from one run of this script. The rows each rescue read are checked
against those of a full copy (digests only; no value is printed).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

SCRIPTS = Path(__file__).resolve().parent
sys.path[:0] = [str(SCRIPTS), str(SCRIPTS.parent)]  # these helpers, and this checkout's cursor_byok

import bench_run as R  # noqa: E402
import bench_samples as S  # noqa: E402

MIB = 2**20
WAL_BUILDER_VERSION = 1
BLOB_REWRITES = 5
NEW_ITEM_ROWS = 200
WAL_CHAT_BYTES = 2_500_000


@dataclass
class Row:
    """One line of the results table."""

    id: str
    title: str
    value: float | None
    shown: str
    target: str
    result: str  # PASS, FAIL or INFO
    detail: str


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio_row(id_: str, title: str, runs: tuple[list, list], labels: tuple[str, str], limit: float | None) -> Row:
    """Median wall time of runs[0] / that of runs[1] (limit None: reported only); CPU-time ratio in the detail."""
    num, den = (R.median_seconds(r) for r in runs)
    cpu_num, cpu_den = (R.median_cpu_seconds(r) for r in runs)
    ratio = num / den
    detail = f"wall {labels[0]} {ms(num)} vs {labels[1]} {ms(den)}; CPU-time ratio {cpu_num / cpu_den:.2f}x"
    if limit is None:
        return Row(id_, title, ratio, f"{ratio:.2f}x", "(reported)", "INFO", detail)
    return Row(id_, title, ratio, f"{ratio:.2f}x", f"<= {limit:g}", "PASS" if ratio <= limit else "FAIL", detail)


# --- the backups ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backups:
    """One sample's database seen three ways, all hard links to the cached main file (never written)."""

    label: str
    plain: Path  # for `list`'s read, which opens it mode=ro and leaves a -wal and -shm beside it
    no_wal: Path  # a backup without -wal: open_copy opens it in place
    with_wal: Path  # the same main file beside the cached -wal: open_copy makes a sparse copy


def main_file_stamp(db: Path) -> dict:
    info = db.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}


def cached_wal(work: Path, inst: S.Install, label: str) -> Path:
    """A -wal written over the sample's main file, rebuilt when that file changed (scripts/bench imports into it)."""
    folder = work / f"rescue-wal-{label}"
    wal, manifest = folder / "state.vscdb-wal", folder / "manifest.json"
    wanted = {"builder": WAL_BUILDER_VERSION, "main": main_file_stamp(inst.db)}
    if wal.is_file() and manifest.is_file() and json.loads(manifest.read_text()) == wanted:
        return wal
    log(f"writing the -wal content over the {label} sample ...")
    shutil.rmtree(folder, ignore_errors=True)
    live = folder / "live"
    live.mkdir(parents=True)
    link_or_copy(inst.db, live / "state.vscdb")
    argv = [sys.executable, str(Path(__file__).resolve()), "make-wal", str(live / "state.vscdb"), str(wal)]
    subprocess.run(argv, check=True, timeout=600)
    shutil.rmtree(live)  # the writer's own -wal and -shm, never checkpointed
    if main_file_stamp(inst.db) != wanted["main"]:
        raise R.ChildFailed(f"{inst.db} changed while the -wal was written over it")
    manifest.write_text(json.dumps(wanted))
    return wal


def make_wal(db: Path, out: Path) -> None:
    """Child: write committed -wal content over db (no checkpoint), copy the -wal out, exit without closing."""
    from cursor_byok.cursor.rows import BLOB_KEY

    rng = random.Random(29)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    for n in range(BLOB_REWRITES):  # Cursor rewrites its settings blob as settings change
        conn.execute("UPDATE ItemTable SET value = value || ' ' WHERE key = ?", (BLOB_KEY,))
        rows = [(f"workbench.rescue.{n}.{i}", rng.randbytes(rng.randint(50, 1500)).hex())
                for i in range(NEW_ITEM_ROWS // BLOB_REWRITES)]  # fmt: skip
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        bubbles, used = [], 0
        while used < WAL_CHAT_BYTES // BLOB_REWRITES:
            text = json.dumps({"type": 2, "text": rng.randbytes(rng.randint(500, 12_000)).hex()})
            bubbles.append((f"bubbleId:rescue:{n}:{used}", text))
            used += len(text)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", bubbles)
        conn.execute("COMMIT")
    shutil.copyfile(f"{db}-wal", out)
    os._exit(0)  # closing would checkpoint into the main file, which is the cached sample's


def link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


DB_IN_UDD = ("User", "globalStorage")


def backups(work: Path, inst: S.Install, label: str, scratch: Path) -> Backups:
    """Each database in a user-data dir of its own (`rescue --from` takes the folder)."""
    wal = cached_wal(work, inst, label)
    folders = {name: scratch.joinpath(f"{label}-{name}", *DB_IN_UDD) for name in ("plain", "no-wal", "with-wal")}
    for folder in folders.values():
        folder.mkdir(parents=True)
        link_or_copy(inst.db, folder / "state.vscdb")
    link_or_copy(wal, folders["with-wal"] / "state.vscdb-wal")
    return Backups(label, *(folders[n] / "state.vscdb" for n in ("plain", "no-wal", "with-wal")))


def udd_of(db: Path) -> Path:
    return db.parents[len(DB_IN_UDD)]


# --- the children ---------------------------------------------------------------------------------------------------


def rows_digest(rows: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(rows):
        value = rows[key]
        digest.update(repr((key, value if isinstance(value, bytes) else str(value).encode())).encode())
    return digest.hexdigest()[:16]


def command_child(mode: str, db: Path, secret_file: Path) -> dict:
    """The whole command through the library: `list_keys` on the database, or `rescue_keys` from its folder with
    the safeStorage secret given; the fingerprints of every key it decoded, digested."""
    import cursor_byok as byok

    if mode == "list-cmd":
        config = byok.SafeStorageConfig("password", scheme="linux", password_file=str(secret_file))
        result = byok.list_keys(byok.Context(user_data_dir=str(udd_of(db)), safe_storage=config))
        out: dict = {}
    else:
        result = byok.rescue_keys(byok.OldMachine(udd_of(db), secret_file=str(secret_file)))
        out = {"how": result.copy.how, "store": result.store.kind}
    prints = sorted((f, k.secret.fingerprint) for f, k in result.stored.keys().items() if k.secret is not None)
    return {"rows": len(prints), "digest": hashlib.sha256(repr(prints).encode()).hexdigest()[:16], **out}


def child(mode: str, db: Path, secret_file: Path | None = None) -> dict:
    """Read the BYOK rows as `list` does: in place (`list`), through open_copy (`rescue`), or after a full copy;
    or run a whole command (`list-cmd`, `rescue-cmd`: command_child)."""
    if mode in ("list-cmd", "rescue-cmd"):
        assert secret_file is not None
        return command_child(mode, db, secret_file)
    from cursor_byok.cursor.rows import ROW_KEYS, ROW_PREFIXES
    from cursor_byok.cursor.store import Store
    from cursor_byok.rescue import sparse_copy as sc

    started = time.perf_counter()
    out: dict = {}
    if mode == "list":
        from cursor_byok.cursor.reading import read_rows

        rows = read_rows(db)  # what `list` reads
    elif mode == "rescue":
        with sc.private_tempdir() as work, sc.open_copy(db, workdir=work) as copy:
            copied = time.perf_counter()
            with Store(copy.path, snapshot=True) as store:
                rows = store.get_items(ROW_KEYS, ROW_PREFIXES)
            out = {"how": copy.how, "pages": copy.pages_copied, "bytes_written": copy.bytes_written,
                   "wal_frames": copy.wal_frames_used, "copy_s": copied - started}  # fmt: skip
    else:
        with sc.private_tempdir() as work:
            for suffix in ("", "-wal"):
                if Path(f"{db}{suffix}").exists():
                    shutil.copyfile(f"{db}{suffix}", work / f"state.vscdb{suffix}")
            with Store(work / "state.vscdb") as store:
                rows = store.get_items(ROW_KEYS, ROW_PREFIXES)
    return {"rows": len(rows), "digest": rows_digest(rows), **out}


def runner(mode: str, db: Path, env: dict, secret_file: Path | None = None) -> Callable[[], R.Child]:
    argv = [sys.executable, str(Path(__file__).resolve()), "child", mode, str(db)]
    argv += [str(secret_file)] if secret_file is not None else []
    return lambda: R.run_child(argv, env)


def report(c: R.Child) -> dict:
    return json.loads(c.stdout)


# --- measurements ---------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, small: Backups, big: Backups, env: dict, secrets: dict[str, Path]) -> list[Row]:
    big_secret, small_secret = secrets[big.label], secrets[small.label]
    runs = R.interleaved(
        {
            "list-big": runner("list", big.plain, env),
            "in-place-big": runner("rescue", big.no_wal, env),
            "in-place-small": runner("rescue", small.no_wal, env),
            "sparse-big": runner("rescue", big.with_wal, env),
            "sparse-small": runner("rescue", small.with_wal, env),
            "list-cmd-big": runner("list-cmd", big.plain, env, big_secret),
            "rescue-cmd-big": runner("rescue-cmd", big.no_wal, env, big_secret),
            "rescue-cmd-wal-big": runner("rescue-cmd", big.with_wal, env, big_secret),
            "rescue-cmd-wal-small": runner("rescue-cmd", small.with_wal, env, small_secret),
        },
        args.runs,
        args.warmup,
    )
    log(f"full copies of the {big.label} backup ({args.full_runs} runs) ...")
    full = R.interleaved({"full-big": runner("full", big.with_wal, env)}, args.full_runs, 0)["full-big"]
    reads = {name: children for name, children in runs.items() if "-cmd-" not in name}
    check_rows(reads, full, small, env)
    check_commands(runs)
    return [
        ratio_row("rescue-in-place", f"open_copy in place + read / list's read, {big.label}",
                  (runs["in-place-big"], runs["list-big"]), ("rescue", "list"), 1.5),
        memory_row(runs),
        ratio_row("rescue-wal-scaling", f"sparse copy + read, {big.label} / {small.label}, same -wal",
                  (runs["sparse-big"], runs["sparse-small"]), (big.label, small.label), 1.2),
        ratio_row("rescue-wal-cost", f"sparse copy + read / list's read without the -wal, {big.label}",
                  (runs["sparse-big"], runs["list-big"]), ("sparse", "list"), None),
        ratio_row("rescue-full-copy", f"full copy + read / sparse copy + read, {big.label}",
                  (full, runs["sparse-big"]), ("full", "sparse"), None),
        sparse_row(runs, small, big),
        ratio_row("rescue-cmd-in-place", f"rescue_keys, no -wal / list_keys, {big.label}",
                  (runs["rescue-cmd-big"], runs["list-cmd-big"]), ("rescue", "list"), 1.5),
        command_memory_row(runs),
        ratio_row("rescue-cmd-wal-scaling", f"rescue_keys with -wal, {big.label} / {small.label}, same -wal",
                  (runs["rescue-cmd-wal-big"], runs["rescue-cmd-wal-small"]), (big.label, small.label), 1.2),
        ratio_row("rescue-cmd-wal-cost", f"rescue_keys with -wal / list_keys without it, {big.label}",
                  (runs["rescue-cmd-wal-big"], runs["list-cmd-big"]), ("rescue", "list"), None),
    ]  # fmt: skip


def check_commands(runs: dict) -> None:
    """rescue_keys decodes every key list_keys decodes, to the same fingerprints, from each backup."""
    want = {report(c)["digest"] for c in runs["list-cmd-big"]}
    got = {name: {report(c)["digest"] for c in runs[name]} for name in ("rescue-cmd-big", "rescue-cmd-wal-big")}
    if len(want) != 1 or any(digests != want for digests in got.values()):
        raise R.ChildFailed(f"rescue_keys and list_keys decode different keys: {want} vs {got}")
    hows = {name: {report(c)["how"] for c in runs[name]} for name in got}
    if hows != {"rescue-cmd-big": {"in-place"}, "rescue-cmd-wal-big": {"sparse"}}:
        raise R.ChildFailed(f"rescue_keys read the backups otherwise than expected: {hows}")


def command_memory_row(runs: dict) -> Row:
    names = ("list-cmd-big", "rescue-cmd-big", "rescue-cmd-wal-big")
    peaks = {name: max(c.max_rss_bytes for c in runs[name]) / MIB for name in names}
    peak = max(peaks["rescue-cmd-big"], peaks["rescue-cmd-wal-big"])
    detail = ", ".join(f"{name} {peaks[name]:.1f}" for name in names) + " MiB (max over runs)"
    return Row("rescue-cmd-memory", "peak RSS of rescue_keys, no -wal and with -wal, big database", peak,
               f"{peak:.1f} MiB", "<= 80 MiB", "PASS" if peak <= 80 else "FAIL", detail)  # fmt: skip


def check_rows(runs: dict, full: list, small: Backups, env: dict) -> None:
    """Every rescue read the rows a full copy gives; in place, those `list` gives."""
    want_big = report(full[-1])["digest"]
    want_small = report(runner("full", small.with_wal, env)())["digest"]
    got = {name: {report(c)["digest"] for c in children} for name, children in runs.items()}
    expected = {"sparse-big": {want_big}, "sparse-small": {want_small}, "in-place-big": got["list-big"]}
    wrong = [name for name, digests in expected.items() if got[name] != digests]
    if wrong:
        raise R.ChildFailed(f"rows differ from a full copy's for: {', '.join(wrong)}")
    hows = {name: {report(c)["how"] for c in runs[name]} for name in runs if name != "list-big"}
    if hows != {"in-place-big": {"in-place"}, "in-place-small": {"in-place"}, "sparse-big": {"sparse"},
                "sparse-small": {"sparse"}}:  # fmt: skip
        raise R.ChildFailed(f"open_copy chose otherwise than expected: {hows}")


def memory_row(runs: dict) -> Row:
    peaks = {name: max(c.max_rss_bytes for c in runs[name]) / MIB for name in runs}
    peak = max(peaks["in-place-big"], peaks["sparse-big"])
    detail = ", ".join(f"{name} {peaks[name]:.1f}" for name in runs) + " MiB (max over runs)"
    return Row("rescue-memory", "peak RSS of open_copy + read, big database", peak, f"{peak:.1f} MiB", "<= 80 MiB",
               "PASS" if peak <= 80 else "FAIL", detail)  # fmt: skip


def sparse_row(runs: dict, small: Backups, big: Backups) -> Row:
    parts = []
    for name, backup in (("sparse-small", small), ("sparse-big", big)):
        last = report(runs[name][-1])
        copy_s = statistics.median(report(c)["copy_s"] for c in runs[name])
        parts.append(f"{backup.label}: {last['pages']} pages, {last['bytes_written'] / MIB:.1f} MiB written for "
                     f"{backup.with_wal.stat().st_size / MIB:,.0f} MiB + "
                     f"{Path(f'{backup.with_wal}-wal').stat().st_size / MIB:.1f} MiB -wal "
                     f"({last['wal_frames']} frames), open_copy {ms(copy_s)}")  # fmt: skip
    written = report(runs["sparse-big"][-1])["bytes_written"] / MIB
    return Row("rescue-sparse-bytes", "bytes the sparse copy writes, big database", written, f"{written:.1f} MiB",
               "(reported)", "INFO", "; ".join(parts))  # fmt: skip


# --- report ---------------------------------------------------------------------------------------------------------


def machine() -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def table(rows: list[Row]) -> str:
    cells = [("id", "metric", "measured", "target", "result", "detail")]
    cells += [(r.id, r.title, r.shown, r.target, r.result, r.detail) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(5)) + "  " + c[5] for c in cells]
    return "\n".join(line.rstrip() for line in lines)


def header(args: argparse.Namespace, load_before: list, small: Backups, big: Backups) -> str:
    """The table's title, with {date}, {os}, ... left for machine()'s figures taken at the end."""
    sizes = ", ".join(f"{b.label} ({b.no_wal.stat().st_size:,} B)" for b in (small, big))
    return (
        "cursor-byok rescue benchmarks, {date}: {os}, {cpus} CPUs, Python {python}, SQLite {sqlite}, "
        f"load {load_before} before, " + "{load_average} after\n"
        f"samples: {sizes}{' (--quick)' if args.quick else ''}; times are medians of {args.runs} runs "
        f"after {args.warmup} warm-up run(s); {args.full_runs} full-copy run(s)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench_rescue.py", description=__doc__.split("\n")[0])
    p.add_argument("--work", default="bench-out", help="folder for the cached samples (default: ./bench-out)")
    p.add_argument("--big-size", help="size of the big sample (default: 2GB, or 600MB with --quick)")
    p.add_argument("--small-size", help="size of the small sample (default: 200MB)")
    p.add_argument("--quick", action="store_true", help="a fast run: a 600MB big sample, fewer runs")
    p.add_argument("--runs", type=int, help="measured runs per command (default: 7, or 3 with --quick)")
    p.add_argument("--full-runs", type=int, help="measured full copies (default: 3, or 1 with --quick)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default: 1)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout (table on stderr)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    args = p.parse_args(argv)
    args.big_size = args.big_size or ("600MB" if args.quick else "2GB")
    args.small_size = args.small_size or "200MB"
    args.runs = args.runs or (3 if args.quick else 7)
    args.full_runs = args.full_runs or (1 if args.quick else 3)
    if min(args.runs, args.full_runs) < 1 or args.warmup < 0:
        p.error("--runs and --full-runs must be at least 1, --warmup at least 0")
    for size in (args.big_size, args.small_size):
        S.parse_size(size)
    return args


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "PYTHONDEVMODE"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS.parent), env.get("PYTHONPATH")) if p)
    return env


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        print(json.dumps(child(argv[1], Path(argv[2]), Path(argv[3]) if len(argv) > 3 else None)))
        return 0
    if argv[:1] == ["make-wal"]:
        make_wal(Path(argv[1]), Path(argv[2]))
    args = parse_args(argv)
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(args.work)
    samples = [(S.size_label(S.parse_size(s)), S.cached_install(work, S.parse_size(s), log=log))
               for s in (args.small_size, args.big_size)]  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix=".rescue-run-", dir=work))  # on the samples' disk: hard links
    try:
        small, big = (backups(work, inst, label, scratch) for label, inst in samples)
        for _label, inst in samples:
            R.read_whole_file(inst.db)
        secrets = {label: inst.password_file for label, inst in samples}
        rows = measure(args, small, big, child_env(), secrets)
        title = header(args, load_before, small, big)
    except (R.ChildFailed, ValueError) as exc:
        log(f"bench_rescue: error: {exc}")
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = machine()
    out = sys.stderr if args.json else sys.stdout
    print(title.format(**info) + "\n\n" + table(rows), file=out)
    if args.json:
        print(json.dumps({"machine": info, "runs": args.runs, "results": [asdict(r) for r in rows]}, indent=2))
    failed = [r.id for r in rows if r.result == "FAIL"]
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
