"""Human-readable quantities at the edges (tables, messages); everything inside stays SI."""
from __future__ import annotations

import math


def seconds(value: float | None) -> str:
    """0.0123 -> '12.3 ms'; None or non-finite -> '-'."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"
