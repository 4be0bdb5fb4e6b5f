"""Execution models keyed by compute engine and runtime, never by form factor: a Jetson's GPU is a GPU.

Engines: ``cpu`` (CPU cores: servers, desktops, Raspberry Pi-class boards), ``gpu`` (streaming
multiprocessors: datacenter and consumer GPUs, Apple GPUs, Jetson boards), ``npu`` (fixed-function
arrays: Hailo, Edge TPU; compiled graphs only). Per (runtime, engine), a handful of global numbers:

- ``matmul``, ``conv``, ``vector``: the fraction of the unit's dense peak an op of that class reaches
  when it is large enough to fill the device (attention shares ``matmul``; every other class ``vector``);
- ``saturation``: FLOPs per compute unit (core or SM) at which an op reaches half of that fraction,
  efficiency x s / (s + saturation) with s = FLOPs / units (a batch-1 layer cannot fill 96 cores; a
  small GEMM leaves SMs idle: the occupancy and wave-quantisation loss, as one smooth term);
- ``memory``: the fraction of the bandwidth of the level an op streams from;
- ``overhead``: the fixed cost per launched op (eager: dispatch and launch; compiled: one launch per
  fused kernel).

And per runtime, ``embedded_host``: how many times longer an embedded Arm host (a board's CPU cluster,
which issues every eager op and launch) takes to dispatch an op than a desktop or server CPU.

Shape-aware terms without free parameters (:func:`op_terms`, each from a public source, docs/methodology.md):

- GPU: tile and wave quantisation of a matmul's or convolution's output (M x N as an implicit GEMM) over
  the SMs, with the tile of the cuBLAS sizes that wastes least (NVIDIA, Matrix Multiplication Background
  User's Guide): measured on the corpus and off (``GPU_WAVES``, docs/accuracy.md); tensor-core eligibility: a depthwise convolution has no channel reduction for a matrix
  instruction and runs at the vector (CUDA-core) rate where the catalog gives one (cuDNN's depthwise kernels
  do not use tensor cores, pytorch/pytorch#22302; CUTLASS's target CUDA cores only, NVIDIA/cutlass#615);
- CPU: SIMD utilisation of the vectorised channel dimension (output channels of a convolution, N of a
  matmul) over the vector width derived from the catalog (fp32 FLOP per cycle per core / 2 FMA pipes /
  2 FLOP per FMA); dispatch cost scaled by the issuing core's clock (:func:`host_dispatch_factor`);
- NPU: an on-chip memory model: activations stay on chip; parameters fill the on-chip memory the catalog
  gives (a cache level of the accelerator) in graph order and the rest stream over the host link on every
  inference, with the graph's input and output; without a published on-chip size every weight stays on chip.

The numbers are fitted with scipy on the public corpus (benchmarks/corpus/, docs/accuracy.md); the
fitted file ``engine_fit.yaml`` records them with the corpus they came from and their
leave-one-device-out errors, and the datasheet tier uses them when the file is present.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from roofline.catalog import DeviceSpec
from roofline.predict.efficiency import ExecutionModel, Runtime, RuntimeUnavailable, Tier
from roofline.workload.types import OpClass

ENGINES = ("cpu", "gpu", "npu")
FIT_FILE = Path(__file__).with_name("engine_fit.yaml")

_CLASS_PARAMS = ("matmul", "conv", "vector", "memory", "overhead", "saturation")
_NPU_PARAMS = ("matmul", "memory", "overhead")
_CPU_PARAMS = ("gemm_dim",)  # CPU only: the GEMM dimension at which a micro-kernel reaches half its fraction


def param_names() -> list[str]:
    """Every global parameter, as 'runtime/engine/name' (and 'runtime/embedded_host')."""
    names = []
    for runtime in ("eager", "compiled"):
        for engine in ("cpu", "gpu"):
            names += [f"{runtime}/{engine}/{p}" for p in _CLASS_PARAMS]
            if engine == "cpu":
                names += [f"{runtime}/cpu/{p}" for p in _CPU_PARAMS]
        if runtime == "compiled":
            names += [f"compiled/npu/{p}" for p in _NPU_PARAMS]
        names.append(f"{runtime}/embedded_host")
    return names


def engine_of(device: DeviceSpec) -> str:
    if device.kind == "accelerator":
        return "npu"
    if device.kind == "gpu" or (device.kind == "sbc" and (device.compute_unit_name or "").upper() == "SM"):
        return "gpu"
    return "cpu"


def device_class(device: DeviceSpec) -> str:
    """The class the corpus figures and intervals are reported by: cpu, gpu, edge-gpu (Jetson-class boards),
    edge-cpu (Raspberry Pi-class boards) or npu."""
    engine = engine_of(device)
    if device.kind == "sbc":
        return f"edge-{engine}"
    return engine


def interval_factors(device: DeviceSpec) -> tuple[float, float, float] | None:
    """(low, high, nominal coverage): measured / predicted latency bounds of the fit's cross-validated residuals
    for this device's class, or None without a fit."""
    return intervals_of(fitted(), device)


