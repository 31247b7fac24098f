"""No test waits forever: every wait on a child process has a deadline, past which the test fails with
what the child showed (tests/helpers/children.py: PtyChild, on_a_terminal, read_line, fail_process).

The hang these tests guard against: started as a background job (`cmd &`, so SIGINT is ignored), the
suite passed the ignored SIGINT on to its pty children, Ctrl-C typed at a prompt did nothing, and the
pty helper waited for the child with no deadline."""

from __future__ import annotations

import ast
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.children import PtyChild, on_a_terminal, read_line, timeout_sections
from helpers.paths import TESTS
from helpers.transfer import options

# A prompt that reads a line from the terminal; Ctrl-C there ends it with 130 only if SIGINT reaches
# Python with its default disposition (Python then raises KeyboardInterrupt).
PROMPT = "import sys\ntry:\n    input('answer? ')\nexcept KeyboardInterrupt:\n    sys.exit(130)\n"


def interrupt(child: PtyChild) -> None:
    """Type Ctrl-C until the child closes the terminal. Repeated because one typed just before the child
    blocks in its read is handled before that read, which then waits on (CPython checks for a signal
    between steps, not inside the read it is about to start); an ignored SIGINT ends nothing at all."""
    while not child.closed:
        child.type(b"\x03")
        while child.read(0.5) not in (None, b""):  # until it goes quiet or closes (or the deadline fails)
            pass


@contextlib.contextmanager
def sigint_ignored():
    """SIGINT ignored in this process meanwhile, as in a test run started with `cmd &`."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_at_a_prompt_ends_the_child_with_130_when_the_tests_ignore_sigint():
    with sigint_ignored():
        child = PtyChild([sys.executable, "-c", PROMPT], timeout=30)  # past 30 s: killed, and the test fails
    with child:
        child.expect(b"answer? ")
        interrupt(child)
        assert child.exit_code() == 130, child.shown


@pytest.mark.slow
def test_ctrl_c_at_a_cli_prompt_exits_130_when_the_tests_ignore_sigint(make_sample_dir):
    """The CLI's own confirmation, as test_trust's test_ctrl_c_at_a_prompt_exits_130_and_writes_nothing."""
    sd = make_sample_dir("v11")
    with sigint_ignored():
        child = PtyChild([sys.executable, "-m", "cursor_byok", *map(str, options(sd)), "unset", "anthropic"])
    with child:
        child.expect(b"[y/N]")
        interrupt(child)
        assert child.exit_code() == 130, child.shown
    assert b"interrupted; nothing written" in child.shown


def test_sigquit_is_reset_for_the_child_too():
    code = (
        "import signal as s; print(s.getsignal(s.SIGINT) is s.default_int_handler, s.getsignal(s.SIGQUIT) == s.SIG_DFL)"
    )
    quit_before = signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    try:
        with sigint_ignored():
            child = PtyChild([sys.executable, "-c", code], timeout=30)
    finally:
        signal.signal(signal.SIGQUIT, quit_before)
    with child:
        assert child.exit_code() == 0, child.shown
    assert child.shown.strip() == b"True True"


def test_a_child_that_never_exits_fails_the_test_within_the_deadline_showing_its_output():
    argv = [sys.executable, "-c", "import time; print('still here', flush=True); time.sleep(600)"]
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        on_a_terminal(argv, [], timeout=3)
    assert time.monotonic() - start < 15
    assert "still running after 3 s" in str(failed.value) and "still here" in str(failed.value)


def test_a_prompt_never_shown_fails_within_the_deadline_showing_the_output():
    argv = [sys.executable, "-c", "import time; print('something else', flush=True); time.sleep(600)"]
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        with PtyChild(argv, timeout=3) as child:
            child.expect(b"[y/N]")
    assert time.monotonic() - start < 15
    assert "something else" in str(failed.value)
    assert child.code == -signal.SIGKILL  # killed and reaped, not left running


def test_a_silent_pipe_fails_read_line_within_the_deadline_showing_what_it_wrote():
    code = "import sys, time; print('half a line', end='', flush=True); print('why', file=sys.stderr, flush=True)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "; time.sleep(600)"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        read_line(proc, timeout=3)
    assert time.monotonic() - start < 20
    assert proc.returncode == -signal.SIGKILL  # killed and reaped
    assert "half a line" in str(failed.value) and "why" in str(failed.value)


def test_a_run_that_times_out_reports_what_it_wrote():
    """subprocess's TimeoutExpired leaves the output out of its message; the report hook adds it."""
    expired = subprocess.TimeoutExpired(["slow"], 5, output=b"so far", stderr=b"stuck on a lock")
    try:
        raise AssertionError("wrapped") from expired
    except AssertionError as exc:
        sections = dict(timeout_sections(exc))
    assert sections == {
        "stdout of ['slow'] when it timed out after 5 s": "so far",
        "stderr of ['slow'] when it timed out after 5 s": "stuck on a lock",
    }


# --- the rule, kept true by a scan of every .py file under tests/ ---------------------------------------------------

RUNS = {"run", "call", "check_call", "check_output"}  # subprocess.<name>(...) needs timeout=

