"""load_catalog: layers, overrides, broken user files, caching, the Catalog container."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import roofline.catalog.loader as loader
from roofline.catalog import Catalog, CatalogFileError, CatalogWarning, clear_cache, load_catalog
from roofline.errors import CatalogError

CASES = Path(__file__).parent / "catalog_cases"
VALID = CASES / "valid"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    clear_cache()


@pytest.fixture
def builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in built-in catalog made of the valid fixtures (independent of devices/)."""
    root = tmp_path / "builtin"
    for path in VALID.glob("*.yaml"):
        group = root / ("cpu" if "ryzen" in path.name else "gpu" if "nvidia" in path.name else "edge")
        group.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, group / path.name)
    monkeypatch.setattr(loader, "_builtin_root", lambda: root)
    return root


def _user_copy(src: Path, dest_dir: Path, replace: tuple[str, str] | None = None) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    text = src.read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1])
    dest = dest_dir / src.name
    dest.write_text(text, encoding="utf-8")
    return dest


def test_builtin_layer(builtin: Path) -> None:
    catalog = load_catalog()
    assert isinstance(catalog, Catalog)
    assert catalog.ids() == ["amd-ryzen-9-7950x", "nvidia-h100-sxm", "raspberry-pi-5-8gb"]
    assert len(catalog) == 3
    assert "nvidia-h100-sxm" in catalog
    assert [s.id for s in catalog] == catalog.ids()
    assert catalog.path("nvidia-h100-sxm") == "devices/gpu/nvidia-h100-sxm.yaml"
    assert catalog.file_path("nvidia-h100-sxm") == builtin / "gpu" / "nvidia-h100-sxm.yaml"
    assert [s.id for s in catalog.by_kind("gpu")] == ["nvidia-h100-sxm"]
    assert catalog.by_kind("accelerator") == []
    assert catalog["amd-ryzen-9-7950x"].kind == "cpu"


def test_unknown_id_suggests(builtin: Path) -> None:
    catalog = load_catalog()
    with pytest.raises(CatalogError, match=r"unknown device 'h100' \(did you mean 'nvidia-h100-sxm'\?\)"):
        catalog.get("h100")
    with pytest.raises(CatalogError, match="did you mean 'nvidia-h100-sxm'"):
        catalog.get("nvidia-h100-smx")
    with pytest.raises(CatalogError, match="did you mean 'gpu'"):
        catalog.by_kind("gpus")


