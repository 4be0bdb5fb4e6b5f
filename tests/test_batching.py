"""Continuous batching in steady state (roofline.llm.batching): KV-limited concurrency, the step composed
from traced decode corners, throughput against concurrency, queueing, goodput under SLOs, request mixes."""
import math

import pytest

pytest.importorskip("transformers")

from roofline.errors import RooflineError  # noqa: E402
from roofline.llm.batching import (ContinuousBatching, MixError, RequestMix, erlang_c, load_mix,  # noqa: E402
                                   wait_quantile)

MODEL = "hf:llama-3.2-1b"


@pytest.fixture(scope="module")
def llm():
    from roofline.llm.model import load_llm

    return load_llm(MODEL)


@pytest.fixture(scope="module")
def h100(llm):
    return ContinuousBatching(llm, "nvidia-h100-sxm", mix=RequestMix.fixed(1024, 256))


def test_kv_limited_concurrency_by_hand(h100, llm):
    from roofline.llm.trace import trace_phase, weight_bytes
    from roofline.predict.memory import usable_memory

    limit = h100.kv_limit()
    # Llama-3.2-1B: 16 layers x 8 KV heads x 64 (head dim) x 2 (K and V) x 2 bytes (fp16) per token
    per_token = 16 * 8 * 64 * 2 * 2
    assert limit.kv_bytes_per_token == per_token == 32768
    # a sequence of 1024 + 256 tokens holds on average 1024 + (256 + 1) / 2 tokens over its residency
    assert limit.mean_resident_tokens == 1152.5
    assert limit.kv_bytes_per_sequence == per_token * 1152.5
    usable, _ = usable_memory(h100.device)
    weights = weight_bytes(llm, dtype="fp16")
    assert limit.weight_bytes == weights and limit.workspace_bytes == 512 * 2**20
    # the activations: the peak of a step of C decode tokens + C x 1024 / 256 prefill tokens
    c = limit.max_concurrency
    step_tokens = c + c * 1024 // 256
    traced = trace_phase(llm, batch=step_tokens, query=1, past=1151)
    assert limit.activation_bytes == pytest.approx(traced.peak_activation_bytes, rel=1e-3)
    free = usable - weights - limit.activation_bytes - 512 * 2**20
    assert c == math.floor(free / (per_token * 1152.5)) or c == math.floor(free / (per_token * 1152.5)) - 1
    assert 2000 < c < 2200  # about 82 GB free / 37.8 MB per sequence


def test_composed_decode_equals_a_traced_step_op_by_op(h100, llm):
    from roofline.llm.trace import trace_phase

    for batch, past in ((3, 1100), (3000, 1250)):
        composed = h100.decode_workload(batch, past)
        traced = trace_phase(llm, batch=batch, query=1, past=past)
        assert len(composed) == len(traced.ops)
        for x, y in zip(composed, traced.ops):
            assert (x.flops, x.bytes_read, x.bytes_written, x.bytes_fused) == \
                (y.flops, y.bytes_read, y.bytes_written, y.bytes_fused), (batch, past, x.op, x.module)


def test_step_carries_the_balanced_prefill(llm):
    """ISL = OSL = 256: each step carries C prefill tokens, 1/64 of a request per sequence; its FLOPs are those of
    a decode step at the mean KV length plus that share of a traced 256-token prefill (head aside)."""
    from roofline.llm.trace import trace_phase

    cb = ContinuousBatching(llm, "nvidia-h100-sxm", mix=RequestMix.fixed(256, 256))
    c = 64
    step = cb.step_workload(c)
    mean_past = 256 + (256 + 1) / 2 - 1
    lo, hi = trace_phase(llm, batch=c, query=1, past=int(mean_past)), trace_phase(llm, batch=c, query=1,
                                                                                  past=int(mean_past) + 1)
    decode = lo.flops + (hi.flops - lo.flops) * (mean_past - int(mean_past))
    prefill = trace_phase(llm, batch=1, query=256, past=0)
    expected = decode + prefill.flops * c / 256
    # the head (final norm, LM head) runs on C + C / 256 tokens in the step, on 1 token in the traced prefill
    assert step.flops == pytest.approx(expected, rel=1e-4)
    assert step.flops > decode * 1.5  # the prefill share is there (about as many prefill as decode tokens)


