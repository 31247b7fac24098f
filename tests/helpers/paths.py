"""Where things are, for tests in any folder of tests/: the checkout, the suite, its sample data."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent  # tests/
REPO = TESTS.parent  # the checkout (or the unpacked sdist)
FIXTURES = TESTS / "fixtures"  # sample installs, vectors and stores; tests/fixtures/README.md
