"""The version tables: which key form each Cursor version reads and writes, which backend a row prefix means on
each OS, and the Cursor facts (version, backups) read from the rows."""

from __future__ import annotations

import pytest

from cursor_byok import versions
from cursor_byok.model import KeyForm


@pytest.mark.parametrize(
    "version, read, written",
    [
        (None, KeyForm.UNSURE, KeyForm.UNSURE),
        ("0.16.0", KeyForm.PLAINTEXT, KeyForm.PLAINTEXT),
        ("2.1.9", KeyForm.PLAINTEXT, KeyForm.PLAINTEXT),
        ("2.2.0", KeyForm.UNSURE, KeyForm.UNSURE),
        ("2.3", KeyForm.SECRET, KeyForm.SECRET),
        ("3.7.42", KeyForm.SECRET, KeyForm.SECRET),
    ],
)
def test_the_key_form_table(version, read, written):
    assert versions.key_forms(version) == (read, written)
    assert versions.key_form_read(version) is read and versions.key_form_written(version) is written


def test_the_row_backend_table():
    assert versions.row_prefixes("linux") == (b"v10", b"v11")
    assert versions.row_prefixes("macos") == versions.row_prefixes("windows") == (b"v10",)
    words = {(s, p): versions.row_backend_words(s, p) for s, p in versions.ROW_BACKENDS}
    assert words == {
        ("linux", b"v10"): "basic",
        ("linux", b"v11"): "a keyring: secret-service or kwallet",
        ("macos", b"v10"): "keychain",
        ("windows", b"v10"): "dpapi",
    }
    assert versions.row_backend_words("macos", b"v11") == "unknown"
    assert versions.prefix_written("linux", "basic") == b"v10"
    assert versions.prefix_written("linux", "kwallet") == versions.prefix_written("linux", "password") == b"v11"
    assert versions.prefix_written("windows", "dpapi") == b"v10"


def test_the_safe_storage_asks_the_row_backend_table():
    from cursor_byok.errors import SafeStorageUnavailable
    from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig

    linux = SafeStorage(SafeStorageConfig("basic"), env={}, platform="linux")
    assert linux.codec_for_prefix(b"v10")[0] == "basic"
    with pytest.raises(SafeStorageUnavailable):
        linux.codec_for_prefix(b"v20")


@pytest.mark.parametrize(
    "rows, backup, expected",
    [
        ({}, False, (None, None)),
        ({"releaseNotes/lastVersion": "3.7.42", versions.BACKUP_SWITCH_ROW: "true"}, False, ("3.7.42", False)),
        ({"releaseNotes/lastVersion": "3.7.42"}, False, ("3.7.42", None)),
        ({"update/lastKnownVersion": "2.1.9"}, False, ("2.1.9", True)),
        ({}, True, (None, True)),
        ({"cursorupdate.lastUpdatedAndShown.version": '{"version":"1.4.2"}'}, False, ("1.4.2", True)),
        ({"releaseNotes/lastVersion": '"0.16.1"', "update/lastKnownVersion": "0.17.0"}, False, ("0.16.1", True)),
        ({"releaseNotes/lastVersion": "garbage; DROP TABLE"}, False, (None, None)),
        ({"releaseNotes/lastVersion": "3.8.0-nightly.1", versions.BACKUP_SWITCH_ROW: "true"}, False, ("3.8.0", False)),
        ({"releaseNotes/lastVersion": "v3.7.42"}, False, ("3.7.42", None)),
    ],
)
def test_cursor_facts_from_rows(rows, backup, expected):
    facts = versions.cursor_facts(rows, backup)
    assert (facts.version, facts.backups) == expected


@pytest.mark.parametrize(
    "version, form",
    [
        ("0.16.1", "plaintext"),
        ("0.42.5", "plaintext"),
        ("2.1.50", "plaintext"),
        ("2.2.3", "unsure"),
        ("2.3.0", "secret"),
        ("2.4.31", "secret"),
        ("3.7.42", "secret"),
        (None, "unsure"),
    ],
)
def test_key_form_read_by_version(version, form):
    assert versions.key_form_read(version) == form
