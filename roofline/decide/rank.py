"""Rank the devices that can run a scenario and meet the constraints ("which device?").

One screen for every scenario: a device of another kind is skipped; one that cannot run the
scenario (no path for its dtype, a missing figure), that does not fit in memory, or that breaks a
constraint is an :class:`Exclusion` with its category and detail; the rest are sorted by one of
:data:`SORT_KEYS`. The scenario is traced once; each device is a few numpy operations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from roofline.catalog import DeviceSpec
from roofline.decide.costs import Cost, CostAssumptions, cost_of
from roofline.errors import RooflineError
from roofline.estimation import Estimate, estimate_scenario
from roofline.predict import DeviceUnusable
from roofline.predict.efficiency import Runtime, Tier
from roofline.resolve import load_scenario
from roofline.scenario import SERVING, Scenario


@dataclass(frozen=True)
class Constraints:
    """Filters applied after estimation; None means unconstrained. SI units.

    ``max_latency_s`` bounds one run (a forward pass of the batch; a whole request when serving);
    ``min_throughput_per_s`` the units per second; ``max_ttft_s`` / ``max_tpot_s`` apply to serving.
    """

    kinds: tuple[str, ...] | None = None
    max_latency_s: float | None = None
    min_throughput_per_s: float | None = None
    max_ttft_s: float | None = None
    max_tpot_s: float | None = None
    max_power_w: float | None = None
    max_price_usd: float | None = None


@dataclass(frozen=True)
class Exclusion:
    """A device left out, and why: ``category`` is one of memory, dtype, runtime, missing spec, latency,
    throughput, power, price; ``detail`` says it in words."""

    device: str
    device_name: str
    category: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "device_name": self.device_name, "category": self.category,
                "detail": self.detail}


@dataclass(frozen=True)
class Ranked:
    """One ranked device: its estimate and its cost."""

    estimate: Estimate
    cost: Cost

    def to_dict(self, *, include_ops: bool = False) -> dict[str, Any]:
        return {**self.estimate.to_dict(include_ops=include_ops), **self.cost.to_dict()}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class SortKey:
    name: str
    description: str
    value: Callable[[Ranked], float | None]
    descending: bool = False
    serving_only: bool = False


_KEYS = (
    SortKey("latency", "latency of one run (a batch, or a whole request)", lambda r: r.estimate.latency_s),
    SortKey("throughput", "units per second (inferences, or generated tokens)",
            lambda r: r.estimate.throughput_per_s, descending=True),
    SortKey("energy", "energy per unit", lambda r: r.estimate.energy_per_unit_j),
    SortKey("price", "purchase price", lambda r: r.estimate.price_usd),
    SortKey("cost", "cost per million units (complete costs first)", lambda r: r.cost.total_usd_per_million),
    SortKey("perf-per-dollar", "units per second per USD of purchase price",
            lambda r: _ratio(r.estimate.throughput_per_s, r.estimate.price_usd), descending=True),
    SortKey("perf-per-watt", "units per second per watt", lambda r: _ratio(r.estimate.throughput_per_s,
                                                                           r.estimate.power_w), descending=True),
    SortKey("tokens-per-s", "decode tokens per second of the batch", lambda r: r.estimate.metrics.get("tokens_per_s"),
            descending=True, serving_only=True),
    SortKey("tokens-per-s-per-gpu", "decode tokens per second of the batch per GPU of the replica",
            lambda r: _ratio(r.estimate.metrics.get("tokens_per_s"), r.estimate.scenario.gpus), descending=True,
            serving_only=True),
    SortKey("ttft", "time to first token", lambda r: r.estimate.metrics.get("ttft_s"), serving_only=True),
    SortKey("tpot", "time per output token", lambda r: r.estimate.metrics.get("tpot_s"), serving_only=True),
)
SORT_KEYS: dict[str, SortKey] = {k.name: k for k in _KEYS}


def default_sort(scenario: Scenario) -> str:
    return "tokens-per-s" if scenario.kind == SERVING else "latency"


def sort_key(name: str, scenario: Scenario) -> Callable[[Ranked], tuple]:
    """Rows lacking the figure go last, in latency order; under ``cost``, incomplete costs follow complete ones."""
    key = SORT_KEYS.get(name)
    if key is None:
        raise RooflineError(f"unknown sort key {name!r}: choose {', '.join(SORT_KEYS)}")
    if key.serving_only and scenario.kind != SERVING:
        raise RooflineError(f"--sort {name} applies to language-model serving, not to {scenario.model!r}")

    def order(r: Ranked) -> tuple:
        v = key.value(r)
        if v is None:
            return 2, 0.0, r.estimate.latency_s
        group = 1 if name == "cost" and not r.cost.complete else 0
        return group, -v if key.descending else v, r.estimate.latency_s
    return order


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def violations(e: Estimate, c: Constraints) -> list[tuple[str, str]]:
    """(category, detail) of every constraint ``e`` breaks, or for which the catalog lacks the figure."""
    out = []
    what = "request latency" if e.scenario.kind == SERVING else "latency"
    if c.max_latency_s is not None and e.latency_s > c.max_latency_s:
        out.append(("latency", f"{what} {_seconds(e.latency_s)} > {_seconds(c.max_latency_s)}"))
    for name, limit, label in (("ttft_s", c.max_ttft_s, "time to first token"),
                               ("tpot_s", c.max_tpot_s, "time per output token")):
        if limit is None:
            continue
        value = e.metrics.get(name)
        if value is None:
            raise RooflineError(f"--max-{name[:4]} applies to language-model serving, not to {e.model!r}")
        if value > limit:
            out.append(("latency", f"{label} {_seconds(value)} > {_seconds(limit)}"))
    if c.min_throughput_per_s is not None and e.throughput_per_s < c.min_throughput_per_s:
        out.append(("throughput", f"throughput {e.throughput_per_s:.3g} {e.unit}s/s < "
                                  f"{c.min_throughput_per_s:.3g} {e.unit}s/s"))
    if c.max_power_w is not None:
        if e.tdp_w is None:
            out.append(("missing spec", "power not in the catalog, cannot check --max-power"))
        elif e.tdp_w > c.max_power_w:
            out.append(("power", f"power {e.tdp_w:.3g} W > {c.max_power_w:.3g} W"))
    if c.max_price_usd is not None:
        if e.price_usd is None:
            out.append(("missing spec", "price not in the catalog, cannot check --max-price"))
        elif e.price_usd > c.max_price_usd:
            out.append(("price", f"price ${e.price_usd:,.0f} > ${c.max_price_usd:,.0f}"))
    return out


def screen(scenario: Scenario, device: DeviceSpec, *, runtime: str | Runtime | None, tier: str | Tier | None,
           host_memory_bytes: float | None = None) -> Estimate | Exclusion:
    """The estimate of ``scenario`` on ``device``, or why the device cannot run it or hold it."""
    try:
        e = estimate_scenario(scenario, device, runtime=runtime, tier=tier, host_memory_bytes=host_memory_bytes)
    except DeviceUnusable as exc:
        return Exclusion(device.id, device.name, exc.category, exc.detail)
    if e.memory.fits is False:
        return Exclusion(device.id, device.name, "memory", e.memory.shortfall_message())
    return e


def gpu_limit(device: DeviceSpec, max_gpus: int | None) -> int:
    """The most GPUs per replica ranking may give a device: its GPU-link domain (an HGX board: 8), capped
    by ``max_gpus``; a device without a domain figure gets ``max_gpus`` (over its host link), else one."""
    from roofline.predict.collectives import domain_size

    domain = domain_size(device)
    if device.system is not None:
        domain = device.system.count
    if domain is None:
        return max_gpus or 1
    return min(domain, max_gpus) if max_gpus else domain


def screen_gpus(scenario: Scenario, device: DeviceSpec, *, runtime: str | Runtime | None, tier: str | Tier | None,
                host_memory_bytes: float | None = None, max_gpus: int | None = None) -> Estimate | Exclusion:
    """:func:`screen`, and for a language model that does not fit one GPU the smallest tensor-parallel
    degree (a power of two up to :func:`gpu_limit`) that fits; when ``max_gpus`` exceeds the device's
    GPU-link domain, then pipeline stages of a full domain each (2, 4 ... stages, between nodes over the
    network). A scenario with its own layout keeps it."""
    screened = screen(scenario, device, runtime=runtime, tier=tier, host_memory_bytes=host_memory_bytes)
    plan = scenario.parallel
    if not (isinstance(screened, Exclusion) and screened.category == "memory" and plan is not None
            and not plan.is_multi and plan.reshard is not None) or device.memory.unified:
        return screened  # unified-memory SoCs are one device
    from roofline.llm.parallel import Parallelism

    limit = gpu_limit(device, max_gpus)
    layouts = []
    tp = 2
    while tp <= limit:
        layouts.append((tp, 1))
        tp *= 2
    # beyond one domain (--max-gpus above it): pipeline stages of a full domain each, over the network
    from roofline.predict.collectives import domain_size

    domain = domain_size(device)
    pp = 2
    while domain and max_gpus and domain * pp <= max_gpus:
        layouts.append((domain, pp))
        pp *= 2
    last = screened
    for tp, pp in layouts:
        try:
            sharded = plan.reshard(Parallelism(tp, pp))
        except RooflineError:  # tp does not divide the heads, or pp the layers: the next layout
            continue
        found = screen(sharded, device, runtime=runtime, tier=tier, host_memory_bytes=host_memory_bytes)
        if isinstance(found, Estimate):
            return found
        if found.category != "memory":
            return screened  # several GPUs cannot be costed here (no link figure): one GPU's shortfall stands
        last = found
    if last is screened:
        return screened
    most = max(t * p for t, p in layouts)
    return Exclusion(device.id, device.name, "memory", f"{last.detail} (tried up to {most} GPUs)")


def check_top(top: int | None) -> None:
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise RooflineError(f"--top must be a positive integer, got {top!r}")


@dataclass
class RankResult:
    scenario: Scenario
    runtime: str
    sort: str
    costs: CostAssumptions
    ranked: list[Ranked] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    empty_reason: str | None = None  # why nothing is ranked, in words

    @property
    def model(self) -> str:
        return self.scenario.model

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "model": s.model, "scenario": s.kind, "unit": s.unit, "batch": s.batch, "dtype": s.dtype, **s.options,
            "runtime": self.runtime, "sort": self.sort, "cost_assumptions": self.costs.to_dict(),
            "ranked": [r.to_dict() for r in self.ranked],
            "excluded": [e.to_dict() for e in self.excluded],
            "empty_reason": self.empty_reason,
        }


def check_calibrated(devices: Iterable[DeviceSpec], tier: str | Tier | None, runtime: str,
                     kinds: tuple[str, ...] | None = None) -> None:
    """``--tier calibrated`` where no device has a calibration for the runtime would exclude every
    device one by one: it is refused in one line instead."""
    if tier is None or str(getattr(tier, "value", tier)) != Tier.CALIBRATED.value:
        return
    runtime = str(getattr(runtime, "value", runtime))
    wanted = [d for d in devices if not kinds or d.kind in kinds]
    if wanted and not any(runtime in (d.calibration or {}) for d in wanted):
        raise RooflineError(f"--tier calibrated: none of the {len(wanted)} devices has a calibration for the "
                            f"{runtime} runtime (run `roofline calibrate` on a device and pass its file with "
                            "--catalog, or use --tier datasheet)")


def rank(model: Any, devices: Iterable[DeviceSpec] | None = None, constraints: Constraints | None = None, *,
         runtime: str | Runtime | None = None, tier: str | Tier | None = None, sort: str | None = None,
         top: int | None = None, costs: CostAssumptions | None = None,
         host_memory_bytes: float | None = None, max_gpus: int | None = None) -> RankResult:
    """Estimate ``model`` (a Scenario, a Workload or a name) on every device of the wanted kinds, exclude
    those that cannot run it, do not fit or break a constraint (each with its reason), and sort the rest.

    A language model that does not fit one GPU gets the smallest tensor-parallel degree that fits, up to the
    device's GPU-link domain or ``max_gpus`` (:func:`screen_gpus`)."""
    scenario = model if isinstance(model, Scenario) else load_scenario(model)
    constraints = constraints or Constraints()
    costs = costs or CostAssumptions()
    check_top(top)
    if max_gpus is not None and (isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or max_gpus < 1):
        raise RooflineError(f"--max-gpus must be a positive integer, got {max_gpus!r}")
    sort = sort or default_sort(scenario)
    order = sort_key(sort, scenario)
    if devices is None:
        from roofline.catalog import load_catalog

        devices = load_catalog()
    result = RankResult(scenario, str(runtime or scenario.default_runtime), sort, costs)
    devices = list(devices)
    check_calibrated(devices, tier, result.runtime, constraints.kinds)
    seen = 0
    for device in devices:
        if constraints.kinds and device.kind not in constraints.kinds:
            continue
        seen += 1
        screened = screen_gpus(scenario, device, runtime=runtime, tier=tier, host_memory_bytes=host_memory_bytes,
                               max_gpus=max_gpus)
        if isinstance(screened, Exclusion):
            result.excluded.append(screened)
            continue
        problems = violations(screened, constraints)
        if problems:
            result.excluded.append(Exclusion(device.id, device.name, problems[0][0], "; ".join(m for _, m in problems)))
            continue
        result.ranked.append(Ranked(screened, cost_of(screened, costs)))
    result.ranked.sort(key=order)
    if top is not None:
        result.ranked = result.ranked[:top]
    if not result.ranked:
        if not seen:
            result.empty_reason = "no device of the wanted kind in the catalog"
        else:
            categories = sorted({e.category for e in result.excluded})
            result.empty_reason = f"every device was excluded ({', '.join(categories)}): see the exclusions"
    return result


__all__ = ["rank", "check_calibrated", "Constraints", "Exclusion", "Ranked", "RankResult", "SORT_KEYS", "SortKey", "default_sort",
           "sort_key", "violations", "screen", "screen_gpus", "gpu_limit", "check_top"]
