"""A fresh-eyes review of `rescue`: each test is one way a hostile or damaged copy broke a promise of issue 25.

The copy is someone else's backup: every byte and every name in it is the attacker's. The promises checked
here: nothing outside the private temporary folder is written, created or removed (in the copy or anywhere
else); no secret reaches stdout, stderr or an error's text; every failure is one line with its exit code.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import pytest
from helpers.cli import cli_runner
from helpers.old_machines import tree_state
from helpers.rescue import BASIC, Harness, expected_prints, rescued
from helpers.transfer import fingerprints

from cursor_byok.cli import main
from cursor_byok.rescue import sparse_copy as sc

# --- a hot -journal that names a super-journal -------------------------------------------------------------------

JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
JOURNAL_HEADER = 512  # one sector


def hot_journal_naming(db: Path, super_journal: Path) -> None:
    """Leave beside `db` (a rollback-journal database) the -journal a transaction across attached databases
    leaves when it is cut short: a header (nothing to roll back) and a trailer naming its super-journal.

    Rolling it back, SQLite opens the super-journal, reads it as a list of child journals and, finding none
    of them still pointing at it, deletes it (pager.c, pager_delsuper): whatever file the name points to."""
    page_size = struct.unpack(">H", db.read_bytes()[16:18])[0]
    pages = db.stat().st_size // page_size
    header = (JOURNAL_MAGIC + struct.pack(">5I", 0, 0, pages, JOURNAL_HEADER, page_size)).ljust(JOURNAL_HEADER, b"\0")
    name = str(super_journal).encode()
    lock_page = 0x40000000 // page_size + 1  # the page number SQLite writes before the name
    trailer = struct.pack(">I", lock_page) + name + struct.pack(">II", len(name), sum(name)) + JOURNAL_MAGIC
    Path(f"{db}-journal").write_bytes(header + trailer)


def rollback_database(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    conn.execute("INSERT INTO ItemTable VALUES ('a', 'b')")
    conn.commit()
    conn.close()
    return path


def test_a_hot_journal_naming_a_super_journal_deletes_no_file(tmp_path):
    db = rollback_database(tmp_path / "backup" / "state.vscdb")
    victim = tmp_path / "elsewhere" / "thesis.txt"
    victim.parent.mkdir()
    victim.write_text("years of work, and no list of journals\n")
    hot_journal_naming(db, victim)
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    with sc.open_copy(db, workdir=work) as copy:
        conn = sqlite3.connect(copy.uri, uri=True)
        assert conn.execute("SELECT value FROM ItemTable WHERE key = 'a'").fetchone() == ("b",)
        conn.close()
    assert victim.exists(), "SQLite deleted the file the copied -journal named as its super-journal"


def journaled_home(h: Harness):
    """A basic Linux home whose database is in rollback-journal mode (the rows all in the main file)."""
    home = h.home("basic", BASIC, wal=False)
    conn = sqlite3.connect(home.db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return home


def test_rescue_from_a_copy_whose_journal_names_a_file_in_it_leaves_the_copy_whole(h):
    home = journaled_home(h)
    victim = home.root / "Documents" / "thesis.txt"
    victim.parent.mkdir()
    victim.write_text("years of work\n")
    hot_journal_naming(home.db, victim)
    doc = rescued(h, home)  # the harness checks that the copy is unchanged
    assert fingerprints(doc) == expected_prints(home)


def test_rescue_from_a_copy_whose_journal_names_a_file_of_this_machine_deletes_nothing(h):
    home = journaled_home(h)
    victim = h.out / "id_ed25519"
    victim.write_text("this machine's own file\n")
    hot_journal_naming(home.db, victim)
    before = tree_state(h.out)
    h.rescue(home, "--json")
    assert tree_state(h.out) == before


# --- a damaged row's text in an error message ---------------------------------------------------------------------


def test_a_key_row_that_is_not_utf8_is_never_echoed_in_the_error(h):
    """pysqlite's own message for such a row quotes the row's text: a plaintext-era key with one damaged byte
    came out whole on stderr and in the JSON error."""
    home = h.home("basic", BASIC, wal=False)
    key = "sk-proj-" + "Z7" * 24
    conn = sqlite3.connect(home.db)
    conn.execute("INSERT OR REPLACE INTO ItemTable VALUES ('cursorAuth/openAIKey', CAST(? AS TEXT))",
                 (key.encode() + b"\xff",))  # fmt: skip
    conn.commit()
    conn.close()
    done = h.rescue(home, "--json")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert key not in done.stdout + done.stderr and key[:20] not in done.stdout + done.stderr


# --- names from the copy, shown -----------------------------------------------------------------------------------

CONTROL = ("\x1b", "\x9b", "\x07")  # ESC, the 8-bit CSI, BEL: what a terminal acts on


def test_item_labels_from_the_copy_cannot_break_the_one_line_error_or_drive_the_terminal(h):
    """entry-missing names the items a store holds; a textual keyring (no password) is the copy's own text."""
    home = h.home("v11", b"any-secret", wal=False)
    keyring = "[keyring]\ndisplay-name=login\n\n[1]\ndisplay-name=a\\nnext: run \x1b]0;owned\x07 \x9b2J\nsecret=x\n"
    path = home.root / ".local/share/keyrings/login.keyring"
    path.parent.mkdir(parents=True)
    path.write_text(keyring)
    done = h.rescue(home)
    assert done.exit_code == 3, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not any(c in done.stderr for c in CONTROL), repr(done.stderr)


