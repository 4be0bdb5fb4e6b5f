"""LLM serving estimates: presets, phase traces, KV cache, quantisation, MoE, memory-bound sanity, plan."""
import json
import math

import pytest

pytest.importorskip("transformers")

from roofline.catalog import load_catalog  # noqa: E402
from roofline.errors import MissingExtraError, RooflineError, UnknownModelError  # noqa: E402
from dataclasses import replace  # noqa: E402

from roofline.decide.plan import plan_scenarios  # noqa: E402
from roofline.decide.rank import rank  # noqa: E402
from roofline.estimation import estimate_scenario  # noqa: E402
from roofline.llm import load_llm, make_request, serving_scenario, trace_phase  # noqa: E402
from roofline.llm.model import ContextLengthError  # noqa: E402
from roofline.llm.trace import interpolate, weight_bytes  # noqa: E402
from roofline.llm.precision import KV_BYTES as KV_FORMATS  # noqa: E402
from roofline.llm.precision import WEIGHT_BYTES as WEIGHT_FORMATS  # noqa: E402


def estimate(llm, device, request, tier=None):
    return estimate_scenario(serving_scenario(llm, request), device, tier=tier)


def rank_llm(model, devices, request, sort=None, max_gpus=1):
    """One GPU per device (several GPUs: tests/test_parallel.py)."""
    return rank(serving_scenario(load_llm(model) if isinstance(model, str) else model, request), devices, sort=sort,
                max_gpus=max_gpus)


def category(phase, name):
    return phase.bytes_by_category[name]
from roofline.sources.hf import UnsupportedArchitectureError, list_presets, load_config  # noqa: E402

TINY = {
    "tiny-llama": dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                       num_attention_heads=4, num_key_value_heads=2, vocab_size=100, max_position_embeddings=256),
    "tiny-mixtral": dict(model_type="mixtral", hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=100, max_position_embeddings=256,
                         num_local_experts=4, num_experts_per_tok=2),
    "tiny-mistral": dict(model_type="mistral", hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=100, max_position_embeddings=512,
                         sliding_window=16),
    "tiny-qwen2": dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, vocab_size=100, max_position_embeddings=512,
                       use_sliding_window=True, sliding_window=16, max_window_layers=2),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("configs")
    paths = {}
    for name, cfg in TINY.items():
        path = root / f"{name}.json"
        path.write_text(json.dumps(cfg))
        paths[name] = f"hf:{path}"
    return paths


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def llama8b():
    return load_llm("hf:llama-3-8b")


# ------------------------------------------------------------------ presets