def test_throughput_rises_with_concurrency_until_the_kv_limit(h100):
    cmax = h100.kv_limit().max_concurrency
    levels = [1, 2, 8, 32, 128, 512, cmax]
    rates = [h100.at_concurrency(c).output_tokens_per_s for c in levels]
    assert all(b > a for a, b in zip(rates, rates[1:])), rates
    best = h100.max_throughput()
    assert best.concurrency == cmax and best.output_tokens_per_s == rates[-1]
    with pytest.raises(RooflineError, match="exceed the KV-limited concurrency"):
        h100.at_concurrency(cmax + 1)
    assert best.kv_utilization == 1.0
    # TPOT (the step) grows with concurrency
    steps = [h100.at_concurrency(c).tpot_s for c in levels]
    assert all(b >= a for a, b in zip(steps, steps[1:]))


def test_at_rate_satisfies_littles_law(h100):
    point = h100.at_rate(50.0)
    # concurrency = rate x E[osl] x step time
    assert point.concurrency == pytest.approx(50.0 * 256 * point.step_s, rel=1e-6)
    assert point.requests_per_s == pytest.approx(50.0, rel=1e-6)
    assert point.ttft_s >= 2 * point.step_s  # one chunk of 1024 tokens + one step to join
    with pytest.raises(RooflineError, match="exceeds the replica's maximum"):
        h100.at_rate(h100.max_throughput().requests_per_s * 1.01)


def test_goodput_never_falls_when_an_slo_is_loosened(h100):
    ttfts = [0.01, 0.03, 0.1, 0.5, 2.0]
    tpots = [0.004, 0.008, 0.02, 0.05]
    by_ttft = []
    for ttft in ttfts:
        g = h100.goodput(ttft_s=ttft, tpot_s=0.02)
        by_ttft.append(g.requests_per_s if g else 0.0)
    assert all(b >= a for a, b in zip(by_ttft, by_ttft[1:])), by_ttft
    assert by_ttft[-1] > by_ttft[0]
    by_tpot = []
    for tpot in tpots:
        g = h100.goodput(ttft_s=0.5, tpot_s=tpot)
        by_tpot.append(g.requests_per_s if g else 0.0)
    assert all(b >= a for a, b in zip(by_tpot, by_tpot[1:])), by_tpot
    assert by_tpot[-1] > by_tpot[0]
    g = h100.goodput(ttft_s=0.5, tpot_s=0.02)
    assert g.ttft_s <= 0.5 and g.tpot_s <= 0.02
    # no SLO a request at one sequence cannot meet
    assert h100.goodput(tpot_s=h100.at_concurrency(1).tpot_s / 2) is None


def test_erlang_c_and_the_wait_quantile():
    # M/M/1: P(wait) = rho; M/M/2 at offered load 1: 1/3 (Erlang C by hand)
    assert erlang_c(1, 0.6) == pytest.approx(0.6)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # M/M/1, mu = 10/s, lam = 6/s: P(W > t) = 0.6 exp(-4 t); p99 at t = ln(60) / 4
    assert wait_quantile(1, 6.0, 0.1, 0.99, 1.0) == pytest.approx(math.log(60) / 4)
    assert wait_quantile(1, 6.0, 0.1, 0.99, 0.5) == pytest.approx(math.log(60) / 8)  # deterministic service
    assert wait_quantile(1, 10.0, 0.1, 0.99, 1.0) == math.inf
    assert wait_quantile(100, 1.0, 1.0, 0.99, 1.0) == 0.0  # 100 slots, 1 busy on average


