"""The report's content as plain data: one ranking per model, costs, recommendations, sources.

Pure: scenarios and devices in, a :class:`ReportData` out. The per-device numbers are those of
:func:`roofline.decide.rank.rank` (the same estimates and costs ``roofline rank --json`` prints);
the renderers (report.html, report.markdown) and charts (report.charts) only format them.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import roofline
from roofline._human import per_second
from roofline.catalog import DeviceSpec
from roofline.decide.costs import BASIS_FULL, COMPLETE_BASES, FORMULA, CostAssumptions
from roofline.decide.rank import Constraints, Ranked, rank
from roofline.errors import RooflineError
from roofline.predict import ERROR_BANDS
from roofline.predict.efficiency import Runtime, Tier, parse_tier
from roofline.resolve import load_scenario
from roofline.scenario import Scenario

OBJECTIVES = ("fastest", "cheapest", "energy", "budget")


@dataclass(frozen=True)
class DeviceRow:
    """One device's numbers for one model (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    unit: str  # "inference" or "token"
    latency_s: float  # one run: a batch, or a whole request
    throughput_per_s: float  # units per second
    energy_per_unit_j: float | None
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
    metrics: dict[str, float] = field(default_factory=dict)  # serving: TTFT, TPOT, tokens/s
    notes: tuple[str, ...] = ()

    def value(self, name: str) -> Any:
        """A field, or a named metric of the scenario (``ttft_s``...)."""
        return self.metrics.get(name) if name in self.metrics else getattr(self, name)

    @property
    def cost_usd_per_unit(self) -> float | None:
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
class ModelSection:
    model: str
    scenario: str  # "forward" or "serving"
    unit: str
    batch: int
    dtype: str
    runtime: str
    flops: int
    params: int
    weight_bytes: int
    rows: tuple[DeviceRow, ...]  # fastest first (rank's latency order)
    excluded: tuple[Any, ...]  # roofline.decide.rank.Exclusion
    recommendations: tuple[Recommendation, ...]
    options: dict[str, Any] = field(default_factory=dict)  # serving: prompt, generate, formats

    def row(self, device: str) -> DeviceRow:
        for r in self.rows:
            if r.device == device:
                return r
        raise KeyError(device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "scenario": self.scenario, "unit": self.unit, "batch": self.batch,
            "dtype": self.dtype, "runtime": self.runtime, **self.options,
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


def device_row(ranked: Ranked) -> DeviceRow:
    e, cost = ranked.estimate, ranked.cost
    p = e.prediction  # the roofline chart's point: the first phase (a forward pass, or the prefill)
    notes = list(e.notes) + ([e.memory.note] if e.memory.note and e.memory.note not in e.notes else [])
    return DeviceRow(
        device=e.device, device_name=e.device_name, kind=e.kind, unit=e.unit,
        latency_s=e.latency_s, throughput_per_s=e.throughput_per_s,
        energy_per_unit_j=e.energy_per_unit_j, power_w=e.power_w, price_usd=e.price_usd,
        purchase_usd_per_million=cost.purchase_usd_per_million, energy_usd_per_million=cost.energy_usd_per_million,
        cost_usd_per_million=cost.total_usd_per_million, cost_basis=cost.basis,
        memory_required_bytes=e.memory.required_bytes, memory_available_bytes=e.memory.available_bytes,
        memory_headroom_bytes=e.memory.headroom_bytes, fits=e.memory.fits,
        tier=e.tier, bound=e.bound, flops=p.flops, bytes=p.bytes, achieved_flops_per_s=p.achieved_flops_per_s,
        peak_flops_per_s=p.peak_flops_per_s, bandwidth_bytes_per_s=p.bandwidth_bytes_per_s, metrics=dict(e.metrics),
        notes=tuple(notes),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def recommend(rows: Sequence[DeviceRow], budget_usd: float | None) -> tuple[Recommendation, ...]:
    """The device to buy for each objective: fastest, cheapest per unit, least energy per unit, and
    (with a budget) the fastest whose purchase price is within it."""
    out: list[Recommendation] = []
    if not rows:
        return ()
    unit = rows[0].unit
    run = "per request" if unit == "token" else "per batch"
    fastest = min(rows, key=lambda r: r.latency_s)
    out.append(Recommendation("fastest", "Fastest", fastest.device, fastest.device_name, fastest.latency_s, "s",
                              f"{fastest.device_name}: {_ms(fastest.latency_s)} {run}, "
                              f"{per_second(fastest.throughput_per_s)} {unit}s/s."))
    full = [r for r in rows if r.cost_basis in COMPLETE_BASES]
    if full:
        best = min(full, key=lambda r: (r.cost_usd_per_million, r.latency_s))
        parts = (f"purchase ${best.purchase_usd_per_million:,.4g} + energy ${best.energy_usd_per_million:,.4g}"
                 if best.cost_basis == BASIS_FULL else best.cost_basis)
        out.append(Recommendation("cheapest", f"Cheapest per {unit}", best.device, best.device_name,
                                  best.cost_usd_per_million, "usd_per_million",
                                  f"{best.device_name}: ${best.cost_usd_per_million:,.4g} per million {unit}s "
                                  f"({parts}); devices without a price are not compared."))
    else:
        out.append(Recommendation("cheapest", f"Cheapest per {unit}", None, None, None, "usd_per_million",
                                  "No device has both a purchase price and a power figure in the catalog: "
                                  "no full cost to compare."))
    with_energy = [r for r in rows if r.energy_per_unit_j is not None]
    if with_energy:
        best = min(with_energy, key=lambda r: (r.energy_per_unit_j, r.latency_s))
        out.append(Recommendation("energy", "Most energy-efficient", best.device, best.device_name,
                                  best.energy_per_unit_j, "j",
                                  f"{best.device_name}: {best.energy_per_unit_j:.4g} J per {unit} "
                                  f"({3.6e6 / best.energy_per_unit_j:,.0f} {unit}s per kWh)."))
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
                                      f"at or under ${budget_usd:,.0f}, {_ms(best.latency_s)} {run}."))
        else:
            out.append(Recommendation("budget", f"Best under ${budget_usd:,.0f}", None, None, None, "s",
                                      f"No device with a catalog price at or under ${budget_usd:,.0f} runs this "
                                      "model."))
    return tuple(out)


