"""Human-readable quantities at the edges (tables, messages); everything inside stays SI."""
from __future__ import annotations

import math


def scaled(value: float | None, unit: str) -> str:
    """A quantity of ``unit`` with no prefix, milli or micro: 0.0123 -> '12.3 m<unit>'; None or
    non-finite -> '-'."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 1:
        return f"{value:.3g} {unit}"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} m{unit}"
    return f"{value * 1e6:.3g} µ{unit}"


def seconds(value: float | None) -> str:
    """0.0123 -> '12.3 ms'; None or non-finite -> '-'."""
    return scaled(value, "s")
