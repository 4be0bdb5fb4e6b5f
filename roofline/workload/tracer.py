"""Trace one forward pass on fake tensors and record every aten op.

The forward runs under ``FakeTensorMode`` (no storage, no arithmetic) with a
``TorchDispatchMode`` on top that sees each aten op after decomposition of composite ops.
Parameters and buffers are swapped for fake tensors with ``torch.func.functional_call``,
so models built on the meta device and models with real weights are handled alike, and
the user's module is restored exactly (attributes, parameters, training flag).
"""
from __future__ import annotations

import contextlib
import gc
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode, unset_fake_temporarily
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from roofline.errors import InputShapeError, RooflineError, TraceError
from roofline.workload import formulas
from roofline.workload.dtypes import torch_dtype_name
from roofline.workload.lean_torch import deferred_dynamo
from roofline.workload.types import OpClass


@dataclass(slots=True)
class RawTensor:
    """What pricing needs to know of one tensor seen by an op."""

    shape: tuple[int, ...]
    dtype: str
    accessed_numel: int  # elements addressed: a stride-0 (broadcast) dimension counts once
    storage: int  # identity of the underlying storage within this trace
    storage_numel: int  # elements in the storage (for live-memory accounting)
    itemsize: int


# One module call on the stack at the time of an op: (call-site path, module type, call number).
Frame = tuple[str, str, int]


@dataclass(slots=True)
class RawOp:
    op: str
    kind: formulas.OpKind | None
    module: str  # call-site path of the innermost module (a shared module gets its caller's path)
    module_type: str
    inputs: list[RawTensor]
    outputs: list[RawTensor]
    cost: formulas.Cost
    is_view: bool
    mutates: bool  # writes into one of its inputs' storage (in-place or out=)
    frames: tuple[Frame, ...] = ()  # the module stack, outermost first (shared by the ops of one call)


@dataclass(slots=True)
class ModuleCall:
    """One forward call of a module: where it was called from and what it returned."""

    path: str  # call-site path: the caller's path plus the attribute it holds the module under
    type: str
    output_shape: tuple[int, ...] | None


@dataclass(slots=True)
class Trace:
    ops: list[RawOp]
    input_storages: set[int]
    weight_storages: set[int]
    output_storages: set[int]
    input_shapes: list[tuple[int, ...]]
    unsupported: dict[str, int] = field(default_factory=dict)
    calls: list[ModuleCall] = field(default_factory=list)  # indexed by the call number of a Frame


def _accessed_numel(t: torch.Tensor) -> int:
    n = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            n *= size
    return n


class _CallStack:
    """The module stack during the forward, with call-site paths.

    A module object reused in several places (Ultralytics' one ``SiLU`` shared by every ``Conv``)
    has several paths; the one that counts is where this call came from: the caller's path plus
    the name under which the caller (or one of its descendants) holds the module.
    """

    def __init__(self, root: nn.Module):
        self.first_path: dict[int, str] = {}
        for name, m in root.named_modules(remove_duplicate=False):
            self.first_path.setdefault(id(m), name)
        self._relative: dict[tuple[int, int], str | None] = {}
        self._descendants: dict[int, dict[int, str]] = {}
        self.modules: list[nn.Module] = [root]
        self.frames: tuple[Frame, ...] = (("", type(root).__name__, -1),)
        self.calls: list[ModuleCall] = []

    def _path_under(self, parent: nn.Module, parent_path: str, module: nn.Module) -> str | None:
        key = (id(parent), id(module))
        if key not in self._relative:
            rel = None
            for name, child in parent.named_children():
                if child is module:
                    rel = name
                    break
            if rel is None:  # held deeper down (a Sequential iterated rather than called)
                below = self._descendants.get(id(parent))
                if below is None:
                    below = self._descendants[id(parent)] = {}
                    for name, m in parent.named_modules(remove_duplicate=False):
                        if name:
                            below.setdefault(id(m), name)
                rel = below.get(id(module))
            self._relative[key] = rel
        rel = self._relative[key]
        if rel is None:
            return None
        return f"{parent_path}.{rel}" if parent_path else rel

    def push(self, module: nn.Module) -> None:
        parent = self.modules[-1]
        parent_path = self.frames[-1][0]
        if module is parent:
            path = parent_path  # the root's own call through functional_call
        else:
            path = self._path_under(parent, parent_path, module)
            if path is None:
                path = self.first_path.get(id(module), type(module).__name__)
        call = len(self.calls)
        self.calls.append(ModuleCall(path, type(module).__name__, None))
        self.modules.append(module)
        self.frames = self.frames + ((path, type(module).__name__, call),)

    def pop(self, output: Any) -> None:
        if len(self.modules) <= 1:
            return
        call = self.frames[-1][2]
        first = next((t for t in tree_leaves(output) if isinstance(t, torch.Tensor)), None)
        if first is not None and call >= 0:
            self.calls[call].output_shape = tuple(first.shape)
        self.modules.pop()
        self.frames = self.frames[:-1]


