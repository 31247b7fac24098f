"""The shape the code keeps: a thin command line over a thin façade (docs/architecture.md).

Each command is parse, one library call, render: no function in cli/ is longer than 40 lines (from its `def`
to its last line). Each public function of the façade (library/) calls one engine: at most 25 lines of body,
its docstring aside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cursor_byok

ROOT = Path(cursor_byok.__file__).parent
CLI_LIMIT, FACADE_LIMIT = 40, 25


def functions(folder: str):
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.name, node


def body_length(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (body[-1].end_lineno or 0) - body[0].lineno + 1 if body else 0


def test_no_function_in_the_command_line_is_over_40_lines():
    long = [f"cli/{name}:{fn.name} ({(fn.end_lineno or 0) - fn.lineno + 1} lines)" for name, fn in functions("cli")
            if (fn.end_lineno or 0) - fn.lineno + 1 > CLI_LIMIT]  # fmt: skip
    assert long == []


def test_every_public_facade_function_is_short():
    public = {name for name in cursor_byok._PUBLIC if name[0].islower()}
    found = {fn.name: (name, fn) for name, fn in functions("library") if fn.name in public}
    assert set(found) >= {n for n in public if cursor_byok._PUBLIC[n].startswith("library")}
    long = [f"library/{name}:{fn.name} ({body_length(fn)} lines)" for name, fn in found.values()
            if body_length(fn) > FACADE_LIMIT]  # fmt: skip
    assert long == []


def test_the_measures_see_a_long_function():
    code = "def f():\n    '''doc'''\n" + "    x = 1\n" * 30
    fn = ast.parse(code).body[0]
    assert isinstance(fn, ast.FunctionDef) and body_length(fn) == 30 > FACADE_LIMIT
