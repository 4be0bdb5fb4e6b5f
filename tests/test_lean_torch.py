"""TorchDynamo stays unimported while models are built and traced, and works in full afterwards.

The checks run in a fresh interpreter: the test process has usually imported TorchDynamo already
(``deferred_dynamo`` then does nothing, which the last test checks).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import roofline
    from roofline.sources import load_model

    out = {}
    built = load_model("resnet50")
    workload = roofline.analyze(built.model, built.default_input_shape)
    out["counts"] = [workload.flops, workload.bytes_moved, workload.peak_activation_bytes, len(workload.ops)]
    out["dynamo_after_trace"] = sorted(k for k in sys.modules if k.startswith("torch._dynamo"))
    import torch
    out["torch_attr_left"] = "_dynamo" in torch.__dict__

    # a submodule import under the placeholder imports TorchDynamo in full, and the submodule once
    from roofline.workload.lean_torch import deferred_dynamo
    with deferred_dynamo():
        import torch._dynamo.source as first
    import torch._dynamo.source as again
    builder = sys.modules["torch._dynamo.variables.builder"]  # imported by TorchDynamo's own __init__
    out["one_submodule_copy"] = (first is again is sys.modules["torch._dynamo.source"]
                                 and torch._dynamo.source is first
                                 and builder.AttrSource is first.AttrSource
                                 and first.__spec__.loader.__class__.__name__ != "_ExistingModule")

    # torchvision.ops.roi_align holds the forwarding is_compile_supported: calling it imports the real one
    import torchvision.ops as ops
    y = ops.roi_align(torch.rand(1, 3, 8, 8), torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]), 2)
    out["roi_align_shape"] = list(y.shape)
    import torch._dynamo
    out["real_dynamo"] = hasattr(torch._dynamo, "optimize") and hasattr(torch._dynamo.config, "cache_size_limit")

    compiled = torch.compile(lambda x: x * 2 + 1, backend="eager")
    out["compiled"] = compiled(torch.ones(3)).tolist()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def fresh_process() -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_and_tracing_a_torchvision_model_leaves_torchdynamo_unimported(fresh_process):
    assert fresh_process["dynamo_after_trace"] == []
    assert fresh_process["torch_attr_left"] is False


def test_torchvision_ops_and_torch_compile_work_in_full_afterwards(fresh_process):
    assert fresh_process["one_submodule_copy"] is True
    assert fresh_process["roi_align_shape"] == [1, 3, 2, 2]
    assert fresh_process["real_dynamo"] is True
    assert fresh_process["compiled"] == [3.0, 3.0, 3.0]


def test_counts_are_the_same_with_torchdynamo_imported(fresh_process):
    """The deferral changes what is imported, never what is counted: resnet50 traced here, where
    TorchDynamo is imported (the block does nothing), against the fresh process."""
    import torch._dynamo  # noqa: F401  (the block must be a no-op here)
    import roofline
    from roofline.sources import load_model

    built = load_model("resnet50")
    here = roofline.analyze(built.model, built.default_input_shape)
    assert fresh_process["counts"] == [here.flops, here.bytes_moved, here.peak_activation_bytes, len(here.ops)]


def test_disable_runs_the_function_until_torchdynamo_is_imported(monkeypatch):
    from roofline.workload import lean_torch

    calls = []

    def fn(x):
        calls.append(x)
        return x + 1

    monkeypatch.setattr(lean_torch, "_dynamo_imported", lambda: False)
    wrapped = lean_torch._disable(fn, True, wrapping=False)
    assert wrapped(1) == 2 and calls == [1]

    # once TorchDynamo is imported, the real disable wraps the function (and still calls it)
    import torch._dynamo

    seen = []
    real_disable = torch._dynamo.disable

    def spy(f, recursive=True, **kwargs):
        seen.append((f, recursive, kwargs))
        return real_disable(f, recursive, **kwargs)

    monkeypatch.setattr(torch._dynamo, "disable", spy)
    monkeypatch.setattr(lean_torch, "_dynamo_imported", lambda: True)
    assert wrapped(2) == 3 and calls == [1, 2]
    assert seen == [(fn, True, {"wrapping": False})]
    assert wrapped(3) == 4 and len(seen) == 1  # the real wrapper is kept


def test_deferral_is_a_no_op_when_torchdynamo_is_imported():
    import torch
    import torch._dynamo
    from roofline.workload.lean_torch import deferred_dynamo

    before = sys.modules["torch._dynamo"]
    with deferred_dynamo():
        assert sys.modules["torch._dynamo"] is before
        assert torch._dynamo is before
    assert sys.modules["torch._dynamo"] is before
