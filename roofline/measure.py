"""Measure a model's real latency on this host (``profile --measure``, ``validate``).

The forward runs for real in eval mode under ``torch.inference_mode()`` with warm-up and
repeats; the median and its dispersion come from the calibration timing harness. The allocator
is settled first (``settle_allocator``), as the calibration does, so that a measurement does not
depend on what the process ran before.

**Busy host.** While it times, the harness also reads how much CPU other processes used
(/proc/stat minus this process's own CPU time, ``ForeignLoad``) and the 1-minute load average.
A measurement is *busy* when other processes left fewer free logical CPUs than the run's threads
need, or when its repeats spread too far (p90 / p10 above ``BUSY_SPREAD``): the figure then says
more about the neighbours than about the model, so ``busy_reason`` says why, with the figures,
and callers report that instead of a latency.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from roofline.errors import RooflineError


BUSY_SPREAD = 1.5  # p90 / p10 of the repeats above which a measurement is too unstable to report
BUSY_SPARE_CPUS = 0.25  # other processes may take this much of the CPUs the run needs before it is busy


@dataclass(frozen=True)
class MeasuredLatency:
    latency_s: float  # median
    p10_s: float
    p90_s: float
    dispersion: float  # IQR / median
    noisy: bool
    repeats: int
    threads: int
    foreign_load: float | None = None  # other processes' CPU use per logical CPU while timing (0..1)
    load_avg_1m: float | None = None
    logical_cpus: int = 0
    busy_reason: str | None = None  # set when the host was too busy to measure: why, with the figures

    @property
    def busy(self) -> bool:
        return self.busy_reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "busy": self.busy}


def busy_reason(*, threads: int, logical_cpus: int, foreign_load: float | None, p10_s: float, p90_s: float,
                load_avg_1m: float | None = None) -> str | None:
    """Why a measurement cannot be trusted, or None. ``foreign_load``: other processes' CPU seconds per
    wall second per logical CPU; they are taken to leave ``logical_cpus x (1 - foreign_load)`` CPUs."""
    reasons = []
    if foreign_load is not None and logical_cpus > 0:
        others = foreign_load * logical_cpus
        free = logical_cpus - others
        if free < threads - BUSY_SPARE_CPUS:
            reasons.append(f"other processes used {others:.1f} of {logical_cpus} CPUs while it ran, leaving "
                           f"{max(free, 0):.1f} for {threads} thread(s)")
    spread = p90_s / p10_s if p10_s > 0 else float("inf")
    if spread > BUSY_SPREAD:
        reasons.append(f"repeats spread {spread:.2f}x (p90 {p90_s * 1e3:.3g} ms / p10 {p10_s * 1e3:.3g} ms)")
    if not reasons:
        return None
    load = f"; load average {load_avg_1m:g}" if load_avg_1m is not None else ""
    return "host too busy to measure: " + "; ".join(reasons) + load


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


def measure_latency(model: nn.Module, input_shape: tuple[int, ...] | None, *, threads: int | None = None,
                    budget_s: float = 2.0, min_repeats: int = 5, inputs: tuple[Any, ...] | None = None
                    ) -> MeasuredLatency:
    """Median latency of one forward pass of ``model`` on a random input of ``input_shape`` (CPU), or
    on the tensors ``inputs`` (a language model's token ids and KV cache, say)."""
    import os

    from roofline.calibration.host import ForeignLoad, load_average
    from roofline.calibration.timing import num_threads, settle_allocator, time_callable

    settle_allocator()  # the allocator state the calibration measured in
    model = materialize(model).eval()
    args = tuple(inputs) if inputs is not None else (torch.randn(*input_shape),)
    with num_threads(threads) as n, torch.inference_mode():
        try:
            model(*args)  # first call: allocations, oneDNN primitive creation
        except Exception as exc:
            raise RooflineError(f"the model failed to run on this host: {type(exc).__name__}: {exc}") from exc
        with ForeignLoad() as meter:
            timing = time_callable(lambda: model(*args), warmup=2, min_repeats=min_repeats, budget_s=budget_s,
                                   min_sample_s=0.0)
    cpus = os.cpu_count() or 1
    load = load_average()
    reason = busy_reason(threads=n, logical_cpus=cpus, foreign_load=meter.value, p10_s=timing.p10_s,
                         p90_s=timing.p90_s, load_avg_1m=load)
    return MeasuredLatency(timing.median_s, timing.p10_s, timing.p90_s, timing.dispersion, timing.noisy, timing.n, n,
                           meter.value, load, cpus, reason)
