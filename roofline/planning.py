"""Capacity planning: how many units of which device serve a request rate within a latency limit,
and what they cost to buy and to run.

Queueing assumption (QUEUEING_ASSUMPTION, stated in every result): requests arrive evenly at
``qps``; a central batcher groups them into batches of B and hands each full batch to a free
unit. The first request of a batch waits for the B-1 that follow it, (B-1)/qps, then the batch
runs for its service time S(B) on a unit:

    worst-case latency(B) = (B - 1) / qps + S(B)
    throughput per unit   = B / S(B)
    units                 = ceil(qps / throughput per unit)

For each device the batch sizes 1, 2, 4, ... up to ``batch_max`` are tried; those whose worst-case
latency exceeds the limit, or whose memory does not fit, are dropped, and the one with the lowest
total cost of ownership is kept (fewest units, then least energy, for devices without a price).

Power and cost, per device (a year is 8,766 h):

    busy fraction  f = qps / (units x throughput per unit)
    average power    = units x (f x P_run + (1 - f) x P_idle) = qps x E_item + units x (1 - f) x P_idle
    peak power       = units x TDP
    energy per year  = average power x 8,766 h;  energy cost = kWh x electricity price
    purchase         = units x launch price;     TCO = purchase + years x energy cost per year

P_run is the predicted board power while running the batch (predict.energy), P_idle the catalog's
idle figure (30 % of TDP when none is published; the measured one in the calibrated tier).

The model is traced once per batch size, never once per device; dtypes are re-priced from the
same trace. :func:`sweep` returns the raw grid (batch x dtype x device) as typed rows, and a pandas
DataFrame through ``rows.to_dataframe()`` when pandas is installed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from roofline.catalog import DeviceSpec
from roofline.errors import MissingExtraError, RooflineError
from roofline.predict import DeviceUnusable, Prediction, predict
from roofline.predict.efficiency import Runtime, Tier, parse_runtime, parse_tier
from roofline.predict.energy import STATIC_SHARE_DEFAULT
from roofline.report.costs import HOURS_PER_YEAR, check_cost_inputs
from roofline.workload.types import Workload

QUEUEING_ASSUMPTION = (
    "requests arrive evenly at the given rate; a central batcher fills each batch of B and sends it to a free "
    "unit, so worst-case latency = (B - 1) / qps + service time of a batch of B, and units = ceil(qps / (B / "
    "service time)); random (Poisson) arrivals add queueing delay on top, so leave headroom")

__all__ = ["plan", "plan_workloads", "sweep", "sweep_workloads", "batch_sizes", "load_workloads",
           "resolve_devices", "PlanRow", "PlanExclusion", "PlanResult", "SweepRow", "SweepRows",
           "NoDeviceMeetsLatency", "PlanInputError", "QUEUEING_ASSUMPTION"]


class PlanInputError(RooflineError):
    """A request rate, latency limit or batch bound out of range."""


class NoDeviceMeetsLatency(RooflineError):
    """No device meets the latency limit at any batch size; ``result`` holds the exclusions."""

    def __init__(self, message: str, result: "PlanResult"):
        super().__init__(message)
        self.result = result


# ------------------------------------------------------------------ inputs

def batch_sizes(batch_max: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``batch_max`` (powers of two)."""
    if isinstance(batch_max, bool) or not isinstance(batch_max, int) or batch_max < 1:
        raise PlanInputError(f"batch-max must be a positive integer, got {batch_max!r}")
    out, b = [], 1
    while b <= batch_max:
        out.append(b)
        b *= 2
    return tuple(out)


