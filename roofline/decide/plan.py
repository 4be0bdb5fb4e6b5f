"""Capacity planning: how many units of which device serve a request rate within the limits, and what
they cost to buy and run. One implementation for every scenario (a forward pass per request, or a
language-model request of prompt + generated tokens).

Queueing assumption (QUEUEING_ASSUMPTION, stated in every result): requests arrive evenly at
``rate``; a central batcher groups them into batches of B and hands each full batch to a free unit.
The first request of a batch waits for the B-1 that follow it, (B-1)/rate, then the batch runs for
its service time S(B) (a forward pass, or the whole request of B sequences) on a unit:

    worst-case latency(B) = (B - 1) / rate + S(B)
    requests/s per unit   = B / S(B);   units = ceil(rate / requests/s per unit)

For each device the batch sizes 1, 2, 4, ... up to ``batch_max`` are tried; those whose worst-case
latency exceeds the limit, whose memory does not fit, or that break a serving limit (TTFT, TPOT)
are dropped, and the one with the lowest total cost of ownership is kept.

Power and cost, per device (a year is 8,766 h):

    busy fraction  f = rate / (units x requests/s per unit)
    average power    = units x (f x P_run + (1 - f) x P_idle)
    peak power       = units x P_load (TDP, or the power measured under load by calibration)
    energy per year  = average power x 8,766 h;  energy cost = kWh x electricity price
    purchase         = units x price;  TCO = purchase + years x energy cost per year
    cloud            = units x USD/h x 8,766 h x years (energy included), when the cost basis is cloud
    USD per million units = TCO / (units served in ``years``) x 1e6

P_run is the predicted power while running, P_idle and P_load those the energy model used. A TCO
is complete when it has both purchase and energy (or is a cloud rent); rows with an incomplete TCO
come after every complete one and say so (``cost_complete``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from roofline.catalog import DeviceSpec
from roofline.constants import HOURS_PER_YEAR, SECONDS_PER_YEAR
from roofline.decide.costs import BASIS_CLOUD, BASIS_ENERGY_ONLY, BASIS_FULL, BASIS_NONE, BASIS_PURCHASE_ONLY, \
    COMPLETE_BASES, CostAssumptions
from roofline.decide.rank import Constraints, Exclusion, check_calibrated, screen
from roofline.errors import RooflineError
from roofline.estimation import Estimate
from roofline.predict.efficiency import Runtime, Tier, parse_runtime, parse_tier
from roofline.scenario import SERVING, Scenario

QUEUEING_ASSUMPTION = (
    "requests arrive evenly at the given rate; a central batcher fills each batch of B and sends it to a free "
    "unit, so worst-case latency = (B - 1) / rate + service time of a batch of B, and units = ceil(rate / (B / "
    "service time)); random (Poisson) arrivals add queueing delay on top, so leave headroom")


class PlanInputError(RooflineError):
    """A request rate, latency limit or batch bound out of range."""


class NoDeviceMeetsLatency(RooflineError):
    """No device meets the latency limit at any batch size; ``result`` holds the exclusions."""

    def __init__(self, message: str, result: "PlanResult"):
        super().__init__(message)
        self.result = result


def batch_sizes(batch_max: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``batch_max`` (powers of two)."""
    if isinstance(batch_max, bool) or not isinstance(batch_max, int) or batch_max < 1:
        raise PlanInputError(f"batch-max must be a positive integer, got {batch_max!r}")
    out, b = [], 1
    while b <= batch_max:
        out.append(b)
        b *= 2
    return tuple(out)


