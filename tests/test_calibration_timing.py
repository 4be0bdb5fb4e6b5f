"""Timing harness: statistics, the noise flag, thread control."""
from __future__ import annotations

import itertools
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from roofline.calibration.timing import Timing, num_threads, quantile, summarize, time_callable


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_quantile_matches_numpy_linear():
    import numpy as np

    vals = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        assert quantile(vals, q) == pytest.approx(float(np.quantile(vals, q)))


def test_summarize_fields():
    t = summarize([1.0, 2.0, 3.0, 4.0, 5.0], threads=3)
    assert isinstance(t, Timing)
    assert t.median_s == 3.0 and t.min_s == 1.0 and t.n == 5 and t.threads == 3
    assert t.p25_s == 2.0 and t.p75_s == 4.0
    assert t.dispersion == pytest.approx(2.0 / 3.0)
    assert t.noisy
    d = t.to_dict()
    assert d["noisy"] is True and d["iqr_s"] == 2.0


def test_alternating_callable_is_flagged_noisy():
    durations = itertools.cycle([0.0005, 0.003])
    t = time_callable(lambda: _spin(next(durations)), warmup=1, warmup_s=0.0, min_repeats=12, budget_s=0.0,
                      max_repeats=12, extend_if_noisy=False)
    assert t.inner == 1  # long calls are timed one by one, so the alternation is seen
    assert t.n == 12
    assert t.noisy, t
    assert t.dispersion > 0.5


def test_steady_callable_is_not_noisy():
    # another process may preempt a spin now and then (short spins are hit less often); a few
    # tries are plenty for an honest flag
    for _ in range(5):
        t = time_callable(lambda: _spin(0.0002), warmup=2, warmup_s=0.0, min_repeats=20, budget_s=0.0,
                          max_repeats=20)
        if not t.noisy:
            break
    assert not t.noisy, t
    assert t.median_s == pytest.approx(0.0002, rel=0.3)
    assert t.p10_s <= t.median_s <= t.p90_s


def test_fast_callable_is_batched_and_budget_bounds_time():
    start = time.perf_counter()
    t = time_callable(lambda: None, min_repeats=5, budget_s=0.05, warmup_s=0.0)
    assert time.perf_counter() - start < 1.0
    assert t.inner > 1  # sub-microsecond calls are timed in batches
    assert 0 < t.median_s < 1e-4


def test_max_total_s_stops_slow_calls_early():
    t = time_callable(lambda: _spin(0.01), warmup=1, warmup_s=0.0, min_repeats=50, budget_s=0.0, max_total_s=0.05)
    assert 3 <= t.n < 10


def test_num_threads_sets_and_restores():
    before = torch.get_num_threads()
    with num_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
        t = time_callable(lambda: None, min_repeats=3, budget_s=0.0, warmup_s=0.0)
        assert t.threads == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with num_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with num_threads(None) as n:
        assert n == before


def test_cuda_path_is_guarded_by_device():
    # the CPU path must never touch torch.cuda; a CUDA device is only timed with events when present
    if torch.cuda.is_available():
        x = torch.ones(1024, device="cuda")
        t = time_callable(lambda: x.add_(1), device="cuda", min_repeats=5, budget_s=0.01)
        assert t.device == "cuda" and t.median_s > 0
    else:
        t = time_callable(lambda: None, device="cpu", min_repeats=3, budget_s=0.0)
        assert t.device == "cpu"


def test_abort_call_s_raises_on_a_slow_first_call():
    from roofline.calibration.timing import CallTooSlow

    with pytest.raises(CallTooSlow) as err:
        time_callable(lambda: _spin(0.02), abort_call_s=0.005, min_repeats=3)
    assert err.value.seconds >= 0.02


_RSS_SCRIPT = """
import sys, torch
def rss():  # anonymous resident memory: heap and mmap'd blocks, not library code paged in
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
torch.ones(1024, dtype=torch.uint8)  # the fill kernel's first use, before measuring
if sys.argv[1] == "settle":
    from roofline.calibration.timing import settle_allocator
    settle_allocator()
before = rss()
x = torch.ones(16 << 20, dtype=torch.uint8)  # 16 MiB, touched
del x
print(rss() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/status").exists(),
                    reason="glibc's dynamic mmap threshold is what settle_allocator sets")
@pytest.mark.slow
def test_settled_allocator_reuses_large_blocks_instead_of_unmapping_them():
    """In a fresh process a 16 MiB block is mmap'd and returned on free (the next one faults in
    anew); after settle_allocator it comes from the heap and stays resident for reuse."""
    def retained(mode):
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    assert retained("fresh") < 4 << 20
    assert retained("settle") > 12 << 20
