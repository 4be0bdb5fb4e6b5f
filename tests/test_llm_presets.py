"""Language-model presets: every shipped config builds, matches its published parameter count, and
traces both serving phases on the meta device; DeepSeek-V3's latent KV cache sized by hand."""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("transformers")

from roofline.llm.model import load_llm  # noqa: E402
from roofline.llm.trace import trace_phase  # noqa: E402
from roofline.sources.hf import PRESETS_DIR, list_presets  # noqa: E402

NEW = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-3b", "qwen3-8b", "qwen3-30b-a3b",
       "deepseek-v3", "gpt-oss-20b", "gpt-oss-120b", "gemma-2-2b", "gemma-2-9b", "gemma-2-27b", "gemma-3-1b", "gemma-3-12b", "phi-4", "llama-2-70b"]
EXISTING = ["llama-3-8b", "llama-3-70b", "llama-3.2-1b", "mistral-7b", "qwen2.5-7b", "mixtral-8x7b", "llama-2-7b"]


def _provenance(name: str) -> dict:
    return {k: v for k, v in json.loads((PRESETS_DIR / f"{name}.json").read_text()).items() if k.startswith("_")}


@pytest.mark.parametrize("name", NEW + EXISTING)
def test_preset_names_and_sources(name):
    assert name in list_presets()
    assert re.fullmatch(r"[a-z0-9.]+(-[a-z0-9.]+)*", name)
    prov = _provenance(name)
    assert str(prov["_source"]).startswith("https://")
    assert prov["_published_params"] > 0


@pytest.mark.parametrize("name", NEW + ["mixtral-8x7b"])
def test_parameters_within_one_percent_of_published(name):
    llm = load_llm(f"hf:{name}")
    prov = llm.hf.provenance
    counted = llm.parameters
    assert counted.total == pytest.approx(prov["_published_params"], rel=0.01)
    active = prov.get("_published_active_params")
    if active:
        assert llm.arch.is_moe
        mine = counted.active - (counted.embedding if prov.get("_published_active_excludes_embedding") else 0)
        # published active counts carry two significant digits (3.3B, 37B): within 2 %
        assert mine == pytest.approx(active, rel=0.02)
        assert counted.active < counted.total / 3
    else:
        assert counted.active == counted.total


@pytest.mark.parametrize("name", NEW)
def test_preset_traces_prefill_and_decode_on_meta(name):
    llm = load_llm(f"hf:{name}")
    prefill = trace_phase(llm, batch=1, query=8, past=0)
    step = trace_phase(llm, batch=1, query=1, past=16)
    assert prefill.flops > step.flops > 0
    # one decode step reads (at least) every weight of its active path, and appends one token of KV
    assert step.bytes_by_category["weight"] > 0.9 * 2 * (llm.parameters.active - llm.parameters.embedding)
    a = llm.arch
    per_token = sum(1 for t in a.layer_types) * a.kv_elements_per_token * 2
    assert step.bytes_by_category["kv_write"] == per_token
    assert prefill.bytes_by_category["kv_write"] == 8 * per_token


def test_deepseek_v3_layers_latent_attention_and_experts():
    a = load_llm("hf:deepseek-v3").arch
    assert a.latent_attention and a.is_moe
    assert a.layers == 61
    assert a.ffn_types.count("dense") == 3 and a.ffn_types[:3] == ("dense",) * 3
    assert a.kinds == ("full_attention/dense", "full_attention/moe")
    assert (a.kv_cache_heads, a.key_dim, a.value_dim) == (1, 512, 64)


def test_deepseek_v3_kv_bytes_per_token_by_hand():
    llm = load_llm("hf:deepseek-v3")
    by_hand = 61 * (512 + 64) * 2  # layers x (kv_lora_rank + qk_rope_head_dim) x fp16 bytes = 70,272
    assert llm.kv_cache_bytes(1, 1, 2.0) == by_hand
    assert llm.kv_cache_bytes(1000, 3, 1.0) == 61 * 576 * 1000 * 3
    # full heads would be 61 x 128 heads x (192 + 128) x 2 bytes, 71x more
    assert 61 * 128 * (192 + 128) * 2 / by_hand > 70
    step = trace_phase(llm, batch=1, query=1, past=100)
    assert step.bytes_by_category["kv_write"] == by_hand
    assert step.bytes_by_category["kv_read"] == by_hand * 101
    fp8 = trace_phase(llm, batch=1, query=1, past=100, kv_dtype="fp8")
    assert fp8.bytes_by_category["kv_read"] == by_hand * 101 // 2


