"""Work over several models in parallel processes (``--jobs N``), and the spinner of slow commands.

Each model is built and traced in its own process; the scenarios come back pickled, so the
estimates, rankings and reports made from them are the same as in one process. A user error in a
worker comes back as a one-line RooflineError.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator, Sequence

from roofline.errors import RooflineError


def default_jobs() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_jobs(jobs: int | None) -> int:
    if jobs is None:
        return default_jobs()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise RooflineError(f"--jobs must be a positive integer, got {jobs}")
    return jobs


def _call(fn: Callable[..., Any], args: tuple) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except RooflineError as exc:
        return "error", str(exc)


def map_in_processes(fn: Callable[..., Any], calls: Sequence[tuple], jobs: int | None = None, *,
                     prepare: Callable[[], None] | None = None) -> list[Any]:
    """``[fn(*args) for args in calls]``, in up to ``jobs`` processes (default: the core count), in order.

    One call, or ``jobs=1``, runs in this process. ``fn`` must be a module-level function;
    ``prepare`` runs once here before the workers fork (imports they share instead of repeating).
    """
    jobs = check_jobs(jobs)
    if jobs == 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: workers start without re-importing the caller's script (no __main__ guard needed) and
    # share what ``prepare`` imported (torch: about 2 s a process)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if prepare is not None and method == "fork":
        prepare()
    with ProcessPoolExecutor(max_workers=min(jobs, len(calls)), mp_context=multiprocessing.get_context(method)) as pool:
        results = list(pool.map(_call, [fn] * len(calls), calls))
    out = []
    for status, value in results:
        if status == "error":
            raise RooflineError(value)
        out.append(value)
    return out


def scenario_of(model: Any, options: Any, batch: int | None, dtype: str | None) -> Any:
    """The scenario of one model (a worker of ``map_in_processes``)."""
    from roofline.resolve import ScenarioSource

    return ScenarioSource(model, options).scenario(batch, dtype)


def scenarios_of(models: Sequence[Any], options: Any, batch: int | None, dtype: str | None,
                 jobs: int | None = None) -> list[Any]:
    """The scenarios of several models, traced in up to ``jobs`` processes, in the models' order."""
    return map_in_processes(scenario_of, [(m, options, batch, dtype) for m in models], jobs, prepare=_import_tracing)


def _import_tracing() -> None:
    """What every trace imports (torch, TorchDynamo, which FakeTensorMode loads, and torchvision when
    installed), imported once before the workers fork instead of once in each."""
    import importlib

    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401

    import roofline.sources  # noqa: F401
    import roofline.workload.build  # noqa: F401

    try:
        importlib.import_module("torchvision")
    except ImportError:
        pass


@contextlib.contextmanager
def spinner(message: str, *, enabled: bool = True) -> Iterator[None]:
    """A rich spinner on stderr while a slow step runs; only when stderr is a terminal and ``enabled``
    (commands pass ``not as_json``), so pipes, files and JSON output never see it."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message, spinner="dots"):
        yield


__all__ = ["default_jobs", "check_jobs", "map_in_processes", "scenario_of", "scenarios_of", "spinner"]
