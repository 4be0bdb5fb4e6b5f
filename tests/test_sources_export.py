"""torch.export programs are counted by the same tracer as the eager model."""
import json

import pytest
import torch
from torch import nn

import roofline
from roofline.errors import RooflineError
from roofline.sources import load_model

torchvision = pytest.importorskip("torchvision")


def _same_counts(a, b):
    assert a.flops == b.flops and a.macs == b.macs and a.matmul_flops == b.matmul_flops
    assert a.bytes_moved == b.bytes_moved and a.bytes_fused == b.bytes_fused
    assert a.params == b.params and a.weight_bytes == b.weight_bytes
    assert a.peak_activation_bytes == b.peak_activation_bytes
    assert not a.unsupported_ops


@pytest.mark.slow
def test_exported_program_counts_like_the_eager_model():
    model = torchvision.models.resnet18().eval()
    program = torch.export.export(model, (torch.randn(1, 3, 224, 224),))
    ours = roofline.analyze(program)  # shapes from the program's example inputs
    _same_counts(ours, roofline.analyze(model, (1, 3, 224, 224)))
    assert "layer1.0.conv1" in {op.module for op in ours.ops}  # the module hierarchy survives


class _Tagger(nn.Module):
    """Token ids in, logits out: an integer input and an attention block."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, ids):
        x = self.embed(ids)
        return self.head(self.attn(x, x, x, need_weights=False)[0])


def test_integer_inputs_keep_their_dtype():
    model = _Tagger().eval()
    program = torch.export.export(model, (torch.zeros(2, 16, dtype=torch.long),))
    ref = roofline.analyze(model, (torch.zeros(2, 16, dtype=torch.long),))
    _same_counts(roofline.analyze(program), ref)
    # a shape instead of the example keeps the example's integer dtype
    _same_counts(roofline.analyze(program, (2, 16)), ref)


@pytest.mark.slow
def test_pt2_file_from_the_cli(tmp_path, run_cli):
    model = torchvision.models.mobilenet_v3_small().eval()
    path = tmp_path / "mnv3.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 224, 224),)), str(path))
    built = load_model(str(path))
    assert built.default_input_shape == (1, 3, 224, 224)
    code, out, err = run_cli("profile", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    ref = roofline.analyze(model, (1, 3, 224, 224))
    assert data["flops"] == ref.flops and data["params"] == ref.params


def test_broken_pt2_is_a_one_line_error(tmp_path, run_cli):
    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(RooflineError):
        load_model(str(bad))
    code, out, err = run_cli("profile", str(bad))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