def load_workloads(model: Any, batches: Sequence[int | None], *, dtype: str | None = None,
                   input_shape: tuple[int, ...] | str | None = None, imgsz: int | None = None,
                   name: str | None = None) -> list[Workload]:
    """Build ``model`` once and trace it once per batch size (None: the model's default shape).

    ``model``: a name accepted by ``roofline.load_model`` (``"resnet50"``, ``"ultralytics:yolo11n.yaml"``,
    ``"pkg.mod:fn"``) or an ``nn.Module`` (then give ``input_shape``; its first dimension is the batch).
    """
    from roofline.sources.shapes import resolve_input_shape
    from roofline.workload import analyze
    from roofline.workload.dtypes import normalize_dtype

    dtype = normalize_dtype(dtype)
    if isinstance(model, str):
        from roofline.sources import load_model

        built = load_model(model)
        module, default, label = built.model, built.default_input_shape, name or model
    else:
        module, default, label = model, None, name or type(model).__name__
    out = []
    for b in batches:
        shape = resolve_input_shape(label, default, imgsz=imgsz, input_shape=input_shape, batch=b)
        out.append(analyze(module, shape, dtype=dtype, name=label))
    return out


def resolve_devices(devices: Iterable[DeviceSpec | str] | None = None, *, catalog: Any = None,
                    kinds: Iterable[str] | None = None) -> list[DeviceSpec]:
    """DeviceSpecs from specs or catalog ids (unknown ids: one-line error with suggestions); None =
    the whole catalog, optionally only ``kinds``. Duplicates are dropped, order kept."""
    if catalog is None:
        from roofline.catalog import load_catalog

        catalog = load_catalog()
    kinds = tuple(kinds or ())
    if devices is None:
        specs = [d for d in catalog if not kinds or d.kind in kinds]
        if kinds:
            for k in kinds:
                catalog.by_kind(k)  # unknown kind: one-line error with a suggestion
    else:
        specs = [d if isinstance(d, DeviceSpec) else catalog.get(str(d).strip()) for d in devices]
        if kinds:
            specs = [d for d in specs if d.kind in kinds]
    seen: set[str] = set()
    unique = []
    for d in specs:
        if d.id not in seen:
            seen.add(d.id)
            unique.append(d)
    return unique


def _check_plan_inputs(qps: float, p99_latency_s: float | None) -> None:
    if isinstance(qps, bool) or not isinstance(qps, (int, float)) or not math.isfinite(qps) or qps <= 0:
        raise PlanInputError(f"qps must be a positive number of requests per second, got {qps!r}")
    if p99_latency_s is not None and (not isinstance(p99_latency_s, (int, float)) or not math.isfinite(p99_latency_s)
                                      or p99_latency_s <= 0):
        raise PlanInputError(f"the latency limit must be a positive number of seconds, got {p99_latency_s!r}")


# ------------------------------------------------------------------ sweep

@dataclass(frozen=True)
class SweepRow:
    """One (model, batch, dtype, device) prediction. ``status``: ok, memory (does not fit), or why the
    device cannot run it (dtype, runtime, missing spec) with ``reason``; numbers are None then."""

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
    energy_per_item_j: float | None
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


def _sweep_row(w: Workload, device: DeviceSpec, runtime: Runtime, tier: Tier | None) -> SweepRow:
    try:
        p = predict(w, device, runtime=runtime, tier=tier)
    except DeviceUnusable as exc:
        return SweepRow(w.model, device.id, device.name, device.kind, w.batch, w.dtype, runtime.value, exc.category,
                        str(exc).split(": ", 1)[-1], None, None, None, None, None, None, None, None, None,
                        device.power.tdp_w, device.price.launch_usd)
    status = "memory" if p.memory.fits is False else "ok"
    return SweepRow(w.model, device.id, device.name, device.kind, w.batch, w.dtype, runtime.value, status,
                    p.memory.shortfall_message() if status == "memory" else None, p.tier, p.latency_s,
                    p.throughput_per_s, p.energy.energy_per_item_j, p.energy.power_w, p.memory.required_bytes,
                    p.memory.available_bytes, p.memory.fits, p.bound, p.tdp_w, p.price_usd)


