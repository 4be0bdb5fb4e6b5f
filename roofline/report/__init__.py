"""Buyer's reports: recommendations, per-device tables, a roofline and a Pareto chart, assumptions
and sources, as one self-contained HTML file or Markdown with PNG images (docs/reports.md).

>>> import roofline
>>> from roofline.report import generate_report
>>> generate_report(["resnet50"], "report.html", devices=["nvidia-l4", "nvidia-t4"])  # doctest: +SKIP

Layers: ``data`` assembles the content (pure), ``charts`` draws, ``html`` and ``markdown``
render, ``output`` writes atomically.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from roofline.report.costs import CostAssumptions, InferenceCost, inference_cost
from roofline.report.data import DeviceRow, ModelSection, Recommendation, ReportData, build_report
from roofline.report.output import ReportOutputError, WrittenReport, check_output_path, write_report

__all__ = ["generate_report", "build_report", "write_report", "check_output_path", "CostAssumptions",
           "InferenceCost", "inference_cost", "ReportData", "ModelSection", "DeviceRow", "Recommendation",
           "ReportOutputError", "WrittenReport"]


def generate_report(models: Sequence, out: str | os.PathLike[str], *, devices: Iterable | None = None,
                    batch: int | None = None, dtype: str | None = None, runtime: str = "eager",
                    tier: str | None = None, electricity_usd_per_kwh: float = 0.15, years: float = 3.0,
                    utilization: float = 0.5, budget_usd: float | None = None,
                    input_shape: tuple[int, ...] | str | None = None, imgsz: int | None = None,
                    catalog=None) -> WrittenReport:
    """Trace ``models`` (names such as ``"resnet50"``, or Workloads), rank ``devices`` (ids or
    DeviceSpecs; default: the whole catalog) and write the report to ``out`` (.html or .md)."""
    from roofline.planning import load_workloads, resolve_devices
    from roofline.workload.types import Workload

    check_output_path(out)
    costs = CostAssumptions(electricity_usd_per_kwh, years, utilization)
    specs = resolve_devices(devices, catalog=catalog)
    workloads = []
    for m in models:
        if isinstance(m, Workload):
            workloads.append(m)
        else:
            workloads += load_workloads(m, [batch], dtype=dtype, input_shape=input_shape, imgsz=imgsz)
    data = build_report(workloads, specs, runtime=runtime, tier=tier, costs=costs, budget_usd=budget_usd)
    return write_report(data, out)
