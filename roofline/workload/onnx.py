"""Count an ONNX graph: FLOPs and bytes per node from shapes alone (extra ``onnx``).

The graph is read with the ``onnx`` package (``onnxruntime`` is not needed and nothing runs):

- Inputs get concrete shapes (dynamic dimensions from ``--input-shape`` / ``--batch``), then every
  node's output shapes follow in topological order from ONNX's own per-node shape inference
  (``onnx.shape_inference.infer_node_outputs``).
- Nodes whose inputs are all constants (initializers, ``Constant`` nodes, ``Shape`` results and
  what is computed from them only: the shape arithmetic exporters emit) are folded, as every ONNX
  runtime folds them: their values come from ONNX's reference implementation
  (``onnx.reference``) when they are small, and they are not counted as work.
- Every other node becomes one op record with the same conventions as the torch tracer
  (roofline/workload/formulas.py): Conv, ConvTranspose, MatMul and Gemm FLOPs = 2 x MACs (bias
  ignored); per-element FLOPs as their aten counterparts (Relu 1, Sigmoid 4, Gelu 5, softmax 5 per
  input, layer norm 7 per element...); data movement (Transpose, Concat, Slice, Gather, Pad, Cast...)
  0 FLOPs but its bytes; Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout and Expand are views
  (no bytes, as their torch counterparts).
- Initializers are the weights (``weight_bytes``); ``params`` counts floating-point initializers
  except batch-norm running statistics, which PyTorch keeps as buffers.
- A node with no formula (custom domains, control flow, rare ops) is listed by name in
  ``unsupported_ops`` and counted as 0 FLOPs; its bytes count when its shapes are known.

The trace is priced by the same code as a torch trace (bytes under a counting dtype, fused bytes,
peak activation memory), so the resulting ``Workload`` is the one predict, rank, report and plan use.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from roofline.errors import InputShapeError, MissingExtraError, RooflineError
from roofline.workload.formulas import Cost, OpKind
from roofline.workload.tracer import RawOp, RawTensor, Trace
from roofline.workload.types import MATMUL_CLASSES, ModuleInfo, OpClass, Workload

EXTRA_HINT = "pip install 'roofline[onnx]'"

# folded constants kept as values when at most this many elements (shape arithmetic)
_VALUE_MAX_NUMEL = 1 << 16


class OnnxModelError(RooflineError):
    """The file is not a readable ONNX model, or its shapes cannot be resolved."""


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise MissingExtraError(f"the onnx package is not installed: {EXTRA_HINT}") from exc
    return onnx


# ONNX TensorProto elem_type -> (short dtype name, bytes per element)
_ELEM = {1: ("fp32", 4), 2: ("uint8", 1), 3: ("int8", 1), 4: ("uint16", 2), 5: ("int16", 2), 6: ("int32", 4),
         7: ("int64", 8), 9: ("bool", 1), 10: ("fp16", 2), 11: ("fp64", 8), 12: ("uint32", 4), 13: ("uint64", 8),
         14: ("complex64", 8), 15: ("complex128", 16), 16: ("bf16", 2), 17: ("fp8", 1), 18: ("fp8", 1),
         19: ("fp8", 1), 20: ("fp8", 1)}


# ------------------------------------------------------------------ op kinds

def _numel(shape) -> int:
    return math.prod(shape)


@dataclass(frozen=True, slots=True)
class _Node:
    """What a formula sees of one node: input/output shapes (None: absent input) and attributes."""

    inputs: list[tuple[int, ...] | None]
    outputs: list[tuple[int, ...]]
    attrs: dict[str, Any]


def _out(n: int):
    def f(node: _Node) -> Cost:
        return Cost(n * _numel(node.outputs[0]))
    return f


def _per_input(n: int):
    def f(node: _Node) -> Cost:
        return Cost(n * _numel(node.inputs[0]))
    return f


def _in_plus_out(node: _Node) -> Cost:
    return Cost(_numel(node.inputs[0]) + _numel(node.outputs[0]))


def _conv(node: _Node) -> Cost:
    # weight (C_out, C_in/groups, k...): MACs = N x output points x C_out x C_in/groups x kernel
    x, w, out = node.inputs[0], node.inputs[1], node.outputs[0]
    macs = x[0] * _numel(out[2:]) * _numel(w)
    return Cost(2 * macs, macs)


def _conv_transpose(node: _Node) -> Cost:
    # weight (C_in, C_out/groups, k...): each input point is scattered over the kernel (as torch's counter)
    x, w = node.inputs[0], node.inputs[1]
    macs = x[0] * _numel(x[2:]) * _numel(w)
    return Cost(2 * macs, macs)


def _matmul(node: _Node) -> Cost:
    a = node.inputs[0]
    k = a[-1]
    macs = _numel(node.outputs[0]) * k
    return Cost(2 * macs, macs)


def _gemm(node: _Node) -> Cost:
    a = node.inputs[0]
    k = a[0] if node.attrs.get("transA", 0) else a[-1]
    macs = _numel(node.outputs[0]) * k
    return Cost(2 * macs, macs)


def _norm(per: int):
    def f(node: _Node) -> Cost:
        return Cost(per * _numel(node.inputs[0]))
    return f


def _pool(node: _Node) -> Cost:
    kernel = node.attrs.get("kernel_shape") or [1]
    return Cost(_numel(kernel) * _numel(node.outputs[0]))


def _resize(node: _Node) -> Cost:
    mode = node.attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    per = {"linear": 4, "cubic": 16}.get(mode, 0)  # nearest: data movement only
    return Cost(per * _numel(node.outputs[0]))


def _attention(node: _Node) -> Cost:
    # opset 23 Attention(Q, K, V, ...): Q (B, H, S_q, D) or (B, S_q, H*D) with q_num_heads
    q, k, v = node.inputs[0], node.inputs[1], node.inputs[2]
    if len(q) == 4:
        b, s_q, d, s_k, d_v = q[0] * q[1], q[2], q[3], k[2], v[3]
    else:
        heads = int(node.attrs.get("q_num_heads", 1)) or 1
        kv_heads = int(node.attrs.get("kv_num_heads", heads)) or heads
        b, s_q, d, s_k, d_v = q[0] * heads, q[1], q[2] // heads, k[1], v[2] // kv_heads
    macs = b * s_q * s_k * (d + d_v)
    return Cost(2 * macs, macs)


def _einsum(node: _Node) -> Cost:
    """Two operands: one multiply-add per point of the joint index space (the product of every index
    size), as a matmul; one operand: a sum or a permutation, 1 FLOP per input element."""
    equation = node.attrs.get("equation", b"")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    lhs = equation.replace(" ", "").split("->")[0].split(",")
    shapes = [s for s in node.inputs if s is not None]
    if len(lhs) != 2 or len(shapes) != 2:
        return Cost(_numel(shapes[0]) if shapes else 0)
    sizes: dict[str, int] = {}
    for term, shape in zip(lhs, shapes):
        if "..." in term:
            head, tail = term.split("...")
            n = len(shape) - len(head) - len(tail)
            term = head + "".join(chr(0x100 + k) for k in range(n)) + tail  # broadcast dims, right-aligned
            shape = tuple(shape)
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), int(size))
    macs = _numel(sizes.values())
    return Cost(2 * macs, macs)


E, M, C, A = OpClass.ELEMENTWISE, OpClass.MATMUL, OpClass.CONV, OpClass.ATTENTION
_KINDS: dict[str, OpKind] = {}


def _reg(names: str, op_class: OpClass, formula=None, *, pointwise: bool = False, int8_capable: bool = True) -> None:
    for name in names.split():
        _KINDS[name] = OpKind(op_class, formula, pointwise, int8_capable)


_reg("Conv ConvInteger QLinearConv", C, _conv)
_reg("ConvTranspose", C, _conv_transpose)
_reg("MatMul MatMulInteger QLinearMatMul", M, _matmul)
_reg("Gemm", M, _gemm)
_reg("Einsum", M, _einsum)
_reg("Attention", A, _attention, int8_capable=False)
# 1 FLOP per output element (as add, mul, relu, clamp, exp, erf... in formulas.py)
_reg("Add Sub Mul Div Neg Abs Relu Clip Max Min Mean Sum Where Equal Less LessOrEqual Greater GreaterOrEqual "
     "Sign Exp Log Sqrt Reciprocal Sin Cos Tan Atan Tanh Erf Pow Floor Ceil Round Mod Not And Or Xor "
     "BitwiseAnd BitwiseOr BitwiseNot BitwiseXor IsNaN IsInf ThresholdedRelu Shrink", E, _out(1), pointwise=True)
_reg("LeakyRelu PRelu Elu Celu Selu QuantizeLinear DequantizeLinear", E, _out(2), pointwise=True)
_reg("Sigmoid HardSigmoid Softplus", E, _out(4), pointwise=True)
_reg("HardSwish Gelu Mish Swish", E, _out(5), pointwise=True)
# normalization (inference): batch norm is a per-channel affine map, pointwise like its aten op
_reg("BatchNormalization", OpClass.NORMALIZATION, _norm(4), pointwise=True, int8_capable=False)
_reg("LayerNormalization GroupNormalization InstanceNormalization", OpClass.NORMALIZATION, _norm(7),
     int8_capable=False)
_reg("RMSNormalization SimplifiedLayerNormalization", OpClass.NORMALIZATION, _norm(4), int8_capable=False)
_reg("Softmax LogSoftmax", OpClass.REDUCTION, _per_input(5), int8_capable=False)
_reg("ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceSumSquare ReduceLogSumExp ArgMax ArgMin "
     "CumSum", OpClass.REDUCTION, _per_input(1), int8_capable=False)
_reg("ReduceMean", OpClass.REDUCTION, _in_plus_out, int8_capable=False)
_reg("MaxPool AveragePool LpPool", OpClass.POOLING, _pool)
_reg("GlobalAveragePool GlobalMaxPool GlobalLpPool", OpClass.POOLING, _in_plus_out)
_reg("Resize Upsample", OpClass.POOLING, _resize)
_reg("GridSample", OpClass.POOLING, _out(4))
# data movement: 0 FLOPs, bytes read and written
_reg("Concat Gather GatherElements GatherND ScatterElements ScatterND Scatter Pad Tile Cast "
     "CastLike DepthToSpace SpaceToDepth Trilu TopK NonZero OneHot ConstantOfShape Range Compress ReverseSequence "
     "EyeLike RandomNormal RandomUniform RandomNormalLike RandomUniformLike Col2Im", OpClass.DATA_MOVEMENT)
# views: metadata only (their torch counterparts move nothing)
# views: metadata only, as their torch counterparts (view, permute, slice, split, select, expand), whose
# consumer reads the elements; a Gather of one constant index is torch's select
_reg("Reshape Flatten Squeeze Unsqueeze Identity Dropout Expand Transpose Slice Split", OpClass.VIEW)
_SELECT = OpKind(OpClass.VIEW, None)
_COPY = OpKind(OpClass.DATA_MOVEMENT, None)


def _contiguous(shape) -> tuple[int, ...]:
    out, acc = [], 1
    for d in reversed(tuple(shape)):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def _reshape_strides(shape, strides, new) -> tuple[int, ...] | None:
    """Strides of ``new`` viewing a tensor of ``shape``/``strides`` without a copy, or None when no strides
    can (the rule of torch's ``view``: each run of dimensions that are contiguous with each other must map
    onto whole dimensions of the new shape)."""
    shape, strides, new = tuple(shape), tuple(strides), tuple(new)
    if not shape or _numel(shape) == 0:
        return _contiguous(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base = strides[d - 1]
                tensor_numel = view_numel = 1
    return tuple(out) if view_d == -1 else None

# computed from shapes alone, never from data: folded even on a dynamic input
_SHAPE_ONLY = frozenset({"Shape", "Size"})
_MAIN_OPS = frozenset(k for k, v in _KINDS.items() if v.op_class in MATMUL_CLASSES)


def op_kinds() -> dict[str, OpKind]:
    """ONNX op type -> its op class and formula (for documentation and tests)."""
    return dict(_KINDS)


# ------------------------------------------------------------------ loading

def load(path: str | Path):
    """Read an ONNX file (external weight data is not needed and not read); one-line error otherwise."""
    onnx = _onnx()
    path = Path(path).expanduser()
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {first[:160]})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxModelError(f"{path}: not an ONNX model (no graph nodes)")
    return model


def _dims(value_info) -> list[int | str | None]:
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return []
    out: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def graph_inputs(model) -> list[tuple[str, list[int | str | None], int]]:
    """(name, declared dims, elem type) of the graph's real inputs (initializers excluded)."""
    inits = {i.name for i in model.graph.initializer}
    return [(vi.name, _dims(vi), vi.type.tensor_type.elem_type) for vi in model.graph.input if vi.name not in inits]


