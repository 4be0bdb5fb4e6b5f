"""No silent zeros: every aten op a model issues has a formula, is a documented zero-FLOP op, or is
reported; sorting, selection, scans, FFTs and accumulating scatters are counted by hand-derived rules."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import roofline
from roofline.errors import TraceError
from roofline.workload import formulas

ROOT = Path(__file__).resolve().parents[1]


def _coverage_module():
    spec = importlib.util.spec_from_file_location("op_coverage", ROOT / "benchmarks" / "op_coverage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("op_coverage", module)
    spec.loader.exec_module(module)
    return module


coverage = _coverage_module()


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def counted(fn, *shapes, op: str):
    """The FLOPs of the one record of aten op ``op`` when ``fn`` runs on fake inputs of ``shapes``."""
    w = roofline.analyze(Fn(fn), shapes if len(shapes) > 1 else shapes[0])
    assert not w.unsupported_ops, w.unsupported_ops
    records = [o for o in w.ops if o.op == op]
    assert len(records) == 1, [o.op for o in w.ops]
    return records[0].flops


# ------------------------------------------------------------------ hand-derived formulas

def test_sort_is_n_log2_n_comparisons_per_row():
    # 4 rows of 8: 4 * 8 * log2(8) = 96
    assert counted(lambda x: torch.sort(x, dim=-1), (4, 8), op="aten.sort.default") == 96
    # along dim 0: 8 rows of 4, stable overload: 8 * 4 * 2 = 64
    assert counted(lambda x: torch.sort(x, dim=0, stable=True), (4, 8), op="aten.sort.stable") == 64
    # argsort is a sort; a row of 5 needs ceil(log2 5) = 3 levels: 3 * 5 * 3 = 45
    assert counted(lambda x: torch.argsort(x, dim=1), (3, 5), op="aten.sort.default") == 45


def test_topk_selects_then_sorts_the_kept():
    # 2 rows of 10, k = 3: per row 10 selections + 3 * ceil(log2 3) = 6 -> 2 * 16 = 32
    assert counted(lambda x: torch.topk(x, 3), (2, 10), op="aten.topk.default") == 32
    # k = 1 is a max: one comparison per element
    assert counted(lambda x: torch.topk(x, 1, dim=0), (6, 4), op="aten.topk.default") == 24


def test_selection_and_binary_search():
    assert counted(lambda x: torch.kthvalue(x, 2, dim=1), (2, 10), op="aten.kthvalue.default") == 20
    assert counted(lambda x: torch.median(x), (2, 10), op="aten.median.default") == 20
    assert counted(lambda x: torch.median(x, dim=0), (2, 10), op="aten.median.dim") == 20
    # 10 values into 7 boundaries: ceil(log2 8) = 3 comparisons each
    assert counted(lambda x, b: torch.searchsorted(b, x), (10,), (7,), op="aten.searchsorted.Tensor") == 30
    assert counted(lambda x, b: torch.bucketize(x, b), (10,), (7,), op="aten.bucketize.Tensor") == 30


def test_scans():
    assert counted(lambda x: torch.cumsum(x, 1), (2, 8), op="aten.cumsum.default") == 16
    assert counted(lambda x: torch.cumprod(x, 1), (2, 8), op="aten.cumprod.default") == 16
    assert counted(lambda x: torch.logcumsumexp(x, 1), (2, 8), op="aten.logcumsumexp.default") == 3 * 16


def test_fft_follows_fftw_convention():
    # real input of 16 points, 3 transforms: 3 * 2.5 * 16 * log2(16) = 480
    assert counted(lambda x: torch.fft.rfft(x), (3, 16), op="aten._fft_r2c.default") == 480
    # the inverse real transform back to 16 points costs the same
    assert counted(lambda x: torch.fft.irfft(torch.fft.rfft(x), n=16), (3, 16), op="aten._fft_c2r.default") == 480
    # complex 2-D transform over (4, 8) = 32 points, 2 of them: 2 * 5 * 32 * log2(32) = 1600
    assert counted(lambda x: torch.fft.fft2(x.to(torch.complex64)), (2, 4, 8), op="aten._fft_c2c.default") == 1600
    # a transform of one point does nothing
    assert counted(lambda x: torch.fft.fft(x.to(torch.complex64)), (5, 1), op="aten._fft_c2c.default") == 0


def test_accumulating_scatters_count_one_add_per_value():
    idx = torch.zeros(3, 4, dtype=torch.long)
    assert counted(lambda x: torch.zeros(3, 4).scatter_add(0, idx, x), (3, 4), op="aten.scatter_add.default") == 12
    i3 = torch.zeros(3, dtype=torch.long)
    assert counted(lambda x: torch.zeros(5).index_add(0, i3, x), (3,), op="aten.index_add.default") == 3
    assert counted(lambda x: torch.zeros(5).index_put((i3,), x, accumulate=True), (3,),
                   op="aten.index_put.default") == 3
    # without accumulate, index_put only moves data
    assert counted(lambda x: torch.zeros(5).index_put((i3,), x), (3,), op="aten.index_put.default") == 0


def test_data_dependent_op_is_a_one_line_error_naming_op_and_module():
    class Picker(nn.Module):
        def forward(self, x):
            return torch.nonzero(x > 0)

    model = nn.Sequential(nn.Linear(4, 4), Picker())
    with pytest.raises(TraceError) as info:
        roofline.analyze(model, (2, 4))
    message = str(info.value)
    assert "module '1' (Picker)" in message and "aten.nonzero" in message
    assert "depends on tensor values" in message and "\n" not in message
    assert "aten.addmm.default" in [op.op for op in info.value.partial_ops]


def test_reading_a_computed_value_is_named_as_such():
    class Branch(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(TraceError, match=r"reads a computed tensor's value .*data-dependent control flow"):
        roofline.analyze(Branch(), (2, 4))


def test_data_dependent_ops_are_not_silently_zero_in_the_registry():
    for packet in formulas.DATA_DEPENDENT:
        assert packet not in formulas.REGISTRY
    for name in ("sort", "topk", "cumsum", "_fft_c2c", "_fft_r2c", "_fft_c2r"):
        kind = formulas.REGISTRY[getattr(torch.ops.aten, name)]
        assert kind.formula is not None and kind.rule


def test_every_registered_op_has_a_rule():
    missing = sorted({str(p) for p, k in formulas.REGISTRY.items() if not k.rule})
    assert not missing


def test_classify():
    assert coverage.classify("aten.mm.default")[:2] == ("formula", "matmul")
    assert coverage.classify("aten.cat.default")[0] == "zero"
    assert coverage.classify("aten.view.default")[0] == "view"
    assert coverage.classify("aten.nonzero.default")[0] == "not traceable"
    assert coverage.classify("aten.histc.default")[0] == "unsupported"
    assert coverage.classify("aten.cummax.default")[0] == "unsupported"
    assert coverage.classify("nosuch.op.default")[0] == "unsupported"


# ------------------------------------------------------------------ representative models

def _families_available():
    only = {"resnet18", "vit_b_16", "mobilenet_v3_small", "swin_t", "lraspp_mobilenet_v3_large",
            "ssdlite320_mobilenet_v3_large", "yolo11n.yaml", "llama-3-8b"}
    families = ["torchvision", "segmentation", "detection"]
    for module, family in (("ultralytics", "yolo"), ("transformers", "hf")):
        try:
            __import__(module)
            families.append(family)
        except ImportError:
            pass
    return tuple(families), only


def _check(results):
    rows = coverage.coverage(results)
    unsupported = [r.op for r in rows if r.status == "unsupported"]
    assert not unsupported, unsupported
    for r in results:
        if r.error is not None:
            # only value-dependent post-processing may stop a trace, and it names the op
            assert "depends on tensor values" in r.error, (r.name, r.error)
            assert r.ops, r.name  # the ops before it are still classified
    return rows


@pytest.mark.slow
def test_every_op_of_representative_models_is_classified():
    families, only = _families_available()
    results = coverage.sweep(families, only=only)
    assert {r.name for r in results} == {n for n in only if any(r.name == n for r in results)}
    assert len(results) >= 6
    rows = _check(results)
    statuses = {r.status for r in rows}
    assert {"formula", "zero", "view"} <= statuses
    # the table lists each op once, with where it was seen
    assert len({r.op for r in rows}) == len(rows)
    assert all(r.models for r in rows)
    text = coverage.markdown(results, rows)
    assert "`convolution.default` | conv |" in text


@pytest.mark.slow
def test_full_sweep_has_no_unsupported_op():
    pytest.importorskip("ultralytics")
    pytest.importorskip("transformers")
    pytest.importorskip("timm")
    results = coverage.sweep()
    by_family = {}
    for r in results:
        by_family.setdefault(r.family, []).append(r)
    assert len(by_family["torchvision"]) >= 80 and len(by_family["yolo"]) == 10 and len(by_family["timm"]) >= 20
    assert all(r.error is None for f, rs in by_family.items() if f != "detection" for r in rs)
    _check(results)
    assert math.isfinite(sum(r.seconds for r in results))