class _Recorder(TorchDispatchMode):
    def __init__(self, call_stack: _CallStack):
        super().__init__()
        self.ops: list[RawOp] = []
        self.unsupported: dict[str, int] = {}
        self._calls = call_stack
        self._storage_ids: dict[int, int] = {}
        self._keep: list[torch.Tensor] = []  # keeps storages alive so their ids stay unique

    def storage_id(self, t: torch.Tensor) -> int:
        key = t.untyped_storage()._cdata
        sid = self._storage_ids.get(key)
        if sid is None:
            sid = len(self._storage_ids)
            self._storage_ids[key] = sid
            self._keep.append(t)
        return sid

    def raw(self, t: torch.Tensor) -> RawTensor:
        itemsize = t.element_size()
        storage = t.untyped_storage()
        return RawTensor(
            shape=tuple(t.shape),
            dtype=torch_dtype_name(t.dtype),
            accessed_numel=_accessed_numel(t),
            storage=self.storage_id(t),
            storage_numel=storage.nbytes() // itemsize if itemsize else 0,
            itemsize=itemsize,
        )

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shortcut = SHORTCUTS.get(func)
        out = shortcut(args, kwargs) if shortcut is not None else None
        if out is None:
            out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in formulas.IGNORED:
            return out
        in_tensors = _unique_tensors(tree_leaves((args, kwargs)))
        out_tensors = _unique_tensors(tree_leaves(out))
        if not in_tensors and not out_tensors:
            return out
        kind = formulas.lookup(func)
        is_view = bool(getattr(func, "is_view", False)) or (kind is not None and kind.op_class is OpClass.VIEW)
        name = str(func)
        cost = formulas.Cost(0)
        if kind is None and is_view:
            kind = formulas.OpKind(OpClass.VIEW, None)
        if kind is None:
            self.unsupported[name] = self.unsupported.get(name, 0) + 1
        elif kind.formula is not None:
            try:
                cost = kind.formula(args, kwargs, out_tensors)
            except Exception as exc:  # a formula that cannot read these arguments must not be silent
                warnings.warn(f"roofline: FLOP formula for {name} failed ({exc}); counted as unsupported",
                              stacklevel=2)
                self.unsupported[name] = self.unsupported.get(name, 0) + 1
                kind = None
        raw_in = [self.raw(t) for t in in_tensors]
        raw_out = [self.raw(t) for t in out_tensors]
        in_storages = {r.storage for r in raw_in}
        mutates = not is_view and any(r.storage in in_storages for r in raw_out)
        frames = self._calls.frames
        module, module_type, _ = frames[-1]
        self.ops.append(RawOp(name, kind, module, module_type, raw_in, raw_out, cost, is_view, mutates, frames))
        return out


