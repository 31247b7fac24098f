"""Changing a Cursor database: what is wanted (wanted, manifest), the plan and its one write path (plan),
and undo (journal)."""
