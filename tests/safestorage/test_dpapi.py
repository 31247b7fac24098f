"""Windows DPAPI: the key in `Local State`, unprotected by a stand-in for CryptUnprotectData here."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from helpers.samples import WINDOWS_KEY, fake_dpapi_unprotect

from cursor_byok.errors import SafeStorageUnavailable, UnknownCiphertext
from cursor_byok.safestorage import dpapi


def local_state(tmp_path: Path, encrypted_key: bytes | str) -> Path:
    path = tmp_path / "Local State"
    value = encrypted_key if isinstance(encrypted_key, str) else base64.b64encode(encrypted_key).decode()
    path.write_text(json.dumps({"os_crypt": {"encrypted_key": value}, "browser": {}}))
    return path


def test_dpapi_key_is_unprotected_without_its_prefix(tmp_path):
    seen = []

    def unprotect(data: bytes) -> bytes:
        seen.append(data)
        return fake_dpapi_unprotect(data)

    path = local_state(tmp_path, b"DPAPI" + b"fake:" + WINDOWS_KEY)
    assert dpapi.dpapi_key_from_local_state(path, unprotect) == WINDOWS_KEY
    assert seen == [b"fake:" + WINDOWS_KEY]


def test_dpapi_key_from_a_sample_dir(make_sample_dir):
    sample = make_sample_dir("windows")
    key = dpapi.dpapi_key_from_local_state(sample.udd / "Local State", fake_dpapi_unprotect)
    assert key == sample.sample.secret == WINDOWS_KEY


def test_key_without_dpapi_prefix_is_unknown(tmp_path):
    path = local_state(tmp_path, b"APPB" + bytes(60))
    with pytest.raises(UnknownCiphertext, match="DPAPI"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)


@pytest.mark.parametrize("content", ["{}", "not json", '{"os_crypt": {}}', '{"os_crypt": {"encrypted_key": "@@@"}}'])
def test_local_state_without_a_key(tmp_path, content):
    path = tmp_path / "Local State"
    path.write_text(content)
    with pytest.raises(SafeStorageUnavailable, match="encrypted_key"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)


def test_missing_local_state(tmp_path):
    with pytest.raises(SafeStorageUnavailable, match="missing"):
        dpapi.dpapi_key_from_local_state(tmp_path / "Local State", fake_dpapi_unprotect)


def test_dpapi_key_of_the_wrong_length(tmp_path):
    path = local_state(tmp_path, b"DPAPI" + b"fake:" + bytes(16))
    with pytest.raises(SafeStorageUnavailable, match="a key of 16 bytes"):
        dpapi.dpapi_key_from_local_state(path, fake_dpapi_unprotect)
