"""Whisper served as encode + the decoder's prefill and decode steps (roofline.llm.whisper)."""
import json

import pytest

pytest.importorskip("transformers")

import roofline  # noqa: E402
from roofline.errors import RooflineError  # noqa: E402
from roofline.llm.whisper import (DEFAULT_GENERATE, DEFAULT_PROMPT, load_whisper, make_speech_request,  # noqa: E402
                                  speech_scenario)
from roofline.resolve import ModelOptions, is_speech_model, load_scenario  # noqa: E402

# whisper-small's config.json (roofline/sources/presets/whisper-small.json, from
# https://huggingface.co/openai/whisper-small/blob/main/config.json)
LAYERS, D, FFN, HEADS, FRAMES, VOCAB = 12, 768, 3072, 12, 1500, 51865
PROMPT, GENERATE, BATCH = 4, 10, 2


@pytest.fixture(scope="module")
def model():
    return load_whisper("hf:whisper-small")


@pytest.fixture(scope="module")
def scenario(model):
    return speech_scenario(model, make_speech_request(prompt=PROMPT, generate=GENERATE, batch=BATCH))


def _flops(workload, prefix, classes=("matmul", "attention")):
    """FLOPs of the ops in module ``prefix`` and its submodules (a functional op inside it carries its path)."""
    return sum(op.flops for op in workload.ops if (op.module == prefix or op.module.startswith(prefix + "."))
               and op.op_class.value in classes)


def test_whisper_presets_take_the_speech_path():
    assert is_speech_model("hf:whisper-small")
    assert not is_speech_model("hf:llama-3-8b") and not is_speech_model("hf:bert-base-uncased")
    assert not is_speech_model("resnet50") and not is_speech_model("hf:no-such-preset")


def test_phases_runs_and_units(scenario):
    assert [p.name for p in scenario.phases] == ["encode", "prefill", "decode"]
    assert [p.runs for p in scenario.phases] == [1.0, 1.0, GENERATE - 1]
    assert scenario.kind == "serving" and scenario.unit == "token"
    assert scenario.units_per_run == BATCH * GENERATE and scenario.requests_per_run == BATCH
    decode = scenario.phase("decode")
    # decode steps see self-attention KV lengths prompt .. prompt + generate - 2
    lengths = [s.workload.cache["phase"].past for s in decode.samples]
    assert lengths[0] == PROMPT and lengths[-1] == PROMPT + GENERATE - 2
    assert sum(s.share for s in decode.samples) == pytest.approx(1.0)


def test_encode_phase_encoder_layer_by_hand(scenario):
    encode = scenario.phase("encode").samples[0].workload
    assert encode.input_shapes == [(BATCH, 80, 3000)]
    t = BATCH * FRAMES
    by_hand = (4 * 2 * t * D * D                     # q, k, v, output projections
               + BATCH * 2 * 2 * FRAMES * FRAMES * D  # q @ k^T and p @ v over all heads
               + 2 * 2 * t * D * FFN)                 # fc1, fc2
    assert _flops(encode, "model.encoder.layers.0") == by_hand
    assert _flops(encode, "model.encoder.layers") == LAYERS * by_hand
    # nothing of the decoder runs in the encode phase
    assert not any(op.module.startswith("model.decoder") for op in encode.ops)


def test_decode_step_cross_attention_by_hand(scenario):
    step = scenario.phase("decode").samples[0].workload
    past = step.cache["phase"].past
    # cross-attention of one new token: q and output projections, scores and p @ v over the 1500 encoder
    # positions; its K and V come from the cache (no k_proj / v_proj)
    cross = BATCH * (2 * 2 * D * D + 2 * 2 * FRAMES * D)
    assert _flops(step, "model.decoder.layers.0.encoder_attn") == cross
    assert not any(".encoder_attn.k_proj" in op.module or ".encoder_attn.v_proj" in op.module for op in step.ops)
    # self-attention: four projections of one token, attention over past + 1 positions
    own = BATCH * (4 * 2 * D * D + 2 * 2 * (past + 1) * D)
    assert _flops(step, "model.decoder.layers.0.self_attn") == own
    # KV bytes of a step (fp16): reads the whole self cache and the cross cache, writes one token's K/V
    assert step.bytes_by_category["kv_read"] == LAYERS * BATCH * 2 * D * (past + 1 + FRAMES) * 2
    assert step.bytes_by_category["kv_write"] == LAYERS * BATCH * 2 * D * 2


def test_prefill_computes_and_stores_the_cross_attention_kv(scenario):
    prefill = scenario.phase("prefill").samples[0].workload
    kv_proj = sum(op.flops for op in prefill.ops if ".encoder_attn.k_proj" in op.module
                  or ".encoder_attn.v_proj" in op.module)
    assert kv_proj == LAYERS * 2 * 2 * BATCH * FRAMES * D * D
    # stores the prompt's self K/V and the 1500 cross K/V per layer
    assert prefill.bytes_by_category["kv_write"] == LAYERS * BATCH * 2 * D * (PROMPT + FRAMES) * 2


def test_memory_is_weights_plus_self_and_cross_kv(model, scenario):
    context = PROMPT + GENERATE
    self_kv = LAYERS * 2 * D * context * BATCH * 2
    cross_kv = LAYERS * 2 * D * FRAMES * BATCH * 2
    assert scenario.extra_memory_bytes == self_kv + cross_kv
    assert scenario.options["self_kv_bytes"] == self_kv and scenario.options["cross_kv_bytes"] == cross_kv
    params = sum(p.numel() for p in model.model("fp16").parameters())  # the tied output projection once
    assert scenario.weight_bytes == 2 * params + sum(b.numel() * b.element_size()
                                                     for b in model.model("fp16").buffers())
    # published: 244 M parameters (https://github.com/openai/whisper#available-models-and-languages)
    assert params == pytest.approx(244e6, rel=0.01)


