"""Shape-only shortcuts in the tracer (eval-mode batch norm) record exactly what the decomposition did.

Each case traces the same module twice, once with ``tracer.SHORTCUTS`` emptied (FakeTensorMode runs
the op's decomposition) and once with it, and compares every recorded field: op names, module paths
and frames, every input and output tensor's shape, dtype, accessed elements, storage identity and
size, the FLOP cost, and the trace's input, weight and output storages.
"""
from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from roofline.workload import tracer


def _both(monkeypatch, model, inputs):
    """(trace without shortcuts, trace with them, how many ops the shortcuts answered)."""
    answered = []
    saved = dict(tracer.SHORTCUTS)
    with monkeypatch.context() as m:
        m.setattr(tracer, "SHORTCUTS", {})
        old = tracer.trace(model, inputs)

    def counting(fn):
        def wrapped(args, kwargs):
            out = fn(args, kwargs)
            answered.append(out is not None)
            return out
        return wrapped

    with monkeypatch.context() as m:
        m.setattr(tracer, "SHORTCUTS", {k: counting(v) for k, v in saved.items()})
        new = tracer.trace(model, inputs)
    return old, new, answered


def _fields(trace):
    ops = [(o.op, o.module, o.module_type, o.frames, o.inputs, o.outputs, o.cost, o.is_view, o.mutates,
            o.kind.op_class if o.kind else None) for o in trace.ops]
    return (ops, trace.input_storages, trace.weight_storages, trace.output_storages, trace.input_shapes,
            trace.unsupported, trace.calls)


def _assert_same(old, new):
    assert len(old.ops) == len(new.ops)
    for a, b in zip(_fields(old)[0], _fields(new)[0]):
        assert a == b
    assert _fields(old) == _fields(new)


class _Net(nn.Module):
    def __init__(self, norm: nn.Module, transpose: bool = False):
        super().__init__()
        self.norm = norm
        self.transpose = transpose

    def forward(self, x):
        if self.transpose:  # a non-contiguous input: the shortcut must step aside
            x = x.transpose(-1, -2)
        return torch.relu(self.norm(x) + 1)


CASES = {
    "bn2d": (lambda: _Net(nn.BatchNorm2d(8)), (2, 8, 5, 7)),
    "bn2d size-1 dims": (lambda: _Net(nn.BatchNorm2d(8)), (1, 8, 1, 1)),
    "bn2d no affine": (lambda: _Net(nn.BatchNorm2d(8, affine=False)), (2, 8, 5, 5)),
    "bn1d": (lambda: _Net(nn.BatchNorm1d(6)), (4, 6)),
    "bn1d sequence": (lambda: _Net(nn.BatchNorm1d(6)), (4, 6, 9)),
    "bn3d": (lambda: _Net(nn.BatchNorm3d(4)), (1, 4, 3, 5, 2)),
    "bn2d transposed input": (lambda: _Net(nn.BatchNorm2d(8), transpose=True), (2, 8, 5, 7)),
    "bn2d batch statistics": (lambda: _Net(nn.BatchNorm2d(8, track_running_stats=False)), (2, 8, 5, 7)),
}


class _LegitNoTraining(nn.Module):
    """Calls the eval-mode overload directly (as exported programs and some decompositions do)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        n = self.norm
        return torch.ops.aten._native_batch_norm_legit_no_training(x, n.weight, n.bias, n.running_mean,
                                                                    n.running_var, 0.1, 1e-5)[0] * 2


CASES["_native_batch_norm_legit_no_training"] = (lambda: _LegitNoTraining(8), (2, 8, 5, 7))


@pytest.mark.parametrize("case", list(CASES))
def test_batch_norm_shortcut_records_what_the_decomposition_did(monkeypatch, case):
    make, shape = CASES[case]
    old, new, answered = _both(monkeypatch, make(), shape)
    _assert_same(old, new)
    assert any("batch_norm" in o.op for o in old.ops)
    if case in ("bn2d transposed input", "bn2d batch statistics"):
        assert not any(answered)  # a strided input, batch statistics: left to the decomposition
    else:
        assert answered and all(answered)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_batch_norm_shortcut_keeps_the_input_dtype(monkeypatch, dtype):
    old, new, answered = _both(monkeypatch, _Net(nn.BatchNorm2d(8)).to(dtype), torch.empty(2, 8, 4, 4, dtype=dtype))
    _assert_same(old, new)
    assert all(answered)
    norm = next(o for o in new.ops if "batch_norm" in o.op)
    assert {t.dtype for t in norm.outputs} == {norm.inputs[0].dtype}


def test_batch_norm_shortcut_keeps_channels_last(monkeypatch):
    x = torch.empty(2, 8, 5, 7).to(memory_format=torch.channels_last)
    old, new, answered = _both(monkeypatch, _Net(nn.BatchNorm2d(8)), x)
    _assert_same(old, new)
    assert all(answered)


def test_batch_norm_shortcut_mixed_precision_statistics(monkeypatch):
    # fp16 activations with fp32 statistics (autocast-style models): the output stays fp16
    norm = nn.BatchNorm2d(8)
    old, new, answered = _both(monkeypatch, _Net(norm), torch.empty(2, 8, 4, 4, dtype=torch.float16))
    _assert_same(old, new)


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large"])
def test_torchvision_models_count_the_same(monkeypatch, name):
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = getattr(torchvision.models, name)()
    old, new, answered = _both(monkeypatch, model, (1, 3, 224, 224))
    _assert_same(old, new)
    norms = sum(1 for o in old.ops if "batch_norm" in o.op)
    assert norms > 30 and answered.count(True) == norms


def test_yolo_counts_the_same(monkeypatch):
    pytest.importorskip("ultralytics")
    import roofline

    model = roofline.load_model("ultralytics:yolo11n.yaml").model
    old, new, answered = _both(monkeypatch, model, (1, 3, 640, 640))
    _assert_same(old, new)
    assert answered and all(answered)


def test_workload_figures_are_unchanged(monkeypatch):
    """FLOPs and bytes of every op of resnet50's workload, with and without the shortcuts."""
    pytest.importorskip("torchvision")
    import roofline

    def figures():
        return roofline.analyze(roofline.load_model("resnet50").model, (1, 3, 224, 224))

    with monkeypatch.context() as m:
        m.setattr(tracer, "SHORTCUTS", {})
        before = figures()
    after = figures()
    assert before == after  # every field of every op record (FLOPs, MACs, bytes, fused bytes, working set...)
    assert [(o.flops, o.bytes_read, o.bytes_written) for o in before.ops] == \
        [(o.flops, o.bytes_read, o.bytes_written) for o in after.ops]
    assert sum(o.flops for o in before.ops) > 8e9  # resnet50 at 224x224: 4.1 GMACs, 8.2 GFLOPs


def test_rank_json_is_byte_identical(monkeypatch, run_cli):
    pytest.importorskip("torchvision")
    with monkeypatch.context() as m:
        m.setattr(tracer, "SHORTCUTS", {})
        code, before, _ = run_cli("rank", "resnet50", "--json")
    assert code == 0
    code, after, _ = run_cli("rank", "resnet50", "--json")
    assert code == 0
    assert before == after and '"device"' in before


def test_trace_pauses_the_collector_and_restores_it():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(gc.isenabled())
            return x + 1

    assert gc.isenabled()
    tracer.trace(Probe(), (2, 2))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        tracer.trace(Probe(), (2, 2))
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()

    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("no")

    with pytest.raises(Exception):
        tracer.trace(Broken(), (2, 2))
    assert gc.isenabled()
