"""Several GPUs per replica: sharded weights, KV cache and activations, collectives from the catalog interconnect."""
import math

import pytest

from roofline.catalog import load_catalog
from roofline.constants import NCCL_BASE_LATENCY_S, NCCL_STEP_LATENCY_S, NETWORK_BANDWIDTH_BYTES_PER_S
from roofline.errors import RooflineError
from roofline.estimation import estimate_scenario
from roofline.llm.model import load_llm
from roofline.llm.parallel import (Parallelism, ParallelError, layer_weight_bytes, make_parallelism, sharded_model)
from roofline.llm.serving import LlmRequest, serving_scenario
from roofline.predict import DeviceUnusable
from roofline.predict.collectives import ALL_REDUCE, collective_time_s, link_of, wire_bytes

REQUEST = LlmRequest(prompt=64, generate=4, batch=2)


@pytest.fixture(scope="module")
def llm():
    return load_llm("hf:llama-3.2-1b")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _table(model):
    return {name: (numel * repeat, dim) for name, numel, dim, _, repeat, is_param in model.tensor_table() if is_param}


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tp_divides_every_matrix_exactly(llm, tp):
    """Every 2-D weight (attention, MLP, vocab-parallel embedding) is split exactly by T; 1-D norms are
    replicated; KV projections split while kv_heads >= T."""
    full, shard = _table(llm), _table(sharded_model(llm, Parallelism(tp)))
    assert full.keys() == shard.keys()
    assert llm.arch.kv_heads >= tp  # llama-3.2-1b has 8 KV heads
    for name, (numel, dim) in full.items():
        if dim >= 2:
            assert shard[name][0] * tp == numel, name
        else:
            assert shard[name][0] == numel, name  # norms: replicated on every GPU


def test_kv_heads_replicated_when_fewer_than_tp(llm):
    """tp = 16 > 8 KV heads: each GPU keeps one KV head, so the K/V projections are replicated twice."""
    full, shard = _table(llm), _table(sharded_model(llm, Parallelism(16)))
    k = next(n for n in full if n.endswith("k_proj.weight"))
    q = next(n for n in full if n.endswith("q_proj.weight"))
    assert shard[q][0] * 16 == full[q][0]
    assert shard[k][0] * 8 == full[k][0]  # one of 8 heads per GPU
    assert sharded_model(llm, Parallelism(16)).arch.kv_heads == 1