def sweep_workloads(workloads: Iterable[Workload], devices: Iterable[DeviceSpec], *,
                    runtime: str | Runtime = Runtime.EAGER, tier: str | Tier | None = None) -> SweepRows:
    """Every workload on every device (pure: no tracing)."""
    runtime, tier = parse_runtime(runtime), parse_tier(tier)
    devices = list(devices)
    return SweepRows(_sweep_row(w, d, runtime, tier) for w in workloads for d in devices)


def sweep(model: Any, *, batches: Sequence[int] = (1,), dtypes: Sequence[str | None] = (None,),
          devices: Iterable[DeviceSpec | str] | None = None, kinds: Iterable[str] | None = None,
          runtime: str | Runtime = Runtime.EAGER, tier: str | Tier | None = None,
          input_shape: tuple[int, ...] | str | None = None, imgsz: int | None = None, name: str | None = None,
          catalog: Any = None) -> SweepRows:
    """Predict ``model`` over batch sizes x dtypes x devices; one trace per batch size.

    >>> rows = sweep("resnet50", batches=[1, 8, 32], dtypes=["fp32", "fp16"], devices=["nvidia-l4"])  # doctest: +SKIP
    >>> rows.to_dataframe()  # doctest: +SKIP
    """
    from roofline.workload.dtypes import normalize_dtype

    batches = list(batches)
    dtypes = [normalize_dtype(d) for d in dtypes] or [None]
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise PlanInputError(f"batch sizes must be positive integers, got {batches!r}")
    specs = resolve_devices(devices, catalog=catalog, kinds=kinds)
    traced = load_workloads(model, batches, dtype=dtypes[0], input_shape=input_shape, imgsz=imgsz, name=name)
    workloads = []
    for w in traced:
        workloads.append(w)
        workloads += [w.with_dtype(d) for d in dtypes[1:]]
    return sweep_workloads(workloads, specs, runtime=runtime, tier=tier)


# ------------------------------------------------------------------ plan

@dataclass(frozen=True)
class PlanRow:
    """The cheapest way to serve the load with one device type (SI units, USD)."""

    device: str
    device_name: str
    kind: str
    batch: int
    tier: str
    service_latency_s: float  # predicted time of one batch on one unit
    fill_latency_s: float  # (B - 1) / qps: waiting for the batch to fill
    worst_latency_s: float  # fill + service
    throughput_per_unit_per_s: float
    units: int
    busy_fraction: float  # share of the time each unit is running batches
    power_w: float | None  # average draw of all units at the given load
    peak_power_w: float | None  # units x TDP: what to provision
    unit_price_usd: float | None
    purchase_usd: float | None
    energy_kwh_per_year: float | None
    energy_usd_per_year: float | None
    tco_usd: float | None  # purchase + years x energy cost; None without a price or a power figure
    memory_required_bytes: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class PlanExclusion:
    device: str
    device_name: str
    category: str  # latency, memory, dtype, runtime, missing spec
    reason: str
    best_worst_latency_s: float | None = None  # latency exclusions: the lowest worst-case latency reached
    best_batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PlanResult:
    model: str
    qps: float
    p99_latency_s: float | None
    dtype: str
    runtime: str
    batches: tuple[int, ...]
    electricity_usd_per_kwh: float
    years: float
    assumption: str = QUEUEING_ASSUMPTION
    rows: list[PlanRow] = field(default_factory=list)  # lowest TCO first
    excluded: list[PlanExclusion] = field(default_factory=list)

    def closest(self) -> PlanExclusion | None:
        """Of the devices excluded for latency, the one that came closest to the limit."""
        near = [e for e in self.excluded if e.category == "latency" and e.best_worst_latency_s is not None]
        return min(near, key=lambda e: e.best_worst_latency_s) if near else None

    def to_dataframe(self):
        return to_dataframe(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "qps": self.qps, "p99_latency_s": self.p99_latency_s, "dtype": self.dtype,
            "runtime": self.runtime, "batches": list(self.batches),
            "electricity_usd_per_kwh": self.electricity_usd_per_kwh, "years": self.years,
            "assumption": self.assumption,
            "rows": [r.to_dict() for r in self.rows],
            "excluded": [e.to_dict() for e in self.excluded],
        }