def test_request_mix_file(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("- {isl: 1000, osl: 100, weight: 3}\n- {isl: 200, osl: 500, weight: 1}\n")
    mix = load_mix(path)
    assert mix.mean_isl == pytest.approx((3 * 1000 + 200) / 4)
    assert mix.mean_osl == pytest.approx((3 * 100 + 500) / 4)
    # residency-weighted resident tokens: weights x osl
    expected = (3 * 100 * (1000 + 50.5) + 500 * (200 + 250.5)) / (3 * 100 + 500)
    assert mix.mean_resident_tokens == pytest.approx(expected)
    assert mix.isl_quantile(0.99) == 1000 and mix.isl_quantile(0.2) == 200
    assert mix.osl_cv2 > 0 and RequestMix.fixed(10, 10).osl_cv2 == 0
    json_path = tmp_path / "mix.json"
    json_path.write_text('[{"isl": 128, "osl": 32}]')
    assert load_mix(json_path).classes[0].weight == 1.0


@pytest.mark.parametrize("text,message", [
    ("- {isl: 0, osl: 10}\n", "isl must be a positive integer"),
    ("- {isl: 10}\n", "missing 'osl'"),
    ("- {isl: 10, osl: 5, weight: -1}\n", "weight must be a positive number"),
    ("- {isl: 10, osl: 5, prompt: 3}\n", "unknown key 'prompt'"),
    ("isl: 10\n", "non-empty list"),
    ("- [1, 2\n", "not valid YAML or JSON"),
])
def test_request_mix_file_errors(tmp_path, text, message):
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    with pytest.raises(MixError, match=message) as info:
        load_mix(path)
    assert "\n" not in str(info.value)


def test_missing_mix_file_and_bad_lengths(tmp_path):
    with pytest.raises(MixError, match="not found"):
        load_mix(tmp_path / "nowhere.yaml")
    with pytest.raises(MixError, match="--isl must be a positive integer"):
        RequestMix.fixed(0, 10)


def test_tensor_parallel_replica_shards_weights_and_kv_and_adds_collectives(llm):
    from roofline.llm.parallel import Parallelism, layer_weight_bytes, sharded_model

    one = ContinuousBatching(llm, "nvidia-h100-sxm", mix=RequestMix.fixed(1024, 256))
    two = ContinuousBatching(llm, "nvidia-h100-sxm", mix=RequestMix.fixed(1024, 256), parallelism=Parallelism(tp=2))
    assert two.gpus_per_replica == 2 and one.collective_s(64) == 0.0
    layers, rest = layer_weight_bytes(sharded_model(llm, Parallelism(tp=2)), dtype="fp16", weights="fp16")
    assert two.kv_limit().weight_bytes == layers + rest
    # 8 KV heads over 2 GPUs: each GPU holds half of every token's KV
    assert two.kv_limit().kv_bytes_per_token == one.kv_limit().kv_bytes_per_token / 2
    assert two.kv_limit().max_concurrency > 2 * one.kv_limit().max_concurrency
    assert two.collective_s(64) > 0
    assert two.step_s(64) == pytest.approx(two._predict(64).latency_s + two.collective_s(64))
    point = two.at_concurrency(64)
    assert point.output_tokens_per_s_per_gpu == pytest.approx(point.output_tokens_per_s / 2)


def test_max_throughput_within_1_5x_of_a_published_figure():
    """TensorRT-LLM's perf overview (docs/llm.md): Llama 3.1 8B FP8 on one H100 SXM, ISL/OSL 1000/1000,
    15,220 output tokens/s at maximum load; predicted with an FP8 KV cache."""
    cb = ContinuousBatching("hf:llama-3.1-8b", "nvidia-h100-sxm", mix=RequestMix.fixed(1000, 1000), dtype="fp8",
                            kv_dtype="fp8")
    ratio = cb.max_throughput().output_tokens_per_s / 15220
    assert 1 / 1.5 < ratio < 1.5, ratio
