"""LLM serving estimates for decoder-only transformers (``hf:`` models).

    >>> import roofline
    >>> e = roofline.estimate("hf:llama-3-8b", "nvidia-h100-sxm", prompt=1024, generate=256, batch=8)  # doctest: +SKIP
    >>> e.metrics["ttft_s"], e.metrics["tpot_s"], e.metrics["tokens_per_s"], e.memory.fits             # doctest: +SKIP

- :func:`serving_scenario`: the prefill and decode phases of a request as a scenario, which every
  estimate, ranking, plan and report takes (roofline.estimation, roofline.decide);
- :func:`trace_phase`: the traced records of one phase (prefill, or a decode step at a KV length);
- :class:`ContinuousBatching`: one replica serving a request mix with continuous batching (KV-limited
  concurrency, TTFT/TPOT at a concurrency or rate, goodput under SLOs; roofline.decide.load plans a load).

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
    "serving_scenario": "roofline.llm.serving",
    "make_request": "roofline.llm.serving",
    "LlmRequest": "roofline.llm.serving",
    "ContinuousBatching": "roofline.llm.batching",
    "RequestMix": "roofline.llm.batching",
    "load_mix": "roofline.llm.batching",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roofline.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
