"""Precision formats of language-model serving: what a weight, an activation and a KV-cache entry
cost in bytes, and the dtype the matrix multiplications run in.

Weights (``--weights``), bytes per element of the decoder-layer matrices (embeddings, norms and
the LM head stay in 16-bit):

- ``fp16`` / ``bf16`` / ``fp32``: the element size;
- ``fp8``: 1 byte (E4M3 with per-tensor or per-channel scales, < 0.1 % extra, not counted);
- ``int8``: 1 byte (per-channel scales not counted);
- ``int4``: 0.5 + 2/128 bytes, an fp16 scale per group of 128 (GPTQ/AWQ);
- ``nvfp4`` (alias ``fp4``): 0.5 + 1/16 bytes, 4-bit E2M1 values with one FP8 E4M3 scale per
  block of 16 (the FP32 per-tensor scale is negligible), as NVIDIA describes NVFP4
  (https://developer.nvidia.com/blog/introducing-nvfp4-for-efficient-and-accurate-low-precision-inference/);
- ``mxfp4``: 0.5 + 1/32 bytes, E2M1 values with one E8M0 scale per block of 32 (OCP
  Microscaling Formats v1.0, https://www.opencompute.org/documents/ocp-microscaling-formats-mx-v1-0-spec-final-pdf),
  the format gpt-oss ships its expert weights in;
- ``w4a8``: int4 weights (as ``int4``) with fp8 activations: shorthand for
  ``--weights int4 --dtype fp8``.

Activations (``--dtype``): ``fp16``, ``bf16``, ``fp32``, or ``fp8`` (weights and activations in
FP8, the matrix multiplications of the decoder layers on FP8 tensor cores; a device without FP8
peaks falls back to fp16 with a note, as the predictor does for every dtype). Under ``fp8`` the
model is traced in fp16: attention, norms and the other element-wise ops keep 16-bit tensors
(their bytes are an upper estimate), the KV cache defaults to fp16 (``--kv-dtype fp8`` halves it).

Weight-only formats (everything but the activation dtype itself) keep the matrix math in the
activation dtype: dequantised on the fly, as the weight-only kernels of serving engines do.
"""
from __future__ import annotations

from roofline.errors import RooflineError

# bytes per element of the decoder-layer weight matrices
WEIGHT_BYTES: dict[str, float] = {
    "fp32": 4.0, "fp16": 2.0, "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5 + 2 / 128,
    "nvfp4": 0.5 + 1 / 16,
    "mxfp4": 0.5 + 1 / 32,
}
WEIGHT_ALIASES: dict[str, str] = {"fp4": "nvfp4", "float8": "fp8", "fp8_e4m3": "fp8", "e4m3": "fp8"}
COMBINED: dict[str, tuple[str, str]] = {"w4a8": ("int4", "fp8")}  # weights, activations

# activation dtypes: bytes of the activations as traced, and the dtype a model is built in
ACTIVATION_DTYPES = ("fp16", "bf16", "fp32", "fp8", "fp4")
BUILD_DTYPE: dict[str, str] = {"fp16": "fp16", "bf16": "bf16", "fp32": "fp32", "fp8": "fp16", "fp4": "fp16"}
# dtype of the tensors that are not decoder-layer matrices (embeddings, norms, LM head) and the
# default KV cache dtype, per activation dtype
STORAGE_DTYPE: dict[str, str] = {"fp16": "fp16", "bf16": "bf16", "fp32": "fp32", "fp8": "fp16", "fp4": "fp16"}
# the weight format an activation dtype implies when --weights is not given, and the narrowest
# float weights it takes (fp8 math needs fp8 or narrower weights; fp4 math 4-bit block-scaled ones)
DEFAULT_WEIGHTS: dict[str, str] = {"fp8": "fp8", "fp4": "nvfp4"}
FP4_WEIGHTS = ("nvfp4", "mxfp4")