# ------------------------------------------------------------------ shape-only shortcuts
#
# FakeTensorMode runs some ops through their Python decompositions: eval-mode batch norm becomes
# about ten prims (to, rsqrt, unsqueeze, sub, mul, add...), each checked and cached on its first
# shapes, which made batch norm over half of a first trace's time. The counter needs only the
# op's outputs (shape, strides, dtype, fresh storages), which follow from the input here, so these
# ops are answered without the decomposition. A shortcut returns None for any case it does not
# cover exactly (another layout, mismatched statistics, training): the op then runs as before.
# tests/test_tracer_shortcuts.py checks every recorded field against the decomposition.


def _dense_format(x: torch.Tensor) -> torch.memory_format | None:
    """The memory format whose plain strides ``x`` has exactly (contiguous or channels-last)."""
    from torch._prims_common import make_channels_last_strides_for, make_contiguous_strides_for

    shape, strides = tuple(x.shape), tuple(x.stride())
    if strides == tuple(make_contiguous_strides_for(shape)):
        return torch.contiguous_format
    if x.dim() == 4 and strides == tuple(make_channels_last_strides_for(shape)):
        return torch.channels_last
    return None


def _eval_batch_norm_outputs(x: Any, stats: Sequence[Any]) -> tuple | None:
    """(out, save_mean, save_invstd) of eval-mode batch norm on a CPU fake tensor: ``out`` shaped,
    laid out and typed like ``x``, the saved statistics empty (CPU kernels save none in eval mode)."""
    if not isinstance(x, FakeTensor) or x.dim() < 2 or not x.is_floating_point() or x.device.type != "cpu":
        return None
    channels = x.shape[1]
    for i, t in enumerate(stats):
        if t is None and i < 2:  # weight and bias are optional
            continue
        if not isinstance(t, FakeTensor) or t.dim() != 1 or t.shape[0] != channels or t.device != x.device:
            return None
    fmt = _dense_format(x)
    if fmt is None:
        return None
    out = torch.empty(tuple(x.shape), dtype=x.dtype, device=x.device, memory_format=fmt)
    return (out, torch.empty((0,), dtype=x.dtype, device=x.device), torch.empty((0,), dtype=x.dtype, device=x.device))


def _native_batch_norm(args: tuple, kwargs: dict) -> tuple | None:
    # native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)
    if kwargs or len(args) != 8 or args[5] is not False or args[3] is None or args[4] is None:
        return None
    return _eval_batch_norm_outputs(args[0], args[1:5])


def _native_batch_norm_legit_no_training(args: tuple, kwargs: dict) -> tuple | None:
    # _native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum, eps)
    if kwargs or len(args) != 7:
        return None
    return _eval_batch_norm_outputs(args[0], args[1:5])


SHORTCUTS: dict[Any, Any] = {
    torch.ops.aten.native_batch_norm.default: _native_batch_norm,
    torch.ops.aten._native_batch_norm_legit_no_training.default: _native_batch_norm_legit_no_training,
}


def _unique_tensors(leaves: list) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []
    for x in leaves:
        if isinstance(x, torch.Tensor) and id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


# ------------------------------------------------------------------ inputs

InputSpec = Any  # tensor | tuple of tensors | shape tuple | dict of keyword inputs


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list, torch.Size)) and len(x) > 0 and all(
        isinstance(d, int) and not isinstance(d, bool) for d in x)


def normalize_inputs(inputs: InputSpec) -> tuple[tuple, dict]:
    """(args, kwargs) of real/meta tensors or shapes, validated; shapes stay shapes."""
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, torch.Tensor) or _is_shape(inputs):
        return (inputs,), {}
    if isinstance(inputs, (tuple, list)):
        if not inputs:
            raise InputShapeError("inputs must not be empty: give a tensor, a shape such as (1, 3, 224, 224), "
                                  "a tuple of those, or a dict of keyword inputs")
        return tuple(inputs), {}
    raise InputShapeError(f"cannot use {type(inputs).__name__} as model input: give a tensor, a shape tuple, "
                          "a tuple of those, or a dict of keyword inputs")