def _sources(device: DeviceSpec) -> DeviceSources:
    refs = tuple(SourceRef(s.title, s.reference, tuple(s.fields), s.retrieved.isoformat() if s.retrieved else None)
                 for s in device.sources)
    return DeviceSources(device.id, device.name, refs)


def build_report(scenarios: Sequence[Any], devices: Iterable[DeviceSpec], *,
                 runtime: str | Runtime | None = None, tier: str | Tier | None = None,
                 costs: CostAssumptions | None = None, budget_usd: float | None = None,
                 title: str | None = None, generated: str | None = None,
                 host_memory_bytes: float | None = None) -> ReportData:
    """Rank ``devices`` for every scenario (or Workload, or model name) and assemble the report's content
    (``runtime`` None: each scenario's default, eager for a forward pass and compiled for serving)."""
    scenarios = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    devices = list(devices)
    if not scenarios:
        raise ReportInputError("a report needs at least one model")
    if not devices:
        raise ReportInputError("a report needs at least one device")
    if budget_usd is not None and (not math.isfinite(budget_usd) or budget_usd < 0):
        raise ReportInputError(f"budget must be a non-negative number of USD, got {budget_usd!r}")
    tier_value = parse_tier(tier)
    costs = costs or CostAssumptions()
    sections = []
    tiers_used: set[str] = set()
    for s in scenarios:
        result = rank(s, devices, Constraints(), runtime=runtime, tier=tier_value, sort="latency", costs=costs,
                      host_memory_bytes=host_memory_bytes)
        rows = tuple(device_row(r) for r in result.ranked)
        tiers_used.update(r.tier for r in rows)
        w = s.primary
        sections.append(ModelSection(s.model, s.kind, s.unit, s.batch, s.dtype, result.runtime, w.flops, w.params,
                                     s.weight_bytes, rows, tuple(result.excluded), recommend(rows, budget_usd),
                                     {k: v for k, v in s.options.items() if k != "batch"}))
    bands = {t.value: band for t, band in ERROR_BANDS.items() if t.value in tiers_used}
    names = ", ".join(s.model for s in scenarios)
    runtimes = sorted({sec.runtime for sec in sections})
    return ReportData(
        title=title or f"Device report: {names}",
        generated=generated or _dt.date.today().isoformat(),
        version=roofline.__version__,
        runtime=runtimes[0] if len(runtimes) == 1 else ", ".join(runtimes),
        tier=tier_value.value if tier_value else None,
        costs=costs,
        budget_usd=budget_usd,
        cost_formula=FORMULA,
        sections=tuple(sections),
        sources=tuple(_sources(d) for d in sorted(devices, key=lambda d: d.id)),
        error_bands=bands,
    )
