"""Microbenchmark probes and the suite runner.

Every probe case carries exact FLOPs and bytes computed with the workload counter's conventions:

- matmul: FLOPs = 2*M*N*K; bytes = (M*K + K*N) input elements + M*N output elements.
- conv2d: FLOPs = 2*N*C_out*H_out*W_out*(C_in/groups)*kh*kw (no bias);
  bytes = input + weight + output, each read or written once.
- elementwise: FLOPs per output element as the counter registers them (relu 1, sigmoid 4,
  silu / hardswish / gelu 5); bytes = input + output.
- sum: 1 FLOP per input element; mean: one per input element plus one divide per output;
  softmax: 5 per element; layer_norm: 7 per element with weight and bias; batch_norm (eval,
  affine): 4 per element. Bytes: every tensor argument and result once (layer_norm also
  returns its per-row mean and rstd; eval batch_norm reads the four per-channel vectors).
- STREAM kernels: copy 0, scale 1, add 1, triad 2 FLOPs per element; bytes = arrays read
  plus the array written (copy/scale 2 arrays, add/triad 3).

Tensors are allocated when a case runs (``ProbeCase.make``), never when a plan is built, so a
plan can be listed and its duration estimated for free.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

from .host import CacheLevel, ForeignLoad, HostInfo, collect_host_info, load_average, utc_now_iso
from .timing import NOISY_THRESHOLD, CallTooSlow, num_threads, settle_allocator, time_callable

ProgressCallback = Callable[[str, int, int, float], None]
"""progress(stage, done, total, estimated_seconds_left_in_stage)."""

STAGES = ("dispatch", "memory", "gemm", "conv", "elementwise", "reduction", "normalization", "data_movement")
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}
USEFUL_SPEED_RATIO = 0.5  # a reduced-precision dtype is probed when its mm runs at >= this x fp32


# ---------------------------------------------------------------- plan parameters

@dataclass(frozen=True)
class PlanParams:
    """How hard each case is timed, and which shapes a plan covers."""

    name: str
    budget_s: float  # time spent sampling one case (the minimum count wins over it)
    min_repeats: int
    warmup_s: float
    max_call_s: float  # cases estimated to take longer per call are skipped (with the reason recorded)
    gemm_square: tuple[int, ...]
    gemm_skinny_m: tuple[int, ...]
    gemm_skinny_kn: tuple[tuple[int, int], ...]
    conv_batches: tuple[int, ...]
    conv_full: bool
    memory_steps_per_octave: int
    elementwise_sizes: tuple[int, ...]
    reduction_shapes: tuple[tuple[int, int], ...]
    softmax_shapes: tuple[tuple[int, int], ...]
    layer_norm_shapes: tuple[tuple[int, int], ...]
    batch_norm_shapes: tuple[tuple[int, int, int, int], ...]
    # Each case is timed in this many passes over the whole suite (later passes run the stages in
    # reverse order) and keeps its median pass: on a shared host a neighbour's burst slows every
    # case of the stage it lands on for seconds, which the repeats inside one pass cannot see.
    passes: int = 1


PLANS: dict[str, PlanParams] = {
    "quick": PlanParams(
        name="quick", budget_s=0.05, min_repeats=5, warmup_s=0.005, max_call_s=0.25,
        gemm_square=(64, 128, 256, 512, 1024, 2048),
        gemm_skinny_m=(1, 8, 64),
        gemm_skinny_kn=((256, 256), (1024, 1024), (1024, 4096), (4096, 1024), (4096, 4096)),
        conv_batches=(1,), conv_full=False,
        memory_steps_per_octave=1,
        elementwise_sizes=(1 << 12, 1 << 15, 1 << 18, 1 << 21, 1 << 23),
        reduction_shapes=((32, 128), (256, 1024), (1024, 4096), (4096, 4096)),
        softmax_shapes=((64, 128), (1024, 256), (4096, 512), (8192, 1024)),
        layer_norm_shapes=((16, 768), (128, 768), (512, 1024), (4096, 1024)),
        batch_norm_shapes=((1, 64, 56, 56), (1, 256, 14, 14), (8, 64, 56, 56), (8, 32, 112, 112)),
    ),
    "full": PlanParams(
        name="full", budget_s=0.15, min_repeats=7, warmup_s=0.02, max_call_s=1.0,
        gemm_square=(64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048),
        gemm_skinny_m=(1, 8, 64),
        gemm_skinny_kn=tuple((k, n) for k in (256, 1024, 4096) for n in (256, 1024, 4096)),
        conv_batches=(1, 8), conv_full=True,
        memory_steps_per_octave=2,
        elementwise_sizes=(1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24),
        reduction_shapes=((32, 128), (64, 49), (256, 1024), (1024, 1024), (1024, 4096), (4096, 4096), (512, 3136)),
        softmax_shapes=((64, 128), (256, 256), (1024, 256), (1024, 1024), (4096, 512), (8192, 1024)),
        layer_norm_shapes=((1, 768), (16, 768), (128, 768), (512, 1024), (2048, 1024), (4096, 1024), (196, 384)),
        batch_norm_shapes=((1, 32, 112, 112), (1, 64, 56, 56), (1, 256, 14, 14), (1, 1024, 7, 7),
                           (8, 64, 56, 56), (8, 32, 112, 112), (8, 256, 14, 14)),
        passes=3,
    ),
}


# ---------------------------------------------------------------- cases

@dataclass
class ProbeCase:
    """One shape of one probe: what it computes, its exact cost, and how to build the callable."""

    name: str  # unique within a plan, e.g. "gemm/fp32/M1_K4096_N4096"
    stage: str
    op_class: str  # matmul, conv, depthwise_conv, memory, elementwise, reduction, softmax, normalization, overhead
    family: str  # finer grouping inside a class: gemm_square, conv1x1, dwconv5x5, stream_triad, gelu...
    dtype: str
    shape: dict[str, int]
    flops: int
    bytes: int
    make: Callable[[Any], Callable[[], Any]] = field(repr=False, compare=False)  # device -> callable
    est_call_s: float = 0.0  # rough duration of one call, for the progress estimate
    est_s: float = 0.0  # rough wall time of the whole case (setup, warm-up, sampling)

    @property
    def working_set_bytes(self) -> int:
        return self.bytes


def _torch():
    import torch

    return torch


def _tdtype(dtype: str) -> Any:
    torch = _torch()
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.int8}[dtype]


def _rand(shape: tuple[int, ...], dtype: str, device: Any) -> Any:
    torch = _torch()
    if dtype == "int8":
        return torch.randint(-64, 64, shape, dtype=torch.int8, device=device)
    return torch.empty(shape, dtype=_tdtype(dtype), device=device).uniform_(-1.0, 1.0)


def _counted(name: str, fn: Callable[..., Any], shapes: Sequence[tuple[int, ...]]) -> tuple[int, int]:
    """(FLOPs, bytes) of ``fn(*tensors of shapes)`` as the workload counter counts it (calibration/traced.py)."""
    from .traced import Input, _Call, traced_cost

    cost = traced_cost(name, _Call(fn), [Input(tuple(s)) for s in shapes])
    return cost.flops, cost.bytes


# -- GEMM

def gemm_cost(m: int, k: int, n: int, dtype: str) -> tuple[int, int]:
    """(FLOPs, bytes) of an (M,K)x(K,N) matmul; int8 (torch._int_mm) writes int32."""
    e = DTYPE_BYTES[dtype]
    out_e = 4 if dtype == "int8" else e
    return 2 * m * n * k, (m * k + k * n) * e + m * n * out_e


def gemm_case(m: int, k: int, n: int, dtype: str, family: str) -> ProbeCase:
    flops, nbytes = gemm_cost(m, k, n, dtype)

    def make(device: Any) -> Callable[[], Any]:
        torch = _torch()
        a = _rand((m, k), dtype, device)
        b = _rand((k, n), dtype, device)
        if dtype == "int8":
            out = torch.empty((m, n), dtype=torch.int32, device=device)
            return lambda: torch._int_mm(a, b, out=out)
        out = torch.empty((m, n), dtype=_tdtype(dtype), device=device)
        return lambda: torch.mm(a, b, out=out)

    return ProbeCase(f"gemm/{dtype}/M{m}_K{k}_N{n}", "gemm", "matmul", family, dtype,
                     {"M": m, "K": k, "N": n}, flops, nbytes, make)


# -- conv2d

def conv_out(size: int, k: int, stride: int) -> int:
    pad = k // 2
    return (size + 2 * pad - k) // stride + 1


def conv_cost(n: int, c_in: int, c_out: int, h: int, w: int, k: int, stride: int, groups: int,
              dtype: str = "fp32") -> tuple[int, int]:
    ho, wo = conv_out(h, k, stride), conv_out(w, k, stride)
    e = DTYPE_BYTES[dtype]
    flops = 2 * n * c_out * ho * wo * (c_in // groups) * k * k
    nbytes = (n * c_in * h * w + c_out * (c_in // groups) * k * k + n * c_out * ho * wo) * e
    return flops, nbytes


def conv_case(family: str, n: int, c_in: int, c_out: int, h: int, k: int, stride: int = 1,
              depthwise: bool = False, dtype: str = "fp32") -> ProbeCase:
    import torch.nn.functional as F

    groups = c_in if depthwise else 1
    if depthwise:
        c_out = c_in
    name = f"conv/{family}/N{n}_C{c_in}_O{c_out}_H{h}_k{k}_s{stride}"
    if dtype == "fp32":  # the counter's own count; conv_cost is the same formula, for other dtypes
        flops, nbytes = _counted(name, lambda x, w: F.conv2d(x, w, None, stride, k // 2, 1, groups),
                                 [(n, c_in, h, h), (c_out, c_in // groups, k, k)])
    else:
        flops, nbytes = conv_cost(n, c_in, c_out, h, h, k, stride, groups, dtype)

    def make(device: Any) -> Callable[[], Any]:
        import torch.nn.functional as F

        x = _rand((n, c_in, h, h), dtype, device)
        wt = _rand((c_out, c_in // groups, k, k), dtype, device)
        return lambda: F.conv2d(x, wt, None, stride, k // 2, 1, groups)

    return ProbeCase(name, "conv", "depthwise_conv" if depthwise else "conv", family, dtype,
                     {"N": n, "C_in": c_in, "C_out": c_out, "H": h, "W": h, "k": k, "stride": stride,
                      "groups": groups}, flops, nbytes, make)


# (family, C_in, C_out, H, k, stride, depthwise); shapes from ResNet / MobileNetV2-V3 / EfficientNet-B0
_CONV_QUICK: tuple[tuple[str, int, int, int, int, int, bool], ...] = (
    ("conv_stem", 3, 32, 224, 3, 2, False),
    ("conv3x3", 64, 64, 56, 3, 1, False),
    ("conv3x3", 128, 128, 28, 3, 1, False),
    ("conv3x3", 256, 256, 14, 3, 1, False),
    ("conv3x3", 512, 512, 7, 3, 1, False),
    ("conv3x3_s2", 64, 128, 56, 3, 2, False),
    ("conv1x1", 64, 256, 56, 1, 1, False),
    ("conv1x1", 256, 64, 56, 1, 1, False),
    ("conv1x1", 1024, 256, 14, 1, 1, False),
    ("conv1x1", 320, 1280, 7, 1, 1, False),
    ("conv1x1_s2", 256, 512, 56, 1, 2, False),
    ("dwconv3x3", 32, 32, 112, 3, 1, True),
    ("dwconv3x3", 144, 144, 56, 3, 1, True),
    ("dwconv3x3", 384, 384, 14, 3, 1, True),
    ("dwconv3x3", 960, 960, 7, 3, 1, True),
    ("dwconv3x3_s2", 96, 96, 112, 3, 2, True),
    ("dwconv5x5", 240, 240, 28, 5, 1, True),
    ("dwconv5x5", 672, 672, 14, 5, 1, True),
    ("dwconv5x5", 1152, 1152, 7, 5, 1, True),
)
_CONV_EXTRA: tuple[tuple[str, int, int, int, int, int, bool], ...] = (
    ("conv3x3", 32, 32, 112, 3, 1, False),
    ("conv3x3_s2", 128, 256, 28, 3, 2, False),
    ("conv3x3_s2", 256, 512, 14, 3, 2, False),
    ("conv1x1", 128, 512, 28, 1, 1, False),
    ("conv1x1", 512, 128, 28, 1, 1, False),
    ("conv1x1", 2048, 512, 7, 1, 1, False),
    ("conv1x1", 16, 96, 112, 1, 1, False),
    ("conv1x1", 144, 24, 56, 1, 1, False),
    ("conv1x1", 576, 96, 14, 1, 1, False),
    ("conv1x1_s2", 512, 1024, 28, 1, 2, False),
    ("dwconv3x3", 192, 192, 28, 3, 1, True),
    ("dwconv3x3", 576, 576, 14, 3, 1, True),
    ("dwconv3x3_s2", 144, 144, 56, 3, 2, True),
    ("dwconv5x5_s2", 144, 144, 56, 5, 2, True),
    ("dwconv5x5", 480, 480, 14, 5, 1, True),
    # small shapes (a few MFLOP, tens of us) so that each dense family's fixed cost per call is
    # measured rather than left to the fit: every other shape runs for milliseconds
    ("conv3x3", 64, 64, 7, 3, 1, False),
    ("conv1x1", 64, 64, 7, 1, 1, False),
    ("conv3x3_s2", 64, 64, 14, 3, 2, False),
    ("conv1x1_s2", 64, 128, 14, 1, 2, False),
)
# batch-8 variants in the quick plan (the full plan runs every shape at every batch size)
_CONV_QUICK_B8 = ("conv3x3", "conv1x1", "dwconv3x3", "dwconv5x5")


def conv_cases(p: PlanParams) -> list[ProbeCase]:
    cases = []
    shapes = _CONV_QUICK + (_CONV_EXTRA if p.conv_full else ())
    for fam, c_in, c_out, h, k, s, dw in shapes:
        cases.append(conv_case(fam, 1, c_in, c_out, h, k, s, dw))
    if p.conv_full:
        for b in p.conv_batches:
            if b == 1:
                continue
            for fam, c_in, c_out, h, k, s, dw in shapes:
                cases.append(conv_case(fam, b, c_in, c_out, h, k, s, dw))
    else:
        seen: set[str] = set()
        for fam, c_in, c_out, h, k, s, dw in shapes:
            if fam in _CONV_QUICK_B8 and fam not in seen:
                seen.add(fam)
                cases.append(conv_case(fam, 8, c_in, c_out, h, k, s, dw))
    return cases


# -- STREAM-style memory kernels

STREAM_KERNELS = {  # name -> (arrays touched, FLOPs per element)
    "copy": (2, 0),
    "scale": (2, 1),
    "add": (3, 1),
    "triad": (3, 2),
}
# the dispatch probe measuring each kernel's fixed cost on a 1-element tensor
STREAM_OVERHEAD_PROBE = {"copy": "copy_1", "scale": "mul_scalar_1", "add": "add_out_1", "triad": "triad_1"}


def stream_case(kernel: str, n: int, device_kind: str = "cpu") -> ProbeCase:
    arrays, fpe = STREAM_KERNELS[kernel]
    nbytes = arrays * n * 4

    def make(device: Any) -> Callable[[], Any]:
        torch = _torch()
        a = torch.full((n,), 1.0, dtype=torch.float32, device=device)
        b = torch.full((n,), 2.0, dtype=torch.float32, device=device)
        c = torch.full((n,), 0.5, dtype=torch.float32, device=device)
        s = 3.0
        if kernel == "copy":
            return lambda: b.copy_(a)
        if kernel == "scale":
            return lambda: torch.mul(a, s, out=b)
        if kernel == "add":
            return lambda: torch.add(a, b, out=c)
        return lambda: torch.add(b, c, alpha=s, out=a)

    return ProbeCase(f"memory/stream_{kernel}/n{n}", "memory", "memory", f"stream_{kernel}", "fp32",
                     {"n": n, "arrays": arrays}, fpe * n, nbytes, make)


def memory_working_sets(max_ws: int, steps_per_octave: int, min_ws: int = 16 * 1024) -> list[int]:
    """Geometric working-set sizes (bytes) from ``min_ws`` to ``max_ws``."""
    out = []
    i = 0
    while True:
        ws = int(round(min_ws * 2 ** (i / steps_per_octave)))
        if ws > max_ws:
            break
        out.append(ws)
        i += 1
    return out


def memory_cases(p: PlanParams, max_ws: int) -> list[ProbeCase]:
    cases = []
    for ws in memory_working_sets(max_ws, p.memory_steps_per_octave):
        for kernel, (arrays, _) in STREAM_KERNELS.items():
            n = max(1, ws // (arrays * 4))
            cases.append(stream_case(kernel, n))
    return cases


# -- elementwise, reductions, softmax, norms

ACTIVATION_FLOPS = {"relu": 1, "sigmoid": 4, "silu": 5, "hardswish": 5, "gelu": 5}


def _activation(op: str) -> Callable[[Any], Any]:
    import torch.nn.functional as F

    return {"relu": F.relu, "sigmoid": _torch().sigmoid, "silu": F.silu, "hardswish": F.hardswish, "gelu": F.gelu}[op]


def activation_case(op: str, n: int) -> ProbeCase:
    name = f"elementwise/{op}/n{n}"
    flops, nbytes = _counted(name, _activation(op), [(n,)])

    def make(device: Any) -> Callable[[], Any]:
        x = _rand((n,), "fp32", device)
        fn = _activation(op)
        return lambda: fn(x)

    return ProbeCase(name, "elementwise", "elementwise", op, "fp32", {"n": n}, flops, nbytes, make)


def reduction_case(op: str, rows: int, cols: int) -> ProbeCase:
    name = f"reduction/{op}/R{rows}_C{cols}"
    flops, nbytes = _counted(name, lambda x: getattr(_torch(), op)(x, dim=-1), [(rows, cols)])

    def make(device: Any) -> Callable[[], Any]:
        x = _rand((rows, cols), "fp32", device)
        fn = getattr(_torch(), op)
        return lambda: fn(x, dim=-1)

    return ProbeCase(name, "reduction", "reduction", op, "fp32", {"rows": rows, "cols": cols}, flops, nbytes, make)


def softmax_case(rows: int, cols: int) -> ProbeCase:
    name = f"reduction/softmax/R{rows}_C{cols}"
    flops, nbytes = _counted(name, lambda x: _torch().softmax(x, dim=-1), [(rows, cols)])

    def make(device: Any) -> Callable[[], Any]:
        x = _rand((rows, cols), "fp32", device)
        torch = _torch()
        return lambda: torch.softmax(x, dim=-1)

    return ProbeCase(name, "reduction", "softmax", "softmax", "fp32", {"rows": rows, "cols": cols}, flops, nbytes,
                     make)


def layer_norm_case(tokens: int, hidden: int) -> ProbeCase:
    import torch.nn.functional as F

    name = f"normalization/layer_norm/T{tokens}_H{hidden}"
    flops, nbytes = _counted(name, lambda x, w, b: F.layer_norm(x, (hidden,), w, b),
                             [(tokens, hidden), (hidden,), (hidden,)])

    def make(device: Any) -> Callable[[], Any]:
        import torch.nn.functional as F

        x = _rand((tokens, hidden), "fp32", device)
        w = _rand((hidden,), "fp32", device)
        b = _rand((hidden,), "fp32", device)
        return lambda: F.layer_norm(x, (hidden,), w, b)

    return ProbeCase(name, "normalization", "normalization", "layer_norm", "fp32", {"tokens": tokens, "hidden": hidden},
                     flops, nbytes, make)


def batch_norm_case(n: int, c: int, h: int, w: int) -> ProbeCase:
    import torch.nn.functional as F

    name = f"normalization/batch_norm/N{n}_C{c}_H{h}_W{w}"
    flops, nbytes = _counted(name, lambda x, m, v, wt, b: F.batch_norm(x, m, v, wt, b, training=False),
                             [(n, c, h, w)] + [(c,)] * 4)

    def make(device: Any) -> Callable[[], Any]:
        import torch.nn.functional as F

        torch = _torch()
        x = _rand((n, c, h, w), "fp32", device)
        mean = _rand((c,), "fp32", device)
        var = torch.rand((c,), device=device) + 0.5
        wt = _rand((c,), "fp32", device)
        b = _rand((c,), "fp32", device)
        return lambda: F.batch_norm(x, mean, var, wt, b, training=False)

    return ProbeCase(name, "normalization", "normalization", "batch_norm", "fp32", {"N": n, "C": c, "H": h, "W": w},
                     flops, nbytes, make)


# -- dispatch overhead

def dispatch_cases() -> list[ProbeCase]:
    def one(name: str, flops: int, nbytes: int, build: Callable[[Any, Any], Callable[[], Any]]) -> ProbeCase:
        def make(device: Any) -> Callable[[], Any]:
            return build(_torch(), device)

        return ProbeCase(f"dispatch/{name}", "dispatch", "overhead", name, "fp32", {"n": 1}, flops, nbytes, make)

    def add_out(t: Any, d: Any) -> Callable[[], Any]:
        x, y, o = (t.ones(1, device=d) for _ in range(3))
        return lambda: t.add(x, y, out=o)

    def add_alloc(t: Any, d: Any) -> Callable[[], Any]:
        x, y = t.ones(1, device=d), t.ones(1, device=d)
        return lambda: t.add(x, y)

    def relu(t: Any, d: Any) -> Callable[[], Any]:
        x = t.ones(1, device=d)
        return lambda: t.relu(x)

    def copy(t: Any, d: Any) -> Callable[[], Any]:
        x, o = t.ones(1, device=d), t.empty(1, device=d)
        return lambda: o.copy_(x)

    def mul_scalar(t: Any, d: Any) -> Callable[[], Any]:
        x, o = t.ones(1, device=d), t.empty(1, device=d)
        return lambda: t.mul(x, 3.0, out=o)

    def triad(t: Any, d: Any) -> Callable[[], Any]:
        x, y, o = (t.ones(1, device=d) for _ in range(3))
        return lambda: t.add(x, y, alpha=3.0, out=o)

    def mm8(t: Any, d: Any) -> Callable[[], Any]:
        a, b = t.ones(8, 8, device=d), t.ones(8, 8, device=d)
        return lambda: t.mm(a, b)

    return [
        one("add_out_1", 1, 12, add_out),
        one("add_alloc_1", 1, 12, add_alloc),
        one("relu_1", 1, 8, relu),
        one("copy_1", 0, 8, copy),
        one("mul_scalar_1", 1, 8, mul_scalar),
        one("triad_1", 2, 12, triad),
        one("mm_8x8", 2 * 8 * 8 * 8, 3 * 64 * 4, mm8),
    ]


# ---------------------------------------------------------------- dtype support

@dataclass
class DtypeSupport:
    dtype: str
    usable: bool
    reason: str
    probe_flops_per_s: float | None = None  # mm rate measured by the quick probe
    ratio_to_fp32: float | None = None


def probe_dtypes(device: str = "cpu", dtypes: Iterable[str] = ("fp32", "bf16", "fp16", "int8"),
                 size: int = 256) -> dict[str, DtypeSupport]:
    """Quick mm probe per dtype: is it supported, and is it fast enough to be worth calibrating?

    bf16/fp16 are kept when their ``size``-cube mm runs at >= USEFUL_SPEED_RATIO x fp32 (a slow
    fallback path would only teach the fits what nobody should deploy). int8 goes through
    ``torch._int_mm`` and is kept whenever that op exists and runs, whatever its speed; the rate
    is recorded so the reader can judge.

    On a CPU the probe runs on one thread: whether a fast kernel exists does not depend on the
    thread count, and a multi-threaded op is the one that another process's load distorts most
    (a descheduled sibling thread stalls the op for a whole scheduler slice).
    """
    if not str(device).startswith("cuda"):
        with num_threads(1):
            return _probe_dtypes(device, dtypes, size)
    return _probe_dtypes(device, dtypes, size)


def _probe_dtypes(device: str, dtypes: Iterable[str], size: int) -> dict[str, DtypeSupport]:
    torch = _torch()
    out: dict[str, DtypeSupport] = {}
    fns: dict[tuple[str, int], Callable[[], Any]] = {}

    def rate(dtype: str, n: int) -> float:
        key = (dtype, n)
        if key not in fns:
            fns[key] = gemm_case(n, n, n, dtype, "probe").make(device)
        t = time_callable(fns[key], device=device, warmup=1, warmup_s=0.0, min_repeats=3, max_repeats=3,
                          budget_s=0.0, extend_if_noisy=False)
        return gemm_cost(n, n, n, dtype)[0] / t.min_s

    def paired(dt: str, n: int) -> tuple[float, float]:
        # interleave with fp32 and keep the best of each: a burst of load from another process
        # then slows both sides of one round instead of deciding the ratio
        best, ref = 0.0, 0.0
        for _ in range(3):
            ref = max(ref, rate("fp32", n))
            best = max(best, rate(dt, n))
        return best, ref

    fp32 = max(rate("fp32", size) for _ in range(3))
    out["fp32"] = DtypeSupport("fp32", True, "always calibrated", fp32, 1.0)
    for dt in dtypes:
        if dt == "fp32":
            continue
        if dt == "int8" and not hasattr(torch, "_int_mm"):
            out[dt] = DtypeSupport(dt, False, f"torch {torch.__version__} has no torch._int_mm")
            continue
        try:
            small = rate(dt, 64)  # cheap first look: a slow fallback costs milliseconds here, not seconds
            n = size if 2 * size**3 / small < 0.05 else 64
            r, ref = paired(dt, n)
        except Exception as exc:  # unsupported dtype/shape on this device or build
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            op = "torch._int_mm" if dt == "int8" else "torch.mm"
            out[dt] = DtypeSupport(dt, False, f"{op} raised {type(exc).__name__}: {msg[:160]}")
            continue
        ratio = r / ref
        if dt == "int8":
            out[dt] = DtypeSupport(dt, True, f"torch._int_mm runs at {r / 1e9:.1f} GOP/s ({ratio:.2f}x fp32)", r, ratio)
        elif ratio >= USEFUL_SPEED_RATIO:
            out[dt] = DtypeSupport(dt, True, f"mm runs at {r / 1e9:.1f} GFLOP/s ({ratio:.2f}x fp32)", r, ratio)
        else:
            out[dt] = DtypeSupport(dt, False, f"mm runs at {r / 1e9:.2f} GFLOP/s, {ratio:.3f}x fp32 "
                                              f"(< {USEFUL_SPEED_RATIO}x): no fast kernel on this device", r, ratio)
    return out


# ---------------------------------------------------------------- plan

@dataclass
class Skipped:
    name: str
    stage: str
    reason: str


@dataclass
class Stage:
    name: str
    cases: list[ProbeCase]
    estimated_s: float = 0.0


@dataclass
class SuitePlan:
    params: PlanParams
    device: str
    stages: list[Stage]
    skipped: list[Skipped] = field(default_factory=list)
    dtypes: dict[str, DtypeSupport] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def n_cases(self) -> int:
        return sum(len(s.cases) for s in self.stages)

    @property
    def estimated_s(self) -> float:
        return self.params.passes * sum(s.estimated_s for s in self.stages)


@dataclass(frozen=True)
class _Rates:
    """Rough device speeds used only to estimate durations before anything was measured."""

    flops_per_s: dict[str, float]
    bytes_per_s: float
    overhead_s: float
    alloc_bytes_per_s: float


def _default_rates(device: str, threads: int, dtypes: dict[str, DtypeSupport] | None = None) -> _Rates:
    if str(device).startswith("cuda"):
        base = {"fp32": 2e13, "bf16": 2e14, "fp16": 2e14, "int8": 3e14}
        rates = _Rates(base, 1e12, 8e-6, 5e10)
    else:
        base = {"fp32": 4e10 * threads, "bf16": 4e10 * threads, "fp16": 4e10 * threads, "int8": 4e10 * threads}
        rates = _Rates(base, 8e9, 3e-6, 2e9)
    dtypes = dtypes or {}
    fp32 = dtypes.get("fp32")
    if fp32 is not None and fp32.probe_flops_per_s:
        # the probe ran on one thread (CPU); a probe disturbed by other load reads low, so it
        # may raise the guess but never lower it
        scale = 1 if str(device).startswith("cuda") else threads
        rates.flops_per_s["fp32"] = max(rates.flops_per_s["fp32"], fp32.probe_flops_per_s * scale)
    for dt, sup in dtypes.items():
        if dt != "fp32" and sup.ratio_to_fp32:  # the paired ratio is what the probe measures best
            rates.flops_per_s[dt] = rates.flops_per_s["fp32"] * sup.ratio_to_fp32
    return rates


def _est_call(case: ProbeCase, r: _Rates) -> float:
    # elementwise classes are memory-bound; transcendental ones are slower than the FLOP count says
    flops_rate = r.flops_per_s.get(case.dtype, r.flops_per_s["fp32"])
    if case.op_class == "depthwise_conv":
        flops_rate *= 0.1
    elif case.op_class not in ("matmul", "conv"):
        flops_rate *= 0.05
    return max(case.flops / flops_rate, case.bytes / r.bytes_per_s) + r.overhead_s


def estimate_case_s(case: ProbeCase, p: PlanParams, r: _Rates) -> float:
    """Wall time to set up, warm up and sample one case under plan ``p``."""
    call = _est_call(case, r)
    setup = case.bytes / r.alloc_bytes_per_s
    warm = max(2 * call, p.warmup_s)
    sample = max(p.min_repeats * call, p.budget_s)
    return setup + warm + sample + 5e-3


def default_max_working_set(device: str, caches: list[CacheLevel]) -> int:
    """STREAM sweep upper end: 8x the last-level cache (main memory is read above 3x), at least
    64 MiB on a CPU / 1 GiB on a GPU, at most 1/8 of the host's memory."""
    if str(device).startswith("cuda"):
        torch = _torch()
        l2 = int(getattr(torch.cuda.get_device_properties(torch.device(device)), "L2_cache_size", 0) or 0)
        return max(8 * l2, 1 << 30)
    llc = max((c.size_bytes for c in caches), default=32 << 20)
    ws = max(8 * llc, 64 << 20)
    try:
        ws = min(ws, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 8)
    except (ValueError, OSError, AttributeError):
        pass
    return ws


