"""What is being estimated: a scenario is a set of phases, each a Workload and how often it runs.

- a forward pass: one phase ("forward") that runs once per batch; its unit is the inference;
- language-model serving (roofline.llm.serving): a "prefill" phase that runs once, and a "decode"
  phase that runs once per generated token after the first, its latency the weighted mean of a few
  sampled decode steps; its unit is the generated token, and it carries the KV cache as extra memory;
- room for more (several GPUs, training steps): a scenario only needs its phases and memory.

Every phase sample goes through the same per-op roofline (roofline.predict); the estimate stage
(roofline.estimate) combines them: latency of one run = sum over phases of runs x phase latency.
Scenarios are pure data; they never depend on a device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roofline.errors import RooflineError
from roofline.workload.types import Workload

FORWARD = "forward"
SERVING = "serving"


@dataclass(frozen=True)
class PhaseSample:
    """One traced workload of a phase and its share of the phase's runs (shares sum to 1)."""

    share: float
    workload: Workload


@dataclass(frozen=True)
class Phase:
    """A named part of a scenario: ``runs`` times per scenario run, at the mean latency of its samples."""

    name: str  # "forward", "prefill", "decode"
    runs: float
    samples: tuple[PhaseSample, ...]
    facts: dict[str, Any] = field(default_factory=dict)  # what the phase processes (tokens, KV length)

    def __post_init__(self) -> None:
        if not self.samples:
            raise RooflineError(f"phase {self.name!r} has no traced workload")
        if self.runs < 0:
            raise RooflineError(f"phase {self.name!r}: runs must be non-negative, got {self.runs}")
        total = sum(s.share for s in self.samples)
        if abs(total - 1.0) > 1e-9:
            raise RooflineError(f"phase {self.name!r}: sample shares sum to {total}, not 1")


@dataclass(frozen=True)
class Scenario:
    """Phases of one model and input, with what one run produces and what it holds in memory.

    ``units_per_run``: units of ``unit`` one run produces (a batch's inferences, or its generated tokens);
    ``requests_per_run``: requests one run serves (the batch). ``extra_memory_bytes``: memory held beside
    weights and activations (the KV cache of a serving scenario). ``options``: what the user asked for (request lengths, formats).
    """

    model: str
    kind: str  # FORWARD or SERVING
    phases: tuple[Phase, ...]
    batch: int
    dtype: str
    unit: str  # "inference" or "token"
    units_per_run: float
    requests_per_run: int
    weight_bytes: int
    extra_memory_bytes: int = 0  # the KV cache of a serving scenario
    default_runtime: str = "eager"
    options: dict[str, Any] = field(default_factory=dict)
    # several GPUs (roofline.llm.parallel): GPUs of one replica; weights, extra memory and activations
    # above are those of ONE GPU; ``parallel`` is the layout and its collectives (a ParallelPlan)
    gpus: int = 1
    parallel: Any = field(default=None, compare=False, repr=False)

    @property
    def activation_bytes(self) -> int:
        """The largest peak of live activations over every phase sample."""
        return max(s.workload.peak_activation_bytes for p in self.phases for s in p.samples)

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def primary(self) -> Workload:
        """The workload that stands for the scenario in per-op views (the first phase's first sample)."""
        return self.phases[0].samples[0].workload

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "scenario": self.kind, "batch": self.batch, "dtype": self.dtype, "unit": self.unit,
            "units_per_run": self.units_per_run, "weight_bytes": self.weight_bytes,
            "activation_bytes": self.activation_bytes, "extra_memory_bytes": self.extra_memory_bytes,
            "phases": [{"name": p.name, "runs": p.runs, "samples": len(p.samples), **p.facts} for p in self.phases],
            **self.options,
        }


def forward_scenario(workload: Workload) -> Scenario:
    """One forward pass of a batch: the unit is the inference (one batch element)."""
    return Scenario(model=workload.model, kind=FORWARD, phases=(Phase(FORWARD, 1.0, (PhaseSample(1.0, workload),)),),
                    batch=workload.batch, dtype=workload.dtype, unit="inference", units_per_run=float(workload.batch),
                    requests_per_run=workload.batch, weight_bytes=workload.weight_bytes)


__all__ = ["Scenario", "Phase", "PhaseSample", "forward_scenario", "FORWARD", "SERVING"]
