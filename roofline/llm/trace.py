"""Trace the two serving phases of a decoder-only LM with the dispatch counter.

- **prefill**: ``batch`` prompts of ``query`` tokens, no past; writes their K and V into the cache;
- **decode step**: ``batch`` sequences each add one token to a KV cache holding ``past`` tokens.

Both run the real transformers forward on fake tensors (:func:`roofline.workload.analyze`) with a
pre-allocated KV cache passed in as inputs: each layer stores the new K/V into its cache (a
``copy_`` into a slice: the KV write) and fused SDPA reads the whole cache (the KV read), as
paged-attention serving engines do. The logits are computed for the last position only
(``logits_to_keep=1``), as in generation.

Corrections applied to the traced records (docs/llm.md):

- weight-only quantisation (``weights="int8"/"int4"``): the weight operands of matmuls inside the
  decoder layers are read at 1 or 0.515625 bytes per element (int4 with an fp16 scale per group of
  128); the math stays in the activation dtype. Embeddings, norms and the LM head keep it too;
- KV dtype: cache reads and writes are priced at the KV cache's bytes per element;
- the cache store writes the new token's K/V; its destination is not read;
- the embedding lookup reads the gathered rows, not the whole table;
- causal attention in prefill is charged its unmasked part (kernels skip masked blocks);
- an op that reads weights or KV entries gets a working set of the whole model and cache (they are
  read once per forward, so they are served from a cache level only when all of it fits there).

Depth: one decoder layer per layer kind (full or sliding attention) is traced and repeated to the
model's depth, following its ``layer_types``; the records are those a full-depth trace gives
(``depth="full"`` traces every layer; tests check both agree exactly on small configurations).

Mixture of experts: transformers' experts dispatch loops over the experts that received tokens,
found with ``nonzero`` on the routing mask, which fake tensors cannot evaluate. The experts module
is given a documented substitute forward (:func:`balanced_experts_forward`): the ``tokens x top_k``
assignments are spread evenly over ``min(experts, tokens x top_k)`` experts and run as batched
matmuls on slices of the real expert weights, so the FLOPs are exactly those of the active experts
and the bytes those of the experts a step touches.
"""
from __future__ import annotations

import inspect
import math
import re
import types
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from roofline.errors import RooflineError
from roofline.llm.model import SLIDING, LlmModel
from roofline.workload import analyze
from roofline.workload.types import MATMUL_CLASSES, OpRecord, Workload

# bytes per element of weights and KV cache entries
WEIGHT_FORMATS: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5 + 2 / 128}
KV_FORMATS: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0}
QUANTISED = frozenset({"int8", "int4"})

# ops that overwrite their first argument without reading it (as roofline.workload.pricing prices them)
_OVERWRITES_FIRST = frozenset({"aten.copy_.default", "aten.fill_.Scalar", "aten.fill_.Tensor", "aten.zero_.default"})

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)(?=\.|$)")
_WRAPPER = "lm."


class PhaseError(RooflineError):
    """A phase could not be traced or composed (an architecture the phase model does not fit)."""


def parse_format(value: str | None, table: dict[str, float], what: str, default: str) -> str:
    if value is None:
        return default
    key = str(value).strip().lower().removeprefix("torch.")
    key = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float8": "fp8",
           "fp8_e4m3": "fp8", "float": "fp32"}.get(key, key)
    if key not in table:
        raise RooflineError(f"unsupported {what} {value!r}: choose one of {', '.join(table)}")
    return key


# ------------------------------------------------------------------ modules run by the tracer

class _KVLayer:
    """One layer of a pre-allocated KV cache (duck-types transformers' CacheLayerMixin)."""

    is_compileable = False
    is_croppable = False
    supports_early_init = False

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, past: int, window: int | None):
        self.keys, self.values = keys, values
        self.past = past
        self.window = window
        self.is_sliding = window is not None
        self.is_initialized = True
        # tokens already in this layer's tensors: a sliding layer keeps the last window - 1
        self.cached = min(past, window - 1) if window else past

    def update(self, key_states, value_states, *args, **kwargs):
        q = key_states.shape[-2]
        self.keys[:, :, self.cached:self.cached + q].copy_(key_states)
        self.values[:, :, self.cached:self.cached + q].copy_(value_states)
        return self.keys, self.values

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        if self.window is not None:
            return self.cached + query_length, max(self.past - self.window + 1, 0)
        return self.past + query_length, 0

    def get_seq_length(self) -> int:
        return self.past

    def get_max_length(self) -> int:
        return self.window or -1

    def lazy_initialization(self, *args, **kwargs) -> None:  # pragma: no cover - never lazy
        return None


