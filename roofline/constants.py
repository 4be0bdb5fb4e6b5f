"""Physical and accounting constants, and the cost defaults every command and API shares.

A year is 365.25 days (31,557,600 s; 8,766 h). The cost defaults are referenced by the Python API
(``roofline.decide.costs.CostAssumptions``) and by the CLI options, so they are written once, here.
"""
from __future__ import annotations

HOURS_PER_YEAR = 365.25 * 24
SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600
JOULES_PER_KWH = 3.6e6

DEFAULT_ELECTRICITY_USD_PER_KWH = 0.15
DEFAULT_YEARS = 3.0
DEFAULT_UTILIZATION = 0.5

__all__ = ["HOURS_PER_YEAR", "SECONDS_PER_YEAR", "JOULES_PER_KWH", "DEFAULT_ELECTRICITY_USD_PER_KWH", "DEFAULT_YEARS",
           "DEFAULT_UTILIZATION"]
