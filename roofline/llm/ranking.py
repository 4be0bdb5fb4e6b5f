"""Rank catalog devices for serving an LLM request: by tokens/s, cost per million tokens, latency...

The request is traced once (prefill and decode steps); each device is then a few predictions.
Devices that cannot run it (no path for the dtype, no bandwidth figure), that lack the memory for
weights + KV cache, or that miss a constraint are listed with their reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.llm.estimate import CostModel, LlmPrediction, LlmRequest, estimate_phases, trace_request
from roofline.llm.model import LlmModel, load_llm

from roofline.predict.efficiency import Runtime, Tier
from roofline.ranking import Exclusion, power_and_price_violations, screen_and_sort

SORT_KEYS = ("tokens-per-s", "cost", "latency", "ttft", "tpot", "energy", "price", "perf-per-dollar",
             "perf-per-watt", "throughput")


@dataclass(frozen=True)
class LlmConstraints:
    """Filters applied after prediction; None means unconstrained. SI units."""

    kinds: tuple[str, ...] | None = None
    max_latency_s: float | None = None  # whole request
    max_ttft_s: float | None = None
    max_tpot_s: float | None = None
    min_tokens_per_s: float | None = None  # decode throughput of the batch
    max_power_w: float | None = None
    max_price_usd: float | None = None


@dataclass
class LlmRankResult:
    model: str
    request: LlmRequest
    runtime: str
    sort: str
    ranked: list[LlmPrediction] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            **self.request.to_dict(),
            "runtime": self.runtime,
            "sort": self.sort,
            "ranked": [p.to_dict() for p in self.ranked],
            "excluded": [e.to_dict() for e in self.excluded],
        }


def _key(sort: str):
    def key(p: LlmPrediction) -> tuple[int, float]:
        if sort in ("tokens-per-s", "throughput"):
            return 0, -p.tokens_per_s
        if sort == "latency":
            return 0, p.request_latency_s
        if sort == "ttft":
            return 0, p.ttft_s
        if sort == "tpot":
            return 0, p.tpot_s
        if sort == "cost":
            v = p.usd_per_million_tokens
            return (0, v) if v is not None else (1, -p.tokens_per_s)
        if sort == "energy":
            v = p.energy_per_token_j
            return (0, v) if v is not None else (1, -p.tokens_per_s)
        if sort == "price":
            return (0, p.price_usd) if p.price_usd is not None else (1, -p.tokens_per_s)
        if sort == "perf-per-dollar":
            return (0, -p.tokens_per_s / p.price_usd) if p.price_usd else (1, -p.tokens_per_s)
        if sort == "perf-per-watt":
            return (0, -p.tokens_per_s / p.power_w) if p.power_w else (1, -p.tokens_per_s)
        raise RooflineError(f"unknown sort key {sort!r}: choose {', '.join(SORT_KEYS)}")
    return key


def _violations(p: LlmPrediction, c: LlmConstraints) -> list[tuple[str, str]]:
    out = []
    if c.max_latency_s is not None and p.request_latency_s > c.max_latency_s:
        out.append(("latency", f"request latency {p.request_latency_s:.3g} s > {c.max_latency_s:.3g} s"))
    if c.max_ttft_s is not None and p.ttft_s > c.max_ttft_s:
        out.append(("latency", f"time to first token {p.ttft_s * 1e3:.3g} ms > {c.max_ttft_s * 1e3:.3g} ms"))
    if c.max_tpot_s is not None and p.tpot_s > c.max_tpot_s:
        out.append(("latency", f"time per output token {p.tpot_s * 1e3:.3g} ms > {c.max_tpot_s * 1e3:.3g} ms"))
    if c.min_tokens_per_s is not None and p.tokens_per_s < c.min_tokens_per_s:
        out.append(("throughput", f"{p.tokens_per_s:.3g} tokens/s < {c.min_tokens_per_s:.3g} tokens/s"))
    return out + power_and_price_violations(p.tdp_w, p.price_usd, c.max_power_w, c.max_price_usd)


def rank_llm(model: str | LlmModel, devices: Iterable[DeviceSpec], request: LlmRequest | None = None,
             constraints: LlmConstraints | None = None, *, runtime: str | Runtime = Runtime.COMPILED,
             tier: str | Tier | None = None, sort: str = "tokens-per-s", top: int | None = None,
             costs: CostModel | None = None) -> LlmRankResult:
    """Estimate ``request`` on every device, drop those that cannot serve it (with the reason), sort."""
    if sort not in SORT_KEYS:
        raise RooflineError(f"unknown sort key {sort!r}: choose {', '.join(SORT_KEYS)}")
    llm = load_llm(model) if isinstance(model, str) else model
    request = request or LlmRequest()
    constraints = constraints or LlmConstraints()
    phases = trace_request(llm, request)
    result = LlmRankResult(f"hf:{llm.name}", request, str(runtime), sort)
    result.ranked, result.excluded = screen_and_sort(
        devices, constraints.kinds,
        lambda device: estimate_phases(phases, device, runtime=runtime, tier=tier, costs=costs),
        lambda p: _violations(p, constraints), _key(sort), top)
    return result


__all__ = ["rank_llm", "LlmConstraints", "LlmRankResult", "SORT_KEYS"]
