"""Every device shipped in devices/ validates and survives load -> dump -> load unchanged."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from roofline.catalog import DeviceSpec, load_device_file, validate_paths
from roofline.cli import main

ROOT = Path(str(resources.files("roofline.devices")))
FILES = sorted(p for p in ROOT.rglob("*.yaml") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_round_trip(path: Path) -> None:
    spec = load_device_file(path)
    assert DeviceSpec.from_yaml_dict(spec.to_yaml_dict()) == spec
    assert DeviceSpec.from_yaml_dict(yaml.safe_load(spec.to_yaml())) == spec


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_group_matches_kind(path: Path) -> None:
    spec = load_device_file(path)
    group = path.relative_to(ROOT).parts[0]
    allowed = {"cpu": {"cpu"}, "gpu": {"gpu"}, "edge": {"sbc", "accelerator", "gpu", "cpu"}, "accelerator": {"accelerator"}}
    assert spec.kind in allowed.get(group, {spec.kind}), f"{path}: kind {spec.kind} in group {group}/"


def test_builtin_catalog_validates(capsys: pytest.CaptureFixture[str]) -> None:
    files, problems = validate_paths([ROOT])
    assert [str(p) for p in problems] == []
    assert len(files) == len(FILES)
    if FILES:
        assert main(["devices", "validate", str(ROOT)]) == 0
        assert f"{len(FILES)} file" in capsys.readouterr().out
