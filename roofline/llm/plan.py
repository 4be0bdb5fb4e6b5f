"""Capacity planning for LLM serving: to serve a target of requests/s or tokens/s, how many units of
each device, at what power and cost.

Per device, the batch sizes 1, 2, 4, ... up to ``batch_max`` are tried (one trace per batch size,
reused for every device). A unit serves batches of B requests back to back (static batching, the
queueing assumption of :mod:`roofline.planning`):

    request latency(B) = TTFT(B) + (generate - 1) x TPOT(B)
    requests/s per unit = B / request latency(B);  output tokens/s per unit = B x generate / request latency
    worst-case latency  = (B - 1) / request rate + request latency(B)   (waiting for the batch to fill)
    units               = ceil(request rate / requests/s per unit)

Batch sizes that do not fit in memory (weights + KV cache of B sequences at the full context) or
break a limit (TTFT, TPOT, worst-case latency) are dropped; of the rest the one with the lowest
total cost of ownership is kept (fewest units, then least energy, for devices without a price):

    busy fraction f = request rate / (units x requests/s per unit)
    average power   = units x (f x P_run + (1 - f) x P_idle);  peak power = units x TDP
    energy per year = average power x 8,766 h;  TCO = purchase (units x price) + years x energy cost
    USD per million tokens = TCO / (output tokens/s x years x 31,557,600 s) x 1e6

P_run is the predicted average board power over a request; P_idle the catalog's idle figure, or 30 %
of TDP when none is published.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.llm.estimate import CostModel, LlmPrediction, estimate_phases, make_request, trace_request
from roofline.llm.model import LlmModel, load_llm
from roofline.predict import DeviceUnusable
from roofline.predict.efficiency import Runtime, Tier, parse_runtime, parse_tier
from roofline.predict.energy import STATIC_SHARE_DEFAULT

HOURS_PER_YEAR = 365.25 * 24
SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600

ASSUMPTION = ("static batching: each unit serves batches of B requests back to back; requests arrive evenly, so "
              "worst-case latency = (B - 1) / request rate + request latency of a batch of B, and units = "
              "ceil(request rate / (B / request latency)); random arrivals add queueing delay, so leave headroom")


class LlmPlanInputError(RooflineError):
    """A target rate, limit or batch bound out of range."""


@dataclass(frozen=True)
class LlmPlanRow:
    """The cheapest way to meet the target with one device type (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    batch: int
    tier: str
    units: int
    ttft_s: float
    tpot_s: float
    request_latency_s: float
    worst_latency_s: float  # fill + request latency
    requests_per_s_per_unit: float
    tokens_per_s_per_unit: float  # output tokens, prefill time included
    busy_fraction: float
    power_w: float | None  # average draw of all units at the target load
    peak_power_w: float | None  # units x TDP
    unit_price_usd: float | None
    purchase_usd: float | None
    energy_kwh_per_year: float | None
    energy_usd_per_year: float | None
    tco_usd: float | None
    usd_per_million_tokens: float | None
    memory_required_bytes: int
    memory_available_bytes: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LlmPlanExclusion:
    device: str
    device_name: str
    category: str  # memory, latency, dtype, runtime, missing spec
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LlmPlanResult:
    model: str
    requests_per_s: float
    tokens_per_s: float  # output tokens/s the target implies
    prompt: int
    generate: int
    dtype: str
    weights: str
    kv_dtype: str
    runtime: str
    batches: tuple[int, ...]
    max_ttft_s: float | None
    max_tpot_s: float | None
    max_latency_s: float | None
    electricity_usd_per_kwh: float
    years: float
    assumption: str = ASSUMPTION
    rows: list[LlmPlanRow] = field(default_factory=list)  # lowest TCO first
    excluded: list[LlmPlanExclusion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("model", "requests_per_s", "tokens_per_s", "prompt", "generate", "dtype",
                                              "weights", "kv_dtype", "runtime", "max_ttft_s", "max_tpot_s",
                                              "max_latency_s", "electricity_usd_per_kwh", "years", "assumption")}
        out["batches"] = list(self.batches)
        out["rows"] = [r.to_dict() for r in self.rows]
        out["excluded"] = [e.to_dict() for e in self.excluded]
        return out


def _positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise LlmPlanInputError(f"{name} must be a positive number, got {value!r}")


def _batches(batch_max: int, batches: Sequence[int] | None) -> tuple[int, ...]:
    if batches is not None:
        out = tuple(batches)
        if not out or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in out):
            raise LlmPlanInputError(f"batch sizes must be positive integers, got {batches!r}")
        return out
    if isinstance(batch_max, bool) or not isinstance(batch_max, int) or batch_max < 1:
        raise LlmPlanInputError(f"batch-max must be a positive integer, got {batch_max!r}")
    out, b = [], 1
    while b <= batch_max:
        out.append(b)
        b *= 2
    return tuple(out)


