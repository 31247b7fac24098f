"""The versioned bundle document: what cannot be decoded (nested too deep, not UTF-8, empty) is a BundleError.
(Arbitrary and near-valid documents are fuzzed in tests/scenarios/test_hostile.py.)"""

from __future__ import annotations

import pytest

from cursor_byok.bundle import document as bundle
from cursor_byok.errors import BundleError


@pytest.mark.parametrize("data", [b"[" * 50_000, b'{"format":' + b"[" * 50_000, b"\xff\xfe", b""])
def test_bundle_decode_refuses_undecodable_documents(data):
    with pytest.raises(BundleError):
        bundle.decode(data)