def _idle_w(device: DeviceSpec, p: Prediction) -> float | None:
    if p.energy.method == "calibrated":
        from roofline.predict.model import execution_model

        power = execution_model(device, Runtime(p.runtime), Tier(p.tier)).power or {}
        if power.get("idle_w") is not None:
            return float(power["idle_w"])
    if device.power.tdp_w is None:
        return None
    return device.power.idle_w if device.power.idle_w is not None else STATIC_SHARE_DEFAULT * device.power.tdp_w


def units_needed(qps: float, throughput_per_unit_per_s: float) -> int:
    """ceil(qps / throughput), forgiving float rounding noise (one part in 1e12: 3.000000000000001 -> 3)."""
    ratio = qps / throughput_per_unit_per_s
    return max(1, math.ceil(ratio * (1 - 1e-12)))


def plan_row(p: Prediction, device: DeviceSpec, *, qps: float, electricity_usd_per_kwh: float,
             years: float) -> PlanRow:
    """The arithmetic of the module docstring for one prediction (one device at one batch size)."""
    b = p.batch
    throughput = p.throughput_per_s
    units = units_needed(qps, throughput)
    busy = qps / (units * throughput)
    notes = list(p.notes)
    power = peak = kwh = energy_usd = None
    idle = _idle_w(device, p)
    if p.energy.power_w is not None and idle is not None:
        power = units * (busy * p.energy.power_w + (1 - busy) * idle)
        kwh = power * HOURS_PER_YEAR / 1000
        energy_usd = kwh * electricity_usd_per_kwh
    else:
        notes.append("no power figure in the catalog: no energy cost")
    load_w = p.tdp_w
    if p.energy.method == "calibrated":
        from roofline.predict.model import execution_model

        measured = execution_model(device, Runtime(p.runtime), Tier(p.tier)).power or {}
        load_w = measured.get("load_w", load_w)
    if load_w is not None:
        peak = units * float(load_w)
    purchase = units * p.price_usd if p.price_usd is not None else None
    if purchase is None:
        notes.append("no price in the catalog: no purchase cost")
    tco = purchase + years * energy_usd if purchase is not None and energy_usd is not None else None
    fill = (b - 1) / qps
    return PlanRow(p.device, p.device_name, p.kind, b, p.tier, p.latency_s, fill, fill + p.latency_s, throughput,
                   units, busy, power, peak, p.price_usd, purchase, kwh, energy_usd, tco, p.memory.required_bytes,
                   tuple(notes))


def _cost_key(r: PlanRow) -> tuple:
    """TCO first; without a price, energy cost; without either, units. Ties: lower latency."""
    if r.tco_usd is not None:
        return 0, r.tco_usd, r.worst_latency_s
    if r.energy_usd_per_year is not None:
        return 1, r.energy_usd_per_year, r.worst_latency_s
    return 2, r.units, r.worst_latency_s


