"""The version, alone in a module: setup.cfg reads it (`attr:`) without importing the package."""

__version__ = "0.1.0"
