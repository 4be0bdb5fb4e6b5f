"""roofline._atomic: replace files without ever exposing a partial write."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from roofline._atomic import atomic_open, atomic_write_bytes, atomic_write_text


def test_write_new_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "device.yaml"
    atomic_write_text(target, "id: a\n")
    assert target.read_text() == "id: a\n"
    atomic_write_text(target, "id: b\n")
    assert target.read_text() == "id: b\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["device.yaml"]


def test_failure_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "device.yaml"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["device.yaml"]


def test_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "device.yaml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    atomic_write_text(target, "new\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_newlines_written_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    atomic_write_text(target, "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"


def test_bad_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "a"):
            pass
