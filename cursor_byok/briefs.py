"""Notes and messages as a newcomer reads them: one line per kind of note, in plain words.

Results keep every note in full (the `--json` documents hold them as they are). What a person sees on a
terminal, unless they ask for more with `-v`, goes through here:

- `brief(notes)`: the notes a command prints, one line per kind, each with its action or none. Notes of
  a kind that only explains the machinery (how keys are encoded, which ciphertext prefix) are left out.
  What says where prompts, code or keys go, and a key stored LESS PROTECTED, is never left out: such
  notes are grouped, never dropped.
- `plain(text)`: the same text without cryptographic jargon (padding, UTF-8, exception class names,
  ciphertext prefixes, backend names), for notes and error messages.

Notes this module does not know are shown as they are.
"""

from __future__ import annotations

import re
from typing import Iterable

# Jargon -> plain words. The technical text stays in results and under -v.
_PLAIN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"(?:bad padding|authentication failed|decrypted bytes are not UTF-8): wrong machine secret",
         "made with another machine's secret"),
        (r"Secret Service unreachable \(\w+\)", "the keyring (Secret Service) is locked or not running"),
        (r" \((?:[A-Z]\w*(?:Exception|Error))\)", ""),
        (r"\bv11 values need a keyring\b", "these keys need a keyring"),
        (r" \(v1[01]\)", ""),
        (r"the password backend's secret", "the machine secret you gave"),
        (r"the (secret-service|kwallet|keychain|dpapi) backend's secret", r"the \1 machine secret"),
        (r"this Cursor uses the basic backend: new keys are only obfuscated, not encrypted",
         "this Cursor has no keyring: new keys are only obfuscated, not encrypted (anyone with the file reads them)"),
    )
)  # fmt: skip


def plain(text: str) -> str:
    """`text` without jargon a newcomer cannot act on (the details are in `-v` and in --json)."""
    for pattern, words in _PLAIN:
        text = pattern.sub(words, text)
    return text


_UNREADABLE = re.compile(r"^(?P<rows>.+): cannot decrypt \((?P<reason>.*)\)$")
_LESS = re.compile(
    r"^(?P<field>\S+): LESS PROTECTED than (?P<where>.+?): was (?P<was>.+?), will be stored (?P<dest>.+)$"
)
_MACHINERY = (
    re.compile(r"^keys are written as (?:encrypted secret://cursorAuth|plain cursorAuth) rows \(.*\)$"),
    re.compile(r"^new secret:// values are encrypted with the .+ backend's secret \(v1\d\)$"),
)
ORIGIN_MARK = "saved by Cursor on "  # the evidence note (cursor.origin): it says what to do for unreadable keys

_PROTECTION_WORDS = {
    "encrypted (secret://)": "encrypted",
    "in a plain cursorAuth row": "in plain text",
    "in plain text in the settings blob": "in plain text in Cursor's settings (where this Cursor keeps such keys)",
}


def brief(notes: Iterable[str], *, where: str | None = None) -> list[str]:
    """One line per kind of note, in the order each kind first appears. `where`: the command that names the
    backend the stored keys need (`cursor-byok ... where`), the action for keys that cannot be decrypted."""
    notes = list(notes)
    origin = any(ORIGIN_MARK in n for n in notes)  # it says what to do about the keys that cannot be decrypted
    order: list[str | tuple[str, str, str]] = []  # a note as shown, or a group of LESS PROTECTED notes
    unreadable: list[tuple[str, str]] = []
    less: dict[tuple[str, str, str], list[str]] = {}
    for note in notes:
        if any(p.match(note) for p in _MACHINERY):
            continue
        if (m := _UNREADABLE.match(note)) is not None:
            unreadable += [(row, m["reason"]) for row in m["rows"].split(", ")]
            if UNREADABLE not in order and not origin:
                order.append(UNREADABLE)
        elif (m := _LESS.match(note)) is not None:
            group = (m["where"], m["was"], m["dest"])
            order += [] if group in less else [group]
            less.setdefault(group, []).append(m["field"])
        else:
            order.append(plain(note))
    return [_line(entry, unreadable, less, where) for entry in order]


UNREADABLE = "\0unreadable"


def _line(entry: str | tuple[str, str, str], unreadable: list[tuple[str, str]],
          less: dict[tuple[str, str, str], list[str]], where: str | None) -> str:  # fmt: skip
    if isinstance(entry, tuple):
        was, dest = (_PROTECTION_WORDS.get(w, w) for w in entry[1:])
        return f"{', '.join(less[entry])}: LESS PROTECTED than {entry[0]}: was {was}, will be stored {dest}"
    if entry == UNREADABLE:
        reasons = "; ".join(dict.fromkeys(plain(reason) for _row, reason in unreadable))
        action = f"`{where or 'cursor-byok where'}` says what they need"
        return f"{len(unreadable)} key(s) cannot be decrypted here ({reasons}); {action}; -v lists them"
    return entry