def default_input_shape(model) -> tuple[int, ...] | None:
    """The first input's shape when only its first (batch) dimension may be dynamic (then 1)."""
    inputs = graph_inputs(model)
    if not inputs or not inputs[0][1]:
        return None
    dims = inputs[0][1]
    rest = dims[1:]
    if any(not isinstance(d, int) for d in rest):
        return None
    return (dims[0] if isinstance(dims[0], int) else 1, *rest)


def _bind_inputs(model, inputs: Any) -> dict[str, tuple[int, ...]]:
    """Concrete shapes of every graph input from a shape, a tuple of shapes or a dict name -> shape."""
    declared = graph_inputs(model)
    if not declared:
        raise OnnxModelError("the ONNX graph has no inputs")
    given: dict[str, tuple[int, ...]] = {}
    names = [n for n, _, _ in declared]
    if inputs is None:
        inputs = ()
    if isinstance(inputs, Mapping):
        for k, v in inputs.items():
            if k not in names:
                raise InputShapeError(f"the ONNX graph has no input {k!r} (inputs: {', '.join(names)})")
            given[k] = tuple(int(d) for d in v)
    else:
        shapes = [inputs] if _is_shape(inputs) else list(inputs)
        if len(shapes) > len(names):
            raise InputShapeError(f"{len(shapes)} input shapes for an ONNX graph with {len(names)} inputs "
                                  f"({', '.join(names)})")
        for n, s in zip(names, shapes):
            if hasattr(s, "shape") and not _is_shape(s):
                s = tuple(s.shape)
            given[n] = tuple(int(d) for d in s)
    symbols: dict[str, int] = {}
    out: dict[str, tuple[int, ...]] = {}
    for name, dims, _ in declared:  # first pass: given shapes bind the symbols
        if name not in given:
            continue
        shape = given[name]
        if dims and len(dims) != len(shape):
            raise InputShapeError(f"ONNX input {name!r} has {len(dims)} dimensions ({_show(dims)}); got "
                                  f"{'x'.join(map(str, shape))}")
        for pos, (d, v) in enumerate(zip(dims, shape)):
            if v <= 0:
                raise InputShapeError(f"ONNX input {name!r}: every dimension must be a positive integer")
            if isinstance(d, int) and d != v:
                hint = (" Export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'%s': {0: "
                        "'batch'}})) to vary the batch." % name) if pos == 0 and shape[1:] == tuple(
                            dims[1:]) else ""
                raise InputShapeError(f"ONNX input {name!r} is {_show(dims)} in the graph; got "
                                      f"{'x'.join(map(str, shape))} (only its dynamic dimensions can change).{hint}")
            if isinstance(d, str):
                if symbols.setdefault(d, v) != v:
                    raise InputShapeError(f"ONNX dimension {d!r} is given as both {symbols[d]} and {v}")
        out[name] = shape
    for name, dims, _ in declared:  # second pass: other inputs from their symbols
        if name in out:
            continue
        if not dims:
            raise InputShapeError(f"ONNX input {name!r} has no declared shape: give its shape with --input-shape")
        shape = []
        for i, d in enumerate(dims):
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in symbols:
                shape.append(symbols[d])
            elif i == 0:
                shape.append(1)  # an unnamed or unbound batch dimension
            else:
                raise InputShapeError(f"ONNX input {name!r} ({_show(dims)}) has a dynamic dimension {d or i!r}: "
                                      "set it with --input-shape")
        out[name] = tuple(shape)
    return out


