"""The validated built-in catalog kept on disk: read back when nothing changed, parsed again when anything did."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import roofline
from roofline.catalog import loader


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    """A copy of the built-in catalog as the built-in root, the cache on in a temporary folder."""
    root = tmp_path / "devices"
    shutil.copytree(Path(str(loader._builtin_root())), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setattr(loader, "_builtin_root", lambda: root)
    monkeypatch.setenv("ROOFLINE_CACHE", "1")
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    loader.clear_cache()
    yield root
    loader.clear_cache()


@pytest.fixture
def parsed(monkeypatch):
    """The display names of the device files parsed from YAML (not read back from the cache)."""
    names: list[str] = []
    real = loader._read_text

    def counting(text, display, stem):
        names.append(display)
        return real(text, display, stem)

    monkeypatch.setattr(loader, "_read_text", counting)
    return names


def _entries(tmp_path):
    return sorted((tmp_path / "cache" / "catalog").glob("*.pkl"))


def _same(a, b):
    assert a.ids() == b.ids()
    assert [s.id for s in a.systems()] == [s.id for s in b.systems()]
    for device_id in a.ids() + [s.id for s in a.systems()]:
        assert a.get(device_id) == b.get(device_id)
        assert a.path(device_id) == b.path(device_id)
        assert a.file_path(device_id) == b.file_path(device_id)


def test_second_load_reads_the_cache_and_equals_a_fresh_parse(builtin, parsed, tmp_path, monkeypatch):
    first = loader.load_catalog()
    files = len(list(builtin.rglob("*.yaml")))
    assert len(parsed) == files and len(_entries(tmp_path)) == 1
    loader.clear_cache()  # a new process: nothing parsed in memory
    parsed.clear()
    second = loader.load_catalog()
    assert parsed == []  # nothing parsed: read back
    _same(first, second)
    monkeypatch.setenv("ROOFLINE_CACHE", "0")
    loader.clear_cache()
    _same(loader.load_catalog(), second)
    assert len(parsed) == files


def test_an_edited_device_file_is_parsed_again(builtin, parsed, tmp_path):
    before = loader.load_catalog()
    device = next(iter(before))
    path = before.file_path(device.id)
    text = path.read_text(encoding="utf-8")
    assert "\nname:" in text
    path.write_text(text.replace("\nname:", "\nname: Edited", 1),
                    encoding="utf-8")
    loader.clear_cache()
    parsed.clear()
    after = loader.load_catalog()
    assert parsed  # the key changed: parsed again
    assert after.get(device.id).name.startswith("Edited")
    assert len(_entries(tmp_path)) == 2


def test_a_touched_or_added_file_misses(builtin, parsed, tmp_path):
    catalog = loader.load_catalog()
    path = catalog.file_path(next(iter(catalog)).id)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    loader.clear_cache()
    parsed.clear()
    loader.load_catalog()
    assert parsed
    copy = path.with_name("zz-copy.yaml")  # a new file (a broken one: its id is not its name)
    shutil.copy(path, copy)
    loader.clear_cache()
    with pytest.raises(loader.CatalogFileError):
        loader.load_catalog()


def test_another_roofline_version_misses(builtin, parsed, monkeypatch):
    loader.load_catalog()
    monkeypatch.setattr(roofline, "__version__", roofline.__version__ + ".post1")
    loader.clear_cache()
    parsed.clear()
    loader.load_catalog()
    assert parsed


def test_a_corrupt_entry_is_parsed_again_and_rewritten(builtin, parsed, tmp_path):
    loader.load_catalog()
    (entry,) = _entries(tmp_path)
    entry.write_bytes(b"not a pickle")
    loader.clear_cache()
    parsed.clear()
    catalog = loader.load_catalog()
    assert parsed and len(catalog) > 10
    assert entry.read_bytes() != b"not a pickle"


def test_cache_off_writes_nothing(builtin, parsed, tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE", "0")
    loader.load_catalog()
    assert not (tmp_path / "cache").exists()


def test_the_entry_sits_beside_the_workloads(builtin, tmp_path):
    loader.load_catalog()
    assert len(_entries(tmp_path)) == 1 and not list((tmp_path / "cache").glob("*.pkl"))


def test_user_layers_are_read_as_before(builtin, tmp_path):
    """ROOFLINE_CATALOG and --catalog files are not in the cache: an edit shows at once."""
    base = loader.load_catalog()
    device = next(iter(base))
    user = tmp_path / "user"
    user.mkdir()
    text = base.file_path(device.id).read_text(encoding="utf-8").replace("\nname:", "\nname: Mine", 1)
    (user / f"{device.id}.yaml").write_text(text, encoding="utf-8")
    loader.clear_cache()
    assert loader.load_catalog([user]).get(device.id).name.startswith("Mine")