def _positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise PlanInputError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class PlanRow:
    """The cheapest way to serve the load with one device type (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    batch: int
    tier: str
    service_latency_s: float  # one batch on one unit (a forward pass, or a whole request)
    fill_latency_s: float  # (B - 1) / rate: waiting for the batch to fill
    worst_latency_s: float  # fill + service
    requests_per_s_per_unit: float
    throughput_per_unit_per_s: float  # units (inferences, tokens) per second per unit
    units: int
    busy_fraction: float
    power_w: float | None  # average draw of all units at the load
    peak_power_w: float | None  # what to provision
    unit_price_usd: float | None
    purchase_usd: float | None
    cloud_usd_per_hour: float | None  # all units, when the cost is a cloud rent
    energy_kwh_per_year: float | None
    energy_usd_per_year: float | None
    tco_usd: float | None
    cost_basis: str
    cost_complete: bool
    usd_per_million_units: float | None
    memory_required_bytes: int
    memory_available_bytes: float | None
    metrics: dict[str, float] = field(default_factory=dict)  # serving: TTFT, TPOT at this batch
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass
class PlanResult:
    model: str
    scenario: str
    unit: str
    requests_per_s: float
    p99_latency_s: float | None
    dtype: str
    runtime: str
    batches: tuple[int, ...]
    costs: CostAssumptions
    options: dict[str, Any] = field(default_factory=dict)
    assumption: str = QUEUEING_ASSUMPTION
    rows: list[PlanRow] = field(default_factory=list)  # lowest complete TCO first
    excluded: list[Exclusion] = field(default_factory=list)
    closest: dict[str, tuple[float, int]] = field(default_factory=dict)  # latency exclusions: best (worst, batch)

    def to_dataframe(self):
        from roofline.decide.sweep import to_dataframe

        return to_dataframe(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "scenario": self.scenario, "unit": self.unit, "requests_per_s": self.requests_per_s,
            "units_per_s": self.requests_per_s * self.options.get("generate", 1),
            "p99_latency_s": self.p99_latency_s, "dtype": self.dtype, "runtime": self.runtime, **self.options,
            "batches": list(self.batches), "cost_assumptions": self.costs.to_dict(), "assumption": self.assumption,
            "rows": [r.to_dict() for r in self.rows],
            "excluded": [e.to_dict() for e in self.excluded],
        }


def units_needed(rate: float, per_unit: float) -> int:
    """ceil(rate / per-unit rate), forgiving float rounding noise (3.000000000000001 -> 3)."""
    return max(1, math.ceil(rate / per_unit * (1 - 1e-12)))


def plan_row(e: Estimate, *, qps: float, costs: CostAssumptions) -> PlanRow:
    rate = qps
    """The arithmetic of the module docstring for one estimate (one device at one batch size)."""
    per_unit = e.requests_per_s
    units = units_needed(rate, per_unit)
    busy = rate / (units * per_unit)
    notes = list(e.notes)
    power = kwh = energy_usd = None
    if e.power_w is not None and e.idle_power_w is not None:
        power = units * (busy * e.power_w + (1 - busy) * e.idle_power_w)
        kwh = power * HOURS_PER_YEAR / 1000
        energy_usd = kwh * costs.electricity_usd_per_kwh
    else:
        notes.append("no power figure in the catalog: no energy cost")
    peak = units * e.load_power_w if e.load_power_w is not None else None
    purchase = units * e.price_usd if e.price_usd is not None else None
    cloud = units * e.usd_per_hour if e.usd_per_hour is not None else None
    if cloud is not None and (costs.basis == "cloud" or (costs.basis == "auto" and purchase is None)):
        tco, basis, purchase = cloud * HOURS_PER_YEAR * costs.years, BASIS_CLOUD, None
    elif costs.basis == "cloud":
        tco, basis, cloud = None, BASIS_NONE, None
    else:
        cloud = None
        if purchase is None:
            notes.append("no price in the catalog: no purchase cost")
        if purchase is not None and energy_usd is not None:
            tco, basis = purchase + costs.years * energy_usd, BASIS_FULL
        elif purchase is not None:
            tco, basis = purchase, BASIS_PURCHASE_ONLY
        elif energy_usd is not None:
            tco, basis = costs.years * energy_usd, BASIS_ENERGY_ONLY
        else:
            tco, basis = None, BASIS_NONE
    served_per_s = rate * e.scenario.units_per_run / e.scenario.requests_per_run
    per_million = tco / (served_per_s * costs.years * SECONDS_PER_YEAR) * 1e6 if tco is not None else None
    fill = (e.batch - 1) / rate
    return PlanRow(e.device, e.device_name, e.kind, e.batch, e.tier, e.latency_s, fill, fill + e.latency_s, per_unit,
                   e.throughput_per_s, units, busy, power, peak, e.price_usd, purchase, cloud, kwh, energy_usd, tco,
                   basis, basis in COMPLETE_BASES, per_million, e.memory.required_bytes, e.memory.available_bytes,
                   dict(e.metrics), tuple(notes))


def _cost_key(r: PlanRow) -> tuple:
    """Complete TCO first; then incomplete ones by their TCO; without any, units. Ties: lower latency."""
    if r.tco_usd is not None:
        return (0 if r.cost_complete else 1), r.tco_usd, r.worst_latency_s
    return 2, r.units, r.worst_latency_s


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def plan_scenarios(scenarios: Sequence[Scenario], devices: Iterable[DeviceSpec], *, qps: float,
                   p99_latency_s: float | None = None, constraints: Constraints | None = None,
                   runtime: str | Runtime | None = None, tier: str | Tier | None = None,
                   costs: CostAssumptions | None = None, host_memory_bytes: float | None = None) -> PlanResult:
    """Plan from already-traced scenarios of one model, one per batch size (pure).

    ``constraints``: serving limits (max_ttft_s, max_tpot_s) checked at each batch size.
    Raises NoDeviceMeetsLatency when a latency limit excludes every device that could run the model.
    """
    _positive("the request rate", qps)
    _positive("the latency limit", p99_latency_s)
    rate = qps
    costs = costs or CostAssumptions()
    constraints = constraints or Constraints()
    scenarios = sorted(scenarios, key=lambda s: s.batch)
    if not scenarios:
        raise PlanInputError("a plan needs at least one batch size")
    if constraints.max_ttft_s is not None or constraints.max_tpot_s is not None:
        if scenarios[0].kind != SERVING:
            raise RooflineError(f"--ttft/--tpot limits apply to language-model serving, not to {scenarios[0].model!r}")
    first = scenarios[0]
    runtime = parse_runtime(runtime or first.default_runtime)
    tier = parse_tier(tier)
    result = PlanResult(first.model, first.kind, first.unit, float(rate), p99_latency_s, first.dtype, runtime.value,
                        tuple(s.batch for s in scenarios), costs,
                        {k: v for k, v in first.options.items() if k != "batch"})
    devices = list(devices)
    check_calibrated(devices, tier, runtime.value, constraints.kinds)
    for device in devices:
        candidates: list[PlanRow] = []
        unusable: Exclusion | None = None
        too_big: Exclusion | None = None
        closest: PlanRow | None = None
        broken: str | None = None
        for s in scenarios:
            screened = screen(s, device, runtime=runtime, tier=tier, host_memory_bytes=host_memory_bytes)
            if isinstance(screened, Exclusion):
                if screened.category == "memory":
                    too_big = too_big or screened
                    continue
                unusable = screened
                break
            row = plan_row(screened, qps=rate, costs=costs)
            limits = [(name, value, label) for name, value, label in (
                ("ttft_s", constraints.max_ttft_s, "time to first token"),
                ("tpot_s", constraints.max_tpot_s, "time per output token")) if value is not None]
            problems = [f"{label} {_seconds(row.metrics[name])} > {_seconds(value)}" for name, value, label in limits
                        if row.metrics[name] > value]
            if problems:
                broken = broken or f"batch {s.batch}: " + "; ".join(problems)
                continue
            if closest is None or row.worst_latency_s < closest.worst_latency_s:
                closest = row
            if p99_latency_s is None or row.worst_latency_s <= p99_latency_s:
                candidates.append(row)
        if candidates:
            result.rows.append(min(candidates, key=_cost_key))
        elif unusable is not None and closest is None:
            result.excluded.append(unusable)
        elif closest is not None:
            result.excluded.append(Exclusion(device.id, device.name, "latency",
                                             f"best worst-case latency {_seconds(closest.worst_latency_s)} (batch "
                                             f"{closest.batch}) > {_seconds(p99_latency_s)}"))
            result.closest[device.id] = (closest.worst_latency_s, closest.batch)
        elif broken is not None:
            result.excluded.append(Exclusion(device.id, device.name, "latency", broken))
        else:
            result.excluded.append(too_big or Exclusion(device.id, device.name, "memory", "does not fit"))
    result.rows.sort(key=_cost_key)
    if not result.rows and p99_latency_s is not None and result.closest:
        device, (worst, batch) = min(result.closest.items(), key=lambda kv: kv[1][0])
        raise NoDeviceMeetsLatency(
            f"no device meets a worst-case latency of {_seconds(p99_latency_s)} at {rate:g} requests/s; the closest "
            f"is {device} at {_seconds(worst)} (batch {batch})", result)
    return result


def plan(model: Any, *, qps: float, p99_latency_s: float | None = None, devices: Iterable[Any] | None = None,
         kinds: Iterable[str] | None = None, batch_max: int = 64, dtype: str | None = None,
         runtime: str | Runtime | None = None, tier: str | Tier | None = None, costs: CostAssumptions | None = None,
         constraints: Constraints | None = None, options: Any = None, catalog: Any = None) -> PlanResult:
    """Serve ``qps`` requests/s of ``model`` within ``p99_latency_s`` (worst case, see the module docstring):
    per device the best batch size, units needed, power and cost, lowest complete TCO first.

    >>> import roofline
    >>> result = roofline.plan("resnet50", qps=500, p99_latency_s=0.05, kinds=["gpu"])  # doctest: +SKIP
    >>> result.rows[0].device, result.rows[0].units, result.rows[0].tco_usd  # doctest: +SKIP
    """
    from roofline.resolve import ScenarioSource, resolve_devices

    _positive("the request rate", qps)
    _positive("the latency limit", p99_latency_s)
    batches = batch_sizes(batch_max)
    specs = resolve_devices(devices, catalog=catalog, kinds=kinds)
    source = ScenarioSource(model, options)
    scenarios = [source.scenario(b, dtype) for b in batches]
    return plan_scenarios(scenarios, specs, qps=qps, p99_latency_s=p99_latency_s, constraints=constraints,
                          runtime=runtime, tier=tier, costs=costs)


__all__ = ["plan", "plan_scenarios", "plan_row", "batch_sizes", "units_needed", "PlanRow", "PlanResult",
           "PlanInputError", "NoDeviceMeetsLatency", "QUEUEING_ASSUMPTION"]