def _cache_class():
    from transformers.cache_utils import Cache, CacheLayerMixin

    # register as a virtual subclass so isinstance checks in the models accept it
    CacheLayerMixin.register(_KVLayer)
    return Cache


def _cache_keyword(model: nn.Module) -> str:
    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class PhaseModule(nn.Module):
    """Runs ``lm`` on ``query`` new tokens per sequence with a KV cache of ``past`` tokens."""

    def __init__(self, lm: nn.Module, past: int, windows: list[int | None]):
        super().__init__()
        self.lm = lm
        self.past = past
        self.windows = windows
        self._cache_kw = _cache_keyword(lm)

    def forward(self, input_ids: torch.Tensor, *kv: torch.Tensor) -> torch.Tensor:
        Cache = _cache_class()
        layers = [_KVLayer(kv[2 * i], kv[2 * i + 1], self.past, w) for i, w in enumerate(self.windows)]
        cache = Cache(layers=layers)
        q = input_ids.shape[1]
        positions = torch.arange(self.past, self.past + q).unsqueeze(0).expand(input_ids.shape[0], q)
        out = self.lm(input_ids=input_ids, position_ids=positions, use_cache=True, logits_to_keep=1,
                      **{self._cache_kw: cache})
        return out.logits


class PrefillFromShape(nn.Module):
    """``roofline profile hf:...``: the input shape (batch, tokens) becomes token ids."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = torch.zeros(tuple(x.shape[:2]), dtype=torch.long)
        return self.lm(input_ids=ids, use_cache=False, logits_to_keep=1).logits


# ------------------------------------------------------------------ mixture of experts

def balanced_experts_forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                             top_k_weights: torch.Tensor) -> torch.Tensor:
    """Shape-only stand-in for transformers' experts dispatch (which needs the routing values).

    The ``n = tokens x top_k`` (token, expert) assignments go to ``e = min(experts, n)`` experts,
    as evenly as possible (``n mod e`` experts get one more): gate/up projection, activation, down
    projection as batched matmuls over slices of the real expert weights. FLOPs equal those of
    the active experts exactly; weight bytes are those of ``e`` experts (balanced routing: a
    decode step of one sequence reads top_k experts, a large batch reads them all).
    """
    tokens, hidden = hidden_states.shape
    top_k = top_k_index.shape[-1]
    n = tokens * top_k
    e = min(self.num_experts, n)
    base, extra = divmod(n, e)
    x = hidden_states.repeat_interleave(top_k, dim=0)
    up = self.gate_up_proj if getattr(self, "has_gate", True) else self.up_proj
    up_bias = getattr(self, "gate_up_proj_bias" if getattr(self, "has_gate", True) else "up_proj_bias", None)
    transposed = getattr(self, "is_transposed", False)
    outs, row, first = [], 0, 0
    for count, rows in ((extra, base + 1), (e - extra, base)):
        if count == 0 or rows == 0:
            continue
        xg = x[row:row + count * rows].reshape(count, rows, hidden)
        w_up = up[first:first + count]
        h = torch.bmm(xg, w_up if transposed else w_up.transpose(1, 2))
        if getattr(self, "has_bias", False) and up_bias is not None:
            h = h + up_bias[first:first + count].unsqueeze(1)
        width = h.shape[-1]
        flat = h.reshape(-1, width)
        flat = self._apply_gate(flat) if getattr(self, "has_gate", True) else self.act_fn(flat)
        h = flat.reshape(count, rows, -1)
        w_down = self.down_proj[first:first + count]
        h = torch.bmm(h, w_down if transposed else w_down.transpose(1, 2))
        if getattr(self, "has_bias", False) and getattr(self, "down_proj_bias", None) is not None:
            h = h + self.down_proj_bias[first:first + count].unsqueeze(1)
        outs.append(h.reshape(-1, hidden))
        row += count * rows
        first += count
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    out = out * top_k_weights.reshape(-1, 1).to(out.dtype)
    return out.view(tokens, top_k, hidden).sum(dim=1).to(hidden_states.dtype)


def install_moe_substitute(model: nn.Module) -> int:
    """Give every fused experts module the shape-only forward; returns how many were patched."""
    patched = 0
    for module in model.modules():
        if hasattr(module, "num_experts") and hasattr(module, "down_proj") and \
                (hasattr(module, "gate_up_proj") or hasattr(module, "up_proj")) and \
                isinstance(getattr(module, "down_proj"), nn.Parameter):
            module.forward = types.MethodType(balanced_experts_forward, module)
            patched += 1
    return patched


# ------------------------------------------------------------------ traced phases

@dataclass
class PhaseTrace:
    """Records of one phase at full depth, with each op's bytes split by what they are."""

    kind: str  # "prefill" or "decode"
    batch: int
    query: int  # new tokens per sequence
    past: int  # KV cache length before the step
    ops: list[OpRecord]
    weight_read: np.ndarray  # bytes per op
    kv_read: np.ndarray
    kv_write: np.ndarray
    activation_peak_bytes: int
    unsupported: dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        return int(sum(op.flops for op in self.ops))

    @property
    def bytes_moved(self) -> int:
        return int(sum(op.bytes_read + op.bytes_written for op in self.ops))

    @property
    def bytes_fused(self) -> int:
        return int(sum(op.bytes_fused for op in self.ops))

    def breakdown(self, *, fused: bool) -> dict[str, int]:
        """Bytes by kind: weights, KV read, KV write, activations (the rest)."""
        total = self.bytes_fused if fused else self.bytes_moved
        w, r, wr = int(self.weight_read.sum()), int(self.kv_read.sum()), int(self.kv_write.sum())
        return {"weight_bytes": w, "kv_read_bytes": r, "kv_write_bytes": wr,
                "activation_bytes": max(total - w - r - wr, 0), "bytes": total}