@pytest.mark.slow
def test_int8_weights_halve_the_layer_matrices(model):
    fp16 = speech_scenario(model, make_speech_request(generate=2))
    int8 = speech_scenario(model, make_speech_request(generate=2, weights="int8"))
    assert int8.weight_bytes < fp16.weight_bytes
    step16, step8 = (s.phase("decode").samples[0].workload for s in (fp16, int8))
    assert step8.bytes_by_category["weight"] < step16.bytes_by_category["weight"]
    assert step8.flops == step16.flops


def test_estimate_ttft_is_encode_plus_prefill(scenario):
    e = roofline.estimate(scenario, "nvidia-l4")
    encode, prefill, decode = (e.phase(n) for n in ("encode", "prefill", "decode"))
    assert e.metrics["ttft_s"] == pytest.approx(encode.latency_s + prefill.latency_s)
    assert e.metrics["tpot_s"] == pytest.approx(decode.latency_s)
    assert e.latency_s == pytest.approx(e.metrics["ttft_s"] + (GENERATE - 1) * decode.latency_s)
    assert e.metrics["request_latency_s"] == pytest.approx(e.latency_s)
    assert e.memory.kv_cache_bytes == scenario.extra_memory_bytes
    assert e.throughput_per_s == pytest.approx(BATCH * GENERATE / e.latency_s)


def test_defaults_and_request_errors():
    r = make_speech_request()
    assert (r.request.prompt, r.request.generate, r.audio_seconds) == (DEFAULT_PROMPT, DEFAULT_GENERATE, 30.0)
    assert make_speech_request(audio_seconds=12.5).audio_seconds == 12.5
    for bad in (0, -1, 31, 60.0):
        with pytest.raises(RooflineError, match="audio-seconds"):
            make_speech_request(audio_seconds=bad)
    with pytest.raises(RooflineError, match="positions"):
        speech_scenario("hf:whisper-small", make_speech_request(prompt=4, generate=445))
    with pytest.raises(RooflineError):
        load_scenario("hf:whisper-small", options=ModelOptions(imgsz=224))
    with pytest.raises(RooflineError, match="audio-seconds"):
        load_scenario("resnet18", options=ModelOptions(audio_seconds=10))


@pytest.mark.slow
def test_cli_predict_and_rank(run_cli):
    code, out, err = run_cli("predict", "hf:whisper-small", "--device", "nvidia-l4", "--generate", "6", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["generate"] == 6 and data["audio_seconds"] == 30.0
    assert {"encode", "prefill", "decode"} <= set(data)
    assert data["ttft_s"] == pytest.approx(data["encode"]["latency_s"] + data["prefill"]["latency_s"])
    code, out, err = run_cli("rank", "hf:whisper-small", "--devices", "nvidia-l4,nvidia-t4,nvidia-h100-sxm",
                             "--generate", "6", "--json")
    assert code == 0, err
    ranked = json.loads(out)["ranked"]
    assert {r["device"] for r in ranked} == {"nvidia-l4", "nvidia-t4", "nvidia-h100-sxm"}
    for args in (("--audio-seconds", "45"), ("--imgsz", "224")):
        code, out, err = run_cli("predict", "hf:whisper-small", "--device", "nvidia-l4", *args)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (args, err)
    code, out, err = run_cli("predict", "resnet18", "--device", "nvidia-l4", "--audio-seconds", "10")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


# Published: https://github.com/openai/whisper#available-models-and-languages (rounded, "39 M"...);
# the presets other than whisper-small take layers, width and heads from Table 1 of the paper.
PRESETS = {"whisper-tiny": (4, 384, 39e6), "whisper-base": (6, 512, 74e6), "whisper-small": (12, 768, 244e6),
           "whisper-medium": (24, 1024, 769e6), "whisper-large-v2": (32, 1280, 1550e6)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_whisper_presets_parameters_near_the_published_counts(name):
    layers, width, published = PRESETS[name]
    m = load_whisper(f"hf:{name}")
    assert (m.arch.layers, m.arch.encoder_layers, m.arch.hidden_size) == (layers, layers, width)
    assert is_speech_model(f"hf:{name}")
    counted = sum(p.numel() for p in m.model("fp16").parameters())
    assert m.parameters.total == counted
    # the published figures are rounded and a little higher for the small sizes (tiny: 37.8 M counted)
    assert counted == pytest.approx(published, rel=0.035)
    assert counted < published


def test_whisper_tiny_scenario_memory_by_hand():
    s = speech_scenario("hf:whisper-tiny", make_speech_request(generate=3, batch=1, kv_dtype="fp8"))
    assert [p.name for p in s.phases] == ["encode", "prefill", "decode"]
    layers, width = 4, 384
    assert s.extra_memory_bytes == layers * 2 * width * (DEFAULT_PROMPT + 3) * 1 + layers * 2 * width * FRAMES * 1


def test_fp8_activations_are_a_one_line_error(run_cli):
    with pytest.raises(RooflineError, match="fp16, bf16 or fp32"):
        make_speech_request(dtype="fp8")
    code, out, err = run_cli("predict", "hf:whisper-small", "--device", "nvidia-l4", "--dtype", "fp8")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