def test_weight_bytes_per_gpu_by_hand(llm):
    """Per GPU: the sharded matrices / T plus the replicated norms (fp16: 2 bytes per element) and buffers
    (the rotary frequencies, at their own size)."""
    tp = 4
    s = serving_scenario(llm, REQUEST, Parallelism(tp))
    matrices = sum(n for n, d in _table(llm).values() if d >= 2)
    norms = sum(n for n, d in _table(llm).values() if d < 2)
    buffers = sum(numel * size * repeat for _, numel, _, size, repeat, is_param in llm.tensor_table() if not is_param)
    assert s.weight_bytes == (matrices // tp + norms) * 2 + buffers
    assert s.gpus == tp


def test_kv_cache_per_gpu_by_hand(llm):
    a = llm.arch
    context, batch = REQUEST.context, REQUEST.batch
    # 2 (K and V) x layers x KV heads per GPU x head dim x tokens x batch x 2 bytes (fp16)
    s = serving_scenario(llm, REQUEST, Parallelism(2))
    assert s.extra_memory_bytes == 2 * a.layers * (a.kv_heads // 2) * a.head_dim * context * batch * 2
    s = serving_scenario(llm, REQUEST, Parallelism(2, 2))  # and half the layers per stage
    assert s.extra_memory_bytes == 2 * (a.layers // 2) * (a.kv_heads // 2) * a.head_dim * context * batch * 2


def test_pipeline_holds_a_stage_of_layers(llm):
    s = serving_scenario(llm, REQUEST, Parallelism(1, 2))
    layers, rest = layer_weight_bytes(llm, dtype="fp16", weights="fp16")
    assert s.weight_bytes == layers // 2 + rest
    plan = s.parallel
    assert (plan.microbatches, plan.micro_batch) == (2, 1)  # batch 2 in 2 micro-batches
    assert plan.prefill_factor() == pytest.approx((2 + 2 - 1) / 2)


def test_ring_all_reduce_bytes_per_layer(llm):
    """2 all-reduces per layer, each GPU sending 2 (T-1)/T x hidden x tokens x dtype bytes."""
    tp = 4
    plan = serving_scenario(llm, REQUEST, Parallelism(tp)).parallel
    hidden, tokens = llm.arch.hidden_size, REQUEST.batch * REQUEST.prompt
    layer = next(c for c in plan.collectives["prefill"] if c.kind == ALL_REDUCE and "per layer" in c.what)
    assert layer.count == 2 * llm.arch.layers
    assert layer.message_bytes == hidden * tokens * 2
    assert wire_bytes(layer.kind, layer.message_bytes, tp) == 2 * (tp - 1) / tp * hidden * tokens * 2
    decode = next(c for c in plan.collectives["decode"] if c.kind == ALL_REDUCE and "per layer" in c.what)
    assert decode.message_bytes == hidden * REQUEST.batch * 2


def test_collective_time_by_hand(catalog):
    """H100 SXM, NVLink 900 GB/s both directions = 450 GB/s per direction; a 4-GPU ring all-reduce of
    1 MB: 6.6 us + 6 steps x 0.6 us + 2 x 3/4 x 1e6 B / 450e9 B/s."""
    link = link_of(catalog.get("nvidia-h100-sxm"), "gpu_link")
    assert link.bandwidth_bytes_per_s == 450e9
    expected = 6.6e-6 + 6 * 0.6e-6 + 1.5e6 / 450e9
    assert collective_time_s(ALL_REDUCE, 1e6, 4, link) == pytest.approx(expected)
    assert NCCL_BASE_LATENCY_S == 6.6e-6 and NCCL_STEP_LATENCY_S["nvlink"] == 0.6e-6
    net = link_of(catalog.get("nvidia-h100-sxm"), "network")
    assert net.bandwidth_bytes_per_s == NETWORK_BANDWIDTH_BYTES_PER_S == 50e9


def test_pcie_when_no_gpu_link(catalog):
    device = catalog.get("nvidia-l4")
    assert device.gpu_link.bandwidth_bytes_per_s is None
    link = link_of(device, "gpu_link")
    assert link.name == "pcie" and link.bandwidth_bytes_per_s == device.host_link.bandwidth_bytes_per_s


def test_estimate_adds_collectives_to_each_phase(llm, catalog):
    device = catalog.get("nvidia-h100-sxm")
    single = estimate_scenario(serving_scenario(llm, REQUEST), device)
    e = estimate_scenario(serving_scenario(llm, REQUEST, Parallelism(2)), device)
    decode = e.phase("decode")
    plan = e.scenario.parallel
    link = link_of(device, "gpu_link")
    by_hand = sum(c.count * collective_time_s(c.kind, c.message_bytes, c.ranks, link)
                  for c in plan.collectives["decode"])
    assert decode.collective_s == pytest.approx(by_hand)
    assert e.metrics["decode_collective_share"] == pytest.approx(decode.collective_s / decode.latency_s)
    assert 0 < e.metrics["decode_collective_share"] < 1
    compute = decode.latency_s - decode.collective_s
    assert compute < single.phase("decode").latency_s  # half the weights per GPU
    assert e.tdp_w == 2 * device.power.tdp_w
    assert e.metrics["tokens_per_s_per_gpu"] == pytest.approx(e.metrics["tokens_per_s"] / 2)
    assert e.memory.gpus == 2 and e.memory.required_bytes < single.memory.required_bytes
    d = e.to_dict()
    assert d["parallel"]["tp"] == 2 and d["decode"]["collective_share"] == e.metrics["decode_collective_share"]


def test_single_gpu_unchanged(llm, catalog):
    device = catalog.get("nvidia-l4")
    a = estimate_scenario(serving_scenario(llm, REQUEST), device)
    b = estimate_scenario(serving_scenario(llm, REQUEST, Parallelism()), device)
    assert a.metrics == b.metrics and "parallel" not in a.to_dict()


def test_pipeline_across_nodes_uses_the_network(llm, catalog):
    device = catalog.get("nvidia-h100-sxm")  # 8-GPU NVLink domain
    e = estimate_scenario(serving_scenario(llm, LlmRequest(prompt=64, generate=4, batch=4), Parallelism(8, 2)),
                          device)
    p2p = next(c for c in e.phase("decode").collectives if c["kind"] == "point-to-point")
    # one boundary leaves the node: 50 GB/s and the network step latency
    message = p2p["message_bytes"]
    assert p2p["time_s"] == pytest.approx(NCCL_BASE_LATENCY_S + NCCL_STEP_LATENCY_S["network"]
                                          + message / NETWORK_BANDWIDTH_BYTES_PER_S)


def test_expert_parallel_splits_experts():
    llm = load_llm("hf:qwen3-30b-a3b")
    shard = sharded_model(llm, Parallelism(2, 1, 2))
    assert shard.arch.experts == llm.arch.experts // 2
    assert shard.arch.experts_per_token == llm.arch.experts_per_token // 2
    assert shard.parameters.expert * 2 == llm.parameters.expert  # expert matrices not split further (tp / ep = 1)
    plan = serving_scenario(llm, REQUEST, Parallelism(2, 1, 2)).parallel
    a2a = next(c for c in plan.collectives["decode"] if c.kind == "all-to-all")
    moe_layers = sum(1 for f in llm.arch.ffn_types if f == "moe")
    assert a2a.count == 2 * moe_layers
    tokens = REQUEST.batch
    assert a2a.message_bytes == pytest.approx(tokens / 2 * llm.arch.experts_per_token * llm.arch.hidden_size * 2 / 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tp=3), "must divide the 32 attention heads"),
    (dict(tp=2, ep=2), "dense"),
    (dict(pp=3), "must divide the 16 layers"),
])
def test_bad_layouts(llm, kwargs, message):
    with pytest.raises(ParallelError, match=message):
        serving_scenario(llm, REQUEST, make_parallelism(**kwargs))