def test_sliding_window_presets_keep_their_windows():
    g2 = load_llm("hf:gemma-2-2b").arch
    assert g2.layer_types.count("sliding_attention") == 13 and g2.sliding_window == 4096
    g3 = load_llm("hf:gemma-3-1b").arch
    assert g3.layer_types.count("full_attention") == 4 and g3.sliding_window == 512
    g12 = load_llm("hf:gemma-3-12b").arch
    assert g12.layer_types.count("full_attention") == 8 and g12.sliding_window == 1024
    oss = load_llm("hf:gpt-oss-120b").arch
    assert oss.layer_types.count("sliding_attention") == 18 and oss.sliding_window == 128
    llm = load_llm("hf:gemma-3-1b")
    per_token = 1 * 256 * 2 * 2  # one KV head x (K + V) x head_dim x fp16
    assert llm.kv_cache_bytes(4096, 1, 2.0) == per_token * (4 * 4096 + 22 * 512)


TINY_DEEPSEEK = {
    "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 64,
    "intermediate_size": 96, "moe_intermediate_size": 16, "num_hidden_layers": 4, "first_k_dense_replace": 2,
    "num_attention_heads": 4, "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1,
    "num_experts_per_tok": 2, "n_group": 2, "topk_group": 1, "kv_lora_rank": 16, "q_lora_rank": 24,
    "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "vocab_size": 128,
    "max_position_embeddings": 512, "tie_word_embeddings": False,
}


def test_dense_and_expert_kinds_equal_the_full_depth_model(tmp_path):
    path = tmp_path / "tiny-deepseek.json"
    path.write_text(json.dumps(TINY_DEEPSEEK))
    llm = load_llm(f"hf:{path}")
    assert llm.arch.ffn_types == ("dense", "dense", "moe", "moe")
    assert llm.parameters.total == sum(p.numel() for p in llm.full_model().parameters())
    for batch, query, past in ((2, 12, 0), (3, 1, 20)):
        kinds = trace_phase(llm, batch=batch, query=query, past=past)
        full = trace_phase(llm, batch=batch, query=query, past=past, depth="full")
        assert [(o.op, o.module, o.flops, o.bytes_read, o.bytes_written) for o in kinds.ops] == \
            [(o.op, o.module, o.flops, o.bytes_read, o.bytes_written) for o in full.ops]
        assert kinds.bytes_by_category == full.bytes_by_category
    step = trace_phase(llm, batch=3, query=1, past=20)
    assert step.bytes_by_category["kv_read"] == 4 * (16 + 8) * 21 * 3 * 2


def test_gpt_oss_attention_traced_fused_without_the_sink_column():
    llm = load_llm("hf:gpt-oss-20b")
    prefill = trace_phase(llm, batch=1, query=64, past=0)
    attention = [op for op in prefill.ops if "scaled_dot_product" in op.op]
    assert len(attention) == llm.arch.layers  # one fused attention op per layer, no softmax over a score matrix
    assert not any(op.op.startswith("aten._softmax") and _LAYER_RE.search(op.module) and "self_attn" in op.module
                   for op in prefill.ops)
    full = trace_phase(llm, batch=1, query=64, past=0, depth="full")
    assert full.flops == prefill.flops and full.bytes_by_category == prefill.bytes_by_category


_LAYER_RE = re.compile(r"layers\.\d+")


@pytest.mark.parametrize("name", ["mixtral-8x7b", "qwen3-30b-a3b"])
def test_profile_of_a_mixture_of_experts_uses_the_experts_substitute(run_cli, name):
    code, out, err = run_cli("profile", f"hf:{name}", "--input-shape", "1,16", "--json")
    assert code == 0, err
    data = json.loads(out)
    llm = load_llm(f"hf:{name}")
    assert data["params"] == llm.parameters.total
    # 16 tokens through the active experts (2 FLOPs per active parameter and token), not every expert;
    # the LM head runs for the last token only, attention over 16 tokens is small
    active_flops = 2 * 16 * (llm.parameters.active - llm.parameters.embedding)
    assert 0.8 * active_flops < data["flops"] < 1.05 * active_flops
