"""ONNX files: ``roofline profile model.onnx`` (extra ``onnx``).

The graph is counted, not run: shapes come from ONNX shape inference, FLOPs and bytes per node
from roofline/workload/onnx.py with the torch tracer's conventions. The default input is the first
graph input's declared shape (a dynamic batch dimension becomes 1); other dynamic dimensions
need ``--input-shape``. Weight data is never read (external data files may be absent).
"""
from __future__ import annotations

from pathlib import Path

from roofline.sources.torchvision_models import BuiltModel


def is_onnx_spec(spec: str) -> bool:
    return spec.strip().lower().endswith(".onnx")


def build(spec: str) -> BuiltModel:
    from roofline.workload import onnx as onnx_counter

    path = Path(spec.strip().removeprefix("onnx:")).expanduser()
    model = onnx_counter.load(path)
    inputs = onnx_counter.graph_inputs(model)
    meta = {"source": "onnx", "path": str(path), "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "inputs": {name: ["?" if d is None else d for d in dims] for name, dims, _ in inputs}}
    return BuiltModel(onnx_counter.OnnxGraphModule(model, path.name), path.name,
                      onnx_counter.default_input_shape(model), meta)