def _show(dims) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and len(x) > 0 and all(isinstance(d, int) and not isinstance(d, bool)
                                                               for d in x)


# ------------------------------------------------------------------ counting

def _module_path(node_name: str) -> str:
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1' (exporters name nodes by their module scope)."""
    parts = [p for p in node_name.strip("/").split("/") if p][:-1]
    path = ""
    for p in parts:
        if path and p.startswith(path + "."):
            path = p
        else:
            path = f"{path}.{p}" if path else p
    return path


class _Counter:
    def __init__(self, model, shapes: dict[str, tuple[int, ...]]):
        onnx = _onnx()
        from onnx import numpy_helper, shape_inference

        self.onnx, self.numpy_helper, self.shape_inference = onnx, numpy_helper, shape_inference
        self.model = model
        self.graph = model.graph
        self.opset = {o.domain or "": o.version for o in model.opset_import}
        self.shape: dict[str, tuple[int, ...]] = {}
        self.elem: dict[str, int] = {}
        self.value: dict[str, Any] = {}  # small constant values (numpy arrays)
        self.const: set[str] = set()  # names whose content is known without the input (foldable)
        self.storage: dict[str, int] = {}
        self.storage_numel: dict[int, int] = {}
        self.ops: list[RawOp] = []
        self.unsupported: dict[str, int] = {}
        self.weight_storages: set[int] = set()
        self.input_storages: set[int] = set()
        self.inputs = shapes
        self.names: list[tuple[list[str], list[str]]] = []  # per op: input and output tensor names
        self._symbols: dict[str, int] | None = None
        self.strides: dict[str, tuple[int, ...] | None] = {}  # views: element strides over their storage
        self._annotated: dict[str, Any] = {}

    # storages: one per tensor; a view shares its input's
    def _new_storage(self, name: str) -> int:
        sid = len(self.storage_numel)
        self.storage[name] = sid
        self.storage_numel[sid] = _numel(self.shape.get(name, ()))
        return sid

    def _raw(self, name: str) -> RawTensor:
        dtype, itemsize = _ELEM.get(self.elem.get(name, 1), ("fp32", 4))
        shape = self.shape[name]
        sid = self.storage.get(name)
        if sid is None:
            sid = self._new_storage(name)
        strides = self.strides.get(name)
        accessed = _numel(shape) if strides is None else _numel(d for d, st in zip(shape, strides) if st != 0)
        return RawTensor(shape, dtype, accessed, sid, self.storage_numel[sid], itemsize)

    def _stride_of(self, name: str) -> tuple[int, ...]:
        st = self.strides.get(name)
        return st if st is not None else _contiguous(self.shape[name])

    def _view_strides(self, node, attrs: dict, src: str, out: str) -> tuple[int, ...] | None:
        """Strides of a view's output as torch would give them (None: not expressible, a copy)."""
        shape, strides, new = self.shape[src], self._stride_of(src), self.shape[out]
        op = node.op_type
        if op == "Transpose":
            perm = list(attrs.get("perm") or reversed(range(len(shape))))
            return tuple(strides[p] for p in perm)
        if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
            return _reshape_strides(shape, strides, new)
        if op == "Expand":
            pad = len(new) - len(shape)
            padded = (0,) * pad + tuple(st if size != 1 else 0 for size, st in zip(shape, strides))
            return tuple(0 if (i < pad or (shape[i - pad] == 1 and new[i] != 1)) else padded[i]
                         for i in range(len(new)))
        if op == "Gather":  # one constant index: select
            axis = int(attrs.get("axis", 0)) % max(len(shape), 1)
            return strides[:axis] + strides[axis + 1:]
        return strides if len(strides) == len(new) else _contiguous(new)  # Slice, Split, Identity, Dropout

    def _set(self, name: str, shape: tuple[int, ...], elem: int) -> None:
        self.shape[name] = tuple(int(d) for d in shape)
        self.elem[name] = elem

    def _set_value(self, name: str, array) -> None:
        import numpy as np

        array = np.asarray(array)
        self._set(name, array.shape, self.onnx.helper.np_dtype_to_tensor_dtype(array.dtype))
        if array.size <= _VALUE_MAX_NUMEL:
            self.value[name] = array
        self.const.add(name)

    def run(self) -> None:
        g = self.graph
        for init in g.initializer:
            self._set(init.name, tuple(init.dims), init.data_type)
            self.const.add(init.name)
            if _numel(init.dims) <= _VALUE_MAX_NUMEL and not _external(init):
                try:
                    self.value[init.name] = self.numpy_helper.to_array(init)
                except Exception:
                    pass
            self.weight_storages.add(self._new_storage(init.name))
        for name, dims, elem in graph_inputs(self.model):
            self._set(name, self.inputs[name], elem)
            self.input_storages.add(self._new_storage(name))
        for node in g.node:
            self._node(node)

    def _node(self, node) -> None:
        op = node.op_type
        domain = node.domain or ""
        label = op if domain in ("", "ai.onnx") else f"{domain}::{op}"
        ins = [i for i in node.input]
        present = [i for i in ins if i]
        if op == "Constant":
            self._constant(node)
            return
        if op in _SHAPE_ONLY and present and present[0] in self.shape:
            self._fold(node)
            return
        if present and all(i in self.const for i in present):
            self._fold(node)
            return
        if any(i not in self.shape for i in present):
            self._unsupported(f"onnx::{label} (input shape unknown)")
            return
        if not self._infer(node) and not self._declared(node):
            self._unsupported(f"onnx::{label} (output shape unknown)")
            return
        kind = _KINDS.get(op) if domain in ("", "ai.onnx") else None
        outs = [o for o in node.output if o]
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Gather" and len(present) > 1 and getattr(self.value.get(present[1]), "ndim", None) == 0:
            kind = _SELECT
        view_strides: list[tuple[int, ...] | None] = []
        if kind is not None and kind.op_class is OpClass.VIEW and present:
            view_strides = [self._view_strides(node, attrs, present[0], o) for o in outs]
            if any(st is None for st in view_strides):
                kind, view_strides = _COPY, []  # a reshape no strides can express copies (torch: reshape -> clone)
        cost = Cost(0)
        if kind is None:
            self._unsupported(f"onnx::{label}")
        elif kind.formula is not None:
            try:
                cost = kind.formula(_Node([self.shape.get(i) if i else None for i in ins],
                                          [self.shape[o] for o in outs], attrs))
            except Exception as exc:
                warnings.warn(f"roofline: FLOP formula for ONNX {op} failed ({exc}); counted as unsupported",
                              stacklevel=2)
                self._unsupported(f"onnx::{label}")
                kind = None
        is_view = kind is not None and kind.op_class is OpClass.VIEW
        unique_in = list(dict.fromkeys(present))
        raw_in = [self._raw(i) for i in unique_in]
        if is_view and present:
            base = self.storage[present[0]]
            for o, st in zip(outs, view_strides):
                self.storage[o] = base
                self.strides[o] = st
        raw_out = [self._raw(o) for o in outs]
        module = _module_path(node.name)
        self.ops.append(RawOp(f"onnx::{label}", kind, module, op, raw_in, raw_out, cost, is_view, False))
        self.names.append((unique_in, outs))

    # ---------------------------------------------------------- runtime fusions

    def fuse(self, graph_outputs: set[str]) -> None:
        """The two rewrites every ONNX runtime applies, whose result the torch tracer sees as one op:
        MatMul + a constant bias Add is one linear layer (aten addmm), and MatMul -> [scale] -> Softmax ->
        MatMul is one attention (aten scaled_dot_product_attention: the score matrix is never stored,
        and the softmax and scale are not counted, as formulas.py counts SDPA)."""
        producer: dict[str, int] = {}
        readers: dict[str, list[int]] = {}
        for i, (ins, outs) in enumerate(self.names):
            for o in outs:
                producer[o] = i
            for n in ins:
                readers.setdefault(n, []).append(i)
        dropped: set[int] = set()

        def only_reader(name: str) -> int | None:
            r = readers.get(name, [])
            return r[0] if len(r) == 1 and name not in graph_outputs else None

        def op_type(i: int) -> str:
            return self.ops[i].module_type

        for i, op in enumerate(self.ops):
            if i in dropped or op_type(i) != "Softmax" or len(self.names[i][0]) != 1:
                continue
            out = self.names[i][1][0]
            m2 = only_reader(out)
            if m2 is None or op_type(m2) != "MatMul" or self.names[m2][0][0] != out:
                continue
            chain, extra = [i], []
            cur = self.names[i][0][0]
            while True:
                p = producer.get(cur)
                if p is None or p in dropped or only_reader(cur) != chain[-1]:
                    p = None
                    break
                if op_type(p) == "MatMul":
                    break
                if op_type(p) not in ("Mul", "Div", "Add", "Where") or len(chain) > 4:
                    p = None
                    break
                chain.append(p)
                out_shape = self.shape[self.names[p][1][0]]
                scores = [n for n in self.names[p][0] if n not in self.const and self.shape[n] == out_shape
                          and n in producer]
                if not scores:
                    p = None
                    break
                cur = scores[0]
                extra += [n for n in self.names[p][0] if n != cur and _numel(self.shape[n]) > 1]
            if p is None:
                continue
            m1 = p
            ins = list(dict.fromkeys(self.names[m1][0] + [self.names[m2][0][1]] + extra))
            macs = self.ops[m1].cost.macs + self.ops[m2].cost.macs
            kind = OpKind(OpClass.ATTENTION, None, False, False)
            raw_in = [self._raw(n) for n in ins]
            self.ops[m2] = RawOp("onnx::MatMul-Softmax-MatMul", kind, self.ops[m1].module, "Attention", raw_in,
                                 self.ops[m2].outputs, Cost(2 * macs, macs), False, False)
            self.names[m2] = (ins, self.names[m2][1])
            dropped.update(chain + [m1])

        for i, op in enumerate(self.ops):  # x * Sigmoid(x): one SiLU (aten silu), 5 FLOPs per element
            if i in dropped or op_type(i) != "Mul" or len(self.names[i][0]) != 2:
                continue
            a, b = self.names[i][0]
            for x, sig in ((a, b), (b, a)):
                p = producer.get(sig)
                if p is not None and p not in dropped and op_type(p) == "Sigmoid" and self.names[p][0] == [x] \
                        and only_reader(sig) == i and self.shape[x] == self.shape[sig]:
                    kind = OpKind(OpClass.ELEMENTWISE, None, True)
                    self.ops[i] = RawOp("onnx::Sigmoid-Mul", kind, self.ops[p].module, "SiLU", [self._raw(x)],
                                        self.ops[i].outputs, Cost(5 * _numel(self.shape[x])), False, False)
                    self.names[i] = ([x], self.names[i][1])
                    dropped.add(p)
                    break

        for i, op in enumerate(self.ops):
            if i in dropped or op_type(i) != "Add" or len(self.names[i][0]) != 2:
                continue
            a, b = self.names[i][0]
            if a in self.const:
                a, b = b, a
            if b not in self.const or a in self.const:
                continue
            p = producer.get(a)
            if p is None or p in dropped or op_type(p) not in ("MatMul", "Gemm") or only_reader(a) != i:
                continue
            shape, bias = self.shape[a], self.shape[b]
            if not shape or _numel(bias) != shape[-1]:
                continue
            ins = list(dict.fromkeys(self.names[p][0] + [b]))
            self.ops[i] = RawOp(self.ops[p].op, self.ops[p].kind, self.ops[p].module, self.ops[p].module_type,
                                [self._raw(n) for n in ins], self.ops[i].outputs, self.ops[p].cost, False, False)
            self.names[i] = (ins, self.names[i][1])
            dropped.add(p)
        if dropped:
            self.ops = [op for i, op in enumerate(self.ops) if i not in dropped]
            self.names = [n for i, n in enumerate(self.names) if i not in dropped]

    def _unsupported(self, label: str) -> None:
        self.unsupported[label] = self.unsupported.get(label, 0) + 1

    def _constant(self, node) -> None:
        from onnx import helper

        attr = {a.name: a for a in node.attribute}
        out = node.output[0]
        if "value" in attr:
            t = attr["value"].t
            self._set(out, tuple(t.dims), t.data_type)
            self.const.add(out)
            if _numel(t.dims) <= _VALUE_MAX_NUMEL and not _external(t):
                self.value[out] = self.numpy_helper.to_array(t)
        else:
            import numpy as np

            value = helper.get_attribute_value(next(iter(attr.values())))
            self._set_value(out, np.asarray(value))
        self.weight_storages.add(self._new_storage(out))

    def _fold(self, node) -> None:
        """A node computed from constants and shapes only: evaluate it (small values) or infer its shapes."""
        import numpy as np

        present = [i for i in node.input if i]
        outs = [o for o in node.output if o]
        if node.op_type == "Shape" and present[0] in self.shape:
            attrs = {a.name: a.i for a in node.attribute}
            shape = self.shape[present[0]]
            start, end = attrs.get("start", 0), attrs.get("end", len(shape))
            self._set_value(outs[0], np.array(shape[start:end] if "end" in attrs else shape[start:], dtype=np.int64))
        elif node.op_type == "Size" and present[0] in self.shape:
            self._set_value(outs[0], np.array(_numel(self.shape[present[0]]), dtype=np.int64))
        elif all(i in self.value for i in present) and node.domain in ("", "ai.onnx"):
            try:
                results = self._evaluate(node)
            except Exception:
                results = None
            if results is None:
                if not self._infer(node):
                    self._unsupported(f"onnx::{node.op_type} (output shape unknown)")
                    return
            else:
                for o, r in zip(node.output, results):
                    if o:
                        self._set_value(o, r)
        elif not self._infer(node):
            self._unsupported(f"onnx::{node.op_type} (output shape unknown)")
            return
        for o in outs:
            self.const.add(o)
            if o not in self.storage:
                self.weight_storages.add(self._new_storage(o))

    def _evaluate(self, node):
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        inputs = [i for i in node.input if i]
        graph = helper.make_graph(
            [node], "fold",
            [helper.make_tensor_value_info(i, self.elem.get(i, 1), None) for i in inputs],
            [helper.make_tensor_value_info(o, 0, None) for o in node.output if o])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in self.opset.items()])
        model.ir_version = self.model.ir_version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ReferenceEvaluator(model).run(None, {i: self.value[i] for i in inputs})

    def _declared(self, node) -> bool:
        """Output shapes from the graph's own annotations (value_info, outputs), dynamic dimensions bound
        from the inputs: the fallback for ops ONNX cannot infer (custom domains)."""
        if self._symbols is None:
            self._symbols = {}
            for name, dims, _ in graph_inputs(self.model):
                for d, v in zip(dims, self.inputs[name]):
                    if isinstance(d, str):
                        self._symbols[d] = v
            self._annotated = {vi.name: vi for vi in list(self.graph.value_info) + list(self.graph.output)}
        outs = [o for o in node.output if o]
        found = {}
        for o in outs:
            vi = self._annotated.get(o)
            dims = _dims(vi) if vi is not None else []
            if not dims and (vi is None or not vi.type.tensor_type.HasField("shape")):
                return False
            shape = [d if isinstance(d, int) else self._symbols.get(d) if isinstance(d, str) else None for d in dims]
            if any(d is None for d in shape):
                return False
            found[o] = (tuple(shape), vi.type.tensor_type.elem_type)
        for o, (shape, elem) in found.items():
            self._set(o, shape, elem)
        return True

    def _infer(self, node) -> bool:
        """Output shapes of ``node`` from ONNX's per-node inference, with known constant inputs as data."""
        from onnx import defs, helper

        outs = [o for o in node.output if o]
        if all(o in self.shape for o in outs):
            return True
        domain = node.domain or ""
        try:
            schema = defs.get_schema(node.op_type, self.opset.get(domain, self.opset.get("", 1)), domain)
        except Exception:
            return False
        types = {i: helper.make_tensor_type_proto(self.elem.get(i, 1), list(self.shape[i]))
                 for i in node.input if i and i in self.shape}
        data = {i: self.numpy_helper.from_array(self.value[i], i) for i in node.input if i and i in self.value}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.shape_inference.infer_node_outputs(
                    schema, node, types, data, opset_imports=list(self.model.opset_import),
                    ir_version=self.model.ir_version)
        except Exception:
            return False
        for o in outs:
            t = result.get(o)
            if t is None or not t.tensor_type.HasField("shape"):
                return False
            dims = []
            for d in t.tensor_type.shape.dim:
                if not d.HasField("dim_value"):
                    return False
                dims.append(int(d.dim_value))
            self._set(o, tuple(dims), t.tensor_type.elem_type)
        return True


