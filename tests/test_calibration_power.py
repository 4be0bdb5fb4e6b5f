"""Power readers: RAPL parsing with wraparound on a fake sysfs tree, INA3221, and clean 'unavailable'."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from roofline.calibration.power import (
    Ina3221Reader,
    PowerProbe,
    calibration_power,
    power_probes,
    PowerUnavailable,
    RaplReader,
    detect_power,
    measure_power,
    power_method,
    rapl_delta_uj,
    rapl_zones,
)


def _write(path: Path, value: int) -> None:
    """Replace the file in one step, as sysfs does: a reader never sees it half written."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)


def _zone(root: Path, name: str, label: str, energy: int, max_range: int = 1000) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(label + "\n")
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    return z


def test_rapl_delta_handles_wraparound():
    assert rapl_delta_uj(100, 250, 1000) == 150
    assert rapl_delta_uj(900, 50, 1000) == 150  # 900 -> 1000 -> 0 -> 50


def test_rapl_reader_on_fake_tree_with_wraparound(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 900)
    _zone(tmp_path, "intel-rapl:0:0", "core", 10)  # inside the package: not added again
    dram = _zone(tmp_path, "intel-rapl:0:1", "dram", 100, max_range=10_000)
    _zone(tmp_path, "intel-rapl:1", "psys", 5)  # platform zone: ignored when packages exist
    zones = rapl_zones(tmp_path)
    assert sorted(z.name for z in zones) == ["dram", "package-0"]
    r = RaplReader(tmp_path)
    assert r.read() == 0.0
    (pkg / "energy_uj").write_text("50\n")  # wrapped: +150 uJ
    (dram / "energy_uj").write_text("300\n")  # +200 uJ
    assert r.read() == pytest.approx(350e-6)
    (pkg / "energy_uj").write_text("950\n")  # +900 uJ, no wrap
    assert r.read() == pytest.approx(1250e-6)
    assert "package-0" in r.description


def test_rapl_unreadable_counter_says_why(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    (pkg / "energy_uj").unlink()
    with pytest.raises(PowerUnavailable, match="cannot read"):
        RaplReader(tmp_path)
    if os.geteuid() != 0:  # root reads mode-000 files anyway
        (pkg / "energy_uj").write_text("1\n")
        (pkg / "energy_uj").chmod(0)
        with pytest.raises(PowerUnavailable, match="not readable"):
            RaplReader(tmp_path)


def test_measure_power_with_rapl_on_fake_tree(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 0, max_range=10**12)
    state = {"uj": 0}

    def work():  # the "CPU" burns 1 J per call
        state["uj"] += 1_000_000
        _write(pkg / "energy_uj", state["uj"])

    m = measure_power(work, seconds=0.2, reader=RaplReader(tmp_path), interval_s=0.02)
    assert m.available and m.method == "rapl"
    assert m.energy_j == pytest.approx(state["uj"] * 1e-6, rel=0.01)
    assert m.average_w == pytest.approx(m.energy_j / m.seconds)
    assert m.calls > 0 and m.samples >= 3


def test_ina3221_reader_prefers_the_input_rail(tmp_path):
    dev = tmp_path / "hwmon3"
    dev.mkdir()
    (dev / "name").write_text("ina3221\n")
    for i, (label, mv, ma) in enumerate([("VDD_IN", 5000, 2000), ("VDD_CPU_GPU_CV", 5000, 800), ("VDD_SOC", 5000, 400)],
                                        start=1):
        (dev / f"in{i}_label").write_text(label + "\n")
        (dev / f"in{i}_input").write_text(f"{mv}\n")
        (dev / f"curr{i}_input").write_text(f"{ma}\n")
    r = Ina3221Reader(tmp_path)
    assert r.read() == pytest.approx(10.0)  # 5 V x 2 A on VDD_IN only
    m = measure_power(None, seconds=0.1, reader=r, interval_s=0.02)
    assert m.available and m.average_w == pytest.approx(10.0)
    det = detect_power("cpu", rapl_root=tmp_path / "none", hwmon_root=tmp_path)
    assert det.method == "ina3221" and "rapl" in det.tried


def test_nothing_readable_is_reported_as_unavailable(tmp_path):
    det = detect_power("cpu", rapl_root=tmp_path / "no-powercap", hwmon_root=tmp_path / "no-hwmon")
    assert det.method is None and not det.available
    assert "rapl" in det.reason and "ina3221" in det.reason
    m = measure_power(lambda: None, seconds=0.05, rapl_root=tmp_path / "x", hwmon_root=tmp_path / "y")
    assert not m.available and m.average_w is None and m.energy_j is None
    assert m.reason.startswith("unavailable:")
    assert str(m).startswith("unavailable:")


def test_this_host_answers_cleanly():
    method, why = power_method("cpu")
    assert why  # either the counter's description or the reason there is none
    m = measure_power(lambda: None, seconds=0.1)
    if method is None:
        assert not m.available and m.average_w is None and m.reason.startswith("unavailable:")
    else:
        assert m.reason and (m.average_w is None or m.average_w >= 0)


def test_gpu_without_nvml_is_unavailable_not_guessed(tmp_path):
    det = detect_power("cuda:0", hwmon_root=tmp_path / "none")
    if det.method is None:
        assert "nvml" in det.tried and det.reader is None


class _FakeSensor:
    """An instantaneous power sensor whose reading the fake probes set."""

    method, kind, description = "fake", "power", "fake sensor"

    def __init__(self, watts: float) -> None:
        self.watts = watts

    def read(self) -> float:
        return self.watts


def test_calibration_records_idle_compute_and_memory_power():
    sensor = _FakeSensor(20.0)

    def burn(watts):
        def run():
            sensor.watts = watts
            time.sleep(0.002)
        return run

    probes = (PowerProbe("gemm", "fake GEMM", burn(120.0)), PowerProbe("triad", "fake triad", burn(60.0)), None)
    block = calibration_power(seconds=0.3, reader=sensor, probes=probes)
    assert block["method"] == "fake" and block["counter"] == "fake sensor"
    assert block["idle_w"] == pytest.approx(20.0)
    # the first sample of each loaded window is read before the probe's first call
    assert block["compute_w"] == pytest.approx(120.0, rel=0.15)
    assert block["memory_w"] == pytest.approx(60.0, rel=0.15)
    assert block["load_w"] == max(block["compute_w"], block["memory_w"])
    assert block["compute_probe"] == "fake GEMM" and block["window_s"] == 0.3


def test_calibration_power_without_counter_says_why_and_gives_no_figure(tmp_path):
    block = calibration_power(seconds=0.05, rapl_root=tmp_path / "x", hwmon_root=tmp_path / "y")
    assert block["method"] == "unavailable" and "rapl" in block["reason"]
    assert not any(k.endswith("_w") for k in block)


def test_calibration_power_with_a_counter_that_stops_answering():
    class Dying(_FakeSensor):
        calls = 0

        def read(self):
            self.calls += 1
            if self.calls > 3:
                raise OSError("device went away")
            return 5.0

    probe = PowerProbe("x", "x", lambda: time.sleep(0.001))
    block = calibration_power(seconds=0.1, reader=Dying(5.0), probes=(probe, probe, None))
    assert block == {"method": "unavailable", "reason": "fake: read failed: device went away"}


def test_power_probes_run_on_this_cpu():
    compute, memory, sync = power_probes("cpu")
    compute.run()
    memory.run()
    assert sync is None and "GEMM" in compute.description and "triad" in memory.description
