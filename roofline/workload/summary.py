"""Per-layer, per-module and per-op aggregation of a Workload (pure data, no printing)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from roofline.workload.types import OpClass, Workload

GroupBy = Literal["layer", "module", "op"]


@dataclass(slots=True)
class Row:
    name: str  # module path (layer/module) or aten op (op)
    type: str  # module type, or op class for --by op
    output_shape: tuple[int, ...] | None
    params: int
    flops: int
    macs: int
    bytes_moved: int
    bytes_fused: int
    ops: int
    op_classes: dict[str, int] = field(default_factory=dict)  # op class -> FLOPs

    @property
    def arithmetic_intensity(self) -> float:
        return self.flops / self.bytes_moved if self.bytes_moved else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "flops": self.flops,
            "macs": self.macs,
            "bytes_moved": self.bytes_moved,
            "bytes_fused": self.bytes_fused,
            "arithmetic_intensity_flop_per_byte": self.arithmetic_intensity,
            "ops": self.ops,
        }


def _group_key(path: str, by: GroupBy) -> str:
    if by == "module":
        parts = path.split(".")
        # Sequential containers such as Ultralytics' `model` hold the real blocks one level down
        return ".".join(parts[:2]) if len(parts) > 1 and parts[0] == "model" else parts[0]
    return path


def group(workload: Workload, by: GroupBy = "layer") -> list[Row]:
    """Aggregate op records into rows, in order of first execution. Views are skipped."""
    if by not in ("layer", "module", "op"):
        raise ValueError(f"group by 'layer', 'module' or 'op', not {by!r}")
    params_of = {m.path: m.params for m in workload.modules}
    type_of = {m.path: m.type for m in workload.modules}
    rows: dict[str, Row] = {}
    for op in workload.ops:
        if op.op_class is OpClass.VIEW:
            continue
        if by == "op":
            key, kind = op.op, op.op_class.value
        else:
            key = _group_key(op.module, by)
            kind = type_of.get(key, op.module_type)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(key or "(root)", kind, None, 0 if by == "op" else params_of.get(key, 0),
                                  0, 0, 0, 0, 0)
        row.flops += op.flops
        row.macs += op.macs
        row.bytes_moved += op.bytes_read + op.bytes_written
        row.bytes_fused += op.bytes_fused
        row.ops += 1
        row.op_classes[op.op_class.value] = row.op_classes.get(op.op_class.value, 0) + op.flops
        if op.outputs:
            row.output_shape = op.outputs[0].shape
    return list(rows.values())


def top(rows: list[Row], k: int | None) -> list[Row]:
    """The k rows with the most FLOPs (ties: most bytes), or all rows in execution order."""
    if not k:
        return rows
    return sorted(rows, key=lambda r: (r.flops, r.bytes_moved), reverse=True)[:k]