def _external(tensor) -> bool:
    return tensor.data_location == 1  # TensorProto.EXTERNAL


def _weights(model) -> tuple[int, list[tuple[str, int]]]:
    """(params, weight elements by dtype): initializers are the weights; batch-norm running mean and
    variance are buffers (not parameters), as in PyTorch."""
    stats = set()
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            stats.update(i for i in list(node.input)[3:5] if i)
    params = 0
    elements = []
    for init in model.graph.initializer:
        name, _ = _ELEM.get(init.data_type, ("fp32", 4))
        n = _numel(init.dims)
        elements.append((name, n))
        if name in ("fp32", "fp16", "bf16", "fp64", "fp8") and init.name not in stats and n > 1:
            params += n
    return params, elements


def count(model, inputs: Any = None, *, dtype: str | None = None, name: str = "model.onnx") -> Workload:
    """Count one inference of the ONNX ``model`` (a ModelProto or a path) on ``inputs`` (a shape, shapes
    or a dict input name -> shape; dynamic dimensions are bound from them)."""
    from roofline.workload.build import build_workload
    from roofline.workload.dtypes import normalize_dtype

    if isinstance(model, (str, Path)):
        model = load(model)
    dtype = normalize_dtype(dtype)
    shapes = _bind_inputs(model, inputs)
    counter = _Counter(model, shapes)
    counter.run()
    outputs = {o.name for o in model.graph.output}
    counter.fuse(outputs)
    output_storages = {counter.storage[o] for o in outputs if o in counter.storage}
    tr = Trace(counter.ops, counter.input_storages, counter.weight_storages, output_storages,
               [shapes[n] for n, _, _ in graph_inputs(model)], dict(counter.unsupported))
    params, elements = _weights(model)
    modules = _modules(model, counter)
    layers = sum(1 for m in modules if m.is_leaf and m.path) or 1
    return build_workload(name, tr, dtype=dtype, params=params, trainable_params=params, layers=layers,
                          modules=modules, weight_elements=elements)


