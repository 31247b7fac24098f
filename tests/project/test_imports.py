"""Import discipline: the library works without click, and `--help` / `--version` stay fast by not loading
SQLAlchemy, cryptography or pyrage (checked in fresh interpreters); the package's parts import one way down
the ranks of docs/architecture.md, two parts of one rank never import each other, and no cycle runs between
parts (checked on the import graph read from the source, and shown to fail on a planted import).
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

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


# --- the import graph: one way down, no two parts of one rank tied, no cycle ---------------------------
#
# docs/architecture.md: cli → library → (render, samples, rescue) → checks → (changes, bundle) → cursor →
# safestorage → the bottom modules → errors. A part is a sub-package (all its modules) or a module at the top.

LAYERS = {
    "cli": 0,
    "library": 1,
    "render": 2, "samples": 2, "rescue": 2,
    "checks": 3,
    "changes": 4, "bundle": 4,
    "cursor": 5,
    "safestorage": 6,
    "model": 7, "key_table": 7, "providers": 7, "versions": 7, "key_shapes": 7, "private_files": 7,
    "processes": 7, "winsec": 7, "crashpoint": 7, "console": 7, "results": 7, "lazy": 7, "briefs": 7,
    "errors": 8, "_version": 8,
}  # fmt: skip
BOTTOM = 7  # plain modules that may use each other (never in a cycle); every other rank's parts are independent
PACKAGE = Path(cursor_byok.__file__).parent

Edge = tuple[str, str, str]  # (module, its part, the part it imports), e.g. ("changes/flow.py", "changes", "cursor")


def parts_of(root: Path = PACKAGE) -> set[str]:
    """The package's parts: its sub-packages and its top-level modules (the façade and the entry point aside)."""
    return {
        p.stem if p.suffix else p.name
        for p in root.iterdir()
        if (p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py")) or (p / "__init__.py").exists()
    }


def imported_parts(path: Path, root: Path = PACKAGE) -> set[str]:
    """The top-level parts of the package under `root` that a module imports: relative imports resolved,
    `cursor_byok.` imports, and the modules named to lazy.LazyModule. A name of the façade itself
    (`from .. import __version__`) is no part."""
    package = list(path.relative_to(root).parent.parts)
    parts = parts_of(root)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target[0]] if target else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{root.name}."):
            names = [(node.module or "").split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith(f"{root.name}.")]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "LazyModule":
            named = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            names = [named.split(".")[1]] if str(named).startswith(f"{root.name}.") else []
        found.update(n for n in names if n in parts)
    return found


