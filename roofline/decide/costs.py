"""Cost per unit (inference or generated token): amortised purchase price plus electricity, or the
cloud price per hour. One rule for every scenario, ranking, plan and report.

    purchase part (USD/unit) = price_usd / (units/s x utilization x years x 31,557,600 s)
    energy part   (USD/unit) = energy per unit (J) / 3.6e6 x electricity (USD/kWh)
    cloud         (USD/unit) = usd_per_hour / 3600 / (units/s x utilization)      (energy included)

- ``basis="auto"`` uses the purchase price when the catalog has one, else the cloud price;
  ``"purchase"`` or ``"cloud"`` insists on one of them;
- a cost is *complete* when it has both its parts (purchase + energy) or is a cloud price. An
  incomplete cost (purchase only, energy only) is never ranked against complete ones without a
  marker: tables mark it, JSON says ``cost_complete: false``, and sorting puts it after every
  complete cost;
- idle draw between requests is not charged to the units (a plan charges it: roofline.decide.plan).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from roofline.constants import (DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_UTILIZATION, DEFAULT_YEARS,
                                JOULES_PER_KWH, SECONDS_PER_YEAR)
from roofline.errors import RooflineError

BASES = ("auto", "purchase", "cloud")

BASIS_FULL = "purchase + energy"
BASIS_CLOUD = "cloud price"
BASIS_ENERGY_ONLY = "energy only"
BASIS_PURCHASE_ONLY = "purchase only"
BASIS_NONE = "unavailable"
COMPLETE_BASES = frozenset({BASIS_FULL, BASIS_CLOUD})

FORMULA = ("cost per unit = purchase price / (throughput x utilization x years x 31,557,600 s) "
           "+ energy per unit (J) / 3.6e6 x electricity price (USD/kWh); or the cloud price per hour / 3600 / "
           "(throughput x utilization)")


class CostAssumptionError(RooflineError):
    """An electricity price, period, utilisation or cost basis outside its range."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class CostAssumptions:
    """What a device costs to own and run. SI and USD. Defaults: roofline.constants."""

    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH
    years: float = DEFAULT_YEARS
    utilization: float = DEFAULT_UTILIZATION  # fraction of the time the device serves requests
    basis: str = "auto"

    def __post_init__(self) -> None:
        if not _finite(self.electricity_usd_per_kwh) or self.electricity_usd_per_kwh < 0:
            raise CostAssumptionError(f"electricity price must be a non-negative number of USD per kWh, "
                                      f"got {self.electricity_usd_per_kwh!r}")
        if not _finite(self.years) or self.years <= 0:
            raise CostAssumptionError(f"years must be a positive number, got {self.years!r}")
        if not _finite(self.utilization) or not 0 < self.utilization <= 1:
            raise CostAssumptionError(f"utilization must be in (0, 1], got {self.utilization!r}")
        if self.basis not in BASES:
            raise CostAssumptionError(f"unknown cost basis {self.basis!r}: choose {', '.join(BASES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cost:
    """Cost of one million units, split into its parts (None: the part is not known)."""

    unit: str
    purchase_usd_per_million: float | None
    energy_usd_per_million: float | None
    cloud_usd_per_million: float | None
    total_usd_per_million: float | None
    basis: str

    @property
    def complete(self) -> bool:
        return self.basis in COMPLETE_BASES

    def to_dict(self) -> dict[str, Any]:
        return {"cost_usd_per_million_units": self.total_usd_per_million, "cost_basis": self.basis,
                "cost_complete": self.complete, "purchase_usd_per_million_units": self.purchase_usd_per_million,
                "energy_usd_per_million_units": self.energy_usd_per_million,
                "cloud_usd_per_million_units": self.cloud_usd_per_million}


def unit_cost(units_per_s: float, energy_per_unit_j: float | None, price_usd: float | None,
              cloud_usd_per_hour: float | None, assumptions: CostAssumptions, unit: str = "unit") -> Cost:
    """The rule of the module docstring."""
    a = assumptions
    energy = 1e6 * energy_per_unit_j / JOULES_PER_KWH * a.electricity_usd_per_kwh \
        if energy_per_unit_j is not None else None
    served = units_per_s * a.utilization
    cloud = 1e6 * cloud_usd_per_hour / 3600 / served if cloud_usd_per_hour is not None and served > 0 else None
    purchase = 1e6 * price_usd / (served * a.years * SECONDS_PER_YEAR) if price_usd is not None and served > 0 \
        else None
    use_cloud = cloud is not None and (a.basis == "cloud" or (a.basis == "auto" and purchase is None))
    if use_cloud:
        return Cost(unit, None, energy, cloud, cloud, BASIS_CLOUD)
    if a.basis == "cloud":
        return Cost(unit, None, energy, None, None, BASIS_NONE)
    if purchase is not None and energy is not None:
        return Cost(unit, purchase, energy, None, purchase + energy, BASIS_FULL)
    if purchase is not None:
        return Cost(unit, purchase, None, None, purchase, BASIS_PURCHASE_ONLY)
    if energy is not None:
        return Cost(unit, None, energy, None, energy, BASIS_ENERGY_ONLY)
    return Cost(unit, None, None, None, None, BASIS_NONE)


def cost_of(estimate: Any, assumptions: CostAssumptions | None = None) -> Cost:
    """The cost per million units of an Estimate (roofline.estimation)."""
    return unit_cost(estimate.throughput_per_s, estimate.energy_per_unit_j, estimate.price_usd,
                     estimate.usd_per_hour, assumptions or CostAssumptions(), estimate.unit)


__all__ = ["CostAssumptions", "Cost", "unit_cost", "cost_of", "CostAssumptionError", "BASES", "BASIS_FULL",
           "BASIS_CLOUD", "BASIS_ENERGY_ONLY", "BASIS_PURCHASE_ONLY", "BASIS_NONE", "COMPLETE_BASES", "FORMULA"]
