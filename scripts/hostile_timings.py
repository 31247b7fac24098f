"""Measure how long cursor-byok takes to refuse hostile bundles; prints Markdown for docs/safety.md.

    python scripts/hostile_timings.py

The tests assert *how* a file is refused (the header check stops it before
any scrypt or X25519 work); this script records *how long* that takes on the
machine it runs on, through real subprocesses:

1. every age testkit vector through `cursor-byok list --bundle`;
2. the header check alone on every vector, in process;
3. what the largest scrypt work factor the header check lets through costs
   (time and peak memory of one wrong-passphrase attempt);
4. how fast a header with too many stanzas is refused (in process and through
   `list --bundle`), and what the largest header the check allows costs pyrage.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTKIT = REPO / "tests" / "fixtures" / "age-testkit"


def load_vector(path: Path) -> tuple[dict[str, list[str]], bytes]:
    head, _, body = path.read_bytes().partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(": ")
        fields.setdefault(name, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return fields, body


def cli_seconds(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cursor_byok", *args], env=env, capture_output=True, timeout=600)
    return time.perf_counter() - start, proc.returncode


def testkit_through_cli(folder: Path, env: dict[str, str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for path in sorted(p for p in TESTKIT.iterdir() if p.name != "SOURCE.md"):
        fields, data = load_vector(path)
        bundle = folder / "v.age"
        bundle.write_bytes(data)
        args = ["list", "--bundle", str(bundle)]
        if fields.get("identity"):
            (folder / "v.key").write_text("\n".join(fields["identity"]) + "\n")
            args += ["-i", str(folder / "v.key")]
        if fields.get("passphrase"):
            (folder / "v.pass").write_text(fields["passphrase"][0] + "\n")
            args += ["--passphrase-file", str(folder / "v.pass")]
        seconds, code = cli_seconds(args, env)
        if code not in (9, 10):
            raise SystemExit(f"{path.name}: exit {code}, expected 9 or 10")
        kind = fields["expect"][0]
        label = "refused by the header check" if kind in ("header failure", "armor failure") else kind
        times.setdefault(label, []).append(seconds)
    return times


def precheck_microseconds() -> list[float]:
    from cursor_byok.bundle import age_envelope as agefile
    from cursor_byok.errors import BundleError

    out = []
    for path in sorted(p for p in TESTKIT.iterdir() if p.name != "SOURCE.md"):
        _, data = load_vector(path)
        start = time.perf_counter()
        for _ in range(20):
            try:
                agefile.precheck(data)
            except BundleError:
                pass
        out.append((time.perf_counter() - start) / 20 * 1e6)
    return out


def scrypt_cost(work_factor: int) -> tuple[float, int]:
    """Seconds and peak MiB of one wrong-passphrase attempt on a file asking for `work_factor`."""
    code = f"""
import resource, time
from pathlib import Path
import sys
sys.path.insert(0, {str(REPO / "scripts")!r})
from hostile_timings import load_vector
from cursor_byok.bundle import age_envelope as agefile
from cursor_byok.errors import BundleError
_, data = load_vector(Path({str(TESTKIT / "scrypt")!r}))
data = data.replace(b" 10\\n", b" {work_factor}\\n", 1)
start = time.perf_counter()
try:
    agefile.decrypt(data, passphrases=["not the passphrase"])
except BundleError:
    pass
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def _stanza(rng, args: bytes, body_size: int) -> bytes:
    import base64

    text = base64.b64encode(rng.randbytes(body_size)).rstrip(b"=")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)] or [b""]
    if len(lines[-1]) == 64:
        lines.append(b"")
    return b"-> " + args + b"\n" + b"\n".join(lines) + b"\n"


def _with_stanzas(bundle: bytes, count: int, body_size: int, name: bytes = b"grease") -> bytes:
    import random

    rng = random.Random(count)
    first = bundle.index(b"\n") + 1
    return bundle[:first] + b"".join(_stanza(rng, name, body_size) for _ in range(count)) + bundle[first:]


