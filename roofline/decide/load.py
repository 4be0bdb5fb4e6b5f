"""Planning for a load: how many replicas of which GPU serve a request rate of a language model under
latency SLOs, and what they cost. Each replica runs continuous batching (roofline.llm.batching).

Per device type:

    capacity per replica = goodput under the SLOs (TTFT p-quantile, TPOT), or without SLOs the
                           maximum throughput (the KV-limited concurrency)
    replicas             = ceil(rps / capacity per replica);   GPUs = replicas x GPUs per replica (TP x PP)
    operating point      = one replica at rps / replicas requests/s: concurrency, TTFT, TPOT, power
    cost per hour        = GPUs x (price / (years x 8,766 h)) + fleet power x electricity price,
                           or GPUs x the cloud price per hour (energy included)
    cost per million output tokens: the shared rule of roofline.decide.costs (unit_cost) at the fleet's
                           output rate, with the fleet busy around the clock (utilisation 1: the plan
                           sizes the fleet for the load)

Rows are sorted by cost per million tokens, complete costs first (a cost lacking its purchase or energy
part is marked and comes after them). ``max_throughput=True`` reports, without a load, the highest
sustainable throughput of each device and its cost at that rate, as vendors' serving tables do.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable

from roofline.decide.costs import COMPLETE_BASES, FORMULA, CostAssumptions, unit_cost
from roofline.decide.rank import Exclusion, check_calibrated
from roofline.llm.batching import (DEFAULT_CHUNK_TOKENS, DEFAULT_QUANTILE, QUEUEING_APPROXIMATION,
                                   ContinuousBatching, LoadError, OperatingPoint, RequestMix, as_parallelism)


@dataclass(frozen=True)
class LoadPlanRow:
    """One device type serving the load (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    tier: str
    gpus_per_replica: int
    tp: int
    pp: int
    replicas: int
    gpus: int
    max_concurrency: int  # KV-limited, per replica
    capacity_requests_per_s: float  # per replica: goodput under the SLOs, or the maximum throughput
    point: OperatingPoint  # one replica at its share of the load
    power_w: float | None  # the whole fleet
    usd_per_hour: float | None  # the whole fleet
    cost_basis: str
    cost_complete: bool
    usd_per_million_tokens: float | None
    purchase_usd: float | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["point"] = self.point.to_dict()
        out["notes"] = list(self.notes)
        return out


@dataclass
class LoadPlan:
    model: str
    mode: str  # "load" or "max-throughput"
    requests_per_s: float | None
    mix: RequestMix
    dtype: str
    weights: str
    kv_dtype: str
    runtime: str
    chunk_tokens: int
    quantile: float
    ttft_limit_s: float | None
    tpot_limit_s: float | None
    costs: CostAssumptions
    rows: list[LoadPlanRow] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    queueing: str = QUEUEING_APPROXIMATION

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "scenario": "serving", "mode": self.mode, "requests_per_s": self.requests_per_s,
            "output_tokens_per_s": self.requests_per_s * self.mix.mean_osl if self.requests_per_s else None,
            "mix": self.mix.to_dict(), "dtype": self.dtype, "weights": self.weights, "kv_dtype": self.kv_dtype,
            "runtime": self.runtime, "chunk_tokens": self.chunk_tokens, "ttft_quantile": self.quantile,
            "ttft_limit_s": self.ttft_limit_s, "tpot_limit_s": self.tpot_limit_s,
            "cost_assumptions": self.costs.to_dict(), "cost_rule": FORMULA,
            "cost_utilization": 1.0,  # the fleet is sized for the load and serves it around the clock
            "queueing": self.queueing,
            "rows": [r.to_dict() for r in self.rows], "excluded": [e.to_dict() for e in self.excluded],
        }


