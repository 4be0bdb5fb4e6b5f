"""One estimate for every scenario: each phase sample through the per-op roofline, combined.

    latency of one run   = sum over phases of runs x phase latency      (phase latency: share-weighted mean
                                                                         of its samples' predicted latencies)
    throughput           = units per run / latency (inferences/s, or generated tokens/s)
    energy of one run    = sum over phases of runs x phase energy;  power = energy / latency
    memory               = weights + largest activation peak + extra memory (KV cache) + workspace

Language-model serving also names its phases' figures: TTFT (the prefill), TPOT (a decode step),
tokens/s, request latency (roofline.llm.serving.serving_metrics). Devices that cannot run a phase
raise DeviceUnusable with its category (roofline.predict).

>>> import roofline
>>> e = roofline.estimate("resnet50", "nvidia-l4", batch=8)                # doctest: +SKIP
>>> e.latency_s, e.throughput_per_s, e.energy_per_unit_j, e.memory.fits    # doctest: +SKIP
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from roofline.catalog import DeviceSpec
from roofline.predict import Prediction, predict
from roofline.predict.efficiency import ERROR_BANDS, Runtime, Tier, parse_runtime, parse_tier
from roofline.predict.memory import MemoryFit, memory_fit
from roofline.resolve import ModelOptions, load_scenario, resolve_device
from roofline.scenario import FORWARD, SERVING, Phase, Scenario


@dataclass(frozen=True)
class PhaseEstimate:
    """One phase on one device: the share-weighted mean of its samples (SI units)."""

    name: str
    runs: float  # per scenario run
    latency_s: float
    first_latency_s: float  # the first sample (decode: the step at the prompt length)
    last_latency_s: float
    energy_j: float | None  # one run of the phase
    bound: str
    flops: int
    bytes: int
    compute_utilization: float
    bandwidth_utilization: float
    breakdown: dict[str, int]  # bytes by category (weights, KV...), activations and total
    facts: dict[str, Any]
    predictions: tuple[Prediction, ...] = field(repr=False, default=())
    # several GPUs: time of the phase's collectives per run (included in latency_s) and each collective's part
    collective_s: float = 0.0
    collectives: tuple[dict[str, Any], ...] = ()

    @property
    def collective_share(self) -> float:
        return self.collective_s / self.latency_s if self.latency_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {"phase": self.name, **self.facts, "flops": self.flops, **self.breakdown, "latency_s": self.latency_s,
               "energy_j": self.energy_j, "bound": self.bound, "compute_utilization": self.compute_utilization,
               "bandwidth_utilization": self.bandwidth_utilization}
        if self.collectives:
            out.update({"collective_s": self.collective_s, "collective_share": self.collective_share,
                        "collectives": list(self.collectives)})
        return out


@dataclass
class Estimate:
    """A scenario on one device. SI units, USD; throughput and energy per unit are in ``unit``s."""

    scenario: Scenario
    device: str
    device_name: str
    kind: str
    runtime: str
    tier: str
    error_band: str
    phases: tuple[PhaseEstimate, ...]
    latency_s: float  # one run: a forward pass of the batch, or the whole request of the batch
    throughput_per_s: float  # units per second
    requests_per_s: float
    energy_j: float | None  # one run
    energy_per_unit_j: float | None
    power_w: float | None  # average over the run
    idle_power_w: float | None  # the idle power the energy model used
    load_power_w: float | None  # the power under full load it used (TDP, or measured)
    energy_method: str
    memory: MemoryFit
    bound: str
    tdp_w: float | None
    price_usd: float | None
    usd_per_hour: float | None
    metrics: dict[str, float] = field(default_factory=dict)  # named figures of the scenario (TTFT, TPOT...)
    notes: list[str] = field(default_factory=list)
    latency_interval_s: tuple[float, float] | None = None  # from the cross-validated residuals of tier and class
    interval_coverage: float | None = None  # the nominal share of measurements inside the interval

    @property
    def model(self) -> str:
        return self.scenario.model

    @property
    def unit(self) -> str:
        return self.scenario.unit

    @property
    def batch(self) -> int:
        return self.scenario.batch

    @property
    def dtype(self) -> str:
        return self.scenario.dtype

    @property
    def prediction(self) -> Prediction:
        """The per-op prediction of the first phase's first sample (a forward pass: the only one)."""
        return self.phases[0].predictions[0]

    def phase(self, name: str) -> PhaseEstimate:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def metric(self, name: str) -> float | None:
        if name in self.metrics:
            return self.metrics[name]
        return getattr(self, name, None)

    def to_dict(self, *, include_ops: bool = False) -> dict[str, Any]:
        s = self.scenario
        out: dict[str, Any] = {"device": self.device, "device_name": self.device_name, "kind": self.kind,
                               "model": s.model, "scenario": s.kind, "unit": s.unit}
        if s.kind == FORWARD:
            out.update(self.prediction.to_dict(include_ops=include_ops))
        else:
            out.update({"batch": s.batch, "dtype": s.dtype, **s.options, "runtime": self.runtime, "tier": self.tier,
                        "error_band": self.error_band, **self.metrics, "bound": self.bound})
            out.update({p.name: p.to_dict() for p in self.phases})
            out["notes"] = list(self.notes)
            if s.parallel is not None and s.parallel.is_multi:
                out["parallel"] = s.parallel.to_dict()
                out["memory_per_gpu_bytes"] = self.memory.required_bytes
        out.update({
            "latency_s": self.latency_s, "throughput_per_s": self.throughput_per_s,
            "requests_per_s": self.requests_per_s, "energy_j": self.energy_j,
            f"energy_per_{s.unit}_j": self.energy_per_unit_j, "power_w": self.power_w,
            "idle_power_w": self.idle_power_w, "load_power_w": self.load_power_w, "energy_method": self.energy_method,
            "memory": self.memory.to_dict(), "memory_required_bytes": self.memory.required_bytes,
            "memory_available_bytes": self.memory.available_bytes, "tdp_w": self.tdp_w, "price_usd": self.price_usd,
            "usd_per_hour": self.usd_per_hour,
            "latency_interval_s": list(self.latency_interval_s) if self.latency_interval_s else None,
            "interval_coverage": self.interval_coverage,
        })
        return out