def _ms(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def plan_workloads(workloads: Sequence[Workload], devices: Iterable[DeviceSpec], *, qps: float,
                   p99_latency_s: float | None = None, runtime: str | Runtime = Runtime.EAGER,
                   tier: str | Tier | None = None, electricity_usd_per_kwh: float = 0.15,
                   years: float = 3.0) -> PlanResult:
    """Plan from already-traced workloads of one model, one per batch size (pure).

    Raises NoDeviceMeetsLatency when a latency limit excludes every device that could run the model.
    """
    _check_plan_inputs(qps, p99_latency_s)
    check_cost_inputs(electricity_usd_per_kwh, years)
    runtime, tier = parse_runtime(runtime), parse_tier(tier)
    workloads = sorted(workloads, key=lambda w: w.batch)
    if not workloads:
        raise PlanInputError("a plan needs at least one batch size")
    devices = list(devices)
    first = workloads[0]
    result = PlanResult(first.model, float(qps), p99_latency_s, first.dtype, runtime.value,
                        tuple(w.batch for w in workloads), electricity_usd_per_kwh, years)
    for device in devices:
        candidates: list[PlanRow] = []
        unusable: DeviceUnusable | None = None
        too_big: Prediction | None = None
        closest: PlanRow | None = None  # lowest worst-case latency among the batches that fit
        for w in workloads:
            try:
                p = predict(w, device, runtime=runtime, tier=tier)
            except DeviceUnusable as exc:
                unusable = exc
                break
            if p.memory.fits is False:
                too_big = too_big or p
                continue
            row = plan_row(p, device, qps=qps, electricity_usd_per_kwh=electricity_usd_per_kwh, years=years)
            if closest is None or row.worst_latency_s < closest.worst_latency_s:
                closest = row
            if p99_latency_s is None or row.worst_latency_s <= p99_latency_s:
                candidates.append(row)
        if candidates:
            result.rows.append(min(candidates, key=_cost_key))
        elif unusable is not None and closest is None:
            result.excluded.append(PlanExclusion(device.id, device.name, unusable.category,
                                                 str(unusable).split(": ", 1)[-1]))
        elif closest is None:
            result.excluded.append(PlanExclusion(device.id, device.name, "memory",
                                                 too_big.memory.shortfall_message() if too_big else "does not fit"))
        else:
            result.excluded.append(PlanExclusion(
                device.id, device.name, "latency",
                f"best worst-case latency {_ms(closest.worst_latency_s)} (batch {closest.batch}) > "
                f"{_ms(p99_latency_s)}", closest.worst_latency_s, closest.batch))
    result.rows.sort(key=_cost_key)
    if not result.rows and p99_latency_s is not None:
        near = result.closest()
        if near is not None:
            raise NoDeviceMeetsLatency(
                f"no device meets a worst-case latency of {_ms(p99_latency_s)} at {qps:g} requests/s; the closest is "
                f"{near.device} at {_ms(near.best_worst_latency_s)} (batch {near.best_batch})", result)
    return result


def plan(model: Any, *, qps: float, p99_latency_s: float | None = None,
         devices: Iterable[DeviceSpec | str] | None = None, kinds: Iterable[str] | None = None,
         batch_max: int = 64, dtype: str | None = None, runtime: str | Runtime = Runtime.EAGER,
         tier: str | Tier | None = None, electricity_usd_per_kwh: float = 0.15, years: float = 3.0,
         input_shape: tuple[int, ...] | str | None = None, imgsz: int | None = None, name: str | None = None,
         catalog: Any = None) -> PlanResult:
    """Serve ``qps`` requests/s of ``model`` within ``p99_latency_s`` (worst case, see the module
    docstring): per device the best batch size, units needed, power and cost, lowest TCO first.

    >>> import roofline
    >>> result = roofline.plan("resnet50", qps=500, p99_latency_s=0.05, kinds=["gpu"])  # doctest: +SKIP
    >>> result.rows[0].device, result.rows[0].units, result.rows[0].tco_usd  # doctest: +SKIP
    """
    _check_plan_inputs(qps, p99_latency_s)
    check_cost_inputs(electricity_usd_per_kwh, years)
    parse_runtime(runtime), parse_tier(tier)
    batches = batch_sizes(batch_max)
    specs = resolve_devices(devices, catalog=catalog, kinds=kinds)
    workloads = load_workloads(model, batches, dtype=dtype, input_shape=input_shape, imgsz=imgsz, name=name)
    return plan_workloads(workloads, specs, qps=qps, p99_latency_s=p99_latency_s, runtime=runtime, tier=tier,
                          electricity_usd_per_kwh=electricity_usd_per_kwh, years=years)
