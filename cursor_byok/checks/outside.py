"""What other tools and advice from elsewhere leave in a Cursor, for `doctor`: keys written in clear into
`secret://cursorAuth` rows, settings and fields Cursor does not read, rows and fields this tool does not know.

Pure over what the caller read (the profile, the rows, User/settings.json); never a value in what it says.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..model import RAW, RAW_WORDS, Profile, provider_of
from ..providers import registry
from .doctor import KEY_GONE, LIKELY, Check, command

REWRITER = "one such tool rewrites it every 1.5 s while Cursor runs"


def raw_row_checks(profile: Profile) -> list[Check]:
    """A key another tool wrote in clear into its secret://cursorAuth row: Cursor cannot read it and deletes the
    row at start, so the key disappears. The fix re-encrypts it, once the tool that writes it is stopped."""
    out = []
    for field, key in sorted(profile.keys().items()):
        if key.storage != RAW or key.secret is None:
            continue
        provider = registry().get(provider_of(field))
        detail = f"{key.row} holds {key.secret.masked} {RAW_WORDS}"
        if provider is None:
            fix = "enter the key again in Cursor (this tool writes no key of a provider it does not know)"
        else:
            fix = (
                f"stop the tool or extension that writes it ({REWRITER}), quit Cursor, then "
                f"{command('set', provider.name, '--from-row')} re-encrypts it the way this Cursor reads it "
                "(undo takes it back)"
            )
        out.append(Check(provider.name if provider else "general", KEY_GONE, LIKELY, detail, fix))
    return out


def outside_checks(inst: Any, profile: Profile, rows: Mapping[str, Any]) -> list[Check]:
    """Every check of this module, for doctor_report."""
    return raw_row_checks(profile)
