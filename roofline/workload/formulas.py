"""Shape-only FLOP formulas, one registry entry per aten op packet.

Conventions (see docs/counting.md):
- matmul, conv and attention: FLOPs = 2 x MACs, bias adds ignored (as torch.utils.flop_counter).
- every other op: FLOPs per element as documented next to its registration; a
  transcendental function (exp, erf, tanh, sqrt...) counts as 1 FLOP.
- data movement (copy, cat, index, pad...) and views: 0 FLOPs, but they are supported:
  their bytes count and they never appear as unsupported.
An op in none of these tables is unsupported: 0 FLOPs, listed in ``unsupported_ops``.
Ops whose output size depends on tensor values (``DATA_DEPENDENT``: nonzero, unique...) cannot
run on fake tensors; the trace stops with a one-line error naming them.
Each entry carries its rule in words (``OpKind.rule``), for the coverage table in docs/counting.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from roofline.workload.types import OpClass

aten = torch.ops.aten


@dataclass(frozen=True, slots=True)
class Cost:
    flops: int
    macs: int = 0
    causal_useful_flops: int | None = None


# formula(args, kwargs, outputs) -> Cost
Formula = Callable[[tuple, dict, list], Cost]


@dataclass(frozen=True, slots=True)
class OpKind:
    op_class: OpClass
    formula: Formula | None  # None: zero FLOPs by definition (views, data movement, creation)
    pointwise: bool = False  # per-element map: fusible as a producer's epilogue
    int8_capable: bool = True  # whether `--dtype int8` makes its tensors 1 byte
    rule: str = ""  # the FLOP rule in words, for docs/counting.md's coverage table

    def __reduce__(self):
        # A traced op carries its cost already: a workload sent to another process (--jobs) needs
        # the op's class, not its formula (often a closure, which cannot be pickled).
        return (OpKind, (self.op_class, None, self.pointwise, self.int8_capable, self.rule))


REGISTRY: dict[Any, OpKind] = {}


def register(packets: Any, op_class: OpClass, formula: Formula | None = None, *, pointwise: bool = False,
             int8_capable: bool = True, rule: str | None = None) -> None:
    if not isinstance(packets, (list, tuple)):
        packets = [packets]
    if rule is None:
        rule = formula.__doc__.strip().splitlines()[0].rstrip(".") if formula is not None and formula.__doc__ else ""
    for p in packets:
        if p is None:
            continue
        REGISTRY[p] = OpKind(op_class, formula, pointwise, int8_capable, rule)


def _packet(name: str) -> Any:
    """An aten op packet by name, or None on torch versions that lack it."""
    return getattr(aten, name, None)


def _packets(*names: str) -> list[Any]:
    return [p for p in (_packet(n) for n in names) if p is not None]


def _numel(shape: Any) -> int:
    return math.prod(shape)


def _out_numel(outputs: list) -> int:
    return _numel(outputs[0].shape) if outputs else 0


# ---------------------------------------------------------------- matmul class

def _mm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    a, b = args[0], args[1]
    m, k = a.shape
    n = b.shape[1]
    macs = m * n * k
    return Cost(2 * macs, macs)


def _addmm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    return _mm(args[1:], kwargs, outputs)


def _bmm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    a, b = args[0], args[1]
    bs, m, k = a.shape
    n = b.shape[2]
    macs = bs * m * n * k
    return Cost(2 * macs, macs)


def _baddbmm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    return _bmm(args[1:], kwargs, outputs)


def _int_mm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    return _mm(args, kwargs, outputs)


def _conv(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # convolution / _convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups...)
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    return _conv_cost(args[0], args[1], outputs, transposed)


def _conv_direct(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # backend kernels that are never transposed; their 7th argument is groups or benchmark, not transposed:
    # mkldnn_convolution(input, weight, bias, padding, stride, dilation, groups),
    # cudnn_convolution(input, weight, padding, stride, dilation, groups, benchmark, ...), _slow_conv2d_forward...
    return _conv_cost(args[0], args[1], outputs, False)


def _conv_transposed(args: tuple, kwargs: dict, outputs: list) -> Cost:
    return _conv_cost(args[0], args[1], outputs, True)


def _conv_cost(x: Any, w: Any, outputs: list, transposed: bool) -> Cost:
    out_shape = outputs[0].shape
    spatial = (x.shape if transposed else out_shape)[2:]
    c_out, c_in_per_group, *kernel = w.shape
    # Same expression as torch.utils.flop_counter.conv_flop_count: for a transposed conv the
    # weight is (C_in, C_out/groups, k...) and each *input* point is scattered over the kernel.
    macs = x.shape[0] * _numel(spatial) * _numel(kernel) * c_out * c_in_per_group
    return Cost(2 * macs, macs)


def _sdpa_cost(q: Any, k: Any, v: Any, is_causal: bool) -> Cost:
    """Two batched matmuls, scores = q @ k^T and out = p @ v: FLOPs = 2 x MACs as in torch's counter.

    The softmax inside a fused attention kernel is not counted (about 5 / (2 (d + d_v)) of the
    total, under 2 % at head size 64), so that attention keeps the matmul convention exactly.
    """
    *batch, s_q, d = q.shape
    s_k = k.shape[-2]
    d_v = v.shape[-1]
    b = _numel(batch)
    macs = b * s_q * s_k * (d + d_v)
    useful = None
    if is_causal:
        useful = 2 * b * _kept_pairs(s_q, s_k) * (d + d_v)
    return Cost(2 * macs, macs, useful)


def _kept_pairs(s_q: int, s_k: int) -> int:
    """Query-key pairs kept by torch's is_causal mask (lower triangle from the top-left corner)."""
    full = min(s_q, s_k)
    return full * (full + 1) // 2 + max(0, s_q - s_k) * s_k


