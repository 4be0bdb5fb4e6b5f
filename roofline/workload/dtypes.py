"""Counting dtypes: what ``--dtype`` means for the bytes of each tensor.

A workload is traced once in the model's own floating dtype; a counting dtype then
re-prices the bytes of floating tensors. FLOPs never change with the dtype.
"""
from __future__ import annotations

from roofline.errors import RooflineError

# name -> bytes per element
DTYPE_BYTES: dict[str, float] = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "bf16": 2,
    "fp16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}

# Bytes per element of every tensor dtype a trace can hold (storage dtypes, not only counting ones).
ELEMENT_BYTES: dict[str, float] = {
    **DTYPE_BYTES,
    "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "int16": 2, "int32": 4, "int64": 8, "bool": 1,
    "complex32": 4, "complex64": 8, "complex128": 16,
}


# Counting dtypes that `roofline profile/predict --dtype` accept.
COUNTING_DTYPES = ("fp32", "fp16", "bf16", "int8")

_TORCH_TO_NAME = {
    "float64": "fp64",
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
    "float8_e4m3fnuz": "fp8",
    "float8_e5m2fnuz": "fp8",
    "int8": "int8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "complex32": "complex32",
    "uint8": "uint8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
    "complex64": "complex64",
    "complex128": "complex128",
}

_ALIASES = {
    "float32": "fp32", "float": "fp32", "f32": "fp32",
    "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bfloat16": "bf16",
    "float64": "fp64", "double": "fp64",
    "i8": "int8", "qint8": "int8",
}


def torch_dtype_name(dtype: object) -> str:
    """Short name ('fp32', 'int64', ...) for a torch dtype."""
    return _TORCH_TO_NAME.get(str(dtype).removeprefix("torch."), str(dtype).removeprefix("torch."))


def normalize_dtype(name: str | None, *, allowed: tuple[str, ...] = COUNTING_DTYPES) -> str | None:
    """Accept 'fp16', 'float16', 'half'...; raise a one-line error for anything else."""
    if name is None:
        return None
    key = str(name).strip().lower().removeprefix("torch.")
    key = _ALIASES.get(key, key)
    if key not in allowed:
        raise RooflineError(f"unsupported dtype {name!r}: choose one of {', '.join(allowed)}")
    return key


def element_bytes(name: str) -> float:
    """Bytes per element of a tensor dtype; a dtype with no known size is an error, never a guess."""
    size = ELEMENT_BYTES.get(name)
    if size is None:
        raise RooflineError(f"unsupported tensor dtype {name!r}: its size per element is unknown "
                            f"(known: {', '.join(ELEMENT_BYTES)})")
    return size


def is_floating(name: str) -> bool:
    return name in ("fp64", "fp32", "fp16", "bf16", "fp8", "tf32")
