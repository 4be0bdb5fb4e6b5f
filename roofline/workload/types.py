"""The workload: what one forward pass of a model does, op by op.

Plain dataclasses (not pydantic) because a large model yields tens of thousands of
records and these are built on the tracing hot path.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class OpClass(str, enum.Enum):
    MATMUL = "matmul"
    CONV = "conv"
    ATTENTION = "attention"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    NORMALIZATION = "normalization"
    POOLING = "pooling"
    DATA_MOVEMENT = "data-movement"
    VIEW = "view"
    OTHER = "other"

    def __str__(self) -> str:  # so tables and JSON show "matmul", not "OpClass.MATMUL"
        return self.value


# Op classes whose FLOPs are multiply-accumulates (FLOPs = 2 x MACs); tools that count
# "only matmuls" (torch's FlopCounterMode, torchvision's _ops, fvcore) count these.
MATMUL_CLASSES = frozenset({OpClass.MATMUL, OpClass.CONV, OpClass.ATTENTION})


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Shape and dtype of one tensor argument or result of an op."""

    shape: tuple[int, ...]
    dtype: str  # short name: fp32, fp16, int64, ...

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


@dataclass(slots=True)
class OpRecord:
    """One aten op issued by the forward pass, with its cost."""

    index: int
    op: str  # aten overload, e.g. "aten.convolution.default"
    op_class: OpClass
    module: str  # path of the innermost module that issued it, e.g. "layer1.0.conv1" ("" = root)
    module_type: str  # e.g. "Conv2d"
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    flops: int
    macs: int
    bytes_read: int
    bytes_written: int
    bytes_fused: int = 0  # bytes read + written once fusible chains are merged (see pricing.py)
    dtype: str = "fp32"  # the dtype its math runs in (selects the device peak)
    is_view: bool = False
    supported: bool = True  # False: no FLOP formula, counted as 0 FLOPs
    causal_useful_flops: int | None = None  # causal attention: the unmasked part of `flops`
    working_set_bytes: int = 0  # distinct bytes touched (for the cache level an op fits in)
    fused_with_producer: bool = False  # a fused runtime runs it inside its producer's kernel (no launch)

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def arithmetic_intensity(self) -> float:
        moved = self.bytes_read + self.bytes_written
        return self.flops / moved if moved else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "op": self.op,
            "op_class": self.op_class.value,
            "module": self.module,
            "module_type": self.module_type,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "flops": self.flops,
            "macs": self.macs,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "bytes_fused": self.bytes_fused,
            "dtype": self.dtype,
            "is_view": self.is_view,
            "supported": self.supported,
            "causal_useful_flops": self.causal_useful_flops,
            "working_set_bytes": self.working_set_bytes,
            "fused_with_producer": self.fused_with_producer,
        }


@dataclass(slots=True)
class ModuleInfo:
    """Static facts of one module of the model (for per-layer tables)."""

    path: str
    type: str
    params: int
    is_leaf: bool


@dataclass(slots=True)
class Workload:
    """Per-op records and totals of one forward pass."""

    model: str
    input_shapes: list[tuple[int, ...]]
    dtype: str
    ops: list[OpRecord]
    params: int
    trainable_params: int
    weight_bytes: int
    peak_activation_bytes: int
    layers: int
    modules: list[ModuleInfo] = field(default_factory=list)
    unsupported_ops: dict[str, int] = field(default_factory=dict)  # aten op -> times seen
    batch: int = 1
    weight_elements: list[tuple[str, int]] = field(default_factory=list, repr=False)  # (dtype, numel)
    bytes_by_category: dict[str, int] = field(default_factory=dict)  # bytes a pricing policy booked by kind
    trace: Any = field(default=None, repr=False, compare=False)  # raw trace, for re-pricing
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # derived arrays (predictor)

    # Totals are derived from the records rather than stored, so they can never disagree.
    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def matmul_flops(self) -> int:
        """FLOPs of matmul, conv and attention ops only (= 2 x macs)."""
        return sum(op.flops for op in self.ops if op.op_class in MATMUL_CLASSES)

    @property
    def causal_useful_flops(self) -> int:
        """Total FLOPs with causal attention counted only for its unmasked half."""
        return sum(op.flops if op.causal_useful_flops is None else op.causal_useful_flops for op in self.ops)

    @property
    def bytes_read(self) -> int:
        return sum(op.bytes_read for op in self.ops)

    @property
    def bytes_written(self) -> int:
        return sum(op.bytes_written for op in self.ops)

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def bytes_fused(self) -> int:
        return sum(op.bytes_fused for op in self.ops)

    def byte_breakdown(self, *, fused: bool) -> dict[str, int]:
        """Bytes by the categories a pricing policy booked (``weights_bytes``, ``kv_read_bytes``...), with
        ``activation_bytes`` the rest of the traffic and ``bytes`` the total (fused or not)."""
        total = self.bytes_fused if fused else self.bytes_moved
        out = {f"{name}_bytes": value for name, value in self.bytes_by_category.items()}
        out["activation_bytes"] = max(total - sum(self.bytes_by_category.values()), 0)
        out["bytes"] = total
        return out

    def totals(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "macs": self.macs,
            "matmul_flops": self.matmul_flops,
            "causal_useful_flops": self.causal_useful_flops,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "bytes_fused": self.bytes_fused,
            "weight_bytes": self.weight_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
            "layers": self.layers,
            "ops_count": len(self.ops),
        }

    def to_dict(self, *, include_ops: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "input_shape": [list(s) for s in self.input_shapes][0] if len(self.input_shapes) == 1 else [list(s) for s in self.input_shapes],
            "batch": self.batch,
            "dtype": self.dtype,
            **self.totals(),
            "unsupported_ops": dict(self.unsupported_ops),
        }
        if include_ops:
            out["ops"] = [op.to_dict() for op in self.ops]
        return out

    def summary_line(self) -> str:
        """Ultralytics-style one-line summary."""
        name = self.model.split(":")[-1]
        return (
            f"{name} summary: {self.layers:,} layers, {self.params:,} parameters, "
            f"{self.trainable_params:,} gradients, {self.flops / 1e9:.2f} GFLOPs "
            f"({self.matmul_flops / 1e9:.2f} in matmul/conv/attention), "
            f"{self.bytes_moved / 1e6:,.1f} MB moved ({self.bytes_fused / 1e6:,.1f} MB fused), "
            f"peak activations {self.peak_activation_bytes / 1e6:,.1f} MB"
        )
