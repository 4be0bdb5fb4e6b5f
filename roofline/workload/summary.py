"""Per-layer, per-module and per-op aggregation of a Workload (pure data, no printing).

Rows follow the module that *called* each op (its call-site path, so a module object shared by
several blocks is attributed to each caller in turn), in order of first execution. Figures:

- **own**: the ops a row's module issued itself; with ``depth=N``, a row at depth N also owns
  everything below it (its submodules are not shown). Own parameters are those registered on the
  module itself (at depth N: with its submodules'). Summed over the rows, own figures give the
  model's totals: every op is in exactly one row, and every parameter too (parameters of
  modules the forward never calls are in a last ``(not run)`` row).
- **recursive** (``depth`` only): the module and all its submodules, as torchinfo reports them.
- **calls**: how many times the row's module ran (three for resnet50's ``layer1.0.relu``),
  with each call's output shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from roofline.errors import RooflineError
from roofline.workload.types import OpClass, OpRecord, Workload

GroupBy = Literal["layer", "module", "op"]

NOT_RUN = "(not run)"


@dataclass(slots=True)
class Figures:
    """Recursive figures of a module: itself and all its submodules."""

    params: int = 0
    flops: int = 0
    macs: int = 0
    bytes_moved: int = 0
    bytes_fused: int = 0
    ops: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops, "macs": self.macs, "bytes_moved": self.bytes_moved,
                "bytes_fused": self.bytes_fused, "ops": self.ops}


@dataclass(slots=True)
class Row:
    name: str  # module call-site path (layer/module) or aten op (op)
    type: str  # module type, or op class for --by op
    output_shape: tuple[int, ...] | None  # of the last call
    params: int  # own parameters (see the module docstring)
    flops: int  # own figures from here on
    macs: int
    bytes_moved: int
    bytes_fused: int
    ops: int
    op_classes: dict[str, int] = field(default_factory=dict)  # op class -> FLOPs
    calls: int = 0  # module calls (layer/module), or records of the op (op)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)  # one per call, in call order
    depth: int = 0  # dotted parts of the path ("" is 0, "layer1.0" is 2)
    recursive: Figures | None = None  # with depth=N only

    @property
    def arithmetic_intensity(self) -> float:
        return self.flops / self.bytes_moved if self.bytes_moved else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "calls": self.calls,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": self.params,
            "flops": self.flops,
            "macs": self.macs,
            "bytes_moved": self.bytes_moved,
            "bytes_fused": self.bytes_fused,
            "arithmetic_intensity_flop_per_byte": self.arithmetic_intensity,
            "ops": self.ops,
        }
        if self.recursive is not None:
            out["recursive"] = self.recursive.to_dict()
        return out


def _depth(path: str) -> int:
    return path.count(".") + 1 if path else 0


def _group_key(path: str, by: GroupBy) -> str:
    if by == "module":
        parts = path.split(".")
        # Sequential containers such as Ultralytics' `model` hold the real blocks one level down
        return ".".join(parts[:2]) if len(parts) > 1 and parts[0] == "model" else parts[0]
    return path


Frame = tuple[str, str, int]  # (call-site path, module type, call number)


def _frames(workload: Workload) -> list[tuple[Frame, ...]]:
    """The module stack of every op record, from the raw trace; rebuilt from the op's path when
    the records no longer match the trace one to one (composed or edited records)."""
    tr = workload.trace
    raw = getattr(tr, "ops", None)
    if raw is not None and len(raw) == len(workload.ops) and all(
            r.module == op.module for r, op in zip(raw, workload.ops)):
        return [r.frames or _frames_of_path(op) for r, op in zip(raw, workload.ops)]
    return [_frames_of_path(op) for op in workload.ops]


def _frames_of_path(op: OpRecord) -> tuple[Frame, ...]:
    parts = op.module.split(".") if op.module else []
    frames: list[Frame] = [("", "", -1)]
    for i in range(1, len(parts) + 1):
        frames.append((".".join(parts[:i]), op.module_type if i == len(parts) else "", -1))
    return tuple(frames)


def _call_shapes(workload: Workload, calls: list[int]) -> list[tuple[int, ...]]:
    table = getattr(workload.trace, "calls", None) or []
    out = []
    for c in calls:
        if 0 <= c < len(table) and table[c].output_shape is not None:
            out.append(table[c].output_shape)
    return out


def _own_params(workload: Workload) -> tuple[dict[str, int], dict[str, int]]:
    """(recursive, own) parameters per module path: own = recursive minus the direct children's."""
    recursive = {m.path: m.params for m in workload.modules}
    own = dict(recursive)
    for path, n in recursive.items():
        if path:
            parent = path.rpartition(".")[0]
            if parent in own:
                own[parent] -= n
    return recursive, {p: max(0, n) for p, n in own.items()}


