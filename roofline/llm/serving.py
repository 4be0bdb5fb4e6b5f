"""Language-model serving as a scenario: ``batch`` requests of ``prompt`` tokens generating ``generate``
tokens each, as a prefill phase and a decode phase (roofline.scenario).

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
- every phase sample goes through :func:`roofline.predict.predict` (in roofline.estimate), so the
  roofline, runtimes, tiers, efficiencies and energy model are the ones of every other prediction;
- memory: weights (by format) + KV cache at the full context (prompt + generate) for the whole
  batch (the scenario's extra memory) + the largest peak of activations + the runtime workspace;
- cost per million output tokens: the shared cost rule (roofline.decide.costs) per generated token.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from roofline.errors import RooflineError
from roofline.llm.model import LlmModel, load_llm
from roofline.llm.parallel import (SINGLE, Parallelism, ParallelPlan, communication, layer_weight_bytes,
                                   sharded_model, stage_kv_bytes)
from roofline.llm.precision import KV_BYTES, resolve_precision
from roofline.llm.trace import interpolate, phase_shape, trace_phase, weight_bytes
from roofline.scenario import SERVING, Phase, PhaseSample, Scenario

DECODE_SAMPLES = 5

DEFAULT_PROMPT = 1024
DEFAULT_GENERATE = 256


@dataclass(frozen=True)
class LlmRequest:
    """What is served: ``batch`` sequences of ``prompt`` tokens, each generating ``generate`` tokens."""

    prompt: int = DEFAULT_PROMPT
    generate: int = DEFAULT_GENERATE
    batch: int = 1
    dtype: str = "fp16"  # activations (and matmul math): fp16, bf16, fp32, fp8
    weights: str = "fp16"  # weight format (roofline.llm.precision): the activation dtype, fp8, int8, int4, nvfp4...
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
    dtype_key, weights_key, kv_key = resolve_precision(dtype, weights, kv_dtype)
    return LlmRequest(prompt, generate, batch, dtype_key, weights_key, kv_key)


def trapezoid_shares(count: int) -> list[float]:
    """Weights of the trapezoidal rule over ``count`` evenly spaced samples, summing to 1."""
    if count == 1:
        return [1.0]
    inner = 1.0 / (count - 1)
    return [inner / 2] + [inner] * (count - 2) + [inner / 2]


def serving_scenario(model: str | LlmModel, request: LlmRequest | None = None,
                     parallelism: Parallelism | None = None) -> Scenario:
    """The prefill and decode phases of ``request`` (traced once, cached on the model).

    ``parallelism``: the workload of ONE GPU of a replica of ``tp x pp`` GPUs (roofline.llm.parallel):
    the sharded configuration traced at the micro-batch, its weights, KV cache and activations per GPU,
    and the collectives of each phase in ``Scenario.parallel``."""
    llm = load_llm(model) if isinstance(model, str) else model
    request = request or LlmRequest()
    par = parallelism or SINGLE
    llm.check_context(request.context)
    key = ("scenario", request, par)
    cached = llm.cache.get(key)
    if cached is not None:
        return cached
    shard = sharded_model(llm, par)
    micro = request.batch // par.pp if request.batch % par.pp == 0 else request.batch
    microbatches = request.batch // micro
    phases = _phases(shard, request, micro)
    kv_bytes = KV_BYTES[request.kv_dtype]
    if par.gpus == 1:
        weights = weight_bytes(llm, dtype=request.dtype, weights=request.weights)
        kv = llm.kv_cache_bytes(request.context, request.batch, kv_bytes)
    else:
        layers, rest = layer_weight_bytes(shard, dtype=request.dtype, weights=request.weights)
        weights = layers // par.pp + rest
        kv = stage_kv_bytes(shard, request.context, request.batch, kv_bytes, par.pp)
    plan = ParallelPlan(
        par, microbatches=microbatches, micro_batch=micro,
        collectives=communication(shard, par, micro_batch=micro, prompt=request.prompt, dtype=request.dtype)
        if par.gpus > 1 else {},
        replicated_kv_heads=max(par.tp // llm.arch.kv_heads, 1) if not llm.arch.latent_attention else par.tp,
        reshard=lambda p, _llm=llm, _request=request: serving_scenario(_llm, _request, p))
    options = {**request.to_dict(), "context": request.context}
    if par.gpus > 1:
        options.update(par.to_dict())
    scenario = Scenario(
        model=f"hf:{llm.name}", kind=SERVING, phases=phases, batch=request.batch, dtype=request.dtype, unit="token",
        units_per_run=float(request.batch * request.generate), requests_per_run=request.batch,
        weight_bytes=weights, extra_memory_bytes=kv, default_runtime="compiled", options=options,
        gpus=par.gpus, parallel=plan)
    llm.cache[key] = scenario
    return scenario


def _phases(llm: LlmModel, request: LlmRequest, batch: int) -> tuple[Phase, Phase]:
    """The prefill of ``batch`` prompts and the decode steps that follow, as sampled phases."""
    kw = dict(dtype=request.dtype, weights=request.weights, kv_dtype=request.kv_dtype)
    prefill = trace_phase(llm, batch=batch, query=request.prompt, past=0, **kw)
    first = request.prompt
    last = request.prompt + max(request.generate - 2, 0)
    a = trace_phase(llm, batch=batch, query=1, past=first, **kw)
    b = trace_phase(llm, batch=batch, query=1, past=last, **kw) if last != first else a
    count = 1 if last == first else min(DECODE_SAMPLES, last - first + 1)
    lengths = [first] if count == 1 else [round(first + (last - first) * i / (count - 1)) for i in range(count)]
    shares = trapezoid_shares(count)
    points = [interpolate(llm, a, b, length) for length in lengths]
    mean_kv = sum(s * phase_shape(p).past for s, p in zip(shares, points))
    return (
        Phase("prefill", 1.0, (PhaseSample(1.0, prefill),), {"tokens": batch * request.prompt, "kv_length": 0}),
        Phase("decode", float(request.generate - 1), tuple(PhaseSample(s, p) for s, p in zip(shares, points)),
              {"tokens": batch, "kv_length": int(round(mean_kv))}),
    )


def serving_metrics(prefill_latency_s: float, decode_latency_s: float, decode_first_s: float,
                    decode_last_s: float, request: dict[str, Any]) -> dict[str, float]:
    """The named serving figures from the phase latencies (SI units)."""
    batch, generate = request["batch"], request["generate"]
    request_latency = prefill_latency_s + (generate - 1) * decode_latency_s
    return {
        "ttft_s": prefill_latency_s,
        "tpot_s": decode_latency_s,
        "tpot_first_s": decode_first_s,
        "tpot_last_s": decode_last_s,
        "tokens_per_s_per_sequence": 1.0 / decode_latency_s,
        "tokens_per_s": batch / decode_latency_s,
        "request_latency_s": request_latency,
        "requests_per_s": batch / request_latency,
        "output_tokens_per_s": batch * generate / request_latency,
    }


__all__ = ["LlmRequest", "make_request", "serving_scenario", "serving_metrics", "trapezoid_shares", "DECODE_SAMPLES",
           "DEFAULT_PROMPT", "DEFAULT_GENERATE"]
