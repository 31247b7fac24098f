"""Outside tools and Python packages a test needs: skip without them, or fail under CI's flag."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_TOOLS_ENV = "CURSOR_BYOK_REQUIRE_TOOLS"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS_ENV) == "1"


def require_tool(name: str) -> str:
    """The path of an outside tool; skip the test without it (fail under CI's flag)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install the package that provides it)"
    if tools_required():
        pytest.fail(f"{message}; {REQUIRE_TOOLS_ENV}=1 turns this skip into a failure")
    pytest.skip(message)


def require_module(name: str) -> None:
    """Skip (or, with CURSOR_BYOK_REQUIRE_TOOLS=1, fail) when a Python package is missing."""
    try:
        __import__(name)
    except ImportError:
        if tools_required():
            pytest.fail(f"Python package {name} is missing; CURSOR_BYOK_REQUIRE_TOOLS=1 turns this skip into a failure")
        pytest.skip(f"Python package {name} is missing (pip install {name})")


def age_keygen_identity(folder: Path) -> tuple[Path, str]:
    """(identity file, recipient) made by the age command line tool's age-keygen (skips without it)."""
    keygen = require_tool("age-keygen")
    path = folder / "key.txt"
    subprocess.run([keygen, "-o", str(path)], check=True, capture_output=True, timeout=60)
    recipient = subprocess.run(
        [keygen, "-y", str(path)], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert recipient.startswith("age1"), recipient
    return path, recipient
