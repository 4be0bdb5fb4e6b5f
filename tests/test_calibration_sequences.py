"""The in-sequence fit recovers a known memory-side scale from synthetic chains."""
import numpy as np
import pytest

from roofline.calibration.sequences import SequencePoint, chain_time, fit_sequences, probes


def _point(name, compute, memory, overhead, true_scale, noisy=False):
    parts = (np.array(compute), np.array(memory), np.array(overhead))
    p = SequencePoint(name, 0.0, 0.0, len(compute), noisy, parts)
    p.measured_s = chain_time(p, true_scale)
    p.isolated_s = chain_time(p, 1.0)
    return p


def test_recovers_known_scale():
    points = [
        _point("memory-heavy", [1e-4, 2e-4, 1e-5], [5e-4, 1e-4, 8e-4], [2e-6] * 3, 1.7),
        _point("mixed", [3e-4, 1e-4], [2e-4, 4e-4], [2e-6] * 2, 1.7),
        _point("compute-bound", [5e-3], [1e-4], [2e-6], 1.7),
    ]
    fit = fit_sequences(points)
    assert fit.scale == pytest.approx(1.7, rel=0.01)
    assert fit.residual_rel_rms < 0.01
    assert fit.to_dict()["applies_to"] == "memory" and len(fit.to_dict()["points"]) == 3


def test_scale_is_clamped_and_needs_two_points():
    wild = [_point("a", [1e-5], [1e-3], [0.0], 9.0), _point("b", [1e-5], [2e-3], [0.0], 9.0)]
    assert fit_sequences(wild).scale == pytest.approx(4.0, rel=0.01)
    assert fit_sequences(wild[:1]) is None


def test_probes_are_synthetic_networks():
    names = [p.name for p in probes("full")]
    assert len(names) >= len(probes("quick")) >= 2
    assert all(n.startswith("separable-pyramid") for n in names)
