"""The raw grid for scripts: a model over batch sizes x dtypes x devices, as typed rows.

The model is built once and traced once per batch size; dtypes are re-priced from the same trace.
Rows go to a pandas DataFrame through ``rows.to_dataframe()`` when pandas is installed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

from roofline.catalog import DeviceSpec
from roofline.errors import MissingExtraError, RooflineError
from roofline.estimation import estimate_scenario
from roofline.predict import DeviceUnusable
from roofline.predict.efficiency import Runtime, Tier, parse_runtime, parse_tier
from roofline.scenario import Scenario


@dataclass(frozen=True)
class SweepRow:
    """One (model, batch, dtype, device) estimate. ``status``: ok, or why the device cannot run it or hold it
    (memory, dtype, runtime, missing spec) with ``reason``; numbers are None when it cannot run it."""

    model: str
    device: str
    device_name: str
    kind: str
    batch: int
    dtype: str
    runtime: str
    status: str
    reason: str | None
    tier: str | None
    latency_s: float | None
    throughput_per_s: float | None
    energy_per_unit_j: float | None
    power_w: float | None
    memory_required_bytes: int | None
    memory_available_bytes: float | None
    fits: bool | None
    bound: str | None
    tdp_w: float | None
    price_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_dataframe(rows: Iterable[Any]):
    """A pandas DataFrame of typed rows (``to_dict`` of each); pandas is optional."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("pandas is not installed: pip install pandas (the rows need nothing)") from None
    return pd.DataFrame([r.to_dict() for r in rows])


class SweepRows(list):
    """A list of :class:`SweepRow`; ``to_dataframe()`` when pandas is installed."""

    def to_dataframe(self):
        return to_dataframe(self)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]


def _row(s: Scenario, device: DeviceSpec, runtime: Runtime, tier: Tier | None) -> SweepRow:
    base = dict(model=s.model, device=device.id, device_name=device.name, kind=device.kind, batch=s.batch,
                dtype=s.dtype, runtime=runtime.value, tdp_w=device.power.tdp_w, price_usd=device.price.launch_usd)
    try:
        e = estimate_scenario(s, device, runtime=runtime, tier=tier)
    except DeviceUnusable as exc:
        return SweepRow(**base, status=exc.category, reason=exc.detail, tier=None, latency_s=None,
                        throughput_per_s=None, energy_per_unit_j=None, power_w=None, memory_required_bytes=None,
                        memory_available_bytes=None, fits=None, bound=None)
    status = "memory" if e.memory.fits is False else "ok"
    return SweepRow(**base, status=status, reason=e.memory.shortfall_message() if status == "memory" else None,
                    tier=e.tier, latency_s=e.latency_s, throughput_per_s=e.throughput_per_s,
                    energy_per_unit_j=e.energy_per_unit_j, power_w=e.power_w,
                    memory_required_bytes=e.memory.required_bytes, memory_available_bytes=e.memory.available_bytes,
                    fits=e.memory.fits, bound=e.bound)


def sweep_scenarios(scenarios: Iterable[Scenario], devices: Iterable[DeviceSpec], *,
                    runtime: str | Runtime | None = None, tier: str | Tier | None = None) -> SweepRows:
    """Every scenario on every device (pure: no tracing)."""
    devices = list(devices)
    tier = parse_tier(tier)
    return SweepRows(_row(s, d, parse_runtime(runtime or s.default_runtime), tier) for s in scenarios for d in devices)


def _model_scenarios(model: Any, options: Any, name: str | None, batches: Sequence[int],
                     dtypes: Sequence[str | None]) -> list[Scenario]:
    """One model's scenarios over batches x dtypes (one trace per batch size; a worker of --jobs)."""
    from roofline.resolve import ScenarioSource

    source = ScenarioSource(model, options, name=name)
    return [source.scenario(b, d) for b in batches for d in (list(dtypes) or [None])]


def sweep(model: Any, *, batches: Sequence[int] = (1,), dtypes: Sequence[str | None] = (None,),
          devices: Iterable[DeviceSpec | str] | None = None, kinds: Iterable[str] | None = None,
          runtime: str | Runtime | None = None, tier: str | Tier | None = None, options: Any = None,
          name: str | None = None, catalog: Any = None, jobs: int | None = None,
          progress: bool = True) -> SweepRows:
    """Estimate ``model`` over batch sizes x dtypes x devices; one trace per batch size.

    ``model`` may be a list of model names: each is traced in its own process, up to ``jobs`` at a
    time (default: the core count; 1: in this process), and the rows come in the models' order.
    ``progress``: a spinner on stderr while it runs, when stderr is a terminal.

    >>> rows = sweep("resnet50", batches=[1, 8, 32], dtypes=["fp32", "fp16"], devices=["nvidia-l4"])  # doctest: +SKIP
    >>> rows = sweep(["resnet18", "resnet50", "vit_b_16"], devices=["nvidia-l4"], jobs=3)  # doctest: +SKIP
    >>> rows.to_dataframe()  # doctest: +SKIP
    """
    from roofline.parallel import check_jobs, map_in_processes, spinner
    from roofline.parallel import _import_tracing as prepare
    from roofline.resolve import resolve_devices

    batches = list(batches)
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise RooflineError(f"batch sizes must be positive integers, got {batches!r}")
    jobs = check_jobs(jobs)
    specs = resolve_devices(devices, catalog=catalog, kinds=kinds)
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise RooflineError("sweep needs at least one model")
    if len(models) > 1 and name is not None:
        raise RooflineError("name= labels one model; a list of models keeps their own names")
    what = f"{len(models)} models" if len(models) > 1 else str(name or models[0])
    with spinner(f"sweeping {what} over {len(batches)} batch sizes and {len(specs)} devices...", enabled=progress):
        if len(models) == 1:
            scenarios = _model_scenarios(models[0], options, name, batches, dtypes)
        else:
            per_model = map_in_processes(_model_scenarios, [(m, options, None, batches, list(dtypes)) for m in models],
                                         jobs, prepare=prepare)
            scenarios = [s for group in per_model for s in group]
        return sweep_scenarios(scenarios, specs, runtime=runtime, tier=tier)


__all__ = ["sweep", "sweep_scenarios", "SweepRow", "SweepRows", "to_dataframe"]
