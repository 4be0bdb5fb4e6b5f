"""Human units for the report's tables (the edge: everything inside is SI and USD)."""
from __future__ import annotations

import re

from roofline._human import per_second, scaled, seconds  # noqa: F401  (seconds re-exported: one formatter for CLI and reports)


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{per_second(value)}/s"


def joules(value: float | None) -> str:
    return scaled(value, "J")


def watts(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3g} W" if value < 1e3 else f"{value / 1e3:,.3g} kW"


def usd(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 and abs(value) >= 1:
        return f"${value:,.0f}"
    return f"${value:,.{max(digits, 2)}f}" if abs(value) >= 1 else f"${value:.3g}"


def usd_cost(value: float | None) -> str:
    """A cost per million inferences: 3 significant digits, thousands separated."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"${value:,.0f}"
    return f"${value:.3g}"


def gigabytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e9:,.2f} GB" if abs(value) >= 1e8 else f"{value / 1e6:,.1f} MB"


def flops(value: float | None) -> str:
    if value is None:
        return "-"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}FLOP"
    return f"{value:.3g} FLOP"


def count(value: float | None) -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1e9, " B"), (1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:,.0f}"


def slug(text: str) -> str:
    """A file-name-safe form of a model name: 'ultralytics:yolo11n.yaml' -> 'ultralytics-yolo11n-yaml'."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower() or "model"