def _resolve_devices(devices, catalog, kinds) -> list[DeviceSpec]:
    if catalog is None:
        from roofline.catalog import load_catalog

        catalog = load_catalog()
    kinds = tuple(kinds or ())
    specs = list(catalog) if devices is None else [d if isinstance(d, DeviceSpec) else catalog.get(str(d).strip())
                                                   for d in devices]
    return [d for d in specs if not kinds or d.kind in kinds]


def _row(p: LlmPrediction, device: DeviceSpec, rps: float, costs: CostModel) -> LlmPlanRow:
    per_unit = p.requests_per_s
    units = max(1, math.ceil(rps / per_unit - 1e-9))
    busy = rps / (units * per_unit)
    tdp = device.power.tdp_w
    power = energy_kwh = energy_usd = None
    if p.power_w is not None and tdp is not None:
        idle = device.power.idle_w if device.power.idle_w is not None else STATIC_SHARE_DEFAULT * tdp
        power = units * (busy * p.power_w + (1 - busy) * idle)
        energy_kwh = power * HOURS_PER_YEAR / 1000
        energy_usd = energy_kwh * costs.electricity_usd_per_kwh
    price = device.price.launch_usd
    purchase = units * price if price is not None else None
    if purchase is not None and energy_usd is not None:
        tco = purchase + costs.years * energy_usd
    elif purchase is not None:
        tco = purchase
    elif energy_usd is not None:
        tco = costs.years * energy_usd
    else:
        tco = None
    tokens = rps * p.request.generate
    per_mtok = tco / (tokens * costs.years * SECONDS_PER_YEAR) * 1e6 if tco is not None else None
    return LlmPlanRow(
        device=device.id, device_name=device.name, kind=device.kind, batch=p.request.batch, tier=p.tier, units=units,
        ttft_s=p.ttft_s, tpot_s=p.tpot_s, request_latency_s=p.request_latency_s,
        worst_latency_s=(p.request.batch - 1) / rps + p.request_latency_s,
        requests_per_s_per_unit=per_unit, tokens_per_s_per_unit=p.output_tokens_per_s, busy_fraction=busy,
        power_w=power, peak_power_w=units * tdp if tdp is not None else None, unit_price_usd=price,
        purchase_usd=purchase, energy_kwh_per_year=energy_kwh, energy_usd_per_year=energy_usd, tco_usd=tco,
        usd_per_million_tokens=per_mtok, memory_required_bytes=p.memory.required_bytes,
        memory_available_bytes=p.memory.available_bytes)


def _choice(row: LlmPlanRow) -> tuple:
    if row.purchase_usd is not None and row.tco_usd is not None:
        return 0, row.tco_usd, row.units
    return 1, row.units, row.power_w if row.power_w is not None else math.inf


