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

from roofline.decide.costs import CostAssumptions
from roofline.report.data import DeviceRow, ModelSection, Recommendation, ReportData, build_report
from roofline.report.output import ReportOutputError, WrittenReport, check_output_path, write_report
from roofline.resolve import ModelOptions, ScenarioSource, resolve_devices

__all__ = ["generate_report", "build_report", "write_report", "check_output_path", "CostAssumptions",
           "ReportData", "ModelSection", "DeviceRow", "Recommendation", "ReportOutputError", "WrittenReport"]


def generate_report(models: Sequence, out: str | os.PathLike[str], *, devices: Iterable | None = None,
                    batch: int | None = None, dtype: str | None = None, runtime: str | None = None,
                    tier: str | None = None, costs: CostAssumptions | None = None, budget_usd: float | None = None,
                    options: ModelOptions | None = None, catalog=None) -> WrittenReport:
    """Estimate ``models`` (names such as ``"resnet50"`` or ``"hf:llama-3-8b"``, Workloads or Scenarios), rank
    ``devices`` (ids or DeviceSpecs; default: the whole catalog) and write the report to ``out`` (.html or .md)."""
    check_output_path(out)
    specs = resolve_devices(devices, catalog=catalog)
    scenarios = [ScenarioSource(m, options).scenario(batch, dtype) for m in models]
    data = build_report(scenarios, specs, runtime=runtime, tier=tier, costs=costs, budget_usd=budget_usd)
    return write_report(data, out)
