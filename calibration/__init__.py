"""Microbenchmark suite run on a target host by `roofline calibrate` (installed as ``roofline.calibration``).

- ``timing``: the timing harness (``time_callable``, ``Timing``, ``num_threads``, ``settle_allocator``).
- ``probes``: the probe cases and ``run_suite`` -> ``SuiteResult``.
- ``fit``: scipy fits -> ``CalibrationFit`` (``fit_suite``).
- ``sequences``: synthetic networks timed for real, the in-sequence factors.
- ``power``: NVML / RAPL / INA3221 readers, ``measure_power`` and ``calibration_power``.
- ``host``: host facts (CPU, caches, threads, versions, date).

Names are imported lazily so that importing the package does not import torch or scipy.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "time_callable": "timing",
    "Timing": "timing",
    "num_threads": "timing",
    "settle_allocator": "timing",
    "run_suite": "probes",
    "plan_suite": "probes",
    "build_plan": "probes",
    "probe_dtypes": "probes",
    "SuiteResult": "probes",
    "SuitePlan": "probes",
    "Measurement": "probes",
    "PLANS": "probes",
    "STAGES": "probes",
    "fit_suite": "fit",
    "fit_saturating": "fit",
    "segment_plateaus": "fit",
    "CalibrationFit": "fit",
    "detect_power": "power",
    "power_method": "power",
    "measure_power": "power",
    "PowerMeasurement": "power",
    "collect_host_info": "host",
    "HostInfo": "host",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
