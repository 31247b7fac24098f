"""The Windows lane's smoke suite: cursor-byok driven through its command line on Windows CPython.

Run by scripts/windows-lane in three phases sharing one folder:

    windows_smoke.py prepare DIR   Linux: an age identity and a bundle exported by the Linux CLI
    windows_smoke.py windows DIR   Windows (Wine): every check of the CLI on real DPAPI installs
    windows_smoke.py verify DIR    Linux: the age tool decrypts what Windows exported

Every check prints PASS or FAIL; a phase exits 1 when any of its checks failed.
Only the command line (`python -m cursor_byok`) is used, never the package's
modules (but for the crash-point check, which arms a point from inside the
process and then calls the command line's `main`, as the Linux crash tests
do): the Cursor installs, DPAPI and AES-GCM are done here with ctypes,
sqlite3 and cryptography directly, as Cursor would, so a wrong key or a wrong
encryption in the tool cannot hide behind the same wrong code in the check.
All keys are made up here, in each provider's format.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import string
import subprocess
import sys
import time
from pathlib import Path

BLOB_KEY = "src.vs.platform.reactivestorage.browser.reactiveStorageServiceImpl.persistentStorage.applicationUser"
ROWS = {"openai": "openAIKey", "anthropic": "claudeKey", "google": "googleKey"}
MODEL = "通义-qwen✓"
APPLY_MODEL = "llama-3.3-70b✓"
EXIT_CURSOR_RUNNING = 6
EXIT_FINDINGS = 13
B64URL = string.ascii_letters + string.digits + "-_"
FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}", flush=True)
    if not ok:
        FAILED.append(name)
    return ok


def made_up_keys() -> dict[str, str]:
    pick = lambda n: "".join(secrets.choice(B64URL) for _ in range(n))  # noqa: E731
    return {
        "openai": "sk-proj-" + pick(74) + "T3BlbkFJ" + pick(74),
        "anthropic": "sk-ant-api03-" + pick(93) + "AA",
        "google": "AIza" + pick(35),
    }


def settings_blob(models: list[str]) -> str:
    doc = {
        "useOpenAIKey": True,
        "useClaudeKey": True,
        "useGoogleKey": True,
        "aiSettings": {"userAddedModels": models, "modelOverrideEnabled": list(models)},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def create_db(udd: Path, rows: dict[str, str]) -> Path:
    """A state.vscdb with Cursor's two tables and these ItemTable rows."""
    db = udd / "User" / "globalStorage" / "state.vscdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    with conn:
        for table in ("ItemTable", "cursorDiskKV"):
            conn.execute(f"CREATE TABLE {table} (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", list(rows.items()))
    conn.close()
    return db


