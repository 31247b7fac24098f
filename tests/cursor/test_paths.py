"""Finding Cursor's user-data dir on every OS, and telling whether Cursor runs."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from cursor_byok.cursor import paths as locate
from cursor_byok.errors import DatabaseNotFound

DB_TAIL = ("User", "globalStorage", "state.vscdb")


def defaults(platform: str, env: dict, home: str) -> list[locate.Installation]:
    return locate.candidate_installations(env=env, platform=platform, home=home)


def win(path) -> PureWindowsPath:
    """A Windows path built on Linux, compared by its parts."""
    return PureWindowsPath(*Path(path).parts)


# --- per-OS defaults -----------------------------------------------------------------


def test_macos_default():
    found = defaults("darwin", {}, "/Users/ada")
    assert found[0].user_data_dir == Path("/Users/ada/Library/Application Support/Cursor")
    assert found[0].db_path == Path("/Users/ada/Library/Application Support/Cursor", *DB_TAIL)
    assert found[0].source == "default"


def test_windows_default_uses_appdata():
    found = defaults("win32", {"APPDATA": r"D:\Profiles\ada\Roaming"}, r"C:\Users\ada")
    assert win(found[0].user_data_dir) == PureWindowsPath(r"D:\Profiles\ada\Roaming\Cursor")
    assert win(found[0].db_path) == PureWindowsPath(r"D:\Profiles\ada\Roaming\Cursor\User\globalStorage\state.vscdb")


def test_windows_without_appdata_uses_roaming_under_userprofile():
    found = defaults("win32", {"USERPROFILE": r"C:\Users\ada"}, r"C:\Users\ada")
    assert win(found[0].user_data_dir) == PureWindowsPath(r"C:\Users\ada\AppData\Roaming\Cursor")
    direct = locate.platform_config_dir("win32", {"USERPROFILE": r"C:\Users\bo"}, r"C:\x", "Cursor")
    assert direct == PureWindowsPath(r"C:\Users\bo\AppData\Roaming\Cursor")


def test_linux_default_is_dot_config():
    found = defaults("linux", {}, "/home/ada")
    assert found[0].user_data_dir == Path("/home/ada/.config/Cursor")


def test_linux_honours_xdg_config_home():
    found = defaults("linux", {"XDG_CONFIG_HOME": "/srv/cfg"}, "/home/ada")
    assert found[0].user_data_dir == Path("/srv/cfg/Cursor")


def test_linux_ignores_a_relative_xdg_config_home():
    assert locate.platform_config_dir("linux", {"XDG_CONFIG_HOME": "cfg"}, "/home/ada", "Cursor") == PurePosixPath(
        "/home/ada/.config/Cursor"
    )


@pytest.mark.parametrize("platform,home", [("darwin", "/Users/ada"), ("linux", "/home/ada"), ("win32", r"C:\Users\a")])
def test_nightly_follows_stable_on_every_os(platform, home):
    found = defaults(platform, {}, home)
    assert [i.channel for i in found] == ["Cursor", "Cursor Nightly"]
    assert found[1].user_data_dir.name == "Cursor Nightly"


# --- VS Code's overrides and our own options ---------------------------------------------


def test_vscode_portable_comes_first_then_vscode_appdata():
    env = {"VSCODE_PORTABLE": "/opt/cursor-data", "VSCODE_APPDATA": "/srv/appdata"}
    found = defaults("linux", env, "/home/ada")
    assert [(i.source, i.user_data_dir) for i in found[:2]] == [
        ("VSCODE_PORTABLE", Path("/opt/cursor-data/user-data")),
        ("VSCODE_APPDATA", Path("/srv/appdata/Cursor")),
    ]
    assert found[2].source == "default"


def test_option_beats_environment_beats_defaults(tmp_path):
    env = {"CURSOR_STATE_DB": "/env/state.vscdb", "CURSOR_USER_DATA_DIR": "/env/udd", "VSCODE_PORTABLE": "/p"}
    by_db = locate.candidate_installations(db="/opt/x.vscdb", user_data_dir="/opt/udd", env=env, platform="linux")
    assert [(i.source, i.db_path) for i in by_db] == [("--db", Path("/opt/x.vscdb"))]
    by_udd = locate.candidate_installations(user_data_dir="/opt/udd", env=env, platform="linux")
    assert [(i.source, i.user_data_dir) for i in by_udd] == [("--user-data-dir", Path("/opt/udd"))]
    by_env = locate.candidate_installations(env=env, platform="linux", home="/h")
    assert [(i.source, i.db_path) for i in by_env] == [("CURSOR_STATE_DB", Path("/env/state.vscdb"))]
    env.pop("CURSOR_STATE_DB")
    by_udd_env = locate.candidate_installations(env=env, platform="linux", home="/h")
    assert [(i.source, i.user_data_dir) for i in by_udd_env] == [("CURSOR_USER_DATA_DIR", Path("/env/udd"))]


def test_db_inside_a_user_data_layout_infers_the_dir(tmp_path):
    db = tmp_path / "udd" / "User" / "globalStorage" / "state.vscdb"
    inst = locate.candidate_installations(db=str(db), env={}, platform="linux")[0]
    assert inst.user_data_dir == tmp_path / "udd"
    assert inst.local_state == tmp_path / "udd" / "Local State"
    assert inst.code_lock == tmp_path / "udd" / "code.lock"


def test_bare_db_has_no_user_data_dir(tmp_path):
    inst = locate.candidate_installations(db=str(tmp_path / "copy.vscdb"), env={}, platform="linux")[0]
    assert inst.user_data_dir is None
    assert inst.local_state is None and inst.code_lock is None


# --- resolve: the first that exists ---------------------------------------------------


def test_resolve_skips_missing_candidates(make_sample_dir, tmp_path):
    home = tmp_path / "home"
    real = make_sample_dir("plaintext")
    target = home / ".config" / "Cursor"
    target.parent.mkdir(parents=True)
    shutil.move(real.udd, target)
    env = {"VSCODE_PORTABLE": str(tmp_path / "no-portable")}
    inst = locate.resolve(env=env, platform="linux", home=str(home))
    assert inst.source == "default"
    assert inst.db_path == target.joinpath(*DB_TAIL)


def test_resolve_finds_nightly_alone(make_sample_dir, tmp_path):
    home = tmp_path / "home"
    real = make_sample_dir("basic")
    (home / ".config").mkdir(parents=True)
    shutil.move(real.udd, home / ".config" / "Cursor Nightly")
    inst = locate.resolve(env={}, platform="linux", home=str(home))
    assert inst.channel == "Cursor Nightly"


def test_resolve_without_any_installation(tmp_path):
    with pytest.raises(DatabaseNotFound):
        locate.resolve(env={}, platform="linux", home=str(tmp_path))


def test_resolve_keeps_a_missing_explicit_choice_and_says_so(tmp_path):
    assert locate.find_installations(db=str(tmp_path / "nope.vscdb"), env={}, platform="linux")
    with pytest.raises(DatabaseNotFound, match="nope.vscdb"):
        locate.resolve(db=str(tmp_path / "nope.vscdb"), env={}, platform="linux")


def test_wsl_lists_windows_side_dirs(tmp_path):
    (tmp_path / "ada").mkdir()
    (tmp_path / "bo").mkdir()
    found = locate.wsl_windows_dirs({"WSL_DISTRO_NAME": "Ubuntu"}, mnt=str(tmp_path))
    assert PurePosixPath(tmp_path / "ada/AppData/Roaming/Cursor") in found
    assert PurePosixPath(tmp_path / "bo/AppData/Roaming/Cursor Nightly") in found
    assert locate.wsl_windows_dirs({}, mnt=str(tmp_path)) == []


# --- is Cursor running? ------------------------------------------------------------------


def wait_for_comm(proc: subprocess.Popen, name: str) -> None:
    """Popen returns once exec has begun; the kernel sets the new name a moment later."""
    comm = Path(f"/proc/{proc.pid}/comm")
    if not comm.exists():
        return  # no /proc: nothing to wait for
    for _ in range(2000):
        if comm.read_text().strip() == name[:15]:
            return
        time.sleep(0.005)
    raise AssertionError(f"process {proc.pid} never took the name {name!r}")


@pytest.fixture
def spawn(tmp_path):
    """Start a program under a chosen name (a copy of sleep); kills them all at the end."""
    procs: list[subprocess.Popen] = []

    def start(name: str = "sleep") -> subprocess.Popen:
        exe = tmp_path / "bin" / name
        exe.parent.mkdir(exist_ok=True)
        shutil.copy2(shutil.which("sleep"), exe)
        proc = subprocess.Popen([str(exe), "600"])
        procs.append(proc)
        wait_for_comm(proc, name)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def _installation(udd: Path) -> locate.Installation:
    return locate.candidate_installations(user_data_dir=str(udd), env={}, platform="linux")[0]


def test_code_lock_with_a_live_pid(tmp_path, spawn):
    proc = spawn()
    (tmp_path / "code.lock").write_text(str(proc.pid))
    inst = _installation(tmp_path)
    assert locate.lock_pid(inst) == proc.pid
    assert locate.cursor_running(inst, proc=str(tmp_path / "no-proc")) == locate.Running(proc.pid, "code.lock")


def test_code_lock_with_a_dead_pid(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=30)
    (tmp_path / "code.lock").write_text(f"{dead.pid}\n")
    inst = _installation(tmp_path)
    assert locate.lock_pid(inst) is None
    empty_proc = tmp_path / "proc"
    empty_proc.mkdir()
    assert locate.cursor_running(inst, proc=str(empty_proc)) is None


@pytest.mark.parametrize("text", ["", "garbage", "-5", "0"])
def test_code_lock_without_a_pid(tmp_path, text):
    (tmp_path / "code.lock").write_text(text)
    assert locate.lock_pid(_installation(tmp_path)) is None


def test_process_named_cursor_is_detected(spawn):
    proc = spawn("cursor")
    found = locate.cursor_processes()
    assert locate.Running(proc.pid, "process", "cursor") in found


@pytest.mark.parametrize("name", ["cursor-agent", "cursor-server"])
def test_cursor_cli_tools_are_not_cursor(spawn, name):
    proc = spawn(name)
    assert proc.pid not in [r.pid for r in locate.cursor_processes()]


def test_process_check_applies_to_user_data_dirs_only(tmp_path, spawn):
    proc = spawn("cursor")
    assert locate.cursor_running(_installation(tmp_path)) is not None
    bare = locate.candidate_installations(db=str(tmp_path / "copy.vscdb"), env={}, platform="linux")[0]
    assert locate.cursor_running(bare) is None
    assert proc.poll() is None


@pytest.mark.parametrize(
    "name,exe,expected",
    [
        ("Cursor", "", True),
        ("Cursor.exe", "", True),
        ("cursor", "", True),
        ("Cursor Helper", "", True),
        ("Electron", "/Applications/Cursor.app/Contents/MacOS/Cursor", True),
        ("AppRun", "/tmp/.mount_Cursor1a2b/cursor", True),
        ("cursor-agent", "/usr/local/bin/cursor-agent", False),
        ("cursor-server", "/home/a/.cursor-server/bin/cursor-server", False),
        ("code", "/usr/bin/code", False),
    ],
)
def test_is_cursor_process(name, exe, expected):
    assert locate.is_cursor_process(name, exe) is expected
