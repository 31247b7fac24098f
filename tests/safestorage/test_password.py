"""The password backend: the machine secret given in a file or a variable, and the Windows scheme's hex key."""

from __future__ import annotations

import pytest
from helpers.samples import WINDOWS_KEY

from cursor_byok.errors import SafeStorageUnavailable
from cursor_byok.safestorage import password


def test_password_from_a_file_drops_the_line_end(tmp_path):
    pw = tmp_path / "pw"
    pw.write_bytes(b"machine pass\r\n")
    assert password.read_password_input(str(pw), {password.PASSWORD_ENV: "ignored"}) == b"machine pass"


def test_password_from_the_environment():
    assert password.read_password_input(None, {password.PASSWORD_ENV: "from-env"}) == b"from-env"


def test_password_missing(tmp_path):
    with pytest.raises(SafeStorageUnavailable, match=password.PASSWORD_ENV):
        password.read_password_input(None, {})
    with pytest.raises(SafeStorageUnavailable, match="cannot read"):
        password.read_password_input(str(tmp_path / "absent"), {})


@pytest.mark.parametrize("secret", [b"not-hex", b"abcd", WINDOWS_KEY.hex().encode() + b"00", "é".encode()])
def test_windows_scheme_rejects_anything_but_64_hex(secret):
    with pytest.raises(SafeStorageUnavailable, match="64 hex"):
        password.windows_key_from_hex(secret)