def _mean(values: list[float], shares: list[float]) -> float:
    return sum(v * s for v, s in zip(values, shares))


def _phase_estimate(phase: Phase, predictions: list[Prediction], fused: bool) -> PhaseEstimate:
    shares = [s.share for s in phase.samples]
    energies = [p.energy.energy_j for p in predictions]
    breakdowns = [s.workload.byte_breakdown(fused=fused) for s in phase.samples]
    breakdown = {k: int(round(_mean([float(b[k]) for b in breakdowns], shares))) for k in breakdowns[0]}
    bounds = Counter(p.bound for p in predictions)
    return PhaseEstimate(
        name=phase.name, runs=phase.runs,
        latency_s=_mean([p.latency_s for p in predictions], shares),
        first_latency_s=predictions[0].latency_s, last_latency_s=predictions[-1].latency_s,
        energy_j=_mean(energies, shares) if all(e is not None for e in energies) else None,
        bound=max(bounds, key=lambda b: (bounds[b], b)),
        flops=int(round(_mean([float(p.flops) for p in predictions], shares))),
        bytes=int(round(_mean([float(p.bytes) for p in predictions], shares))),
        compute_utilization=_mean([p.compute_utilization for p in predictions], shares),
        bandwidth_utilization=_mean([p.bandwidth_utilization for p in predictions], shares),
        breakdown=breakdown, facts=dict(phase.facts), predictions=tuple(predictions))


def _times(value: float | None, n: int) -> float | None:
    return None if value is None else value * n