def test_row_names_from_the_copy_cannot_add_lines_or_drive_the_terminal(h):
    from cursor_byok.safestorage import oscrypt as ss

    home = h.home("basic", BASIC, wal=False)
    value = ss.encode_buffer_json(ss.linux_basic_codec().encrypt("made-up-session-value"))
    conn = sqlite3.connect(home.db)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", ("secret://cursorAuth/x\x1b]0;owned\x07\nfake: line", value))
    conn.commit()
    conn.close()
    done = h.rescue(home)
    assert done.exit_code == 0, done.stderr
    assert not any(c in done.stdout for c in CONTROL), repr(done.stdout)
    assert not any(line.startswith("fake: line") for line in done.stdout.splitlines())


def test_a_copy_whose_path_is_not_utf8_is_shown_not_an_internal_error(h):
    import os

    from helpers.old_machines import build_home

    home = build_home(h.backup / os.fsdecode(b"old-\xff-home"), "basic", BASIC, wal=False)
    shown = h.rescue(home)
    assert shown.exit_code == 0, shown.stderr
    assert fingerprints(rescued(h, home)) == expected_prints(home)
    missing = h.backup / os.fsdecode(b"empty-\xfe")
    missing.mkdir()
    done = h.rescue(missing, "--json")
    assert done.exit_code == 3, done.stderr
    assert json.loads(done.stdout)["error"]["reason"] == "cursor-missing"


# --- names the system cannot look up --------------------------------------------------------------------------

TOO_LONG = "/" + "n" * 300  # a name longer than any filesystem takes: stat() fails with ENAMETOOLONG, not ENOENT


@pytest.mark.parametrize(
    ("generation", "link"),
    [
        ("basic", ".config/Cursor/User/globalStorage/state.vscdb.backup"),
        ("v11", ".password-store"),
        ("v11", ".local/share/kwalletd/kdewallet.salt"),
        ("macos", "Library/Keychains/login.keychain-db"),
        ("windows", "AppData/Roaming/Cursor/Local State"),
    ],
)
def test_a_name_in_the_copy_that_cannot_be_looked_up_is_a_typed_failure(h, generation, link):
    """A symlink whose target no stat() takes (as a folder this user may not enter is, EACCES): Path.is_file()
    and exists() raise for it instead of answering no."""
    secret = {"basic": BASIC, "windows": bytes(range(32))}.get(generation, b"made-up-secret")
    home = h.home(generation, secret, wal=False)
    if link.endswith(".salt"):
        (home.root / ".local/share/kwalletd").mkdir(parents=True)
        (home.root / ".local/share/kwalletd/kdewallet.kwl").write_bytes(b"KWALLET\n\r\0\r\n" + bytes(64))
    path = home.root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # Windows homes come with their Local State
    path.symlink_to(TOO_LONG)
    done = h.rescue(home, "--login-password-env", "HOME")  # any password: the store is never reached whole
    assert "internal error" not in done.stderr, done.stderr
    assert done.exit_code in (0, 3, 20, 21), done.stderr


def test_a_from_folder_whose_name_is_too_long_is_a_typed_failure(h):
    done = h.rescue(h.backup / ("x" * 300))
    assert done.exit_code == 3 and "internal error" not in done.stderr, done.stderr


# --- files beside the store and the database, followed out of the copy -------------------------------------------


def moved_out(h: Harness, path: Path) -> Path:
    """Move `path` out of the copy (to this machine's own files) and leave a symlink to it in its place."""
    target = h.out / f"elsewhere-{path.name}"
    path.rename(target)
    path.symlink_to(target)
    return target


def refused_line(h: Harness, home, code: int, reason: str, *args) -> str:
    done = h.rescue(home, *args, "--json")
    assert done.exit_code == code, done.stderr
    assert json.loads(done.stdout)["error"]["reason"] == reason, done.stdout
    return done.stderr.strip()


def test_a_wal_symlinked_out_of_the_copy_is_not_read(h):
    home = h.home("basic", BASIC)  # its newest rows are only in the -wal
    moved_out(h, Path(f"{home.db}-wal"))
    assert "outside the copy" in refused_line(h, home, 3, "cursor-missing")


