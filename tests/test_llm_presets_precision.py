"""Serving precisions: FP8 weights and activations, FP4 (NVFP4, MXFP4) and int4 weight-only, W4A8,
KV fp8: bytes by hand against fp16, the math dtype of the matmuls, the fallback note."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import roofline  # noqa: E402
from roofline.errors import RooflineError  # noqa: E402
from roofline.llm.model import load_llm  # noqa: E402
from roofline.llm.precision import WEIGHT_BYTES, resolve_precision  # noqa: E402
from roofline.llm.serving import make_request, serving_scenario  # noqa: E402
from roofline.llm.trace import _LAYER, trace_phase, weight_bytes  # noqa: E402
from roofline.workload.types import OpClass  # noqa: E402

MODEL = "hf:llama-3.2-1b"


@pytest.fixture(scope="module")
def llm():
    return load_llm(MODEL)


def _layer_matrix_elements(llm) -> int:
    return sum(n * r for name, n, dim, _, r, is_param in llm.tensor_table()
               if is_param and dim >= 2 and _LAYER.search(name))


def _weight_split(workload):
    """Weight bytes read by decoder-layer matmuls and by every other op (embedding, norms, LM head)."""
    per_op = workload.cache["category_bytes_by_op"]["weight"]
    layer = sum(b for op, b in zip(workload.ops, per_op)
                if _LAYER.search(op.module) and op.op_class == OpClass.MATMUL)
    return layer, sum(per_op) - layer


def test_fp8_halves_weight_bytes_against_fp16(llm):
    n = _layer_matrix_elements(llm)
    assert n > 0.7 * llm.parameters.total
    fp16, fp8 = weight_bytes(llm, dtype="fp16"), weight_bytes(llm, dtype="fp8")
    assert fp16 - fp8 == n  # the decoder-layer matrices: 2 bytes -> 1 byte each
    step16 = trace_phase(llm, batch=1, query=1, past=32, dtype="fp16")
    step8 = trace_phase(llm, batch=1, query=1, past=32, dtype="fp8")
    layer16, rest16 = _weight_split(step16)
    layer8, rest8 = _weight_split(step8)
    assert layer8 * 2 == layer16  # every decoder-layer weight read is halved
    assert rest8 == rest16 > 0  # embedding rows, norms and the LM head stay 16-bit


@pytest.mark.parametrize("fmt, per_element", [("nvfp4", 0.5 + 1 / 16), ("fp4", 0.5 + 1 / 16),
                                              ("mxfp4", 0.5 + 1 / 32), ("int4", 0.5 + 2 / 128), ("int8", 1.0)])
def test_weight_only_formats_by_hand(llm, fmt, per_element):
    request = make_request(prompt=16, generate=4, weights=fmt)
    assert request.dtype == "fp16"  # weight-only: the math stays 16-bit
    n = _layer_matrix_elements(llm)
    assert weight_bytes(llm, dtype="fp16") - weight_bytes(llm, dtype="fp16", weights=request.weights) == \
        pytest.approx(n * (2 - per_element), abs=1)
    assert WEIGHT_BYTES[request.weights] == per_element


def test_w4a8_is_int4_weights_with_fp8_math(llm):
    assert resolve_precision(None, "w4a8", None) == ("fp8", "int4", "fp16")
    assert resolve_precision("fp8", "w4a8", "fp8") == ("fp8", "int4", "fp8")
    with pytest.raises(RooflineError, match="fp8 activations"):
        resolve_precision("fp16", "w4a8", None)
    step = trace_phase(llm, batch=1, query=1, past=8, dtype="fp8", weights="int4")
    matmuls = [op for op in step.ops if op.op_class == OpClass.MATMUL and _LAYER.search(op.module)]
    assert matmuls and all(op.dtype == "fp8" for op in matmuls)


def test_fp8_matmuls_only_in_decoder_layers(llm):
    step = trace_phase(llm, batch=1, query=1, past=8, dtype="fp8")
    dtypes = {}
    for op in step.ops:
        key = ("layer" if _LAYER.search(op.module) else "outside", op.op_class == OpClass.MATMUL)
        dtypes.setdefault(key, set()).add(op.dtype)
    assert dtypes[("layer", True)] == {"fp8"}
    assert "fp8" not in dtypes[("outside", True)]  # LM head in fp16
    assert "fp8" not in dtypes[("layer", False)]  # norms, rotary, attention in fp16


def test_precision_errors():
    for kw, text in ((dict(dtype="int4"), "use --weights"), (dict(weights="fp3"), "unsupported weight format"),
                     (dict(dtype="fp8", weights="fp16"), "fp8"), (dict(kv_dtype="fp4"), "KV cache dtype"),
                     (dict(dtype="fp16", weights="bf16"), "activation dtype")):
        with pytest.raises(RooflineError, match=text):
            make_request(**kw)
    assert make_request(dtype="fp8").weights == "fp8"
    assert make_request(dtype="fp8").kv_dtype == "fp16"
    assert make_request(weights="bf16").dtype == "bf16"


def test_kv_fp8_halves_the_cache(llm):
    a = serving_scenario(llm, make_request(prompt=256, generate=16, batch=4, dtype="fp8"))
    b = serving_scenario(llm, make_request(prompt=256, generate=16, batch=4, dtype="fp8", kv_dtype="fp8"))
    assert a.extra_memory_bytes == 2 * b.extra_memory_bytes
    assert a.extra_memory_bytes == llm.kv_cache_bytes(272, 4, 2.0)


def test_fp8_runs_on_fp8_tensor_cores_or_falls_back_with_a_note():
    kw = dict(prompt=512, generate=8, batch=4)
    h100_16 = roofline.estimate(MODEL, "nvidia-h100-sxm", **kw)
    h100_8 = roofline.estimate(MODEL, "nvidia-h100-sxm", dtype="fp8", **kw)
    assert not any("no native fp8" in n for n in h100_8.notes)
    assert h100_8.metrics["ttft_s"] < h100_16.metrics["ttft_s"]  # compute-bound prefill on FP8 peaks
    assert h100_8.metrics["tpot_s"] < h100_16.metrics["tpot_s"]  # half the weight bytes per step
    a100 = roofline.estimate(MODEL, "nvidia-a100-80gb-sxm", dtype="fp8", **kw)
    assert any("no native fp8" in n for n in a100.notes)


def test_cli_fp8_and_bad_format(run_cli):
    code, out, err = run_cli("predict", MODEL, "--device", "nvidia-h100-sxm", "--dtype", "fp8", "--prompt", "64",
                             "--generate", "8")
    assert code == 0, err
    code, out, err = run_cli("predict", MODEL, "--device", "nvidia-h100-sxm", "--weights", "fp3")
    assert code == 2 and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1
