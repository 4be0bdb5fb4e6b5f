"""Probe families costed by the counter itself (calibration/traced.py) and their place in the predictor."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from roofline.calibration import traced
from roofline.calibration.fit import fit_call_costs, fit_suite
from roofline.calibration.probes import PLANS, DtypeSupport, Measurement, SuitePlan, Stage, build_plan, run_suite
from roofline.catalog.calibration import PREDICTED_FAMILIES, ProbeFamily
from roofline.predict.model import CALIBRATION_FAMILIES, _calibration_family
from roofline.workload import analyze

from test_calibration_fit import _synthetic_suite


class _After(nn.Module):
    """A 3x3 convolution followed by ``fn``: the probed op inside a network, not on its own."""

    def __init__(self, channels: int, fn):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.conv(x))


def _network_op(module: nn.Module, shape, op_name: str):
    ops = [op for op in analyze(module, shape).ops if op.op.split(".")[1] == op_name]
    assert ops, f"{op_name} not issued"
    return ops[-1]


@pytest.mark.parametrize("case, fn, op_name", [
    (lambda: traced.clone_case("permute", 1, 96, 56), lambda y: y.permute(0, 2, 3, 1).contiguous(), "clone"),
    (lambda: traced.channel_shuffle_case(1, 232, 28), lambda y: torch.nn.functional.channel_shuffle(y, 2),
     "channel_shuffle"),
    (lambda: traced.pad_case(1, 64, 56), lambda y: torch.nn.functional.pad(y, (1, 1, 1, 1)), "constant_pad_nd"),
    (lambda: traced.upsample_case("nearest", 1, 128, 40),
     lambda y: torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest"), "upsample_nearest2d"),
    (lambda: traced.upsample_case("bilinear", 1, 128, 40),
     lambda y: torch.nn.functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False),
     "upsample_bilinear2d"),
    (lambda: traced.layer_norm_cl_case(1, 96, 56),
     lambda y: torch.nn.functional.layer_norm(y.permute(0, 2, 3, 1), (96,)), "native_layer_norm"),
])
def test_single_input_probe_costs_what_the_counter_counts_inside_a_network(case, fn, op_name):
    c = case()
    n, ch, h = c.shape["N"], c.shape["C"], c.shape["H"]
    op = _network_op(_After(ch, fn), (n, ch, h, h), op_name)
    if c.family == "layer_norm_cl":  # the probe's norm has weight and bias; this one has none
        assert c.flops > op.flops and c.bytes > op.bytes_read + op.bytes_written
    else:
        assert (c.flops, c.bytes) == (op.flops, op.bytes_read + op.bytes_written)
    assert CALIBRATION_FAMILIES[_calibration_family(op)] == c.family


@pytest.mark.parametrize("kind, shape", [("max", (1, 64, 112, 3, 2, 1, False)), ("max", (1, 64, 111, 3, 2, 0, True)),
                                         ("max", (1, 480, 28, 3, 1, 1, True)), ("avg", (1, 128, 56, 2, 2, 0, False)),
                                         ("avg", (1, 192, 35, 3, 1, 1, False))])
def test_pooling_probes_cost_what_the_counter_counts_inside_a_network(kind, shape):
    n, ch, h, k, stride, padding, ceil = shape
    case = traced.pool_case(kind, *shape)
    pool = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, stride, padding, ceil_mode=ceil)
    op = _network_op(_After(ch, pool), (n, ch, h, h), "max_pool2d_with_indices" if kind == "max" else "avg_pool2d")
    assert (case.flops, case.bytes) == (op.flops, op.bytes_read + op.bytes_written)
    # by hand: each output reads k x k inputs (FLOPs) and the bytes are the input read and output written
    out = (h + 2 * padding - k + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= h + padding:
        out -= 1
    assert op.outputs[0].shape == (n, ch, out, out)
    assert op.flops == n * ch * out * out * k * k
    assert case.stage == "reduction" and case.op_class == "reduction"
    assert CALIBRATION_FAMILIES[_calibration_family(op)] == f"{kind}_pool"


def test_pooling_families_are_in_both_plans():
    for plan in ("quick", "full"):
        families = {c.family for c in traced.pooling_cases(plan == "full")}
        assert families == {"max_pool", "avg_pool"}
    assert {"max_pool", "avg_pool"} <= {f.value for f in PREDICTED_FAMILIES}


def test_cat_embedding_gather_probes_match_the_counter():
    cat = traced.cat_case(1, 116, 116, 28)
    net = _After(116, lambda y: torch.cat([y, y * 2], 1))
    op = _network_op(net, (1, 116, 28, 28), "cat")
    assert (cat.flops, cat.bytes) == (op.flops, op.bytes_read + op.bytes_written) and cat.bytes == 2 * 4 * 2 * 116 * 784
    assert CALIBRATION_FAMILIES[_calibration_family(op)] == "cat"

    emb = traced.embedding_case(512, 768, 128)
    op = _network_op(nn.Sequential(nn.Embedding(512, 768), nn.LayerNorm(768)),
                     torch.zeros(1, 128, dtype=torch.long, device="meta"), "embedding")
    assert (emb.flops, emb.bytes) == (op.flops, op.bytes_read + op.bytes_written)
    assert CALIBRATION_FAMILIES[_calibration_family(op)] == "embedding"
    for case in (traced.gather_case(64, 4096, 64), traced.index_select_case(1024, 64, 64)):
        assert case.flops == 0 and case.bytes > 0 and case.family in CALIBRATION_FAMILIES


@pytest.mark.parametrize("groups, k, stride, family", [(2, 3, 1, "gconv3x3"), (32, 3, 1, "gconv3x3"),
                                                        (64, 3, 2, "gconv3x3_s2"), (128, 7, 1, "dwconv7x7"),
                                                        (1, 1, 1, "conv1x1")])
def test_conv_probes_match_the_counter_and_map_to_their_family(groups, k, stride, family):
    c_out = 128 if groups > 1 else 32
    case = traced.grouped_conv_case(1, 128, 28, groups, k, stride, c_out,
                                    family="conv1x1" if groups == 1 else None)
    assert case.family == family and case.shape["groups"] == groups
    ho = (28 + 2 * (k // 2) - k) // stride + 1
    assert case.flops == 2 * c_out * ho * ho * (128 // groups) * k * k  # 2 x MACs, no bias
    net = nn.Sequential(nn.ReLU(), nn.Conv2d(128, c_out, k, stride, k // 2, groups=groups, bias=False))
    op = _network_op(net, (1, 128, 28, 28), "convolution")
    assert (case.flops, case.bytes) == (op.flops, op.bytes_read + op.bytes_written)
    assert CALIBRATION_FAMILIES[_calibration_family(op)] == family


def test_activation_probes_are_what_the_counter_counts():
    from roofline.calibration.probes import activation_case

    for name, module in (("gelu", nn.GELU()), ("silu", nn.SiLU()), ("hardswish", nn.Hardswish()),
                         ("sigmoid", nn.Sigmoid())):
        case = activation_case(name, 4096)
        (op,) = [o for o in analyze(module, (4096,)).ops if not o.is_view]
        assert (case.flops, case.bytes) == (op.flops, op.bytes_read + op.bytes_written), name
        assert CALIBRATION_FAMILIES[_calibration_family(op)] == name


def test_every_new_family_is_predicted_and_listed():
    names = {f.value for f in PREDICTED_FAMILIES}
    for fam in ("gconv3x3", "gconv3x3_s2", "dwconv7x7", "layer_norm_cl", "cat", "clone", "channel_shuffle", "pad",
                "upsample_nearest", "upsample_bilinear", "embedding", "index_select", "gather"):
        assert fam in names and ProbeFamily(fam)
    dtypes = {"fp32": DtypeSupport("fp32", True, "test", 1.6e11)}
    plan = build_plan("full", dtypes=dtypes, threads=1)
    families = {c.family for s in plan.stages for c in s.cases}
    assert names - {"conv1x1_s2"} <= families | {"dwconv5x5_s2", "conv3x3_s2"}
    assert {"view", "module_call"} <= families


def test_view_and_module_probes_count_their_calls_and_no_bytes():
    v = traced.view_case("chunk", 16)
    assert v.shape["views"] == 16 and v.flops == 0 and v.bytes == 0 and v.op_class == "view"
    m = traced.module_call_case(32)
    assert m.shape["count"] == 32 and m.bytes == 0 and m.op_class == "module"


def test_per_call_cost_is_the_slope_not_the_mean():
    # 2 us per call plus 10 us for the whole chain: the mean per call would read 2.3-3.25 us
    pts = [(k, 2e-6 * k + 10e-6) for k in (8, 32, 128)]
    assert traced.per_call_cost(pts) == pytest.approx(2e-6)
    assert traced.per_call_cost([(16, 32e-6)]) == pytest.approx(2e-6)
    assert traced.per_call_cost([]) is None


def _call_measurement(op_class: str, family: str, shape: dict, t: float) -> Measurement:
    return Measurement(f"dispatch/{family}/{shape}", "dispatch", op_class, family, "fp32", shape, 0, 0, t, t, t, t,
                       0.01, 9, False)


def test_fit_records_view_and_module_costs_and_the_predictor_charges_them():
    res = _synthetic_suite()
    res.measurements += [_call_measurement("view", "view", {"views": k, "count": k}, 0.8e-6 * k + 3e-6)
                         for k in (4, 16)]
    res.measurements += [_call_measurement("module", "module_call", {"count": k, "views": 0}, 1.5e-6 * k + 4e-6)
                         for k in (8, 32, 128)]
    assert fit_call_costs(res.measurements) == (pytest.approx(0.8e-6), pytest.approx(1.5e-6))
    fit = fit_suite(res)
    assert fit.view_overhead_s == pytest.approx(0.8e-6) and fit.module_call_s == pytest.approx(1.5e-6)
    d = fit.to_dict()
    assert d["view_overhead_s"] == pytest.approx(0.8e-6) and d["module_call_s"] == pytest.approx(1.5e-6)

    from roofline.calibrate import build_device_file
    from roofline.catalog import DeviceSpec
    from roofline.predict import predict

    with_costs = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="host-with"))
    fit.view_overhead_s = fit.module_call_s = None
    without = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="host-without"))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            y, z = x.chunk(2, 1)
            return torch.cat([self.a(y), self.b(z)], 1)

    w = analyze(Net(), (1, 8, 16, 16))
    views = sum(op.is_view for op in w.ops)
    calls = len(w.trace.calls)
    assert views >= 1 and calls == 3
    extra = predict(w, with_costs).latency_s - predict(w, without).latency_s
    assert extra == pytest.approx(views * 0.8e-6 + calls * 1.5e-6, rel=1e-6)


def test_a_tiny_real_run_of_the_new_families():
    cases = [traced.cat_case(1, 8, 8, 8), traced.view_case("slice", 4), traced.module_call_case(8),
             traced.grouped_conv_case(1, 16, 8, 4), traced.embedding_case(64, 16, 8)]
    res = run_suite(SuitePlan(PLANS["quick"], "cpu", [Stage("tiny", cases, 0.2)]), threads=1)
    assert [m.name for m in res.measurements] == [c.name for c in cases]
    assert all(0 < m.p10_s < 0.1 and math.isfinite(m.median_s) for m in res.measurements)


def test_gemm_probe_cost_agrees_with_the_counter():
    from roofline.calibration.probes import gemm_case

    for m, k, n in ((1, 4096, 1024), (8, 256, 256), (512, 512, 512)):
        case = gemm_case(m, k, n, "fp32", "gemm_square")
        (op,) = analyze(traced._Call(lambda a, b: torch.mm(a, b))(), ((m, k), (k, n))).ops
        assert (case.flops, case.bytes) == (op.flops, op.bytes_read + op.bytes_written)


class _ScoresOf(nn.Module):
    def forward(self, x):
        return torch.bmm(x, x.transpose(1, 2))


@pytest.mark.parametrize("rows, family", [(1, "gemm_m1"), (2, "gemm_m8"), (8, "gemm_m8"), (16, "gemm_m8"),
                                          (17, "gemm_m64"), (64, "gemm_m64"), (127, "gemm_m64"), (128, None)])
def test_linear_layers_take_the_skinny_gemm_family_of_their_row_count(rows, family):
    for bias in (True, False):  # addmm with a bias, mm without
        op = _network_op(nn.Sequential(nn.Linear(256, 512, bias=bias), nn.ReLU()), (rows, 256),
                         "addmm" if bias else "mm")
        index = _calibration_family(op)
        assert (CALIBRATION_FAMILIES[index] if index >= 0 else None) == family
    # a batched matmul (attention scores over one query row) is not a weight GEMM: the class's fit
    assert _calibration_family(_network_op(_ScoresOf(), (4, 1, 64), "bmm")) == -1


def test_a_calibrated_decode_step_uses_the_skinny_gemm_fit():
    """One row through a Linear is predicted with gemm_m1's fit (here 4x slower than the square GEMMs)."""
    from roofline.calibrate import build_device_file
    from roofline.catalog import DeviceSpec
    from roofline.predict import predict
    from test_calibration_fit import _m

    suite = _synthetic_suite()
    suite.measurements = [m for m in suite.measurements if m.family != "gemm_m1"]
    for kk in (256, 512, 1024, 2048, 4096):  # weight streaming at 1/8 of the level bandwidth
        f, b = 2 * kk * kk, 4 * (kk * kk + 2 * kk)
        suite.measurements.append(_m(f"gemm/1/{kk}", "gemm", "matmul", "gemm_m1", f, b, b / (0.125 * 20e9) + 4e-6))
    fit = fit_suite(suite)
    m1 = fit.families["gemm_m1/fp32"]
    device = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="synthetic"))
    layer = nn.Linear(4096, 4096, bias=False)  # 64 MiB of weights: main memory, like the probes above
    one = predict(analyze(layer, (1, 4096)), device, tier="calibrated", include_ops=True)
    (mm,) = [o for o in one.ops if o.op.startswith("aten.mm")]
    expected = mm.bytes / (m1.bandwidth_fraction * 20e9) + m1.overhead_s
    assert mm.time_s == pytest.approx(expected, rel=0.05)
    assert mm.time_s > 3 * mm.bytes / (0.5 * 20e9)  # the matmul class's rate would be 4x faster
