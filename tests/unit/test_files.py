"""Atomic writes of one local file (stack file, HTML reports, ONNX exports)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipyard.stores.files import write_atomic


def test_writes_the_file_with_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.html"
    write_atomic(path, b"<p>one</p>")
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    assert path.read_bytes() == b"<p>one</p>"
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    write_atomic(path, b"<p>two</p>")
    assert path.read_bytes() == b"<p>two</p>"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_content_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stacks.yaml"
    write_atomic(path, b"old")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["stacks.yaml"]