def build_plan(plan: str | PlanParams = "quick", device: str = "cpu", *,
               dtypes: dict[str, DtypeSupport] | None = None, caches: list[CacheLevel] | None = None,
               threads: int | None = None, stages: Iterable[str] | None = None,
               max_working_set: int | None = None) -> SuitePlan:
    """The cases of a plan, with per-stage time estimates; allocates nothing and measures nothing.

    ``dtypes`` comes from :func:`probe_dtypes` (fp32 only when omitted). Cases whose estimated
    duration per call exceeds the plan's ``max_call_s`` are listed in ``skipped`` instead.
    """
    p = PLANS[plan] if isinstance(plan, str) else plan
    if threads is None:
        threads = _torch().get_num_threads()
    dtypes = dtypes or {"fp32": DtypeSupport("fp32", True, "always calibrated")}
    if caches is None:
        from .host import detect_cpu_caches

        caches = detect_cpu_caches()[0] if not str(device).startswith("cuda") else []
    wanted = list(stages) if stages is not None else list(STAGES)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    rates = _default_rates(device, threads, dtypes)
    skipped: list[Skipped] = []

    def gemm() -> list[ProbeCase]:
        cases = []
        for dt, sup in dtypes.items():
            if not sup.usable:
                skipped.append(Skipped(f"gemm/{dt}", "gemm", sup.reason))
                continue
            for s in p.gemm_square:
                cases.append(gemm_case(s, s, s, dt, "gemm_square"))
            for m in p.gemm_skinny_m:
                for k, n in p.gemm_skinny_kn:
                    cases.append(gemm_case(m, k, n, dt, f"gemm_m{m}"))
        return cases

    from . import traced
    from .quick_subset import keep_in_plan

    # the families costed by tracing (calibration/traced.py) time their quick shapes in every plan,
    # so that the full plan stays within its five minutes
    full = False
    builders: dict[str, Callable[[], list[ProbeCase]]] = {
        "dispatch": lambda: dispatch_cases() + traced.call_cost_cases(full),
        "memory": lambda: memory_cases(p, max_working_set or default_max_working_set(device, caches)),
        "gemm": gemm,
        "conv": lambda: conv_cases(p) + traced.extra_conv_cases(full),
        "elementwise": lambda: [activation_case(op, n) for op in ACTIVATION_FLOPS for n in p.elementwise_sizes],
        "reduction": lambda: ([reduction_case(op, r, c) for op in ("sum", "mean") for r, c in p.reduction_shapes]
                              + [softmax_case(r, c) for r, c in p.softmax_shapes] + traced.pooling_cases(full)),
        "normalization": lambda: ([layer_norm_case(t, h) for t, h in p.layer_norm_shapes]
                                  + [batch_norm_case(*s) for s in p.batch_norm_shapes]
                                  + traced.layer_norm_cl_cases(full)),
        "data_movement": lambda: traced.data_movement_cases(full),
    }
    out = []
    for name in STAGES:
        if name not in wanted:
            continue
        kept = []
        for c in builders[name]():
            if not keep_in_plan(p.name, c):
                skipped.append(Skipped(c.name, name, f"not in the {p.name} plan's selected subset "
                                                     "(roofline.calibration.quick_subset)"))
                continue
            c.est_call_s = _est_call(c, rates)
            c.est_s = estimate_case_s(c, p, rates)
            if c.est_call_s > p.max_call_s:
                skipped.append(Skipped(c.name, name, f"estimated {c.est_call_s:.2f} s per call exceeds the "
                                                     f"{p.name} plan's {p.max_call_s} s limit"))
                continue
            kept.append(c)
        out.append(Stage(name, kept, sum(c.est_s for c in kept)))
    return SuitePlan(p, str(device), out, skipped, dict(dtypes))


