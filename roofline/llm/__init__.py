"""LLM serving estimates for decoder-only transformers (``hf:`` models).

    >>> from roofline.llm import estimate, make_request, load_llm
    >>> from roofline.catalog import load_catalog
    >>> p = estimate("hf:llama-3-8b", load_catalog().get("nvidia-h100-sxm"),
    ...              make_request(prompt=1024, generate=256, batch=8))          # doctest: +SKIP
    >>> p.ttft_s, p.tpot_s, p.tokens_per_s, p.memory.fits                      # doctest: +SKIP

- :func:`estimate` / :func:`rank_llm`: per device, prefill and decode phases, TTFT, TPOT, tokens/s,
  request latency, memory (weights + KV cache) and cost per million tokens;
- :func:`plan_llm`: units, power and cost per device for a target of requests/s or tokens/s;
- :func:`trace_phase`: the traced records of one phase (prefill, or a decode step at a KV length).

Method and validation: docs/llm.md.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "load_llm": "roofline.llm.model",
    "LlmModel": "roofline.llm.model",
    "ContextLengthError": "roofline.llm.model",
    "trace_phase": "roofline.llm.trace",
    "PhaseTrace": "roofline.llm.trace",
    "estimate": "roofline.llm.estimate",
    "estimate_phases": "roofline.llm.estimate",
    "trace_request": "roofline.llm.estimate",
    "make_request": "roofline.llm.estimate",
    "LlmRequest": "roofline.llm.estimate",
    "LlmPrediction": "roofline.llm.estimate",
    "CostModel": "roofline.llm.estimate",
    "rank_llm": "roofline.llm.ranking",
    "LlmConstraints": "roofline.llm.ranking",
    "plan_llm": "roofline.llm.plan",
    "LlmPlanResult": "roofline.llm.plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roofline.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
