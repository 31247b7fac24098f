"""Plain data: how a key is kept (`KeyForm`) is one enum whose values are what documents show."""

from __future__ import annotations

import json

from cursor_byok.model import KeyForm


def test_a_key_form_is_its_own_spelling_in_documents():
    assert [f.value for f in KeyForm] == ["secret", "encrypted", "plaintext", "settings-json", "unsure"]
    assert json.dumps({"form": KeyForm.SETTINGS_JSON}) == '{"form": "settings-json"}'
    assert f"{KeyForm.SECRET}" == "secret" and KeyForm.PLAINTEXT == "plaintext"
