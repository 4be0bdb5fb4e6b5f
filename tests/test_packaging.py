"""The built-in catalog, presets and calibration suite ship inside the installed package."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_catalog_and_loads_outside_the_repository(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("roofline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n for n in names if n.startswith("roofline/devices/") and n.endswith(".yaml")}
    in_repo = {f"roofline/devices/{p.relative_to(ROOT / 'devices').as_posix()}" for p in (ROOT / "devices").rglob("*.yaml")}
    assert shipped == in_repo and len(shipped) >= 30
    assert any(n.startswith("roofline/calibration/") for n in names)
    assert any(n.startswith("roofline/sources/presets/") for n in names)

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import roofline, roofline.catalog as c; cat = c.load_catalog(); "
            "print(len(cat) + len(cat.systems()), roofline.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": ""},
                         capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert int(out[0]) == len(in_repo)
    assert out[1].startswith(str(target))
