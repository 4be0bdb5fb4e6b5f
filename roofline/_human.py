"""Human-readable quantities at the edges (tables, messages); everything inside stays SI."""
from __future__ import annotations

import math
from typing import Any, Iterable


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


def per_second(value: float | None) -> str:
    """A rate without a silent zero: 1234.5 -> '1,234.5', 0.0123 -> '0.0123' (three significant
    digits below 10); None or non-finite -> '-'."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def table(title: str | None, columns: Iterable[tuple[str, str]], rows: Iterable[Iterable[Any]]) -> Any:
    """columns: (header, justify)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold", show_lines=False, pad_edge=True)
    for header, justify in columns:
        t.add_column(header, justify=justify, no_wrap=justify == "right", overflow="fold")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    return t


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """1.23e9 -> '1.23 G' + unit."""
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}".strip()
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"),
                (1e-9, "n")]
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def console(*, stderr: bool = False) -> Any:
    """A rich Console; piped output (files, CI logs) gets a wide page instead of rich's default 80 columns,
    so that layer names are not truncated."""
    from rich.console import Console

    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(width=200, stderr=stderr)


def warn(message: str, err_console: Any = None) -> None:
    """A warning on stderr."""
    (err_console or console(stderr=True)).print(f"[yellow]warning:[/yellow] {message}", highlight=False)
