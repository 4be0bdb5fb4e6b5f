"""The per-op roofline: time(op) = max(FLOPs / attainable compute, bytes / attainable bandwidth) + overhead.

- attainable compute: the device's dense peak for the op's dtype on the units the op can use
  (matmul, conv and attention may use matrix units; other ops use vector units), times the
  execution model's efficiency for the op class; a dtype the device lacks falls back along
  FALLBACK (fp16 -> fp32 ...) and the prediction says so;
- attainable bandwidth: the bandwidth of the innermost memory level the op's working set fits
  in (catalog caches with a published bandwidth, or calibrated levels), else main memory,
  times the memory efficiency;
- overhead: the runtime's fixed cost per op (dispatch, kernel launch).

Per-op work is held in numpy arrays so that ranking the whole catalog costs milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roofline.catalog import DeviceSpec
from roofline.catalog.calibration import PREDICTED_FAMILIES, CalibrationClass
from roofline.errors import RooflineError
from roofline.predict.efficiency import (
    ERROR_BANDS,
    ExecutionModel,
    MemoryLevel,
    Runtime,
    Tier,
    calibrated_model,
    datasheet_model,
    parse_runtime,
    parse_tier,
    sol_model,
)
from roofline.predict.energy import Energy, estimate_energy
from roofline.predict.engines import engine_of
from roofline.predict.memory import MemoryFit, memory_fit
from roofline.workload.types import MATMUL_CLASSES, OpClass, Workload

# dtype -> dtypes tried in order when the device has no peak for it
FALLBACK: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32",),
    "tf32": ("tf32", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "int8": ("int8", "fp16", "fp32"),
    "fp8": ("fp8", "fp16", "bf16", "fp32"),
    "fp4": ("fp4", "fp8", "fp16", "bf16", "fp32"),
    "fp64": ("fp64",),
}


class DeviceUnusable(RooflineError):
    """This device cannot run the workload: ``category`` (dtype, missing spec, runtime) and ``detail``."""

    def __init__(self, category: str, device_id: str, detail: str):
        super().__init__(f"{device_id}: {detail}")
        self.category = category
        self.device_id = device_id
        self.detail = detail


@dataclass(slots=True)
class OpPrediction:
    index: int
    op: str
    op_class: str
    module: str
    flops: int
    bytes: int
    time_s: float
    compute_time_s: float
    memory_time_s: float
    overhead_s: float
    bound: str  # "compute" or "memory"
    share: float  # of the model's latency
    memory_level: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass
class Prediction:
    device: str
    device_name: str
    kind: str
    model: str
    batch: int
    dtype: str
    runtime: str
    tier: str
    error_band: str
    latency_s: float
    throughput_per_s: float  # items (batch elements) per second
    flops: int
    bytes: int
    achieved_flops_per_s: float
    achieved_bandwidth_bytes_per_s: float
    compute_utilization: float  # share of the latency compute would be busy at 100 % of the peaks used
    bandwidth_utilization: float  # same for memory traffic at the bandwidth of each op's level
    bound: str  # where most of the time goes: "compute", "memory" or "overhead" (dispatch/launch)
    compute_bound_share: float
    memory_bound_share: float
    overhead_share: float
    peak_flops_per_s: float  # FLOP-weighted peak of the units the ops use
    bandwidth_bytes_per_s: float  # main memory (or host link)
    memory: MemoryFit
    energy: Energy
    tdp_w: float | None
    price_usd: float | None
    usd_per_hour: float | None
    notes: list[str] = field(default_factory=list)
    ops: list[OpPrediction] | None = None
    clock_basis: str = "rated"  # the clock the peaks are taken at: "base" for CPUs (every vendor), else "rated"
    host_share: float = 0.0  # NPU graphs: share of the latency spent on ops run by the host CPU
    engine: str = ""  # the compute engine the execution model is keyed by: cpu, gpu or npu

    @property
    def energy_j(self) -> float | None:
        return self.energy.energy_j

    def to_dict(self, *, include_ops: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device": self.device,
            "device_name": self.device_name,
            "kind": self.kind,
            "model": self.model,
            "batch": self.batch,
            "dtype": self.dtype,
            "runtime": self.runtime,
            "tier": self.tier,
            "error_band": self.error_band,
            "clock_basis": self.clock_basis,
            "host_share": self.host_share,
            "engine": self.engine,
            "latency_s": self.latency_s,
            "throughput_per_s": self.throughput_per_s,
            "energy_j": self.energy.energy_j,
            "energy_per_item_j": self.energy.energy_per_item_j,
            "inferences_per_kwh": self.energy.inferences_per_kwh,
            "power_w": self.energy.power_w,
            "energy_method": self.energy.method,
            "bound": self.bound,
            "compute_bound_share": self.compute_bound_share,
            "memory_bound_share": self.memory_bound_share,
            "overhead_share": self.overhead_share,
            "flops": self.flops,
            "bytes": self.bytes,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "achieved_bandwidth_bytes_per_s": self.achieved_bandwidth_bytes_per_s,
            "compute_utilization": self.compute_utilization,
            "bandwidth_utilization": self.bandwidth_utilization,
            "peak_flops_per_s": self.peak_flops_per_s,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "memory": self.memory.to_dict(),
            "memory_required_bytes": self.memory.required_bytes,
            "memory_available_bytes": self.memory.available_bytes,
            "tdp_w": self.tdp_w,
            "price_usd": self.price_usd,
            "usd_per_hour": self.usd_per_hour,
            "notes": list(self.notes),
        }
        if self.energy.note:
            out["notes"].append(self.energy.note)
        if include_ops and self.ops is not None:
            out["ops"] = [op.to_dict() for op in self.ops]
        return out


# ------------------------------------------------------------------ per-workload arrays

@dataclass(frozen=True)
class _OpArrays:
    flops: np.ndarray
    bytes_unfused: np.ndarray
    bytes_fused: np.ndarray
    working_set: np.ndarray
    active: np.ndarray  # non-view ops that do something: they pay the per-op overhead
    fused: np.ndarray  # ops a fused runtime runs inside their producer's kernel
    class_index: np.ndarray
    dtype_index: np.ndarray
    matrix: np.ndarray  # may use matrix units
    depthwise: np.ndarray
    cal_class_index: np.ndarray  # index into CALIBRATION_CLASSES
    cal_family_index: np.ndarray  # index into CALIBRATION_FAMILIES, -1 for none
    classes: tuple[OpClass, ...]
    dtypes: tuple[str, ...]

    @property
    def classes_index_of_conv(self) -> int:
        return self.classes.index(OpClass.CONV)


_CLASSES = tuple(OpClass)
# The op classes the calibration suite measures (roofline.calibration), and where each traced op
# class takes its measured parameters from.
CALIBRATION_CLASSES = tuple(c.value for c in CalibrationClass)
_CALIBRATION_CLASS_OF = {
    OpClass.MATMUL: "matmul", OpClass.ATTENTION: "matmul", OpClass.CONV: "conv",
    OpClass.ELEMENTWISE: "elementwise", OpClass.DATA_MOVEMENT: "data_movement", OpClass.OTHER: "elementwise",
    OpClass.VIEW: "elementwise", OpClass.REDUCTION: "reduction", OpClass.POOLING: "reduction",
    OpClass.NORMALIZATION: "normalization",
}


def _calibration_class(op) -> int:
    if op.op_class is OpClass.CONV and _is_depthwise(op):
        name = "depthwise_conv"
    elif "softmax" in op.op:
        name = "softmax"
    else:
        name = _CALIBRATION_CLASS_OF[op.op_class]
    return CALIBRATION_CLASSES.index(name)


# Probe families (roofline.calibration.probes) an op can take its parameters from, finer than
# its class: a conv's kernel and stride, an activation's function. Ops outside every family keep
# their class's parameters.
CALIBRATION_FAMILIES = tuple(f.value for f in PREDICTED_FAMILIES)
_ACTIVATION_FAMILIES = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
                        "silu": "silu", "silu_": "silu", "hardswish": "hardswish", "hardswish_": "hardswish",
                        "gelu": "gelu", "gelu_": "gelu", "_softmax": "softmax", "softmax": "softmax",
                        "native_batch_norm": "batch_norm", "_native_batch_norm_legit_no_training": "batch_norm",
                        "native_layer_norm": "layer_norm", "cat": "cat", "clone": "clone",
                        "channel_shuffle": "channel_shuffle", "native_channel_shuffle": "channel_shuffle",
                        "constant_pad_nd": "pad", "upsample_nearest2d": "upsample_nearest",
                        "upsample_bilinear2d": "upsample_bilinear", "embedding": "embedding",
                        "index_select": "index_select", "gather": "gather",
                        "max_pool2d_with_indices": "max_pool", "max_pool2d": "max_pool", "avg_pool2d": "avg_pool"}


# Skinny 2-D GEMMs (a linear layer over few rows: batch-1 and batch-8 decode, small-batch MLP heads) by
# their row count M, as the gemm stage probes them (M = 1, 8, 64); M >= 128 takes the matmul class's fit.
_GEMM_OPS = ("mm", "addmm")


def _gemm_family(m: int) -> str | None:
    if m == 1:
        return "gemm_m1"
    if 2 <= m <= 16:
        return "gemm_m8"
    if 17 <= m <= 127:
        return "gemm_m64"
    return None


def _calibration_family(op) -> int:
    """Index into CALIBRATION_FAMILIES, or -1."""
    name = None
    if op.op_class is OpClass.MATMUL and op.op.split(".")[1:2] and op.op.split(".")[1] in _GEMM_OPS and op.outputs \
            and len(op.outputs[0].shape) == 2:
        name = _gemm_family(op.outputs[0].shape[0])
    elif op.op_class is OpClass.CONV and len(op.inputs) >= 2 and op.outputs:
        weight, x, y = op.inputs[1].shape, op.inputs[0].shape, op.outputs[0].shape
        if len(weight) == 4 and len(x) == 4 and len(y) == 4 and weight[2] == weight[3] and weight[2] in (1, 3, 5, 7):
            stride = round(x[2] / y[2]) if y[2] else 0
            suffix = {1: "", 2: "_s2"}.get(stride)
            depthwise = _is_depthwise(op)
            grouped = not depthwise and weight[1] * 2 <= x[1]  # groups >= 2
            prefix = "dw" if depthwise else "g" if grouped else ""
            if suffix is not None and x[1] > 3 and (depthwise or weight[2] in (1, 3)):
                name = f"{prefix}conv{weight[2]}x{weight[2]}{suffix}"
    elif op.op_class in (OpClass.ELEMENTWISE, OpClass.NORMALIZATION, OpClass.REDUCTION, OpClass.DATA_MOVEMENT,
                         OpClass.POOLING):
        parts = op.op.split(".")
        name = _ACTIVATION_FAMILIES.get(parts[1] if len(parts) > 1 else op.op)
        if name == "layer_norm" and op.inputs and len(op.inputs[0].shape) == 4:
            name = "layer_norm_cl"  # over the channels of a channels-last (N, H, W, C) view
    return CALIBRATION_FAMILIES.index(name) if name in CALIBRATION_FAMILIES else -1


def _is_depthwise(op) -> bool:
    if op.op_class is not OpClass.CONV or len(op.inputs) < 2:
        return False
    weight = op.inputs[1].shape
    return len(weight) >= 2 and weight[1] == 1 and weight[0] > 1


def dense_ops(arrays: _OpArrays) -> np.ndarray:
    """Ops that may run on matrix units (matmul, attention, dense convolution), not depthwise."""
    return arrays.matrix & ~arrays.depthwise


def op_arrays(workload: Workload) -> _OpArrays:
    cached = workload.cache.get("op_arrays")
    if cached is not None:
        return cached
    ops = workload.ops
    # integer index math (int64 arange, bool masks) runs on the same vector units as fp32
    op_dtypes = [op.dtype if op.dtype in FALLBACK else "fp32" for op in ops]
    dtypes = tuple(sorted(set(op_dtypes))) or ("fp32",)
    dtype_pos = {d: i for i, d in enumerate(dtypes)}
    class_pos = {c: i for i, c in enumerate(_CLASSES)}
    arrays = _OpArrays(
        flops=np.fromiter((op.flops for op in ops), dtype=np.float64, count=len(ops)),
        bytes_unfused=np.fromiter((op.bytes_read + op.bytes_written for op in ops), dtype=np.float64, count=len(ops)),
        bytes_fused=np.fromiter((op.bytes_fused for op in ops), dtype=np.float64, count=len(ops)),
        working_set=np.fromiter((op.working_set_bytes for op in ops), dtype=np.float64, count=len(ops)),
        active=np.fromiter((not op.is_view and (op.flops > 0 or op.bytes_read + op.bytes_written > 0) for op in ops),
                           dtype=bool, count=len(ops)),
        fused=np.fromiter((op.fused_with_producer for op in ops), dtype=bool, count=len(ops)),
        class_index=np.fromiter((class_pos[op.op_class] for op in ops), dtype=np.int64, count=len(ops)),
        dtype_index=np.fromiter((dtype_pos[d] for d in op_dtypes), dtype=np.int64, count=len(ops)),
        matrix=np.fromiter((op.op_class in MATMUL_CLASSES for op in ops), dtype=bool, count=len(ops)),
        depthwise=np.fromiter((_is_depthwise(op) for op in ops), dtype=bool, count=len(ops)),
        cal_class_index=np.fromiter((_calibration_class(op) for op in ops), dtype=np.int64, count=len(ops)),
        cal_family_index=np.fromiter((_calibration_family(op) for op in ops), dtype=np.int64, count=len(ops)),
        classes=_CLASSES,
        dtypes=dtypes,
    )
    workload.cache["op_arrays"] = arrays
    return arrays


# ------------------------------------------------------------------ device facts

def peak_for(device: DeviceSpec, dtype: str, matrix: bool,
             measured: dict[str, float] | None = None) -> tuple[float, str, str] | None:
    """(FLOP/s, dtype actually used, units) for an op of ``dtype``; None when no path exists.

    ``measured``: peaks a calibration measured, used where the catalog has none (a host
    calibrated without a catalog base)."""
    for candidate in FALLBACK.get(dtype, (dtype,)):
        if device.peaks(candidate) is None and measured and candidate in measured:
            return measured[candidate], candidate, "measured"
        peaks = device.peaks(candidate)
        if peaks is None:
            continue
        if matrix and peaks.matrix_flops_per_s:
            return peaks.matrix_flops_per_s, candidate, "matrix"
        if peaks.vector_flops_per_s:
            return peaks.vector_flops_per_s, candidate, "vector"
    # a device with only matrix units for this dtype family (NPUs) runs everything there
    for candidate in FALLBACK.get(dtype, (dtype,)):
        peaks = device.peaks(candidate)
        if peaks is not None and peaks.matrix_flops_per_s:
            return peaks.matrix_flops_per_s, candidate, "matrix"
    return None


def _has_native_matrix(device: DeviceSpec, dtype: str) -> bool:
    peaks = device.peaks(dtype)
    return peaks is not None and bool(peaks.matrix_flops_per_s)


def memory_levels(device: DeviceSpec, model: ExecutionModel) -> tuple[tuple[MemoryLevel, ...], bool]:
    """Memory levels innermost first (last = main memory), and whether main memory is the host link."""
    if model.levels:
        return model.levels, False
    main = device.memory.bandwidth_bytes_per_s
    if model.tier is Tier.PUBLISHED and device.published.bandwidth_bytes_per_s:
        main = device.published.bandwidth_bytes_per_s  # measured sustained bandwidth
    streamed = False
    if main is None:
        link = device.host_link.bandwidth_bytes_per_s
        if link is None:
            raise DeviceUnusable("missing spec", device.id, "memory bandwidth not in the catalog")
        main, streamed = link, True
    levels = []
    for cache in device.memory.caches:
        size = cache.total_bytes
        if size and cache.bandwidth_bytes_per_s:
            levels.append(MemoryLevel(cache.level, float(size), cache.bandwidth_bytes_per_s))
    levels.append(MemoryLevel("host link" if streamed else "main memory", math.inf, main))
    return tuple(levels), streamed


def execution_model(device: DeviceSpec, runtime: Runtime, tier: Tier | None) -> ExecutionModel:
    """The tier's execution model. No tier: calibrated where the device has a calibration for the runtime,
    else datasheet; ``published`` only when asked for."""
    if tier is Tier.SOL:
        return sol_model(runtime)
    calibrated = calibrated_model(device.calibration, device.kind, runtime) if tier in (None, Tier.CALIBRATED) \
        else None
    if calibrated is not None:
        from roofline.catalog.calibration import warn_if_other_torch

        warn_if_other_torch(device.id, device.calibration[runtime.value])
        return calibrated
    if tier is Tier.CALIBRATED:
        raise DeviceUnusable("missing spec", device.id, f"no calibration for the {runtime.value} runtime "
                                             "(run `roofline calibrate` on that device)")
    if tier is Tier.PUBLISHED:  # opt-in: left out of the default (docs/accuracy.md, "Published measurements")
        from roofline.predict.published import has_published, published_execution

        if has_published(device):
            try:
                return published_execution(device, runtime)
            except RooflineError as exc:
                raise DeviceUnusable("runtime", device.id, str(exc)) from None
        raise DeviceUnusable("missing spec", device.id, "no published measurements in its device file "
                                             "(published: block; use --tier datasheet)")
    try:
        from roofline.predict.engines import fitted_execution

        return fitted_execution(device, runtime) or datasheet_model(device.kind, runtime)
    except RooflineError as exc:
        raise DeviceUnusable("runtime", device.id, str(exc)) from None


# ------------------------------------------------------------------ prediction

def predict(workload: Workload, device: DeviceSpec, *, runtime: str | Runtime = Runtime.EAGER,
            tier: str | Tier | None = None, include_ops: bool = False, execution: Any = None) -> Prediction:
    """Predict latency, throughput, energy and memory fit of ``workload`` on ``device``.

    ``tier``: None picks ``calibrated`` when the device has a calibration for ``runtime``, else
    ``datasheet``; ``published`` (asked for) uses the device file's published measurements; ``sol`` gives the speed-of-light bound. Raises DeviceUnusable (with a
    ``category``: dtype, missing spec, runtime) when the device has no path for the workload.
    """
    runtime = parse_runtime(runtime)
    tier = parse_tier(tier)
    model = execution_model(device, runtime, tier)
    if execution is not None and model.tier in (Tier.DATASHEET, Tier.PUBLISHED):
        # another datasheet (or published-tier) execution model (the engine fit of roofline.predict.engines, or
        # its search); the peaks follow the tier of the model it returns
        model = execution(device, runtime)
    published = model.tier is Tier.PUBLISHED
    arrays = op_arrays(workload)
    levels, streamed = memory_levels(device, model)
    notes: list[str] = []
    if model.tier is Tier.CALIBRATED:
        record = device.calibration[runtime.value]
        notes.append(f"calibrated at {record.threads} thread(s) ({record.plan} plan, torch {record.host.torch_version}): "
                     "it predicts runs at that thread count")

    # attainable compute per op
    n = len(arrays.flops)
    peak = np.zeros(n)
    on_host = np.zeros(n, dtype=bool)  # NPU graphs: ops the array cannot run, left to the host CPU
    used_dtypes: dict[str, str] = {}
    matrix_dtypes: set[str] = set()  # dtypes the matrix-class ops run at (after fallback)
    for d_index, dtype in enumerate(arrays.dtypes):
        for is_matrix in (True, False):
            mask = (arrays.dtype_index == d_index) & (arrays.matrix == is_matrix)
            if not mask.any():
                continue
            found = peak_for(device, dtype, is_matrix, model.measured_peaks)
            if found is None and model.fused_bytes and dtype != workload.dtype:
                # a fused runtime runs an op folded into its producer (batch norm after a conv, an activation)
                # in the producer kernel's epilogue, at the graph's precision: an int8 NPU graph keeps no fp32
                # batch norm of its own
                epilogue = mask & arrays.fused
                kernel = peak_for(device, workload.dtype, is_matrix, model.measured_peaks)
                if kernel is not None and epilogue.any():
                    peak[epilogue] = kernel[0]
                    mask = mask & ~arrays.fused
                    if not mask.any():
                        continue
            if found is None and not is_matrix and device.kind == "accelerator" and model.fused_bytes and \
                    device.host_link.bandwidth_bytes_per_s and device.peak_flops_by_dtype():
                # an NPU graph compiler leaves the few vector ops its array cannot run to the host CPU; a graph
                # whose matrix math the array cannot run is not an NPU graph at all (excluded below)
                on_host |= mask
                peak[mask] = np.inf
                continue
            if found is None:
                available = device.peak_flops_by_dtype() or model.measured_peaks
                if not available:
                    raise DeviceUnusable("missing spec", device.id, "no compute peak in the catalog")
                raise DeviceUnusable("dtype", device.id, f"no path for {dtype} math (has {', '.join(available)})"
                                     + (": try --dtype int8 --runtime compiled" if set(available) <= {"int8", "int4"}
                                        else ""))
            value, used, units = found
            if published and is_matrix and device.published.gemm_flops_per_s(used):
                value = device.published.gemm_flops_per_s(used)  # measured attainable GEMM of that dtype
            peak[mask] = value
            if is_matrix:
                matrix_dtypes.add(used)
            # a missing vector figure next to a native matrix (tensor-core) rate is a catalog gap, not a
            # fallback of the math: the note is for a dtype the device really lacks
            if used != dtype and (is_matrix or not _has_native_matrix(device, dtype)):
                used_dtypes[dtype] = used
    for dtype, used in used_dtypes.items():
        notes.append(f"no native {dtype} math: runs at the {used} rate")
    if published:
        from roofline.predict.published import describe

        notes.append(describe(device, matrix_dtypes))
    tf32 = device.peaks("tf32")
    if device.kind == "gpu" and tf32 is not None and tf32.matrix_flops_per_s and "fp32" in arrays.dtypes:
        # PyTorch lets cuDNN run fp32 convolutions on TF32 tensor cores by default
        # (torch.backends.cudnn.allow_tf32 = True); fp32 matmuls stay fp32 (allow_tf32 = False).
        conv_fp32 = (arrays.classes_index_of_conv == arrays.class_index) & \
            (arrays.dtype_index == arrays.dtypes.index("fp32"))
        if conv_fp32.any():
            measured_tf32 = device.published.gemm_flops_per_s("tf32") if published else None
            peak[conv_fp32] = measured_tf32 or tf32.matrix_flops_per_s
            notes.append("fp32 convolutions run on TF32 tensor cores (PyTorch's cuDNN default)")
    efficiency = np.array([model.compute_efficiency.get(c, 1.0) for c in arrays.classes])[arrays.class_index]
    if model.saturation_flops_per_unit > 0:
        per_unit = arrays.flops / float(device.compute_units or 1)
        efficiency = efficiency * per_unit / (per_unit + model.saturation_flops_per_unit)
    terms = model.op_terms(workload, device) if model.op_terms is not None else None
    if terms is not None:  # shape-aware terms of the engine model (roofline.predict.engines.op_terms)
        efficiency = efficiency * terms.compute_scale
        notes.extend(terms.notes)
    with np.errstate(divide="ignore", invalid="ignore"):
        compute_time = np.where(arrays.flops > 0, arrays.flops / (peak * efficiency), 0.0)

    # attainable bandwidth per op: innermost level its working set fits in
    nbytes = arrays.bytes_fused if model.fused_bytes else arrays.bytes_unfused
    bandwidth = np.full(n, levels[-1].bandwidth_bytes_per_s)
    level_index = np.full(n, len(levels) - 1)
    for i in range(len(levels) - 2, -1, -1):
        fits = arrays.working_set <= levels[i].max_bytes
        bandwidth[fits] = levels[i].bandwidth_bytes_per_s
        level_index[fits] = i
    moved = terms.memory_bytes if terms is not None and terms.memory_bytes is not None else nbytes
    memory_time = moved / (bandwidth * model.memory_efficiency)
    if on_host.any():
        # their inputs go to the host and their outputs come back over the host link; the host's own compute
        # is not modelled (small ops on a desktop-class host), the transfer is
        link = device.host_link.bandwidth_bytes_per_s
        memory_time[on_host] = arrays.bytes_unfused[on_host] / link
        notes.append(f"{int((on_host & arrays.active).sum())} ops the NPU cannot run in {'/'.join(sorted({arrays.dtypes[i] for i in arrays.dtype_index[on_host]}))} "
                     "run on the host: their transfers over the host link are counted, the host's compute is not")
    # a fused runtime launches one kernel per fused chain: the ops it folded into their producer pay none
    launches = arrays.active & ~arrays.fused if model.fused_bytes else arrays.active
    overhead = np.where(launches, model.overhead_s, 0.0)
    if model.class_params or model.family_params:
        _apply_class_params(model, arrays, nbytes, bandwidth, compute_time, memory_time, overhead, launches)
    if model.view_overhead_s or model.module_call_s:
        # calibrated eager costs outside the op counts: each view op's dispatch, and each module call
        # (spread over the ops that do work, so per-op times still add up to the latency)
        overhead[arrays.class_index == _CLASSES.index(OpClass.VIEW)] = model.view_overhead_s
        calls = len(getattr(workload.trace, "calls", None) or ())
        if calls and launches.any():
            overhead[launches] += model.module_call_s * calls / int(launches.sum())
    if model.sequence_dense_scale != 1.0 or model.sequence_other_scale != 1.0:
        # calibrated in-sequence correction: in a network, data streams from colder caches into
        # freshly allocated buffers and weights arrive cold, so ops run slower than in isolated
        # probes; one factor for the dense ops, one for the rest (calibration/sequences.py)
        factor = np.where(dense_ops(arrays), model.sequence_dense_scale, model.sequence_other_scale)
        compute_time, memory_time, overhead = compute_time * factor, memory_time * factor, overhead * factor
    busy = np.maximum(compute_time, memory_time)
    time = busy + overhead
    latency = float(time.sum())
    if latency <= 0:
        raise RooflineError(f"{workload.model}: the workload does no measurable work")

    compute_bound = compute_time >= memory_time
    flops_total = int(arrays.flops.sum())
    bytes_total = int(nbytes.sum())
    # Utilisation = share of the latency the resource would be busy at 100 % of its peak, with
    # each op at the peak it actually uses (TF32 convs, a cache level's bandwidth...).
    with np.errstate(divide="ignore", invalid="ignore"):
        ideal_compute = np.where(arrays.flops > 0, arrays.flops / peak, 0.0)
    ideal_memory = moved / bandwidth
    compute_util = float(ideal_compute.sum() / latency)
    bandwidth_util = float(ideal_memory.sum() / latency)
    effective_peak = flops_total / float(ideal_compute.sum()) if ideal_compute.sum() > 0 else 0.0
    main_bw = levels[-1].bandwidth_bytes_per_s
    achieved_flops = flops_total / latency
    achieved_bw = bytes_total / latency
    model_peak = effective_peak

    compute_share = float(busy[compute_bound].sum() / latency)
    memory_share = float(busy[~compute_bound].sum() / latency)
    overhead_share = float(overhead.sum() / latency)
    host_share = float(time[on_host].sum() / latency)
    fit = memory_fit(workload.weight_bytes, workload.peak_activation_bytes, device, streamed=streamed)
    energy = estimate_energy(latency, max(compute_util, bandwidth_util), workload.batch, device, model.power,
                             shares=(compute_share, memory_share, overhead_share))
    cloud = device.price.cloud[0].usd_per_hour if device.price.cloud else None
    if streamed:
        notes.append("memory bandwidth not published: data streams over the host link")

    ops = None
    if include_ops:
        level_names = [lv.name for lv in levels]
        ops = [
            OpPrediction(op.index, op.op, op.op_class.value, op.module, op.flops, int(nbytes[i]), float(time[i]),
                         float(compute_time[i]), float(memory_time[i]), float(overhead[i]),
                         "compute" if compute_bound[i] else "memory", float(time[i] / latency),
                         level_names[level_index[i]])
            for i, op in enumerate(workload.ops)
        ]
    shares = {"compute": compute_share, "memory": memory_share, "overhead": overhead_share}
    return Prediction(
        device=device.id,
        device_name=device.name,
        kind=device.kind,
        model=workload.model,
        batch=workload.batch,
        dtype=workload.dtype,
        runtime=runtime.value,
        tier=model.tier.value,
        error_band=ERROR_BANDS[model.tier],
        latency_s=latency,
        throughput_per_s=workload.batch / latency,
        flops=flops_total,
        bytes=bytes_total,
        achieved_flops_per_s=achieved_flops,
        achieved_bandwidth_bytes_per_s=achieved_bw,
        compute_utilization=compute_util,
        bandwidth_utilization=bandwidth_util,
        bound=max(shares, key=shares.get),
        compute_bound_share=compute_share,
        memory_bound_share=memory_share,
        overhead_share=overhead_share,
        peak_flops_per_s=model_peak,
        bandwidth_bytes_per_s=main_bw,
        memory=fit,
        energy=energy,
        tdp_w=device.power.tdp_w,
        price_usd=device.price.launch_usd,
        usd_per_hour=cloud,
        notes=notes,
        ops=ops,
        clock_basis="base" if device.kind == "cpu" else "rated",
        host_share=host_share,
        engine=engine_of(device),
    )


def _apply_class_params(model: ExecutionModel, arrays: _OpArrays, nbytes: np.ndarray, bandwidth: np.ndarray,
                        compute_time: np.ndarray, memory_time: np.ndarray, overhead: np.ndarray,
                        launches: np.ndarray) -> None:
    """Calibrated tier: ops of a measured class and dtype take its peak, bandwidth fraction and
    fixed cost (in place), then ops of a measured probe family take the family's: a family is one
    kernel, so its fit is tighter than the class's compromise over kernels that differ by 5x.
    Anything the calibration did not determine keeps the default."""
    for by_key, names, index in ((model.class_params, CALIBRATION_CLASSES, arrays.cal_class_index),
                                 (model.family_params, CALIBRATION_FAMILIES, arrays.cal_family_index)):
        for (name, dtype), params in by_key.items():
            if name not in names or dtype not in arrays.dtypes:
                continue
            mask = (index == names.index(name)) & (arrays.dtype_index == arrays.dtypes.index(dtype)) & arrays.active
            if not mask.any():
                continue
            if params.peak_flops_per_s:
                compute_time[mask] = arrays.flops[mask] / params.peak_flops_per_s
            if params.bandwidth_fraction:
                memory_time[mask] = nbytes[mask] / (params.bandwidth_fraction * bandwidth[mask])
            elif params.bandwidth_bytes_per_s:
                memory_time[mask] = nbytes[mask] / params.bandwidth_bytes_per_s
            if params.overhead_s is not None:
                overhead[mask & launches] = params.overhead_s
