"""Turn a raw trace into a Workload: bytes under a counting dtype, fused bytes, live memory.

Rules (docs/counting.md):
- bytes_read = distinct input tensors of the op, each counted for the elements it addresses
  (a broadcast, stride-0 dimension counts once); bytes_written = its outputs. Views move nothing.
- Counting dtype: floating tensors are re-priced at the dtype's size. Under int8, ops that
  quantized runtimes keep in floating point (normalization, softmax, reductions, attention)
  read and write their traced dtype.
- Fused bytes: a tensor is not materialized when its producer is a matmul, conv, pooling,
  pointwise or normalization op and its only consumer is a pointwise op (elementwise or
  inference batch-norm); its write and its read are dropped. Chains collapse transitively.
  Model outputs are always materialized.
- Peak activation bytes: liveness over storages (inputs and op outputs, not weights): a storage
  lives from the op that creates it to the last op that touches it; model inputs from the
  start and outputs to the end. The peak is the largest sum of live storages at any op.

A :class:`PricingPolicy` handed to :func:`price` changes how some tensors are priced, while the
records are made (never by rewriting them afterwards): language-model serving prices weight-only
quantised matrices and the KV cache at their own formats and books their bytes by category
(roofline.llm.trace.ServingPricing).
"""
from __future__ import annotations

from roofline.workload.dtypes import DTYPE_BYTES, is_floating
from roofline.workload.formulas import Cost
from roofline.workload.tracer import RawOp, RawTensor, Trace
from roofline.workload.types import OpClass, OpRecord, TensorInfo


class PricingPolicy:
    """The default pricing: every tensor at its counting dtype, every non-weight storage an activation.

    Subclasses override the hooks; ``read``/``written`` return the bytes and a category name (or None)
    under which :func:`price` books them in ``bytes_by_category``.
    """

    def prepare(self, trace: Trace) -> None:
        """Called once before pricing (e.g. to find the KV-cache storages)."""

    def module(self, path: str) -> str:
        return path

    def cost(self, raw: RawOp) -> Cost:
        return raw.cost

    def read(self, index: int, raw: RawOp, position: int, tensor: RawTensor, nbytes: float,
             is_weight: bool) -> tuple[float, str | None]:
        return nbytes, None

    def written(self, index: int, raw: RawOp, tensor: RawTensor, nbytes: float) -> tuple[float, str | None]:
        return nbytes, None

    def is_activation(self, storage: int) -> bool:
        return True


DEFAULT_POLICY = PricingPolicy()

# Ops that overwrite their first argument without reading it.
_OVERWRITES_FIRST = frozenset({"aten.copy_.default", "aten.fill_.Scalar", "aten.fill_.Tensor", "aten.zero_.default"})

_FUSIBLE_PRODUCERS = frozenset({OpClass.MATMUL, OpClass.CONV, OpClass.POOLING, OpClass.NORMALIZATION,
                                OpClass.ELEMENTWISE})


def _itemsize(t: RawTensor, dtype: str | None, op_int8_capable: bool) -> float:
    if dtype is None or not is_floating(t.dtype):
        return t.itemsize
    if dtype == "int8" and not op_int8_capable:
        return t.itemsize
    return DTYPE_BYTES[dtype]


def _op_dtype(raw: RawOp, dtype: str | None) -> str:
    floating = [t.dtype for t in raw.inputs + raw.outputs if is_floating(t.dtype)]
    traced = floating[0] if floating else (raw.outputs[0].dtype if raw.outputs else "fp32")
    if dtype is None or not floating:
        return traced
    capable = raw.kind.int8_capable if raw.kind is not None else True
    if dtype == "int8" and not capable:
        return traced
    return dtype


