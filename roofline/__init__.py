"""roofline: which device should run this model, how fast, at what energy and cost.

The pipeline runs one way: model -> workload -> scenario -> device -> estimate -> decision
(rank, plan, report); docs/architecture.md.
Public names are imported lazily so that light commands (``roofline devices list``)
do not pay for importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "analyze": "roofline.workload",
    "profile": "roofline.workload.profile",
    "Workload": "roofline.workload",
    "OpRecord": "roofline.workload",
    "load_model": "roofline.sources",
    "load_catalog": "roofline.catalog",
    "DeviceSpec": "roofline.catalog",
    "predict": "roofline.predict",
    "Scenario": "roofline.scenario",
    "load_scenario": "roofline.resolve",
    "estimate": "roofline.estimation",
    "Estimate": "roofline.estimation",
    "rank": "roofline.decide.rank",
    "Constraints": "roofline.decide.rank",
    "CostAssumptions": "roofline.decide.costs",
    "plan": "roofline.decide.plan",
    "sweep": "roofline.decide.sweep",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roofline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
