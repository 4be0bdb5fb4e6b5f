"""Cost per inference: amortised purchase price plus electricity.

    cost per inference (USD) = price_usd / (throughput_per_s x utilization x years x SECONDS_PER_YEAR)
                               + energy_per_item_j / JOULES_PER_KWH x electricity_usd_per_kwh

- the purchase price is spread over the inferences the device serves in ``years``, busy
  ``utilization`` of the time at its predicted throughput;
- electricity is the energy of each inference (predict.energy) at ``electricity_usd_per_kwh``;
  idle draw between requests is not charged to the inferences;
- a device without a price gets the energy part alone (``basis == "energy only"``); one with
  neither a price nor a power figure gets no cost.

A year is 365.25 days (31,557,600 s; 8,766 h).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from roofline.errors import RooflineError

SECONDS_PER_YEAR = 365.25 * 24 * 3600
HOURS_PER_YEAR = 365.25 * 24
JOULES_PER_KWH = 3.6e6

FORMULA = ("cost per inference = purchase price / (throughput x utilization x years x 31,557,600 s) "
           "+ energy per inference (J) / 3.6e6 x electricity price (USD/kWh)")

BASIS_FULL = "purchase + energy"
BASIS_ENERGY_ONLY = "energy only"
BASIS_PURCHASE_ONLY = "purchase only"
BASIS_NONE = "unavailable"


class CostAssumptionError(RooflineError):
    """An electricity price, period or utilisation outside its range."""


@dataclass(frozen=True)
class CostAssumptions:
    """What a device costs to own and run. SI and USD."""

    electricity_usd_per_kwh: float = 0.15
    years: float = 3.0
    utilization: float = 0.5  # fraction of the time the device serves inferences

    def __post_init__(self) -> None:
        check_cost_inputs(self.electricity_usd_per_kwh, self.years, self.utilization)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_cost_inputs(electricity_usd_per_kwh: float, years: float, utilization: float | None = None) -> None:
    if not _finite(electricity_usd_per_kwh) or electricity_usd_per_kwh < 0:
        raise CostAssumptionError(f"electricity price must be a non-negative number of USD per kWh, "
                                  f"got {electricity_usd_per_kwh!r}")
    if not _finite(years) or years <= 0:
        raise CostAssumptionError(f"years must be a positive number, got {years!r}")
    if utilization is not None and (not _finite(utilization) or not 0 < utilization <= 1):
        raise CostAssumptionError(f"utilization must be in (0, 1], got {utilization!r}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class InferenceCost:
    """Cost of one million inferences, split into its parts (None: the part is not known)."""

    purchase_usd_per_million: float | None
    energy_usd_per_million: float | None
    total_usd_per_million: float | None
    basis: str  # BASIS_FULL, BASIS_ENERGY_ONLY, BASIS_PURCHASE_ONLY or BASIS_NONE


def inference_cost(throughput_per_s: float, energy_per_item_j: float | None, price_usd: float | None,
                   assumptions: CostAssumptions) -> InferenceCost:
    purchase = None
    if price_usd is not None and throughput_per_s > 0:
        served = throughput_per_s * assumptions.utilization * assumptions.years * SECONDS_PER_YEAR
        purchase = 1e6 * price_usd / served
    energy = None
    if energy_per_item_j is not None:
        energy = 1e6 * energy_per_item_j / JOULES_PER_KWH * assumptions.electricity_usd_per_kwh
    if purchase is not None and energy is not None:
        return InferenceCost(purchase, energy, purchase + energy, BASIS_FULL)
    if energy is not None:
        return InferenceCost(None, energy, energy, BASIS_ENERGY_ONLY)
    if purchase is not None:
        return InferenceCost(purchase, None, purchase, BASIS_PURCHASE_ONLY)
    return InferenceCost(None, None, None, BASIS_NONE)