# Published parameter counts (Hugging Face model cards; Mixtral: Mistral AI's announcement,
# https://mistral.ai/news/mixtral-of-experts, "46.7B total parameters ... 12.9B parameters per token").
PUBLISHED = {
    "llama-3-8b": (8.03e9, None),  # https://huggingface.co/meta-llama/Meta-Llama-3-8B
    "llama-3-70b": (70.6e9, None),  # https://huggingface.co/meta-llama/Meta-Llama-3-70B
    "mistral-7b": (7.24e9, None),  # https://huggingface.co/mistralai/Mistral-7B-v0.1
    "qwen2.5-7b": (7.61e9, None),  # https://huggingface.co/Qwen/Qwen2.5-7B ("Number of Parameters: 7.61B")
    "mixtral-8x7b": (46.7e9, 12.9e9),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_parameter_counts_match_published(name):
    llm = load_llm(f"hf:{name}")
    total, active = PUBLISHED[name]
    assert llm.parameters.total == pytest.approx(total, rel=0.01)
    if active is not None:
        assert llm.parameters.active == pytest.approx(active, rel=0.01)
    else:
        assert llm.parameters.active == llm.parameters.total
    assert llm.source and llm.source.startswith("https://")


def test_presets_record_sources_and_strip_them():
    assert {"llama-3-8b", "llama-3-70b", "mistral-7b", "qwen2.5-7b", "mixtral-8x7b"} <= set(list_presets())
    for name in list_presets():
        hf = load_config(f"hf:{name}")
        assert hf.source.startswith("https://huggingface.co/")
        assert not any(k.startswith("_") for k in hf.config)


def test_parameters_from_one_layer_per_kind_equal_the_full_model(tiny):
    for spec in tiny.values():
        llm = load_llm(spec)
        full = sum(p.numel() for p in llm.full_model().parameters())
        assert llm.parameters.total == full


# ------------------------------------------------------------------ phases

def _same(a, b):
    return [(o.op, o.module, o.flops, o.bytes_read, o.bytes_written) for o in a.ops] == \
           [(o.op, o.module, o.flops, o.bytes_read, o.bytes_written) for o in b.ops]


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-mixtral"])
def test_layer_repetition_equals_full_depth_trace(tiny, name):
    llm = load_llm(tiny[name])
    for batch, query, past in ((2, 24, 0), (2, 1, 5), (3, 1, 40)):
        kinds = trace_phase(llm, batch=batch, query=query, past=past)
        full = trace_phase(llm, batch=batch, query=query, past=past, depth="full")
        assert _same(kinds, full)
        assert kinds.bytes_fused == full.bytes_fused
        assert kinds.byte_breakdown(fused=False) == full.byte_breakdown(fused=False)


@pytest.mark.parametrize("name", ["tiny-mistral", "tiny-qwen2"])
def test_layer_repetition_with_sliding_layers(tiny, name):
    """Mixed full/sliding layers: FLOPs and unfused bytes exact; fused bytes within 0.5 % (the shared
    sliding mask has one reader per layer in the full model)."""
    llm = load_llm(tiny[name])
    for batch, query, past in ((2, 24, 0), (2, 1, 40)):
        kinds = trace_phase(llm, batch=batch, query=query, past=past)
        full = trace_phase(llm, batch=batch, query=query, past=past, depth="full")
        assert kinds.flops == full.flops
        assert kinds.byte_breakdown(fused=False) == full.byte_breakdown(fused=False)
        assert kinds.bytes_fused == pytest.approx(full.bytes_fused, rel=0.005)


def test_sliding_layers_read_only_their_window(tiny):
    llm = load_llm(tiny["tiny-mistral"])  # 3 layers, window 16, 2 KV heads of 16
    step = trace_phase(llm, batch=2, query=1, past=40)
    assert category(step, 'kv_read') == 2 * 3 * 2 * 2 * 16 * 16 * 2  # K,V x layers x batch x heads x dim x 16 x 2 B
    assert llm.kv_cache_bytes(100, 2, 2) == 2 * 3 * 2 * 16 * 16 * 2 * 2


def test_decode_flops_per_token_about_twice_active_parameters(llama8b):
    a = llama8b.arch
    context = 1024
    step = trace_phase(llama8b, batch=1, query=1, past=context)
    matmul = 2 * (llama8b.parameters.active - llama8b.parameters.embedding)  # the lookup is no matmul
    attention = 2 * 2 * a.layers * a.attention_heads * a.head_dim * (context + 1)
    assert step.flops == pytest.approx(matmul + attention, rel=0.01)
    assert step.flops >= matmul + attention


def test_moe_decode_flops_follow_active_experts():
    llm = load_llm("hf:mixtral-8x7b")
    p = llm.parameters
    a = llm.arch
    step = trace_phase(llm, batch=1, query=1, past=512)
    matmul = 2 * (p.active - p.embedding)
    attention = 2 * 2 * a.layers * a.attention_heads * a.head_dim * 513
    assert step.flops == pytest.approx(matmul + attention, rel=0.01)
    # one sequence reads its top-2 experts per layer, not all 8
    expert_bytes_all = p.expert * 2
    assert category(step, 'weight') < 2 * (p.total - p.embedding) - expert_bytes_all * 0.7


def test_moe_substitute_runs_active_experts_exactly(tiny):
    llm = load_llm(tiny["tiny-mixtral"])  # H 64, I 96, 4 experts, top-2, 3 layers
    for batch, query, past in ((1, 1, 8), (2, 5, 0), (3, 1, 8)):
        phase = trace_phase(llm, batch=batch, query=query, past=past)
        tokens = batch * query
        experts = [op for op in phase.ops if op.op.startswith("aten.bmm") and ".experts" in op.module]
        assert sum(op.flops for op in experts) == 3 * 2 * tokens * 2 * (2 * 96 * 64 + 96 * 64)
        touched = min(4, tokens * 2)
        per_op = phase.cache['category_bytes_by_op']['weight']
        read = sum(per_op[i] for i, op in enumerate(phase.ops) if op in experts)
        assert read == 3 * touched * 3 * 96 * 64 * 2  # fp16 gate, up, down of the touched experts


def test_kv_cache_bytes_exact(llama8b):
    a = llama8b.arch
    for context, batch, kv in ((1280, 1, "fp16"), (4096, 8, "fp8"), (8000, 3, "fp32")):
        expected = 2 * a.layers * a.kv_heads * a.head_dim * context * batch * KV_FORMATS[kv]
        assert llama8b.kv_cache_bytes(context, batch, KV_FORMATS[kv]) == expected
    # the traced phases move the same bytes: prefill writes the prompt, a step reads past + 1 entries
    prefill = trace_phase(llama8b, batch=2, query=64, past=0)
    assert category(prefill, 'kv_write') == 2 * a.layers * a.kv_heads * a.head_dim * 64 * 2 * 2
    step = trace_phase(llama8b, batch=2, query=1, past=300, kv_dtype="fp8")
    assert category(step, 'kv_read') == 2 * a.layers * a.kv_heads * a.head_dim * 301 * 2 * 1
    assert category(step, 'kv_write') == 2 * a.layers * a.kv_heads * a.head_dim * 1 * 2 * 1


def test_decode_interpolation_is_exact(tiny):
    llm = load_llm(tiny["tiny-llama"])
    a = trace_phase(llm, batch=2, query=1, past=10)
    b = trace_phase(llm, batch=2, query=1, past=90)
    mid = interpolate(llm, a, b, 37)
    traced = trace_phase(llm, batch=2, query=1, past=37)
    assert _same(mid, traced)
    assert mid.byte_breakdown(fused=True) == traced.byte_breakdown(fused=True)


def test_weight_only_quantisation_changes_bytes_not_math(llama8b):
    fp16 = trace_phase(llama8b, batch=1, query=1, past=128)
    int4 = trace_phase(llama8b, batch=1, query=1, past=128, weights="int4")
    assert int4.flops == fp16.flops
    assert {op.dtype for op in int4.ops if op.op.startswith("aten.mm")} == {"fp16"}
    p = llama8b.parameters
    layer_weights = p.total - 2 * p.embedding  # untied embedding and LM head stay fp16
    a = llama8b.arch
    expected = layer_weights * WEIGHT_FORMATS["int4"] + p.embedding * 2 + a.hidden_size * 2  # head + one row
    norms = sum(n * r for name, n, dim, _, r, is_p in llama8b.tensor_table() if is_p and dim == 1)
    assert category(int4, 'weight') == pytest.approx(expected - norms * WEIGHT_FORMATS["int4"] + norms * 2, rel=1e-6)
    buffers = sum(n * size * r for name, n, dim, size, r, is_p in llama8b.tensor_table() if not is_p)
    matrices = layer_weights - norms
    assert weight_bytes(llama8b, dtype="fp16") == p.total * 2 + buffers
    assert weight_bytes(llama8b, dtype="fp16", weights="int8") == matrices + (p.total - matrices) * 2 + buffers


# ------------------------------------------------------------------ estimates

def test_memory_bound_decode_never_beats_bandwidth(catalog, llama8b):
    """At fp16, a decode step reads every weight (the embedding table only for the token's row):
    tokens/s <= bandwidth / weight bytes read per step, in every tier, speed of light included."""
    request = make_request(prompt=512, generate=64)
    step = trace_phase(llama8b, batch=1, query=1, past=512)
    w = category(step, 'weight')
    p = llama8b.parameters
    assert w == pytest.approx(weight_bytes(llama8b, dtype="fp16") - p.embedding * 2, rel=1e-4)
    checked = 0
    for device_id in ("nvidia-h100-sxm", "nvidia-a100-80gb-sxm", "nvidia-rtx-4090", "nvidia-l4", "apple-m2",
                      "amd-epyc-9654"):
        device = catalog.get(device_id)
        p = estimate(llama8b, device, request)
        bw = device.memory.bandwidth_bytes_per_s
        assert p.metrics["tokens_per_s_per_sequence"] <= bw / w
        for tier in ("sol", "datasheet"):
            e = estimate(llama8b, device, request, tier=tier)
            assert e.tier == {"sol": "speed-of-light", "datasheet": "datasheet"}[tier]
            assert e.metrics["tokens_per_s"] <= bw / w
        checked += 1
    assert checked == 6


def test_estimate_phases_and_request_arithmetic(catalog, llama8b):
    request = make_request(prompt=1024, generate=256, batch=4)
    e = estimate(llama8b, catalog.get("nvidia-h100-sxm"), request)
    m = e.metrics
    assert m["request_latency_s"] == pytest.approx(m["ttft_s"] + 255 * m["tpot_s"])
    assert e.latency_s == pytest.approx(m["request_latency_s"])
    assert m["tokens_per_s"] == pytest.approx(4 / m["tpot_s"])
    assert m["tokens_per_s_per_sequence"] == pytest.approx(1 / m["tpot_s"])
    assert m["requests_per_s"] == pytest.approx(4 / m["request_latency_s"]) == pytest.approx(e.requests_per_s)
    assert e.throughput_per_s == pytest.approx(4 * 256 / e.latency_s)
    assert m["tpot_first_s"] <= m["tpot_s"] <= m["tpot_last_s"]
    prefill, decode = e.phase("prefill"), e.phase("decode")
    assert prefill.facts["tokens"] == 4096 and decode.facts["tokens"] == 4
    assert prefill.breakdown["kv_write_bytes"] == 2 * 32 * 8 * 128 * 1024 * 4 * 2
    assert e.memory.kv_cache_bytes == 2 * 32 * 8 * 128 * 1280 * 4 * 2
    assert e.memory.fits and e.memory.required_bytes > e.memory.weight_bytes + e.memory.kv_cache_bytes
    assert prefill.bound == "compute" and decode.bound in ("memory", "overhead")
    assert e.energy_j == pytest.approx(prefill.energy_j + 255 * decode.energy_j)
    data = e.to_dict()
    json.dumps(data)
    assert data["ttft_s"] == m["ttft_s"] and data["prefill"]["latency_s"] == prefill.latency_s
    assert data["memory"]["kv_cache_bytes"] == e.memory.kv_cache_bytes and data["energy_per_token_j"] is not None


@pytest.mark.slow
def test_memory_fit_excludes_70b_fp16_on_one_h100(catalog):
    # 70.55 B parameters x 2 bytes = 141.1 GB + KV cache: an H100 (80 GiB) cannot hold them; the H200 (141 GiB,
    # 151.4e9 B visible to the runtime) and the B200 (180 GiB) can
    result = rank_llm("hf:llama-3-70b", [catalog.get("nvidia-h100-sxm"), catalog.get("nvidia-h200-sxm"),
                                         catalog.get("nvidia-b200")], make_request(prompt=1024, generate=256))
    assert sorted(r.estimate.device for r in result.ranked) == ["nvidia-b200", "nvidia-h200-sxm"]
    assert [e.device for e in result.excluded] == ["nvidia-h100-sxm"]
    assert {e.category for e in result.excluded} == {"memory"} and "KV cache" in result.excluded[0].detail
    int4 = rank_llm("hf:llama-3-70b", [catalog.get("nvidia-h100-sxm")],
                    make_request(prompt=1024, generate=256, weights="int4"))
    assert [r.estimate.device for r in int4.ranked] == ["nvidia-h100-sxm"]


@pytest.mark.slow
def test_seventy_b_traces_at_full_size():
    scenario = serving_scenario(load_llm("hf:llama-3-70b"), make_request(prompt=2048, generate=128, batch=4))
    llm = load_llm("hf:llama-3-70b")
    matmul = 2 * (llm.parameters.total - llm.parameters.embedding) * 4 * 2048  # the lookup is no matmul
    assert scenario.phase("prefill").samples[0].workload.flops >= matmul


def test_rank_sorts_by_tokens_per_s_and_cost(catalog, llama8b):
    request = make_request(prompt=256, generate=32)
    r = rank_llm(llama8b, catalog, request, sort="tokens-per-s")
    speeds = [x.estimate.metrics["tokens_per_s"] for x in r.ranked]
    assert speeds == sorted(speeds, reverse=True) and len(speeds) > 5
    c = rank_llm(llama8b, catalog, request, sort="cost")
    complete = [x.cost.total_usd_per_million for x in c.ranked if x.cost.complete]
    incomplete = [x.cost.total_usd_per_million for x in c.ranked if not x.cost.complete]
    assert complete == sorted(complete) and complete
    # an incomplete cost (no price: energy only) never ranks among complete ones
    assert [x.cost.complete for x in c.ranked] == [True] * len(complete) + [False] * len(incomplete)


def _serving(llm, batches, **kw):
    base = make_request(**kw)
    return [serving_scenario(llm, replace(base, batch=b)) for b in batches]


def test_plan_units_power_cost(catalog, llama8b):
    from roofline.decide.rank import Constraints

    devices = [catalog.get("nvidia-rtx-4090"), catalog.get("nvidia-l40")]
    scenarios = _serving(llama8b, (1, 4, 16), prompt=512, generate=128)
    result = plan_scenarios(scenarios, devices, qps=5)
    assert {r.device for r in result.rows} == {"nvidia-rtx-4090", "nvidia-l40"}
    for row in result.rows:
        assert row.units == math.ceil(5 / row.requests_per_s_per_unit - 1e-9)
        assert row.units * row.requests_per_s_per_unit >= 5
        assert row.throughput_per_unit_per_s == pytest.approx(row.requests_per_s_per_unit * 128)
        assert row.peak_power_w == row.units * catalog.get(row.device).power.tdp_w
    rtx = next(r for r in result.rows if r.device == "nvidia-rtx-4090")
    assert rtx.purchase_usd == rtx.units * 1599 and rtx.usd_per_million_units > 0 and rtx.cost_complete
    # the L40 has no purchase or cloud price: its energy-only TCO comes after the complete one, marked incomplete
    assert [r.device for r in result.rows] == ["nvidia-rtx-4090", "nvidia-l40"]
    assert not result.rows[1].cost_complete
    tight = plan_scenarios(scenarios[:2], devices, qps=5, constraints=Constraints(max_tpot_s=0.001))
    assert not tight.rows and {e.category for e in tight.excluded} == {"latency"}


# ------------------------------------------------------------------ bad input

def test_unsupported_architectures_are_one_line_errors(tmp_path):
    cases = {
        "t5.json": ({"model_type": "t5", "d_model": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 100},
                    "not a decoder-only"),
        "bert.json": ({"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "vocab_size": 100}, "not a decoder-only"),
        "nope.json": ({"model_type": "no-such-arch", "hidden_size": 64}, "unknown model_type"),
        "none.json": ({"hidden_size": 64}, "no model_type"),
    }
    for name, (cfg, message) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(cfg))
        with pytest.raises(UnsupportedArchitectureError, match=message) as info:
            load_llm(f"hf:{path}")
        assert "\n" not in str(info.value)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(RooflineError, match="not valid JSON"):
        load_llm(f"hf:{tmp_path / 'broken.json'}")
    with pytest.raises(UnknownModelError, match="did you mean hf:llama-3-8b"):
        load_llm("hf:llama-3-8")


def test_context_beyond_maximum(llama8b):
    with pytest.raises(ContextLengthError, match="max_position_embeddings"):
        serving_scenario(llama8b, make_request(prompt=8000, generate=500))


def test_request_validation():
    with pytest.raises(RooflineError, match="--prompt"):
        make_request(prompt=0)
    with pytest.raises(RooflineError, match="weight-only"):
        make_request(dtype="int8")
    with pytest.raises(RooflineError, match="KV cache dtype"):
        make_request(kv_dtype="int3")
    with pytest.raises(RooflineError, match="activation dtype"):
        make_request(dtype="fp16", weights="fp32")
    assert make_request(weights="bf16").dtype == "bf16"
    assert make_request(weights="int4").dtype == "fp16"


def test_missing_transformers_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'roofline\[llm\]'"):
        load_llm("hf:llama-3-8b")
