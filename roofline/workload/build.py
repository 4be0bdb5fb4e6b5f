"""Assemble a Workload from a trace and the model's static facts."""
from __future__ import annotations

import math

from torch import nn

from roofline.workload.dtypes import DTYPE_BYTES, element_bytes, is_floating, normalize_dtype, torch_dtype_name
from roofline.workload.pricing import DEFAULT_POLICY, PricingPolicy, price
from roofline.workload.tracer import InputSpec, Trace, count_parameters, trace
from roofline.workload.types import ModuleInfo, Workload


def weight_bytes(weight_elements: list[tuple[str, int]], dtype: str | None) -> int:
    total = 0.0
    for name, numel in weight_elements:
        size = DTYPE_BYTES[dtype] if dtype is not None and is_floating(name) else element_bytes(name)
        total += numel * size
    return int(math.ceil(total))


def build_workload(model_name: str, tr: Trace, *, dtype: str | None, params: int, trainable_params: int,
                   layers: int, modules: list[ModuleInfo], weight_elements: list[tuple[str, int]],
                   policy: PricingPolicy = DEFAULT_POLICY) -> Workload:
    records, peak, by_category = price(tr, dtype=dtype, policy=policy)
    traced_dtype = next((op.dtype for op in records if op.op_class.value in ("conv", "matmul", "attention")),
                        records[0].dtype if records else "fp32")
    batch = tr.input_shapes[0][0] if tr.input_shapes and tr.input_shapes[0] else 1
    return Workload(
        model=model_name,
        input_shapes=list(tr.input_shapes),
        dtype=dtype or traced_dtype,
        ops=records,
        params=params,
        trainable_params=trainable_params,
        weight_bytes=weight_bytes(weight_elements, dtype),
        peak_activation_bytes=peak,
        layers=layers,
        modules=modules,
        unsupported_ops=dict(tr.unsupported),
        batch=batch,
        weight_elements=weight_elements,
        bytes_by_category=by_category,
        trace=tr,
    )


def reprice(workload: Workload, dtype: str | None) -> Workload:
    """The same workload with bytes priced for another counting dtype (FLOPs unchanged; no new trace)."""
    if workload.trace is None:
        raise ValueError("this workload has no raw trace to re-price")
    return build_workload(workload.model, workload.trace, dtype=normalize_dtype(dtype), params=workload.params,
                          trainable_params=workload.trainable_params, layers=workload.layers,
                          modules=workload.modules, weight_elements=workload.weight_elements)


def module_table(model: nn.Module) -> list[ModuleInfo]:
    out = []
    for path, m in model.named_modules():
        is_leaf = next(m.children(), None) is None
        out.append(ModuleInfo(path, type(m).__name__, sum(p.numel() for p in m.parameters()), is_leaf))
    return out


def analyze(model: nn.Module, inputs: InputSpec = None, *, dtype: str | None = None, name: str | None = None,
            policy: PricingPolicy = DEFAULT_POLICY) -> Workload:
    """Count FLOPs, bytes and parameters of one forward pass of ``model`` on fake tensors.

    ``inputs``: a tensor, a tuple of tensors, a shape tuple such as ``(1, 3, 224, 224)``, or a
    dict of keyword inputs. ``model`` may also be a ``torch.export.ExportedProgram`` (inputs
    default to its example inputs). ``dtype``: counting dtype for bytes (fp32, fp16, bf16, int8);
    None keeps the traced dtypes. The model is left exactly as it was.
    """
    dtype = normalize_dtype(dtype)
    if type(model).__name__ == "ExportedProgram":
        from roofline.workload.export import ExportedProgramModule

        model = ExportedProgramModule(model)
    counted = getattr(model, "roofline_workload", None)  # ONNX graphs count themselves from their graph
    if callable(counted):
        return counted(inputs, dtype=dtype, name=name)
    prepare = getattr(model, "roofline_prepare", None)  # exported programs: trace the program's own module
    if callable(prepare):
        model, inputs, name = prepare(inputs, name)
    tr = trace(model, inputs)
    params, trainable, _ = count_parameters(model)
    seen: set[int] = set()
    weight_elements = []
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            weight_elements.append((torch_dtype_name(t.dtype), t.numel()))
    modules = module_table(model)
    # layers = leaf modules, as Ultralytics counts them; a model that is one module is one layer
    layers = sum(1 for m in modules if m.is_leaf and m.path) or 1
    return build_workload(name or type(model).__name__, tr, dtype=dtype, params=params, trainable_params=trainable,
                          layers=layers, modules=modules, weight_elements=weight_elements, policy=policy)
