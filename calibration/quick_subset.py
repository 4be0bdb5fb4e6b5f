"""Which probe families the ``quick`` plan times: data, written by benchmarks/accuracy/select_quick.py.

The script runs the full suite and the validation zoo once on a quiet host, then adds probe
families to the quick plan one at a time, each time the one whose measurements most reduce the
zoo's median absolute prediction error, until the plan's estimated duration reaches its budget
or no family helps any more (docs/calibration.md, "Quick plan"). It rewrites ``SELECTION``
below with the chosen families, in the order they were chosen, and the table of errors.

``families`` None means no selection has been recorded yet: the quick plan then times every
family at its quick shapes. The ``dispatch`` and ``memory`` stages are always timed: every fit
needs the per-op overhead and the memory levels.
"""
from __future__ import annotations

from typing import Any

ALWAYS_STAGES = ("dispatch", "memory")

SELECTION: dict[str, Any] = {
    "families": None,  # tuple of family names once selected
    "host": None,  # where the selection was measured (CPU model, threads, torch version, date)
    "table": [],  # one row per step: family added, zoo median / worst |error|, estimated quick seconds
}


def selected_families(selection: dict[str, Any] | None = None) -> tuple[str, ...] | None:
    families = (SELECTION if selection is None else selection).get("families")
    return tuple(families) if families is not None else None


def keep_in_plan(plan: str, case: Any, selection: dict[str, Any] | None = None) -> bool:
    """Whether ``case`` (a ProbeCase) is timed by ``plan``: every case in other plans; in ``quick``,
    the always-timed stages and the selected families."""
    if plan != "quick" or case.stage in ALWAYS_STAGES:
        return True
    families = selected_families(selection)
    return families is None or case.family in families
