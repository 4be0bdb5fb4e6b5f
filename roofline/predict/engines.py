"""Execution models keyed by compute engine and runtime, never by form factor: a Jetson's GPU is a GPU.

Engines: ``cpu`` (CPU cores: servers, desktops, Raspberry Pi-class boards), ``gpu`` (streaming
multiprocessors: datacenter and consumer GPUs, Apple GPUs, Jetson boards), ``npu`` (fixed-function
arrays: Hailo, Edge TPU; compiled graphs only). Per (runtime, engine), a handful of global numbers:

- ``matmul``, ``conv``, ``vector``: the fraction of the unit's dense peak an op of that class reaches
  when it is large enough to fill the device (attention shares ``matmul``; every other class ``vector``);
- ``saturation``: FLOPs per compute unit (core or SM) at which an op reaches half of that fraction,
  efficiency x s / (s + saturation) with s = FLOPs / units (a batch-1 layer cannot fill 96 cores; a
  small GEMM leaves SMs idle: the occupancy and wave-quantisation loss, as one smooth term);
- ``memory``: the fraction of the bandwidth of the level an op streams from;
- ``overhead``: the fixed cost per launched op (eager: dispatch and launch; compiled: one launch per
  fused kernel).

And per runtime, ``embedded_host``: how many times longer an embedded Arm host (a board's CPU cluster,
which issues every eager op and launch) takes to dispatch an op than a desktop or server CPU.

The numbers are fitted with scipy on the public corpus (benchmarks/corpus/, docs/accuracy.md); the
fitted file ``engine_fit.yaml`` records them with the corpus they came from and their
leave-one-device-out errors, and the datasheet tier uses them when the file is present.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from roofline.catalog import DeviceSpec
from roofline.predict.efficiency import ExecutionModel, Runtime, RuntimeUnavailable, Tier
from roofline.workload.types import OpClass

ENGINES = ("cpu", "gpu", "npu")
FIT_FILE = Path(__file__).with_name("engine_fit.yaml")

_CLASS_PARAMS = ("matmul", "conv", "vector", "memory", "overhead", "saturation")
_NPU_PARAMS = ("matmul", "memory", "overhead")


def param_names() -> list[str]:
    """Every global parameter, as 'runtime/engine/name' (and 'runtime/embedded_host')."""
    names = []
    for runtime in ("eager", "compiled"):
        for engine in ("cpu", "gpu"):
            names += [f"{runtime}/{engine}/{p}" for p in _CLASS_PARAMS]
        if runtime == "compiled":
            names += [f"compiled/npu/{p}" for p in _NPU_PARAMS]
        names.append(f"{runtime}/embedded_host")
    return names


def engine_of(device: DeviceSpec) -> str:
    if device.kind == "accelerator":
        return "npu"
    if device.kind == "gpu" or (device.kind == "sbc" and (device.compute_unit_name or "").upper() == "SM"):
        return "gpu"
    return "cpu"


def device_class(device: DeviceSpec) -> str:
    """The class the corpus figures and intervals are reported by: cpu, gpu, edge-gpu (Jetson-class boards),
    edge-cpu (Raspberry Pi-class boards) or npu."""
    engine = engine_of(device)
    if device.kind == "sbc":
        return f"edge-{engine}"
    return engine


def interval_factors(device: DeviceSpec) -> tuple[float, float, float] | None:
    """(low, high, nominal coverage): measured / predicted latency bounds of the fit's cross-validated residuals
    for this device's class, or None without a fit."""
    data = fitted()
    if data is None:
        return None
    found = (data.get("intervals") or {}).get(device_class(device))
    if not found:
        return None
    return float(found["low"]), float(found["high"]), float(data.get("interval_coverage", 0.8))


def embedded_host(device: DeviceSpec) -> bool:
    """Whether the CPU that dispatches ops is a board's embedded Arm cluster (Jetson, Raspberry Pi...)."""
    return device.kind == "sbc"


def execution_from(params: dict[str, float], device: DeviceSpec, runtime: Runtime) -> ExecutionModel:
    """The datasheet-tier execution model of ``device`` under ``params`` (names of :func:`param_names`)."""
    engine = engine_of(device)
    r = runtime.value
    if engine == "npu":
        if runtime is not Runtime.COMPILED:
            raise RuntimeUnavailable("no eager runtime for an NPU (they run only compiled graphs: use --runtime "
                                     "compiled)")
        p = {k: params[f"compiled/npu/{k}"] for k in _NPU_PARAMS}
        compute = {c: p["matmul"] for c in OpClass}
        overhead = p["overhead"]
        memory, saturation = p["memory"], 0.0
    else:
        p = {k: params[f"{r}/{engine}/{k}"] for k in _CLASS_PARAMS}
        compute = {c: p["vector"] for c in OpClass}
        compute.update({OpClass.MATMUL: p["matmul"], OpClass.ATTENTION: p["matmul"], OpClass.CONV: p["conv"]})
        overhead, memory, saturation = p["overhead"], p["memory"], p["saturation"]
    if embedded_host(device):
        overhead *= params[f"{r}/embedded_host"]
    return ExecutionModel(runtime, Tier.DATASHEET, compute, memory, overhead,
                          fused_bytes=runtime is Runtime.COMPILED, saturation_flops_per_unit=saturation)


@lru_cache(maxsize=1)
def fitted() -> dict[str, Any] | None:
    """The fitted parameters and their provenance (engine_fit.yaml), or None when no fit is shipped."""
    if not FIT_FILE.exists():
        return None
    data = yaml.safe_load(FIT_FILE.read_text())
    missing = [n for n in param_names() if n not in data.get("parameters", {})]
    if missing:
        raise ValueError(f"{FIT_FILE.name}: parameters missing: {', '.join(missing)}")
    return data


def fitted_execution(device: DeviceSpec, runtime: Runtime) -> ExecutionModel | None:
    data = fitted()
    return execution_from(data["parameters"], device, runtime) if data is not None else None


__all__ = ["ENGINES", "param_names", "engine_of", "device_class", "interval_factors", "embedded_host", "execution_from", "fitted", "fitted_execution",
           "FIT_FILE"]
