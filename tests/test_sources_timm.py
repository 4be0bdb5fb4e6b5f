"""timm:NAME builds any timm model without weights; counts agree with timm and torch's counter."""
import warnings

import pytest
import torch

import roofline
from roofline.errors import UnknownModelError
from roofline.sources import load_model

timm = pytest.importorskip("timm")

# CNNs, ViTs, ConvNeXt, EfficientNet, MobileNetV3/V4, Swin, RegNet and a few other families
MODELS = [
    "resnet18", "resnet50", "vgg11", "dla34",
    "vit_tiny_patch16_224", "vit_small_patch16_224", "deit_tiny_patch16_224",
    "convnext_atto", "convnextv2_atto",
    "efficientnet_b0", "efficientnet_b2",
    "mobilenetv3_large_100", "mobilenetv3_small_100", "mobilenetv4_conv_small", "mobilenetv4_hybrid_medium",
    "swin_tiny_patch4_window7_224", "regnetx_002", "regnety_004",
]
# heavier ones (a few seconds each on a loaded 2-core host)
SLOW_MODELS = ["vit_base_patch16_224", "convnext_tiny", "mixer_b16_224", "efficientvit_b0", "densenet121", "levit_128"]


def _reference(name: str, shape):
    """timm's own parameter count and torch's FlopCounterMode on the same architecture (meta tensors)."""
    from torch.utils.flop_counter import FlopCounterMode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False).eval()
    params = sum(p.numel() for p in model.parameters())  # as count_params in timm's benchmark.py
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(shape, device="meta"))
    return params, counter.get_total_flops()


def _check(name: str):
    built = load_model(f"timm:{name}")
    cfg = timm.get_pretrained_cfg(name)
    assert built.default_input_shape == (1, *cfg.input_size)
    workload = roofline.analyze(built.model, built.default_input_shape)
    params, flops = _reference(name, built.default_input_shape)
    assert workload.params == params
    assert workload.matmul_flops == flops
    assert workload.flops >= workload.matmul_flops > 0
    assert not workload.unsupported_ops


@pytest.mark.parametrize("name", MODELS)
def test_timm_counts_match_timm_and_torch_counter(name):
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_MODELS)
def test_timm_counts_match_timm_and_torch_counter_larger_models(name):
    _check(name)


TWINS = [("resnet50", "resnet50"), ("convnext_tiny", "convnext_tiny"), ("vit_base_patch16_224", "vit_b_16"),
         ("efficientnet_b0", "efficientnet_b0"), ("mobilenetv3_large_100", "mobilenet_v3_large")]


@pytest.mark.parametrize("timm_name,tv_name", TWINS)
def test_timm_and_torchvision_twins_count_the_same_macs(timm_name, tv_name):
    pytest.importorskip("torchvision")
    ours = load_model(f"timm:{timm_name}")
    twin = load_model(tv_name)
    assert ours.default_input_shape == twin.default_input_shape == (1, 3, 224, 224)
    a = roofline.analyze(ours.model, ours.default_input_shape)
    b = roofline.analyze(twin.model, twin.default_input_shape)
    assert abs(a.macs - b.macs) <= 0.01 * b.macs


def test_pretrained_tag_sets_the_input_size():
    built = load_model("timm:vit_base_patch16_384.augreg_in21k_ft_in1k")
    assert built.default_input_shape == (1, *timm.get_pretrained_cfg("vit_base_patch16_384.augreg_in21k_ft_in1k")
                                         .input_size) == (1, 3, 384, 384)


def test_built_on_meta_without_weights():
    built = load_model("timm:resnet18")
    assert all(p.device.type == "meta" for p in built.model.parameters())
    assert not built.model.training


def test_typo_suggests_close_names():
    with pytest.raises(UnknownModelError) as info:
        load_model("timm:convnxt_tiny")
    message = str(info.value)
    assert "timm:convnext_tiny" in message and "\n" not in message


def test_typo_from_cli_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("profile", "timm:resnet5O")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "timm:resnet50" in err


def test_profile_cli_uses_the_pretrained_input_size(run_cli):
    import json

    code, out, err = run_cli("profile", "timm:efficientnet_b2", "--json", "--top", "1")
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shape"] == [1, *timm.get_pretrained_cfg("efficientnet_b2").input_size]
    assert data["params"] == sum(p.numel() for p in load_model("timm:efficientnet_b2").model.parameters())