def price(trace: Trace, *, dtype: str | None,
          policy: PricingPolicy = DEFAULT_POLICY) -> tuple[list[OpRecord], int, dict[str, int]]:
    """(op records, peak activation bytes, bytes by the policy's categories) under a counting dtype
    (None: the traced dtypes)."""
    policy.prepare(trace)
    records: list[OpRecord] = []
    categories: dict[str, float] = {}
    # bytes each op reads/writes per buffer version, for the fusion pass
    version: dict[int, int] = {}
    producer: dict[tuple[int, int], tuple[int, int]] = {}  # buffer -> (op index, bytes written)
    consumers: dict[tuple[int, int], list[tuple[int, int]]] = {}  # buffer -> [(op index, bytes read)]
    storage_bytes: dict[int, float] = {}
    first_use: dict[int, int] = {}
    last_use: dict[int, int] = {}

    for i, raw in enumerate(trace.ops):
        kind = raw.kind
        op_class = kind.op_class if kind is not None else OpClass.OTHER
        capable = kind.int8_capable if kind is not None else True
        inputs = tuple(TensorInfo(t.shape, t.dtype) for t in raw.inputs)
        outputs = tuple(TensorInfo(t.shape, t.dtype) for t in raw.outputs)
        read = written = 0.0
        if not raw.is_view:
            skip_first = raw.op in _OVERWRITES_FIRST
            for j, t in enumerate(raw.inputs):
                if skip_first and j == 0:
                    continue
                nbytes, category = policy.read(i, raw, j, t, t.accessed_numel * _itemsize(t, dtype, capable),
                                               t.storage in trace.weight_storages)
                if category is not None:
                    categories[category] = categories.get(category, 0.0) + nbytes
                read += nbytes
                key = (t.storage, version.get(t.storage, 0))
                consumers.setdefault(key, []).append((i, nbytes))
            if raw.mutates:
                in_storages = {t.storage for t in raw.inputs}
                for t in raw.outputs:
                    if t.storage in in_storages:
                        version[t.storage] = version.get(t.storage, 0) + 1
            for t in raw.outputs:
                nbytes, category = policy.written(i, raw, t, t.accessed_numel * _itemsize(t, dtype, capable))
                if category is not None:
                    categories[category] = categories.get(category, 0.0) + nbytes
                written += nbytes
                producer[(t.storage, version.get(t.storage, 0))] = (i, nbytes)
        read, written = round(read), round(written)
        for t in raw.inputs + raw.outputs:
            if t.storage in trace.weight_storages or not policy.is_activation(t.storage):
                continue
            if t.storage not in storage_bytes:
                storage_bytes[t.storage] = t.storage_numel * _itemsize(t, dtype, capable)
                first_use[t.storage] = -1 if t.storage in trace.input_storages else i
            last_use[t.storage] = i
        cost = policy.cost(raw)
        records.append(OpRecord(
            index=i,
            op=raw.op,
            op_class=OpClass.VIEW if raw.is_view else op_class,
            module=policy.module(raw.module),
            module_type=raw.module_type,
            inputs=inputs,
            outputs=outputs,
            flops=cost.flops,
            macs=cost.macs,
            bytes_read=read,
            bytes_written=written,
            bytes_fused=read + written,
            dtype=_op_dtype(raw, dtype),
            is_view=raw.is_view,
            supported=kind is not None,
            causal_useful_flops=cost.causal_useful_flops,
            working_set_bytes=read + written,
        ))

    _fuse(trace, records, producer, consumers)
    peak = _peak_live(trace, storage_bytes, first_use, last_use, len(records))
    return records, peak, {k: round(v) for k, v in categories.items()}


def _fuse(trace: Trace, records: list[OpRecord], producer: dict, consumers: dict) -> None:
    for key, (p_index, written) in producer.items():
        storage = key[0]
        if storage in trace.output_storages or storage in trace.weight_storages:
            continue
        readers = consumers.get(key)
        if not readers or len(readers) != 1:
            continue
        c_index, read = readers[0]
        consumer = trace.ops[c_index]
        if consumer.kind is None or not consumer.kind.pointwise:
            continue
        prod = trace.ops[p_index]
        if prod.kind is None or (prod.kind.op_class not in _FUSIBLE_PRODUCERS and not prod.kind.pointwise):
            continue
        records[p_index].bytes_fused -= round(written)
        records[c_index].bytes_fused -= round(read)
        records[c_index].fused_with_producer = True


def _peak_live(trace: Trace, storage_bytes: dict[int, float], first_use: dict[int, int], last_use: dict[int, int],
               n_ops: int) -> int:
    delta = [0.0] * (n_ops + 2)
    for storage, nbytes in storage_bytes.items():
        start = first_use[storage] + 1  # shift so that model inputs (-1) land at 0
        end = n_ops + 1 if storage in trace.output_storages else last_use[storage] + 1
        delta[start] += nbytes
        delta[end + 1 if end + 1 < len(delta) else len(delta) - 1] -= nbytes
    live = peak = 0.0
    for d in delta:
        live += d
        peak = max(peak, live)
    return int(peak)
