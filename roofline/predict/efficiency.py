"""How much of a device's datasheet peak a runtime really reaches: the execution model.

Three tiers (docs/methodology.md):
- ``sol`` (speed of light): 100 % of peak compute and bandwidth, fused bytes, no per-op overhead;
- ``datasheet``: peak x the default efficiencies below, per runtime, device kind and op class;
- ``published``: the same execution model on published measurements of the device (attainable GEMM per
  dtype, sustained bandwidth: the ``published`` block of its YAML) in place of the datasheet peaks, with
  efficiencies of its own fitted on the corpus (roofline.predict.published);
- ``calibrated``: efficiencies fitted from microbenchmarks run on the device itself, read from
  the ``calibration`` block of its YAML (written by ``roofline calibrate``).

The defaults come from published measurements (sources in docs/methodology.md):
- GEMM on GPUs reaches 51-87 % of the BF16 peak with cuBLAS-class kernels (stas00/ml-engineering
  "maximum achievable matmul FLOPS"); eager PyTorch at inference batch sizes lands lower.
- Sustained bandwidth is 80-90 % of HBM peak and 67-79 % on LPDDR/DDR SoCs; a Raspberry Pi 4
  STREAM run reaches ~43 % of its wire rate (sci-pi.org.uk STREAM results).
- Per-op overhead: NVIDIA's aiconfigurator adds 3 us per memory-bound kernel (compiled); eager
  PyTorch pays its dispatcher and, on GPUs, a kernel launch per op (5-10 us).
- PyTorch eager on a Raspberry Pi 5 reaches about 10 % of the NEON peak on YOLO11n.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from roofline.catalog.calibration import CalibrationClass, CalibrationRecord, ClassFitRecord
from roofline.errors import RooflineError
from roofline.workload.types import OpClass


class Runtime(str, enum.Enum):
    EAGER = "eager"  # PyTorch eager: unfused bytes, per-op dispatch overhead
    COMPILED = "compiled"  # fused-graph runtimes (TensorRT, OpenVINO, torch.compile): fused bytes

    def __str__(self) -> str:
        return self.value


class Tier(str, enum.Enum):
    SOL = "speed-of-light"
    DATASHEET = "datasheet"
    PUBLISHED = "published"
    CALIBRATED = "calibrated"

    def __str__(self) -> str:
        return self.value


# Stated error bands per tier (docs/methodology.md): measured latency / predicted latency.
ERROR_BANDS: dict[Tier, str] = {
    Tier.SOL: "lower bound: real latency is typically 1.5x-10x higher",
    Tier.DATASHEET: "typically within 0.5x-2x of measured; worse for tiny ops and edge boards",
    Tier.PUBLISHED: "published attainable peaks in place of the datasheet's; errors as for the datasheet tier "
                    "(docs/accuracy.md)",
    Tier.CALIBRATED: "typically within +-35 % on the calibrated host and runtime (median ~15 %)",
}


def parse_runtime(value: str | Runtime) -> Runtime:
    try:
        return Runtime(str(value).lower())
    except ValueError:
        raise RooflineError(f"unknown runtime {value!r}: choose eager or compiled") from None


def parse_tier(value: str | Tier | None) -> Tier | None:
    if value is None:
        return None
    key = str(value).lower()
    aliases = {"sol": Tier.SOL, "speed-of-light": Tier.SOL, "datasheet": Tier.DATASHEET,
               "published": Tier.PUBLISHED, "calibrated": Tier.CALIBRATED}
    if key not in aliases:
        raise RooflineError(f"unknown tier {value!r}: choose sol, datasheet, published or calibrated")
    return aliases[key]


@dataclass(frozen=True)
class ClassParams:
    """Measured parameters of one op class at one dtype (calibrated tier):

    time = max(F / peak_flops_per_s, B / (bandwidth_fraction x level bandwidth)) + overhead_s

    A parameter the calibration could not determine (no compute-bound or no memory-bound
    case) is None and falls back to the datasheet path.
    """

    peak_flops_per_s: float | None
    bandwidth_fraction: float | None
    overhead_s: float | None
    bandwidth_bytes_per_s: float | None = None  # absolute, when the calibration measured no memory level


@dataclass(frozen=True)
class MemoryLevel:
    """A level of the memory hierarchy: working sets up to ``max_bytes`` stream at this rate."""

    name: str
    max_bytes: float  # inf for main memory
    bandwidth_bytes_per_s: float


@dataclass(frozen=True)
class ExecutionModel:
    """Everything the per-op roofline needs besides the op and the device's peaks."""

    runtime: Runtime
    tier: Tier
    compute_efficiency: dict[OpClass, float]  # fraction of the unit's peak
    memory_efficiency: float  # fraction of peak bandwidth, for every level
    overhead_s: float  # fixed cost per (non-view) op
    fused_bytes: bool
    # calibrated extras (empty in the datasheet and SOL tiers)
    class_params: dict[tuple[str, str], ClassParams] = field(default_factory=dict)  # (class, dtype) -> params
    family_params: dict[tuple[str, str], ClassParams] = field(default_factory=dict)  # (family, dtype) -> params
    levels: tuple[MemoryLevel, ...] = ()  # measured levels; empty = derive from the catalog
    measured_peaks: dict[str, float] = field(default_factory=dict)  # dtype -> best measured FLOP/s
    power: dict[str, Any] | None = None  # measured power: idle_w, load_w
    # in-sequence correction (calibration/sequences.py): each op's time x the factor of its kind
    sequence_dense_scale: float = 1.0  # matmul, attention, dense convolution
    sequence_other_scale: float = 1.0  # every other op
    # shape-aware compute (engine models, roofline.predict.engines): an op of F FLOPs on a device of U
    # compute units reaches efficiency x s / (s + saturation) of its peak, s = F / U: a small op cannot
    # fill every core or SM (a batch-1 layer does not scale over 96 cores; a small GEMM leaves SMs idle)
    saturation_flops_per_unit: float = 0.0
    # calibrated eager costs the op counts leave out: a view op's dispatch, an nn.Module call
    view_overhead_s: float = 0.0
    module_call_s: float = 0.0


