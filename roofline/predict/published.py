"""The ``published`` tier: the engine execution model on published measurements of the device.

A device file's ``published`` block (docs/catalog.md, "Published measurements") holds measured attainable
GEMM rates per dtype (maximum-achievable-matmul searches) and sustained memory bandwidth (STREAM-class
tests), each with its source. In this tier the predictor takes

- for matmul, convolution and attention ops of a dtype with a published GEMM figure: that figure in place
  of the datasheet's dense peak (roofline.predict.model.peak_for);
- for main memory: the published bandwidth in place of the datasheet's;

and every figure the block does not hold stays the datasheet's (the prediction's notes say which).

Because its peaks are attainable figures, the tier's efficiencies are not the datasheet tier's: they are
the same global parameters of roofline.predict.engines (per runtime and engine, none per device), fitted
on the corpus rows of devices with published figures by ``python benchmarks/corpus/fit.py --published``
into ``published_fit.yaml``. Without that file the datasheet tier's fitted parameters are used.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any

from roofline.catalog import DeviceSpec
from roofline.predict.efficiency import ExecutionModel, Runtime, Tier

FIT_FILE = Path(__file__).with_name("published_fit.yaml")


def has_published(device: DeviceSpec) -> bool:
    """Whether the device has any published measurement (GEMM or bandwidth)."""
    return device.published.present


@lru_cache(maxsize=1)
def fitted() -> dict[str, Any] | None:
    """The published tier's fitted parameters and provenance (published_fit.yaml), or None."""
    from roofline.predict.engines import load_fit

    return load_fit(FIT_FILE)


def execution_from(params: dict[str, float], device: DeviceSpec, runtime: Runtime) -> ExecutionModel:
    """The published-tier execution model of ``device`` under engine parameters ``params``."""
    from roofline.predict.engines import execution_from as engine_execution

    return dataclasses.replace(engine_execution(params, device, runtime), tier=Tier.PUBLISHED)


def published_execution(device: DeviceSpec, runtime: Runtime) -> ExecutionModel:
    """The execution model of the published tier: its own fit where shipped, else the datasheet tier's."""
    data = fitted()
    if data is not None:
        return execution_from(data["parameters"], device, runtime)
    from roofline.predict.engines import fitted_execution

    base = fitted_execution(device, runtime)
    if base is None:
        from roofline.predict.efficiency import datasheet_model

        base = datasheet_model(device.kind, runtime)
    return dataclasses.replace(base, tier=Tier.PUBLISHED)


def interval_factors(device: DeviceSpec) -> tuple[float, float, float] | None:
    """(low, high, nominal coverage) of the published tier for this device's class, from the leave-one-device-out
    residuals of its fit, or None without a fit that covers the class."""
    from roofline.predict.engines import intervals_of

    return intervals_of(fitted(), device)


def describe(device: DeviceSpec, used_dtypes: set[str]) -> str:
    """One line for a prediction's notes: which figures are published and which stay the datasheet's."""
    published = device.published
    parts = []
    gemm = [d for d in sorted(used_dtypes) if published.gemm_flops_per_s(d)]
    if gemm:
        parts.append("measured " + ", ".join(f"{d} GEMM" for d in gemm))
    if published.bandwidth_bytes_per_s:
        parts.append("measured memory bandwidth")
    datasheet = [d for d in sorted(used_dtypes) if not published.gemm_flops_per_s(d)]
    if datasheet:
        parts.append(f"datasheet peak for {', '.join(datasheet)} math")
    if not published.bandwidth_bytes_per_s:
        parts.append("datasheet bandwidth")
    return "published tier: " + "; ".join(parts) + " (sources in the published: block of its device file)"


__all__ = ["FIT_FILE", "has_published", "fitted", "execution_from", "published_execution", "interval_factors",
           "describe"]
