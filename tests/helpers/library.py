"""The library on sample installs: a Context that decrypts a sample dir with its own machine secret, and the
keys a listing holds, in clear."""

from __future__ import annotations

from typing import Any

import cursor_byok as byok

PASSPHRASE = "correct horse battery staple"
SAMPLE_HOSTS = ("contoso-ai.openai.azure.com",)


def ctx_for(sd, tmp_path, name: str) -> byok.Context:
    """A Context that decrypts this sample dir with its own machine secret."""
    secret_file = tmp_path / f"{name}.secret"
    secret_file.write_text(sd.sample.secret.decode() + "\n")
    return byok.Context(
        user_data_dir=str(sd.udd),
        safe_storage=byok.SafeStorageConfig("password", scheme="linux", password_file=str(secret_file)),
    )


def revealed(listing: Any) -> dict[str, str]:
    """The provider keys of a listing, in clear (unknown providers' keys left out)."""
    assert listing.stored is not None
    keys = listing.stored.keys().items()
    return {f: k.secret.reveal() for f, k in keys if k.secret is not None and not f.startswith("extra.")}
