"""Prediction accuracy on this host: run models for real, predict them, compare.

relative_error = (predicted - measured) / measured; the summary reports the median and the
worst absolute relative error.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from roofline.catalog import DeviceSpec


@dataclass(frozen=True)
class ValidationRow:
    model: str
    batch: int
    measured_latency_s: float
    predicted_latency_s: float
    relative_error: float
    measured_dispersion: float
    measured_noisy: bool
    tier: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ValidationResult:
    device: str
    tier: str
    runtime: str
    threads: int
    rows: list[ValidationRow] = field(default_factory=list)

    @property
    def median_abs_error(self) -> float | None:
        return statistics.median(abs(r.relative_error) for r in self.rows) if self.rows else None

    @property
    def max_abs_error(self) -> float | None:
        return max(abs(r.relative_error) for r in self.rows) if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "tier": self.tier,
            "runtime": self.runtime,
            "threads": self.threads,
            "results": [r.to_dict() for r in self.rows],
            "median_abs_error": self.median_abs_error,
            "max_abs_error": self.max_abs_error,
        }


def validate(models: Sequence[str], device: DeviceSpec, *, batches: Sequence[int] = (1,), tier: str | None = None,
             runtime: str = "eager", threads: int | None = None, budget_s: float = 2.0,
             progress: Callable[[str], None] | None = None) -> ValidationResult:
    """Measure each model at each batch size on this host's CPU and compare with the prediction."""
    import torch

    from roofline.measure import measure_latency
    from roofline.predict import predict
    from roofline.sources import load_model
    from roofline.sources.shapes import resolve_input_shape
    from roofline.workload import analyze

    from roofline.errors import RooflineError
    from roofline.sources import is_language_model

    if threads is not None and threads < 1:
        raise RooflineError(f"--threads must be a positive integer, got {threads}")
    if device.kind != "cpu":
        raise RooflineError(f"validate runs the models on this host's CPU: --device {device.id} is a {device.kind}, "
                            "so its prediction cannot be compared with this measurement (use a calibrated host, "
                            "or roofline validate --corpus for published measurements of other hardware)")
    for name in models:
        if is_language_model(name):
            raise RooflineError(f"{name}: validate does not run language models here (their serving phases are "
                                "not measured on this host); roofline validate --corpus compares published "
                                "decode figures")
    result = ValidationResult(device.id, tier or "auto", runtime, threads or torch.get_num_threads())
    for name in models:
        built = load_model(name)
        for batch in batches:
            if progress:
                progress(f"{name} batch {batch}")
            shape = resolve_input_shape(name, built.default_input_shape, batch=batch)
            workload = analyze(built.model, shape, name=name)
            predicted = predict(workload, device, runtime=runtime, tier=tier)
            measured = measure_latency(built.model, shape, threads=threads, budget_s=budget_s)
            result.tier = predicted.tier
            result.threads = measured.threads
            result.rows.append(ValidationRow(
                model=name, batch=batch, measured_latency_s=measured.latency_s,
                predicted_latency_s=predicted.latency_s,
                relative_error=(predicted.latency_s - measured.latency_s) / measured.latency_s,
                measured_dispersion=measured.dispersion, measured_noisy=measured.noisy, tier=predicted.tier,
            ))
    return result
