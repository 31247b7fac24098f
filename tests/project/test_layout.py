"""Tests mirror the code (tests/README.md): the tests of `cursor_byok/<package>/<module>.py` are in
`tests/<package>/test_<module>.py` (or `test_<module>_<topic>.py`), those of a bottom module in
`tests/test_<module>.py`; behaviour across modules lives in tests/scenarios/, checks of the whole project in
tests/project/, shared code in tests/helpers/ and data in tests/fixtures/.

So no test file is named after a module that does not exist, no test file imports another (or conftest), and
at least MIN_SHARE of the package's modules have a test file named after them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers.paths import REPO, TESTS

PACKAGE = REPO / "cursor_byok"
MIN_SHARE = 0.70  # of the package's modules (not __init__ or __main__) with a test file named after them
FREE = ("scenarios", "project")  # test files named after what they do, not after a module
NO_TESTS = ("helpers", "fixtures")  # shared code and sample data

Module = tuple[str, ...]  # ("changes", "flow") for cursor_byok/changes/flow.py, ("errors",) for cursor_byok/errors.py


def package_modules(package: Path) -> set[Module]:
    """Every module of the package but the __init__ and __main__ files, as its path's parts."""
    found = set()
    for path in package.rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py") and "__pycache__" not in path.parts:
            found.add(path.relative_to(package).with_suffix("").parts)
    return found


def suite_files(tests: Path) -> list[Path]:
    """The test files of the suite, relative to tests/, outside helpers/ and fixtures/."""
    return sorted(
        p.relative_to(tests) for p in tests.rglob("test_*.py") if p.relative_to(tests).parts[0] not in NO_TESTS
    )


def named_after(test_file: Path, modules: set[Module]) -> Module | None:
    """The module a test file is named after: in the folder of its package, `test_<module>.py` or
    `test_<module>_<topic>.py` (the longest module name that fits); None if there is none."""
    folder, stem = test_file.parent.parts, test_file.stem.removeprefix("test_")
    fits = [m for m in modules if m[:-1] == folder and (stem == m[-1] or stem.startswith(m[-1] + "_"))]
    return max(fits, key=lambda m: len(m[-1]), default=None)


def misnamed(tests: Path, package: Path) -> list[str]:
    """Test files outside the free folders that no module of the package is named by."""
    modules = package_modules(package)
    return [str(f) for f in suite_files(tests) if f.parts[0] not in FREE and named_after(f, modules) is None]


def untested(tests: Path, package: Path) -> list[Module]:
    """The package's modules with no test file named after them."""
    modules = package_modules(package)
    named = {named_after(f, modules) for f in suite_files(tests)}
    return sorted(modules - named)


def share(tests: Path, package: Path) -> float:
    modules = package_modules(package)
    return 1 - len(untested(tests, package)) / len(modules)


def stray_python(tests: Path) -> list[str]:
    """Python files that are neither tests nor conftest.py outside helpers/ (shared code has one place)."""
    return sorted(
        str(p.relative_to(tests))
        for p in tests.rglob("*.py")
        if p.relative_to(tests).parts[0] not in NO_TESTS and p.name != "conftest.py" and not p.name.startswith("test_")
    )


def imports_of_tests(path: Path) -> list[str]:
    """The modules `path` imports that are test files or conftest (test_*, conftest, tests.*)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [n for n in names if n.split(".")[-1].startswith("test_") or n.split(".")[0] in ("conftest", "tests")]
    return found


# --- the suite as it is ---------------------------------------------------------------------------


def test_every_test_file_is_named_after_a_module_that_exists():
    bad = misnamed(TESTS, PACKAGE)
    assert not bad, (
        "test files named after no module of cursor_byok (rename them after the module they test, "
        "tests/<package>/test_<module>.py, or move behaviour across modules to tests/scenarios/): " + ", ".join(bad)
    )


def test_most_modules_have_a_test_file_named_after_them():
    missing = ["/".join(m) + ".py" for m in untested(TESTS, PACKAGE)]
    assert share(TESTS, PACKAGE) >= MIN_SHARE, f"under {MIN_SHARE:.0%}; modules without a test file: {missing}"


def test_shared_code_lives_in_helpers():
    assert stray_python(TESTS) == [], "Python files beside the tests that are not tests: move them to tests/helpers/"


def test_no_test_file_imports_another_or_conftest():
    found = {
        str(p.relative_to(TESTS)): imports_of_tests(p)
        for p in TESTS.rglob("*.py")
        if p.relative_to(TESTS).parts[0] != "fixtures"
    }
    assert {f: names for f, names in found.items() if names} == {}, "shared code goes in tests/helpers/"


# --- the rule itself, on a made-up tree -----------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A package of five modules (two in `changes/`) and the tests of three of them."""
    package, tests = tmp_path / "pkg", tmp_path / "tests"
    for name in ("__init__.py", "__main__.py", "errors.py", "store.py", "changes/__init__.py", "changes/flow.py",
                 "changes/diff.py", "cli/__init__.py", "cli/read.py"):  # fmt: skip
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("")
    for name in ("test_errors.py", "test_store_lock_scope.py", "changes/test_flow.py", "scenarios/test_walk.py",
                 "helpers/test_like_name.py", "conftest.py", "helpers/transfer.py"):  # fmt: skip
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text("")
    return tests, package


def test_the_rule_matches_names_folders_and_topics(tree):
    tests, package = tree
    assert misnamed(tests, package) == []
    assert untested(tests, package) == [("changes", "diff"), ("cli", "read")]
    assert share(tests, package) == 1 - 2 / 5
    assert named_after(Path("test_store_lock_scope.py"), package_modules(package)) == ("store",)


@pytest.mark.parametrize(
    "stale",
    ["test_locate.py", "changes/test_store.py", "test_flow.py", "cursor/test_paths.py", "test_errorsx.py"],
)
def test_a_test_file_named_after_no_module_is_found(tree, stale):
    tests, package = tree
    (tests / stale).parent.mkdir(parents=True, exist_ok=True)
    (tests / stale).write_text("")
    assert misnamed(tests, package) == [stale]


def test_a_module_renamed_under_its_tests_is_found(tree):
    tests, package = tree
    (package / "store.py").rename(package / "sqlite_store.py")
    assert misnamed(tests, package) == ["test_store_lock_scope.py"]
    assert ("sqlite_store",) in untested(tests, package)


def test_a_helper_beside_the_tests_and_a_test_importing_a_test_are_found(tree):
    tests, _ = tree
    (tests / "changes" / "kit.py").write_text("")
    assert stray_python(tests) == ["changes/kit.py"]
    (tests / "changes" / "test_flow.py").write_text(
        "from test_errors import x\nimport conftest\nfrom helpers import y\n"
    )
    assert imports_of_tests(tests / "changes" / "test_flow.py") == ["test_errors", "conftest"]