def test_user_device_overrides_builtin_fixture(builtin: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    _user_copy(VALID / "nvidia-h100-sxm.yaml", user, ("tdp: 700 W", "tdp: 650 W"))
    catalog = load_catalog([user])
    assert catalog.get("nvidia-h100-sxm").power.tdp_w == 650.0
    assert catalog.path("nvidia-h100-sxm") == str(user / "nvidia-h100-sxm.yaml")
    assert catalog.overridden["nvidia-h100-sxm"] == ["devices/gpu/nvidia-h100-sxm.yaml"]
    assert len(catalog) == 3


def test_user_device_overrides_real_builtin(tmp_path: Path) -> None:
    """With whatever the shipped catalog holds; falls back to a fixture when it is empty."""
    catalog = load_catalog()
    if len(catalog):
        first = next(iter(catalog))
        src = catalog.file_path(first.id)
        assert src is not None
        text = src.read_text(encoding="utf-8")
        old = f"name: {first.name}" if f"name: {first.name}" in text else None
        user = tmp_path / "user"
        user.mkdir()
        new_text = text.replace(old, "name: Overridden") if old else text
        (user / src.name).write_text(new_text, encoding="utf-8")
        overridden = load_catalog([user])
        assert overridden.path(first.id) == str(user / src.name)
        if old:
            assert overridden.get(first.id).name == "Overridden"
        assert overridden.ids() == catalog.ids()
    else:
        overridden = load_catalog([VALID])
        assert "nvidia-h100-sxm" in overridden


def test_env_var_layer_and_order(builtin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_a, env_b, cli = tmp_path / "a", tmp_path / "b", tmp_path / "cli"
    _user_copy(VALID / "nvidia-h100-sxm.yaml", env_a, ("tdp: 700 W", "tdp: 600 W"))
    extra = _user_copy(VALID / "raspberry-pi-5-8gb.yaml", env_b, ("id: raspberry-pi-5-8gb", "id: my-board"))
    extra.rename(env_b / "my-board.yaml")
    monkeypatch.setenv(loader.ENV_VAR, os.pathsep.join([str(env_a), "", str(env_b / "my-board.yaml")]))
    catalog = load_catalog()
    assert catalog.get("nvidia-h100-sxm").power.tdp_w == 600.0
    assert "my-board" in catalog
    _user_copy(VALID / "nvidia-h100-sxm.yaml", cli, ("tdp: 700 W", "tdp: 500 W"))
    catalog = load_catalog([cli])  # --catalog comes after ROOFLINE_CATALOG
    assert catalog.get("nvidia-h100-sxm").power.tdp_w == 500.0
    assert catalog.overridden["nvidia-h100-sxm"] == ["devices/gpu/nvidia-h100-sxm.yaml", str(env_a / "nvidia-h100-sxm.yaml")]


def test_broken_user_file_skipped_with_warning(builtin: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    shutil.copy(CASES / "wrong-unit.yaml", user)
    _user_copy(VALID / "raspberry-pi-5-8gb.yaml", user / "boards", ("id: raspberry-pi-5-8gb", "id: good-board")).rename(
        user / "boards" / "good-board.yaml"
    )
    with pytest.warns(CatalogWarning) as record:
        catalog = load_catalog([user])
    assert "good-board" in catalog
    assert "wrong-unit" not in catalog
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert messages[0].startswith(f"{user / 'wrong-unit.yaml'}:7: device 'wrong-unit': compute.bf16.matrix: expected a FLOP rate")
    assert messages[0].endswith("; file skipped")
    assert "\n" not in messages[0]


def test_broken_user_file_strict_raises(builtin: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    shutil.copy(CASES / "negative-value.yaml", user)
    shutil.copy(CASES / "bare-number.yaml", user)
    with pytest.raises(CatalogFileError) as info:
        load_catalog([user], strict=True)
    assert len(info.value.problems) == 2
    assert str(info.value).startswith(f"{user / 'bare-number.yaml'}:6: device 'bare-number': memory.capacity: bare number 80")
    assert "and 1 more problem" in str(info.value)


def test_missing_user_path_warns(builtin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loader.ENV_VAR, str(tmp_path / "missing"))
    with pytest.warns(CatalogWarning, match=r"no such file or directory \(from ROOFLINE_CATALOG\)"):
        catalog = load_catalog()
    assert len(catalog) == 3
    with pytest.raises(CatalogFileError, match="no such file or directory"):
        load_catalog(strict=True)


def test_duplicate_id_within_user_layer(builtin: Path, tmp_path: Path) -> None:
    with pytest.warns(CatalogWarning, match="duplicate id"):
        catalog = load_catalog([CASES / "duplicate-id"])
    assert catalog.path("dup-device").endswith(os.path.join("one", "dup-device.yaml"))
    with pytest.raises(CatalogFileError, match="duplicate id"):
        load_catalog([CASES / "duplicate-id"], strict=True)
    # the same directory given twice is read once, not reported as a duplicate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_catalog([VALID, VALID, VALID / "nvidia-h100-sxm.yaml"])


def test_broken_builtin_is_a_hard_error(builtin: Path) -> None:
    shutil.copy(CASES / "zero-value.yaml", builtin / "gpu" / "zero-value.yaml")
    with pytest.raises(CatalogFileError, match=r"devices/gpu/zero-value\.yaml:7: device 'zero-value': memory\.bandwidth: must be positive"):
        load_catalog()


def test_duplicate_builtin_is_a_hard_error(builtin: Path) -> None:
    (builtin / "accelerator").mkdir()
    shutil.copy(VALID / "nvidia-h100-sxm.yaml", builtin / "accelerator" / "nvidia-h100-sxm.yaml")
    with pytest.raises(CatalogFileError, match="duplicate id"):
        load_catalog()


def test_parsed_files_are_cached_and_refreshed(builtin: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    path = _user_copy(VALID / "nvidia-h100-sxm.yaml", user)
    first = load_catalog([user]).get("nvidia-h100-sxm")
    assert load_catalog([user]).get("nvidia-h100-sxm") is first  # same parsed object
    path.write_text(path.read_text().replace("tdp: 700 W", "tdp: 640 W"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert load_catalog([user]).get("nvidia-h100-sxm").power.tdp_w == 640.0


def test_hidden_files_are_ignored(builtin: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    shutil.copy(CASES / "bare-number.yaml", user / ".bare-number.yaml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_catalog([user])
    # the broken hidden file is never read: the folder counts as empty, and says so
    assert [str(w.message) for w in caught] == [
        f"{user}: no device files (*.yaml, *.yml) in this directory (from --catalog); nothing added"]


def test_real_builtin_catalog_loads() -> None:
    catalog = load_catalog(strict=True)
    assert len(catalog) == len(catalog.ids())
    for spec in catalog:
        assert catalog.path(spec.id).startswith("devices/")
        assert catalog.path(spec.id).endswith(f"/{spec.id}.yaml")


def test_load_is_fast_when_cached() -> None:
    load_catalog()
    start = time.perf_counter()
    load_catalog()
    assert time.perf_counter() - start < 0.1


def test_no_torch_import() -> None:
    code = (
        "import sys, roofline.catalog, roofline.cli.devices; "
        "from roofline.cli import main; main(['devices', 'list', '--json']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
