"""Human output: rich tables on stdout, warnings on stderr. JSON goes through ``emit_json``."""
from __future__ import annotations

import json
import math
import sys
from typing import Any, Iterable

from rich.console import Console

from roofline._human import warn as _warn
from roofline._human import console, per_second, seconds, si, table  # noqa: F401  (one formatter for CLI, reports, profile)



stdout = console()
stderr = console(stderr=True)


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
    _warn(message, stderr)
