"""Reading bundles and recipients from files and pipes, with the passphrase or identity they need."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import BundleAuthError, BundleError, InputError
from ..model import MIN_PASSPHRASE

if TYPE_CHECKING:
    from ..library.move import Bundle
from .lib import age_envelope, key_shapes, move, private_files
from .options import read_passphrase_option
from .output import is_terminal, status
from .prompts import hidden_prompt, new_passphrase_prompt, open_with_tries

RECIPIENTS_FILE_LIMIT = 1 << 20


MAX_BUNDLE = 64 << 20  # a bundle holds a few KiB; this only stops a runaway read


def gather_recipients(recipient: tuple[str, ...], recipients_file: tuple[str, ...]) -> list[str]:
    out = list(recipient)
    for path in recipients_file:
        text = private_files.read_small_text(path, RECIPIENTS_FILE_LIMIT, "recipients")
        out += age_envelope.parse_recipients_file(text, key_shapes.shown_path(path))
    return out


def read_input_file(path: str) -> bytes:
    """A bundle from a file or a pipe ('-'), read up to MAX_BUNDLE bytes."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_BUNDLE + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_BUNDLE + 1)
    except OSError as exc:
        raise InputError(f"{key_shapes.shown_path(path)}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_BUNDLE:
        raise BundleError(
            f"{key_shapes.shown_path(path)}: larger than {MAX_BUNDLE >> 20} MiB, which no bundle is; "
            "check the file name"
        )
    return data


def load_bundle_cli(
    path: str, identity: tuple[str, ...], passphrase_file: str | None, passphrase_env: str | None
) -> Bundle:
    data = read_input_file(path)
    header = age_envelope.precheck(data)
    ask = hidden_prompt() if path != "-" else None
    if header.passphrase_only:
        value = read_passphrase_option(passphrase_file, passphrase_env)
        if value is None:
            if ask is None:
                raise BundleAuthError(
                    "this bundle needs its passphrase: pass --passphrase-file F or --passphrase-env VAR"
                )
            return open_with_tries(data, ask)
        with status("deriving key…"):
            return move.open_bundle(data, passphrases=[value])
    if not identity:
        raise BundleAuthError("this bundle is encrypted to recipients: pass -i IDENTITY_FILE")
    return move.open_bundle(data, identity_files=identity, ask=ask)


def export_passphrase(passphrase_file: str | None, passphrase_env: str | None) -> str:
    value = read_passphrase_option(passphrase_file, passphrase_env)
    if value is None:
        if not is_terminal(sys.stdin):
            raise InputError("no passphrase: pass --passphrase-file F, --passphrase-env VAR, or -r RECIPIENT")
        value = new_passphrase_prompt()
    if len(value) < MIN_PASSPHRASE:
        raise InputError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters, or -r RECIPIENT")
    return value
