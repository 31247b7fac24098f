"""Import discipline, checked in fresh interpreters.

The library works without click, and `--help` / `--version` stay fast by not
loading SQLAlchemy, cryptography or pyrage.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import cursor_byok

HEAVY = ("sqlalchemy", "cryptography", "pyrage")
CLI_ONLY = ("cli", "__main__")

REPORT_MODULES = """
import json, sys
{body}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {watched!r})))
"""

RUN_CLI = """
import runpy, sys
sys.argv = ["cursor-byok", *{args!r}]
try:
    runpy.run_module("cursor_byok", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
watched = {watched!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in watched)
sys.stderr.write("\\nLOADED " + __import__("json").dumps(loaded) + " EXIT " + str(code) + "\\n")
"""


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(cursor_byok.__path__, "cursor_byok.")]
    return sorted(n for n in names if n.split(".")[1] not in CLI_ONLY)


def fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_core_modules_are_found():
    found = core_modules()
    for name in (
        "library.context",
        "errors",
        "safestorage.backends",
        "cursor.paths",
        "model",
        "cursor.rows",
        "cursor.store",
    ):
        assert f"cursor_byok.{name}" in found
    assert "cursor_byok.cli" not in found


@pytest.mark.slow
@pytest.mark.parametrize("module", core_modules())
def test_core_module_does_not_import_click(module):
    proc = fresh_python(REPORT_MODULES.format(body=f"import {module}", watched=("click",)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_all_core_modules_together_do_not_import_click():
    body = "\n".join(f"import {m}" for m in core_modules())
    proc = fresh_python(REPORT_MODULES.format(body=body, watched=("click",)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_watch_itself_sees_click():
    proc = fresh_python(REPORT_MODULES.format(body="import cursor_byok.cli", watched=("click",)))
    assert "click" in json.loads(proc.stdout)


def run_cli_and_report(*args: str) -> tuple[str, list[str], int]:
    proc = fresh_python(RUN_CLI.format(args=list(args), watched=HEAVY))
    assert proc.returncode == 0, proc.stderr
    report = proc.stderr.rsplit("LOADED ", 1)[1]
    loaded, code = report.split(" EXIT ")
    return proc.stdout, json.loads(loaded), int(code)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], ["-V"], ["list", "--help"], ["where", "--help"]])
def test_help_and_version_skip_heavy_imports(args):
    out, loaded, code = run_cli_and_report(*args)
    assert code == 0
    assert loaded == []
    if args[0] in ("--version", "-V"):
        assert out.strip() == f"cursor-byok, version {cursor_byok.__version__}"
    else:
        assert "Usage:" in out


def test_the_report_sees_heavy_imports_when_a_command_runs(tmp_path):
    # The same harness on a real command must see SQLAlchemy, or the test above proves nothing.
    from cursor_byok.samples.installs import create_db

    db = tmp_path / "state.vscdb"
    create_db(db, {"cursorAuth/openAIKey": "sk-made-up-plain-value-000000000"})
    _, loaded, code = run_cli_and_report("--db", str(db), "list", "--json")
    assert code == 0
    assert "sqlalchemy" in loaded


# docs/architecture.md: cli → library → (render, samples, rescue) → checks → (changes, bundle) → cursor →
# safestorage → the bottom modules → errors.
LAYERS = {
    "cli": 0,
    "library": 1,
    "render": 2, "briefs": 2, "samples": 2, "rescue": 2,
    "checks": 3,
    "changes": 4, "bundle": 4,
    "cursor": 5,
    "safestorage": 6,
    "model": 7, "key_table": 7, "providers": 7, "versions": 7, "key_shapes": 7, "private_files": 7,
    "processes": 7, "winsec": 7, "crashpoint": 7, "console": 7, "results": 7, "lazy": 7,
    "errors": 8,
}  # fmt: skip


def imported_parts(path) -> set[str]:
    """The top-level parts of cursor_byok that a module imports (relative imports resolved)."""
    import ast
    from pathlib import Path

    root = Path(cursor_byok.__file__).parent
    package = list(path.relative_to(root).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        target = [*base, *(node.module.split(".") if node.module else [])]
        names = [target[0]] if target else [a.name for a in node.names]
        found.update(n for n in names if n in LAYERS)
    return found


def test_imports_go_one_way():
    from pathlib import Path

    root = Path(cursor_byok.__file__).parent
    upward = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == root or path.name == "__main__.py":
            continue  # the façade and the entry point sit above everything
        rel = path.relative_to(root)
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        upward += [f"{rel} imports {part}" for part in imported_parts(path) if LAYERS[part] < LAYERS[own]]
    assert upward == []


# --- one name for each module: no alias of an in-package module or name ---------------------------

ALIASES_LEFT: dict[str, set[str]] = {}  # none left


def package_files():
    from pathlib import Path

    root = Path(cursor_byok.__file__).parent
    return root, sorted(root.rglob("*.py"))


def in_package_aliases(source: str) -> set[str]:
    """`name as other` for every import of a cursor_byok module or name under another name."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("cursor_byok")):
            found |= {f"{a.name} as {a.asname}" for a in node.names if a.asname and a.asname != a.name}
        elif isinstance(node, ast.Import):
            found |= {f"{a.name} as {a.asname}" for a in node.names if a.asname and a.name.startswith("cursor_byok")}
    return found


def test_no_module_imports_a_package_name_under_another_name():
    root, files = package_files()
    renamed = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        extra = in_package_aliases(path.read_text(encoding="utf-8")) - ALIASES_LEFT.get(rel, set())
        if extra:
            renamed[rel] = sorted(extra)
    assert renamed == {}


def test_the_alias_check_sees_an_alias():
    code = "from . import diff as planning\nfrom ..cursor.urls import shown as shown_url\nimport click as c\n"
    assert in_package_aliases(code) == {"diff as planning", "shown as shown_url"}
    assert in_package_aliases("from __future__ import annotations\nfrom .x import y\n") == set()


# --- imports at the top: a function imports only what must stay off the start-up path ----------------

FUNCTION_IMPORT_BUDGET = 15  # the whole package; each one says why on its line (or the line above)
NOT_YET_COUNTED: set[str] = set()  # none left: the budget counts every module


def function_imports(source: str) -> list[tuple[int, bool]]:
    """(line, says why) of every import inside a function: a reason is a comment on its line or the one above."""
    import ast

    lines = source.splitlines()
    found = set()
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found |= {n.lineno for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return [(n, "#" in lines[n - 1] or lines[n - 2].strip().startswith("#")) for n in sorted(found)]


def test_imports_are_at_the_top_but_for_a_few_that_say_why():
    root, files = package_files()
    counted, unexplained = {}, []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel in NOT_YET_COUNTED:
            continue
        found = function_imports(path.read_text(encoding="utf-8"))
        counted[rel] = len(found)
        unexplained += [f"{rel}:{line}" for line, why in found if not why]
    assert unexplained == []
    assert sum(counted.values()) <= FUNCTION_IMPORT_BUDGET, {k: v for k, v in counted.items() if v}


def test_the_import_count_sees_a_function_import_and_its_reason():
    code = "import os\n\ndef f():\n    import json\n    # for g only\n    import re\n    from . import x  # why\n"
    assert function_imports(code) == [(4, False), (6, True), (7, True)]
