"""The files around the database, read for keys in windows of fixed size: a key across a window's edge is
found, one buffer serves the whole file, big files report their progress. (The scan through `audit`, with
its crafted cases: test_audit.)"""

from __future__ import annotations

import random

from cursor_byok.checks import surroundings as scan
from cursor_byok.samples.installs import make_key


def test_key_across_a_chunk_boundary_is_found(tmp_path, monkeypatch):
    key = make_key("anthropic", random.Random(5))
    monkeypatch.setattr(scan, "CHUNK", 64)
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 40 + b" " + key.encode() + b" " + b"y" * 100)
    found = scan.scan_raw(path)
    assert [(k.vendor, k.secret.reveal()) for k in found] == [("anthropic", key)]


def test_windows_reuse_one_buffer_and_cover_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK", 100)
    monkeypatch.setattr(scan, "SCAN_OVERLAP", 30)
    path = tmp_path / "f"
    data = bytes(range(256)) * 3
    path.write_bytes(data)
    buffers, seen = set(), []
    for buf, size, first, last in scan.read_windows(path):
        buffers.add(id(buf))
        seen.append((bytes(buf[:size]), first, last))
    assert len(buffers) == 1 and len(seen) > 3
    assert [s[1] for s in seen] == [True] + [False] * (len(seen) - 1)
    assert [s[2] for s in seen] == [False] * (len(seen) - 1) + [True]
    rebuilt = seen[0][0]
    for chunk, _, _ in seen[1:]:
        assert chunk[:30] == rebuilt[-30:]  # each window starts with the tail of the one before
        rebuilt += chunk[30:]
    assert rebuilt == data


def test_big_files_report_scan_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK", 1000)
    monkeypatch.setattr(scan, "PROGRESS_MIN_BYTES", 4000)
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"a" * 3000)
    big.write_bytes(b"a" * 5000)
    calls = []
    scan.scan_raw(small, progress=lambda *a: calls.append(a))
    assert calls == []
    scan.scan_raw(big, progress=lambda *a: calls.append(a))
    assert calls[-1] == (str(big), 5000, 5000) and len(calls) >= 5
