"""Helpers shared by the tests: imported as `helpers.<module>` from any folder of tests/ (pyproject's
pytest `pythonpath` puts tests/ on sys.path). No tests live here."""
