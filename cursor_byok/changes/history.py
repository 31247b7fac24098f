"""Which journaled writes are undone: what `undo` restores next, and what `redo` re-applies.

Journals come in three kinds. A *write* is any journal that restores no other
journal of this database (import, set, apply...). An *undo* restores a write:
its header names it (`undoes`). A *redo* restores an undo (it is `undo` of an
undo's journal, which is what `redo` runs).

A journal is *in effect* unless a later journal that is itself in effect, and
whose write landed, restored it. `undo` takes the newest write in effect, so
each `undo` goes one step further back; `redo` takes the newest undo in effect
that no write in effect came after (a new write ends the redo history, as in
an editor). Whether a journal's write landed is asked of `landed` (its rows do
not all hold the values it recorded as old): an undo killed between its
journal and its commit leaves a journal that restores nothing, and must not
count as undoing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence, TypedDict

if TYPE_CHECKING:
    from .journal import Entry

WRITE, UNDO, REDO = "write", "undo", "redo"


class Status(TypedDict):
    """A journal's place in the history, as `undo --list` shows it."""

    kind: str
    undoes: str | None
    undone_by: str | None


@dataclass
class History:
    """The journals of one database, newest first, with their kinds and who undid whom."""

    entries: Sequence[Entry]  # newest first
    landed: Callable[[Entry], bool]
    kinds: dict[str, str] = field(default_factory=dict)
    undone_by: dict[str, str] = field(default_factory=dict)  # journal id -> the journal in effect that restored it

    def __post_init__(self) -> None:
        by_id = {e.id: e for e in self.entries}
        for e in reversed(self.entries):  # oldest first: what a journal restores is older than it
            target = e.undone_id if e.undone_id in by_id else None
            self.kinds[e.id] = WRITE if target is None else (UNDO if self.kinds.get(target) == WRITE else REDO)
        for e in self.entries:  # newest first: whoever restores a journal is newer than it
            target = e.undone_id
            if e.id in self.undone_by or target not in by_id or target in self.undone_by:
                continue
            if self.landed(e):
                self.undone_by[target] = e.id

    def in_effect(self, entry: Entry) -> bool:
        return entry.id not in self.undone_by

    def of_kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if self.kinds[e.id] == kind]

    def undo_candidates(self) -> list[Entry]:
        """Writes in effect, newest first: `undo` restores the first one that has something to restore."""
        return [e for e in self.of_kind(WRITE) if self.in_effect(e)]

    def redo_candidate(self) -> tuple[Entry | None, Entry | None]:
        """(the undo to restore, None) or (None, the write in effect that came after the newest undo in effect)."""
        undos = [e for e in self.of_kind(UNDO) if self.in_effect(e) and self.landed(e)]
        if not undos:
            return None, None
        newest = undos[0]
        later = [e for e in self.undo_candidates() if e.id > newest.id and self.landed(e)]
        return (None, later[-1]) if later else (newest, None)

    def status(self, entry: Entry) -> Status:
        """For `undo --list`: the journal's kind, what it restored, and whether (and by which) it was undone."""
        kind = self.kinds[entry.id]
        undoes = entry.undone_id if kind != WRITE else None
        return {"kind": kind, "undoes": undoes, "undone_by": self.undone_by.get(entry.id)}
