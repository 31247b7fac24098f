"""Which machine key new secret:// rows get, and when there is no safe answer."""

from __future__ import annotations

import json

import pytest

from cursor_byok.changes import write as plan
from cursor_byok.cursor.rows import ROW_KEYS, ROW_PREFIXES, SECRET_PREFIX, read_profile
from cursor_byok.cursor.store import Store
from cursor_byok.errors import WrongMachineKey
from cursor_byok.model import Secret
from cursor_byok.safestorage import oscrypt as ss
from cursor_byok.safestorage.backends import SafeStorage, SafeStorageConfig
from cursor_byok.samples.installs import Sample, build_user_data_dir, item_rows, make_key

PASSWORD = b"keyring-password-1"


def rows_of(sample: Sample, tmp_path) -> dict:
    db = build_user_data_dir(tmp_path / "udd", sample)
    with Store(db) as st:
        return st.get_items(ROW_KEYS, ROW_PREFIXES)


def linux_storage(tmp_path, choice="auto", argv: str | None = None, password: bytes = PASSWORD) -> SafeStorage:
    home = tmp_path / "home"
    (home / ".cursor").mkdir(parents=True, exist_ok=True)
    if argv is not None:
        (home / ".cursor" / "argv.json").write_text(json.dumps({"password-store": argv}))
    fetch = {"secret-service": lambda: password, "kwallet": lambda: password}
    return SafeStorage(
        SafeStorageConfig(choice),
        env={"HOME": str(home), "XDG_CURRENT_DESKTOP": "GNOME"},
        platform="linux",
        fetchers=fetch,
    )


def written_prefix(rows, storage) -> bytes:
    writes, _ = plan.build_writes(rows, storage, {"anthropic.key": Secret(make_key("anthropic"))}, "secret")
    (row,) = [w for w in writes if w.key == SECRET_PREFIX + "claudeKey"]
    return ss.decode_buffer_json(row.value)[:3]


def test_rows_that_open_only_with_the_empty_password_key_prove_nothing(tmp_path):
    rows = rows_of(Sample(generation="v11", secret=b"", keys={"openai.key": make_key("openai")}), tmp_path)
    storage = linux_storage(tmp_path, "secret-service", password=b"not-the-password")
    assert read_profile(rows, storage).fields["openai.key"].secret is not None  # reading uses the fallback
    with pytest.raises(WrongMachineKey):  # ... but no new row may be written with a guessed key
        plan.build_writes(rows, storage, {"anthropic.key": Secret(make_key("anthropic"))}, "secret")


def test_argv_json_basic_writes_v10_even_where_v11_rows_decrypt(tmp_path):
    rows = rows_of(Sample(generation="v11", secret=PASSWORD, keys={"openai.key": make_key("openai")}), tmp_path)
    assert written_prefix(rows, linux_storage(tmp_path, argv="basic")) == b"v10"


def test_explicit_keyring_writes_v11_and_needs_a_v11_proof(tmp_path):
    v11 = rows_of(Sample(generation="v11", secret=PASSWORD, keys={"openai.key": make_key("openai")}), tmp_path)
    assert written_prefix(v11, linux_storage(tmp_path, argv="gnome-libsecret")) == b"v11"
    basic = item_rows(Sample(generation="basic", keys={"openai.key": make_key("openai")}))
    with pytest.raises(WrongMachineKey):
        written_prefix(basic, linux_storage(tmp_path / "b", "secret-service"))


def test_a_guessed_backend_follows_the_rows_cursor_wrote(tmp_path):
    v11 = rows_of(Sample(generation="v11", secret=PASSWORD, keys={"openai.key": make_key("openai")}), tmp_path)
    assert written_prefix(v11, linux_storage(tmp_path)) == b"v11"
    basic = item_rows(Sample(generation="basic", keys={"openai.key": make_key("openai")}))
    assert written_prefix(basic, linux_storage(tmp_path / "b")) == b"v10"


def test_the_new_row_decrypts_with_the_primary_key_only(tmp_path):
    rows = rows_of(Sample(generation="v11", secret=PASSWORD, keys={"openai.key": make_key("openai")}), tmp_path)
    key = make_key("anthropic")
    writes, _ = plan.build_writes(rows, linux_storage(tmp_path), {"anthropic.key": Secret(key)}, "secret")
    (row,) = [w for w in writes if w.key == SECRET_PREFIX + "claudeKey"]
    strict = ss.CbcCodec(b"v11", ss.derive_cbc_key(PASSWORD, 1))
    assert strict.decrypt(ss.decode_buffer_json(row.value)) == key
