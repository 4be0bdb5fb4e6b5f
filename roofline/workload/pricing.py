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
"""
from __future__ import annotations

from roofline.workload.dtypes import DTYPE_BYTES, is_floating
from roofline.workload.tracer import RawOp, RawTensor, Trace
from roofline.workload.types import OpClass, OpRecord, TensorInfo

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


def price(trace: Trace, *, dtype: str | None) -> tuple[list[OpRecord], int]:
    """(op records, peak activation bytes) under a counting dtype (None: the traced dtypes)."""
    records: list[OpRecord] = []
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
        read = written = 0
        if not raw.is_view:
            for t in (raw.inputs[1:] if raw.op in _OVERWRITES_FIRST else raw.inputs):
                nbytes = int(t.accessed_numel * _itemsize(t, dtype, capable))
                read += nbytes
                key = (t.storage, version.get(t.storage, 0))
                consumers.setdefault(key, []).append((i, nbytes))
            if raw.mutates:
                in_storages = {t.storage for t in raw.inputs}
                for t in raw.outputs:
                    if t.storage in in_storages:
                        version[t.storage] = version.get(t.storage, 0) + 1
            for t in raw.outputs:
                nbytes = int(t.accessed_numel * _itemsize(t, dtype, capable))
                written += nbytes
                producer[(t.storage, version.get(t.storage, 0))] = (i, nbytes)
        for t in raw.inputs + raw.outputs:
            if t.storage in trace.weight_storages:
                continue
            if t.storage not in storage_bytes:
                storage_bytes[t.storage] = t.storage_numel * _itemsize(t, dtype, capable)
                first_use[t.storage] = -1 if t.storage in trace.input_storages else i
            last_use[t.storage] = i
        records.append(OpRecord(
            index=i,
            op=raw.op,
            op_class=OpClass.VIEW if raw.is_view else op_class,
            module=raw.module,
            module_type=raw.module_type,
            inputs=inputs,
            outputs=outputs,
            flops=raw.cost.flops,
            macs=raw.cost.macs,
            bytes_read=read,
            bytes_written=written,
            bytes_fused=read + written,
            dtype=_op_dtype(raw, dtype),
            is_view=raw.is_view,
            supported=kind is not None,
            causal_useful_flops=raw.cost.causal_useful_flops,
            working_set_bytes=read + written,
        ))

    _fuse(trace, records, producer, consumers)
    peak = _peak_live(trace, storage_bytes, first_use, last_use, len(records))
    return records, peak


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
        records[p_index].bytes_fused -= written
        records[c_index].bytes_fused -= read


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
