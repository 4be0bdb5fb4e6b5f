"""Calibrate this host: run the microbenchmark suite, fit it, write a complete device file.

The device file starts from a catalog device (``base``) or from facts detected on the host
(CPU model, cores, caches, memory size), and gets a ``calibration:`` block keyed by runtime
(``eager``) holding the fitted figures (docs/calibration.md). Predictions from a device with
that block use the ``calibrated`` tier.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError

DETECTED = "detected on this host by roofline calibrate (/proc/cpuinfo, /proc/meminfo, sysfs)"


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "host"


def default_device_id(host_cpu_model: str, base: DeviceSpec | None) -> str:
    return f"{base.id}-calibrated" if base is not None else f"host-{slugify(host_cpu_model)}"


def _meminfo_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def detected_device(host: Any, device_id: str) -> dict[str, Any]:
    """A device dict from host facts alone: identity, cores, caches, memory size. No peaks are
    invented: predictions for it come from the calibration block."""
    caches = []
    for cache in host.caches:
        if cache.kind == "Instruction":
            continue
        instances = max(1, host.logical_cpus // max(1, cache.shared_cpus))
        caches.append({"level": cache.name, "size": f"{cache.size_bytes} B", "instances": instances})
    data: dict[str, Any] = {
        "id": device_id,
        "name": f"{host.cpu_model} (this host, {host.logical_cpus} CPUs)",
        "vendor": host.cpu_model.split()[0] if host.cpu_model else "unknown",
        "kind": "cpu",
        "compute_units": host.logical_cpus,
        "compute_unit_name": "logical CPU",
        "memory": {"caches": caches},
        "notes": "Written by `roofline calibrate` from facts detected on the host; datasheet peaks are unknown, "
                 "so predictions use the calibration block.",
        "sources": [{"document": DETECTED, "title": f"host facts of {host.cpu_model}",
                     "fields": ["compute_units", "memory"], "retrieved": _dt.date.today().isoformat()}],
    }
    mem = _meminfo_bytes()
    if mem:
        data["memory"]["capacity"] = f"{mem} B"
    return data


def calibration_block(fit: Any, power: dict[str, Any] | None, sequences: Any = None) -> dict[str, Any]:
    block = fit.to_dict()
    block["power"] = power or {"method": "unavailable", "reason": "power counters not measured"}
    if sequences is not None:
        block["sequence"] = sequences.to_dict()
    # plain JSON types only (torch.__version__ is a str subclass that YAML's safe dumper refuses)
    return json.loads(json.dumps(block, default=str, allow_nan=False))


def build_device_file(fit: Any, *, base: DeviceSpec | None, device_id: str, runtime: str = "eager",
                      power: dict[str, Any] | None = None, sequences: Any = None) -> dict[str, Any]:
    """The YAML dict of a complete device with its calibration block (validated)."""
    if base is not None:
        data = base.to_yaml_dict()
        data["id"] = device_id
        data["name"] = f"{base.name} (calibrated on {fit.host.cpu_model})"
    else:
        data = detected_device(fit.host, device_id)
    calibration = dict(data.get("calibration") or {})
    calibration[runtime] = calibration_block(fit, power, sequences)
    data["calibration"] = calibration
    DeviceSpec.from_yaml_dict(data)  # a file that would not load is never written
    return data


def merge_record(existing: DeviceSpec, fit: Any, *, runtime: str = "eager", power: dict[str, Any] | None = None,
                 sequences: Any = None) -> dict[str, Any]:
    """``existing``'s device dict with ``fit`` added as its record at ``fit.threads`` threads: under
    ``eager@N`` (roofline.catalog.calibration.record_key), and under ``eager`` too when the default
    record is missing or was measured at the same thread count (it is then replaced)."""
    from roofline.catalog.calibration import record_key

    data = existing.to_yaml_dict()
    calibration = dict(data.get("calibration") or {})
    block = calibration_block(fit, power, sequences)
    default = calibration.get(runtime)
    if default is None or default.get("threads") == fit.threads:
        calibration[runtime] = block
        calibration.pop(record_key(runtime, fit.threads), None)
    else:
        calibration[record_key(runtime, fit.threads)] = block
    data["calibration"] = calibration
    DeviceSpec.from_yaml_dict(data)
    return data


def fit_chains(fit: Any, chains: Any, *, base: DeviceSpec | None = None, cache: dict[str, Any] | None = None) -> Any:
    """The in-sequence factors for ``fit``: the timed chains of ``chains`` (a ChainTimer)
    predicted from the isolated fits alone, split into dense and other ops. ``cache`` keeps the
    chains' traced workloads between calls (benchmarks/accuracy/select_quick.py fits many times)."""
    import numpy as np

    from roofline.predict import predict
    from roofline.predict.model import dense_ops, op_arrays
    from roofline.workload import analyze

    provisional = DeviceSpec.from_yaml_dict(build_device_file(fit, base=base, device_id="calibration-in-progress"))
    traced: dict[str, Any] = {} if cache is None else cache

    def predict_isolated(module: Any, shape: tuple[int, ...]) -> tuple[float, float, int]:
        key = f"{type(module).__name__}{shape}{sum(p.numel() for p in module.parameters())}"
        if key not in traced:
            traced[key] = analyze(module, shape)
        workload = traced[key]
        p = predict(workload, provisional, tier="calibrated", include_ops=True)
        arrays = op_arrays(workload)
        times = np.array([op.time_s for op in p.ops])
        dense = dense_ops(arrays)
        return float(times[dense].sum()), float(times[~dense].sum()), int(arrays.active.sum())

    return chains.fit(predict_isolated)


