"""Timing harness: warm-up, adaptive repeats, robust statistics and a noise flag.

A sample is one timed batch of ``inner`` back-to-back calls; the per-call time is the batch time
divided by ``inner``. ``inner`` is chosen from the warm-up so that one sample lasts at least
``min_sample_s`` (timer resolution and the loop's own cost stay negligible), and stays 1 for
calls that are already long enough, so that call-to-call variation is seen, not averaged away.

On CUDA the harness records ``torch.cuda.Event`` pairs around each sample and synchronises;
on every other device it uses ``time.perf_counter``.
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

NOISY_THRESHOLD = 0.10  # IQR / median above which a measurement is flagged noisy


class CallTooSlow(Exception):
    """The first call took longer than the caller allowed; ``seconds`` says how long."""

    def __init__(self, seconds: float, limit_s: float) -> None:
        super().__init__(f"one call took {seconds:.2f} s, over the {limit_s:g} s limit")
        self.seconds = seconds


@dataclass(frozen=True)
class Timing:
    """Per-call wall time of a callable (seconds) and how much it varied."""

    median_s: float
    min_s: float
    p10_s: float
    p25_s: float
    p75_s: float
    p90_s: float
    n: int  # samples taken
    inner: int  # calls per sample
    threads: int
    device: str = "cpu"
    noisy_threshold: float = NOISY_THRESHOLD

    @property
    def iqr_s(self) -> float:
        return self.p75_s - self.p25_s

    @property
    def dispersion(self) -> float:
        """Relative dispersion: IQR / median."""
        return self.iqr_s / self.median_s if self.median_s > 0 else math.inf

    @property
    def noisy(self) -> bool:
        return self.n < 3 or self.dispersion > self.noisy_threshold

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(iqr_s=self.iqr_s, dispersion=self.dispersion, noisy=self.noisy)
        return d


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_s: list[float], *, inner: int = 1, threads: int = 1, device: str = "cpu",
              noisy_threshold: float = NOISY_THRESHOLD) -> Timing:
    """Statistics of per-call times (already divided by ``inner``)."""
    s = sorted(samples_s)
    return Timing(
        median_s=statistics.median(s), min_s=s[0], p10_s=quantile(s, 0.10), p25_s=quantile(s, 0.25),
        p75_s=quantile(s, 0.75), p90_s=quantile(s, 0.90), n=len(s), inner=inner, threads=threads,
        device=device, noisy_threshold=noisy_threshold,
    )


# glibc's malloc serves a request above its mmap threshold with fresh mmap'd pages, page-faulted
# in on first touch and unmapped on free, and raises the threshold (to at most 32 MiB on 64-bit
# hosts) each time such a block is freed. Until it has risen past a network's activation sizes,
# every large output is faulted in anew on every call, and how far it has risen depends on what
# the process did before: on the development host the same synthetic network ran in 12 ms or in
# 16-23 ms depending on that history alone.
GLIBC_MMAP_THRESHOLD_MAX_BYTES = 32 << 20


def settle_allocator() -> None:
    """Put the CPU allocator in its steady state before timing: allocate and free one block just
    under glibc's maximum mmap threshold, which raises the threshold to that maximum (the state a
    long-running process reaches after its first large free). Every calibration and measurement
    then starts from the same state whatever ran before it; with another allocator (jemalloc,
    tcmalloc, a static MALLOC_MMAP_THRESHOLD_) it is a harmless allocation."""
    import torch

    block = torch.empty(GLIBC_MMAP_THRESHOLD_MAX_BYTES - (1 << 16), dtype=torch.uint8)
    del block


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[int]:
    """Set ``torch.set_num_threads(n)`` for the block and restore the previous count afterwards.

    ``None`` leaves the count alone. Yields the count in effect.
    """
    import torch

    old = torch.get_num_threads()
    if n is None or n == old:
        yield old
        return
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def _is_cuda(device: Any) -> bool:
    return str(device).startswith("cuda")


class _Clock:
    """Times one batch of calls; CUDA events on a CUDA device, perf_counter elsewhere."""

    def __init__(self, device: str) -> None:
        self.cuda = _is_cuda(device)
        if self.cuda:
            import torch

            self._torch = torch
            self._dev = torch.device(device)
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    def sync(self) -> None:
        if self.cuda:
            self._torch.cuda.synchronize(self._dev)

    def time_batch(self, fn: Callable[[], Any], inner: int) -> float:
        if self.cuda:
            self._start.record()
            for _ in range(inner):
                fn()
            self._end.record()
            self._end.synchronize()
            return self._start.elapsed_time(self._end) * 1e-3
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return time.perf_counter() - t0


def time_callable(
    fn: Callable[[], Any],
    *,
    device: str = "cpu",
    warmup: int = 2,
    warmup_s: float = 0.01,
    min_repeats: int = 5,
    max_repeats: int = 1000,
    budget_s: float = 0.2,
    min_sample_s: float = 5e-5,
    noisy_threshold: float = NOISY_THRESHOLD,
    extend_if_noisy: bool = True,
    max_total_s: float | None = None,
    abort_call_s: float | None = None,
) -> Timing:
    """Time ``fn()`` per call.

    Warm-up runs ``warmup`` calls and keeps going until ``warmup_s`` has passed. Samples are then
    taken until at least ``min_repeats`` exist and ``budget_s`` is spent, or ``max_repeats`` is
    reached. If the result is noisy and ``extend_if_noisy``, sampling continues up to twice the
    budget (more samples make the median trustworthy; the flag is recomputed at the end). The
    minimum count wins over the budget, so a slow call costs ``warm-up + min_repeats`` calls,
    unless ``max_total_s`` (warm-up included) runs out first: sampling then stops at 3 samples.
    ``abort_call_s``: raise ``CallTooSlow`` when the first call alone takes longer.
    """
    import torch

    clock = _Clock(device)
    threads = torch.get_num_threads()
    clock.sync()
    # warm-up, which also estimates the duration of one call
    n_warm = 0
    t_start = time.perf_counter()
    one = math.inf
    while n_warm < max(warmup, 1) or (time.perf_counter() - t_start) < warmup_s:
        dt = clock.time_batch(fn, 1)
        if abort_call_s is not None and n_warm == 0 and dt > abort_call_s:
            raise CallTooSlow(dt, abort_call_s)
        one = min(one, dt)
        n_warm += 1
        if n_warm >= 10_000:
            break
    inner = 1 if one >= min_sample_s else max(1, math.ceil(min_sample_s / max(one, 1e-9)))

    samples: list[float] = []
    t_warm = t_start
    t_start = time.perf_counter()

    def spent() -> float:
        return time.perf_counter() - t_start

    def out_of_time() -> bool:
        return max_total_s is not None and len(samples) >= 3 and time.perf_counter() - t_warm > max_total_s

    while len(samples) < max_repeats and (len(samples) < min_repeats or spent() < budget_s) and not out_of_time():
        samples.append(clock.time_batch(fn, inner) / inner)
    result = summarize(samples, inner=inner, threads=threads, device=str(device), noisy_threshold=noisy_threshold)
    if extend_if_noisy and result.noisy and len(samples) < max_repeats:
        while len(samples) < 2 * max_repeats and spent() < 2 * budget_s and not out_of_time():
            samples.append(clock.time_batch(fn, inner) / inner)
        result = summarize(samples, inner=inner, threads=threads, device=str(device), noisy_threshold=noisy_threshold)
    return result
