"""In-sequence probes: chains of different ops, as a network runs them.

Isolated microbenchmarks repeat one op with its weights and outputs hot in cache and its code
warm; a network interleaves different ops, streams each layer's weights once and allocates
fresh outputs. These probes time synthetic chains built from the same op families (plain conv
pyramids, depthwise-separable pyramids, a transformer MLP stack) at several sizes, predict each
op of a chain from the isolated fits, and fit two factors that close the gap, one for the dense
ops (matmul, attention, dense convolution: the matrix-unit ops) and one for every other op
(depthwise convolution, normalization, activations, pooling, copies):

    time(chain) = dense_scale x sum(dense ops' time) + other_scale x sum(other ops' time)

Each factor multiplies whole op times, so it does not depend on whether the isolated fits call an
op compute- or memory-bound (an earlier single factor on the memory side alone swung with that
split from one calibration to the next). Plain conv and MLP chains are mostly dense, separable
chains mostly not, so the two factors are well determined.

The chains are generic building blocks at fixed synthetic sizes, not the models validated in
docs/accuracy.md: the fit sees microbenchmark data only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SCALE_BOUNDS = (0.5, 4.0)


@dataclass(frozen=True)
class SequenceProbe:
    name: str
    input_shape: tuple[int, ...]
    build: Callable[[], Any]  # returns an nn.Module


@dataclass
class SequencePoint:
    name: str
    measured_s: float
    dense_s: float  # isolated-fit prediction of its dense ops
    other_s: float  # isolated-fit prediction of its other ops
    n_ops: int
    noisy: bool
    measured_by_pass_s: list[float] | None = None  # median of each pass; measured_s is their median

    @property
    def isolated_s(self) -> float:
        return self.dense_s + self.other_s

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured_s": self.measured_s, "isolated_s": self.isolated_s,
                "dense_s": self.dense_s, "other_s": self.other_s, "n_ops": self.n_ops, "noisy": self.noisy,
                "measured_by_pass_s": list(self.measured_by_pass_s or [self.measured_s])}


@dataclass
class SequenceFit:
    dense_scale: float
    other_scale: float
    residual_rel_rms: float
    points: list[SequencePoint]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dense_scale": self.dense_scale, "other_scale": self.other_scale, "applies_to": "op-time",
                "residual_rel_rms": self.residual_rel_rms, "points": [p.to_dict() for p in self.points],
                "notes": list(self.notes)}


def _conv_stack(c: int, layers: int):
    from torch import nn

    blocks = []
    for _ in range(layers):
        blocks += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
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
    """Synthetic networks: plain conv pyramids and a transformer MLP stack (mostly dense ops) and
    depthwise-separable pyramids (mostly other ops), so both factors are determined."""
    sizes = [
        SequenceProbe("cnn-pyramid-128", (1, 3, 128, 128), lambda: _pyramid([(32, 2), (64, 2), (128, 2)], 2)),
        SequenceProbe("separable-pyramid-160", (1, 3, 160, 160),
                      lambda: _separable_pyramid([(24, 2, 4), (40, 2, 4), (80, 2, 6), (112, 1, 6), (192, 2, 6)])),
        SequenceProbe("separable-pyramid-128-b4", (4, 3, 128, 128),
                      lambda: _separable_pyramid([(24, 2, 4), (40, 2, 4), (80, 2, 6), (160, 2, 6)])),
    ]
    if plan == "full":
        sizes += [
            SequenceProbe("cnn-pyramid-96-b4", (4, 3, 96, 96), lambda: _pyramid([(48, 2), (96, 2), (192, 2)], 2)),
            # late-ResNet widths: 32 MiB of weights, more than a typical last-level cache, so
            # they stream from main memory on every pass as a large network's do
            SequenceProbe("cnn-wide-64", (1, 3, 64, 64), lambda: _pyramid([(128, 2), (256, 2), (512, 2)], 2)),
            SequenceProbe("mlp-197x384", (1, 197, 384), lambda: _mlp_stack(384, 2)),
            SequenceProbe("separable-pyramid-192", (1, 3, 192, 192),
                          lambda: _separable_pyramid([(16, 1, 4), (32, 2, 6), (64, 2, 6), (128, 2, 6)])),
            SequenceProbe("separable-pyramid-96-b8", (8, 3, 96, 96),
                          lambda: _separable_pyramid([(24, 2, 4), (48, 2, 6), (96, 2, 6)])),
        ]
    return sizes


def chain_time(point: SequencePoint, dense_scale: float, other_scale: float) -> float:
    return dense_scale * point.dense_s + other_scale * point.other_s


def fit_sequences(points: list[SequencePoint]) -> SequenceFit | None:
    """The two factors in SCALE_BOUNDS minimising the squared log error over the chains (noisy
    points weigh half), by a fine 2-D grid in log space: deterministic, and the bounds hold."""
    points = [p for p in points if p.isolated_s > 0 and p.measured_s > 0]
    if len(points) < 2:
        return None
    w = np.array([0.5 if p.noisy else 1.0 for p in points])
    t = np.array([p.measured_s for p in points])
    d = np.array([p.dense_s for p in points])
    o = np.array([p.other_s for p in points])
    grid = np.exp(np.linspace(math.log(SCALE_BOUNDS[0]), math.log(SCALE_BOUNDS[1]), 600))
    # cost[i, j] for dense_scale = grid[i], other_scale = grid[j]
    pred = grid[:, None, None] * d[None, None, :] + grid[None, :, None] * o[None, None, :]
    cost = np.sum(w * np.log(pred / t) ** 2, axis=-1)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    dense_scale, other_scale = float(grid[i]), float(grid[j])
    fitted = np.array([chain_time(p, dense_scale, other_scale) for p in points])
    rms = float(math.sqrt(np.mean(((fitted - t) / t) ** 2)))
    return SequenceFit(dense_scale, other_scale, rms, points)


def time_chains(plan: str = "full", *, threads: int | None = None, budget_s: float = 2.0) -> dict[str, dict[str, Any]]:
    """Time every chain of ``plan`` once in this process: ``{name: {"p10_s", "median_s", "noisy"}}``."""
    import torch

    from roofline.calibration.timing import num_threads, settle_allocator, time_callable

    out: dict[str, dict[str, Any]] = {}
    with num_threads(threads), torch.inference_mode():
        settle_allocator()
        for probe in probes(plan):
            module = probe.build().eval()
            x = torch.randn(*probe.input_shape)
            module(x)
            timing = time_callable(lambda: module(x), warmup=2, min_repeats=7, budget_s=budget_s, min_sample_s=0.0)
            out[probe.name] = {"p10_s": timing.p10_s, "median_s": timing.median_s, "noisy": timing.noisy}
    return out


class ChainTimer:
    """Times the chains of a plan once per call of :meth:`time_pass`; :meth:`fit` then predicts
    them and fits the factors.

    Each pass runs in a fresh Python process (``python -m roofline.calibration.sequences``): on
    the development host the same chains ran 20-27 % slower in a process that had just run the
    microbenchmark suite than in a fresh one, and neither settling nor trimming the allocator
    undid it, while a model measured by ``roofline validate`` or served by an application runs in
    a process of its own. ``roofline calibrate`` calls ``time_pass`` after each pass of the suite,
    so a chain's timings lie a minute or more apart and a slow spell of the host sways one of
    them, not the factor."""

    def __init__(self, plan: str = "full", *, threads: int | None = None, passes: int | None = None,
                 budget_s: float | None = None) -> None:
        from roofline.calibration.probes import PLANS

        self.plan = plan
        self.threads = threads
        self.cases = probes(plan)
        self.passes = passes if passes is not None else (PLANS[plan].passes if plan in PLANS else 1)
        self.budget_s = budget_s if budget_s is not None else 2.0 / self.passes
        self.timings: list[dict[str, dict[str, Any]]] = []
        self.notes: list[str] = []

    @property
    def estimated_pass_s(self) -> float:
        return 3.0 + len(self.cases) * (self.budget_s + 0.1)  # interpreter start, then the chains

    def time_pass(self, progress: Callable[..., None] | None = None) -> None:
        import json
        import subprocess
        import sys

        k = len(self.timings)
        if progress:
            progress("sequences", k, self.passes, (self.passes - k) * self.estimated_pass_s)
        cmd = [sys.executable, "-m", "roofline.calibration.sequences", "--plan", self.plan,
               "--budget-s", repr(self.budget_s)] + (["--threads", str(self.threads)] if self.threads else [])
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            timings = json.loads(done.stdout.strip().splitlines()[-1])
        except (subprocess.CalledProcessError, OSError, ValueError, IndexError) as exc:
            why = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
            self.notes.append(f"pass {k + 1}: a fresh process could not time the chains "
                              f"({why[-1] if why else type(exc).__name__}); timed in this process")
            timings = time_chains(self.plan, threads=self.threads, budget_s=self.budget_s)
        self.timings.append(timings)
        if progress:
            progress("sequences", k + 1, self.passes, (self.passes - k - 1) * self.estimated_pass_s)

    def fit(self, predict_isolated: Callable[[Any, tuple[int, ...]], tuple[float, float, int]]) -> SequenceFit | None:
        """``predict_isolated(module, input_shape) -> (dense_s, other_s, n_ops)``: the chain predicted
        from the isolated fits alone, split into dense and other ops (the caller owns the predictor)."""
        points = []
        for probe in self.cases:
            runs = [t[probe.name] for t in self.timings if probe.name in t]
            if not runs:
                continue
            # the median within a pass: the factors map the isolated fits (p10 of each probe) onto
            # a network's median latency, the figure `validate` reports; the median pass across passes
            timing = sorted(runs, key=lambda r: r["median_s"])[(len(runs) - 1) // 2]
            dense_s, other_s, n_ops = predict_isolated(probe.build().eval(), probe.input_shape)
            points.append(SequencePoint(probe.name, float(timing["median_s"]), float(dense_s), float(other_s),
                                        int(n_ops), bool(timing["noisy"]), [float(r["median_s"]) for r in runs]))
        result = fit_sequences(points)
        if result is not None:
            result.notes = list(self.notes)
        return result


def _main(argv: list[str] | None = None) -> None:
    """``python -m roofline.calibration.sequences``: time the chains once, print JSON (one line)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Time the in-sequence chains once and print JSON.")
    parser.add_argument("--plan", default="full", choices=("quick", "full"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    print(json.dumps(time_chains(args.plan, threads=args.threads, budget_s=args.budget_s)))


if __name__ == "__main__":
    _main()
