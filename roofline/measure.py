"""Measure a model's real latency on this host (``profile --measure``, ``validate``).

The forward runs for real in eval mode under ``torch.inference_mode()`` with warm-up and
repeats; the median and its dispersion come from the calibration timing harness. The allocator
is settled first (``settle_allocator``), as the calibration does, so that a measurement does not
depend on what the process ran before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from roofline.errors import RooflineError


@dataclass(frozen=True)
class MeasuredLatency:
    latency_s: float  # median
    p10_s: float
    p90_s: float
    dispersion: float  # IQR / median
    noisy: bool
    repeats: int
    threads: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def materialize(model: nn.Module) -> nn.Module:
    """A module with real storage: meta parameters become randomly initialised CPU tensors."""
    if not any(t.device.type == "meta" for t in list(model.parameters()) + list(model.buffers())):
        return model
    model = model.to_empty(device="cpu")
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    for name, buf in model.named_buffers():
        if buf.is_floating_point():
            buf.copy_(torch.ones_like(buf) if name.endswith("running_var") else torch.zeros_like(buf))
        else:
            buf.zero_()
    return model


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], *, threads: int | None = None,
                    budget_s: float = 2.0, min_repeats: int = 5) -> MeasuredLatency:
    """Median latency of one forward pass of ``model`` on a random input of ``input_shape`` (CPU)."""
    from roofline.calibration.timing import num_threads, settle_allocator, time_callable

    settle_allocator()  # the allocator state the calibration measured in
    model = materialize(model).eval()
    x = torch.randn(*input_shape)
    with num_threads(threads) as n, torch.inference_mode():
        try:
            model(x)  # first call: allocations, oneDNN primitive creation
        except Exception as exc:
            raise RooflineError(f"the model failed to run on this host: {type(exc).__name__}: {exc}") from exc
        timing = time_callable(lambda: model(x), warmup=2, min_repeats=min_repeats, budget_s=budget_s,
                               min_sample_s=0.0)
    return MeasuredLatency(timing.median_s, timing.p10_s, timing.p90_s, timing.dispersion, timing.noisy, timing.n, n)