# ---------------------------------------------------------------- results

@dataclass
class Measurement:
    name: str
    stage: str
    op_class: str
    family: str
    dtype: str
    shape: dict[str, int]
    flops: int
    bytes: int
    median_s: float
    min_s: float
    p10_s: float
    p90_s: float
    dispersion: float  # IQR / median
    n: int
    noisy: bool
    passes: int = 1  # suite passes this case was timed in; the figures are those of its median pass (p10)
    pass_spread: float = 0.0  # slowest pass's p10 / fastest pass's p10 - 1

    @property
    def achieved_flops_per_s(self) -> float:
        return self.flops / self.median_s

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.bytes / self.median_s

    @property
    def working_set_bytes(self) -> int:
        return self.bytes


@dataclass
class StageReport:
    name: str
    cases: int
    estimated_s: float
    elapsed_s: float
    foreign_load: float | None = None  # other processes' CPU use per CPU during the stage (0..1)


@dataclass
class SuiteResult:
    """Everything one suite run measured, with the host it ran on. ``to_dict`` is JSON-safe."""

    plan: str
    device: str
    threads: int
    host: HostInfo
    started_utc: str
    elapsed_s: float
    measurements: list[Measurement]
    skipped: list[Skipped]
    stages: list[StageReport]
    dtypes: dict[str, DtypeSupport]
    noisy_threshold: float = NOISY_THRESHOLD
    timing: dict[str, float] = field(default_factory=dict)  # budget_s, min_repeats, warmup_s of the plan

    def select(self, *, stage: str | None = None, op_class: str | None = None, dtype: str | None = None,
               family: str | None = None) -> list[Measurement]:
        return [m for m in self.measurements
                if (stage is None or m.stage == stage) and (op_class is None or m.op_class == op_class)
                and (dtype is None or m.dtype == dtype) and (family is None or m.family == family)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan, "device": self.device, "threads": self.threads, "host": self.host.to_dict(),
            "started_utc": self.started_utc, "elapsed_s": self.elapsed_s,
            "noisy_threshold": self.noisy_threshold, "timing": dict(self.timing),
            "dtypes": {k: asdict(v) for k, v in self.dtypes.items()},
            "stages": [asdict(s) for s in self.stages],
            "skipped": [asdict(s) for s in self.skipped],
            "measurements": [asdict(m) for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SuiteResult":
        return cls(
            plan=d["plan"], device=d["device"], threads=d["threads"], host=HostInfo.from_dict(d["host"]),
            started_utc=d["started_utc"], elapsed_s=d["elapsed_s"],
            measurements=[Measurement(**m) for m in d["measurements"]],
            skipped=[Skipped(**s) for s in d.get("skipped", [])],
            stages=[StageReport(**s) for s in d.get("stages", [])],
            dtypes={k: DtypeSupport(**v) for k, v in d.get("dtypes", {}).items()},
            noisy_threshold=d.get("noisy_threshold", NOISY_THRESHOLD), timing=d.get("timing", {}),
        )


# ---------------------------------------------------------------- runner

class _SlowGuard:
    """Predicts a case's call time from how much slower than estimated the earlier cases of the
    same stage and dtype ran, so that a slow path (a dtype without a fast kernel, say) is not
    driven up to its largest shapes."""

    MIN_EST_S = 1e-4  # below this the estimate is dominated by dispatch cost and says little

    def __init__(self) -> None:
        self.ratios: dict[tuple[str, str], list[float]] = {}

    def record_time(self, case: ProbeCase, seconds: float) -> None:
        if case.est_call_s >= self.MIN_EST_S:
            self.ratios.setdefault((case.stage, case.dtype), []).append(seconds / case.est_call_s)

    def record(self, case: ProbeCase, m: Measurement) -> None:
        self.record_time(case, m.median_s)

    def predict(self, case: ProbeCase) -> float:
        r = self.ratios.get((case.stage, case.dtype))
        if not r:
            return case.est_call_s
        return case.est_call_s * (sorted(r)[len(r) // 2] if len(r) >= 2 else r[0])


def run_case(case: ProbeCase, device: str, p: PlanParams) -> Measurement:
    """Build and time one case; raises ``CallTooSlow`` when one call takes over 4x the plan's limit."""
    torch = _torch()
    fn = case.make(torch.device(device))
    t = time_callable(fn, device=device, warmup=2, warmup_s=p.warmup_s, min_repeats=p.min_repeats,
                      budget_s=p.budget_s, max_total_s=max(4 * p.budget_s, 4 * p.max_call_s),
                      abort_call_s=4 * p.max_call_s)
    del fn
    return Measurement(case.name, case.stage, case.op_class, case.family, case.dtype, dict(case.shape),
                       case.flops, case.bytes, t.median_s, t.min_s, t.p10_s, t.p90_s, t.dispersion, t.n, t.noisy)


def merge_passes(measurements: Sequence[Measurement]) -> Measurement:
    """One case timed in several passes: its median pass by p10 (the faster of two). A
    neighbour's burst that slows one pass is outvoted, and no single lucky pass decides."""
    ranked = sorted(measurements, key=lambda m: m.p10_s)
    chosen = ranked[(len(ranked) - 1) // 2]
    spread = ranked[-1].p10_s / ranked[0].p10_s - 1 if ranked[0].p10_s > 0 else 0.0
    return replace(chosen, passes=len(ranked), pass_spread=spread)


def _stage_left(stage: Stage, done: int, total: int, spent_s: float) -> float:
    """Estimated seconds left in a stage, the estimate rescaled by how its finished cases ran."""
    est_total = stage.estimated_s * total / max(1, len(stage.cases))
    est_done = est_total * done / total if total else 0.0
    scale = spent_s / est_done if est_done > 0 and spent_s > 0 else 1.0
    return max(0.0, (est_total - est_done) * scale)


def plan_suite(plan: str | PlanParams = "quick", device: str = "cpu", threads: int | None = None,
               stages: Iterable[str] | None = None, probe: bool = True) -> SuitePlan:
    """Build a plan for this host; ``probe`` runs the (sub-second) dtype probe first when GEMMs are wanted."""
    with num_threads(threads) as n:
        wanted = list(stages) if stages is not None else list(STAGES)
        dtypes = probe_dtypes(device) if (probe and "gemm" in wanted) else None
        return build_plan(plan, device, dtypes=dtypes, threads=n, stages=wanted)


def run_suite(plan: str | PlanParams | SuitePlan = "quick", threads: int | None = None, device: str = "cpu",
              progress: ProgressCallback | None = None, stages: Iterable[str] | None = None,
              after_pass: Callable[[int], None] | None = None) -> SuiteResult:
    """Run the microbenchmark suite and return every measurement.

    ``plan``: "quick" (<= 45 s on a 2-core CPU), "full" (<= 4 min), a custom ``PlanParams`` or a
    prebuilt ``SuitePlan`` (from :func:`plan_suite` / :func:`build_plan`). ``threads`` sets torch's
    intra-op thread count for the run (restored afterwards). ``progress(stage, done, total,
    est_s_left)`` is called when a stage starts and after each case, ``total`` counting every
    pass; ``est_s_left`` is the estimated time left in that stage, rescaled by how the stage's
    finished cases compared with their estimates. A plan with ``passes`` > 1 times every case in
    each pass and keeps its median pass (:func:`merge_passes`). ``after_pass(k)`` runs after pass
    ``k`` (0-based), inside the run's thread setting: ``roofline calibrate`` times its in-sequence
    chains there.
    """
    torch = _torch()
    t_run = time.perf_counter()
    started = utc_now_iso()
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch.cuda.is_available() is False")
    with num_threads(threads) as n_threads, torch.inference_mode():
        sp = plan if isinstance(plan, SuitePlan) else plan_suite(plan, device, threads=None, stages=stages)
        host = collect_host_info(device, n_threads)
        settle_allocator()
        passes = max(1, sp.params.passes)
        by_pass: dict[str, list[Measurement]] = {}
        guard = _SlowGuard()
        skipped = list(sp.skipped)
        dropped: set[str] = set()  # skipped or failed in the first pass: not retried
        reports: dict[str, StageReport] = {}
        done: dict[str, int] = {}
        spent_s: dict[str, float] = {}
        for k in range(passes):
            for stage in (sp.stages if k % 2 == 0 else list(reversed(sp.stages))):
                t_stage = time.perf_counter()
                total = len(stage.cases) * passes
                if progress:
                    progress(stage.name, done.get(stage.name, 0), total,
                             _stage_left(stage, done.get(stage.name, 0), total, spent_s.get(stage.name, 0.0)))
                meter = ForeignLoad().__enter__()
                for case in stage.cases:
                    if case.name in dropped:
                        pass
                    elif k == 0 and (predicted := guard.predict(case)) > sp.params.max_call_s:
                        dropped.add(case.name)
                        skipped.append(Skipped(case.name, stage.name,
                                               f"predicted {predicted:.2f} s per call from this dtype's earlier cases "
                                               f"exceeds the {sp.name} plan's {sp.params.max_call_s} s limit"))
                    else:
                        try:
                            m = run_case(case, device, sp.params)
                            by_pass.setdefault(case.name, []).append(m)
                            guard.record(case, m)
                        except CallTooSlow as exc:
                            guard.record_time(case, exc.seconds)
                            if k == 0:
                                dropped.add(case.name)
                                skipped.append(Skipped(case.name, stage.name, str(exc)))
                        except Exception as exc:  # a shape this build/device rejects: record it, go on
                            if k == 0:
                                dropped.add(case.name)
                                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                                skipped.append(Skipped(case.name, stage.name, f"{type(exc).__name__}: {msg[:200]}"))
                    done[stage.name] = done.get(stage.name, 0) + 1
                    if progress:
                        progress(stage.name, done[stage.name], total,
                                 _stage_left(stage, done[stage.name], total,
                                             spent_s.get(stage.name, 0.0) + time.perf_counter() - t_stage))
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                meter.__exit__(None, None, None)
                elapsed = time.perf_counter() - t_stage
                spent_s[stage.name] = spent_s.get(stage.name, 0.0) + elapsed
                prev = reports.get(stage.name)
                load = meter.value if prev is None or prev.foreign_load is None or meter.value is None \
                    else max(prev.foreign_load, meter.value)
                reports[stage.name] = StageReport(stage.name, len(stage.cases), passes * stage.estimated_s,
                                                  spent_s[stage.name], load)
            if after_pass is not None:
                after_pass(k)
        load = load_average()
        if load is not None:
            host.extra["load_avg_1m_end"] = load
    measurements = [merge_passes(ms) for case in (c for st in sp.stages for c in st.cases)
                    if (ms := by_pass.get(case.name))]
    return SuiteResult(
        plan=sp.name, device=device, threads=n_threads, host=host, started_utc=started,
        elapsed_s=time.perf_counter() - t_run, measurements=measurements, skipped=skipped,
        stages=[reports[st.name] for st in sp.stages if st.name in reports],
        dtypes=sp.dtypes, timing={"budget_s": sp.params.budget_s, "min_repeats": sp.params.min_repeats,
                                  "warmup_s": sp.params.warmup_s, "passes": passes},
    )
