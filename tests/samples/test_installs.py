"""The sample installs the tests and the demo are built from (real SQLite, real ciphertext, made-up keys)."""

from __future__ import annotations

from cursor_byok.samples import installs as sample


def test_sample_protects_the_local_state_key_with_dpapi_on_windows(monkeypatch):
    import base64

    from cursor_byok.safestorage import dpapi

    key = bytes(range(32))
    monkeypatch.setattr(dpapi, "win_protect", lambda data: b"\x01\x00\x00\x00protected:" + data[::-1])
    blob = base64.b64decode(sample.dpapi_encrypted_key(key, platform="win32"))
    assert blob == b"DPAPI\x01\x00\x00\x00protected:" + key[::-1]
    assert base64.b64decode(sample.dpapi_encrypted_key(key, platform="linux")) == b"DPAPIfake:" + key
