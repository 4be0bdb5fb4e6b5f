"""Counting: trace a model on fake tensors and cost every aten op (FLOPs, MACs, bytes)."""
from roofline.workload.build import analyze
from roofline.workload.types import MATMUL_CLASSES, ModuleInfo, OpClass, OpRecord, TensorInfo, Workload

__all__ = ["analyze", "Workload", "OpRecord", "OpClass", "TensorInfo", "ModuleInfo", "MATMUL_CLASSES"]