def _with_collectives(p: PhaseEstimate, plan: Any, device: DeviceSpec, idle_w: float | None) -> PhaseEstimate:
    """A phase of one GPU's trace made a phase of the replica: its collectives added (not overlapped), the
    prefill's pipeline schedule applied, its energy that of every GPU (collective time at idle power)."""
    from roofline.llm.parallel import priced

    items = priced(plan, p.name, device)
    comm = sum(t for _, t in items)
    factor = plan.prefill_factor() if p.name == "prefill" else 1.0
    par = plan.parallelism
    energy = None
    if p.energy_j is not None:
        # every stage's GPUs run each of the m micro-batches over 1/pp of the depth: tp x m x one trace's energy
        energy = par.tp * plan.microbatches * p.energy_j + par.gpus * comm * factor * (idle_w or 0.0)
    return replace(p, latency_s=(p.latency_s + comm) * factor, first_latency_s=(p.first_latency_s + comm) * factor,
                   last_latency_s=(p.last_latency_s + comm) * factor, energy_j=energy, collective_s=comm * factor,
                   collectives=tuple({**c.to_dict(), "time_s": t * factor} for c, t in items))


def _parallel_metrics(plan: Any, phases: tuple[PhaseEstimate, ...], metrics: dict[str, float]) -> dict[str, float]:
    gpus = plan.gpus
    out: dict[str, float] = {**plan.parallelism.to_dict()}
    for p in phases:
        out[f"{p.name}_collective_s"] = p.collective_s
        out[f"{p.name}_collective_share"] = p.collective_share
    out["tokens_per_s_per_gpu"] = metrics["tokens_per_s"] / gpus
    out["output_tokens_per_s_per_gpu"] = metrics["output_tokens_per_s"] / gpus
    out["requests_per_s_per_gpu"] = metrics["requests_per_s"] / gpus
    return out


def _parallel_note(plan: Any, device: DeviceSpec) -> str:
    from roofline.llm.parallel import pipeline_crossings
    from roofline.predict.collectives import GPU_LINK, domain_size, link_of

    par = plan.parallelism
    link = link_of(device, GPU_LINK)
    where = link.label if link is not None else "no link figure"
    crossings = pipeline_crossings(par, domain_size(device))
    net = f"; {crossings} pipeline boundaries over the network" if crossings else ""
    return (f"{par.gpus} GPUs per replica ({par.label()}): weights, KV cache and activations per GPU; "
            f"collectives over {where}{net}, added to the compute time (not overlapped); power, price and "
            f"energy x {par.gpus}")


