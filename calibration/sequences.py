"""In-sequence probes: chains of different ops, as a network runs them.

Isolated microbenchmarks repeat one op with its weights and outputs hot in cache and its code
warm; a network interleaves different ops, streams each layer's weights once and allocates
fresh outputs. These probes time synthetic chains built from the same op families (conv + norm +
activation stacks, depthwise-separable stacks, MLP stacks) at several sizes, predict each chain
from the isolated fits, and fit one parameter that closes the gap, a scale on the memory side of
each op (the isolated probes stream from hot caches into recycled buffers; a network does not):

    time(chain) = sum over ops of max(compute_i, scale x memory_i) + overhead_i

The chains are generic building blocks at fixed synthetic sizes, not the models validated in
docs/accuracy.md: the fit sees microbenchmark data only.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class SequenceProbe:
    name: str
    input_shape: tuple[int, ...]
    build: Callable[[], Any]  # returns an nn.Module


@dataclass
class SequencePoint:
    name: str
    measured_s: float
    isolated_s: float  # sum of the isolated-fit predictions of its ops
    n_ops: int
    noisy: bool
    # per-op (compute, memory, overhead) seconds of the isolated prediction; not serialised
    parts: tuple[Any, Any, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured_s": self.measured_s, "isolated_s": self.isolated_s,
                "n_ops": self.n_ops, "noisy": self.noisy}


@dataclass
class SequenceFit:
    scale: float
    per_op_s: float
    residual_rel_rms: float
    points: list[SequencePoint]

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "applies_to": "memory", "per_op_s": self.per_op_s,
                "residual_rel_rms": self.residual_rel_rms, "points": [p.to_dict() for p in self.points]}


def _conv_stack(c: int, layers: int):
    from torch import nn

    blocks = []
    for _ in range(layers):
        blocks += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
    return nn.Sequential(*blocks)


def _separable_stack(c: int, expand: int, layers: int):
    from torch import nn

    blocks = []
    for _ in range(layers):
        hidden = c * expand
        blocks += [nn.Conv2d(c, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish(),
                   nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.SiLU(), nn.Conv2d(hidden, c, 1, bias=False), nn.BatchNorm2d(c)]
    return nn.Sequential(*blocks)


def _mlp_stack(d: int, layers: int):
    from torch import nn

    blocks = []
    for _ in range(layers):
        blocks += [nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)]
    return nn.Sequential(*blocks)


def _pyramid(stages: list[tuple[int, int]], blocks: int):
    """A plain CNN: per stage, a strided conv into ``channels`` then ``blocks`` conv-norm-relu layers."""
    from torch import nn

    layers, c_in = [], 3
    for c, stride in stages:
        layers += [nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        layers += list(_conv_stack(c, blocks))
        c_in = c
    return nn.Sequential(*layers)


def _separable_pyramid(stages: list[tuple[int, int, int]]):
    """Depthwise-separable stages (channels, stride, expansion) with 2 blocks each."""
    from torch import nn

    layers, c_in = [nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.Hardswish()], 16
    for c, stride, expand in stages:
        for i in range(2):
            hidden = c_in * expand
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU(),
                       nn.Conv2d(hidden, hidden, 5 if i else 3, stride=stride if i == 0 else 1, padding=2 if i else 1,
                                 groups=hidden, bias=False),
                       nn.BatchNorm2d(hidden), nn.Hardswish(), nn.Conv2d(hidden, c, 1, bias=False), nn.BatchNorm2d(c)]
            c_in = c
    return nn.Sequential(*layers)


def probes(plan: str = "full") -> list[SequenceProbe]:
    """Synthetic depthwise-separable networks: their time is dominated by the memory side (depthwise
    convolutions, normalization, activations on large activations), which is what the scale
    corrects. Compute-bound chains (plain conv pyramids, MLPs) leave the scale unconstrained and
    only add noise to it, so they are not used."""
    sizes = [
        SequenceProbe("separable-pyramid-160", (1, 3, 160, 160),
                      lambda: _separable_pyramid([(24, 2, 4), (40, 2, 4), (80, 2, 6), (112, 1, 6), (192, 2, 6)])),
        SequenceProbe("separable-pyramid-128-b4", (4, 3, 128, 128),
                      lambda: _separable_pyramid([(24, 2, 4), (40, 2, 4), (80, 2, 6), (160, 2, 6)])),
    ]
    if plan == "full":
        sizes += [
            SequenceProbe("separable-pyramid-192", (1, 3, 192, 192),
                          lambda: _separable_pyramid([(16, 1, 4), (32, 2, 6), (64, 2, 6), (128, 2, 6)])),
            SequenceProbe("separable-pyramid-96-b8", (8, 3, 96, 96),
                          lambda: _separable_pyramid([(24, 2, 4), (48, 2, 6), (96, 2, 6)])),
        ]
    return sizes


def chain_time(point: SequencePoint, scale: float) -> float:
    compute, memory, overhead = point.parts
    return float(np.sum(np.maximum(compute, scale * memory) + overhead))


def fit_sequences(points: list[SequencePoint]) -> SequenceFit | None:
    """The memory-side scale in [0.5, 4] minimising the squared log error over the chains (noisy
    points weigh half), by a fine 1-D grid: the max() makes the objective piecewise smooth."""
    points = [p for p in points if p.parts is not None]
    if len(points) < 2:
        return None
    w = np.array([0.5 if p.noisy else 1.0 for p in points])
    t = np.array([p.measured_s for p in points])
    grid = np.exp(np.linspace(math.log(0.5), math.log(4.0), 400))
    costs = [float(np.sum(w * np.log(np.array([chain_time(p, g) for p in points]) / t) ** 2)) for g in grid]
    scale = float(grid[int(np.argmin(costs))])
    pred = np.array([chain_time(p, scale) for p in points])
    rms = float(math.sqrt(np.mean(((pred - t) / t) ** 2)))
    return SequenceFit(scale, 0.0, rms, points)


def run_sequences(predict_isolated: Callable[[Any, tuple[int, ...]], tuple[float, int]], *, plan: str = "full",
                  threads: int | None = None, progress: Callable[..., None] | None = None) -> SequenceFit | None:
    """Time each chain and fit the in-sequence parameters.

    ``predict_isolated(module, input_shape) -> (compute_s, memory_s, overhead_s)``: per-op arrays
    of the chain predicted from the isolated fits alone (the caller owns the predictor).
    """
    import torch

    from roofline.calibration.timing import num_threads, time_callable

    cases = probes(plan)
    points = []
    with num_threads(threads), torch.inference_mode():
        for i, probe in enumerate(cases):
            if progress:
                progress("sequences", i, len(cases), 2.0 * (len(cases) - i))
            module = probe.build().eval()
            x = torch.randn(*probe.input_shape)
            module(x)
            timing = time_callable(lambda: module(x), warmup=2, min_repeats=7, budget_s=2.0, min_sample_s=0.0)
            compute, memory, overhead = (np.asarray(a, dtype=float) for a in predict_isolated(module, probe.input_shape))
            # p10, as the isolated fits use: the scale then measures the network's systematic
            # slowdown rather than this run's noise
            point = SequencePoint(probe.name, timing.p10_s, 0.0, int(np.count_nonzero(overhead)), timing.noisy,
                                  (compute, memory, overhead))
            point.isolated_s = chain_time(point, 1.0)
            points.append(point)
    if progress:
        progress("sequences", len(cases), len(cases), 0.0)
    return fit_sequences(points)