def _kv_storages(trace) -> set[int]:
    """The cache tensors: the 4-D model inputs (token ids are 2-D)."""
    return {t.storage for raw in trace.ops for t in raw.inputs
            if t.storage in trace.input_storages and len(t.shape) == 4}


def _account(workload: Workload, *, weights: str, act_dtype: str, kv_dtype: str, causal: bool):
    """Apply the corrections of the module docstring in place; returns per-op byte categories."""
    trace = workload.trace
    kv = _kv_storages(trace)
    n = len(workload.ops)
    w_read, kv_read, kv_write = np.zeros(n), np.zeros(n), np.zeros(n)
    q_bytes = WEIGHT_FORMATS[weights]
    kv_bytes = KV_FORMATS[kv_dtype]
    for i, (raw, rec) in enumerate(zip(trace.ops, workload.ops)):
        if causal and rec.causal_useful_flops is not None:
            rec.flops = rec.causal_useful_flops
            rec.macs = rec.causal_useful_flops // 2
        if raw.is_view:
            continue
        in_layer = _LAYER.search(raw.module) is not None
        matmul = raw.kind is not None and raw.kind.op_class in MATMUL_CLASSES
        embedding = raw.op.startswith("aten.embedding")
        d_read = d_write = 0.0
        for j, t in enumerate(raw.inputs):
            if j == 0 and raw.op in _OVERWRITES_FIRST:
                continue  # a cache store writes its destination; pricing does not read it either
            nbytes = t.accessed_numel * t.itemsize
            if t.storage in trace.weight_storages:
                if embedding and j == 0 and len(raw.inputs) > 1:
                    new = raw.inputs[1].accessed_numel * (t.shape[-1] if t.shape else 1) * t.itemsize
                elif matmul and in_layer and weights in QUANTISED and t.itemsize >= 2:
                    new = t.accessed_numel * q_bytes
                else:
                    new = nbytes
                w_read[i] += new
                d_read += new - nbytes
            elif t.storage in kv:
                new = t.accessed_numel * kv_bytes
                kv_read[i] += new
                d_read += new - nbytes
        for t in raw.outputs:
            if t.storage in kv:
                nbytes = t.accessed_numel * t.itemsize
                new = t.accessed_numel * kv_bytes
                kv_write[i] += new
                d_write += new - nbytes
        if d_read or d_write:
            rec.bytes_read = int(round(rec.bytes_read + d_read))
            rec.bytes_written = int(round(rec.bytes_written + d_write))
            rec.bytes_fused = int(round(rec.bytes_fused + d_read + d_write))
            rec.working_set_bytes = int(round(rec.working_set_bytes + d_read + d_write))
    sizes = {t.storage: t.storage_numel * t.itemsize for raw in trace.ops for t in raw.inputs if t.storage in kv}
    kv_input_bytes = sum(sizes.values())
    peak = max(int(workload.peak_activation_bytes - kv_input_bytes), 0)
    return w_read, kv_read, kv_write, peak


