"""The in-sequence fit recovers known dense and other-op factors from synthetic chains."""
import pytest

from roofline.calibration.sequences import SCALE_BOUNDS, SequencePoint, chain_time, fit_sequences, probes


def _point(name, dense_s, other_s, dense_scale, other_scale, noisy=False):
    p = SequencePoint(name, 0.0, dense_s, other_s, 10, noisy)
    p.measured_s = chain_time(p, dense_scale, other_scale)
    return p


def test_recovers_known_factors():
    points = [
        _point("cnn", 9e-3, 1e-3, 1.15, 1.6),
        _point("mlp", 8e-3, 0.5e-3, 1.15, 1.6),
        _point("separable", 2e-3, 6e-3, 1.15, 1.6),
        _point("separable-b8", 3e-3, 9e-3, 1.15, 1.6, noisy=True),
    ]
    fit = fit_sequences(points)
    assert fit.dense_scale == pytest.approx(1.15, rel=0.01)
    assert fit.other_scale == pytest.approx(1.6, rel=0.01)
    assert fit.residual_rel_rms < 0.01
    d = fit.to_dict()
    assert d["applies_to"] == "op-time" and len(d["points"]) == 4
    assert d["points"][0]["isolated_s"] == pytest.approx(10e-3)


def test_noise_moves_the_factors_by_no_more_than_the_noise():
    # every chain measured 5 % slow: both factors absorb it and no more
    points = [_point(n, d, o, 1.0, 1.5) for n, d, o in (("a", 9e-3, 1e-3), ("b", 2e-3, 6e-3), ("c", 5e-3, 5e-3))]
    for p in points:
        p.measured_s *= 1.05
    fit = fit_sequences(points)
    assert fit.dense_scale == pytest.approx(1.05, rel=0.01)
    assert fit.other_scale == pytest.approx(1.575, rel=0.01)


def test_factors_are_clamped_and_need_two_points():
    wild = [_point("a", 1e-3, 1e-3, 9.0, 9.0), _point("b", 1e-3, 2e-3, 9.0, 9.0)]
    fit = fit_sequences(wild)
    assert fit.dense_scale == pytest.approx(SCALE_BOUNDS[1], rel=0.01)
    assert fit.other_scale == pytest.approx(SCALE_BOUNDS[1], rel=0.01)
    assert fit_sequences(wild[:1]) is None


def test_probes_are_synthetic_networks_with_both_kinds_of_op():
    for plan in ("quick", "full"):
        names = [p.name for p in probes(plan)]
        assert any(n.startswith("cnn-pyramid") for n in names)
        assert any(n.startswith("separable-pyramid") for n in names)
    assert len(probes("full")) > len(probes("quick")) >= 3


def _fake_predict(module, shape):
    return 1e-3, 1e-3, 5


def test_chain_timer_keeps_each_chains_median_pass():
    from roofline.calibration.sequences import ChainTimer

    timer = ChainTimer("quick", passes=3)
    names = [p.name for p in timer.cases]
    for scale in (1.0, 1.3, 1.1):  # pass 2 hit a slow spell
        timer.timings.append({n: {"p10_s": 2.2e-3 * scale, "median_s": 2.5e-3 * scale, "noisy": False} for n in names})
    fit = timer.fit(_fake_predict)
    assert [p.name for p in fit.points] == names
    for p in fit.points:  # each pass's median, the median pass
        assert p.measured_s == pytest.approx(2.5e-3 * 1.1)
        assert p.measured_by_pass_s == pytest.approx([2.5e-3, 2.5e-3 * 1.3, 2.5e-3 * 1.1])
    assert fit.to_dict()["points"][0]["measured_by_pass_s"][1] == pytest.approx(3.25e-3)


def test_chain_timer_falls_back_to_this_process_and_says_so(monkeypatch):
    import subprocess

    from roofline.calibration.sequences import ChainTimer

    def broken(*args, **kwargs):
        raise subprocess.CalledProcessError(1, args[0], stderr="ImportError: no torch here\n")

    monkeypatch.setattr(subprocess, "run", broken)
    timer = ChainTimer("quick", threads=1, passes=1, budget_s=0.01)
    timer.time_pass()
    assert set(timer.timings[0]) == {p.name for p in timer.cases}
    assert all(t["p10_s"] > 0 for t in timer.timings[0].values())
    fit = timer.fit(_fake_predict)
    assert fit.notes and "no torch here" in fit.notes[0] and "timed in this process" in fit.notes[0]
