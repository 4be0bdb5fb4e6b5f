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
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from roofline.errors import RooflineError
from roofline.llm.model import SLIDING, LlmModel, attention_of
from roofline.sources.hf_substitutes import install_moe_substitute
from roofline.workload.build import analyze
from roofline.llm.precision import BUILD_DTYPE, KV_BYTES, STORAGE_DTYPE, WEIGHT_BYTES, default_weights, is_quantised, \
    matmul_dtype
from roofline.workload.formulas import Cost
from roofline.workload.pricing import PricingPolicy
from roofline.workload.types import MATMUL_CLASSES, OpClass, OpRecord, Workload

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


# ------------------------------------------------------------------ traced phases

CATEGORIES = ("weight", "kv_read", "kv_write")


class ServingPricing(PricingPolicy):
    """Prices a serving phase as the module docstring says, while the records are made: weight-only
    formats for decoder-layer matrices, the KV dtype for cache reads and writes, gathered embedding
    rows, causal attention's unmasked FLOPs; weights and KV entries are booked per op by category,
    and the cache tensors are not activations (the KV cache is sized on its own)."""

    def __init__(self, *, weights: str, kv_dtype: str, causal: bool, dtype: str = "fp16", ops: int = 0):
        self.weight_format = WEIGHT_BYTES[weights]
        self.quantised = is_quantised(weights, dtype)
        self.kv_bytes = KV_BYTES[kv_dtype]
        self.causal = causal
        self.kv: set[int] = set()
        self.per_op: dict[str, np.ndarray] = {}

    def prepare(self, trace) -> None:
        # the cache tensors: the 4-D model inputs (token ids are 2-D)
        self.kv = {t.storage for raw in trace.ops for t in raw.inputs
                   if t.storage in trace.input_storages and len(t.shape) == 4}
        self.per_op = {c: np.zeros(len(trace.ops)) for c in CATEGORIES}

    def module(self, path: str) -> str:
        if path.startswith(_WRAPPER):
            return path[len(_WRAPPER):]
        return "" if path == "lm" else path

    def cost(self, raw) -> Cost:
        useful = raw.cost.causal_useful_flops
        if self.causal and useful is not None:
            return Cost(useful, useful // 2, useful)
        return raw.cost

    def read(self, index, raw, position, tensor, nbytes, is_weight):
        if is_weight:
            matmul = raw.kind is not None and raw.kind.op_class in MATMUL_CLASSES
            if raw.op.startswith("aten.embedding") and position == 0 and len(raw.inputs) > 1:
                nbytes = raw.inputs[1].accessed_numel * (tensor.shape[-1] if tensor.shape else 1) * tensor.itemsize
            elif matmul and self.quantised and tensor.itemsize >= 2 and _LAYER.search(raw.module) is not None:
                nbytes = tensor.accessed_numel * self.weight_format
            self.per_op["weight"][index] += nbytes
            return nbytes, "weight"
        if tensor.storage in self.kv:
            nbytes = tensor.accessed_numel * self.kv_bytes
            self.per_op["kv_read"][index] += nbytes
            return nbytes, "kv_read"
        return nbytes, None

    def written(self, index, raw, tensor, nbytes):
        if tensor.storage in self.kv:
            nbytes = tensor.accessed_numel * self.kv_bytes
            self.per_op["kv_write"][index] += nbytes
            return nbytes, "kv_write"
        return nbytes, None

    def is_activation(self, storage: int) -> bool:
        return storage not in self.kv


@dataclass(frozen=True)
class PhaseShape:
    """What one traced phase is: ``batch`` sequences adding ``query`` tokens to a cache of ``past``."""

    kind: str  # "prefill" or "decode"
    batch: int
    query: int
    past: int


def _layer_of(module: str) -> int | None:
    m = _LAYER.search(module)
    return int(m.group(1)) if m else None


def _compose(ops: list[OpRecord], traced_kinds: tuple[str, ...], layer_types: tuple[str, ...]) -> list[int]:
    """Indices of the traced ops repeated to the model's depth, in ``layer_types`` order, with the layer
    index each copy belongs to (None outside the decoder layers)."""
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
    picks = [(i, None) for i in range(first)]
    for layer, kind in enumerate(layer_types):
        picks += [(i, layer) for i in blocks[index_of_kind[kind]]]
    return picks + [(i, None) for i in range(last + 1, len(ops))]


def trace_phase(llm: LlmModel, *, batch: int, query: int, past: int, dtype: str = "fp16", weights: str | None = None,
                kv_dtype: str | None = None, depth: str = "kinds") -> Workload:
    """Trace one phase (prefill: ``past == 0``; decode: ``query == 1``) at full depth: a Workload whose
    ``bytes_by_category`` holds the weight, KV-read and KV-write bytes (per op in
    ``cache["category_bytes_by_op"]``)."""
    if batch < 1 or query < 1 or past < 0:
        raise RooflineError(f"batch and new tokens must be positive, past non-negative (got batch {batch}, "
                            f"tokens {query}, past {past})")
    weights = weights or default_weights(dtype)
    kv_dtype = kv_dtype or STORAGE_DTYPE.get(dtype, dtype)
    key = ("phase", batch, query, past, dtype, weights, kv_dtype, depth)
    cached = llm.cache.get(key)
    if cached is not None:
        return cached
    arch = llm.arch
    if dtype not in BUILD_DTYPE or weights not in WEIGHT_BYTES or kv_dtype not in KV_BYTES:
        raise RooflineError(f"unsupported precision: dtype {dtype!r}, weights {weights!r}, KV {kv_dtype!r}")
    build = BUILD_DTYPE[dtype]
    if depth == "kinds":
        model, traced_types = llm.traced_model(build), [attention_of(k) for k in arch.kinds]
    elif depth == "full":
        model, traced_types = llm.depth_model(build), list(arch.layer_types)
    else:
        raise RooflineError(f"unknown depth {depth!r}: choose kinds or full")
    install_moe_substitute(model)
    torch_dtype = next(model.parameters()).dtype
    windows = [arch.sliding_window if t == SLIDING and arch.sliding_window else None for t in traced_types]
    kv_inputs = []
    for w in windows:
        cached_tokens = min(past, w - 1) if w else past
        for width in (arch.key_dim, arch.value_dim):
            shape = (batch, arch.kv_cache_heads, cached_tokens + query, width)
            kv_inputs.append(torch.empty(shape, dtype=torch_dtype, device="meta"))
    ids = torch.empty((batch, query), dtype=torch.long, device="meta")
    shape = PhaseShape("prefill" if past == 0 and query > 1 else "decode", batch, query, past)
    policy = ServingPricing(weights=weights, kv_dtype=kv_dtype, causal=shape.kind == "prefill", dtype=dtype)
    traced = analyze(PhaseModule(model, past, windows), (ids, *kv_inputs), name=f"hf:{llm.name}", policy=policy)
    per_op = policy.per_op
    if depth == "kinds":
        picks = _compose(traced.ops, arch.kinds, arch.layer_kinds)
    else:
        picks = [(i, None) for i in range(len(traced.ops))]
    idx = np.array([i for i, _ in picks], dtype=np.int64)
    categories = {c: per_op[c][idx] for c in CATEGORIES}
    # Weights and KV entries are read once per forward: between two reads of the same weight the
    # whole model (and cache) streams through, so they come from a cache level only if all of it fits.
    streamed = weight_bytes(llm, dtype=dtype, weights=weights) + int(categories["kv_read"].sum()
                                                                      + categories["kv_write"].sum())
    # FP8 activations: the decoder layers' weight matmuls run on FP8 tensor cores
    math = matmul_dtype(dtype)
    ops = []
    for n, (i, layer) in enumerate(picks):
        op = traced.ops[i]
        touches = any(categories[c][n] for c in CATEGORIES)
        module = op.module
        if layer is not None and depth == "kinds":
            j = _layer_of(op.module)
            module = _LAYER.sub(lambda m: m.group(0).replace(f"layers.{j}", f"layers.{layer}"), op.module, count=1)
        op_dtype = op.dtype
        if math != op.dtype and op.op_class == OpClass.MATMUL and categories["weight"][n] and \
                _LAYER.search(op.module) is not None:
            op_dtype = math
        ops.append(replace(op, index=n, module=module, dtype=op_dtype,
                           working_set_bytes=max(op.working_set_bytes, streamed) if touches else op.working_set_bytes))
    result = _phase_workload(llm, shape, ops, {c: round(float(a.sum())) for c, a in categories.items()},
                             traced.peak_activation_bytes, dtype=dtype, weights=weights,
                             unsupported=traced.unsupported_ops)
    result.cache["category_bytes_by_op"] = categories
    llm.cache[key] = result
    return result


def _phase_workload(llm: LlmModel, shape: PhaseShape, ops: list[OpRecord], categories: dict[str, int],
                    peak: int, *, dtype: str, weights: str, unsupported: dict[str, int]) -> Workload:
    params = llm.parameters
    w = Workload(
        model=f"hf:{llm.name}",
        input_shapes=[(shape.batch, shape.query)],
        dtype=dtype,
        ops=ops,
        params=params.total,
        trainable_params=params.total,
        weight_bytes=weight_bytes(llm, dtype=dtype, weights=weights),
        peak_activation_bytes=peak,
        layers=llm.arch.layers,
        batch=shape.batch,
        unsupported_ops=dict(unsupported),
        bytes_by_category=categories,
    )
    w.cache["phase"] = shape
    w.cache["weights"] = weights
    return w


def phase_shape(workload: Workload) -> PhaseShape:
    """The phase a serving workload traces (prefill or a decode step at a KV length)."""
    shape = workload.cache.get("phase")
    if shape is None:
        raise PhaseError(f"{workload.model}: not a traced serving phase")
    return shape


def interpolate(llm: LlmModel, a: Workload, b: Workload, past: int) -> Workload:
    """The decode step at KV length ``past`` between two traced lengths: every op's FLOPs and bytes
    are affine in the KV length (attention and KV reads grow with it, nothing else changes)."""
    sa, sb = phase_shape(a), phase_shape(b)
    if sa.past == sb.past or past == sa.past:
        return a
    if past == sb.past:
        return b
    if len(a.ops) != len(b.ops) or any(x.op != y.op for x, y in zip(a.ops, b.ops)):
        raise PhaseError("decode traces at two KV lengths differ in structure; cannot interpolate")
    f = (past - sa.past) / (sb.past - sa.past)

    def lerp(x: float, y: float) -> int:
        return int(round(x + (y - x) * f))

    ops = [replace(x, flops=lerp(x.flops, y.flops), macs=lerp(x.macs, y.macs), bytes_read=lerp(x.bytes_read, y.bytes_read),
                   bytes_written=lerp(x.bytes_written, y.bytes_written), bytes_fused=lerp(x.bytes_fused, y.bytes_fused),
                   working_set_bytes=lerp(x.working_set_bytes, y.working_set_bytes))
           for x, y in zip(a.ops, b.ops)]
    cats = {c: lerp(a.bytes_by_category.get(c, 0), b.bytes_by_category.get(c, 0)) for c in CATEGORIES}
    return _phase_workload(llm, replace(sa, past=past), ops, cats,
                           lerp(a.peak_activation_bytes, b.peak_activation_bytes), dtype=a.dtype,
                           weights=a.cache.get("weights", a.dtype), unsupported=a.unsupported_ops)


def weight_bytes(llm: LlmModel, *, dtype: str, weights: str | None = None) -> int:
    """Bytes of the model's weights: decoder-layer matrices in the weight format, the rest
    (embeddings, norms, LM head) in the activation dtype; buffers at their own size."""
    weights = weights or default_weights(dtype)
    act = WEIGHT_BYTES[STORAGE_DTYPE[dtype]]
    fmt = WEIGHT_BYTES[weights]
    total = 0.0
    for name, numel, dim, itemsize, repeat, is_param in llm.tensor_table():
        if not is_param:
            total += numel * itemsize * repeat
            continue
        in_layer = _LAYER.search(name) is not None
        total += numel * repeat * (fmt if in_layer and dim >= 2 else act)
    return int(math.ceil(total))


__all__ = ["PhaseShape", "ServingPricing", "trace_phase", "interpolate", "phase_shape",
           "weight_bytes", "PhaseModule", "parse_format",
           "PhaseError", "CATEGORIES"]
