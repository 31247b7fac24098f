"""What every store reader hands back: its items, and the one way to say Cursor's entry is not among them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..errors import RescueNotFound, printable


@dataclass(frozen=True)
class StoreItem:
    """One entry of an opened secret store. `secret` is the stored value; its repr never shows it."""

    label: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    secret: bytes = field(default=b"", repr=False)


def entry_missing(store: str, names: Iterable[str]) -> RescueNotFound:
    """The store opened but holds no Cursor entry: the error names what it holds, by name only."""
    held = sorted({printable(n) for n in names if n})  # the copy's own text: one line, nothing a terminal acts on
    shown = ", ".join(held[:12]) + (f" and {len(held) - 12} more" if len(held) > 12 else "")
    return RescueNotFound(
        f"{store} opened, but holds no entry of Cursor's ({f'it holds: {shown}' if held else 'it is empty'}); "
        "Cursor may have used another store on that machine (see `cursor-byok rescue --help`)",
        reason="entry-missing",
    )