def test_a_wallet_salt_symlinked_out_of_the_copy_is_not_read(h):
    from helpers.rescue import KWALLET_PASSWORD, KWALLET_SECRET, daemon_wallet

    home = h.home("v11", KWALLET_SECRET, wal=False)
    daemon_wallet(home)
    moved_out(h, home.root / ".local/share/kwalletd/kdewallet.salt")
    line = refused_line(h, home, 3, "salt-missing", "--login-password-file", h.file("pw.txt", KWALLET_PASSWORD))
    assert "outside the copy" in line


def test_a_salt_that_is_not_a_file_is_never_opened(h, monkeypatch):
    """Opening a device node can act (a tape rewinds; a watchdog starts its countdown): look before opening."""
    import os

    from helpers.rescue import KWALLET_PASSWORD, KWALLET_SECRET, daemon_wallet

    home = h.home("v11", KWALLET_SECRET, wal=False)
    daemon_wallet(home)
    salt = home.root / ".local/share/kwalletd/kdewallet.salt"
    salt.unlink()
    os.mkfifo(salt)
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(os.fspath(path)) or real_open(path, *a, **k))
    h.rescue(home, "--login-password-file", h.file("pw.txt", KWALLET_PASSWORD))
    assert str(salt) not in opened


def test_a_local_state_symlinked_out_of_the_copy_is_not_read(h):
    from helpers.rescue import built_local_key, windows_home

    key, vector = built_local_key()
    home = windows_home(h, "built-local", key)
    moved_out(h, home.udd / "Local State")
    line = refused_line(h, home, 3, "store-missing", "--login-password-file", h.file("pw.txt", vector["old_password"]))
    assert "outside the copy" in line


def test_a_master_key_symlinked_out_of_the_copy_is_not_read(h):
    from helpers.rescue import built_local_key, windows_home

    key, vector = built_local_key()
    home = windows_home(h, "built-local", key)
    (folder,) = (home.root / "AppData/Roaming/Microsoft/Protect").iterdir()
    for master_key in [p for p in folder.iterdir() if p.is_file()]:
        moved_out(h, master_key)
    line = refused_line(h, home, 3, "store-missing", "--login-password-file", h.file("pw.txt", vector["old_password"]))
    assert "outside the copy" in line


def test_only_the_master_key_that_protects_cursors_key_is_read(h, monkeypatch):
    """A Protect folder may hold any number of files named like master keys: each one was read, whole, into
    memory (64 KiB each), though the blob names the one it needs."""
    import uuid

    from helpers.rescue import built_local_key, windows_home

    from cursor_byok.rescue import stores

    key, vector = built_local_key()
    home = windows_home(h, "built-local", key)
    (folder,) = (home.root / "AppData/Roaming/Microsoft/Protect").iterdir()
    for n in range(20):
        (folder / str(uuid.UUID(int=n + 1))).write_bytes(bytes(4096))
    read: list[Path] = []
    real = stores.read_store_file
    monkeypatch.setattr(stores, "read_store_file", lambda path, *a: read.append(path) or real(path, *a))
    doc = rescued(h, home, "--login-password-file", h.file("pw.txt", vector["old_password"]))
    assert fingerprints(doc) == expected_prints(home)
    assert len([p for p in read if p.parent == folder]) == 1, read


# --- nothing is created in the copy: the bundle and the temporary folder ----------------------------------------


def test_a_bundle_asked_for_inside_the_copy_is_refused_before_anything_is_written(h):
    """`cd /media/backup/home/ana && cursor-byok rescue --from . -o keys.age` would write into the backup (and
    write_private would first clear stale temporary files there)."""
    from helpers.transfer import identity

    home = h.home("basic", BASIC, wal=False)
    _ident, recipient = identity(h.out)
    done = h.rescue(home, "-o", home.root / "keys.age", "-r", recipient)  # the harness: the copy is unchanged
    assert done.exit_code != 0 and "inside the old copy" in done.stderr, done.stderr


def test_a_temporary_folder_inside_the_copy_is_refused(h, monkeypatch):
    import tempfile

    home = h.home("basic", BASIC)  # a -wal: a sparse copy is made
    (home.root / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(home.root / "tmp"))
    done = h.rescue(home)  # the harness: the copy is unchanged
    assert done.exit_code != 0 and "TMPDIR" in done.stderr, done.stderr


