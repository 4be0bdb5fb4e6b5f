"""Serving estimates: time to first token, time per output token, tokens/s, memory, energy and cost
of ``batch`` requests of ``prompt`` tokens generating ``generate`` tokens each, on one device.

Method (docs/llm.md):

- the prefill of ``batch x prompt`` tokens is traced once; its predicted latency is the time to
  first token (TTFT) and it writes the prompt's K/V into the cache;
- the ``generate - 1`` decode steps that follow see KV lengths ``prompt .. prompt + generate - 2``.
  A decode step is traced at the first and the last of those lengths and every op's FLOPs and
  bytes are interpolated linearly in between (exact: both are affine in the KV length). The step
  time is predicted at up to ``DECODE_SAMPLES`` evenly spaced lengths and averaged with the
  trapezoidal rule: the time per output token (TPOT);
- request latency = TTFT + (generate - 1) x TPOT; tokens/s per sequence = 1 / TPOT, in total
  batch / TPOT; requests/s = batch / request latency;
- every phase goes through :func:`roofline.predict.predict`, so the roofline, runtimes, tiers,
  efficiencies and energy model are the ones of every other prediction;
- memory: weights (by format) + KV cache at the full context (prompt + generate) for the whole
  batch + the prefill's peak activations + the runtime workspace, against usable device memory;
- cost per million output tokens: the purchase price amortised over ``years`` at ``utilization``,
  plus electricity, per generated token (as ``roofline.report.costs``); a device with only a cloud
  price uses it per hour; one with neither gets the energy part alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.llm.model import ACTIVATION_DTYPES, LlmModel, load_llm
from roofline.llm.trace import (KV_FORMATS, QUANTISED, WEIGHT_FORMATS, PhaseTrace, interpolate, parse_format,
                                trace_phase, weight_bytes, workload_of)
from roofline.predict import Prediction, predict
from roofline.predict.efficiency import ERROR_BANDS, Runtime, Tier, parse_runtime, parse_tier
from roofline.predict.memory import WORKSPACE_BYTES, MemoryFit, usable_memory

DECODE_SAMPLES = 5
SECONDS_PER_YEAR = 365.25 * 24 * 3600
JOULES_PER_KWH = 3.6e6

DEFAULT_PROMPT = 1024
DEFAULT_GENERATE = 256


@dataclass(frozen=True)
class LlmRequest:
    """What is served: ``batch`` sequences of ``prompt`` tokens, each generating ``generate`` tokens."""

    prompt: int = DEFAULT_PROMPT
    generate: int = DEFAULT_GENERATE
    batch: int = 1
    dtype: str = "fp16"  # activations (and matmul math)
    weights: str = "fp16"  # weight format: the activation dtype, or int8/int4 weight-only
    kv_dtype: str = "fp16"

    @property
    def context(self) -> int:
        return self.prompt + self.generate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_request(*, prompt: int | None = None, generate: int | None = None, batch: int | None = None,
                 dtype: str | None = None, weights: str | None = None, kv_dtype: str | None = None) -> LlmRequest:
    """Validate user input into an LlmRequest (one-line errors)."""
    prompt = DEFAULT_PROMPT if prompt is None else prompt
    generate = DEFAULT_GENERATE if generate is None else generate
    batch = 1 if batch is None else batch
    for name, value in (("prompt", prompt), ("generate", generate), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RooflineError(f"--{name} must be a positive integer, got {value!r}")
    act_table = {k: WEIGHT_FORMATS[k] for k in ACTIVATION_DTYPES}
    weights_key = parse_format(weights, WEIGHT_FORMATS, "weight format", "") if weights else None
    if dtype is None:
        dtype_key = weights_key if weights_key in act_table else "fp16"
    else:
        dtype_key = parse_format(dtype, act_table, "activation dtype (weight-only int8/int4: use --weights)", "fp16")
    if weights_key is None:
        weights_key = dtype_key
    elif weights_key not in QUANTISED and weights_key != dtype_key:
        raise RooflineError(f"--weights {weights_key} with --dtype {dtype_key}: floating-point weights run in the "
                            "activation dtype; give one of them, or --weights int8/int4 for weight-only quantisation")
    kv_key = parse_format(kv_dtype, KV_FORMATS, "KV cache dtype", dtype_key)
    return LlmRequest(prompt, generate, batch, dtype_key, weights_key, kv_key)


# ------------------------------------------------------------------ results

@dataclass(frozen=True)
class PhaseEstimate:
    """One phase on one device: its work and its predicted time."""

    phase: str  # "prefill" or "decode"
    tokens: int  # new tokens processed (batch x query)
    kv_length: int  # KV cache length before the step (decode: mean over the steps)
    flops: int
    weight_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int
    activation_bytes: int
    bytes: int
    latency_s: float
    energy_j: float | None
    bound: str
    compute_utilization: float
    bandwidth_utilization: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A serving instance's memory: the predictor's MemoryFit with the KV cache filled in.
LlmMemory = MemoryFit


@dataclass(frozen=True)
class CostModel:
    """Ownership assumptions for cost per token (the defaults of roofline.report.costs)."""

    electricity_usd_per_kwh: float = 0.15
    years: float = 3.0
    utilization: float = 0.5

    def __post_init__(self) -> None:
        if not (self.electricity_usd_per_kwh >= 0 and self.years > 0 and 0 < self.utilization <= 1):
            raise RooflineError("cost model: electricity price >= 0, years > 0 and 0 < utilization <= 1 required")


@dataclass
class LlmPrediction:
    """A serving estimate of one model and request shape on one device. SI units, USD."""

    device: str
    device_name: str
    kind: str
    model: str
    request: LlmRequest
    runtime: str
    tier: str
    error_band: str
    prefill: PhaseEstimate
    decode: PhaseEstimate  # mean decode step over the generation
    ttft_s: float
    tpot_s: float
    tpot_first_s: float  # decode step at the prompt length
    tpot_last_s: float  # decode step at the last generated position
    tokens_per_s_per_sequence: float
    tokens_per_s: float  # decode throughput, all sequences of the batch
    request_latency_s: float
    requests_per_s: float
    output_tokens_per_s: float  # generated tokens / request latency, prefill included
    energy_per_token_j: float | None
    power_w: float | None
    memory: LlmMemory
    price_usd: float | None
    usd_per_hour: float | None  # cloud price, when the catalog has one
    usd_per_million_tokens: float | None
    cost_basis: str
    tdp_w: float | None
    notes: list[str] = field(default_factory=list)

    # Prediction-like names, so ranking helpers read both kinds of result
    @property
    def latency_s(self) -> float:
        return self.request_latency_s

    @property
    def throughput_per_s(self) -> float:
        return self.tokens_per_s

    @property
    def bound(self) -> str:
        return self.decode.bound

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "device_name": self.device_name,
            "kind": self.kind,
            "model": self.model,
            **{k: v for k, v in self.request.to_dict().items()},
            "context": self.request.context,
            "runtime": self.runtime,
            "tier": self.tier,
            "error_band": self.error_band,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "tpot_first_s": self.tpot_first_s,
            "tpot_last_s": self.tpot_last_s,
            "tokens_per_s_per_sequence": self.tokens_per_s_per_sequence,
            "tokens_per_s": self.tokens_per_s,
            "request_latency_s": self.request_latency_s,
            "requests_per_s": self.requests_per_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "energy_per_token_j": self.energy_per_token_j,
            "power_w": self.power_w,
            "bound": self.bound,
            "prefill": self.prefill.to_dict(),
            "decode": self.decode.to_dict(),
            "memory": self.memory.to_dict(),
            "memory_required_bytes": self.memory.required_bytes,
            "memory_available_bytes": self.memory.available_bytes,
            "price_usd": self.price_usd,
            "usd_per_hour": self.usd_per_hour,
            "usd_per_million_tokens": self.usd_per_million_tokens,
            "cost_basis": self.cost_basis,
            "tdp_w": self.tdp_w,
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------ phases (device independent)

@dataclass
class Phases:
    """The traced phases of one request shape, reused for every device."""

    llm: LlmModel
    request: LlmRequest
    prefill: PhaseTrace
    decode_points: list[PhaseTrace]  # decode steps at evenly spaced KV lengths
    steps: int  # decode steps in the request (generate - 1)
    weight_bytes: int


def trace_request(llm: LlmModel, request: LlmRequest) -> Phases:
    """Trace the prefill and the decode steps of ``request`` (cached on ``llm``)."""
    llm.check_context(request.context)
    key = ("request", request)
    cached = llm.cache.get(key)
    if cached is not None:
        return cached
    kw = dict(dtype=request.dtype, weights=request.weights, kv_dtype=request.kv_dtype)
    prefill = trace_phase(llm, batch=request.batch, query=request.prompt, past=0, **kw)
    first = request.prompt
    last = request.prompt + max(request.generate - 2, 0)
    a = trace_phase(llm, batch=request.batch, query=1, past=first, **kw)
    b = trace_phase(llm, batch=request.batch, query=1, past=last, **kw) if last != first else a
    count = 1 if last == first else min(DECODE_SAMPLES, last - first + 1)
    lengths = [first] if count == 1 else [round(first + (last - first) * i / (count - 1)) for i in range(count)]
    points = [interpolate(a, b, length) for length in lengths]
    phases = Phases(llm, request, prefill, points, request.generate - 1,
                    weight_bytes(llm, dtype=request.dtype, weights=request.weights))
    llm.cache[key] = phases
    return phases


def _trapezoid(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    inner = sum(values[1:-1])
    return (values[0] / 2 + inner + values[-1] / 2) / (len(values) - 1)


def llm_memory(phases: Phases, device: DeviceSpec) -> LlmMemory:
    req = phases.request
    kv = phases.llm.kv_cache_bytes(req.context, req.batch, KV_FORMATS[req.kv_dtype])
    act = max(phases.prefill.activation_peak_bytes, max(p.activation_peak_bytes for p in phases.decode_points))
    workspace = WORKSPACE_BYTES.get(device.kind, 0)
    required = phases.weight_bytes + kv + act + workspace
    capacity = device.memory.capacity_bytes
    if capacity is None:
        return MemoryFit(phases.weight_bytes, act, workspace, required, None, None, None,
                         "memory capacity not in the catalog: fit not checked", kv_cache_bytes=kv)
    available, note = usable_memory(device)
    return MemoryFit(phases.weight_bytes, act, workspace, required, capacity, available, required <= available,
                     note, kv_cache_bytes=kv)


def _phase_estimate(phase: PhaseTrace, p: Prediction, *, fused: bool, tokens: int) -> PhaseEstimate:
    bd = phase.breakdown(fused=fused)
    return PhaseEstimate(phase.kind, tokens, phase.past, phase.flops, bd["weight_bytes"], bd["kv_read_bytes"],
                         bd["kv_write_bytes"], bd["activation_bytes"], bd["bytes"], p.latency_s, p.energy.energy_j,
                         p.bound, p.compute_utilization, p.bandwidth_utilization)


def _mean_phase(points: list[PhaseEstimate], latency: float, energy: float | None) -> PhaseEstimate:
    def avg(name: str) -> float:
        return _trapezoid([float(getattr(x, name)) for x in points])

    bounds = [x.bound for x in points]
    return PhaseEstimate("decode", points[0].tokens, int(round(avg("kv_length"))), int(round(avg("flops"))),
                         int(round(avg("weight_bytes"))), int(round(avg("kv_read_bytes"))),
                         int(round(avg("kv_write_bytes"))), int(round(avg("activation_bytes"))),
                         int(round(avg("bytes"))), latency, energy, max(set(bounds), key=bounds.count),
                         avg("compute_utilization"), avg("bandwidth_utilization"))


def estimate_phases(phases: Phases, device: DeviceSpec, *, runtime: str | Runtime = Runtime.COMPILED,
                    tier: str | Tier | None = None, costs: CostModel | None = None) -> LlmPrediction:
    """Predict the traced request on ``device`` (raises DeviceUnusable when it has no path)."""
    runtime = parse_runtime(runtime)
    tier = parse_tier(tier)
    costs = costs or CostModel()
    llm, req = phases.llm, phases.request
    dtype, weights = req.dtype, req.weights
    pre_w = workload_of(llm, phases.prefill, dtype=dtype, weights=weights)
    pre = predict(pre_w, device, runtime=runtime, tier=tier)
    fused = runtime is Runtime.COMPILED or pre.tier == Tier.SOL.value
    prefill = _phase_estimate(phases.prefill, pre, fused=fused, tokens=req.batch * req.prompt)
    step_preds = [predict(workload_of(llm, pt, dtype=dtype, weights=weights), device, runtime=runtime, tier=tier)
                  for pt in phases.decode_points]
    step_est = [_phase_estimate(pt, sp, fused=fused, tokens=req.batch) for pt, sp in zip(phases.decode_points,
                                                                                         step_preds)]
    tpot = _trapezoid([sp.latency_s for sp in step_preds])
    energies = [sp.energy.energy_j for sp in step_preds]
    step_energy = _trapezoid(energies) if all(e is not None for e in energies) else None
    decode = _mean_phase(step_est, tpot, step_energy)
    ttft = pre.latency_s
    request_latency = ttft + phases.steps * tpot
    total_tokens = req.batch * req.generate
    energy_total = None
    if pre.energy.energy_j is not None and step_energy is not None:
        energy_total = pre.energy.energy_j + phases.steps * step_energy
    energy_per_token = energy_total / total_tokens if energy_total is not None else None
    power = energy_total / request_latency if energy_total is not None else None
    memory = llm_memory(phases, device)
    output_tps = total_tokens / request_latency
    cloud = device.price.cloud[0].usd_per_hour if device.price.cloud else None
    per_token, basis = _cost_per_token(device.price.launch_usd, cloud, output_tps, energy_per_token, costs)
    notes = list(dict.fromkeys(pre.notes + [n for sp in step_preds for n in sp.notes]))
    if pre.energy.note:
        notes.append(pre.energy.note)
    if memory.note:
        notes.append(memory.note)
    return LlmPrediction(
        device=device.id, device_name=device.name, kind=device.kind, model=f"hf:{llm.name}", request=req,
        runtime=runtime.value, tier=pre.tier, error_band=ERROR_BANDS[Tier(pre.tier)],
        prefill=prefill, decode=decode, ttft_s=ttft, tpot_s=tpot,
        tpot_first_s=step_preds[0].latency_s, tpot_last_s=step_preds[-1].latency_s,
        tokens_per_s_per_sequence=1.0 / tpot, tokens_per_s=req.batch / tpot,
        request_latency_s=request_latency, requests_per_s=req.batch / request_latency,
        output_tokens_per_s=output_tps, energy_per_token_j=energy_per_token, power_w=power, memory=memory,
        price_usd=device.price.launch_usd, usd_per_hour=cloud,
        usd_per_million_tokens=per_token * 1e6 if per_token is not None else None, cost_basis=basis,
        tdp_w=device.power.tdp_w, notes=notes)


def _cost_per_token(price_usd: float | None, cloud_usd_per_hour: float | None, tokens_per_s: float,
                    energy_per_token_j: float | None, costs: CostModel) -> tuple[float | None, str]:
    """USD per generated token: amortised purchase + electricity, or the cloud price per hour."""
    energy = (energy_per_token_j / JOULES_PER_KWH * costs.electricity_usd_per_kwh
              if energy_per_token_j is not None else None)
    if price_usd is not None:
        capex = price_usd / (tokens_per_s * costs.utilization * costs.years * SECONDS_PER_YEAR)
        return (capex + energy, "purchase + energy") if energy is not None else (capex, "purchase only")
    if cloud_usd_per_hour is not None:
        return cloud_usd_per_hour / 3600 / (tokens_per_s * costs.utilization), "cloud price"
    if energy is not None:
        return energy, "energy only"
    return None, "unavailable"


def estimate(model: str | LlmModel, device: DeviceSpec, request: LlmRequest | None = None, *,
             runtime: str | Runtime = Runtime.COMPILED, tier: str | Tier | None = None,
             costs: CostModel | None = None) -> LlmPrediction:
    """Serving estimate of ``model`` (``hf:...`` or an LlmModel) for ``request`` on ``device``."""
    llm = load_llm(model) if isinstance(model, str) else model
    return estimate_phases(trace_request(llm, request or LlmRequest()), device, runtime=runtime, tier=tier,
                           costs=costs)


__all__ = ["LlmRequest", "make_request", "LlmPrediction", "PhaseEstimate", "LlmMemory", "CostModel", "Phases",
           "trace_request", "estimate_phases", "estimate", "llm_memory", "DECODE_SAMPLES", "DEFAULT_PROMPT",
           "DEFAULT_GENERATE"]
