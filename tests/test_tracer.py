"""Tracing behaviour: fake tensors, meta models, the user's model left untouched, clear errors."""
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import roofline
from roofline.errors import RooflineError, TraceError


def test_input_forms_agree():
    model = nn.Linear(8, 4)
    by_shape = roofline.analyze(model, (2, 8))
    by_tensor = roofline.analyze(model, torch.zeros(2, 8))
    by_tuple = roofline.analyze(model, (torch.zeros(2, 8),))
    by_dict = roofline.analyze(model, {"input": torch.zeros(2, 8)})
    assert by_shape.flops == by_tensor.flops == by_tuple.flops == by_dict.flops == 2 * 2 * 8 * 4


def test_model_is_left_exactly_as_it_was():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.regnet_y_400mf()  # cannot be built on meta: real weights, faked for tracing
    model.train()
    before = {k: (v.data_ptr(), v.clone()) for k, v in model.state_dict().items()}
    params_before = [id(p) for p in model.parameters()]
    w = roofline.analyze(model, (1, 3, 224, 224))
    assert w.params == sum(p.numel() for p in model.parameters())
    assert model.training and all(m.training for m in model.modules())
    assert [id(p) for p in model.parameters()] == params_before
    for k, v in model.state_dict().items():
        ptr, value = before[k]
        assert v.data_ptr() == ptr and v.device.type == "cpu"
        assert torch.equal(v, value), k  # batch-norm running stats were not updated


def test_plain_tensor_attributes_are_restored():
    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.scale = torch.tensor(2.0)
            self.anchors = None

        def forward(self, x):
            self.anchors = x.new_ones(3)  # models cache derived tensors on themselves
            return self.lin(x) * self.scale.item()

    m = Cache()
    scale = m.scale
    roofline.analyze(m, (1, 4))
    assert m.anchors is None and m.scale is scale


def test_forward_error_names_the_module():
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Bad()))
    with pytest.raises(TraceError, match=r"module '1\.1' \(Bad\).*boom"):
        roofline.analyze(model, (1, 4))


def test_wrong_rank_input_is_a_clear_error():
    with pytest.raises(TraceError, match=r"module '' \(Conv2d\)|Conv2d"):
        roofline.analyze(nn.Conv2d(3, 8, 3), (3, 32))


def test_bad_inputs():
    with pytest.raises(RooflineError, match="non-positive"):
        roofline.analyze(nn.Linear(2, 2), (0, 2))
    with pytest.raises(RooflineError, match="nn.Module"):
        roofline.analyze(lambda x: x, (1, 2))
    with pytest.raises(RooflineError, match="unsupported dtype"):
        roofline.analyze(nn.Linear(2, 2), (1, 2), dtype="fp12")


def test_module_attribution():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.BatchNorm2d(4), nn.ReLU()))
    w = roofline.analyze(model, (1, 3, 8, 8))
    assert [(o.module, o.module_type) for o in w.ops if not o.is_view] == [
        ("0", "Conv2d"), ("1.0", "BatchNorm2d"), ("1.1", "ReLU")]


def test_trainable_params_are_counted_separately():
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 2))
    model[0].weight.requires_grad_(False)
    w = roofline.analyze(model, (1, 10))
    assert w.params == 110 + 22 and w.trainable_params == 10 + 22


def test_shared_weights_counted_once():
    lin = nn.Linear(6, 6, bias=False)
    w = roofline.analyze(nn.Sequential(lin, lin), (1, 6))
    assert w.params == 36 and w.macs == 2 * 36


@pytest.mark.slow
def test_20b_parameter_meta_model_in_seconds_and_little_memory():
    # 19 layers of 32768 x 32768 = 20.4 B parameters on the meta device; a fresh process so the
    # resident-memory figure is this analysis alone.
    code = textwrap.dedent(r"""
        import re, time, torch, roofline
        from torch import nn
        with torch.device("meta"):
            model = nn.Sequential(*[nn.Linear(32768, 32768, bias=False) for _ in range(19)])
        t = time.perf_counter()
        w = roofline.analyze(model, (1, 32768))
        elapsed = time.perf_counter() - t
        # VmHWM: this process's peak resident memory (ru_maxrss would inherit the parent's across exec)
        rss = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
        print(w.params, w.flops, elapsed, rss)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    params, flops, elapsed, rss = out.stdout.split()
    assert int(params) == 19 * 32768 * 32768 > 20e9
    assert int(flops) == 2 * int(params)
    # "in seconds": a loose bound so a busy machine does not fail it; the figure is in docs/performance.md
    assert float(elapsed) < 60, elapsed
    assert float(rss) < 2e9, rss


def test_counts_inside_inference_mode():
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
    with torch.inference_mode():
        w = roofline.analyze(model, (2, 16))
    assert w.macs == 2 * 16 * 16 and w.flops > 2 * w.macs
