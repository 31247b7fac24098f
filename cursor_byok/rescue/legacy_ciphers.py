"""The old ciphers some secret stores use (3DES: macOS keychains, older Windows DPAPI; Blowfish: KDE Wallet).

`cryptography` keeps them in its `decrepit` module (since 43), which a build may lack, and an OpenSSL without
its legacy ciphers refuses them. Either way the store that needs one fails with the store's own
StoreUnsupported (reason "legacy-ciphers-missing"), never a traceback, and the other stores still open.
"""

from __future__ import annotations

from typing import Callable, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm

from ..errors import StoreUnsupported


def legacy_cipher(
    name: Literal["TripleDES", "Blowfish"], key: bytes, missing: Callable[[], StoreUnsupported]
) -> BlockCipherAlgorithm:
    """The cipher `name` with `key`, or `missing()` raised when this `cryptography` cannot give it."""
    try:
        # Imported at each use, not with this module: a build without `decrepit` fails only the store that needs it.
        from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, TripleDES
    except ImportError:
        raise missing() from None
    try:
        return TripleDES(key) if name == "TripleDES" else Blowfish(key)
    except UnsupportedAlgorithm:
        raise missing() from None