_MATMUL_LIKE = (OpClass.MATMUL, OpClass.CONV, OpClass.ATTENTION)
_VECTOR_CLASSES = (OpClass.ELEMENTWISE, OpClass.REDUCTION, OpClass.NORMALIZATION, OpClass.POOLING,
                   OpClass.DATA_MOVEMENT, OpClass.OTHER, OpClass.VIEW)


def _table(matmul: float, conv: float, attention: float, vector: float) -> dict[OpClass, float]:
    table = {OpClass.MATMUL: matmul, OpClass.CONV: conv, OpClass.ATTENTION: attention}
    table.update({c: vector for c in _VECTOR_CLASSES})
    return table


# (runtime, device kind) -> (compute efficiencies, memory efficiency, per-op overhead in s)
DEFAULTS: dict[tuple[Runtime, str], tuple[dict[OpClass, float], float, float]] = {
    (Runtime.EAGER, "gpu"): (_table(0.60, 0.50, 0.45, 0.50), 0.75, 8e-6),
    (Runtime.EAGER, "cpu"): (_table(0.60, 0.40, 0.40, 0.30), 0.60, 6e-6),
    (Runtime.EAGER, "sbc"): (_table(0.25, 0.12, 0.15, 0.15), 0.45, 25e-6),
    (Runtime.COMPILED, "gpu"): (_table(0.75, 0.65, 0.60, 0.60), 0.85, 3e-6),
    (Runtime.COMPILED, "cpu"): (_table(0.70, 0.55, 0.50, 0.40), 0.75, 2e-6),
    (Runtime.COMPILED, "sbc"): (_table(0.50, 0.35, 0.35, 0.30), 0.60, 8e-6),
    (Runtime.COMPILED, "accelerator"): (_table(0.50, 0.50, 0.40, 0.30), 0.60, 10e-6),
}


