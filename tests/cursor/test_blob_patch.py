"""Patching the settings blob in place: only the target changes, byte for byte.

The property test writes each document with its own serializer, which records
where every member's value starts and ends and where each object closes; that
gives the expected bytes without using blobpatch to find them.
"""

from __future__ import annotations

import copy
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_byok.cursor import blob_patch as blobpatch
from cursor_byok.cursor.blob_patch import PatchError, set_path

GAPS = st.sampled_from(["", " ", "\n", "  ", "\n\t", "\r\n  "])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
NAMES = st.text(max_size=6)
VALUES = st.recursive(
    SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(NAMES, kids, max_size=4), max_leaves=12
)
DOCUMENTS = st.dictionaries(NAMES, VALUES, max_size=6)


class Writer:
    """JSON text with chosen whitespace, recording member value spans and object braces."""

    def __init__(self, gaps: list[str], ensure_ascii: bool) -> None:
        self.gaps = itertools.cycle(gaps)
        self.ascii = ensure_ascii
        self.parts: list[str] = []
        self.pos = 0
        self.spans: dict[tuple, tuple[int, int]] = {}
        self.opens: dict[tuple, int] = {}
        self.closes: dict[tuple, int] = {}

    def put(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def gap(self) -> None:
        self.put(next(self.gaps))

    def scalar(self, v) -> None:
        self.put(json.dumps(v, ensure_ascii=self.ascii))

    def value(self, v, path: tuple | None) -> None:
        if isinstance(v, dict):
            self.obj(v, path)
        elif isinstance(v, list):
            self.put("[")
            for i, item in enumerate(v):
                self.put("," if i else "")
                self.gap()
                self.value(item, None)  # members inside arrays are not addressable by a path
                self.gap()
            self.put("]")
        else:
            self.scalar(v)

    def obj(self, d: dict, path: tuple | None) -> None:
        if path is not None:
            self.opens[path] = self.pos
        self.put("{")
        for i, (name, v) in enumerate(d.items()):
            self.put("," if i else "")
            self.gap()
            self.scalar(name)
            self.gap()
            self.put(":")
            self.gap()
            start = self.pos
            child = path + (name,) if path is not None else None
            self.value(v, child)
            if child is not None:
                self.spans[child] = (start, self.pos)
            self.gap()
        if not d:
            self.gap()
        if path is not None:
            self.closes[path] = self.pos
        self.put("}")

    def document(self, doc: dict) -> str:
        self.gap()
        self.obj(doc, ())
        self.gap()
        return "".join(self.parts)


def ordered(value):
    """Dicts as lists of pairs, so comparing also compares key order."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def parse_ordered(text: str):
    return json.loads(text, object_pairs_hook=lambda pairs: [(k, v) for k, v in pairs])


def stringify(value) -> str:
    """What JSON.stringify writes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def set_in(doc: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(doc)
    obj = out
    for name in path[:-1]:
        obj = obj.setdefault(name, {})
    obj[path[-1]] = value
    return out


@given(st.data(), DOCUMENTS, st.lists(GAPS, min_size=1, max_size=5), st.booleans(), VALUES)
def test_replacing_a_member_changes_only_its_value(data, doc, gaps, ensure_ascii, value):
    writer = Writer(gaps, ensure_ascii)
    text = writer.document(doc)
    if not writer.spans:
        return
    path = data.draw(st.sampled_from(sorted(writer.spans, key=repr)))
    start, end = writer.spans[path]
    result = set_path(text, path, value)
    assert result == text[:start] + stringify(value) + text[end:]
    assert parse_ordered(result) == ordered(set_in(doc, path, value))


@given(st.data(), DOCUMENTS, st.lists(GAPS, min_size=1, max_size=5), st.booleans(), VALUES)
def test_adding_a_member_appends_it_to_its_object(data, doc, gaps, ensure_ascii, value):
    writer = Writer(gaps, ensure_ascii)
    text = writer.document(doc)
    parent = data.draw(st.sampled_from(sorted(writer.closes, key=repr)))
    existing = blobpatch.get_path(doc, parent) if parent else doc
    name = data.draw(NAMES.filter(lambda n: n not in existing))
    deeper = tuple(data.draw(st.lists(NAMES, max_size=2)))
    path = parent + (name,) + deeper
    result = set_path(text, path, value)

    last = list(existing)[-1] if existing else None
    keep_until = writer.spans[parent + (last,)][1] if last is not None else writer.opens[parent] + 1
    close = writer.closes[parent]
    assert result.startswith(text[:keep_until])
    assert result.endswith(text[close:])
    inserted = result[keep_until : len(result) - (len(text) - close)].strip(" \t\r\n")
    assert inserted.startswith("," if existing else '"')
    nested = value
    for inner in reversed(deeper):
        nested = {inner: nested}
    assert json.loads("{" + inserted.lstrip(",") + "}") == {name: nested}
    assert parse_ordered(result) == ordered(set_in(doc, path, value))


def test_set_on_the_real_blob_shape():
    text = '{"cursorCreds":{"a":1},"useOpenAIKey":false,"big":1.5e300,"u":"\\u00e9","azureState":{"useAzure":false}}'
    out = set_path(text, ("azureState", "apiKey"), "0123abcd")
    assert out == text[:-2] + ',"apiKey":"0123abcd"}}'
    out = set_path(out, ("useOpenAIKey",), True)
    assert out.startswith('{"cursorCreds":{"a":1},"useOpenAIKey":true,"big":1.5e300,"u":"\\u00e9"')


def test_duplicate_names_patch_the_last_one_like_json_parse():
    text = '{"a":1,"a":2}'
    assert set_path(text, ("a",), 3) == '{"a":1,"a":3}'


@pytest.mark.parametrize(
    "text,path",
    [
        ('{"a":"text"}', ("a", "b")),
        ('{"a":[1,2]}', ("a", "b")),
        ("[1, 2]", ("a",)),
        ('{"a":1', ("b",)),
        ('{"a" 1}', ("a",)),
        ('{"a":}', ("a",)),
        ("", ("a",)),
        ('{"a":1}', ()),
    ],
)
def test_bad_shapes_raise_patch_error(text, path):
    with pytest.raises(PatchError):
        set_path(text, path, True)


def test_get_path():
    doc = {"a": {"b": {"c": 1}}, "l": [1]}
    assert blobpatch.get_path(doc, ("a", "b", "c")) == 1
    assert blobpatch.get_path(doc, ("a", "x"), "d") == "d"
    assert blobpatch.get_path(doc, ("l", "0")) is None
