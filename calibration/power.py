"""Power counters: NVML (NVIDIA GPUs), Linux RAPL powercap (Intel/AMD CPUs), Jetson INA3221 (sysfs hwmon).

Readers come in two kinds:

- energy counters (NVML total energy, RAPL ``energy_uj``): cumulative joules; a window's energy is
  the sum of deltas between samples, each delta corrected for counter wraparound;
- power sensors (NVML power usage, INA3221 voltage x current): instantaneous watts, integrated
  over the window with the trapezoid rule.

Nothing is ever estimated from TDP here: when no counter is readable the result says
``unavailable: <reason>`` and carries no figure.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

RAPL_ROOT = "/sys/class/powercap"
HWMON_ROOT = "/sys/class/hwmon"


class PowerReader(Protocol):
    method: str  # "nvml-energy", "nvml-power", "rapl", "ina3221"
    kind: str  # "energy" (cumulative joules) or "power" (instantaneous watts)
    description: str

    def read(self) -> float:
        """Joules (cumulative, wraparound already handled) for "energy" readers, watts for "power"."""
        ...


class PowerUnavailable(Exception):
    """A reader cannot be used on this host; the message says why."""


# ---------------------------------------------------------------- RAPL

@dataclass
class RaplZone:
    path: Path
    name: str
    max_range_uj: int


def rapl_delta_uj(prev: int, cur: int, max_range_uj: int) -> int:
    """Energy between two readings of one RAPL counter, which wraps to 0 after ``max_energy_range_uj``."""
    if cur >= prev:
        return cur - prev
    return cur + (max_range_uj - prev)


def rapl_zones(root: str | os.PathLike[str] = RAPL_ROOT) -> list[RaplZone]:
    """The zones whose sum is the CPU energy: every ``package-*`` zone plus its ``dram`` subzone.

    ``core``/``uncore`` subzones are inside their package and are not added again. ``psys``
    (whole platform) is used alone when no package zone exists.
    """
    base = Path(root)
    if not base.is_dir():
        raise PowerUnavailable(f"{base} does not exist (no powercap/RAPL driver)")
    packages, drams, psys = [], [], []
    for zone in sorted(base.glob("intel-rapl:*")):
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            continue
        top = zone.name.count(":") == 1
        if top and name.startswith("package"):
            packages.append((zone, name))
        elif top and name == "psys":
            psys.append((zone, name))
        elif not top and name == "dram":
            drams.append((zone, name))
    chosen = packages + drams if packages else psys
    if not chosen:
        raise PowerUnavailable(f"no package/psys RAPL zone under {base}")
    zones = []
    for zone, name in chosen:
        try:
            max_range = int((zone / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            max_range = 2**32 - 1  # the counter's register width when the driver does not say
        zones.append(RaplZone(zone, name, max_range))
    return zones


class RaplReader:
    method = "rapl"
    kind = "energy"

    def __init__(self, root: str | os.PathLike[str] = RAPL_ROOT) -> None:
        self.zones = rapl_zones(root)
        self.description = "RAPL " + " + ".join(z.name for z in self.zones)
        self._last: list[int] = []
        self._total_uj = 0
        for z in self.zones:
            try:
                self._last.append(self._raw(z))
            except PermissionError as exc:
                raise PowerUnavailable(f"{z.path / 'energy_uj'} is not readable by this user "
                                       "(root only since Linux 5.10; run as root or relax its mode)") from exc
            except (OSError, ValueError) as exc:
                raise PowerUnavailable(f"cannot read {z.path / 'energy_uj'}: {exc}") from exc

    @staticmethod
    def _raw(z: RaplZone) -> int:
        return int((z.path / "energy_uj").read_text().strip())

    def read(self) -> float:
        """Cumulative joules since the reader was made. Call it more often than the counter wraps
        (``max_energy_range_uj`` / power: minutes for a package at 100 W); :func:`measure_power`
        samples every 50 ms."""
        for i, z in enumerate(self.zones):
            cur = self._raw(z)
            self._total_uj += rapl_delta_uj(self._last[i], cur, z.max_range_uj)
            self._last[i] = cur
        return self._total_uj * 1e-6


# ---------------------------------------------------------------- Jetson INA3221

@dataclass
class Ina3221Channel:
    label: str
    voltage_path: Path  # millivolts (hwmon in*_input) ...
    current_path: Path | None  # ... times milliamps (curr*_input); None when power_path is used
    power_path: Path | None = None  # milliwatts (older iio driver: in_power*_input)

    def watts(self) -> float:
        if self.power_path is not None:
            return float(self.power_path.read_text().strip()) * 1e-3
        mv = float(self.voltage_path.read_text().strip())
        ma = float(self.current_path.read_text().strip())  # type: ignore[union-attr]
        return mv * ma * 1e-6


def ina3221_channels(root: str | os.PathLike[str] = HWMON_ROOT) -> list[Ina3221Channel]:
    """Rails of every INA3221 hwmon device: ``in{i}_input`` (mV) with ``curr{i}_input`` (mA)."""
    base = Path(root)
    if not base.is_dir():
        raise PowerUnavailable(f"{base} does not exist (no hwmon)")
    chans = []
    for dev in sorted(base.iterdir()):
        try:
            name = (dev / "name").read_text().strip()
        except OSError:
            continue
        if "ina3221" not in name.lower():
            continue
        for vin in sorted(dev.glob("in*_input")):
            idx = vin.name[2:-len("_input")]
            cur = dev / f"curr{idx}_input"
            if not idx.isdigit() or not cur.exists():
                continue
            try:
                label = (dev / f"in{idx}_label").read_text().strip()
            except OSError:
                label = f"{dev.name}/in{idx}"
            chans.append(Ina3221Channel(label, vin, cur))
    if not chans:
        raise PowerUnavailable(f"no INA3221 rail (in*_input with curr*_input) under {base}")
    return chans


class Ina3221Reader:
    method = "ina3221"
    kind = "power"

    def __init__(self, root: str | os.PathLike[str] = HWMON_ROOT) -> None:
        chans = ina3221_channels(root)
        total = [c for c in chans if "VDD_IN" in c.label.upper()]  # the module's input rail: everything
        self.channels = total[:1] if total else chans
        self.description = "INA3221 " + (self.channels[0].label if total else " + ".join(c.label for c in chans))
        try:
            self.read()
        except PermissionError as exc:
            raise PowerUnavailable(f"INA3221 rails are not readable by this user: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise PowerUnavailable(f"cannot read INA3221 rails: {exc}") from exc

    def read(self) -> float:
        return sum(c.watts() for c in self.channels)


# ---------------------------------------------------------------- NVML

class NvmlReader:
    """NVIDIA GPU through pynvml: the total-energy counter (Volta and newer), else instantaneous power."""

    def __init__(self, index: int = 0) -> None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError as exc:
            raise PowerUnavailable("pynvml is not installed (pip install nvidia-ml-py)") from exc
        try:
            pynvml.nvmlInit()
            self._h = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(self._h)
        except Exception as exc:  # NVMLError_* (no driver, no device...)
            raise PowerUnavailable(f"NVML: {exc}") from exc
        self._nvml = pynvml
        name = name.decode() if isinstance(name, bytes) else str(name)
        try:
            self._e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._h)  # mJ
            self.method, self.kind = "nvml-energy", "energy"
            self.description = f"NVML total energy, GPU {index} ({name})"
        except Exception:
            try:
                pynvml.nvmlDeviceGetPowerUsage(self._h)  # mW
            except Exception as exc:
                raise PowerUnavailable(f"NVML has neither energy nor power for GPU {index}: {exc}") from exc
            self.method, self.kind = "nvml-power", "power"
            self.description = f"NVML power usage, GPU {index} ({name})"

    def read(self) -> float:
        if self.kind == "energy":
            return (self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._h) - self._e0) * 1e-3
        return self._nvml.nvmlDeviceGetPowerUsage(self._h) * 1e-3


# ---------------------------------------------------------------- detection

@dataclass
class PowerDetection:
    """Which counter this host offers for ``device``; ``method`` None means none, and ``reason`` says why."""

    method: str | None
    reason: str
    reader: PowerReader | None = field(default=None, repr=False)
    tried: dict[str, str] = field(default_factory=dict)  # method -> why it was not usable

    @property
    def available(self) -> bool:
        return self.reader is not None


def detect_power(device: str = "cpu", *, rapl_root: str | os.PathLike[str] = RAPL_ROOT,
                 hwmon_root: str | os.PathLike[str] = HWMON_ROOT, gpu_index: int | None = None) -> PowerDetection:
    """First usable counter for ``device``: NVML then INA3221 for a GPU, RAPL then INA3221 for a CPU
    (on a Jetson the INA3221 input rail covers CPU and GPU together)."""
    is_gpu = str(device).startswith("cuda")
    if is_gpu and gpu_index is None:
        gpu_index = int(str(device).split(":")[1]) if ":" in str(device) else 0
    makers: list[tuple[str, Callable[[], Any]]]
    if is_gpu:
        makers = [("nvml", lambda: NvmlReader(gpu_index or 0)), ("ina3221", lambda: Ina3221Reader(hwmon_root))]
    else:
        makers = [("rapl", lambda: RaplReader(rapl_root)), ("ina3221", lambda: Ina3221Reader(hwmon_root))]
    tried: dict[str, str] = {}
    for name, make in makers:
        try:
            reader = make()
        except PowerUnavailable as exc:
            tried[name] = str(exc)
            continue
        return PowerDetection(reader.method, reader.description, reader, tried)
    reason = "; ".join(f"{k}: {v}" for k, v in tried.items())
    return PowerDetection(None, f"no readable power counter ({reason})", None, tried)


def power_method(device: str = "cpu", **kw: Any) -> tuple[str | None, str]:
    """(method, description) or (None, reason)."""
    d = detect_power(device, **kw)
    return d.method, d.reason


# ---------------------------------------------------------------- measurement

@dataclass
class PowerMeasurement:
    available: bool
    method: str | None
    average_w: float | None  # None when unavailable: never a guess
    energy_j: float | None
    seconds: float
    calls: int
    samples: int
    reason: str  # "unavailable: ..." when not available, else the counter's description

    def __str__(self) -> str:
        if not self.available:
            return self.reason
        return f"{self.average_w:.2f} W over {self.seconds:.2f} s ({self.method}, {self.samples} samples)"


def _unavailable(reason: str, seconds: float = 0.0, calls: int = 0) -> PowerMeasurement:
    reason = reason if reason.startswith("unavailable") else f"unavailable: {reason}"
    return PowerMeasurement(False, None, None, None, seconds, calls, 0, reason)


def measure_power(fn: Callable[[], Any] | None, seconds: float = 2.0, *, reader: PowerReader | None = None,
                  device: str = "cpu", interval_s: float = 0.05, sync: Callable[[], Any] | None = None,
                  **detect_kw: Any) -> PowerMeasurement:
    """Average power while ``fn`` runs back to back for ``seconds`` (idle power when ``fn`` is None).

    A sampler thread reads the counter every ``interval_s`` (often enough to catch RAPL
    wraparound; NVML's energy counter itself updates every 20-100 ms, so use windows of a second
    or more). ``sync`` (e.g. ``torch.cuda.synchronize``) is called before the window closes.
    """
    if reader is None:
        det = detect_power(device, **detect_kw)
        if det.reader is None:
            return _unavailable(det.reason)
        reader = det.reader
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def sample() -> None:
        try:
            samples.append((time.perf_counter(), reader.read()))
        except Exception as exc:  # a counter that stops answering mid-window
            errors.append(exc)
            stop.set()

    def loop() -> None:
        while not stop.wait(interval_s):
            sample()

    sample()
    if errors:
        return _unavailable(f"{reader.method}: read failed: {errors[0]}")
    th = threading.Thread(target=loop, daemon=True)
    t0 = time.perf_counter()
    th.start()
    calls = 0
    try:
        while time.perf_counter() - t0 < seconds and not stop.is_set():
            if fn is None:
                time.sleep(min(interval_s, max(0.0, seconds - (time.perf_counter() - t0))))
            else:
                fn()
                calls += 1
        if sync is not None:
            sync()
    finally:
        stop.set()
        th.join()
    sample()
    if errors:
        return _unavailable(f"{reader.method}: read failed: {errors[0]}", time.perf_counter() - t0, calls)
    (ta, va), (tb, vb) = samples[0], samples[-1]
    span = tb - ta
    if span <= 0 or len(samples) < 2:
        return _unavailable("window too short for the counter", span, calls)
    if reader.kind == "energy":
        energy = vb - va
    else:
        energy = sum((t2 - t1) * (w1 + w2) / 2 for (t1, w1), (t2, w2) in zip(samples, samples[1:]))
    if energy <= 0 and reader.kind == "energy":
        return _unavailable(f"{reader.method}: counter did not advance in {span:.2f} s", span, calls)
    return PowerMeasurement(True, reader.method, energy / span, energy, span, calls, len(samples),
                            reader.description)


# ---------------------------------------------------------------- power during calibration

@dataclass
class PowerProbe:
    """A workload whose power the calibration records: ``run`` is called back to back."""

    name: str
    description: str
    run: Callable[[], Any]


def power_probes(device: str = "cpu") -> tuple[PowerProbe, PowerProbe, Callable[[], Any] | None]:
    """(compute-bound probe, memory-bound probe, sync) on ``device``, built on torch.

    Compute: a 1024^3 fp32 GEMM (on a GPU 4096^3), well above any device's ridge point. Memory: a
    STREAM triad over three arrays of 64 MiB each (1 GiB on a GPU), far beyond the last cache.
    """
    import torch

    dev = torch.device(device)
    gpu = dev.type == "cuda"
    n = 4096 if gpu else 1024
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    c = torch.empty(n, n, device=dev)
    elems = (256 if gpu else 16) * (1 << 20)
    x, y, z = (torch.full((elems,), v, device=dev) for v in (1.0, 2.0, 0.5))
    sync = torch.cuda.synchronize if gpu else None
    compute = PowerProbe("gemm", f"fp32 GEMM {n}x{n}x{n}", lambda: torch.mm(a, b, out=c))
    memory = PowerProbe("triad", f"STREAM triad over 3 x {elems * 4 >> 20} MiB",
                        lambda: torch.add(y, z, alpha=3.0, out=x))
    return compute, memory, sync


def calibration_power(device: str = "cpu", *, seconds: float = 2.0, reader: PowerReader | None = None,
                      probes: tuple[PowerProbe, PowerProbe, Callable[[], Any] | None] | None = None,
                      **detect_kw: Any) -> dict[str, Any]:
    """Idle power and average power under a compute-bound and a memory-bound probe, as the
    ``power`` block of a calibration: ``{"method", "counter", "idle_w", "compute_w", "memory_w",
    "load_w", ...}``, or ``{"method": "unavailable", "reason"}`` when no counter is readable (or
    one stops answering). ``load_w`` is the larger of the two loaded figures."""
    if reader is None:
        det = detect_power(device, **detect_kw)
        if det.reader is None:
            return {"method": "unavailable", "reason": det.reason}
        reader = det.reader
    compute, memory, sync = probes if probes is not None else power_probes(device)
    idle = measure_power(None, seconds, reader=reader)
    loaded = [measure_power(p.run, seconds, reader=reader, sync=sync) for p in (compute, memory)]
    failed = next((m for m in [idle, *loaded] if not m.available), None)
    if failed is not None:
        return {"method": "unavailable", "reason": failed.reason.removeprefix("unavailable: ")}
    compute_w, memory_w = (m.average_w for m in loaded)
    return {
        "method": reader.method, "counter": reader.description,
        "idle_w": idle.average_w, "compute_w": compute_w, "memory_w": memory_w,
        "load_w": max(compute_w, memory_w), "window_s": seconds,
        "compute_probe": compute.description, "memory_probe": memory.description,
    }
