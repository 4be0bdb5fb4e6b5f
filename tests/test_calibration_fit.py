"""Fits: saturating curve, roofline per class, memory plateaus, overhead, the whole-suite fit."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from roofline.calibration.fit import (
    CalibrationFit,
    find_plateau_boundaries,
    fit_memory_levels,
    fit_overhead,
    fit_roofline,
    fit_saturating,
    fit_suite,
    level_capacities,
    segment_plateaus,
)
from roofline.calibration.host import CacheLevel, HostInfo
from roofline.calibration.probes import DtypeSupport, Measurement, StageReport, SuiteResult


def test_saturating_fit_recovers_known_curve_from_noisy_data():
    rng = np.random.default_rng(0)
    p_max, f_half = 1.5e11, 4.0e6
    flops = np.geomspace(f_half / 30, f_half * 3000, 25)
    t = (flops + f_half) / p_max * rng.lognormal(0.0, 0.03, flops.size)
    fit = fit_saturating(flops, t)
    assert fit.peak_flops_per_s == pytest.approx(p_max, rel=0.05)
    assert fit.half_saturation_flops == pytest.approx(f_half, rel=0.05)
    assert fit.overhead_s == pytest.approx(f_half / p_max, rel=0.05)
    for f in flops:
        assert fit.achieved_flops_per_s(f) == pytest.approx(p_max * f / (f + f_half), rel=0.05)
    assert fit.residual_rel_rms < 0.06 and not fit.poor


def test_saturating_fit_is_robust_to_one_outlier():
    p_max, f_half = 2e10, 1e5
    flops = np.geomspace(1e3, 1e9, 20)
    t = (flops + f_half) / p_max
    t[7] *= 5  # one run disturbed by another process
    fit = fit_saturating(flops, t)
    assert fit.peak_flops_per_s == pytest.approx(p_max, rel=0.02)
    assert fit.half_saturation_flops == pytest.approx(f_half, rel=0.05)
    assert fit.residual_rel_max > 0.7  # the outlier still shows in the residuals (prediction 1/5 of it)


def test_saturating_fit_flags_a_shape_it_cannot_follow():
    flops = np.geomspace(1e3, 1e9, 20)
    t = np.where(np.arange(20) % 2 == 0, flops / 1e10, flops / 1e11) + 1e-6
    assert fit_saturating(flops, t).poor


def test_roofline_fit_recovers_compute_and_memory_roofs():
    rng = np.random.default_rng(1)
    P, f, t0, bw = 1.6e11, 0.6, 3e-6, 3e10
    m = np.array([1, 8, 64, 256, 512, 1024] * 3)
    k = np.repeat([1024, 2048, 4096], 6)
    flops = 2.0 * m * k * k
    nbytes = 4.0 * (m * k + k * k + m * k)
    t = np.maximum(flops / P, nbytes / (f * bw)) + t0
    t *= rng.lognormal(0.0, 0.02, t.size)
    p_fit, f_fit, t0_fit, pred = fit_roofline(flops, nbytes, np.full(t.size, bw), t)
    assert p_fit == pytest.approx(P, rel=0.05)
    assert f_fit == pytest.approx(f, rel=0.05)
    assert np.max(np.abs(pred / t - 1)) < 0.1


def test_plateaus_recover_known_bandwidths_at_cache_sizes():
    rng = np.random.default_rng(2)
    caps = [("L1", 48 * 1024), ("L2", 2 << 20), ("L3", 32 << 20)]
    truth = {"L1": 400e9, "L2": 150e9, "L3": 90e9, "DRAM": 20e9}
    ws = np.geomspace(8 * 1024, 512 << 20, 40)

    def true_bw(w: float) -> float:
        for name, cap in caps:
            if w <= cap:
                return truth[name]
        return truth["DRAM"]

    bw = np.array([true_bw(w) for w in ws]) * rng.lognormal(0.0, 0.03, ws.size)
    levels = segment_plateaus(ws, bw, caps)
    assert [lv.name for lv in levels] == ["L1", "L2", "L3", "DRAM"]
    for lv in levels:
        assert lv.n_points >= 2
        assert lv.bandwidth_bytes_per_s == pytest.approx(truth[lv.name], rel=0.05)
        assert not lv.poor
    assert levels[-1].max_working_set_bytes is None
    assert levels[1].max_working_set_bytes == 2 << 20


def test_plateau_boundaries_found_without_cache_sizes():
    ws = np.geomspace(16 * 1024, 256 << 20, 30)
    bw = np.where(ws <= 1 << 20, 200e9, np.where(ws <= 32 << 20, 100e9, 25e9))
    cuts = find_plateau_boundaries(ws, bw)
    assert len(cuts) == 2
    for cut, cap in zip(cuts, (1 << 20, 32 << 20)):  # between the last point inside and the first outside
        assert ws[ws <= cap].max() < cut < ws[ws > cap].min()
    levels = segment_plateaus(ws, bw)
    assert [round(lv.bandwidth_bytes_per_s / 1e9) for lv in levels] == [200, 100, 25]


def test_level_capacities_add_private_caches_over_threads():
    caches = [CacheLevel(1, 32768, 1, "Data"), CacheLevel(2, 1 << 20, 1), CacheLevel(3, 32 << 20, 2)]
    assert level_capacities(caches, 2, 2) == [("L1", 65536), ("L2", 2 << 20), ("L3", 32 << 20)]
    assert level_capacities(caches, 1, 2) == [("L1", 32768), ("L2", 1 << 20), ("L3", 32 << 20)]


# ---------------------------------------------------------------- whole-suite fit on synthetic measurements

def _m(name, stage, op_class, family, flops, nbytes, t, noisy=False, dtype="fp32"):
    return Measurement(name, stage, op_class, family, dtype, {}, int(flops), int(nbytes), t, t, t, t,
                       0.3 if noisy else 0.01, 20, noisy)


def _synthetic_suite() -> SuiteResult:
    caps = [CacheLevel(1, 32 * 1024, 1, "Data"), CacheLevel(2, 1 << 20, 1), CacheLevel(3, 16 << 20, 1)]
    level_bw = [(64 * 1024, 300e9), (2 << 20, 150e9), (32 << 20, 80e9), (math.inf, 20e9)]

    def bw_of(ws):
        return next(b for cap, b in level_bw if ws <= cap)

    ms = []
    t0 = 1e-6
    for fam in ("add_out_1", "copy_1", "mul_scalar_1", "triad_1", "mm_8x8"):
        ms.append(_m(f"dispatch/{fam}", "dispatch", "overhead", fam, 1, 8, t0))
    for ws in np.geomspace(16 * 1024, 256 << 20, 25):
        for k in ("copy", "scale", "add", "triad"):
            ms.append(_m(f"memory/{k}/{ws:.0f}", "memory", "memory", f"stream_{k}", 0, ws, ws / bw_of(ws) + t0))
    P, t_mm = 1.6e11, 4e-6
    for n in (64, 128, 256, 512, 1024):
        f, b = 2 * n**3, 12 * n * n
        ms.append(_m(f"gemm/{n}", "gemm", "matmul", "gemm_square", f, b, max(f / P, b / (0.5 * bw_of(b))) + t_mm))
    for mm in (1, 8):
        for kk in (1024, 4096):
            f, b = 2 * mm * kk * kk, 4 * (kk * kk + 2 * mm * kk)
            ms.append(_m(f"gemm/{mm}/{kk}", "gemm", "matmul", f"gemm_m{mm}", f, b,
                         max(f / P, b / (0.5 * bw_of(b))) + t_mm))
    for n in (4096, 32768, 262144, 2097152, 8388608):
        b = 8 * n
        ms.append(_m(f"elementwise/relu/{n}", "elementwise", "elementwise", "relu", n, b, b / (0.7 * bw_of(b)) + 2e-6))
    return SuiteResult(
        plan="quick", device="cpu", threads=2,
        host=HostInfo("Test CPU", 2, 2, "2.x", "3.11", "Linux", "2026-01-01T00:00:00+00:00", caches=caps,
                      cache_source="test", extra={"load_avg_1m_start": 0.1}),
        started_utc="2026-01-01T00:00:00+00:00", elapsed_s=30.0, measurements=ms, skipped=[],
        stages=[StageReport("gemm", 9, 5.0, 6.0, 0.0)], dtypes={"fp32": DtypeSupport("fp32", True, "always")},
    )


def test_fit_suite_recovers_synthetic_host():
    fit = fit_suite(_synthetic_suite())
    assert fit.overhead.overhead_s == pytest.approx(1e-6)
    names = [lv.name for lv in fit.memory_levels]
    assert names == ["L1", "L2", "L3", "DRAM"]
    bws = {lv.name: lv.bandwidth_bytes_per_s for lv in fit.memory_levels}
    assert bws["L2"] == pytest.approx(150e9, rel=0.05)
    assert bws["L3"] == pytest.approx(80e9, rel=0.05)
    assert bws["DRAM"] == pytest.approx(20e9, rel=0.05)
    mm = fit.classes["matmul/fp32"]
    assert mm.peak_flops_per_s == pytest.approx(1.6e11, rel=0.05)
    assert mm.bandwidth_fraction == pytest.approx(0.5, rel=0.1)
    assert mm.n_compute_bound >= 4 and mm.n_memory_bound >= 2 and not mm.poor
    ew = fit.classes["elementwise/fp32"]
    assert ew.bandwidth_fraction == pytest.approx(0.7, rel=0.1)
    assert ew.effective_bandwidth_bytes_per_s == pytest.approx(0.7 * 20e9, rel=0.1)
    assert ew.bandwidth_fraction_by_level["DRAM"] == pytest.approx(0.7, rel=0.05)
    assert ew.bandwidth_fraction_by_level["L3"] == pytest.approx(0.7, rel=0.05)
    assert "gemm_square/fp32" in fit.families
    assert fit.bandwidth_for(1 << 20) == pytest.approx(150e9, rel=0.05)
    assert fit.bandwidth_for(1 << 30) == pytest.approx(20e9, rel=0.05)


def test_fit_to_dict_is_plain_json_with_units_and_round_trips():
    fit = fit_suite(_synthetic_suite())
    d = fit.to_dict()
    text = json.dumps(d, allow_nan=False)  # plain numbers and strings only
    yaml.safe_dump(d)  # and YAML's safe dumper takes it as is
    from roofline.catalog.calibration import SCHEMA

    assert d["schema"] == SCHEMA and d["roofline_version"]
    assert d["overhead_s"] == pytest.approx(1e-6)
    assert {"bandwidth_bytes_per_s", "max_working_set_bytes"} <= set(d["memory_levels"][0])
    mm = d["op_classes"]["matmul/fp32"]
    assert {"peak_flops_per_s", "half_saturation_flops", "overhead_s", "residual_rel_rms", "poor"} <= set(mm)
    assert d["host"]["cpu_model"] == "Test CPU"
    back = CalibrationFit.from_dict(json.loads(text))
    assert back.classes["matmul/fp32"].peak_flops_per_s == pytest.approx(mm["peak_flops_per_s"])
    assert back.to_dict() == d


def test_fit_suite_warns_about_missing_parts_and_busy_host():
    res = _synthetic_suite()
    res.measurements = [m for m in res.measurements if m.op_class not in ("memory", "overhead")]
    res.stages = [StageReport("gemm", 9, 5.0, 6.0, 0.6)]
    fit = fit_suite(res)
    text = " ".join(fit.warnings)
    assert "overhead not fitted" in text and "memory levels not fitted" in text
    assert "other processes used the CPUs" in text
    assert fit.memory_levels == [] and fit.overhead is None


def test_memory_levels_drop_dispatch_bound_points():
    ms = [_m(f"memory/copy/{ws}", "memory", "memory", "stream_copy", 0, ws, 1.5e-6) for ws in (16384, 24576)]
    ms += [_m(f"memory/copy/{ws}", "memory", "memory", "stream_copy", 0, ws, ws / 50e9 + 1e-6)
           for ws in (1 << 26, 1 << 27)]
    levels = fit_memory_levels(ms, [("L1", 65536)], {"copy": 1e-6})
    assert levels[0].bandwidth_bytes_per_s is None and "dispatch-bound" in levels[0].note
    assert levels[0].raw_bandwidth_bytes_per_s > 0
    assert levels[1].bandwidth_bytes_per_s == pytest.approx(50e9, rel=1e-6)


def test_overhead_fit_is_the_median_of_the_dispatch_probes():
    ms = [_m(f"dispatch/{i}", "dispatch", "overhead", f"p{i}", 1, 8, t) for i, t in enumerate([1e-6, 2e-6, 9e-6])]
    ov = fit_overhead(ms)
    assert ov.overhead_s == 2e-6 and ov.min_s == 1e-6 and ov.max_s == 9e-6 and len(ov.by_probe_s) == 3
    assert fit_overhead([]) is None


def test_an_undetermined_memory_roof_is_the_best_rate_seen_at_any_level(monkeypatch):
    """Compute-bound probes that all sat in L2 (150 GB/s) say nothing about main memory (20 GB/s):
    their memory roof is the bytes/s they reached, wherever an op's data sits (not their L2
    fraction of main memory, which priced a DRAM-sized max pool 4x above its compute time)."""
    from roofline.calibration import fit as calibration_fit
    from roofline.calibration.fit import fit_op_class

    rate = 3e8  # comparisons/s, whatever the bytes per comparison: compute-bound
    pts = [_m(f"pool/{i}", "reduction", "reduction", "max_pool", f, c * f, f / rate + 1e-6)
           for i, (f, c) in enumerate(((1e5, 1.0), (3e5, 3.0), (1e6, 2.0), (3e6, 0.5), (1e7, 4.0), (2e6, 3.0)))]
    best_bytes_per_s = max(m.bytes / m.p10_s for m in pts)
    fitted = fit_op_class(pts, [150e9] * len(pts), key="max_pool/fp32", op_class="reduction", dtype="fp32",
                          family="max_pool", dram_bw=20e9)
    assert fitted.n_memory_bound < calibration_fit.MIN_ROOF_POINTS
    assert fitted.bandwidth_fraction * 20e9 == pytest.approx(best_bytes_per_s)
    # an op of the same intensity in main memory: its memory side no slower than its compute side
    flops = 8e7
    assert fitted.time_s(flops, 3 * flops, 20e9) == pytest.approx(flops / fitted.peak_flops_per_s + fitted.overhead_s,
                                                                rel=0.05)
    monkeypatch.setattr(calibration_fit, "UNDETERMINED_MEMORY_ROOF", "level")
    per_level = fit_op_class(pts, [150e9] * len(pts), key="max_pool/fp32", op_class="reduction", dtype="fp32",
                             family="max_pool", dram_bw=20e9)
    assert per_level.bandwidth_fraction * 150e9 == pytest.approx(best_bytes_per_s)
    assert per_level.time_s(flops, 3 * flops, 20e9) > 5 * fitted.time_s(flops, 3 * flops, 20e9)