def _layer_of(module: str) -> int | None:
    m = _LAYER.search(module)
    return int(m.group(1)) if m else None


def _compose(ops: list[OpRecord], arrays: list[np.ndarray], traced_kinds: tuple[str, ...],
             layer_types: tuple[str, ...]) -> tuple[list[OpRecord], list[np.ndarray]]:
    """Repeat the traced layer of each kind to the model's depth, in ``layer_types`` order."""
    layer_ids = [_layer_of(op.module) for op in ops]
    marked = [i for i, l in enumerate(layer_ids) if l is not None]
    if not marked:
        raise PhaseError("no decoder layer found in the trace (module paths without 'layers.N')")
    first, last = marked[0], marked[-1]
    blocks: dict[int, list[int]] = {j: [] for j in range(len(traced_kinds))}
    current = layer_ids[first]
    for i in range(first, last + 1):
        if layer_ids[i] is not None:
            current = layer_ids[i]
        blocks[current].append(i)
    index_of_kind = {k: j for j, k in enumerate(traced_kinds)}
    out_ops: list[OpRecord] = []
    picks: list[int] = []

    def emit(i: int, module: str | None = None) -> None:
        op = ops[i]
        out_ops.append(replace(op, index=len(out_ops), module=module if module is not None else op.module))
        picks.append(i)

    for i in range(first):
        emit(i)
    for layer, kind in enumerate(layer_types):
        j = index_of_kind[kind]
        for i in blocks[j]:
            emit(i, _LAYER.sub(lambda m: m.group(0).replace(f"layers.{j}", f"layers.{layer}"), ops[i].module, count=1))
    for i in range(last + 1, len(ops)):
        emit(i)
    idx = np.array(picks, dtype=np.int64)
    return out_ops, [a[idx] for a in arrays]


def trace_phase(llm: LlmModel, *, batch: int, query: int, past: int, dtype: str = "fp16", weights: str | None = None,
                kv_dtype: str | None = None, depth: str = "kinds") -> PhaseTrace:
    """Trace one phase (prefill: ``past == 0``; decode: ``query == 1``) at full depth."""
    if batch < 1 or query < 1 or past < 0:
        raise RooflineError(f"batch and new tokens must be positive, past non-negative (got batch {batch}, "
                            f"tokens {query}, past {past})")
    weights = weights or dtype
    kv_dtype = kv_dtype or dtype
    key = ("phase", batch, query, past, dtype, weights, kv_dtype, depth)
    cached = llm.cache.get(key)
    if cached is not None:
        return cached
    arch = llm.arch
    if depth == "kinds":
        model, traced_types = llm.traced_model(dtype), arch.kinds
    elif depth == "full":
        model, traced_types = llm.depth_model(dtype), arch.layer_types
    else:
        raise RooflineError(f"unknown depth {depth!r}: choose kinds or full")
    install_moe_substitute(model)
    torch_dtype = next(model.parameters()).dtype
    windows = [arch.sliding_window if t == SLIDING and arch.sliding_window else None for t in traced_types]
    kv_inputs = []
    for w in windows:
        cached_tokens = min(past, w - 1) if w else past
        shape = (batch, arch.kv_heads, cached_tokens + query, arch.head_dim)
        kv_inputs += [torch.empty(shape, dtype=torch_dtype, device="meta") for _ in range(2)]
    ids = torch.empty((batch, query), dtype=torch.long, device="meta")
    phase = "prefill" if past == 0 and query > 1 else "decode"
    workload = analyze(PhaseModule(model, past, windows), (ids, *kv_inputs), name=f"hf:{llm.name}")
    for op in workload.ops:
        if op.module.startswith(_WRAPPER):
            op.module = op.module[len(_WRAPPER):]
        elif op.module == "lm":
            op.module = ""
    w_read, kv_read, kv_write, peak = _account(workload, weights=weights, act_dtype=dtype, kv_dtype=kv_dtype,
                                               causal=phase == "prefill")
    ops, arrays = workload.ops, [w_read, kv_read, kv_write]
    if depth == "kinds":
        ops, arrays = _compose(ops, arrays, traced_types, arch.layer_types)
    # Weights and KV entries are read once per forward: between two reads of the same weight the
    # whole model (and cache) streams through, so they come from a cache level only if all of it fits.
    streamed = weight_bytes(llm, dtype=dtype, weights=weights) + int(arrays[1].sum() + arrays[2].sum())
    for op, w, r, wr in zip(ops, *arrays):
        if w or r or wr:
            op.working_set_bytes = max(op.working_set_bytes, streamed)
    result = PhaseTrace(phase, batch, query, past, ops, arrays[0], arrays[1], arrays[2], peak)
    result.unsupported = dict(workload.unsupported_ops)
    llm.cache[key] = result
    return result