def fleet_cost(point: OperatingPoint, gpus: int, price_usd: float | None, cloud_usd_per_hour: float | None,
               costs: CostAssumptions, replicas: int) -> tuple[float | None, float | None, str, float | None]:
    """(fleet power W, USD per hour, cost basis, USD per million output tokens) of ``replicas`` replicas at
    ``point`` (the module docstring's rule)."""
    tokens_per_s = point.output_tokens_per_s * replicas
    power = point.power_w * gpus if point.power_w is not None else None
    energy_per_token = power / tokens_per_s if power is not None else None
    busy = replace(costs, utilization=1.0)
    cost = unit_cost(tokens_per_s, energy_per_token, price_usd * gpus if price_usd is not None else None,
                     cloud_usd_per_hour * gpus if cloud_usd_per_hour is not None else None, busy, "token")
    per_hour = cost.total_usd_per_million * tokens_per_s * 3600 / 1e6 if cost.total_usd_per_million is not None \
        else None
    return power, per_hour, cost.basis, cost.total_usd_per_million


def _key(r: LoadPlanRow) -> tuple:
    value = r.usd_per_million_tokens
    return (0 if r.cost_complete else 1 if value is not None else 2, value if value is not None else math.inf,
            r.gpus, r.device)


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def plan_load(model: Any, *, rps: float | None = None, mix: RequestMix | None = None, ttft_s: float | None = None,
              tpot_s: float | None = None, devices: Iterable[Any] | None = None, kinds: Iterable[str] | None = None,
              dtype: str | None = None, weights: str | None = None, kv_dtype: str | None = None,
              runtime: Any = None, tier: Any = None, costs: CostAssumptions | None = None,
              chunk_tokens: int = DEFAULT_CHUNK_TOKENS, quantile: float = DEFAULT_QUANTILE,
              max_concurrency: int | None = None, parallelism: Any = None, max_gpus: int | None = None,
              max_throughput: bool = False, catalog: Any = None) -> LoadPlan:
    """Serve ``rps`` requests/s of ``mix`` under the SLOs (or, with ``max_throughput``, report each device's
    highest sustainable throughput): per device GPUs per replica, replicas, concurrency, power and cost.

    >>> import roofline
    >>> from roofline.decide.load import plan_load
    >>> plan = plan_load("hf:llama-3.1-8b", rps=10, ttft_s=2, tpot_s=0.05, kinds=["gpu"])  # doctest: +SKIP
    >>> plan.rows[0].device, plan.rows[0].replicas, plan.rows[0].usd_per_million_tokens  # doctest: +SKIP
    """
    from roofline.llm.model import load_llm
    from roofline.llm.precision import resolve_precision
    from roofline.predict.efficiency import parse_runtime
    from roofline.resolve import resolve_devices

    if max_throughput:
        if rps is not None or ttft_s is not None or tpot_s is not None:
            raise LoadError("--max-throughput reports each device's highest sustainable throughput: it takes no "
                            "--rps, --ttft or --tpot")
    elif rps is None:
        raise LoadError("give a request rate (--rps) or ask for --max-throughput")
    else:
        if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not math.isfinite(rps) or rps <= 0:
            raise LoadError(f"the request rate must be a positive number of requests/s, got {rps!r}")
    costs = costs or CostAssumptions()
    mix = mix or RequestMix.fixed(1024, 256)
    llm = load_llm(model) if isinstance(model, str) else model
    llm.check_context(mix.max_context)
    dtype_key, weights_key, kv_key = resolve_precision(dtype, weights, kv_dtype)
    runtime_value = parse_runtime(runtime or "compiled").value
    specs = resolve_devices(devices, catalog=catalog, kinds=kinds)
    check_calibrated(specs, tier, runtime_value)
    fixed = as_parallelism(parallelism) if parallelism is not None else None
    if max_gpus is not None and (isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or max_gpus < 1):
        raise LoadError(f"--max-gpus must be a positive integer, got {max_gpus!r}")
    plan = LoadPlan(f"hf:{llm.name}", "max-throughput" if max_throughput else "load", float(rps) if rps else None,
                    mix, dtype_key, weights_key, kv_key, runtime_value, chunk_tokens, quantile, ttft_s, tpot_s, costs)
    kw = dict(mix=mix, dtype=dtype_key, weights=weights_key, kv_dtype=kv_key, runtime=runtime_value, tier=tier,
              chunk_tokens=chunk_tokens, quantile=quantile, max_concurrency=max_concurrency)
    use_slo = not max_throughput and (ttft_s is not None or tpot_s is not None)
    for device in specs:
        found = _serve(llm, device, fixed, max_gpus, use_slo, ttft_s, tpot_s, kw)
        if isinstance(found, Exclusion):
            plan.excluded.append(found)
            continue
        cb, limit, best = found
        capacity = best.requests_per_s
        if max_throughput:
            replicas, point = 1, best
        else:
            replicas = max(1, math.ceil(rps / capacity * (1 - 1e-12)))
            share = rps / replicas
            point = cb.at_rate(min(share, capacity))
        gpus = replicas * cb.gpus_per_replica
        cloud = device.price.cloud[0].usd_per_hour if device.price.cloud else None
        power, per_hour, basis, per_million = fleet_cost(point, gpus, device.price.launch_usd, cloud, costs, replicas)
        notes = list(dict.fromkeys(cb._predict(point.concurrency).notes))
        if limit.limited_by != "kv cache":
            notes.append(f"concurrency capped at {limit.max_concurrency} (--max-concurrency)")
        plan.rows.append(LoadPlanRow(
            device.id, device.name, device.kind, cb._predict(point.concurrency).tier, cb.gpus_per_replica,
            cb.parallelism.tp, cb.parallelism.pp, replicas, gpus, limit.max_concurrency, capacity, point, power, per_hour, basis,
            basis in COMPLETE_BASES, per_million,
            device.price.launch_usd * gpus if device.price.launch_usd is not None else None, tuple(notes)))
    plan.rows.sort(key=_key)
    return plan