def intervals_of(data: dict[str, Any] | None, device: DeviceSpec) -> tuple[float, float, float] | None:
    """The interval factors a fitted parameter file records for the device's class, or None."""
    if data is None:
        return None
    found = (data.get("intervals") or {}).get(device_class(device))
    if not found:
        return None
    return float(found["low"]), float(found["high"]), float(data.get("interval_coverage", 0.8))


def embedded_host(device: DeviceSpec) -> bool:
    """Whether the CPU that dispatches ops is a board's embedded Arm cluster (Jetson, Raspberry Pi...)."""
    return device.kind == "sbc"


def execution_from(params: dict[str, float], device: DeviceSpec, runtime: Runtime) -> ExecutionModel:
    """The datasheet-tier execution model of ``device`` under ``params`` (names of :func:`param_names`)."""
    engine = engine_of(device)
    r = runtime.value
    if engine == "npu":
        if runtime is not Runtime.COMPILED:
            raise RuntimeUnavailable("no eager runtime for an NPU (they run only compiled graphs: use --runtime "
                                     "compiled)")
        p = {k: params[f"compiled/npu/{k}"] for k in _NPU_PARAMS}
        compute = {c: p["matmul"] for c in OpClass}
        overhead = p["overhead"]
        memory, saturation = p["memory"], 0.0
    else:
        p = {k: params[f"{r}/{engine}/{k}"] for k in _CLASS_PARAMS}
        compute = {c: p["vector"] for c in OpClass}
        compute.update({OpClass.MATMUL: p["matmul"], OpClass.ATTENTION: p["matmul"], OpClass.CONV: p["conv"]})
        overhead, memory, saturation = p["overhead"], p["memory"], p["saturation"]
    if embedded_host(device):
        overhead *= params[f"{r}/embedded_host"]
    if SHAPE_TERMS:
        overhead *= host_dispatch_factor(device)
    terms = None
    if SHAPE_TERMS:
        gemm_dim = params[f"{r}/cpu/gemm_dim"] if engine == "cpu" else 0.0
        terms = partial(op_terms, gemm_dim=gemm_dim)
    return ExecutionModel(runtime, Tier.DATASHEET, compute, memory, overhead,
                          fused_bytes=runtime is Runtime.COMPILED, saturation_flops_per_unit=saturation,
                          op_terms=terms)


# ------------------------------------------------------------------ shape-aware terms

SHAPE_TERMS = True  # benchmarks/corpus/fit.py switches them off to measure the model without them
# GPU tile and wave quantisation: measured on the corpus and left off (docs/accuracy.md: with it, leave one device
# out fell from 78 % to 70 % of GPU rows within 1.5x: batch-1 layers are not tiled GEMMs in cuDNN's kernels)
GPU_WAVES = False
# cuBLAS threadblock tiles (M x N of the output) from NVIDIA's Matrix Multiplication Background User's Guide,
# "Typical tile dimensions in cuBLAS and performance"; the library picks among them per problem
GPU_TILES = ((256, 128), (128, 256), (128, 128), (256, 64), (64, 256), (128, 64), (64, 128), (64, 64))
# the dispatch reference: the fitted per-op overhead is the cost on a core at this clock
REFERENCE_HOST_CLOCK_HZ = 3.0e9
FMA_PIPES = 2  # assumed FMA pipes per core when deriving the vector width from a catalog peak


