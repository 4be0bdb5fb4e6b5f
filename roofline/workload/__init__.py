"""Counting: trace a model on fake tensors and cost every aten op (FLOPs, MACs, bytes).

The public names are imported on first use, so that reading ``roofline.workload.dtypes`` (the
CLI's option help) does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "analyze": "roofline.workload.build",
    "Workload": "roofline.workload.types",
    "OpRecord": "roofline.workload.types",
    "OpClass": "roofline.workload.types",
    "TensorInfo": "roofline.workload.types",
    "ModuleInfo": "roofline.workload.types",
    "MATMUL_CLASSES": "roofline.workload.types",
}

__all__ = ["analyze", "Workload", "OpRecord", "OpClass", "TensorInfo", "ModuleInfo", "MATMUL_CLASSES"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roofline.workload' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
