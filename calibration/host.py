"""Host facts recorded with every calibration run: CPU, caches, threads, runtime versions, date.

Nothing here needs torch except :func:`collect_host_info`, which imports it lazily.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_cache_size(text: str) -> int | None:
    """'32K' (sysfs), '1024 KiB', '32 MiB', '512' -> bytes; None when unparseable. Cache sizes are binary."""
    m = _SIZE_RE.match(text)
    if not m:
        return None
    return int(float(m.group(1)) * _UNIT[m.group(2).upper()])


@dataclass(frozen=True)
class CacheLevel:
    """One data (or unified) cache level as seen from one CPU."""

    level: int
    size_bytes: int  # capacity of one instance
    shared_cpus: int  # how many logical CPUs share one instance (1 = private)
    kind: str = "Unified"  # Data or Unified (instruction caches are left out)

    @property
    def name(self) -> str:
        return f"L{self.level}"


def _count_cpu_list(text: str) -> int:
    """'0-3,8' -> 5."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            n += int(b) - int(a) + 1
        else:
            n += 1
    return max(n, 1)


def read_sysfs_caches(root: str | os.PathLike[str] = "/sys/devices/system/cpu/cpu0/cache") -> list[CacheLevel]:
    """Data/unified cache levels from ``index*/{level,type,size,shared_cpu_list}``; [] when absent."""
    base = Path(root)
    levels: dict[int, CacheLevel] = {}
    for idx in sorted(base.glob("index*")):
        try:
            kind = (idx / "type").read_text().strip()
            if kind == "Instruction":
                continue
            level = int((idx / "level").read_text().strip())
            size = parse_cache_size((idx / "size").read_text())
        except (OSError, ValueError):
            continue
        if not size:
            continue
        try:
            shared = _count_cpu_list((idx / "shared_cpu_list").read_text())
        except (OSError, ValueError):
            shared = 1
        levels[level] = CacheLevel(level, size, shared, kind)
    return [levels[k] for k in sorted(levels)]


_LSCPU_RE = re.compile(r"^L(\d)([di]?) cache:\s*(.+?)(?:\((\d+) instances?\))?\s*$")


def parse_lscpu_caches(text: str) -> list[CacheLevel]:
    """Cache levels from ``lscpu`` output; lscpu prints the total over instances, so divide by them."""
    levels: dict[int, CacheLevel] = {}
    for line in text.splitlines():
        m = _LSCPU_RE.match(line.strip())
        if not m or m.group(2) == "i":
            continue
        total = parse_cache_size(m.group(3))
        if not total:
            continue
        inst = int(m.group(4)) if m.group(4) else 1
        levels[int(m.group(1))] = CacheLevel(int(m.group(1)), total // inst, 0, "Data" if m.group(2) else "Unified")
    return [levels[k] for k in sorted(levels)]


def detect_cpu_caches() -> tuple[list[CacheLevel], str]:
    """(levels, source): sysfs first, then lscpu; ([], reason) when neither says anything."""
    levels = read_sysfs_caches()
    if levels:
        return levels, "sysfs"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5, env={**os.environ, "LC_ALL": "C"})
        levels = parse_lscpu_caches(out.stdout)
    except (OSError, subprocess.SubprocessError):
        levels = []
    if levels:
        return levels, "lscpu"
    return [], "no cache sizes in /sys/devices/system/cpu/cpu0/cache or lscpu"


def cpu_model(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _read_first(*paths: str) -> str | None:
    for p in paths:
        try:
            return Path(p).read_text().strip()
        except OSError:
            continue
    return None


@dataclass
class HostInfo:
    cpu_model: str
    logical_cpus: int
    threads: int  # torch intra-op threads used for the run
    torch_version: str
    python_version: str
    os: str
    date_utc: str
    device: str = "cpu"
    device_name: str = ""
    caches: list[CacheLevel] = field(default_factory=list)
    cache_source: str = ""
    cpu_governor: str | None = None
    cpu_max_freq_hz: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["caches"] = [
            {"name": c.name, "level": c.level, "size_bytes": c.size_bytes, "shared_cpus": c.shared_cpus, "kind": c.kind}
            for c in self.caches
        ]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HostInfo":
        d = dict(d)
        d["caches"] = [
            CacheLevel(c["level"], c["size_bytes"], c.get("shared_cpus", 1), c.get("kind", "Unified"))
            for c in d.get("caches", [])
        ]
        return cls(**d)


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def load_average() -> float | None:
    """1-minute load average (other processes competing for the cores skew every timing)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def cpu_busy_seconds(stat: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """Busy CPU time of the whole machine since boot (all processes), from the ``cpu`` line of /proc/stat."""
    try:
        with open(stat) as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    ticks = [int(x) for x in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user/nice]
    busy = sum(ticks[:3]) + sum(ticks[5:8])
    return busy / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


class ForeignLoad:
    """How busy other processes kept the CPUs while a block ran: their CPU seconds per wall second
    per logical CPU (0 = we had the machine to ourselves, 0.5 = half the cores were taken).

    Timings of multi-threaded ops are badly skewed when another process holds a core (a thread
    waits at a barrier for a sibling that is descheduled), so the suite records this per stage.
    ``value`` is None where /proc/stat is unreadable.
    """

    def __init__(self) -> None:
        self.value: float | None = None

    def __enter__(self) -> "ForeignLoad":
        import time

        self._busy = cpu_busy_seconds()
        t = os.times()
        self._own = t.user + t.system
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        busy = cpu_busy_seconds()
        if busy is None or self._busy is None:
            return
        t = os.times()
        wall = time.perf_counter() - self._wall
        if wall <= 0:
            return
        foreign = (busy - self._busy) - ((t.user + t.system) - self._own)
        self.value = round(max(0.0, foreign / (wall * (os.cpu_count() or 1))), 3)


def collect_host_info(device: str = "cpu", threads: int | None = None) -> HostInfo:
    import torch

    caches, source = detect_cpu_caches()
    freq = _read_first("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    info = HostInfo(
        cpu_model=cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        threads=threads if threads is not None else torch.get_num_threads(),
        torch_version=str(torch.__version__),
        python_version=platform.python_version(),
        os=platform.platform(),
        date_utc=utc_now_iso(),
        device=device,
        device_name=cpu_model(),
        caches=caches,
        cache_source=source,
        cpu_governor=_read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        cpu_max_freq_hz=float(freq) * 1e3 if freq and freq.isdigit() else None,
    )
    load = load_average()
    if load is not None:
        info.extra["load_avg_1m_start"] = load
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.device(device)
        props = torch.cuda.get_device_properties(dev)
        info.device_name = props.name
        info.extra.update({
            "cuda_version": torch.version.cuda,
            "gpu_memory_bytes": int(props.total_memory),
            "gpu_sm_count": int(props.multi_processor_count),
            "gpu_l2_bytes": int(getattr(props, "L2_cache_size", 0) or 0),
            "allow_tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "allow_tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        })
    return info