def estimate_scenario(scenario: Scenario, device: DeviceSpec, *, runtime: str | Runtime | None = None,
                      tier: str | Tier | None = None, include_ops: bool = False,
                      host_memory_bytes: float | None = None, execution: Any = None) -> Estimate:
    """The scenario on ``device`` (pure: no tracing). Raises DeviceUnusable when the device has no path.

    ``host_memory_bytes``: the system memory of a CPU host (default: the catalog's, else an assumed 64 GiB;
    roofline.catalog.DeviceSpec.system_memory)."""
    runtime = parse_runtime(runtime or scenario.default_runtime)
    tier = parse_tier(tier)
    if scenario.parallel is not None and scenario.parallel.is_multi:
        from roofline.llm.parallel import check_device

        check_device(scenario.parallel.parallelism, device)
    predictions: list[list[Prediction]] = []
    for phase in scenario.phases:
        predictions.append([predict(s.workload, device, runtime=runtime, tier=tier, include_ops=include_ops,
                                    execution=execution) for s in phase.samples])
    first = predictions[0][0]
    fused = runtime is Runtime.COMPILED or first.tier == Tier.SOL.value
    phases = tuple(_phase_estimate(ph, preds, fused) for ph, preds in zip(scenario.phases, predictions))
    plan = scenario.parallel
    multi = plan is not None and plan.is_multi
    if multi:
        phases = tuple(_with_collectives(p, plan, device, first.energy.idle_w) for p in phases)
    latency = sum(p.runs * p.latency_s for p in phases)
    energy = None
    if all(p.energy_j is not None for p in phases):
        energy = sum(p.runs * p.energy_j for p in phases)
    streamed = any("host link" in n for preds in predictions for p in preds for n in p.notes)
    memory = memory_fit(scenario.weight_bytes, scenario.activation_bytes, device, streamed=streamed,
                        kv_cache_bytes=scenario.extra_memory_bytes, host_memory_bytes=host_memory_bytes,
                        gpus=scenario.gpus)
    notes = list(dict.fromkeys(n for preds in predictions for p in preds for n in p.notes))
    if first.energy.note:
        notes.append(first.energy.note)
    if device.kind == "cpu" and memory.note and memory.note not in notes:
        notes.append(memory.note)  # the system memory a CPU was checked against, and where it comes from
    metrics: dict[str, float] = {}
    if scenario.kind == SERVING:
        from roofline.llm.serving import serving_metrics

        decode = next(p for p in phases if p.name == "decode")
        # the first token comes after every phase before decoding (Whisper: encode, then prefill)
        first_token_s = sum(p.runs * p.latency_s for p in phases if p.name != "decode")
        metrics = serving_metrics(first_token_s, decode.latency_s, decode.first_latency_s,
                                  decode.last_latency_s, scenario.options)
        if memory.note:
            notes.append(memory.note)
        if multi:
            metrics.update(_parallel_metrics(plan, phases, metrics))
            notes.append(_parallel_note(plan, device))
    units = scenario.units_per_run
    interval = coverage = None
    if first.tier in (Tier.DATASHEET.value, Tier.PUBLISHED.value) and execution is None:
        from roofline.predict import engines, published

        factors = (engines if first.tier == Tier.DATASHEET.value else published).interval_factors(device)
        if factors is not None:
            interval, coverage = (latency * factors[0], latency * factors[1]), factors[2]
    bounds = Counter()
    for p in phases:
        bounds[p.bound] += p.runs * p.latency_s
    return Estimate(
        scenario=scenario, device=device.id, device_name=device.name, kind=device.kind, runtime=runtime.value,
        tier=first.tier, error_band=ERROR_BANDS[Tier(first.tier)], phases=phases, latency_s=latency,
        throughput_per_s=units / latency, requests_per_s=scenario.requests_per_run / latency,
        energy_j=energy, energy_per_unit_j=energy / units if energy is not None else None,
        power_w=energy / latency if energy is not None else None,
        idle_power_w=first.energy.idle_w, load_power_w=first.energy.load_w, energy_method=first.energy.method,
        memory=memory, bound=first.bound if scenario.kind == FORWARD else phases[-1].bound,
        tdp_w=_times(device.power.tdp_w, scenario.gpus), price_usd=_times(device.price.launch_usd, scenario.gpus),
        usd_per_hour=_times(device.price.cloud[0].usd_per_hour if device.price.cloud else None, scenario.gpus),
        metrics=metrics, notes=notes, latency_interval_s=interval, interval_coverage=coverage)


def estimate(model: Any, device: Any, *, batch: int | None = None, dtype: str | None = None,
             runtime: str | Runtime | None = None, tier: str | Tier | None = None, imgsz: int | None = None,
             input_shape: tuple[int, ...] | str | None = None, prompt: int | None = None,
             generate: int | None = None, weights: str | None = None, kv_dtype: str | None = None,
             catalog: Any = None, include_ops: bool = False, host_memory_bytes: float | None = None,
             parallelism: Any = None) -> Estimate:
    """Estimate ``model`` on ``device``: names work where the CLI takes them.

    ``parallelism``: a language model's replica on several GPUs (``roofline.llm.parallel.Parallelism(tp=4)``).

    ``model``: a name (``"resnet50"``, ``"ultralytics:yolo11n.yaml"``, ``"hf:llama-3-8b"``, ``"pkg.mod:fn"``),
    an ``nn.Module`` (give ``input_shape``), a Workload or a Scenario. ``device``: a catalog id or a DeviceSpec.
    """
    options = ModelOptions(imgsz=imgsz, input_shape=input_shape, prompt=prompt, generate=generate, weights=weights,
                           kv_dtype=kv_dtype)
    scenario = load_scenario(model, batch=batch, dtype=dtype, options=options, parallelism=parallelism)
    return estimate_scenario(scenario, resolve_device(device, catalog), runtime=runtime, tier=tier,
                             include_ops=include_ops, host_memory_bytes=host_memory_bytes)


__all__ = ["Estimate", "PhaseEstimate", "estimate", "estimate_scenario"]
