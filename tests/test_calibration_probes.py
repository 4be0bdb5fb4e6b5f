"""Probe cases: exact FLOP/byte conventions, plans within their time limits, a tiny real run."""
from __future__ import annotations

import json

import pytest

from roofline.calibration.host import parse_cache_size, parse_lscpu_caches, read_sysfs_caches
from roofline.calibration.probes import (
    PLANS,
    STAGES,
    DtypeSupport,
    SuitePlan,
    SuiteResult,
    Stage,
    activation_case,
    batch_norm_case,
    build_plan,
    conv_case,
    gemm_case,
    layer_norm_case,
    Measurement,
    memory_working_sets,
    merge_passes,
    reduction_case,
    run_suite,
    softmax_case,
    stream_case,
)


def test_gemm_costs():
    c = gemm_case(8, 4096, 1024, "fp32", "gemm_m8")
    assert c.flops == 2 * 8 * 1024 * 4096
    assert c.bytes == 4 * (8 * 4096 + 4096 * 1024 + 8 * 1024)
    assert gemm_case(64, 64, 64, "bf16", "x").bytes == 2 * 3 * 64 * 64
    i8 = gemm_case(32, 64, 16, "int8", "x")
    assert i8.bytes == 32 * 64 + 64 * 16 + 4 * 32 * 16  # int32 output


def test_conv_costs_follow_the_counter():
    c = conv_case("conv3x3", 1, 64, 64, 56, 3)
    assert c.flops == 2 * 1 * 64 * 56 * 56 * 64 * 9
    assert c.bytes == 4 * (64 * 56 * 56 + 64 * 64 * 9 + 64 * 56 * 56)
    s = conv_case("conv3x3_s2", 8, 64, 128, 56, 3, 2)
    assert s.shape["stride"] == 2 and s.flops == 2 * 8 * 128 * 28 * 28 * 64 * 9
    dw = conv_case("dwconv5x5", 1, 240, 0, 28, 5, depthwise=True)
    assert dw.op_class == "depthwise_conv" and dw.shape["groups"] == 240 and dw.shape["C_out"] == 240
    assert dw.flops == 2 * 240 * 28 * 28 * 1 * 25
    assert dw.bytes == 4 * (240 * 28 * 28 + 240 * 25 + 240 * 28 * 28)


def test_elementwise_reduction_norm_costs():
    assert activation_case("gelu", 1000).flops == 5000 and activation_case("relu", 1000).bytes == 8000
    assert activation_case("sigmoid", 10).flops == 40
    assert reduction_case("sum", 4, 10).flops == 40 and reduction_case("mean", 4, 10).flops == 44
    assert reduction_case("sum", 4, 10).bytes == 4 * 44
    assert softmax_case(4, 10).flops == 200 and softmax_case(4, 10).op_class == "softmax"
    ln = layer_norm_case(16, 768)
    assert ln.flops == 7 * 16 * 768 and ln.bytes == 4 * (2 * 16 * 768 + 2 * 768 + 2 * 16)
    bn = batch_norm_case(1, 64, 56, 56)
    assert bn.flops == 4 * 64 * 56 * 56 and bn.bytes == 4 * (2 * 64 * 56 * 56 + 4 * 64)


def test_stream_costs_and_sweep():
    assert stream_case("copy", 1000).bytes == 8000 and stream_case("copy", 1000).flops == 0
    assert stream_case("triad", 1000).bytes == 12000 and stream_case("triad", 1000).flops == 2000
    ws = memory_working_sets(128 << 20, 1)
    assert ws[0] == 16 * 1024 and ws[-1] == 128 << 20 and len(ws) == 14
    assert len(memory_working_sets(128 << 20, 2)) == 27


