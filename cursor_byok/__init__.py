"""cursor-byok: find, audit, move and script the API keys Cursor stores."""

__version__ = "0.1.0"
