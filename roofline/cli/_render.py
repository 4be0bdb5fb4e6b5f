"""Human output: rich tables on stdout, warnings on stderr. JSON goes through ``emit_json``."""
from __future__ import annotations

import json
import math
import sys
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from roofline._human import seconds  # noqa: F401  (one formatter for CLI and reports)

def _console(**kwargs: Any) -> Console:
    probe = Console(**kwargs)
    # Piped output (files, CI logs) gets a wide page instead of rich's default 80 columns,
    # so that layer names are not truncated.
    return probe if probe.is_terminal else Console(width=200, **kwargs)


stdout = _console()
stderr = _console(stderr=True)


def emit_json(data: Any) -> None:
    """Write JSON to stdout (plain, so it pipes into jq)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default, allow_nan=False))
    sys.stdout.write("\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def table(title: str | None, columns: Iterable[tuple[str, str]], rows: Iterable[Iterable[Any]]) -> Table:
    """columns: (header, justify)."""
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


