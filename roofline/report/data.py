"""The report's content as plain data: one ranking per model, costs, recommendations, sources.

Pure: workloads and devices in, a :class:`ReportData` out. The per-device numbers are those of
:func:`roofline.ranking.rank` (the same predictions ``roofline rank --json`` prints); the
renderers (report.html, report.markdown) and charts (report.charts) only format them.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import roofline
from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.predict import ERROR_BANDS, Prediction
from roofline.predict.efficiency import Runtime, Tier, parse_runtime, parse_tier
from roofline.ranking import Constraints, rank
from roofline.report.costs import (
    BASIS_FULL,
    FORMULA,
    CostAssumptions,
    inference_cost,
)
from roofline.workload.types import Workload

OBJECTIVES = ("fastest", "cheapest", "energy", "budget")


@dataclass(frozen=True)
class DeviceRow:
    """One device's numbers for one model (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    latency_s: float
    throughput_per_s: float
    energy_per_item_j: float | None
    power_w: float | None
    price_usd: float | None
    purchase_usd_per_million: float | None
    energy_usd_per_million: float | None
    cost_usd_per_million: float | None
    cost_basis: str
    memory_required_bytes: int
    memory_available_bytes: float | None
    memory_headroom_bytes: float | None
    fits: bool | None
    tier: str
    bound: str
    flops: int
    bytes: int
    achieved_flops_per_s: float
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    notes: tuple[str, ...] = ()

    @property
    def cost_usd_per_inference(self) -> float | None:
        return None if self.cost_usd_per_million is None else self.cost_usd_per_million / 1e6

    @property
    def intensity_flops_per_byte(self) -> float:
        return self.flops / self.bytes if self.bytes else math.inf

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Recommendation:
    objective: str  # one of OBJECTIVES
    title: str  # "Fastest", "Cheapest per inference", ...
    device: str | None
    device_name: str | None
    value: float | None  # in ``unit``
    unit: str  # "s", "usd_per_million", "j", ...
    text: str  # one sentence a buyer can read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExcludedDevice:
    device: str
    device_name: str
    category: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSection:
    model: str
    batch: int
    dtype: str
    runtime: str
    flops: int
    params: int
    weight_bytes: int
    rows: tuple[DeviceRow, ...]  # fastest first (rank's latency order)
    excluded: tuple[ExcludedDevice, ...]
    recommendations: tuple[Recommendation, ...]

    def row(self, device: str) -> DeviceRow:
        for r in self.rows:
            if r.device == device:
                return r
        raise KeyError(device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "batch": self.batch, "dtype": self.dtype, "runtime": self.runtime,
            "flops": self.flops, "params": self.params, "weight_bytes": self.weight_bytes,
            "rows": [r.to_dict() for r in self.rows],
            "excluded": [e.to_dict() for e in self.excluded],
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


@dataclass(frozen=True)
class SourceRef:
    title: str
    reference: str  # url, or a document reference when there is no url
    fields: tuple[str, ...]
    retrieved: str | None

    @property
    def is_url(self) -> bool:
        return self.reference.startswith(("http://", "https://"))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fields"] = list(self.fields)
        return out


@dataclass(frozen=True)
class DeviceSources:
    device: str
    device_name: str
    sources: tuple[SourceRef, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "device_name": self.device_name,
                "sources": [s.to_dict() for s in self.sources]}


@dataclass(frozen=True)
class ReportData:
    title: str
    generated: str  # ISO date
    version: str
    runtime: str
    tier: str | None  # requested tier; None = calibrated where available, else datasheet
    costs: CostAssumptions
    budget_usd: float | None
    cost_formula: str
    sections: tuple[ModelSection, ...]
    sources: tuple[DeviceSources, ...]
    error_bands: dict[str, str] = field(default_factory=dict)  # tier -> stated error band

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "generated": self.generated, "version": self.version,
            "runtime": self.runtime, "tier": self.tier,
            "assumptions": {**self.costs.to_dict(), "budget_usd": self.budget_usd,
                            "cost_formula": self.cost_formula},
            "models": [s.to_dict() for s in self.sections],
            "sources": [s.to_dict() for s in self.sources],
            "error_bands": dict(self.error_bands),
        }


class ReportInputError(RooflineError):
    """The report was asked for nothing (no model, no device)."""


