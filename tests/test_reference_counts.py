"""Whole-model counts against independent references: torchvision's metadata, Ultralytics'
printed figures, and torch.utils.flop_counter."""
import pytest
import torch
from torch import nn

import roofline

torchvision = pytest.importorskip("torchvision")

from roofline.sources.torchvision_models import build, classification_models  # noqa: E402


# a few families in the default run; the whole sweep of every classification model is marked slow
QUICK = {"resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16", "convnext_tiny", "shufflenet_v2_x0_5"}


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in classification_models()])
def test_torchvision_macs_and_params_match_weights_metadata(name):
    built = build(name)
    expected_gmacs = built.meta["_ops"]  # torchvision labels it GFLOPS; it is forward GMACs
    w = roofline.analyze(built.model, built.default_input_shape)
    gmacs = w.macs / 1e9
    assert abs(gmacs - expected_gmacs) <= 0.005 * expected_gmacs or round(gmacs, 3) == pytest.approx(expected_gmacs), \
        f"{name}: {gmacs:.4f} GMACs vs _ops {expected_gmacs}"
    assert w.params == built.meta["num_params"]
    assert w.matmul_flops == 2 * w.macs
    assert not w.unsupported_ops


def test_torchvision_list_is_complete():
    assert len(classification_models()) == 80


@pytest.mark.parametrize("config,params,gflops", [("yolo11n.yaml", 2_624_080, 6.7), ("yolov8n.yaml", 3_157_200, 8.9)])
def test_ultralytics_matches_model_info(config, params, gflops):
    pytest.importorskip("ultralytics")
    built = roofline.load_model(f"ultralytics:{config}")
    w = roofline.analyze(built.model, (1, 3, 640, 640))
    assert w.params == params
    assert w.flops / 1e9 == pytest.approx(gflops, rel=0.03)
    assert not w.unsupported_ops


def test_matches_torch_flop_counter_on_real_tensors():
    from torch.utils.flop_counter import FlopCounterMode

    model = torchvision.models.mobilenet_v3_small().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(2, 3, 224, 224))
    assert roofline.analyze(model, (2, 3, 224, 224)).matmul_flops == counter.get_total_flops()


def test_counts_attention_where_torch_counter_misses_it_on_cpu():
    from torch.utils.flop_counter import FlopCounterMode

    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    model = SelfAttention()
    x = torch.randn(2, 16, 64)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    ours = roofline.analyze(model, (2, 16, 64))
    projections = 2 * (2 * 16 * 64 * 64 * 4)  # q, k, v and output projections
    attention = 4 * 2 * 16 * 16 * 64  # q @ k^T and p @ v over all heads
    assert ours.matmul_flops == projections + attention
    # torch's counter sees the CPU fast path (_native_multi_head_attention) as an unknown op
    assert counter.get_total_flops() < ours.matmul_flops


def test_sdpa_counted_on_cpu_tensors():
    from torch.utils.flop_counter import FlopCounterMode

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.randn(1, 2, 32, 16)
    with FlopCounterMode(display=False) as counter:
        Attn()(q, q, q)
    ours = roofline.analyze(Attn(), ((1, 2, 32, 16),) * 3)
    assert ours.flops == 4 * 1 * 2 * 32 * 32 * 16
    assert counter.get_total_flops() in (0, ours.flops)  # 0 where the CPU kernel is missing from its registry