KV_BYTES: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0}


def _key(value: object) -> str:
    key = str(value).strip().lower().removeprefix("torch.")
    return {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32",
            "float8": "fp8", "fp8_e4m3": "fp8", "float8_e4m3fn": "fp8"}.get(key, key)


def resolve_precision(dtype: str | None, weights: str | None, kv_dtype: str | None) -> tuple[str, str, str]:
    """(activation dtype, weight format, KV dtype) from user input, with one-line errors."""
    dtype_key = _key(dtype) if dtype is not None else None
    if dtype_key is not None and dtype_key not in ACTIVATION_DTYPES:
        hint = " (weight-only formats: use --weights)" if dtype_key in WEIGHT_BYTES or dtype_key in COMBINED else ""
        raise RooflineError(f"unsupported activation dtype {dtype!r}: choose one of {', '.join(ACTIVATION_DTYPES)}{hint}")
    weights_key = None
    if weights is not None:
        weights_key = WEIGHT_ALIASES.get(_key(weights), _key(weights))
        if weights_key in COMBINED:
            weights_key, wants = COMBINED[weights_key]
            if dtype_key not in (None, wants):
                raise RooflineError(f"--weights {weights} runs {wants} activations, not --dtype {dtype_key}")
            dtype_key = wants
        elif weights_key not in WEIGHT_BYTES:
            raise RooflineError(f"unsupported weight format {weights!r}: choose one of "
                                f"{', '.join([*WEIGHT_BYTES, 'fp4', *COMBINED])}")
    if dtype_key is None:
        dtype_key = weights_key if weights_key in ("fp16", "bf16", "fp32") else "fp16"
    if weights_key is None:
        weights_key = default_weights(dtype_key)
    if weights_key in ("fp16", "bf16", "fp32") and weights_key != STORAGE_DTYPE[dtype_key]:
        raise RooflineError(f"--weights {weights_key} with --dtype {dtype_key}: floating-point weights run in the "
                            "activation dtype; give one of them, or a quantised format (fp8, int8, int4, nvfp4, "
                            "mxfp4, w4a8)")
    if dtype_key == "fp8" and weights_key in ("fp16", "bf16", "fp32"):
        raise RooflineError("--dtype fp8 needs fp8 or narrower weights")
    if dtype_key == "fp4" and weights_key not in FP4_WEIGHTS:
        raise RooflineError(f"--dtype fp4 runs FP4 tensor-core math on 4-bit block-scaled weights: use --weights "
                            f"{' or '.join(FP4_WEIGHTS)}, not {weights_key}")
    kv_key = STORAGE_DTYPE[dtype_key] if kv_dtype is None else _key(kv_dtype)
    if kv_key not in KV_BYTES:
        raise RooflineError(f"unsupported KV cache dtype {kv_dtype!r}: choose one of {', '.join(KV_BYTES)}")
    return dtype_key, weights_key, kv_key


def is_quantised(weights: str, dtype: str) -> bool:
    """Whether the decoder-layer matrices are stored narrower than the traced model's tensors."""
    return WEIGHT_BYTES[weights] < WEIGHT_BYTES[BUILD_DTYPE[dtype]]


def default_weights(dtype: str) -> str:
    """The weight format of ``dtype`` when none is given: fp8 under fp8, nvfp4 under fp4, else the dtype."""
    return DEFAULT_WEIGHTS.get(dtype, dtype)


def matmul_dtype(dtype: str) -> str:
    """The dtype the decoder-layer matrix multiplications run in (selects the device peak)."""
    return dtype if dtype in DEFAULT_WEIGHTS else BUILD_DTYPE[dtype]


__all__ = ["WEIGHT_BYTES", "KV_BYTES", "ACTIVATION_DTYPES", "BUILD_DTYPE", "STORAGE_DTYPE", "resolve_precision",
           "is_quantised", "matmul_dtype", "default_weights"]