def device_row(p: Prediction, costs: CostAssumptions) -> DeviceRow:
    cost = inference_cost(p.throughput_per_s, p.energy.energy_per_item_j, p.price_usd, costs)
    notes = list(p.notes) + ([p.energy.note] if p.energy.note else []) + ([p.memory.note] if p.memory.note else [])
    return DeviceRow(
        device=p.device, device_name=p.device_name, kind=p.kind,
        latency_s=p.latency_s, throughput_per_s=p.throughput_per_s,
        energy_per_item_j=p.energy.energy_per_item_j, power_w=p.energy.power_w, price_usd=p.price_usd,
        purchase_usd_per_million=cost.purchase_usd_per_million, energy_usd_per_million=cost.energy_usd_per_million,
        cost_usd_per_million=cost.total_usd_per_million, cost_basis=cost.basis,
        memory_required_bytes=p.memory.required_bytes, memory_available_bytes=p.memory.available_bytes,
        memory_headroom_bytes=p.memory.headroom_bytes, fits=p.memory.fits,
        tier=p.tier, bound=p.bound, flops=p.flops, bytes=p.bytes, achieved_flops_per_s=p.achieved_flops_per_s,
        peak_flops_per_s=p.peak_flops_per_s, bandwidth_bytes_per_s=p.bandwidth_bytes_per_s, notes=tuple(notes),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def recommend(rows: Sequence[DeviceRow], budget_usd: float | None) -> tuple[Recommendation, ...]:
    """The device to buy for each objective: fastest, cheapest per inference, least energy per
    inference, and (with a budget) the fastest whose purchase price is within it."""
    out: list[Recommendation] = []
    if not rows:
        return ()
    fastest = min(rows, key=lambda r: r.latency_s)
    out.append(Recommendation("fastest", "Fastest", fastest.device, fastest.device_name, fastest.latency_s, "s",
                              f"{fastest.device_name}: {_ms(fastest.latency_s)} per batch, "
                              f"{fastest.throughput_per_s:,.1f} inferences/s."))
    full = [r for r in rows if r.cost_basis == BASIS_FULL]
    if full:
        best = min(full, key=lambda r: (r.cost_usd_per_million, r.latency_s))
        out.append(Recommendation("cheapest", "Cheapest per inference", best.device, best.device_name,
                                  best.cost_usd_per_million, "usd_per_million",
                                  f"{best.device_name}: ${best.cost_usd_per_million:,.4g} per million inferences "
                                  f"(purchase ${best.purchase_usd_per_million:,.4g} + energy "
                                  f"${best.energy_usd_per_million:,.4g}); devices without a price are not "
                                  "compared."))
    else:
        out.append(Recommendation("cheapest", "Cheapest per inference", None, None, None, "usd_per_million",
                                  "No device has both a purchase price and a power figure in the catalog: "
                                  "no full cost to compare."))
    with_energy = [r for r in rows if r.energy_per_item_j is not None]
    if with_energy:
        best = min(with_energy, key=lambda r: (r.energy_per_item_j, r.latency_s))
        out.append(Recommendation("energy", "Most energy-efficient", best.device, best.device_name,
                                  best.energy_per_item_j, "j",
                                  f"{best.device_name}: {best.energy_per_item_j:.4g} J per inference "
                                  f"({3.6e6 / best.energy_per_item_j:,.0f} inferences per kWh)."))
    else:
        out.append(Recommendation("energy", "Most energy-efficient", None, None, None, "j",
                                  "No device has a power figure in the catalog."))
    if budget_usd is not None:
        within = [r for r in rows if r.price_usd is not None and r.price_usd <= budget_usd]
        if within:
            best = min(within, key=lambda r: r.latency_s)
            out.append(Recommendation("budget", f"Best under ${budget_usd:,.0f}", best.device, best.device_name,
                                      best.latency_s, "s",
                                      f"{best.device_name} (${best.price_usd:,.0f}): the fastest device priced "
                                      f"at or under ${budget_usd:,.0f}, {_ms(best.latency_s)} per batch."))
        else:
            out.append(Recommendation("budget", f"Best under ${budget_usd:,.0f}", None, None, None, "s",
                                      f"No device with a catalog price at or under ${budget_usd:,.0f} runs this "
                                      "model."))
    return tuple(out)


def _sources(device: DeviceSpec) -> DeviceSources:
    refs = tuple(SourceRef(s.title, s.reference, tuple(s.fields), s.retrieved.isoformat() if s.retrieved else None)
                 for s in device.sources)
    return DeviceSources(device.id, device.name, refs)


def build_report(workloads: Sequence[Workload], devices: Iterable[DeviceSpec], *,
                 runtime: str | Runtime = Runtime.EAGER, tier: str | Tier | None = None,
                 costs: CostAssumptions | None = None, budget_usd: float | None = None,
                 title: str | None = None, generated: str | None = None) -> ReportData:
    """Rank ``devices`` for every workload and assemble the report's content."""
    workloads = list(workloads)
    devices = list(devices)
    if not workloads:
        raise ReportInputError("a report needs at least one model")
    if not devices:
        raise ReportInputError("a report needs at least one device")
    if budget_usd is not None and (not math.isfinite(budget_usd) or budget_usd < 0):
        raise ReportInputError(f"budget must be a non-negative number of USD, got {budget_usd!r}")
    runtime = parse_runtime(runtime)
    tier_value = parse_tier(tier)
    costs = costs or CostAssumptions()
    sections = []
    tiers_used: set[str] = set()
    for w in workloads:
        result = rank(w, devices, Constraints(), runtime=runtime, tier=tier_value, sort="latency")
        rows = tuple(device_row(p, costs) for p in result.ranked)
        tiers_used.update(r.tier for r in rows)
        excluded = tuple(ExcludedDevice(e.device, e.device_name, e.category, e.reason) for e in result.excluded)
        sections.append(ModelSection(w.model, w.batch, w.dtype, runtime.value, w.flops, w.params, w.weight_bytes,
                                     rows, excluded, recommend(rows, budget_usd)))
    bands = {t.value: band for t, band in ERROR_BANDS.items() if t.value in tiers_used}
    names = ", ".join(w.model for w in workloads)
    return ReportData(
        title=title or f"Device report: {names}",
        generated=generated or _dt.date.today().isoformat(),
        version=roofline.__version__,
        runtime=runtime.value,
        tier=tier_value.value if tier_value else None,
        costs=costs,
        budget_usd=budget_usd,
        cost_formula=FORMULA,
        sections=tuple(sections),
        sources=tuple(_sources(d) for d in sorted(devices, key=lambda d: d.id)),
        error_bands=bands,
    )