def stanza_bound_timings(folder: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """(what, figure) rows: refusing oversized headers, and pyrage on the largest allowed one."""
    import pyrage

    from cursor_byok.bundle import age_envelope as agefile
    from cursor_byok.errors import BundleError

    secret, public = agefile.generate_identity()
    bundle = agefile.encrypt(b"{}", recipients=[public])
    rows = []
    crafted = _with_stanzas(bundle, 1000, 32)
    armored = (
        b"-----BEGIN AGE ENCRYPTED FILE-----\n"
        + b"\n".join(base64_lines(_with_stanzas(bundle, 200_000, 32)))
        + b"\n-----END AGE ENCRYPTED FILE-----\n"
    )
    for label, data in (("1,000 stanzas (98 KB)", crafted), (f"armored, {len(armored) >> 20} MB", armored)):
        start = time.perf_counter()
        for _ in range(5):
            try:
                agefile.precheck(data)
            except BundleError:
                pass
        rows.append((f"header check refuses {label}", f"{(time.perf_counter() - start) / 5 * 1000:.1f} ms"))
    (folder / "many.age").write_bytes(crafted)
    (folder / "id.key").write_text(secret + "\n")
    seconds, code = cli_seconds(["list", "--bundle", str(folder / "many.age"), "-i", str(folder / "id.key")], env)
    rows.append((f"`list --bundle` on 1,000 stanzas (exit {code})", f"{seconds:.2f} s"))
    own = len(agefile.precheck(bundle).stanza_types)
    for count, size in ((agefile.MAX_STANZAS - own, 150), (7, 1500)):
        data = _with_stanzas(bundle, count, size)
        header = agefile.precheck(data)  # allowed by the check
        start = time.perf_counter()
        try:
            pyrage.decrypt(data, [pyrage.x25519.Identity.from_str(secret)])
        except pyrage.DecryptError:
            pass  # the inserted stanzas break the header MAC; the parsing cost is paid first
        size_kib = data.index(b"\n---") / 1024
        label = f"pyrage on an allowed header: {len(header.stanza_types)} stanzas, {size_kib:.1f} KiB"
        rows.append((label, f"{time.perf_counter() - start:.2f} s"))
    return rows


def base64_lines(binary: bytes) -> list[bytes]:
    import base64

    text = base64.b64encode(binary)
    return [text[i : i + 64] for i in range(0, len(text), 64)]


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURSOR_")}
    with tempfile.TemporaryDirectory() as tmp:
        env["CURSOR_BYOK_DATA_DIR"] = tmp
        baseline = statistics.median(cli_seconds(["--version"], env)[0] for _ in range(5))
        kit = testkit_through_cli(Path(tmp), env)
        bounds = stanza_bound_timings(Path(tmp), env)
    micro = precheck_microseconds()
    print(
        f"Measured on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; `cursor-byok --version` alone takes {baseline:.2f} s.\n"
    )
    print("| testkit vectors through `list --bundle` | count | median | slowest |")
    print("|---|---|---|---|")
    for kind, values in sorted(kit.items()):
        print(f"| {kind} | {len(values)} | {statistics.median(values):.2f} s | {max(values):.2f} s |")
    print(
        f"\nThe header check alone, per vector: median {statistics.median(micro):.0f} µs, "
        f"slowest {max(micro):.0f} µs.\n"
    )
    print("| oversized headers | time |")
    print("|---|---|")
    for label, figure in bounds:
        print(f"| {label} | {figure} |")
    print()
    print("| scrypt work factor | one wrong-passphrase attempt | peak memory |")
    print("|---|---|---|")
    for factor in (18, 20, 22):
        seconds, mib = scrypt_cost(factor)
        print(f"| {factor} | {seconds:.1f} s | {mib} MiB |")
    print(f"\n(peak memory of this script: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)")


if __name__ == "__main__":
    main()