@dataclass(frozen=True)
class OpTerms:
    """Per-op corrections of the datasheet roofline (arrays over the workload's ops):
    ``compute_scale`` multiplies each op's compute efficiency; ``memory_bytes``, when set, replaces the bytes
    each op moves at its level's bandwidth (an NPU's traffic over its host link); ``notes`` join the
    prediction's notes."""

    compute_scale: np.ndarray
    memory_bytes: np.ndarray | None = None
    notes: tuple[str, ...] = ()


def host_dispatch_factor(device: DeviceSpec) -> float:
    """How many times the reference host's per-op dispatch cost the core that issues the ops pays: the
    reference clock over the issuing core's clock. The issuing core is the device itself for a CPU engine
    (its boost clock, else base); a GPU's or NPU's host is not in the catalog (factor 1; a board's embedded
    Arm host is the ``embedded_host`` parameter)."""
    if engine_of(device) != "cpu":
        return 1.0
    clocks = device.clocks
    clock = clocks.boost_hz or clocks.all_core_boost_hz or clocks.base_hz
    return REFERENCE_HOST_CLOCK_HZ / clock if clock else 1.0


def _gemm_shape(op) -> tuple[float, float, float, bool]:
    """(M, N, K, depthwise) of a matmul or convolution as an implicit GEMM; zeros when unknown."""
    ins = [t.shape for t in op.inputs]
    outs = [t.shape for t in op.outputs]
    if not outs:
        return 0.0, 0.0, 0.0, False
    y = outs[0]
    if op.op_class is OpClass.CONV and len(ins) >= 2 and len(ins[1]) >= 3 and len(y) >= 3:
        weight = ins[1]
        c_out, c_in_group = weight[0], weight[1]
        m = float(y[0] * math.prod(y[2:]))
        k = float(c_in_group * math.prod(weight[2:]))
        groups = max(1, (ins[0][1] // c_in_group) if len(ins[0]) > 1 and c_in_group else 1)
        depthwise = c_in_group == 1 and c_out > 1 and groups > 1
        return m, float(c_out), k, depthwise
    if op.op_class is OpClass.MATMUL and len(y) >= 2:
        a = ins[1] if op.op.startswith("aten.addmm") and len(ins) >= 3 else ins[0] if ins else ()
        k = float(a[-1]) if a else 0.0
        return float(math.prod(y[:-1])), float(y[-1]), k, False
    return 0.0, 0.0, 0.0, False


def _weight_bytes(op) -> float:
    """Parameter bytes an op reads: a convolution's weight, the matrix of an addmm, mm or linear (a linear layer
    traces to one of them)."""
    ins = op.inputs
    if op.op_class is OpClass.CONV and len(ins) >= 2:
        t = ins[1]
    elif op.op.startswith("aten.addmm") and len(ins) >= 3:
        t = ins[2]
    elif (op.op.startswith("aten.linear") or op.op.startswith("aten.mm")) and len(ins) >= 2:
        t = ins[1]
    else:
        return 0.0
    from roofline.workload.dtypes import element_bytes

    try:
        size = element_bytes(t.dtype)
    except Exception:
        size = 4.0
    if op.dtype == "int8":
        size = 1
    return float(math.prod(t.shape)) * size


@dataclass(frozen=True)
class _Shapes:
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    depthwise: np.ndarray
    weight_bytes: np.ndarray
    input_bytes: float
    output_bytes: float


def _shapes(workload) -> _Shapes:
    cached = workload.cache.get("engine_shapes")
    if cached is not None:
        return cached
    rows = [_gemm_shape(op) for op in workload.ops]
    weights = np.array([_weight_bytes(op) for op in workload.ops], dtype=float)
    working = [op for op in workload.ops if not op.is_view]
    first = working[0] if working else None
    last = working[-1] if working else None
    input_bytes = float(first.inputs[0].shape and math.prod(first.inputs[0].shape)) if first and first.inputs else 0.0
    output_bytes = float(math.prod(last.outputs[0].shape)) if last and last.outputs else 0.0
    elem = 1.0 if workload.dtype == "int8" else 2.0 if workload.dtype in ("fp16", "bf16") else 4.0
    out = _Shapes(np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float),
                  np.array([r[2] for r in rows], dtype=float), np.array([r[3] for r in rows], dtype=bool), weights,
                  input_bytes * elem, output_bytes * elem)
    workload.cache["engine_shapes"] = out
    return out


def wave_quantisation(m: np.ndarray, n: np.ndarray, sms: int) -> np.ndarray:
    """Useful share of the tile work of an M x N output over ``sms`` SMs, with the best cuBLAS tile:
    M N / (waves x SMs x tile area), waves = ceil(tiles / SMs). 1 where the shape is unknown."""
    best = np.zeros_like(m)
    known = (m > 0) & (n > 0)
    for tm, tn in GPU_TILES:
        tiles = np.ceil(m / tm) * np.ceil(n / tn)
        waves = np.ceil(tiles / sms)
        with np.errstate(divide="ignore", invalid="ignore"):
            util = np.where(known, (m * n) / (waves * sms * tm * tn), 0.0)
        best = np.maximum(best, util)
    return np.where(known, np.minimum(best, 1.0), 1.0)


def simd_utilisation(channels: np.ndarray, lanes: int) -> np.ndarray:
    """Share of the vector lanes a loop over ``channels`` fills: C / (ceil(C / lanes) x lanes)."""
    if lanes <= 1:
        return np.ones_like(channels)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(channels > 0, channels / (np.ceil(channels / lanes) * lanes), 1.0)


def vector_lanes(device: DeviceSpec) -> int:
    """fp32 lanes per vector unit, derived from the catalog: fp32 vector peak / (cores x clock) / (2 FMA pipes x
    2 FLOP per FMA); 1 when a figure is missing."""
    peaks = device.peaks("fp32")
    clock = device.clocks.base_hz or device.clocks.boost_hz
    if peaks is None or not peaks.vector_flops_per_s or not clock or not device.compute_units:
        return 1
    per_cycle = peaks.vector_flops_per_s / (device.compute_units * clock)
    return max(1, int(round(per_cycle / (2 * FMA_PIPES))))


# the dtype fallback chain of roofline.predict.model.FALLBACK (that module imports this one)
_FALLBACK = {"fp32": ("fp32",), "tf32": ("tf32", "fp32"), "fp16": ("fp16", "bf16", "fp32"),
             "bf16": ("bf16", "fp16", "fp32"), "int8": ("int8", "fp16", "fp32"), "fp8": ("fp8", "fp16", "bf16", "fp32"),
             "fp64": ("fp64",)}


def _peak(device: DeviceSpec, dtype: str, matrix: bool) -> tuple[float, str] | None:
    """(FLOP/s, units) the predictor gives an op of ``dtype`` (roofline.predict.model.peak_for, catalog only)."""
    chain = _FALLBACK.get(dtype, (dtype,))
    for candidate in chain:
        peaks = device.peaks(candidate)
        if peaks is None:
            continue
        if matrix and peaks.matrix_flops_per_s:
            return peaks.matrix_flops_per_s, "matrix"
        if peaks.vector_flops_per_s:
            return peaks.vector_flops_per_s, "vector"
    for candidate in chain:
        peaks = device.peaks(candidate)
        if peaks is not None and peaks.matrix_flops_per_s:
            return peaks.matrix_flops_per_s, "matrix"
    return None


def gemm_dims(workload) -> np.ndarray:
    """Per op, the smaller of N and K of a dense matmul or convolution as an implicit GEMM (0: not one, or a
    depthwise convolution, which CPU libraries run as a direct kernel over channels)."""
    shapes = _shapes(workload)
    dims = np.minimum(shapes.n, shapes.k)
    return np.where((shapes.m > 0) & (shapes.n > 0) & (shapes.k > 0) & ~shapes.depthwise, dims, 0.0)


def op_terms(workload, device: DeviceSpec, gemm_dim: float = 0.0) -> OpTerms:
    """The shape-aware terms of ``workload`` on ``device`` (see the module docstring); ``gemm_dim``: the CPU
    engine's fitted GEMM dimension at which a micro-kernel reaches half of its fraction (a dense op whose
    smaller GEMM dimension d of N and K runs at d / (d + gemm_dim) of it: a 16-channel convolution fills
    neither the register tile nor the packing it pays for)."""
    shapes = _shapes(workload)
    engine = engine_of(device)
    n_ops = len(workload.ops)
    scale = np.ones(n_ops)
    notes: list[str] = []
    if engine == "gpu":
        if GPU_WAVES:
            scale = scale * wave_quantisation(shapes.m, shapes.n, int(device.compute_units or 1))
        # a depthwise convolution cannot use tensor cores: it runs at the vector rate of its dtype
        tf32 = device.peaks("tf32")
        for i in np.flatnonzero(shapes.depthwise):
            dtype = workload.ops[i].dtype
            matrix = _peak(device, dtype, True)
            if dtype == "fp32" and device.kind == "gpu" and tf32 is not None and tf32.matrix_flops_per_s:
                matrix = (tf32.matrix_flops_per_s, "matrix")  # the predictor runs fp32 convs on TF32 tensor cores
            vector = _peak(device, dtype, False)
            if matrix and vector and matrix[1] == "matrix" and vector[1] == "vector" and vector[0] < matrix[0]:
                scale[i] *= vector[0] / matrix[0]
        return OpTerms(scale)
    if engine == "cpu":
        lanes = vector_lanes(device)
        scale = scale * simd_utilisation(shapes.n, lanes)
        if gemm_dim > 0:
            dims = gemm_dims(workload)
            scale = scale * np.where(dims > 0, dims / (dims + gemm_dim), 1.0)
        return OpTerms(scale)
    # npu: activations stay on chip; parameters beyond the on-chip memory stream over the host link
    capacity = sum(c.total_bytes or 0.0 for c in device.memory.caches) or math.inf
    cumulative = np.cumsum(shapes.weight_bytes)
    spilled = np.clip(cumulative - capacity, 0.0, None)
    streamed = np.diff(np.concatenate([[0.0], spilled]))
    link_bytes = streamed.copy()
    if n_ops:
        link_bytes[0] += shapes.input_bytes
        link_bytes[-1] += shapes.output_bytes
    total = float(streamed.sum())
    if math.isinf(capacity):
        notes.append("on-chip memory model: weights and activations stay on the NPU (no on-chip size published); "
                     "the graph's input and output cross the host link")
    else:
        notes.append(f"on-chip memory model: {total / 1e6:.1f} MB of weights beyond the {capacity / 1e6:.0f} MB "
                     "on-chip memory stream over the host link each inference, with the graph's input and output")
    return OpTerms(scale, link_bytes, tuple(notes))


def load_fit(path: Path) -> dict[str, Any] | None:
    """A fitted parameter file (every global parameter, and its provenance), or None when it is not shipped."""
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text())
    missing = [n for n in param_names() if n not in data.get("parameters", {})]
    if missing:
        raise ValueError(f"{path.name}: parameters missing: {', '.join(missing)}")
    return data


@lru_cache(maxsize=1)
def fitted() -> dict[str, Any] | None:
    """The datasheet tier's fitted parameters (engine_fit.yaml), or None when no fit is shipped."""
    return load_fit(FIT_FILE)


def fitted_execution(device: DeviceSpec, runtime: Runtime) -> ExecutionModel | None:
    data = fitted()
    return execution_from(data["parameters"], device, runtime) if data is not None else None


__all__ = ["ENGINES", "param_names", "engine_of", "device_class", "interval_factors", "embedded_host", "execution_from",
           "fitted", "fitted_execution", "FIT_FILE", "OpTerms", "op_terms", "host_dispatch_factor", "wave_quantisation",
           "simd_utilisation", "vector_lanes", "gemm_dims", "GPU_TILES", "REFERENCE_HOST_CLOCK_HZ"]