def _modules(model, counter: _Counter) -> list[ModuleInfo]:
    """Module table from the node scopes: a module's parameters are the initializers its nodes read first."""
    sizes = {i.name: _numel(i.dims) for i in model.graph.initializer}
    owner: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for node in model.graph.node:
        path = _module_path(node.name)
        for i in node.input:
            if i in sizes and i not in owner:
                owner[i] = path
        kind = _KINDS.get(node.op_type)
        if kind is not None and kind.op_class in MATMUL_CLASSES and kinds.get(path) not in _MAIN_OPS:
            kinds[path] = node.op_type  # a scope is named after its conv or matmul
        kinds.setdefault(path, node.op_type)
    params: dict[str, int] = {}
    for name, path in owner.items():
        params[path] = params.get(path, 0) + sizes[name]
    paths = sorted({op.module for op in counter.ops} | set(params))
    out = [ModuleInfo("", "OnnxGraph", sum(sizes.values()), False)]
    for p in paths:
        if not p:
            continue
        is_leaf = not any(q.startswith(p + ".") for q in paths)
        out.append(ModuleInfo(p, kinds.get(p, "Node"), params.get(p, 0), is_leaf))
    return out


# ------------------------------------------------------------------ as a model

class OnnxGraphModule(nn.Module):
    """An ONNX graph standing where an ``nn.Module`` is expected (``load_model("model.onnx")``):
    ``roofline.analyze`` counts it from its graph; it cannot run."""

    def __init__(self, model, name: str):
        super().__init__()
        self.onnx_model = model
        self.onnx_name = name

    def forward(self, *args, **kwargs):
        raise RooflineError(f"{self.onnx_name}: an ONNX graph is counted, not run (measuring it needs a runtime "
                            "such as onnxruntime)")

    def roofline_workload(self, inputs: Any, *, dtype: str | None = None, name: str | None = None) -> Workload:
        return count(self.onnx_model, inputs, dtype=dtype, name=name or self.onnx_name)


__all__ = ["count", "load", "graph_inputs", "default_input_shape", "op_kinds", "OnnxGraphModule", "OnnxModelError",
           "EXTRA_HINT"]
