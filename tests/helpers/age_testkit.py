"""The age testkit (tests/fixtures/age-testkit, C2SP's vectors): each vector file read, and opened through
bundle.age_envelope; `Refuser` stands in for pyrage's decrypt functions to prove a refusal came first."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import pyrage

from cursor_byok.bundle import age_envelope as agefile
from helpers.paths import FIXTURES

TESTKIT = FIXTURES / "age-testkit"


@dataclass(frozen=True)
class Vector:
    name: str
    expect: str
    payload: str | None
    armored: bool
    identities: tuple[str, ...]
    passphrases: tuple[str, ...]
    data: bytes


def load_vector(path: Path) -> Vector:
    head, _, body = path.read_bytes().partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return Vector(
        name=path.name,
        expect=fields["expect"][0],
        payload=fields.get("payload", [None])[0],
        armored=fields.get("armored") == ["yes"],
        identities=tuple(fields.get("identity", ())),
        passphrases=tuple(fields.get("passphrase", ())),
        data=body,
    )


VECTOR_PATHS = sorted(p for p in TESTKIT.iterdir() if p.name != "SOURCE.md")


def open_vector(vector: Vector) -> bytes:
    identities = agefile.parse_identities("\n".join(vector.identities), vector.name) if vector.identities else []
    return agefile.decrypt(vector.data, passphrases=vector.passphrases, identities=identities)


class Refuser:
    """Stands in for pyrage's decrypt functions and records that it was called."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *_args, **_kwargs):
        self.calls += 1
        raise AssertionError("pyrage was called although the precheck should have refused the file")


def install_refuser(monkeypatch) -> Refuser:
    refuser = Refuser()
    monkeypatch.setattr(pyrage, "decrypt", refuser)
    monkeypatch.setattr(pyrage.passphrase, "decrypt", refuser)
    return refuser