@dataclass
class CalibrationRun:
    fit: Any  # roofline.calibration.fit.CalibrationFit
    sequences: Any  # roofline.calibration.sequences.SequenceFit | None
    power: dict[str, Any]


def run_calibration(*, quick: bool, threads: int | None, progress: Callable[..., None] | None = None,
                    base: DeviceSpec | None = None) -> CalibrationRun:
    """Run the suite on this host's CPU with the in-sequence chains between its passes, fit both,
    then record power where a counter exists."""
    from roofline.calibration.fit import fit_suite
    from roofline.calibration.power import calibration_power, detect_power
    from roofline.calibration.probes import run_suite
    from roofline.calibration.sequences import ChainTimer
    from roofline.calibration.timing import num_threads

    plan = "quick" if quick else "full"
    chains = ChainTimer(plan, threads=threads)
    # the chains are timed after each pass of the suite, their timings minutes apart
    result = run_suite(plan, threads=threads, device="cpu", progress=progress,
                       after_pass=lambda k: chains.time_pass(progress))
    fit = fit_suite(result)
    sequences = fit_chains(fit, chains, base=base)
    detection = detect_power("cpu")
    if detection.reader is None:
        power = {"method": "unavailable", "reason": detection.reason}
    else:
        window_s = 1.0 if quick else 2.0
        if progress:
            progress("power", 0, 3, 3 * window_s)
        with num_threads(threads):
            power = calibration_power("cpu", seconds=window_s, reader=detection.reader)
        if progress:
            progress("power", 3, 3, 0.0)
    return CalibrationRun(fit, sequences, power)


def output_path(out: str | None, device_id: str, force: bool) -> Path:
    path = Path(out) if out else Path(f"{device_id}.yaml")
    if path.suffix not in (".yaml", ".yml"):
        raise RooflineError(f"{path}: the device file must end in .yaml")
    if path.stem != device_id:
        raise RooflineError(f"{path}: a device file is named after its id: use --out {path.with_name(device_id + '.yaml')} "
                            f"or --device-id {path.stem}")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", device_id):
        raise RooflineError(f"device id {device_id!r}: use lowercase letters, digits and single hyphens")
    if path.exists() and not force:
        raise RooflineError(f"{path} exists: pass --force to overwrite it")
    parent = path.resolve().parent
    existing = next(p for p in (parent, *parent.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise RooflineError(f"{path}: {existing} is not a writable directory")
    return path