def interpolate(a: PhaseTrace, b: PhaseTrace, past: int) -> PhaseTrace:
    """The decode step at KV length ``past`` between two traced lengths: every op's FLOPs and bytes
    are affine in the KV length (attention and KV reads grow with it, nothing else changes)."""
    if a.past == b.past or past == a.past:
        return a
    if past == b.past:
        return b
    if len(a.ops) != len(b.ops) or any(x.op != y.op for x, y in zip(a.ops, b.ops)):
        raise PhaseError("decode traces at two KV lengths differ in structure; cannot interpolate")
    f = (past - a.past) / (b.past - a.past)

    def lerp(x: float, y: float) -> int:
        return int(round(x + (y - x) * f))

    ops = [replace(x, flops=lerp(x.flops, y.flops), macs=lerp(x.macs, y.macs), bytes_read=lerp(x.bytes_read, y.bytes_read),
                   bytes_written=lerp(x.bytes_written, y.bytes_written), bytes_fused=lerp(x.bytes_fused, y.bytes_fused),
                   working_set_bytes=lerp(x.working_set_bytes, y.working_set_bytes))
           for x, y in zip(a.ops, b.ops)]
    return PhaseTrace(a.kind, a.batch, a.query, past, ops, a.weight_read + (b.weight_read - a.weight_read) * f,
                      a.kv_read + (b.kv_read - a.kv_read) * f, a.kv_write + (b.kv_write - a.kv_write) * f,
                      lerp(a.activation_peak_bytes, b.activation_peak_bytes))


def weight_bytes(llm: LlmModel, *, dtype: str, weights: str | None = None) -> int:
    """Bytes of the model's weights: decoder-layer matrices in the weight format, the rest
    (embeddings, norms, LM head) in the activation dtype; buffers at their own size."""
    weights = weights or dtype
    act = WEIGHT_FORMATS[dtype]
    fmt = WEIGHT_FORMATS[weights]
    total = 0.0
    for name, numel, dim, itemsize, repeat, is_param in llm.tensor_table():
        if not is_param:
            total += numel * itemsize * repeat
            continue
        in_layer = _LAYER.search(name) is not None
        total += numel * repeat * (fmt if in_layer and dim >= 2 else act)
    return int(math.ceil(total))


def workload_of(llm: LlmModel, phase: PhaseTrace, *, dtype: str, weights: str | None = None) -> Workload:
    """A Workload the predictor takes (the phase's records, the full model's parameters)."""
    key = ("workload", id(phase), dtype, weights)
    cached = llm.cache.get(key)
    if cached is not None and cached[0] is phase:
        return cached[1]
    params = llm.parameters
    w = Workload(
        model=f"hf:{llm.name}",
        input_shapes=[(phase.batch, phase.query)],
        dtype=dtype,
        ops=phase.ops,
        params=params.total,
        trainable_params=params.total,
        weight_bytes=weight_bytes(llm, dtype=dtype, weights=weights),
        peak_activation_bytes=phase.activation_peak_bytes,
        layers=llm.arch.layers,
        batch=phase.batch,
    )
    llm.cache[key] = (phase, w)
    return w


__all__ = ["PhaseTrace", "trace_phase", "interpolate", "weight_bytes", "workload_of", "PhaseModule",
           "PrefillFromShape", "balanced_experts_forward", "install_moe_substitute", "WEIGHT_FORMATS",
           "KV_FORMATS", "parse_format", "PhaseError"]