def _sdpa_with_causal_at(position: int) -> Formula:
    """SDPA kernels take is_causal at different positions (flash: 4, efficient/cudnn: 6)."""
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        is_causal = kwargs.get("is_causal")
        if is_causal is None:
            is_causal = args[position] if len(args) > position else False
        return _sdpa_cost(args[0], args[1], args[2], bool(is_causal))
    return f


def _native_mha(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # _native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias,
    #                              proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)
    q, k, num_heads = args[0], args[1], args[4]
    bsz, s_q, e = q.shape
    s_k = k.shape[1]
    head = e // num_heads
    proj = 2 * bsz * s_q * e * e + 2 * bsz * s_k * e * e  # q and output over s_q; k and v over s_k
    attn = bsz * num_heads * s_q * s_k * head * 2
    macs = proj + attn
    return Cost(2 * macs, macs)


_SDPA_RULE = "2·b·s_q·s_k·(d + d_v): q·kᵀ and p·v (MACs half; inner softmax not counted)"
_CONV_RULE = "2·N·prod(out spatial)·prod(kernel)·C_out·C_in/groups (MACs half; bias not counted)"
register(_packets("mm"), OpClass.MATMUL, _mm, rule="2·m·n·k (MACs m·n·k)")
register(_packets("addmm"), OpClass.MATMUL, _addmm, rule="2·m·n·k (MACs m·n·k; bias not counted)")
register(_packets("bmm"), OpClass.MATMUL, _bmm, rule="2·B·m·n·k (MACs B·m·n·k)")
register(_packets("baddbmm"), OpClass.MATMUL, _baddbmm, rule="2·B·m·n·k (MACs B·m·n·k; bias not counted)")
register(_packets("_int_mm"), OpClass.MATMUL, _int_mm, rule="2·m·n·k (MACs m·n·k)")
register(_packets("convolution", "_convolution"), OpClass.CONV, _conv, rule=_CONV_RULE)
register(_packets("mkldnn_convolution", "_slow_conv2d_forward", "cudnn_convolution", "thnn_conv2d",
                  "miopen_convolution", "miopen_depthwise_convolution", "_nnpack_spatial_convolution",
                  "_mps_convolution"), OpClass.CONV, _conv_direct, rule=_CONV_RULE + "; never transposed")
register(_packets("cudnn_convolution_transpose", "miopen_convolution_transpose", "_mps_convolution_transpose"),
         OpClass.CONV, _conv_transposed, rule=_CONV_RULE + "; transposed: over the input points")
# (query, key, value, dropout_p, is_causal, ...)
register(_packets("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention"),
         OpClass.ATTENTION, _sdpa_with_causal_at(4), int8_capable=False, rule=_SDPA_RULE)
# (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, ...)
register(_packets("_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"),
         OpClass.ATTENTION, _sdpa_with_causal_at(6), int8_capable=False, rule=_SDPA_RULE)
# (query, key, value, attn_bias, dropout_p, is_causal, ...)
register(_packets("_scaled_dot_product_fused_attention_overrideable"), OpClass.ATTENTION, _sdpa_with_causal_at(5),
         int8_capable=False, rule=_SDPA_RULE)
register(_packets("_native_multi_head_attention"), OpClass.ATTENTION, _native_mha, int8_capable=False,
         rule="2·(4·B·s_q·e² + 2·B·s_q·s_k·e): projections and both attention matmuls")


# ---------------------------------------------------------------- per-element ops

def _per_output(n: int) -> Formula:
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        return Cost(n * _out_numel(outputs))
    f.__doc__ = f"{n} FLOP(s) per output element"
    return f


def _per_input(n: int) -> Formula:
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        return Cost(n * _numel(args[0].shape))
    f.__doc__ = f"{n} FLOP(s) per input element"
    return f


def _variants(*names: str) -> list[Any]:
    """Functional, in-place and out= forms share one packet in aten; list each base name once."""
    out = []
    for n in names:
        out += _packets(n, n + "_")
    return out


# 1 FLOP per output element: arithmetic, comparisons, clamps, single transcendental functions
register(_variants("add", "sub", "mul", "div", "rsub", "neg", "abs", "relu", "clamp", "clamp_min", "clamp_max",
                   "maximum", "minimum", "where", "eq", "ne", "lt", "le", "gt", "ge", "sign",
                   "exp", "exp2", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos",
                   "tanh", "erf", "pow", "square", "floor", "ceil", "round", "trunc", "remainder", "fmod",
                   "logical_not", "logical_and", "logical_or", "bitwise_and", "bitwise_or", "bitwise_not",
                   "masked_fill", "threshold", "hardtanh", "lerp", "_softmax_backward_data",
                   "floor_divide", "sigmoid_backward", "relu6", "copysign", "atan", "atan2"),
         OpClass.ELEMENTWISE, _per_output(1), pointwise=True)
# 2: x*w+b style ops and leaky relu (compare+mul), addcmul/addcdiv (mul+add)
register(_variants("leaky_relu", "addcmul", "addcdiv", "prelu", "_prelu_kernel", "elu", "celu", "selu"),
         OpClass.ELEMENTWISE, _per_output(2), pointwise=True)
# sigmoid = 1/(1+exp(-x)): neg, exp, add, div
register(_variants("sigmoid", "hardsigmoid", "softplus", "logit"), OpClass.ELEMENTWISE, _per_output(4),
         pointwise=True)
# silu = x*sigmoid(x); hardswish = x*relu6(x+3)/6: add, clamp(2), mul, div; gelu(erf) = 0.5x(1+erf(x/sqrt2))
register(_variants("silu", "hardswish", "gelu", "mish"), OpClass.ELEMENTWISE, _per_output(5), pointwise=True)


# ---------------------------------------------------------------- normalization

def _batch_norm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # (input, weight, bias, running_mean, running_var, training, momentum, eps) for native_batch_norm;
    # _native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum, eps).
    x, weight = args[0], args[1]
    n = _numel(x.shape)
    training = bool(args[5]) if len(args) > 5 and isinstance(args[5], bool) else False
    per = 2  # (x - mean) * invstd
    if weight is not None:
        per += 2  # * weight + bias
    if training:
        per += 4  # batch mean (1) and variance (sub, square, add: 3)
    return Cost(per * n)


def _layer_norm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # native_layer_norm(input, normalized_shape, weight, bias, eps)
    x = args[0]
    weight = args[2] if len(args) > 2 else None
    per = 5  # mean (1), variance (sub, square, add: 3), normalise (1: times rstd of centred x)
    if weight is not None:
        per += 2
    return Cost(per * _numel(x.shape))


def _group_norm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # native_group_norm(input, weight, bias, N, C, HxW, group, eps)
    x, weight = args[0], args[1]
    per = 5 + (2 if weight is not None else 0)
    return Cost(per * _numel(x.shape))


def _rms_norm(args: tuple, kwargs: dict, outputs: list) -> Cost:
    # _fused_rms_norm(input, normalized_shape, weight, eps): square, sum, times rstd (+ weight)
    x = args[0]
    weight = args[2] if len(args) > 2 else None
    return Cost((3 + (1 if weight is not None else 0)) * _numel(x.shape))


# Traces run in eval mode, where batch norm is a per-channel affine map: pointwise, so fusible
# into the producing conv (and folded into it by compiled runtimes).
register(_packets("_native_batch_norm_legit_no_training", "native_batch_norm", "_native_batch_norm_legit",
                  "cudnn_batch_norm", "miopen_batch_norm", "_batch_norm_with_update", "_batch_norm_no_update"),
         OpClass.NORMALIZATION, _batch_norm, pointwise=True, int8_capable=False,
         rule="(2 + 2 if affine + 4 if training) per input element")
register(_packets("native_layer_norm"), OpClass.NORMALIZATION, _layer_norm, int8_capable=False,
         rule="(5 + 2 if weight) per input element")
register(_packets("native_group_norm"), OpClass.NORMALIZATION, _group_norm, int8_capable=False,
         rule="(5 + 2 if weight) per input element")
register(_packets("_fused_rms_norm"), OpClass.NORMALIZATION, _rms_norm, int8_capable=False,
         rule="(3 + 1 if weight) per input element")

# softmax: max, sub, exp, sum, div per element
register(_packets("_softmax", "_log_softmax", "_safe_softmax"), OpClass.REDUCTION, _per_input(5), int8_capable=False,
         rule="5 per input element (max, sub, exp, sum, div)")


# ---------------------------------------------------------------- reductions

def _reduce_plus_output(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """in + out: one add per input element and one divide per output element."""
    return Cost(_numel(args[0].shape) + _out_numel(outputs))


register(_packets("sum", "amax", "amin", "argmax", "argmin", "prod", "any", "all", "logsumexp", "norm",
                  "linalg_vector_norm", "max", "min", "nansum", "count_nonzero", "aminmax"), OpClass.REDUCTION,
         _per_input(1), int8_capable=False)
register(_packets("mean"), OpClass.REDUCTION, _reduce_plus_output, int8_capable=False)
register(_packets("var", "std", "var_mean", "std_mean"), OpClass.REDUCTION, _per_input(3), int8_capable=False)


# Binary max/min are elementwise; the packet's other overloads are reductions.
for _name in ("max", "min"):
    for _overload in ("other", "out"):
        _op = getattr(getattr(aten, _name), _overload, None)
        if _op is not None:
            REGISTRY[_op] = OpKind(OpClass.ELEMENTWISE, _per_output(1), pointwise=True,
                                   rule="1 FLOP(s) per output element")


# ---------------------------------------------------------------- pooling

def _kernel_pool(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """prod(kernel) per output element: one compare or add per kernel element."""
    kernel = args[1]
    k = _numel(kernel) if isinstance(kernel, (list, tuple)) and kernel else 1
    if isinstance(kernel, (list, tuple)) and len(kernel) == 1:
        k = kernel[0] ** (len(outputs[0].shape) - 2)
    return Cost(k * _out_numel(outputs))


def _adaptive_pool(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """in + out: each input element added once, each output divided once."""
    return Cost(_numel(args[0].shape) + _out_numel(outputs))


register(_packets("max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d", "max_pool2d",
                  "avg_pool2d", "avg_pool3d", "avg_pool1d", "mkldnn_max_pool2d"), OpClass.POOLING, _kernel_pool)
register(_packets("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d", "adaptive_avg_pool1d",
                  "_adaptive_avg_pool2d_backward"), OpClass.POOLING, _adaptive_pool)
# bilinear/bicubic resampling: 4 / 16 neighbour weights per output element (fvcore's convention for bilinear)
register(_packets("upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_linear1d", "grid_sampler_2d"),
         OpClass.POOLING, _per_output(4))
register(_packets("upsample_bicubic2d"), OpClass.POOLING, _per_output(16))

# ---------------------------------------------------------------- sorting, selection, scans, FFT

def _dim_arg(args: tuple, kwargs: dict, position: int, default: int = -1) -> int:
    dim = kwargs.get("dim")
    if dim is None:
        dim = args[position] if len(args) > position and isinstance(args[position], int) else default
    return dim


def _log2_ceil(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def _rows_and_length(x: Any, dim: int) -> tuple[int, int]:
    """(number of rows, row length) of ``x`` along ``dim`` (a 0-d tensor is one row of one)."""
    if x.dim() == 0:
        return 1, 1
    n = x.shape[dim]
    return (_numel(x.shape) // n if n else 0), n


def _sort(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """n·⌈log2 n⌉ comparisons per row of n (the comparison-sort bound)."""
    # sort(self, dim=-1, descending=False); sort.stable(self, *, stable, dim=-1, descending=False)
    x = args[0]
    position = 1 if not (len(args) > 1 and (args[1] is None or isinstance(args[1], bool))) else 2
    rows, n = _rows_and_length(x, _dim_arg(args, kwargs, position))
    return Cost(rows * n * _log2_ceil(n))


def _topk(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """n + k·⌈log2 k⌉ per row of n: one comparison per element to select k, then sorting the k kept."""
    # topk(self, k, dim=-1, largest=True, sorted=True)
    x, k = args[0], args[1]
    rows, n = _rows_and_length(x, _dim_arg(args, kwargs, 2))
    return Cost(rows * (n + k * _log2_ceil(k)))


def _kthvalue(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """n comparisons per row of n (one selection pass)."""
    # kthvalue(self, k, dim=-1, keepdim=False)
    rows, n = _rows_and_length(args[0], _dim_arg(args, kwargs, 2))
    return Cost(rows * n)


def _median(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """n comparisons per row of n (one selection pass)."""
    # median(self): the whole tensor; median.dim(self, dim, keepdim=False)
    x = args[0]
    if len(args) == 1 and "dim" not in kwargs:
        return Cost(_numel(x.shape))
    rows, n = _rows_and_length(x, _dim_arg(args, kwargs, 1))
    return Cost(rows * n)


def _binary_search(boundaries_at: int) -> Formula:
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        seq = args[boundaries_at]
        b = seq.shape[-1] if seq.dim() else 1
        return Cost(_out_numel(outputs) * _log2_ceil(b + 1))
    f.__doc__ = "⌈log2 (b + 1)⌉ comparisons per output element, b boundaries (binary search)"
    return f


def _fft_points(x_shape: Any, dims: Any) -> tuple[int, int]:
    """(transforms, points per transform) for an FFT over ``dims`` of a tensor of ``x_shape``."""
    dims = [dims] if isinstance(dims, int) else list(dims)
    points = _numel([x_shape[d] for d in dims])
    total = _numel(x_shape)
    return (total // points if points else 0), points


def _fft_flops(transforms: int, points: int, per: float) -> int:
    return int(round(transforms * per * points * math.log2(points))) if points > 1 else 0


def _fft_c2c(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """5·N·log2 N per complex transform of N points (FFTW's benchFFT convention)."""
    # _fft_c2c(self, dim, normalization, forward)
    transforms, points = _fft_points(args[0].shape, args[1])
    return Cost(_fft_flops(transforms, points, 5.0))


def _fft_r2c(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """2.5·N·log2 N per real transform of N points (FFTW's benchFFT convention)."""
    # _fft_r2c(self, dim, normalization, onesided): N from the real input
    transforms, points = _fft_points(args[0].shape, args[1])
    return Cost(_fft_flops(transforms, points, 2.5))


def _fft_c2r(args: tuple, kwargs: dict, outputs: list) -> Cost:
    """2.5·N·log2 N per real transform of N points (FFTW's benchFFT convention)."""
    # _fft_c2r(self, dim, normalization, last_dim_size): N from the real output
    transforms, points = _fft_points(outputs[0].shape, args[1])
    return Cost(_fft_flops(transforms, points, 2.5))


def _accumulate(position: int, source: int) -> Formula:
    """One add per source element when the op accumulates; a plain scatter is data movement."""
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        flag = kwargs.get("accumulate")
        if flag is None:
            flag = args[position] if len(args) > position else False
        values = args[source]
        return Cost(_numel(values.shape) if flag and hasattr(values, "shape") else 0)
    f.__doc__ = "1 per value when accumulate=True (one add each), else 0"
    return f


def _per_tensor_arg(position: int) -> Formula:
    """1 per element of the argument at ``position`` (scatter_add: the index; index_add: the source)."""
    def f(args: tuple, kwargs: dict, outputs: list) -> Cost:
        t = args[position] if len(args) > position else None
        return Cost(_numel(t.shape) if hasattr(t, "shape") else 0)
    return f


register(_packets("sort"), OpClass.REDUCTION, _sort)
register(_packets("topk"), OpClass.REDUCTION, _topk)
register(_packets("kthvalue"), OpClass.REDUCTION, _kthvalue)
register(_packets("median", "nanmedian"), OpClass.REDUCTION, _median)
# searchsorted(sorted_sequence, self, ...); bucketize(self, boundaries, ...)
register(_packets("searchsorted"), OpClass.REDUCTION, _binary_search(0))
register(_packets("bucketize"), OpClass.REDUCTION, _binary_search(1))
# scans: one add or multiply per element (n - 1 per row, counted as n). cummax/cummin stay
# unregistered: reported as unsupported.
register(_packets("cumsum", "cumprod"), OpClass.REDUCTION, _per_input(1), int8_capable=False,
         rule="1 per input element (one add or multiply each)")
register(_packets("logcumsumexp"), OpClass.REDUCTION, _per_input(3), int8_capable=False,
         rule="3 per input element (exp, add, log)")
register(_packets("_fft_c2c"), OpClass.OTHER, _fft_c2c, int8_capable=False)
register(_packets("_fft_r2c"), OpClass.OTHER, _fft_r2c, int8_capable=False)
register(_packets("_fft_c2r"), OpClass.OTHER, _fft_c2r, int8_capable=False)
register(_packets("scatter_add", "scatter_reduce"), OpClass.DATA_MOVEMENT, _per_tensor_arg(2),
         rule="1 per index element (one add or reduce each)")
register(_packets("index_add"), OpClass.DATA_MOVEMENT, _per_tensor_arg(3), rule="1 per source element (one add each)")
register(_packets("index_put", "_unsafe_index_put"), OpClass.DATA_MOVEMENT, _accumulate(3, 2))
register(_packets("_index_put_impl"), OpClass.DATA_MOVEMENT, _accumulate(3, 2))
register(_packets("nonzero_static"), OpClass.REDUCTION, _per_input(1), rule="1 per input element (a compare each)")

# Ops whose output size depends on tensor values: a shape-only trace cannot run them, and the
# trace stops with a one-line error naming the op and the module (see tracer.py).
_DATA_DEPENDENT_RULE = "output size depends on tensor values: the trace stops with a one-line error"
DATA_DEPENDENT: dict[Any, str] = {p: _DATA_DEPENDENT_RULE for p in _packets(
    "nonzero", "masked_select", "_unique", "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive",
    "bincount", "argwhere", "nonzero_numpy", "_local_scalar_dense")}

# ---------------------------------------------------------------- zero-FLOP, supported

register(_packets("upsample_nearest2d", "upsample_nearest1d", "upsample_nearest3d", "_upsample_nearest_exact2d",
                  "_upsample_nearest_exact1d", "_upsample_nearest_exact3d",
                  "clone", "_to_copy", "copy", "copy_", "cat", "stack", "index", "index_select", "gather",
                  "scatter", "scatter_", "embedding", "constant_pad_nd",
                  "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
                  "replication_pad2d", "replication_pad3d", "roll", "flip", "repeat", "tril", "triu",
                  "_unsafe_index", "split_with_sizes_copy", "contiguous", "pixel_shuffle", "pixel_unshuffle",
                  "channel_shuffle", "native_channel_shuffle", "lift_fresh_copy", "narrow_copy",
                  "slice_scatter", "select_scatter", "diagonal_scatter", "as_strided_scatter", "unfold_copy",
                  "im2col", "col2im", "one_hot", "repeat_interleave", "full_like", "zeros_like", "ones_like", "masked_scatter",
                  "view_copy", "permute_copy", "transpose_copy", "expand_copy", "t_copy", "unsqueeze_copy",
                  "squeeze_copy", "alias_copy", "detach_copy", "slice_copy", "select_copy", "_unsafe_view_copy"),
         OpClass.DATA_MOVEMENT, None, rule="0: data movement (bytes only)")
# creation ops that fill memory (zeros, arange...): they write their output
register(_packets("zeros", "ones", "full", "arange", "linspace", "logspace", "rand", "randn", "randint",
                  "rand_like", "randn_like", "randint_like", "randperm", "bernoulli", "normal", "uniform",
                  "eye", "new_zeros", "new_ones", "new_full", "scalar_tensor", "dropout",
                  "native_dropout", "fill", "fill_", "zero", "zero_", "index_fill", "index_fill_", "tensor"),
         OpClass.DATA_MOVEMENT, None, rule="0: creation (writes its output)")
# allocation without initialisation: neither read, written nor computed, so not recorded
UNINITIALISED = frozenset(_packets("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                                   "lift_fresh", "_local_scalar_dense", "empty_permuted"))

# views and metadata-only ops (also recognised via OpOverload.is_view)
VIEW_PACKETS = frozenset(_packets("view", "_unsafe_view", "reshape", "expand", "t", "transpose", "permute",
                                  "squeeze", "unsqueeze", "slice", "select", "detach", "alias", "as_strided",
                                  "unbind", "split", "split_with_sizes", "chunk", "narrow", "view_as", "unfold",
                                  "flatten", "diagonal", "expand_as", "movedim", "numpy_T", "_reshape_alias",
                                  "view_as_real", "view_as_complex", "unflatten", "_nested_view_from_buffer",
                                  "as_strided_", "squeeze_", "unsqueeze_", "transpose_", "t_", "detach_",
                                  "set_", "resize_", "_to_dense"))
for _p in VIEW_PACKETS:
    REGISTRY[_p] = OpKind(OpClass.VIEW, None, rule="0 (view: no bytes)")

# ops that say nothing about tensors (device queries, symbolic sizes): ignored entirely
IGNORED = (frozenset(_packets("sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size",
                             "_assert_async", "_assert_tensor_metadata", "_functional_assert_async",
                             "record_stream", "_record_function_enter", "_record_function_exit",
                             "_record_function_enter_new", "is_nonzero", "item", "_assert_scalar"))
           | UNINITIALISED
           | frozenset(p for p in (getattr(torch.ops.prim, n, None) for n in ("device", "layout")) if p is not None))


def lookup(func: Any) -> OpKind | None:
    """The OpKind of an aten OpOverload: an overload-specific entry wins over its packet's."""
    kind = REGISTRY.get(func)
    if kind is None:
        kind = REGISTRY.get(func.overloadpacket)
    return kind