def _add(row: Row, op: OpRecord) -> None:
    row.flops += op.flops
    row.macs += op.macs
    row.bytes_moved += op.bytes_read + op.bytes_written
    row.bytes_fused += op.bytes_fused
    row.ops += 1
    row.op_classes[op.op_class.value] = row.op_classes.get(op.op_class.value, 0) + op.flops
    if op.outputs:
        row.output_shape = op.outputs[0].shape


def group(workload: Workload, by: GroupBy = "layer", depth: int | None = None) -> list[Row]:
    """Aggregate op records into rows, in order of first execution. Views are skipped (they cost nothing).

    ``by``: "layer" (the innermost calling module), "module" (top-level blocks) or "op" (aten op).
    ``depth`` (with "layer" only): the module tree down to ``depth``, own and recursive figures.
    """
    if by not in ("layer", "module", "op"):
        raise ValueError(f"group by 'layer', 'module' or 'op', not {by!r}")
    if depth is not None:
        if by != "layer":
            raise RooflineError(f"--depth applies to rows by layer, not by {by}")
        if depth < 0:
            raise RooflineError(f"--depth must be 0 or more, got {depth}")
    if by == "op":
        return _by_op(workload)
    recursive_params, own_params = _own_params(workload)
    type_of = {m.path: m.type for m in workload.modules}
    rows: dict[str, Row] = {}
    calls: dict[str, dict[int, None]] = {}  # path -> its call numbers, in call order

    def row_for(path: str, kind: str) -> Row:
        row = rows.get(path)
        if row is None:
            row = rows[path] = Row(path or "(root)", type_of.get(path, kind), None, 0, 0, 0, 0, 0, 0,
                                   depth=_depth(path))
            calls[path] = {}
        return row

    for op, frames in zip(workload.ops, _frames(workload)):
        call_of = {path: (kind, call) for path, kind, call in frames if call >= 0}
        path = op.module
        if by == "module":
            visible = [_group_key(path, by)]
        elif depth is None:
            visible = [path]
        else:
            parts = path.split(".") if path else []
            visible = [".".join(parts[:i]) for i in range(0, min(len(parts), depth) + 1)]
        for key in visible:
            kind, call = call_of.get(key, (op.module_type if key == path else "", -1))
            row = row_for(key, kind)
            if call >= 0:
                calls[key][call] = None
            if depth is not None:
                if row.recursive is None:
                    row.recursive = Figures(params=recursive_params.get(key, 0))
                if op.op_class is not OpClass.VIEW:
                    r = row.recursive
                    r.flops += op.flops
                    r.macs += op.macs
                    r.bytes_moved += op.bytes_read + op.bytes_written
                    r.bytes_fused += op.bytes_fused
                    r.ops += 1
        if op.op_class is not OpClass.VIEW:
            _add(rows[visible[-1]], op)

    for path, row in rows.items():
        if by == "module" and path:
            row.params = recursive_params.get(path, 0)
        elif depth is not None and row.depth == depth:
            row.params = recursive_params.get(path, 0)
        else:
            row.params = own_params.get(path, 0)
        row.calls = len(calls[path])  # 0: a container the forward never called (iterated instead)
        shapes = _call_shapes(workload, list(calls[path]))
        row.output_shapes = shapes
        if shapes:
            row.output_shape = shapes[-1]
    out = [r for r in rows.values() if r.ops or r.recursive is not None]
    missing = workload.params - sum(r.params for r in out)
    if missing > 0:
        out.append(Row(NOT_RUN, "-", None, missing, 0, 0, 0, 0, 0, calls=0, depth=0))
    return out


def _by_op(workload: Workload) -> list[Row]:
    rows: dict[str, Row] = {}
    for op in workload.ops:
        if op.op_class is OpClass.VIEW:
            continue
        row = rows.get(op.op)
        if row is None:
            row = rows[op.op] = Row(op.op, op.op_class.value, None, 0, 0, 0, 0, 0, 0)
        _add(row, op)
        row.calls += 1
    return list(rows.values())


def top(rows: list[Row], k: int | None) -> list[Row]:
    """The k rows with the most FLOPs (ties: most bytes), or all rows in execution order."""
    if k is None:
        return rows
    if k <= 0:
        raise RooflineError(f"--top must be a positive number of rows, got {k}")
    return sorted(rows, key=lambda r: (r.flops, r.bytes_moved), reverse=True)[:k]


def totals(rows: list[Row]) -> Row:
    """The sum of the rows' own figures (recursive figures do not add up and are left out)."""
    total = Row("total", "", None, 0, 0, 0, 0, 0, 0)
    for r in rows:
        total.params += r.params
        total.flops += r.flops
        total.macs += r.macs
        total.bytes_moved += r.bytes_moved
        total.bytes_fused += r.bytes_fused
        total.ops += r.ops
        total.calls += r.calls
        for k, v in r.op_classes.items():
            total.op_classes[k] = total.op_classes.get(k, 0) + v
    return total