# (file under tests/, enclosing function, call) -> why that call cannot block. Only for calls that provably return.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("helpers/secret_service.py", "PrivateSecretService._start_bus", "bus.stdout.readline"): (
        "read only once select() saw the pipe readable within the deadline; dbus-daemon prints its address as "
        "one line at once"
    ),
}

PENDING: dict[tuple[str, str, str], str] = {}  # waits not bounded yet: none left


def suite_files(root: Path = TESTS) -> list[Path]:
    """Every Python file of the suite under `root`, in every folder: the tests, conftest and the helpers."""
    return sorted(path for path in root.rglob("*.py") if "fixtures" not in path.relative_to(root).parts)


def unbounded_waits(path: Path, root: Path = TESTS) -> list[tuple[str, str, str, int]]:
    """(file under tests/, enclosing function, call, line) of each call in `path` that waits without a deadline."""
    found: list[tuple[str, str, str, int]] = []
    name = path.relative_to(root).as_posix()

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, f"{where}.{child.name}" if where else child.name)
                continue
            if isinstance(child, ast.Call) and unbounded(child):
                found.append((name, where or "<module>", ast.unparse(child.func), child.lineno))
            visit(child, where)

    visit(ast.parse(path.read_text(), str(path)), "")
    return found


def unbounded(call: ast.Call) -> bool:
    """Whether `call` waits on a process, pipe or thread with no timeout."""
    func = call.func
    if not isinstance(func, ast.Attribute) or any(k.arg == "timeout" for k in call.keywords):
        return False
    name, owner = func.attr, ast.unparse(func.value)
    if name in RUNS:
        return owner == "subprocess"
    if name == "communicate":  # communicate(input, timeout)
        return len(call.args) < 2
    if name == "wait":  # Popen.wait(timeout), Event.wait(timeout), Condition.wait(timeout)
        return not call.args
    if name == "join":  # Thread.join(timeout); str.join always has an argument
        return not call.args and not call.keywords
    if name == "readline":  # a line from a child's pipe: helpers.children.read_line
        return owner.endswith((".stdout", ".stderr"))
    if name == "read":  # a child's pipe to its end: communicate(timeout=...)
        return owner.endswith((".stdout", ".stderr")) and not call.args
    if name == "waitpid":  # blocks unless WNOHANG
        return owner == "os" and "WNOHANG" not in ast.unparse(call)
    if name == "select":  # select.select(r, w, x) with no timeout
        return owner == "select" and len(call.args) < 4
    return False


@pytest.mark.parametrize(
    "code, waits",
    [
        ("subprocess.run(['x'], check=True)", True),
        ("subprocess.run(['x'], timeout=5)", False),
        ("subprocess.check_output(['x'])", True),
        ("proc.communicate()", True),
        ("proc.communicate(b'in')", True),
        ("proc.communicate(b'in', 5)", False),
        ("proc.communicate(timeout=5)", False),
        ("proc.wait()", True),
        ("proc.wait(5)", False),
        ("thread.join()", True),
        ("thread.join(timeout=1)", False),
        ("', '.join(names)", False),
        ("proc.stdout.readline()", True),
        ("handle.readline()", False),
        ("proc.stdout.read()", True),
        ("proc.stdout.read(1)", False),
        ("os.waitpid(pid, 0)", True),
        ("os.waitpid(pid, os.WNOHANG)", False),
        ("select.select([fd], [], [])", True),
        ("select.select([fd], [], [], 1)", False),
    ],
)
def test_the_scan_tells_a_wait_without_a_deadline(code, waits):
    call = ast.parse(code, mode="eval").body
    assert isinstance(call, ast.Call) and unbounded(call) is waits


def test_every_wait_in_the_tests_has_a_deadline():
    found = [hit for path in suite_files() for hit in unbounded_waits(path)]
    bad = [
        f"tests/{f}:{line} in {where}: {call}(...)"
        for f, where, call, line in found
        if (f, where, call) not in {**ALLOWED, **PENDING}
    ]
    assert not bad, "waits without a deadline (give each a timeout; see tests/helpers/children.py):\n" + "\n".join(bad)


def test_the_scan_reaches_a_wait_in_a_sub_folder(tmp_path):
    nested = tmp_path / "changes" / "test_flow.py"
    nested.parent.mkdir()
    nested.write_text("def test_x(proc):\n    proc.wait()\n")
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "data.py").write_text("proc.wait()\n")  # sample data, not test code
    found = [hit for path in suite_files(tmp_path) for hit in unbounded_waits(path, tmp_path)]
    assert found == [("changes/test_flow.py", "test_x", "proc.wait", 2)]
    assert {p.relative_to(TESTS).parts[0] for p in suite_files()} >= {"helpers", "rescue", "conftest.py"}


def test_the_allow_list_names_calls_that_still_exist():
    found = {(f, where, call) for path in suite_files() for f, where, call, _ in unbounded_waits(path)}
    stale = [key for key in ALLOWED if key not in found]
    assert not stale, f"allow-list entries that match nothing now; remove them: {stale}"