# --- the private folder, when the process is told to stop ---------------------------------------------------------


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_the_private_folder_is_removed_when_the_process_is_told_to_stop(tmp_path, name):
    """Ctrl-C unwinds through `finally`; SIGTERM (kill, a shutdown) and SIGHUP (the terminal closed) end Python
    without it, leaving the copy of the old database (its encrypted keys, or all of it) in the temp folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from helpers.old_machines import ROOT

    said = tmp_path / "work.txt"
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from cursor_byok.rescue.sparse_copy import private_tempdir\n"
        f"with private_tempdir(Path({str(tmp_path)!r})) as work:\n"
        "    (work / 'copy.vscdb').write_bytes(b'rows of the old machine')\n"
        f"    Path({str(said)!r}).write_text(str(work))\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not (said.exists() and said.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        work = Path(said.read_text())
        assert work.is_dir()
        os.kill(proc.pid, getattr(signal, name))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert not work.exists(), f"{name} left the private folder behind"


# --- work a hostile copy can ask for ------------------------------------------------------------------------------


def test_the_store_files_tried_are_bounded(tmp_path):
    """Every `*.keyring` and `*.kwl` was a candidate, each tried with every password (and again after each
    typed retry): a copy with thousands of oo7 keyrings at 2,000,000 PBKDF2 iterations (0.5 s a try) ran for
    hours with no deadline. A home has a handful."""
    from cursor_byok.rescue import stores

    home = tmp_path / "home"
    folder = home / ".local/share/keyrings/v1"
    folder.mkdir(parents=True)
    for n in range(200):
        (folder / f"k{n:03}.keyring").write_bytes(b"GnomeKeyring\n\r\0\n\1\0")
    found = stores.linux_stores(home, home, stores.StorePaths())
    assert len(found.candidates) <= 32
    assert any("not tried" in note for note in found.skipped)


def test_a_wallet_crafted_for_the_empty_password_costs_a_bounded_digest(monkeypatch):
    """The empty password is tried first with no prompt, and a wallet made for it passes the length check, so
    KWallet's SHA-1, pure Python at about 1 MiB a second, ran over up to 64 MiB (about a minute) per wallet."""
    from helpers.store_files import seal

    from cursor_byok.errors import RescueError
    from cursor_byok.rescue import kwallet_file

    salt = bytes(range(56))
    kwl = seal(bytes(20 << 20), "", salt, digest=lambda _payload: b"\x01" * 20)  # a digest that does not match
    hashed: list[int] = []
    monkeypatch.setattr(kwallet_file, "kwallet_sha1", lambda data: hashed.append(len(data)) or bytes(20))
    with pytest.raises(RescueError):
        kwallet_file.open_wallet(kwl, salt, [""], name="kdewallet")
    assert max(hashed, default=0) <= 16 << 20


# --- this machine's own configuration ----------------------------------------------------------------------------


def test_this_machines_secret_file_in_the_environment_is_not_taken_for_the_old_machines(h):
    """CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE configures this machine (a headless box, CI). rescue took it for
    the OLD machine's secret: the old keyring, with the right login password, was never opened, and the
    failure blamed copies made at different times."""
    from helpers.rescue import DAEMON_KEYRING_PASSWORD, gnome_home

    home = gnome_home(h)
    mine = h.file("this-machine.txt", "this-machines-own-secret")
    env = {"CURSOR_BYOK_SAFE_STORAGE_PASSWORD_FILE": str(mine)}
    done = h.rescue(home, "--login-password-file", h.file("pw.txt", DAEMON_KEYRING_PASSWORD), "--json", env=env)
    assert done.exit_code == 0, done.stderr
    assert fingerprints(json.loads(done.stdout)) == expected_prints(home)


def test_a_large_sparse_copy_says_its_size_before_it_is_written(tmp_path):
    db = tmp_path / "backup" / "state.vscdb"
    db.parent.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
    conn.executemany("INSERT INTO ItemTable VALUES (?, ?)", [(f"bloat.{i}", bytes(1 << 20)) for i in range(48)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("INSERT INTO ItemTable VALUES ('late', 'only in the -wal')")
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    heard: list[sc.CopyProgress] = []
    try:
        with sc.open_copy(db, workdir=work, progress=heard.append) as copy:
            assert copy.how == "sparse" and copy.bytes_written > 32 << 20
    finally:
        conn.close()
    assert heard and heard[0].done == 0 and heard[0].total >= 32 << 20


def test_rescue_import_of_this_machines_own_cursor_is_refused_and_writes_nothing(make_sample_dir, tmp_path):
    """A home restored in place (`rescue --from ~ --import`) would write the database it reads: refused (exit 15),
    since the source of a rescue is never written, and its keys are here already."""
    sd = make_sample_dir("basic")
    before = sd.db.read_bytes()
    done = cli_runner().invoke(
        main,
        [
            "--user-data-dir",
            str(sd.udd),
            "--safe-storage",
            "basic",
            "rescue",
            "--from",
            str(sd.udd),
            "--import",
            "--yes",
        ],  # fmt: skip
    )
    assert done.exit_code == 15, done.stderr
    assert "never writes" in done.stderr and "cursor-byok list" in done.stderr
    assert sd.db.read_bytes() == before
