"""Rank the devices that fit and meet the constraints ("which device?").

The workload is traced once; each device is then a few numpy operations (predict.model).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.predict import DeviceUnusable, Prediction, predict
from roofline.predict.efficiency import Runtime, Tier
from roofline.workload.types import Workload

SORT_KEYS = ("latency", "throughput", "energy", "price", "perf-per-dollar", "perf-per-watt")


@dataclass(frozen=True)
class Constraints:
    """Filters applied after prediction; None means unconstrained. SI units."""

    kinds: tuple[str, ...] | None = None
    max_latency_s: float | None = None
    min_throughput_per_s: float | None = None
    max_power_w: float | None = None
    max_price_usd: float | None = None


@dataclass(frozen=True)
class Exclusion:
    device: str
    device_name: str
    category: str  # memory, dtype, latency, throughput, power, price, missing spec, runtime, kind
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "device_name": self.device_name, "category": self.category,
                "reason": self.reason}


@dataclass
class RankResult:
    model: str
    batch: int
    dtype: str
    runtime: str
    sort: str
    ranked: list[Prediction] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "batch": self.batch,
            "dtype": self.dtype,
            "runtime": self.runtime,
            "sort": self.sort,
            "ranked": [p.to_dict() for p in self.ranked],
            "excluded": [e.to_dict() for e in self.excluded],
        }


def perf_per_dollar(p: Prediction) -> float | None:
    return p.throughput_per_s / p.price_usd if p.price_usd else None


def perf_per_watt(p: Prediction) -> float | None:
    return p.throughput_per_s / p.energy.power_w if p.energy.power_w else None


def _sort_key(sort: str):
    # devices lacking the figure a sort needs go last, in latency order
    def key(p: Prediction) -> tuple[int, float]:
        if sort == "latency":
            return 0, p.latency_s
        if sort == "throughput":
            return 0, -p.throughput_per_s
        if sort == "energy":
            e = p.energy.energy_per_item_j
            return (0, e) if e is not None else (1, p.latency_s)
        if sort == "price":
            return (0, p.price_usd) if p.price_usd is not None else (1, p.latency_s)
        if sort == "perf-per-dollar":
            v = perf_per_dollar(p)
            return (0, -v) if v is not None else (1, p.latency_s)
        if sort == "perf-per-watt":
            v = perf_per_watt(p)
            return (0, -v) if v is not None else (1, p.latency_s)
        raise RooflineError(f"unknown sort key {sort!r}: choose {', '.join(SORT_KEYS)}")
    return key


def _violations(p: Prediction, c: Constraints) -> list[tuple[str, str]]:
    out = []
    if c.max_latency_s is not None and p.latency_s > c.max_latency_s:
        out.append(("latency", f"latency {p.latency_s * 1e3:.3g} ms > {c.max_latency_s * 1e3:.3g} ms"))
    if c.min_throughput_per_s is not None and p.throughput_per_s < c.min_throughput_per_s:
        out.append(("throughput", f"throughput {p.throughput_per_s:.3g}/s < {c.min_throughput_per_s:.3g}/s"))
    return out + power_and_price_violations(p.tdp_w, p.price_usd, c.max_power_w, c.max_price_usd)


def power_and_price_violations(tdp_w: float | None, price_usd: float | None, max_power_w: float | None,
                               max_price_usd: float | None) -> list[tuple[str, str]]:
    """(category, message) for a device over a power or price limit, or lacking the figure to check."""
    out = []
    if max_power_w is not None:
        if tdp_w is None:
            out.append(("missing spec", "power not in the catalog, cannot check --max-power"))
        elif tdp_w > max_power_w:
            out.append(("power", f"power {tdp_w:.3g} W > {max_power_w:.3g} W"))
    if max_price_usd is not None:
        if price_usd is None:
            out.append(("missing spec", "price not in the catalog, cannot check --max-price"))
        elif price_usd > max_price_usd:
            out.append(("price", f"price ${price_usd:,.0f} > ${max_price_usd:,.0f}"))
    return out


def rank(workload: Workload, devices: Iterable[DeviceSpec], constraints: Constraints | None = None, *,
         runtime: str | Runtime = Runtime.EAGER, tier: str | Tier | None = None, sort: str = "latency",
         top: int | None = None) -> RankResult:
    """Predict ``workload`` on every device, drop those that cannot run it or miss a constraint
    (each with its reason), and sort the rest."""
    constraints = constraints or Constraints()
    if sort not in SORT_KEYS:
        raise RooflineError(f"unknown sort key {sort!r}: choose {', '.join(SORT_KEYS)}")
    result = RankResult(workload.model, workload.batch, workload.dtype, str(runtime), sort)
    result.ranked, result.excluded = screen_and_sort(
        devices, constraints.kinds, lambda device: predict(workload, device, runtime=runtime, tier=tier),
        lambda p: _violations(p, constraints), _sort_key(sort), top)
    return result


def screen_and_sort(devices: Iterable[DeviceSpec], kinds: tuple[str, ...] | None, predict_one: Any,
                    violations: Any, sort_key: Any, top: int | None) -> tuple[list[Any], list[Exclusion]]:
    """Predict each device of the wanted kinds; exclude those that cannot run the workload, do not
    fit, or break a constraint (each with its reason); sort the rest. Shared by model and LLM
    ranking: ``predict_one(device)`` may raise DeviceUnusable, and its result has ``.memory``."""
    ranked, excluded = [], []
    for device in devices:
        if kinds and device.kind not in kinds:
            continue
        try:
            p = predict_one(device)
        except DeviceUnusable as exc:
            excluded.append(Exclusion(device.id, device.name, exc.category, str(exc).split(": ", 1)[-1]))
            continue
        if p.memory.fits is False:
            excluded.append(Exclusion(device.id, device.name, "memory", p.memory.shortfall_message()))
            continue
        problems = violations(p)
        if problems:
            excluded.append(Exclusion(device.id, device.name, problems[0][0], "; ".join(m for _, m in problems)))
            continue
        ranked.append(p)
    ranked.sort(key=sort_key)
    return (ranked[:top] if top is not None else ranked), excluded


# ------------------------------------------------------------------ CLI quantities

_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ/$%]*)\s*$")


def parse_duration(text: str) -> float:
    """'30ms', '0.03s', '500us' -> seconds."""
    value, unit = _split(text, "a duration such as 30ms or 0.03s")
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0}.get(unit)
    if scale is None:
        raise RooflineError(f"malformed duration {text!r}: use s, ms or us, e.g. 30ms")
    return value * scale


def parse_rate(text: str) -> float:
    """'100/s', '100', '6000/min' -> per second."""
    value, unit = _split(text, "a rate such as 100/s")
    scale = {"": 1.0, "/s": 1.0, "persec": 1.0, "/min": 1 / 60, "/h": 1 / 3600, "qps": 1.0, "ips": 1.0}.get(unit)
    if scale is None:
        raise RooflineError(f"malformed rate {text!r}: use e.g. 100/s or 6000/min")
    return value * scale


def parse_power(text: str) -> float:
    """'15W', '0.5kW' -> watts."""
    value, unit = _split(text, "a power such as 15W")
    scale = {"w": 1.0, "kw": 1e3, "mw": 1e-3}.get(unit.lower())
    if scale is None:
        raise RooflineError(f"malformed power {text!r}: use W or kW, e.g. 15W")
    return value * scale


def parse_usd(text: str) -> float:
    """'500', '$500', '1.5k' -> USD."""
    cleaned = str(text).strip().lstrip("$").replace(",", "")
    scale = 1.0
    if cleaned.lower().endswith("k"):
        cleaned, scale = cleaned[:-1], 1e3
    try:
        value = float(cleaned) * scale
    except ValueError:
        raise RooflineError(f"malformed price {text!r}: give US dollars, e.g. 500 or 1.5k") from None
    if not math.isfinite(value) or value < 0:
        raise RooflineError(f"malformed price {text!r}: must be a non-negative number of US dollars")
    return value


def _split(text: str, what: str) -> tuple[float, str]:
    m = _QUANTITY.match(str(text))
    if not m:
        raise RooflineError(f"malformed value {text!r}: expected {what}")
    value = float(m.group(1))
    if value <= 0:
        raise RooflineError(f"malformed value {text!r}: must be positive")
    return value, m.group(2)