def _serve(llm, device, fixed, max_gpus, use_slo, ttft_s, tpot_s, kw):
    """(ContinuousBatching, KvLimit, best operating point) of ``device`` at the layout ``fixed``, or by default
    at the smallest tensor-parallel degree (1, 2, 4 ... up to the GPU-link domain or ``max_gpus``) whose
    replica fits and meets the SLOs; else the Exclusion of the last layout tried."""
    from roofline.decide.rank import gpu_limit
    from roofline.llm.parallel import ParallelError, Parallelism
    from roofline.predict import DeviceUnusable

    if fixed is not None:
        layouts = [fixed]
    else:
        limit = 1 if device.memory.unified else gpu_limit(device, max_gpus)
        layouts = [Parallelism(tp) for tp in (1, 2, 4, 8, 16, 32, 64) if tp <= limit]
    excluded = None
    for par in layouts:
        try:
            cb = ContinuousBatching(llm, device, parallelism=par, **kw)
            limit_ = cb.kv_limit()
            if limit_.max_concurrency < 1:
                excluded = Exclusion(device.id, device.name, "memory", _shortfall(limit_, par))
                continue
            if not use_slo:
                return cb, limit_, cb.max_throughput()
            best = cb.goodput(ttft_s=ttft_s, tpot_s=tpot_s)
            if best is None:
                one = cb.at_concurrency(1, cb.rate(1))
                excluded = Exclusion(device.id, device.name, "latency",
                                     f"no request rate meets the SLOs{_on(par)}: with one sequence TTFT "
                                     f"{_seconds(one.ttft_s)}, TPOT {_seconds(one.tpot_s)}")
                continue
            return cb, limit_, best
        except ParallelError:
            if fixed is not None:
                raise
            continue  # this degree does not divide the heads: the next one
        except DeviceUnusable as exc:
            if excluded is None or par.gpus == 1:
                excluded = Exclusion(device.id, device.name, exc.category, exc.detail)
            break  # a device that cannot run (or cost) this layout cannot run a larger one
        except LoadError as exc:
            excluded = Exclusion(device.id, device.name, "missing spec", str(exc).split(": ", 1)[-1])
            break
    return excluded or Exclusion(device.id, device.name, "memory", "does not fit")


def _on(par) -> str:
    return f" on {par.gpus} GPUs ({par.label()})" if par.gpus > 1 else ""


def _shortfall(limit, par=None) -> str:
    from roofline.predict.memory import format_bytes

    per = " per GPU" if par is not None and par.gpus > 1 else ""
    return (f"weights {format_bytes(limit.weight_bytes)}{per} + workspace {format_bytes(limit.workspace_bytes)} leave no "
            f"room for one sequence's KV cache ({format_bytes(limit.kv_bytes_per_sequence)}) in "
            f"{format_bytes(limit.usable_bytes)} usable" + (_on(par) if par is not None else ""))


__all__ = ["plan_load", "LoadPlan", "LoadPlanRow", "fleet_cost"]