def plan_llm(model: str | LlmModel, *, requests_per_s: float | None = None, tokens_per_s: float | None = None,
             prompt: int | None = None, generate: int | None = None, dtype: str | None = None,
             weights: str | None = None, kv_dtype: str | None = None,
             devices: Iterable[DeviceSpec | str] | None = None, catalog: Any = None,
             kinds: Iterable[str] | None = None, batch_max: int = 64, batches: Sequence[int] | None = None,
             max_ttft_s: float | None = None, max_tpot_s: float | None = None, max_latency_s: float | None = None,
             runtime: str | Runtime = Runtime.COMPILED, tier: str | Tier | None = None,
             electricity_usd_per_kwh: float = 0.15, years: float = 3.0) -> LlmPlanResult:
    """Per device, the units, batch, power and cost that serve ``requests_per_s`` requests (or
    ``tokens_per_s`` generated tokens) of ``prompt`` + ``generate`` tokens within the limits.

    ``model``: ``"hf:llama-3-8b"``, ``"hf:path/to/config.json"`` or an LlmModel. Exactly one target.
    """
    if (requests_per_s is None) == (tokens_per_s is None):
        raise LlmPlanInputError("give exactly one target: requests per second or generated tokens per second")
    for name, value in (("requests per second", requests_per_s), ("tokens per second", tokens_per_s),
                        ("max TTFT", max_ttft_s), ("max TPOT", max_tpot_s), ("max latency", max_latency_s)):
        _positive(name, value)
    runtime, tier = parse_runtime(runtime), parse_tier(tier)
    costs = CostModel(electricity_usd_per_kwh, years, 1.0)
    base = make_request(prompt=prompt, generate=generate, batch=1, dtype=dtype, weights=weights, kv_dtype=kv_dtype)
    rps = requests_per_s if requests_per_s is not None else tokens_per_s / base.generate
    sizes = _batches(batch_max, batches)
    llm = load_llm(model) if isinstance(model, str) else model
    llm.check_context(base.context)
    specs = _resolve_devices(devices, catalog, kinds)
    result = LlmPlanResult(f"hf:{llm.name}", rps, rps * base.generate, base.prompt, base.generate, base.dtype,
                           base.weights, base.kv_dtype, runtime.value, sizes, max_ttft_s, max_tpot_s, max_latency_s,
                           electricity_usd_per_kwh, years)
    from dataclasses import replace

    phases = {b: None for b in sizes}
    best: dict[str, LlmPlanRow] = {}
    reasons: dict[str, tuple[str, str]] = {}
    for b in sizes:
        for device in specs:
            if device.id in reasons and reasons[device.id][0] not in ("memory", "latency"):
                continue
            if phases[b] is None:
                phases[b] = trace_request(llm, replace(base, batch=b))
            try:
                p = estimate_phases(phases[b], device, runtime=runtime, tier=tier, costs=costs)
            except DeviceUnusable as exc:
                reasons[device.id] = (exc.category, str(exc).split(": ", 1)[-1])
                continue
            if p.memory.fits is False:
                reasons.setdefault(device.id, ("memory", p.memory.shortfall_message()))
                continue
            row = _row(p, device, rps, costs)
            problems = []
            if max_ttft_s is not None and row.ttft_s > max_ttft_s:
                problems.append(f"time to first token {row.ttft_s * 1e3:.3g} ms > {max_ttft_s * 1e3:.3g} ms")
            if max_tpot_s is not None and row.tpot_s > max_tpot_s:
                problems.append(f"time per output token {row.tpot_s * 1e3:.3g} ms > {max_tpot_s * 1e3:.3g} ms")
            if max_latency_s is not None and row.worst_latency_s > max_latency_s:
                problems.append(f"worst-case latency {row.worst_latency_s:.3g} s > {max_latency_s:.3g} s")
            if problems:
                if device.id not in best and (device.id not in reasons or reasons[device.id][0] == "memory"):
                    reasons[device.id] = ("latency", f"batch {b}: " + "; ".join(problems))
                continue
            if device.id not in best or _choice(row) < _choice(best[device.id]):
                best[device.id] = row
    for device in specs:
        if device.id in best:
            result.rows.append(best[device.id])
        elif device.id in reasons:
            category, reason = reasons[device.id]
            result.excluded.append(LlmPlanExclusion(device.id, device.name, category, reason))
    result.rows.sort(key=_choice)
    return result


__all__ = ["plan_llm", "LlmPlanRow", "LlmPlanExclusion", "LlmPlanResult", "LlmPlanInputError", "ASSUMPTION"]
