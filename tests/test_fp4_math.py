"""FP4 tensor-core math (NVFP4 / MXFP4 operands): the precision rule, the traced matmul dtype, the
catalog peaks and the fallback on a device without FP4 math."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import roofline  # noqa: E402
from roofline.catalog import load_catalog  # noqa: E402
from roofline.errors import RooflineError  # noqa: E402
from roofline.llm.model import load_llm  # noqa: E402
from roofline.llm.precision import WEIGHT_BYTES, resolve_precision  # noqa: E402
from roofline.llm.trace import trace_phase  # noqa: E402
from roofline.workload.types import OpClass  # noqa: E402


def test_fp4_implies_nvfp4_weights_and_refuses_other_formats():
    assert resolve_precision("fp4", None, None) == ("fp4", "nvfp4", "fp16")
    assert resolve_precision("fp4", "mxfp4", "fp8") == ("fp4", "mxfp4", "fp8")
    with pytest.raises(RooflineError, match="--dtype fp4 runs FP4 tensor-core math"):
        resolve_precision("fp4", "int4", None)


def test_decoder_matmuls_run_in_fp4_and_weights_are_nvfp4_bytes():
    llm = load_llm("hf:llama-3.2-1b")
    w = trace_phase(llm, batch=1, query=1, past=16, dtype="fp4")
    layer_matmuls = [op for op in w.ops if op.op_class == OpClass.MATMUL and ".layers." in op.module]
    assert layer_matmuls and {op.dtype for op in layer_matmuls} == {"fp4"}
    assert all(op.dtype != "fp4" for op in w.ops if "lm_head" in op.module)  # the LM head stays 16-bit
    # the decoder layers' matrices at NVFP4's 0.5 + 1/16 bytes instead of 2, by hand for Llama 3.2 1B
    # (16 layers, hidden 2048, 32 query and 8 KV heads of 64, FFN 8192); embeddings and norms stay 16-bit
    hidden, kv, ffn = 2048, 8 * 64, 8192
    layer_matrices = 16 * (2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * ffn)
    fp16 = trace_phase(llm, batch=1, query=1, past=16, dtype="fp16")
    assert fp16.weight_bytes - w.weight_bytes == pytest.approx(layer_matrices * (2 - WEIGHT_BYTES["nvfp4"]), rel=1e-9)


def test_catalog_fp4_peaks_are_the_published_dense_figures():
    cat = load_catalog()
    # DGX B200: 72 PFLOPS dense FP4 per 8 GPUs; GB200 datasheet 10 PFLOPS dense; RTX 5090 whitepaper 1676 TFLOPS
    assert cat.get("nvidia-b200").peak_flops_per_s("fp4") == pytest.approx(72e15 / 8)
    assert cat.get("nvidia-gb200").peak_flops_per_s("fp4") == pytest.approx(10e15)
    assert cat.get("nvidia-rtx-5090").peak_flops_per_s("fp4") == pytest.approx(1676e12)
    assert cat.get("nvidia-h100-sxm").peak_flops_per_s("fp4") is None


def test_fp4_prefill_is_faster_than_fp8_on_blackwell_and_falls_back_to_fp8_on_hopper():
    kw = dict(prompt=512, generate=8, batch=4)
    b200_fp8 = roofline.estimate("hf:llama-3.2-1b", "nvidia-b200", dtype="fp8", **kw)
    b200_fp4 = roofline.estimate("hf:llama-3.2-1b", "nvidia-b200", dtype="fp4", **kw)
    assert b200_fp4.metrics["ttft_s"] < b200_fp8.metrics["ttft_s"]
    assert not any("native fp4" in n for n in b200_fp4.notes)
    h100_fp4 = roofline.estimate("hf:llama-3.2-1b", "nvidia-h100-sxm", dtype="fp4", **kw)
    h100_fp8 = roofline.estimate("hf:llama-3.2-1b", "nvidia-h100-sxm", dtype="fp8", **kw)
    assert "no native fp4 math: runs at the fp8 rate" in h100_fp4.notes
    # same math rate; the 4-bit weights only shorten the weight stream
    assert h100_fp4.metrics["ttft_s"] <= h100_fp8.metrics["ttft_s"] * 1.0001