def test_make_parallelism():
    assert make_parallelism() is None
    assert make_parallelism(gpus=4) == Parallelism(4)
    assert make_parallelism(gpus=8, pp=2) == Parallelism(4, 2)
    with pytest.raises(ParallelError, match="must equal"):
        make_parallelism(gpus=4, tp=2)
    with pytest.raises(ParallelError, match="must divide --tp"):
        make_parallelism(tp=2, ep=4)
    with pytest.raises(ParallelError, match="positive"):
        make_parallelism(gpus=0)


def test_tp_beyond_the_domain_is_refused(llm, catalog):
    with pytest.raises(DeviceUnusable, match="8-GPU"):
        estimate_scenario(serving_scenario(llm, REQUEST, Parallelism(16)), catalog.get("nvidia-h100-sxm"))


def test_forward_models_refuse_parallel():
    from roofline.resolve import load_scenario

    with pytest.raises(RooflineError, match="language models"):
        load_scenario("resnet18", parallelism=Parallelism(2))


def test_rank_gives_the_gpus_a_70b_model_needs(catalog):
    """llama-3-70b at fp16 (141 GB of weights) fits no single H100 or A100; ranking gives each the smallest
    power-of-two tensor-parallel degree whose per-GPU memory fits."""
    from roofline.decide.rank import rank

    scenario = serving_scenario(load_llm("hf:llama-3-70b"), LlmRequest(prompt=1024, generate=256))
    devices = [catalog.get("nvidia-h100-sxm"), catalog.get("nvidia-a100-80gb-sxm")]
    alone = rank(scenario, devices, max_gpus=1)
    assert not alone.ranked and {x.category for x in alone.excluded} == {"memory"}
    result = rank(scenario, devices, max_gpus=8)
    by_id = {r.estimate.device: r.estimate for r in result.ranked}
    assert set(by_id) == {"nvidia-h100-sxm", "nvidia-a100-80gb-sxm"}
    for e in by_id.values():
        assert e.memory.fits and e.scenario.gpus >= 2
        tp = e.scenario.gpus
        assert tp & (tp - 1) == 0  # a power of two
        smaller = math.ceil(scenario.weight_bytes / tp * 2)  # half as many GPUs would hold twice the weights
        assert tp == 2 or smaller > e.memory.available_bytes