def item_rows(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{db.as_posix()}?mode=ro", uri=True) if os.name != "nt" else sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT key, value FROM ItemTable"))
    finally:
        conn.close()


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m cursor_byok ARGS`, every standard handle a pipe (Wine needs it; Windows does not care)."""
    return subprocess.run(
        [sys.executable, "-m", "cursor_byok", *args],
        input=b"",
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def said(res: subprocess.CompletedProcess, tail: int = 600) -> str:
    text = (res.stdout + res.stderr).decode("utf-8", "replace").replace("\r\n", "\n")
    return text.strip()[-tail:]


def clean_run(res: subprocess.CompletedProcess, codes=(0,)) -> tuple[bool, str]:
    text = said(res)
    ok = res.returncode in codes and "internal error" not in text and "Traceback" not in text
    return ok, f"exit {res.returncode}: {text}"


# --- Linux side --------------------------------------------------------------------------


def prepare(shared: Path) -> None:
    """An age identity, and a bundle the Linux CLI exports from a Linux install (plain rows)."""
    key_file = shared / "age.key"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(key_file)], check=True, capture_output=True, text=True)
    (shared / "recipient.txt").write_text(recipient.stdout.strip())
    keys = made_up_keys()
    (shared / "linux-keys.json").write_text(json.dumps(keys))
    rows = {f"cursorAuth/{ROWS[p]}": k for p, k in keys.items()}
    rows[BLOB_KEY] = settings_blob(["llama-3.1-70b"])
    udd = shared / "linux-udd"
    create_db(udd, rows)
    res = cli("--user-data-dir", str(udd), "export", "-o", str(shared / "linux.age"), "-r", recipient.stdout.strip())
    check("linux: export a bundle for the Windows import", *clean_run(res))


def verify(shared: Path) -> None:
    """Windows' export, decrypted by the age tool, holds the keys the Windows install had."""
    res = subprocess.run(
        ["age", "-d", "-i", str(shared / "age.key"), str(shared / "windows.age")], capture_output=True, timeout=60
    )
    if not check("linux: age decrypts the Windows export", res.returncode == 0, res.stderr.decode(errors="replace")):
        return
    doc = json.loads(res.stdout.decode("utf-8"))
    want = json.loads((shared / "windows-keys.json").read_text())
    got = {p: doc["profile"]["providers"].get(p, {}).get("key") for p in want}
    check("linux: the Windows export holds the original keys", got == want, "keys differ (not shown)")
    models = doc["profile"].get("models", {})
    check("linux: the Windows export keeps the non-ASCII model", MODEL in json.dumps(models, ensure_ascii=False))


# --- Windows side: DPAPI and AES-GCM as Cursor does them ------------------------------------


def _dpapi(name: str, data: bytes) -> bytes:
    import ctypes
    from ctypes import wintypes

    class Blob(ctypes.Structure):
        _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

    crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.LocalFree.argtypes = [ctypes.c_void_p]
    buf = ctypes.create_string_buffer(data, len(data))
    blob_in = Blob(len(data), ctypes.cast(buf, ctypes.POINTER(ctypes.c_char)))
    blob_out = Blob()
    fn = getattr(crypt32, name)
    if not fn(ctypes.byref(blob_in), None, None, None, None, 0, ctypes.byref(blob_out)):
        raise OSError(f"{name} failed: {ctypes.get_last_error()}")
    try:
        return ctypes.string_at(blob_out.pbData, blob_out.cbData)
    finally:
        kernel32.LocalFree(ctypes.cast(blob_out.pbData, ctypes.c_void_p))


def protect(data: bytes) -> bytes:
    return _dpapi("CryptProtectData", data)


def unprotect(data: bytes) -> bytes:
    return _dpapi("CryptUnprotectData", data)


def buffer_json(data: bytes) -> str:
    return '{"type":"Buffer","data":[' + ",".join(map(str, data)) + "]}"


def gcm_row(aes_key: bytes, value: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return buffer_json(b"v10" + nonce + AESGCM(aes_key).encrypt(nonce, value.encode(), None))


def windows_install(udd: Path, keys: dict[str, str], models: list[str]) -> Path:
    """A Cursor install as Windows leaves it: a DPAPI-protected key in Local State, AES-GCM rows."""
    aes_key = os.urandom(32)
    udd.mkdir(parents=True, exist_ok=True)
    encrypted_key = base64.b64encode(b"DPAPI" + protect(aes_key)).decode()
    (udd / "Local State").write_text(json.dumps({"os_crypt": {"encrypted_key": encrypted_key}}))
    rows = {f"secret://cursorAuth/{ROWS[p]}": gcm_row(aes_key, k) for p, k in keys.items()}
    if not keys:  # a Cursor that once had a key and cleared it: an empty Buffer
        rows["secret://cursorAuth/openAIKey"] = buffer_json(b"")
    rows["secret://mcpEncryptionKey"] = gcm_row(aes_key, base64.urlsafe_b64encode(os.urandom(32)).decode())
    rows[BLOB_KEY] = settings_blob(models)
    rows["cursorAuth/cachedEmail"] = "dev@example.com"
    return create_db(udd, rows)


def decrypt_install(udd: Path) -> tuple[dict[str, str], dict]:
    """Keys and settings of an install, read without the tool: CryptUnprotectData, then AES-256-GCM."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = base64.b64decode(json.loads((udd / "Local State").read_text())["os_crypt"]["encrypted_key"])
    assert blob.startswith(b"DPAPI")
    aes = AESGCM(unprotect(blob[5:]))
    rows = item_rows(udd / "User" / "globalStorage" / "state.vscdb")
    keys = {}
    for provider, name in ROWS.items():
        value = rows.get(f"secret://cursorAuth/{name}")
        data = bytes(json.loads(value)["data"]) if value else b""
        if data:
            assert data.startswith(b"v10"), f"{name}: not a v10 row"
            keys[provider] = aes.decrypt(data[3:15], data[15:], None).decode()
    return keys, json.loads(rows[BLOB_KEY])


# --- Windows side: the checks -----------------------------------------------------------------


def check_dpapi() -> None:
    secret = os.urandom(32)
    try:
        sealed = protect(secret)
        check("DPAPI round trip", unprotect(sealed) == secret and secret not in sealed)
    except OSError as exc:
        check("DPAPI round trip", False, str(exc))


def check_reads(home: Path, keys: dict[str, str]) -> None:
    """where / list / list --json / audit / doctor on the install found through %APPDATA%."""
    res = cli("where")
    ok, why = clean_run(res)
    check("where finds %APPDATA%\\Cursor with DPAPI", ok and str(home) in said(res) and "dpapi" in said(res), why)
    res = cli("list")
    ok, why = clean_run(res)
    shown = said(res)
    check("list shows keys masked", ok and "sk-proj-" in shown and not any(k in shown for k in keys.values()), why)
    res = cli("list", "--json")
    ok, why = clean_run(res)
    try:
        doc = json.loads(res.stdout.decode("utf-8"))  # strict: cp1252 output fails here
        masked = doc["providers"]["openai"]["key"]["masked"]
        good = ok and "…" in masked and MODEL in res.stdout.decode("utf-8")
        check("list --json is UTF-8 JSON with masked keys and the non-ASCII model", good, why)
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        check("list --json is UTF-8 JSON with masked keys and the non-ASCII model", False, f"{exc!r}; {why}")
    check("audit", *clean_run(cli("audit"), (0, EXIT_FINDINGS)))
    check("doctor", *clean_run(cli("doctor"), (0, EXIT_FINDINGS)))


def check_export(shared: Path, keys: dict[str, str]) -> None:
    (shared / "windows-keys.json").write_text(json.dumps(keys))
    recipient = (shared / "recipient.txt").read_text().strip()
    res = cli("export", "-o", str(shared / "windows.age"), "-r", recipient)
    ok, why = clean_run(res)
    check("export writes a bundle (age checks it in the verify phase)", ok and (shared / "windows.age").is_file(), why)


def check_import_undo(shared: Path, target: Path) -> None:
    db = target / "User" / "globalStorage" / "state.vscdb"
    before = item_rows(db)
    group = ["--user-data-dir", str(target), "--safe-storage", "dpapi"]
    res = cli(*group, "import", str(shared / "linux.age"), "-i", str(shared / "age.key"), "--yes")
    ok, why = clean_run(res)
    want = json.loads((shared / "linux-keys.json").read_text())
    got, _ = decrypt_install(target) if ok else ({}, {})
    check("import --safe-storage dpapi of a Linux bundle", ok, why)
    check("imported keys decrypt with CryptUnprotectData + AES-256-GCM", got == want, "keys differ (not shown)")
    res = cli(*group, "undo", "--yes")
    ok, why = clean_run(res)
    check("undo restores the exact rows", ok and item_rows(db) == before, why)


def check_writes(target: Path) -> None:
    group = ["--user-data-dir", str(target), "--safe-storage", "dpapi"]
    new = made_up_keys()
    env = {"SMOKE_OPENAI_KEY": new["openai"]}
    res = cli(*group, "set", "openai", "--key-env", "SMOKE_OPENAI_KEY", "--yes", env=env)
    ok, why = clean_run(res)
    keys, _ = decrypt_install(target)
    check("set openai stores the key DPAPI/AES-GCM encrypted", ok and keys.get("openai") == new["openai"], why)
    res = cli(*group, "models", "add", MODEL, "--yes")
    ok, why = clean_run(res)
    _, blob = decrypt_install(target)
    added = MODEL in blob["aiSettings"]["userAddedModels"] and MODEL in res.stdout.decode("utf-8", "replace")
    check(f"models add {MODEL}", ok and added, why)
    manifest = target.parent / "team.toml"
    manifest.write_text(
        f'version = 1\n[anthropic]\nkey = "env:SMOKE_ANTHROPIC_KEY"\n[models]\nadd = ["{APPLY_MODEL}"]\n',
        encoding="utf-8",
    )
    res = cli(*group, "apply", str(manifest), "--yes", env={"SMOKE_ANTHROPIC_KEY": new["anthropic"]})
    ok, why = clean_run(res)
    keys, blob = decrypt_install(target)
    good = keys.get("anthropic") == new["anthropic"] and APPLY_MODEL in blob["aiSettings"]["userAddedModels"]
    check("apply a manifest (key from env, a model)", ok and good, why)
    check_bare_command(target, group)


def check_bare_command(target: Path, group: list[str]) -> None:
    """A bare `cmd:` program name is looked up on PATH only: a python.exe copied into the manifest's folder as
    smokekey.exe (where CreateProcess would look first, the current folder being the manifest's) is not found
    (had it run, it would have printed no key: "is empty")."""
    import shutil

    team = target.parent / "team-bare"
    team.mkdir(exist_ok=True)
    shutil.copy(sys.executable, team / "smokekey.exe")
    manifest = team / "team.toml"
    manifest.write_text('version = 1\n[google]\nkey = "cmd:smokekey -c pass"\n', encoding="utf-8")
    before = item_rows(target / "User" / "globalStorage" / "state.vscdb")
    res = cli(*group, "apply", str(manifest), "--yes")
    refused = res.returncode == 15 and b"command not found: smokekey" in res.stderr
    after = item_rows(target / "User" / "globalStorage" / "state.vscdb")
    check("a bare cmd: name never runs from the manifest's folder", refused and after == before, said(res))


def check_code_lock(target: Path) -> None:
    """A live Windows PID in code.lock blocks writes (exit 6); the PID of an ended process does not."""
    db = target / "User" / "globalStorage" / "state.vscdb"
    group = ["--user-data-dir", str(target), "--safe-storage", "dpapi"]
    lock = target / "code.lock"
    lock.write_text(str(os.getpid()))  # this script: a live Windows process
    before = item_rows(db)
    res = cli(*group, "models", "add", "blocked-model", "--yes")
    text = said(res)
    blocked = res.returncode == EXIT_CURSOR_RUNNING and item_rows(db) == before
    check("code.lock with a live PID blocks writes (exit 6)", blocked, f"exit {res.returncode}: {text}")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], input=b"", capture_output=True)
    lock.write_text(ended.stdout.decode().strip())
    time.sleep(0.5)
    res = cli(*group, "models", "add", "unblocked-model", "--yes")
    check("code.lock with an ended PID does not block", *clean_run(res))
    lock.unlink()


_ARMED_CLI = """
import sys
from cursor_byok import crashpoint
from cursor_byok.cli import main
crashpoint.arm(at=1, log=sys.argv[1])
main(args=sys.argv[2:], prog_name="python -m cursor_byok")
"""


def check_crash_points(target: Path, shared: Path) -> None:
    """Armed from inside the process, a crash point ends a write at once (exit 137); the environment cannot arm one."""
    db = target / "User" / "globalStorage" / "state.vscdb"
    group = ["--user-data-dir", str(target), "--safe-storage", "dpapi"]
    log = shared / "crash-points.log"
    before = item_rows(db)
    res = subprocess.run(
        [sys.executable, "-c", _ARMED_CLI, str(log), *group, "models", "add", "crashed-model", "--yes"],
        input=b"",
        capture_output=True,
        timeout=600,
    )
    logged = log.read_text(encoding="utf-8").split() if log.exists() else []
    killed = res.returncode == 137 and logged[:1] == ["1"] and item_rows(db) == before
    check("an armed crash point ends the write at once with exit 137", killed, f"exit {res.returncode}: {said(res)}")
    env = {"CURSOR_BYOK_CRASH_AT": "1", "CURSOR_BYOK_CRASH_LOG": str(shared / "env-points.log")}
    res = cli(*group, "models", "add", "env-model", "--yes", env=env)
    ok, why = clean_run(res)
    wrote = item_rows(db) != before and not (shared / "env-points.log").exists()
    check("CURSOR_BYOK_CRASH_AT in the environment does not stop a write", ok and wrote, why)


def check_demo() -> None:
    res = cli("demo")
    ok, why = clean_run(res)
    text = said(res, tail=100_000)
    matched = text.partition("Fingerprints matching on both laptops: ")[2].split("\n", 1)[0].strip()
    count, _, total = matched.partition("/")
    moved = count.isdigit() and count == total and int(count) > 0
    check("demo moves every key into a real DPAPI install", ok and "DPAPI" in text and moved, why)


def windows(shared: Path) -> None:
    if sys.platform != "win32":
        raise SystemExit("the windows phase runs on Windows CPython (see scripts/windows-lane)")
    check_dpapi()
    # %APPDATA% of this run only: the CLI finds Cursor there as it would, and a real
    # Windows user's own Cursor is never touched.
    os.environ["APPDATA"] = str(shared / "AppData" / "Roaming")
    home = Path(os.environ["APPDATA"]) / "Cursor"
    keys = made_up_keys()
    windows_install(home, keys, ["llama-3.1-70b", MODEL])
    check_reads(home, keys)
    check_export(shared, keys)
    target = shared / "win-target"
    windows_install(target, {}, ["llama-3.1-70b"])
    check_import_undo(shared, target)
    check_writes(target)
    check_code_lock(target)
    check_crash_points(target, shared)
    check_demo()


def main(argv: list[str]) -> int:
    phase, shared = argv[1], Path(argv[2])
    sys.stdout.reconfigure(encoding="utf-8")  # check names hold non-ASCII model names
    started = time.monotonic()
    try:
        {"prepare": prepare, "windows": windows, "verify": verify}[phase](shared)
    except Exception as exc:  # a check that crashed is a failed check, and the rest is reported
        check(f"{phase} phase ran to the end", False, repr(exc))
    took = time.monotonic() - started
    print(f"{phase}: {len(FAILED)} failed ({took:.0f} s)" if FAILED else f"{phase}: all passed ({took:.0f} s)")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