def test_cache_parsers(tmp_path):
    assert parse_cache_size("32K") == 32768 and parse_cache_size("32 MiB") == 32 << 20
    assert parse_cache_size("junk") is None
    for i, (lvl, typ, size, shared) in enumerate([(1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"),
                                                  (2, "Unified", "2048K", "0"), (3, "Unified", "30M", "0-7")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for f, v in (("level", lvl), ("type", typ), ("size", size), ("shared_cpu_list", shared)):
            (d / f).write_text(f"{v}\n")
    levels = read_sysfs_caches(tmp_path)
    assert [(c.level, c.size_bytes, c.shared_cpus) for c in levels] == [(1, 48 << 10, 1), (2, 2 << 20, 1),
                                                                         (3, 30 << 20, 8)]
    lscpu = "L1d cache:  64 KiB (2 instances)\nL1i cache: 64 KiB (2 instances)\nL2 cache: 2 MiB (2 instances)\n" \
            "L3 cache:   32 MiB (1 instance)\n"
    assert [(c.level, c.size_bytes) for c in parse_lscpu_caches(lscpu)] == [(1, 32768), (2, 1 << 20), (3, 32 << 20)]


def test_plans_fit_their_time_limits_and_list_every_stage():
    dtypes = {d: DtypeSupport(d, True, "test", 1.6e11) for d in ("fp32", "bf16", "int8")}
    dtypes["fp16"] = DtypeSupport("fp16", False, "slow", 3e9)
    quick = build_plan("quick", dtypes=dtypes, threads=2)
    full = build_plan("full", dtypes=dtypes, threads=2)
    assert [s.name for s in quick.stages] == list(STAGES)
    assert quick.estimated_s < 45 and full.estimated_s < 300  # the documented targets: 60 s and 5 min
    assert full.n_cases > quick.n_cases
    assert any(s.name == "gemm/fp16" for s in quick.skipped)
    names = [c.name for s in quick.stages for c in s.cases]
    assert len(names) == len(set(names))
    for s in quick.stages:
        for c in s.cases:
            assert c.flops >= 0 and (c.bytes > 0 or c.op_class in ("view", "module")) and c.est_s > 0
    only = build_plan("quick", stages=["dispatch"], threads=2)
    assert [s.name for s in only.stages] == ["dispatch"]
    with pytest.raises(ValueError, match="unknown stage"):
        build_plan("quick", stages=["nope"])


def test_tiny_real_run_returns_sane_numbers():
    cases = [gemm_case(64, 64, 64, "fp32", "gemm_square"), stream_case("copy", 1 << 16),
             activation_case("relu", 4096)]
    plan = SuitePlan(PLANS["quick"], "cpu", [Stage("tiny", cases, 0.3)])
    events = []
    res = run_suite(plan, threads=1, progress=lambda *a: events.append(a))
    assert isinstance(res, SuiteResult) and res.threads == 1
    assert [m.name for m in res.measurements] == [c.name for c in cases]
    for m in res.measurements:
        assert 1e-8 < m.median_s < 1.0 and m.n >= 5
        assert m.p10_s <= m.median_s <= m.p90_s and m.dispersion >= 0
    mm = res.measurements[0]
    assert 1e8 < mm.achieved_flops_per_s < 1e13  # between a slow core and a big GPU
    assert 1e8 < res.measurements[1].achieved_bytes_per_s < 1e13
    assert events[0] == ("tiny", 0, 3, 0.3) and events[-1][:3] == ("tiny", 3, 3)
    assert type(res.host.torch_version) is str and res.host.date_utc.endswith("+00:00")
    assert res.stages[0].elapsed_s > 0
    back = SuiteResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.measurements == res.measurements and back.host == res.host


def _measured(p10_s: float) -> Measurement:
    return Measurement("gemm/fp32/x", "gemm", "matmul", "gemm_square", "fp32", {}, 100, 10, 1.1 * p10_s, 0.9 * p10_s,
                       p10_s, 1.2 * p10_s, 0.05, 7, False)


def test_merge_passes_keeps_the_median_pass():
    merged = merge_passes([_measured(1.30e-3), _measured(1.00e-3), _measured(1.05e-3)])
    assert merged.p10_s == 1.05e-3 and merged.median_s == pytest.approx(1.1 * 1.05e-3)  # one pass, whole
    assert merged.passes == 3 and merged.pass_spread == pytest.approx(0.30)
    assert merge_passes([_measured(2e-3), _measured(1e-3)]).p10_s == 1e-3  # of two, the faster
    single = merge_passes([_measured(1e-3)])
    assert single.passes == 1 and single.pass_spread == 0.0


def test_passes_time_every_case_in_each_pass():
    import dataclasses

    cases = [stream_case("copy", 1 << 12), activation_case("relu", 4096)]
    params = dataclasses.replace(PLANS["quick"], passes=3, budget_s=0.01)
    plan = SuitePlan(params, "cpu", [Stage("a", cases[:1], 0.1), Stage("b", cases[1:], 0.1)])
    events, passes_done = [], []
    res = run_suite(plan, threads=1, progress=lambda *a: events.append(a), after_pass=passes_done.append)
    assert passes_done == [0, 1, 2] and plan.estimated_s == pytest.approx(0.6)
    assert [m.name for m in res.measurements] == [c.name for c in cases]
    assert all(m.passes == 3 and m.pass_spread >= 0 for m in res.measurements)
    assert [e[:3] for e in events if e[0] == "a"][-1] == ("a", 3, 3)  # one bar per stage, every pass counted
    assert res.timing["passes"] == 3 and [s.name for s in res.stages] == ["a", "b"]


@pytest.mark.slow
def test_slow_dtype_is_not_driven_to_its_largest_shapes():
    # a "dtype" whose calls run 1000x slower than the plan estimated: after two cases the guard
    # predicts the rest are over the limit and skips them with the reason, instead of running them
    import time as _time

    from roofline.calibration.probes import ProbeCase

    def slow_case(i: int) -> ProbeCase:
        def make(device):
            return lambda: _time.sleep(0.01 * 2**i)
        return ProbeCase(f"gemm/slow/{i}", "gemm", "matmul", "gemm_square", "slow", {"i": i}, 1, 1, make,
                         est_call_s=1e-4 * 2**i * 0.01 * 100, est_s=0.01)

    cases = [slow_case(i) for i in range(6)]  # 10, 20, 40 ... 320 ms per call
    plan = SuitePlan(PLANS["quick"], "cpu", [Stage("gemm", cases, 1.0)])
    t0 = _time.perf_counter()
    res = run_suite(plan, threads=1)
    assert _time.perf_counter() - t0 < 8
    ran = [m.name for m in res.measurements]
    skipped = {s.name: s.reason for s in res.skipped}
    assert ran[:2] == ["gemm/slow/0", "gemm/slow/1"]
    assert "gemm/slow/5" in skipped and "exceeds" in skipped["gemm/slow/5"]
