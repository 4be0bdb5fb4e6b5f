"""on_meta(): initialisers skipped for meta tensors only, restored afterwards, counts unchanged."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import init

import roofline
from roofline.sources.meta_build import on_meta


def test_initialisers_skip_meta_tensors_and_still_run_on_real_ones():
    real = torch.zeros(4, 4)
    with on_meta():
        layer = nn.Linear(8, 4)  # reset_parameters calls init.kaiming_uniform_ on a meta weight
        assert layer.weight.device.type == "meta"
        init.constant_(real, 3.0)  # a real tensor is initialised as always
    assert torch.equal(real, torch.full((4, 4), 3.0))


def test_functions_are_restored_after_the_block_even_on_error():
    before = {name: getattr(init, name) for name in ("normal_", "kaiming_normal_", "trunc_normal_")}
    try:
        with on_meta():
            assert init.normal_ is not before["normal_"]
            with on_meta():  # nested: the inner block wraps nothing twice
                assert not hasattr(init.normal_.__roofline_original__, "__roofline_original__")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert {name: getattr(init, name) for name in before} == before


def test_a_model_built_with_initialisers_skipped_counts_the_same():
    def build():
        return nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 30 * 30, 10))

    with on_meta():
        skipped = build()
    with torch.device("meta"):
        initialised = build()
    a = roofline.analyze(skipped, (2, 3, 32, 32))
    b = roofline.analyze(initialised, (2, 3, 32, 32))
    assert (a.flops, a.bytes_moved, a.params, len(a.ops)) == (b.flops, b.bytes_moved, b.params, len(b.ops))
    assert a.flops > 0