def _fake_input(x: Any) -> Any:
    if _is_shape(x):
        if any(d <= 0 for d in x):
            raise InputShapeError(f"input shape {tuple(x)} has a non-positive dimension")
        return torch.empty(tuple(x), dtype=torch.float32)
    if isinstance(x, torch.Tensor):
        return torch.empty_strided(tuple(x.shape), tuple(x.stride()), dtype=x.dtype)
    return x


# ------------------------------------------------------------------ module state

_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


def _snapshot(model: nn.Module) -> list[tuple[nn.Module, dict, dict]]:
    """Each module's attributes, and copies of its parameter/buffer/child dicts."""
    return [(m, dict(m.__dict__), {k: dict(m.__dict__[k]) for k in _MODULE_DICTS if k in m.__dict__})
            for m in model.modules()]


def _restore(snapshot: list[tuple[nn.Module, dict, dict]]) -> None:
    """Undo anything the forward rebound (cached anchors, training flag...), keeping dict identities."""
    for m, attrs, dicts in snapshot:
        live = m.__dict__
        for key in [k for k in live if k not in attrs]:
            del live[key]
        live.update(attrs)
        for key, saved in dicts.items():
            live[key].clear()
            live[key].update(saved)


_CONSTANT_MAX_NUMEL = 4096


def _fake_like(fake_mode: FakeTensorMode, t: torch.Tensor, *, keep_value: bool) -> torch.Tensor:
    """A fake CPU tensor shaped like ``t``. Small real tensors keep their values (as fake-tensor
    constants) because models read them with ``.item()`` (strides, anchors, step counters)."""
    if keep_value and t.device.type != "meta" and t.numel() <= _CONSTANT_MAX_NUMEL:
        with unset_fake_temporarily():
            real = t.detach().to("cpu", copy=True)
        return fake_mode.fake_tensor_converter.from_real_tensor(fake_mode, real, make_constant=True)
    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype)


def _fake_plain_tensor_attributes(model: nn.Module, fake_mode: FakeTensorMode) -> None:
    """Swap tensors kept as plain module attributes (not parameters or buffers) for fakes; the
    module snapshot puts the originals back."""
    for m in model.modules():
        for key, value in list(m.__dict__.items()):
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                m.__dict__[key] = _fake_like(fake_mode, value, keep_value=True)