def import_edges(root: Path = PACKAGE) -> list[Edge]:
    """Every import of one part of the package by another, module by module (the façade, `__init__.py` at the
    top, and the entry point `__main__.py` sit above everything and are left out)."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.as_posix() in ("__init__.py", "__main__.py") or "__pycache__" in rel.parts:
            continue
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        edges += [(rel.as_posix(), own, part) for part in sorted(imported_parts(path, root)) if part != own]
    return edges


def part_graph(edges: list[Edge]) -> dict[str, set[str]]:
    """Each part -> the parts it imports."""
    graph: dict[str, set[str]] = {}
    for _module, own, part in edges:
        graph.setdefault(own, set()).add(part)
        graph.setdefault(part, set())
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of the graph as the parts along it, first part repeated at the end (["a", "b", "a"]); [] if none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once every path from it is explored
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def upward(edges: list[Edge], layers: dict[str, int]) -> list[str]:
    return [f"{module} imports {part}" for module, own, part in edges if layers[part] < layers[own]]


def same_rank(edges: list[Edge], layers: dict[str, int]) -> list[str]:
    """Imports between two parts of one rank (the bottom row aside)."""
    return [
        f"{module} imports {part} (both rank {layers[own]})"
        for module, own, part in edges
        if layers[part] == layers[own] != BOTTOM
    ]


def test_every_part_has_a_rank():
    parts = parts_of()
    assert sorted(parts - set(LAYERS)) == [], "give each new sub-package or top-level module its rank in LAYERS"
    assert sorted(set(LAYERS) - parts) == [], "LAYERS names a part the package no longer has"


def test_imports_go_one_way():
    assert upward(import_edges(), LAYERS) == []


def test_two_parts_of_one_rank_never_import_each_other():
    assert same_rank(import_edges(), LAYERS) == []


def test_no_cycle_between_parts_of_the_package():
    assert find_cycle(part_graph(import_edges())) == []


def test_the_graph_sees_relative_absolute_and_lazy_imports(tmp_path):
    pkg = tmp_path / "cursor_byok"
    for name, text in {
        "__init__.py": "from .cli import main\n",  # the façade: left out
        "errors.py": "",
        "model.py": "from . import errors\nfrom .errors import X\n",
        "cli/__init__.py": "import cursor_byok.changes.flow\n",
        "cli/lib.py": 'from ..lazy import LazyModule\nflow = LazyModule("cursor_byok.checks.doctor")\n',
        "changes/__init__.py": "",
        "changes/flow.py": "from ..model import Y\nfrom cursor_byok.errors import Z\nfrom .. import __version__\n",
        "checks/__init__.py": "",
        "checks/doctor.py": "import json, sqlalchemy\n",
        "lazy.py": "",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    assert part_graph(import_edges(pkg)) == {
        "model": {"errors"},
        "errors": set(),
        "cli": {"changes", "checks", "lazy"},
        "changes": {"model", "errors"},
        "checks": set(),
        "lazy": set(),
    }


def test_find_cycle_finds_one_through_any_number_of_parts():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def planted(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with `line` added at the end of `module`."""
    copy = tmp_path / "cursor_byok"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # planted\n", encoding="utf-8")
    return copy


def test_a_cycle_planted_between_two_sub_packages_fails_the_check(tmp_path):
    """checks imports changes (checks/where.py); a planted import of checks in changes/flow.py closes the loop."""
    copy = planted(tmp_path, "changes/flow.py", "from ..checks import where")
    cycle = find_cycle(part_graph(import_edges(copy)))
    assert cycle[0] == cycle[-1] and {"changes", "checks"} <= set(cycle), cycle
    with pytest.raises(AssertionError):
        assert find_cycle(part_graph(import_edges(copy))) == []
    assert "changes/flow.py imports checks" in upward(import_edges(copy), LAYERS)


def test_an_import_between_two_parts_of_one_rank_fails_the_check(tmp_path):
    copy = planted(tmp_path, "changes/diff.py", "from ..bundle import document")
    assert same_rank(import_edges(copy), LAYERS) == ["changes/diff.py imports bundle (both rank 4)"]
    assert upward(import_edges(copy), LAYERS) == [] and find_cycle(part_graph(import_edges(copy))) == []


def test_import_cursor_byok_is_cheap_and_lists_its_api():
    code = (
        "import json, sys, cursor_byok as b\n"
        "names = sorted(set(b.__all__) - set(dir(b)))\n"
        "heavy = sorted(m for m in ('click', 'sqlalchemy', 'cryptography', 'pyrage') if m in sys.modules)\n"
        "print(json.dumps([names, heavy, callable(b.list_keys), 'click' in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert set(cursor_byok.__all__) == {"__version__", *cursor_byok._PUBLIC}
    missing, heavy, read_callable, click_after = json.loads(proc.stdout)
    assert missing == [] and heavy == [] and read_callable and not click_after
    with pytest.raises(AttributeError):
        cursor_byok.no_such_function  # noqa: B018


# --- one name for each module: no alias of an in-package module or name ---------------------------

ALIASES_LEFT: dict[str, set[str]] = {}  # none left


def package_files():
    root = Path(cursor_byok.__file__).parent
    return root, sorted(root.rglob("*.py"))


def in_package_aliases(source: str) -> set[str]:
    """`name as other` for every import of a cursor_byok module or name under another name."""
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