class RuntimeUnavailable(RooflineError):
    """The runtime cannot run on this kind of device (e.g. PyTorch eager on an Edge TPU)."""


def datasheet_model(kind: str, runtime: Runtime) -> ExecutionModel:
    key = (runtime, kind)
    if key not in DEFAULTS:
        raise RuntimeUnavailable(f"no {runtime.value} runtime for {kind} devices "
                                 "(NPUs run only compiled graphs: use --runtime compiled)")
    compute, memory, overhead = DEFAULTS[key]
    return ExecutionModel(runtime, Tier.DATASHEET, dict(compute), memory, overhead,
                          fused_bytes=runtime is Runtime.COMPILED)


def sol_model(runtime: Runtime) -> ExecutionModel:
    return ExecutionModel(runtime, Tier.SOL, {c: 1.0 for c in OpClass}, 1.0, 0.0, fused_bytes=True)


def _class_params(fit: ClassFitRecord) -> ClassParams:
    return ClassParams(_positive(fit.peak_flops_per_s), _positive(fit.bandwidth_fraction), fit.overhead_s,
                       None if fit.bandwidth_fraction else _positive(fit.effective_bandwidth_bytes_per_s))


def calibrated_model(calibration: dict[str, CalibrationRecord] | None, kind: str,
                     runtime: Runtime) -> ExecutionModel | None:
    """The execution model ``roofline calibrate`` recorded for this runtime, or None if absent.

    The record (roofline.catalog.calibration.CalibrationRecord) holds the per-op overhead, the
    sustained bandwidth per memory level and the fitted op classes and probe families ("matmul/fp32":
    peak, bandwidth fraction and overhead). Op classes it did not measure keep the datasheet efficiencies.
    """
    record = (calibration or {}).get(runtime.value)
    if record is None:
        return None
    base = DEFAULTS.get((runtime, kind)) or DEFAULTS[(runtime, "cpu")]
    compute, memory_eff, overhead = dict(base[0]), base[1], base[2]
    params: dict[tuple[str, str], ClassParams] = {}
    measured: dict[str, float] = {}
    for key, fit in record.op_classes.items():
        op_class, _, dtype = key.partition("/")
        params[(op_class, dtype)] = _class_params(fit)
        peak = _positive(fit.peak_flops_per_s)
        if peak and op_class in (CalibrationClass.MATMUL.value, CalibrationClass.CONV.value):
            measured[dtype] = max(measured.get(dtype, 0.0), peak)
    for (op_class, dtype), fit in list(params.items()):  # records from before the data-movement class
        if op_class == CalibrationClass.ELEMENTWISE.value:
            params.setdefault((CalibrationClass.DATA_MOVEMENT.value, dtype), fit)
    families = {tuple(key.partition("/")[::2]): _class_params(fit) for key, fit in record.families.items()}
    levels = []
    for lv in record.memory_levels:
        if not lv.bandwidth_bytes_per_s:
            continue  # a level eager PyTorch could not resolve defers to the next measured one
        size = lv.max_working_set_bytes
        levels.append(MemoryLevel(lv.name, float(size) if size else float("inf"), lv.bandwidth_bytes_per_s))
    if levels and levels[-1].max_bytes != float("inf"):
        last = levels[-1]
        levels[-1] = MemoryLevel(last.name, float("inf"), last.bandwidth_bytes_per_s)
    if record.overhead_s is not None:
        overhead = record.overhead_s
    power = record.power.model_dump() if record.power is not None and record.power.measured else None
    sequence = record.sequence
    return ExecutionModel(runtime, Tier.CALIBRATED, compute, 1.0 if levels else memory_eff, overhead,
                          fused_bytes=runtime is Runtime.COMPILED, class_params=params, family_params=families,
                          levels=tuple(levels), measured_peaks=measured, power=power,
                          sequence_dense_scale=sequence.dense_scale if sequence else 1.0,
                          sequence_other_scale=sequence.other_scale if sequence else 1.0,
                          view_overhead_s=record.view_overhead_s or 0.0, module_call_s=record.module_call_s or 0.0)


def _positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None
