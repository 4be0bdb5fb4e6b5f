"""Fits that turn suite measurements into roofline parameters (scipy.optimize).

- :func:`fit_saturating`: achieved(F) = P_max * F / (F + F_half), i.e. time = F / P_max + F_half / P_max.
- :func:`fit_memory_levels` / :func:`segment_plateaus`: sustained bandwidth per memory level from the
  STREAM sweep (plateaus of bandwidth vs working set, split at the cache sizes).
- :func:`fit_overhead`: fixed per-op cost from the dispatch probes.
- :func:`fit_op_class`: per op class, time = max(F / P_max, B / (f * BW_level(ws))) + t0, which is the
  saturating curve for compute-bound cases plus a memory roof: P_max, F_half = t0 * P_max, the
  class's fraction f of the level bandwidth (memory-bound classes), and residuals.
- :func:`fit_suite`: all of the above for a ``SuiteResult``, as a ``CalibrationFit``.

All quantities are SI: seconds, bytes, FLOP/s, bytes/s.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import optimize

from .host import CacheLevel, HostInfo
from .probes import STREAM_OVERHEAD_PROBE, DtypeSupport, Measurement, SuiteResult

from roofline.catalog.calibration import SCHEMA, CalibrationClass  # noqa: E402  (the record's format and names)
POOR_REL_RMS = 0.20  # relative RMS residual above which a fit is flagged poor
POOR_PLATEAU_SPREAD = 0.25  # IQR/median of a plateau's bandwidths above which a level is flagged poor
FOREIGN_LOAD_WARN = 0.10  # other processes' share of the CPUs above which the fit warns
DISPATCH_BOUND_FACTOR = 3.0  # points faster than this x the per-op overhead say little about bandwidth
MIN_PLATEAU_POINTS = 2  # a level needs this many usable points for a bandwidth figure
MIN_ROOF_POINTS = 2  # cases a roof needs on its side of the ridge to be fitted, not bounded
OVERHEAD_PRIOR_WEIGHT = 0.02  # weight of log(t0 / dispatch overhead) among the log-time residuals
# Lowest bandwidth fraction a dense kernel (matmul, convolution) may be fitted with, of the level its
# working set sits in; None: unbounded (down to 1e-9).
DENSE_MIN_BANDWIDTH_FRACTION: float | None = None
DENSE_CLASSES = ("matmul", "conv")
# A fit with too few memory-bound cases bounds its memory roof by the best rate observed. "main": that
# rate as a fraction of main memory's bandwidth, so that at every level the roof is at least the bytes/s
# the probes reached; "level": as a fraction of each probe's own level (a compute-bound probe that sat
# in L2 then caps a DRAM-sized op at its L2 fraction of the DRAM bandwidth: 4x too slow on this host).
UNDETERMINED_MEMORY_ROOF = "main"
# A probe family with too few memory-bound cases: "bound", the rule above; "class" leaves its memory side
# to its class's fit (tried against gemm_m1's own bound coming out too fast in one run: the same zoo median
# on the saved probe run, a worse worst case; docs/accuracy.md).
UNDETERMINED_FAMILY_MEMORY_ROOF = "bound"
# op classes fitted with the roofline model (memory and overhead have their own fits)
FITTED_CLASSES = tuple(c.value for c in CalibrationClass)


def _residuals(pred: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    rel = (pred - t) / t
    return float(np.sqrt(np.mean(rel**2))), float(np.max(np.abs(rel)))


# ---------------------------------------------------------------- (a) saturating efficiency curve

@dataclass(frozen=True)
class SaturatingFit:
    """achieved(F) = P_max * F / (F + F_half); time(F) = (F + F_half) / P_max."""

    peak_flops_per_s: float
    half_saturation_flops: float
    residual_rel_rms: float
    residual_rel_max: float
    n_points: int

    @property
    def overhead_s(self) -> float:
        return self.half_saturation_flops / self.peak_flops_per_s

    @property
    def poor(self) -> bool:
        return self.residual_rel_rms > POOR_REL_RMS

    def achieved_flops_per_s(self, flops: float) -> float:
        return self.peak_flops_per_s * flops / (flops + self.half_saturation_flops)

    def time_s(self, flops: float) -> float:
        return (flops + self.half_saturation_flops) / self.peak_flops_per_s


def fit_saturating(flops: Sequence[float], seconds: Sequence[float], *, robust: bool = True) -> SaturatingFit:
    """Fit time = F / P_max + F_half / P_max on relative errors.

    A non-negative weighted linear least-squares solve (rows divided by t, so every point counts
    by its relative error) starts a robust (soft-L1) refinement in log-parameters.
    """
    f = np.asarray(flops, dtype=float)
    t = np.asarray(seconds, dtype=float)
    ok = (f > 0) & (t > 0) & np.isfinite(f) & np.isfinite(t)
    f, t = f[ok], t[ok]
    if len(f) < 2:
        raise ValueError(f"need at least 2 points with positive FLOPs and time, got {len(f)}")
    a_mat = np.column_stack([f / t, 1.0 / t])  # unknowns: a = 1/P, c = F_half/P
    lin = optimize.lsq_linear(a_mat, np.ones_like(t), bounds=(0.0, np.inf))
    a0, c0 = lin.x
    if a0 <= 0:
        a0 = float(np.min(t / f))
    c0 = max(c0, 1e-3 * float(np.min(t)))

    def resid(theta: np.ndarray) -> np.ndarray:
        a, c = np.exp(theta)
        return np.log((a * f + c) / t)

    sol = optimize.least_squares(resid, np.log([a0, c0]), loss="soft_l1" if robust else "linear", f_scale=0.05)
    a, c = (float(v) for v in np.exp(sol.x))
    rms, mx = _residuals(a * f + c, t)
    return SaturatingFit(1.0 / a, c / a, rms, mx, len(f))


# ---------------------------------------------------------------- (b) memory plateaus

@dataclass
class MemoryLevel:
    name: str  # L1, L2, L3... and DRAM (the last level), or level1.. when found from the data alone
    max_working_set_bytes: int | None  # aggregate capacity; None for main memory
    bandwidth_bytes_per_s: float | None  # sustained, per-op overhead removed; None when not measurable
    raw_bandwidth_bytes_per_s: float | None  # bytes / median time, overhead included
    n_points: int
    spread: float  # IQR / median of the plateau's per-point bandwidths
    per_kernel_bytes_per_s: dict[str, float] = field(default_factory=dict)
    poor: bool = False
    note: str = ""


def _iqr_rel(x: np.ndarray) -> float:
    if len(x) < 2:
        return 0.0
    q25, q50, q75 = np.percentile(x, [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else math.inf


def find_plateau_boundaries(ws: Sequence[float], bw: Sequence[float], max_levels: int = 5,
                            noise_floor: float = 0.03) -> list[float]:
    """Working-set sizes where bandwidth steps, found without cache sizes.

    Optimal piecewise-constant segmentation of log(bandwidth) over the sorted working sets
    (dynamic programming), the number of segments chosen by BIC with a noise floor so that
    noise-free data does not split forever. Returns the boundaries (geometric midpoints).
    """
    order = np.argsort(ws)
    x = np.asarray(ws, dtype=float)[order]
    y = np.log(np.asarray(bw, dtype=float)[order])
    # one value per working-set size (several kernels run at each)
    ux = np.unique(x)
    uy = np.array([np.median(y[x == v]) for v in ux])
    n = len(ux)
    if n < 3:
        return []
    cs, cs2 = np.concatenate([[0], np.cumsum(uy)]), np.concatenate([[0], np.cumsum(uy**2)])

    def sse(i: int, j: int) -> float:  # segment ux[i:j]
        m = j - i
        s = cs[j] - cs[i]
        return float(cs2[j] - cs2[i] - s * s / m)

    kmax = min(max_levels, n)
    cost = np.full((kmax + 1, n + 1), np.inf)
    back = np.zeros((kmax + 1, n + 1), dtype=int)
    cost[0, 0] = 0.0
    for k in range(1, kmax + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                c = cost[k - 1, i] + sse(i, j)
                if c < cost[k, j]:
                    cost[k, j], back[k, j] = c, i
    best_k, best_bic = 1, math.inf
    for k in range(1, kmax + 1):
        var = max(cost[k, n] / n, noise_floor**2)
        bic = n * math.log(var) + 2 * k * math.log(n)
        if bic < best_bic - 1e-9:
            best_k, best_bic = k, bic
    cuts = []
    j = n
    for k in range(best_k, 0, -1):
        i = back[k, j]
        if i > 0:
            cuts.append(i)
        j = i
    return sorted(float(math.sqrt(ux[i - 1] * ux[i])) for i in cuts)


def plateau_masks(ws: Sequence[float], boundaries: Sequence[tuple[str, float]], *, inner: float = 0.75,
                  outer: float = 1.5, last_factor: float = 3.0, last_name: str = "DRAM"
                  ) -> list[tuple[str, int | None, np.ndarray, str]]:
    """(name, capacity, mask over ``ws``, note) per level, main memory last.

    Level i takes ``outer * capacity[i-1] < ws <= inner * capacity[i]``; main memory takes
    ``ws > last_factor * capacity[-1]`` (``outer`` when the sweep stops short of that). Points
    in the transition zones belong to no level.
    """
    ws_a = np.asarray(ws, dtype=float)
    out: list[tuple[str, int | None, np.ndarray, str]] = []
    prev = 0.0
    for name, cap in boundaries:
        out.append((name, int(cap), (ws_a > outer * prev) & (ws_a <= inner * cap), ""))
        prev = float(cap)
    mask = ws_a > last_factor * prev
    note = ""
    if prev > 0 and not mask.any():
        mask = ws_a > outer * prev
        note = f"sweep stops below {last_factor:g}x the last cache; plateau may still include cache hits"
    out.append((last_name, None, mask, note))
    return out


def segment_plateaus(ws: Sequence[float], bw: Sequence[float], boundaries: Sequence[tuple[str, float]] | None = None,
                     *, inner: float = 0.75, outer: float = 1.5, last_factor: float = 3.0,
                     kernels: Sequence[str] | None = None) -> list[MemoryLevel]:
    """Sustained bandwidth per level: the median over the working sets well inside each level.

    ``boundaries``: (name, capacity bytes) of each cache level, smallest first; main memory
    ("DRAM") is added after the last (see :func:`plateau_masks` for which points count).
    Without boundaries they are found from the data (:func:`find_plateau_boundaries`), every
    point belongs to a level, and the levels are named level1, level2...
    """
    ws_a = np.asarray(ws, dtype=float)
    bw_a = np.asarray(bw, dtype=float)
    kern = list(kernels) if kernels is not None else ["all"] * len(ws_a)
    if boundaries is None:
        ok = np.isfinite(bw_a) & (bw_a > 0)
        cuts = find_plateau_boundaries(ws_a[ok], bw_a[ok])
        masks = plateau_masks(ws_a, [(f"level{i + 1}", c) for i, c in enumerate(cuts)], inner=1.0, outer=1.0,
                              last_factor=1.0, last_name=f"level{len(cuts) + 1}")
    else:
        masks = plateau_masks(ws_a, boundaries, inner=inner, outer=outer, last_factor=last_factor)
    return [_level(name, cap, mask, bw_a, kern, note) for name, cap, mask, note in masks]


def _level(name: str, cap: int | None, mask: np.ndarray, bw: np.ndarray, kernels: list[str], note: str) -> MemoryLevel:
    ok = mask & np.isfinite(bw) & (bw > 0)
    vals = bw[ok]
    if len(vals) < MIN_PLATEAU_POINTS:
        why = "no measurement inside this level" if len(vals) == 0 else "a single usable measurement"
        return MemoryLevel(name, cap, None, None, len(vals), 0.0, {}, True, note or why)
    per_kernel: dict[str, list[float]] = {}
    for k, v, m in zip(kernels, bw, ok):
        if m:
            per_kernel.setdefault(k, []).append(float(v))
    spread = _iqr_rel(vals)
    return MemoryLevel(name, cap, float(np.median(vals)), None, len(vals), spread,
                       {k: float(np.median(v)) for k, v in per_kernel.items()}, spread > POOR_PLATEAU_SPREAD, note)


def level_capacities(caches: Sequence[CacheLevel], threads: int, logical_cpus: int) -> list[tuple[str, int]]:
    """(name, capacity) per cache level as seen by a run on ``threads`` threads.

    A private cache (one instance per core) adds up over the cores the threads run on, so its
    capacity is size x min(threads, instances); a shared cache counts once per instance used.
    """
    out = []
    for c in sorted(caches, key=lambda c: c.level):
        shared = c.shared_cpus if c.shared_cpus > 0 else 1
        instances = max(1, logical_cpus // shared)
        used = max(1, min(instances, math.ceil(threads / shared)))
        out.append((c.name, c.size_bytes * used))
    return out


def fit_memory_levels(measurements: Iterable[Measurement], capacities: Sequence[tuple[str, int]] | None,
                      overhead_by_kernel: dict[str, float] | None = None) -> list[MemoryLevel]:
    """Per-level sustained bandwidth from the STREAM measurements.

    Each point's bandwidth is bytes / (p10 time - that kernel's per-op overhead): like STREAM,
    which reports the best of its trials, the sweep keeps the fast end of each point's repeats,
    because DRAM bandwidth on a shared host otherwise varies by 20-30 % between runs; points
    faster than DISPATCH_BOUND_FACTOR x the overhead are dispatch-bound and dropped (a level
    with none left has ``bandwidth_bytes_per_s = None`` and says so). The raw figure, bytes /
    median time, is kept alongside.
    """
    pts = [m for m in measurements if m.op_class == "memory"]
    if not pts:
        return []
    overhead_by_kernel = overhead_by_kernel or {}
    ws, bw, raw, kern = [], [], [], []
    for m in pts:
        k = m.family.removeprefix("stream_")
        t0 = overhead_by_kernel.get(k, 0.0)
        ws.append(m.bytes)
        t = m.p10_s
        raw.append(m.bytes / t)
        kern.append(k)
        if t < DISPATCH_BOUND_FACTOR * t0:
            bw.append(math.nan)
        else:
            bw.append(m.bytes / (t - t0))
    levels = segment_plateaus(ws, bw, capacities, kernels=kern)
    # the raw figures over the same points
    bounds = capacities if capacities is not None else [(lv.name, lv.max_working_set_bytes) for lv in levels[:-1]]
    factors = {} if capacities is not None else {"inner": 1.0, "outer": 1.0, "last_factor": 1.0}
    raw_a = np.asarray(raw)
    for lv, (_, _, mask, _) in zip(levels, plateau_masks(ws, bounds, **factors)):
        vals = raw_a[mask]
        lv.raw_bandwidth_bytes_per_s = float(np.median(vals)) if len(vals) else None
        if lv.bandwidth_bytes_per_s is None and len(vals) > lv.n_points:
            lv.note = (f"dispatch-bound: {len(vals) - lv.n_points} of {len(vals)} measurement(s) ran in under "
                       f"{DISPATCH_BOUND_FACTOR:g}x the per-op overhead, so eager PyTorch cannot resolve this "
                       "level's bandwidth")
    if capacities is None and levels:
        levels[-1].name = "DRAM"
    return levels


# ---------------------------------------------------------------- (c) per-op overhead

@dataclass
class OverheadFit:
    overhead_s: float  # median over the dispatch probes
    min_s: float
    max_s: float
    by_probe_s: dict[str, float]


def fit_overhead(measurements: Iterable[Measurement]) -> OverheadFit | None:
    pts = {m.family: m.median_s for m in measurements if m.op_class == "overhead"}
    if not pts:
        return None
    v = np.array(list(pts.values()))
    return OverheadFit(float(np.median(v)), float(v.min()), float(v.max()), pts)


# ---------------------------------------------------------------- (a)+(d) per op class

@dataclass
class ClassFit:
    """time = max(F / P_max, B / (f * BW_level(ws))) + t0 for one op class (or probe family) and dtype."""

    key: str
    op_class: str
    dtype: str
    family: str | None
    peak_flops_per_s: float | None  # P_max; None when no case was compute-bound
    half_saturation_flops: float | None  # F_half = t0 * P_max
    overhead_s: float  # t0
    bandwidth_fraction: float | None  # f, of the level bandwidth; None when no case was memory-bound
    effective_bandwidth_bytes_per_s: float | None  # f x main-memory bandwidth
    # median of B / ((t - t0) * BW_level) over the memory-bound cases of each level: one f cannot
    # always serve every level (an allocating op's output above glibc's mmap threshold page-faults)
    bandwidth_fraction_by_level: dict[str, float]
    residual_rel_rms: float
    residual_rel_max: float
    n_points: int
    n_compute_bound: int
    n_memory_bound: int
    n_noisy: int
    poor: bool
    note: str = ""

    def time_s(self, flops: float, nbytes: float, level_bandwidth: float) -> float:
        terms = [0.0]
        if self.peak_flops_per_s:
            terms.append(flops / self.peak_flops_per_s)
        if self.bandwidth_fraction:
            terms.append(nbytes / (self.bandwidth_fraction * level_bandwidth))
        elif self.effective_bandwidth_bytes_per_s:
            terms.append(nbytes / self.effective_bandwidth_bytes_per_s)
        return max(terms) + self.overhead_s


def fit_roofline(flops: Sequence[float], nbytes: Sequence[float], level_bw: Sequence[float],
                 seconds: Sequence[float], weights: Sequence[float] | None = None,
                 overhead_prior_s: float | None = None,
                 min_fraction: float | None = None) -> tuple[float, float, float, np.ndarray]:
    """Fit time = max(F / P, B / (f * BW)) + t0. Returns (P, f, t0, predicted times).

    Log-time residuals with a soft-L1 loss; started from three points (compute-bound,
    memory-bound, mixed) because the max() has a kink, keeping the best. ``overhead_prior_s``
    (the dispatch probes' per-op cost) adds one weak residual, OVERHEAD_PRIOR_WEIGHT x
    log(t0 / prior): when every case runs far longer than t0 the data cannot place it and it
    would otherwise drift between calibrations (a conv family's t0 came out 11 us in one run and
    101 us in the next with equally good residuals); cases that do show a fixed cost outweigh it.
    """
    F = np.asarray(flops, dtype=float)
    B = np.asarray(nbytes, dtype=float)
    W = np.asarray(level_bw, dtype=float)
    t = np.asarray(seconds, dtype=float)
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=float)
    F = np.maximum(F, 0.0)

    def model(theta: np.ndarray) -> np.ndarray:
        p, f, t0 = np.exp(theta)
        return np.maximum(F / p, B / (f * W)) + t0

    def resid(theta: np.ndarray) -> np.ndarray:
        r = w * np.log(model(theta) / t)
        if overhead_prior_s:
            r = np.append(r, OVERHEAD_PRIOR_WEIGHT * (theta[2] - math.log(overhead_prior_s)))
        return r

    p_hi = float(np.max(F / t)) if np.any(F > 0) else 1.0
    f_hi = float(np.max(B / (W * t)))
    t0 = 0.5 * float(np.min(t))
    starts = [(1.2 * max(p_hi, 1.0), 1.2 * f_hi, t0), (1e4 * max(p_hi, 1.0), 1.2 * f_hi, t0),
              (1.2 * max(p_hi, 1.0), 1e-4 * f_hi, t0)]
    lo = np.log([1e3, min_fraction or 1e-9, 1e-10])
    hi = np.log([1e20, 1e3, 10.0])
    best = None
    for s in starts:
        x0 = np.clip(np.log(s), lo + 1e-9, hi - 1e-9)
        sol = optimize.least_squares(resid, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.05)
        if best is None or sol.cost < best.cost:
            best = sol
    p, f, t0 = np.exp(best.x)
    return float(p), float(f), float(t0), model(best.x)


def fit_op_class(points: Sequence[Measurement], level_bw: Sequence[float] | None, *, key: str, op_class: str,
                 dtype: str, family: str | None = None, dram_bw: float | None = None,
                 level_names: Sequence[str] | None = None, overhead_prior_s: float | None = None) -> ClassFit:
    """``level_bw``: the measured bandwidth of the level each case's working set sits in; None when no
    memory level was measured, and the memory side is then fitted as an absolute rate in bytes/s
    (``effective_bandwidth_bytes_per_s``, with no fraction: there is no bandwidth to be a fraction of)."""
    absolute = level_bw is None
    if absolute:
        # fit against the best observed rate, so the fraction stays inside the fit's bounds; then undo it
        scale = max((m.bytes / m.p10_s for m in points if m.bytes > 0 and m.p10_s > 0), default=1.0)
        level_bw = [scale] * len(points)
    if len(points) < 4:
        raise ValueError(f"{key}: need at least 4 measurements for 3 parameters, got {len(points)}")
    F = np.array([m.flops for m in points], dtype=float)
    B = np.array([m.bytes for m in points], dtype=float)
    # p10 rather than median: the fast end of each case's repeats moves far less between runs on
    # a shared host (other tenants only ever add time), so two calibrations agree
    t = np.array([m.p10_s for m in points], dtype=float)
    W = np.asarray(level_bw, dtype=float)
    weights = np.array([0.5 if m.noisy else 1.0 for m in points])
    min_fraction = DENSE_MIN_BANDWIDTH_FRACTION if op_class in DENSE_CLASSES and not absolute else None
    p, f, t0, pred = fit_roofline(F, B, W, t, weights, overhead_prior_s, min_fraction)
    compute = F / p >= B / (f * W)
    n_c, n_m = int(compute.sum()), int((~compute).sum())
    rms, mx = _residuals(pred, t)
    notes = []
    # With fewer than MIN_ROOF_POINTS compute-bound (memory-bound) cases the fit cannot place that
    # roof: one case is matched exactly by whatever the other parameters leave over. The best
    # rate observed is then a lower bound on it, and a stable one: a roof that flips between
    # fitted and unfitted from run to run would swing predictions far more than the bound's slack.
    if n_c < MIN_ROOF_POINTS:
        notes.append(f"{n_c or 'no'} compute-bound case{'' if n_c == 1 else 's'}: peak is the best observed "
                     "FLOP/s (a lower bound)")
    if n_m < MIN_ROOF_POINTS:
        if family is not None and UNDETERMINED_FAMILY_MEMORY_ROOF == "class" and not absolute:
            notes.append(f"{n_m or 'no'} memory-bound case{'' if n_m == 1 else 's'}: memory side left to the "
                         "class's fit")
        else:
            notes.append(f"{n_m or 'no'} memory-bound case{'' if n_m == 1 else 's'}: bandwidth fraction is the "
                         "best observed (a lower bound)")
    if rms > POOR_REL_RMS:
        notes.append(f"poor fit: relative RMS residual {rms:.0%}")
    observed_peak = float(np.max(F / t)) if np.any(F > 0) else None
    observed_frac = float(np.max(B / (W * t))) if np.any(B > 0) else None
    if observed_frac is not None and n_m < MIN_ROOF_POINTS and not absolute:
        if family is not None and UNDETERMINED_FAMILY_MEMORY_ROOF == "class":
            observed_frac = None  # the family's memory side is its class's
        elif UNDETERMINED_MEMORY_ROOF == "main" and dram_bw:
            observed_frac = float(np.max(B / t)) / dram_bw
    peak = p if n_c >= MIN_ROOF_POINTS else observed_peak
    frac = f if n_m >= MIN_ROOF_POINTS else observed_frac
    by_level: dict[str, list[float]] = {}
    if level_names is not None:
        for i in np.flatnonzero(~compute):
            busy = t[i] - t0
            if busy > 0.5 * t[i]:  # mostly transfer, not fixed cost
                by_level.setdefault(level_names[i], []).append(float(B[i] / (busy * W[i])))
    if absolute:
        effective, frac = (frac * scale if frac else None), None
    else:
        effective = (frac * dram_bw) if (frac and dram_bw) else None
    return ClassFit(
        key=key, op_class=op_class, dtype=dtype, family=family, peak_flops_per_s=peak,
        half_saturation_flops=(t0 * p) if peak else None, overhead_s=t0, bandwidth_fraction=frac,
        effective_bandwidth_bytes_per_s=effective,
        bandwidth_fraction_by_level={k: float(np.median(v)) for k, v in by_level.items()},
        residual_rel_rms=rms, residual_rel_max=mx, n_points=len(points), n_compute_bound=n_c,
        n_memory_bound=n_m, n_noisy=int(sum(m.noisy for m in points)), poor=rms > POOR_REL_RMS,
        note="; ".join(notes),
    )


# ---------------------------------------------------------------- the whole suite

@dataclass
class CalibrationFit:
    """Fitted roofline parameters of one host. ``to_dict`` gives plain SI numbers, units in the keys."""

    host: HostInfo
    device: str
    threads: int
    plan: str
    overhead: OverheadFit | None
    memory_levels: list[MemoryLevel]
    classes: dict[str, ClassFit]  # "matmul/fp32", "elementwise/fp32", ...
    families: dict[str, ClassFit]  # "gemm_m8/fp32", "gelu/fp32", "dwconv5x5/fp32", ...
    dtypes: dict[str, DtypeSupport]
    warnings: list[str] = field(default_factory=list)
    n_measurements: int = 0
    n_noisy: int = 0
    suite_elapsed_s: float = 0.0
    view_overhead_s: float | None = None  # one view op (chunk, split, slice, permute, view, transpose)
    module_call_s: float | None = None  # one nn.Module call in an eager network (__call__, hooks, Python)

    def bandwidth_for(self, working_set_bytes: float) -> float | None:
        """Sustained bandwidth of the smallest level holding ``working_set_bytes`` (a level that could
        not be measured defers to the next one that was)."""
        return _bandwidth_for(self.memory_levels, working_set_bytes)

    def to_dict(self) -> dict[str, Any]:
        def cls(c: ClassFit) -> dict[str, Any]:
            d = asdict(c)
            d.pop("key")
            return d

        import roofline

        return {
            "schema": SCHEMA,
            "roofline_version": roofline.__version__,
            "device": self.device,
            "threads": self.threads,
            "plan": self.plan,
            "host": self.host.to_dict(),
            "suite_elapsed_s": self.suite_elapsed_s,
            "n_measurements": self.n_measurements,
            "n_noisy": self.n_noisy,
            "overhead_s": self.overhead.overhead_s if self.overhead else None,
            "overhead_min_s": self.overhead.min_s if self.overhead else None,
            "overhead_max_s": self.overhead.max_s if self.overhead else None,
            "overhead_by_probe_s": dict(self.overhead.by_probe_s) if self.overhead else {},
            "view_overhead_s": self.view_overhead_s,
            "module_call_s": self.module_call_s,
            "memory_levels": [asdict(lv) for lv in self.memory_levels],
            "op_classes": {k: cls(v) for k, v in self.classes.items()},
            "families": {k: cls(v) for k, v in self.families.items()},
            "dtypes": {k: asdict(v) for k, v in self.dtypes.items()},
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CalibrationFit":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a calibration fit (schema {d.get('schema')!r}, expected {SCHEMA!r})")
        ov = None
        if d.get("overhead_s") is not None:
            ov = OverheadFit(d["overhead_s"], d["overhead_min_s"], d["overhead_max_s"], dict(d["overhead_by_probe_s"]))

        def cf(k: str, v: dict[str, Any]) -> ClassFit:
            return ClassFit(key=k, **v)

        return cls(
            host=HostInfo.from_dict(d["host"]), device=d["device"], threads=d["threads"], plan=d["plan"],
            overhead=ov, memory_levels=[MemoryLevel(**lv) for lv in d["memory_levels"]],
            classes={k: cf(k, v) for k, v in d["op_classes"].items()},
            families={k: cf(k, v) for k, v in d["families"].items()},
            dtypes={k: DtypeSupport(**v) for k, v in d.get("dtypes", {}).items()},
            warnings=list(d.get("warnings", [])), n_measurements=d.get("n_measurements", 0),
            n_noisy=d.get("n_noisy", 0), suite_elapsed_s=d.get("suite_elapsed_s", 0.0),
            view_overhead_s=d.get("view_overhead_s"), module_call_s=d.get("module_call_s"),
        )


def _level_index(levels: Sequence[MemoryLevel], ws: float) -> int:
    for i, lv in enumerate(levels):
        if lv.max_working_set_bytes is None or ws <= lv.max_working_set_bytes:
            return i
    return len(levels) - 1


def _level_for(levels: Sequence[MemoryLevel], ws: float) -> MemoryLevel:
    """The level whose bandwidth serves ``ws``: its own, or the next measurable one."""
    start = _level_index(levels, ws)
    for lv in list(levels[start:]) + list(reversed(levels[:start])):
        if lv.bandwidth_bytes_per_s:
            return lv
    return levels[start]


def _bandwidth_for(levels: Sequence[MemoryLevel], ws: float) -> float | None:
    start = _level_index(levels, ws)
    for lv in levels[start:]:
        if lv.bandwidth_bytes_per_s:
            return lv.bandwidth_bytes_per_s
    for lv in reversed(levels[:start]):
        if lv.bandwidth_bytes_per_s:
            return lv.bandwidth_bytes_per_s
    return None


def fit_call_costs(measurements: Iterable[Measurement]) -> tuple[float | None, float | None]:
    """(seconds per view op, seconds per module call) from the ``view`` and ``module_call`` probes:
    the slope of p10 time over the number of views (modules) each chain issues."""
    from .traced import per_call_cost

    ms = list(measurements)
    views = per_call_cost([(m.shape.get("views", 0), m.p10_s) for m in ms if m.op_class == "view"])
    modules = per_call_cost([(m.shape.get("count", 0), m.p10_s) for m in ms if m.op_class == "module"])
    return views, modules


def fit_suite(result: SuiteResult, *, min_points: int = 4) -> CalibrationFit:
    """Fit everything a suite run measured; parts the run did not cover are left out with a warning."""
    ms = result.measurements
    warnings: list[str] = []
    overhead = fit_overhead(ms)
    if overhead is None:
        warnings.append("no dispatch measurements: per-op overhead not fitted")
    by_kernel = {k: overhead.by_probe_s[p] for k, p in STREAM_OVERHEAD_PROBE.items()
                 if overhead and p in overhead.by_probe_s}
    caps = None
    if result.host.caches and not result.device.startswith("cuda"):
        caps = level_capacities(result.host.caches, result.threads, result.host.logical_cpus)
    elif result.device.startswith("cuda") and result.host.extra.get("gpu_l2_bytes"):
        caps = [("L2", int(result.host.extra["gpu_l2_bytes"]))]
    levels = fit_memory_levels(ms, caps, by_kernel)
    if not levels:
        warnings.append("no STREAM measurements: memory levels not fitted; each class's memory side is an absolute "
                        "rate (effective_bandwidth_bytes_per_s)")
    for lv in levels:
        if lv.poor and lv.note:
            warnings.append(f"memory level {lv.name}: {lv.note}")
        elif lv.poor:
            warnings.append(f"memory level {lv.name}: plateau spread {lv.spread:.0%}")
    dram = levels[-1].bandwidth_bytes_per_s if levels else None

    def level_bws(pts: Sequence[Measurement]) -> list[float] | None:
        return [_bandwidth_for(levels, m.bytes) or 1.0 for m in pts] if levels else None

    def level_of(m: Measurement) -> str:
        return _level_for(levels, m.bytes).name if levels else "absolute"

    prior = overhead.overhead_s if overhead else None
    classes: dict[str, ClassFit] = {}
    families: dict[str, ClassFit] = {}
    groups: dict[tuple[str, str], list[Measurement]] = {}
    fam_groups: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in ms:
        if m.op_class not in FITTED_CLASSES:
            continue
        groups.setdefault((m.op_class, m.dtype), []).append(m)
        fam_groups.setdefault((m.op_class, m.family, m.dtype), []).append(m)
    for (oc, dt), pts in sorted(groups.items()):
        key = f"{oc}/{dt}"
        if len(pts) < min_points:
            warnings.append(f"{key}: only {len(pts)} measurement(s), not fitted")
            continue
        classes[key] = fit_op_class(pts, level_bws(pts), key=key, op_class=oc, dtype=dt, dram_bw=dram,
                                    level_names=[level_of(m) for m in pts], overhead_prior_s=prior)
        if classes[key].poor:
            warnings.append(f"{key}: {classes[key].note}")
    for (oc, fam, dt), pts in sorted(fam_groups.items()):
        if len(pts) < min_points or len({(m.flops, m.bytes) for m in pts}) < 3:
            continue
        key = f"{fam}/{dt}"
        families[key] = fit_op_class(pts, level_bws(pts), key=key, op_class=oc, dtype=dt, family=fam,
                                     dram_bw=dram, level_names=[level_of(m) for m in pts], overhead_prior_s=prior)
    n_noisy = sum(m.noisy for m in ms)
    if ms and n_noisy > 0.25 * len(ms):
        warnings.append(f"{n_noisy} of {len(ms)} measurements are noisy (IQR/median > {result.noisy_threshold:g})")
    busy = [f"{st.name} {st.foreign_load:.0%}" for st in result.stages
            if st.foreign_load is not None and st.foreign_load > FOREIGN_LOAD_WARN]
    if busy:
        warnings.append("other processes used the CPUs during the run (" + ", ".join(busy) + "): multi-threaded "
                        "timings are skewed; rerun on an idle host or with fewer threads")
    load = result.host.extra.get("load_avg_1m_start")
    metered = any(st.foreign_load is not None for st in result.stages)
    if not metered and load is not None and load > 0.5 * result.host.logical_cpus:
        warnings.append(f"load average {load} at start on {result.host.logical_cpus} CPU(s): other processes "
                        "competed for the cores; rerun on an idle host for trustworthy figures")
    view_s, module_s = fit_call_costs(ms)
    return CalibrationFit(
        host=result.host, device=result.device, threads=result.threads, plan=result.plan, overhead=overhead,
        memory_levels=levels, classes=classes, families=families, dtypes=dict(result.dtypes), warnings=warnings,
        n_measurements=len(ms), n_noisy=n_noisy, suite_elapsed_s=result.elapsed_s,
        view_overhead_s=view_s, module_call_s=module_s,
    )