def trace(model: nn.Module, inputs: InputSpec) -> Trace:
    """Run ``model`` once on fake tensors and record its aten ops."""
    if not isinstance(model, nn.Module):
        raise RooflineError(f"expected a torch.nn.Module, got {type(model).__name__}")
    args, kwargs = normalize_inputs(inputs)

    calls = _CallStack(model)

    def pre_hook(module: nn.Module, _args: Any) -> None:
        calls.push(module)

    def post_hook(module: nn.Module, _args: Any, out: Any) -> None:
        calls.pop(out)

    tensors = dict(model.named_parameters(remove_duplicate=False))
    tensors.update(dict(model.named_buffers(remove_duplicate=False)))
    snapshot = _snapshot(model)
    recorder = _Recorder(calls)
    handles = []
    # The cyclic garbage collector is paused while tracing: the objects made here are short-lived
    # or kept (nothing for it to find), and one full collection of a heap holding torch, TorchDynamo
    # and the model cost more than the rest of resnet50's trace. It runs again afterwards as usual.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        # Inside inference_mode, tensors made here would be inference tensors, whose ops skip the
        # dispatch mode (torch issue #126268): trace with it switched off.
        with deferred_dynamo(), torch.inference_mode(False), FakeTensorMode(allow_non_fake_inputs=True) as fake_mode:
            fake_state: dict[str, torch.Tensor] = {}
            by_identity: dict[int, torch.Tensor] = {}
            for name, t in tensors.items():
                if id(t) not in by_identity:  # tied weights stay tied
                    # Integer buffers (step counters, index tables) keep their values for `.item()`;
                    # floating ones (batch-norm statistics) need none, and constants would push
                    # every op that reads them onto FakeTensor's slow path.
                    by_identity[id(t)] = _fake_like(fake_mode, t, keep_value=not isinstance(t, nn.Parameter)
                                                    and not t.is_floating_point())
                fake_state[name] = by_identity[id(t)]
            _fake_plain_tensor_attributes(model, fake_mode)
            fake_args = tree_map(_fake_input, args, is_leaf=_is_shape)
            fake_kwargs = tree_map(_fake_input, kwargs, is_leaf=_is_shape)
            weight_storages = {recorder.storage_id(t) for t in by_identity.values()}
            input_storages = {recorder.storage_id(t) for t in tree_leaves((fake_args, fake_kwargs))
                              if isinstance(t, torch.Tensor)}
            input_shapes = [tuple(t.shape) for t in tree_leaves((fake_args, fake_kwargs)) if isinstance(t, torch.Tensor)]
            handles.append(nn.modules.module.register_module_forward_pre_hook(pre_hook))
            handles.append(nn.modules.module.register_module_forward_hook(post_hook))
            model.eval()
            # The fused fast paths of nn.MultiheadAttention / TransformerEncoderLayer hide their
            # matmuls inside one op; the standard path exposes linear + SDPA to the counter.
            fastpath = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            with torch.no_grad(), recorder, _quiet_fake_tensor_log():
                try:
                    out = torch.func.functional_call(model, fake_state, fake_args, fake_kwargs, strict=False)
                except RooflineError:
                    raise
                except Exception as exc:
                    path, mtype, _ = calls.frames[-1]
                    where = f"module '{path}' ({mtype})" if path else f"the model's own forward ({mtype})"
                    error = TraceError(f"forward failed in {where}: {_describe_failure(exc)}")
                    error.partial_ops = list(recorder.ops)  # what ran before it (op coverage sweeps)
                    raise error from exc
            output_storages = {recorder.storage_id(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor)}
    finally:
        if gc_enabled:
            gc.enable()
        for h in handles:
            h.remove()
        if "fastpath" in locals():
            torch.backends.mha.set_fastpath_enabled(fastpath)
        _restore(snapshot)
    return Trace(recorder.ops, input_storages, weight_storages, output_storages, input_shapes,
                 dict(recorder.unsupported), calls.calls)


@contextlib.contextmanager
def _quiet_fake_tensor_log():
    """FakeTensor logs a traceback for an op whose meta kernel raises (a shape mismatch); the trace
    turns that failure into one line (TraceError), so the log is held back while it runs."""
    import logging

    logger = logging.getLogger("torch._subclasses.fake_tensor")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _data_dependent_op(exc: BaseException) -> str | None:
    """The aten op of a fake-tensor 'needs the values' failure, or None for any other error."""
    from torch._subclasses import fake_tensor

    kinds = tuple(getattr(fake_tensor, n) for n in ("DynamicOutputShapeException", "DataDependentOutputException")
                  if hasattr(fake_tensor, n))
    if not isinstance(exc, kinds):
        return None
    func = getattr(exc, "func", None)
    return str(func.overloadpacket) if func is not None else (str(exc).strip() or type(exc).__name__)


def _describe_failure(exc: BaseException) -> str:
    """One line for a forward that raised: what fake tensors cannot do is said in words."""
    op = _data_dependent_op(exc)
    if op is not None:
        if op.endswith("_local_scalar_dense"):
            return (f"{op} reads a computed tensor's value (.item(), .tolist(), or a Python branch on a tensor), "
                    "which a shape-only trace does not have (data-dependent control flow)")
        return (f"{op}'s output size depends on tensor values, which a shape-only trace does not have "
                "(a data-dependent op)")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first}"


def count_parameters(model: nn.Module) -> tuple[int, int, int]:
    """(params, trainable params, buffer elements), shared tensors counted once."""
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers())
    return n, trainable, buffers


def prod(xs: Sequence[int]) -> int:
    return math.prod(xs)