def test_pipeline_prefill_bubble_and_energy_by_hand(llm, catalog):
    """pp = 2, batch 2: two micro-batches of one sequence; the prefill takes (m + pp - 1) / pp = 3/2 times the
    full depth at one micro-batch plus its sends; energy = tp x m x one trace's energy + collectives at idle."""
    device = catalog.get("nvidia-h100-sxm")
    e = estimate_scenario(serving_scenario(llm, REQUEST, Parallelism(2, 2)), device)
    prefill = e.phase("prefill")
    raw = prefill.predictions[0]
    comm = sum(c["time_s"] for c in prefill.collectives) / 1.5
    assert prefill.latency_s == pytest.approx(1.5 * (raw.latency_s + comm))
    assert e.metrics["ttft_s"] == prefill.latency_s
    idle = raw.energy.idle_w
    assert prefill.energy_j == pytest.approx(2 * 2 * raw.energy.energy_j + 4 * 1.5 * comm * idle)
    decode = e.phase("decode")
    assert e.metrics["tokens_per_s"] == pytest.approx(REQUEST.batch / decode.latency_s)
    assert e.price_usd is None or e.price_usd == 4 * device.price.launch_usd


@pytest.mark.slow
def test_rank_sorts_by_tokens_per_gpu(catalog):
    from roofline.decide.rank import rank

    scenario = serving_scenario(load_llm("hf:llama-3-70b"), LlmRequest(prompt=1024, generate=256))
    devices = [catalog.get("nvidia-h100-sxm"), catalog.get("nvidia-a100-40gb-sxm"), catalog.get("nvidia-b200")]
    result = rank(scenario, devices, sort="tokens-per-s-per-gpu")
    values = [r.estimate.metrics["tokens_per_s"] / r.estimate.scenario.gpus for r in result.ranked]
    assert len(values) == 3 and values == sorted(values, reverse=True)


def test_python_api_takes_a_layout():
    import roofline

    e = roofline.estimate("hf:llama-3.2-1b", "nvidia-h100-sxm", prompt=64, generate=4, parallelism=Parallelism(2))
    assert e.scenario.gpus == 2 and e.metrics["tp"] == 2


@pytest.mark.slow
def test_rank_adds_pipeline_stages_beyond_one_domain(catalog):
    """Llama-3.1-405B at fp16 (810 GB of weights) does not fit 8 H100 (80 GiB each): with --max-gpus 16 it
    gets two pipeline stages of TP=8, the boundary between the two nodes over the network."""
    from roofline.decide.rank import rank

    scenario = serving_scenario(load_llm("hf:llama-3.1-405b"), LlmRequest(prompt=128, generate=8))
    device = catalog.get("nvidia-h100-sxm")
    assert not rank(scenario, [device]).ranked  # the NVLink domain (8 GPUs) is not enough
    result = rank(scenario, [device], max_gpus=16)
    e = result.ranked[0].estimate
    assert e.scenario.parallel.parallelism == Parallelism(8, 2)
    assert e.memory.fits
    p2p = next(c for c in e.phase("decode").collectives if c["kind"] == "point-to-point")
    assert p2p["time_s"] > NCCL_BASE_LATENCY_S + NCCL_STEP_LATENCY_S["network"]


def test_latent_kv_is_replicated_over_tp():
    """Multi-head latent attention caches one latent per token and layer, shared by every head: tensor
    parallelism splits the heads, not the latent, so each GPU keeps the whole cache (DeepSeek-V3: 512 + 64
    entries per token and layer)."""
    from roofline.llm.parallel import stage_kv_bytes

    llm = load_llm("hf:deepseek-v3")
    shard = sharded_model(llm, Parallelism(8))
    assert shard.arch.attention_heads == llm.arch.attention_heads // 8
    assert shard.arch.kv_elements_per_token == llm.arch.kv_elements_per_token == 512 + 64
    assert stage_kv_bytes(shard, 1280, 1, 2, 1) == llm.kv_cache_bytes(1280, 1, 2) == 61 * 576 * 1280 * 2
