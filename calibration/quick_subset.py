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

SELECTION: dict[str, Any] = {'families': ('gemm_square',
              'gelu',
              'conv3x3',
              'max_pool',
              'gconv3x3_s2',
              'upsample_bilinear',
              'gemm_m64',
              'gemm_m1',
              'gemm_m8'),
 'host': {'cpu_model': 'AMD EPYC',
          'threads': 1,
          'torch_version': '2.14.1+cu130',
          'date_utc': '2026-12-02T02:18:03+00:00'},
 'table': [{'step': 0,
            'added': '(dispatch and memory stages)',
            'median_abs_error': None,
            'max_abs_error': None,
            'estimated_s': 6.603874794999999},
           {'step': 1,
            'added': 'gemm_square',
            'median_abs_error': 0.25943932681140813,
            'max_abs_error': 0.6927390971520317,
            'estimated_s': 9.759965710829439},
           {'step': 2,
            'added': 'gelu',
            'median_abs_error': 0.2081381172270005,
            'max_abs_error': 0.6822616594932903,
            'estimated_s': 10.114887998829438},
           {'step': 3,
            'added': 'conv3x3',
            'median_abs_error': 0.1734033901562904,
            'max_abs_error': 1.0137550130509982,
            'estimated_s': 10.500036334880525},
           {'step': 4,
            'added': 'max_pool',
            'median_abs_error': 0.16196069735509805,
            'max_abs_error': 1.0149796733962986,
            'estimated_s': 10.750398702880524},
           {'step': 5,
            'added': 'gconv3x3_s2',
            'median_abs_error': 0.12717503561574228,
            'max_abs_error': 0.9774148392713248,
            'estimated_s': 10.872641262880524},
           {'step': 6,
            'added': 'upsample_bilinear',
            'median_abs_error': 0.11238410055706341,
            'max_abs_error': 0.9774405116260951,
            'estimated_s': 11.059809262880524},
           {'step': 7,
            'added': 'gemm_m64',
            'median_abs_error': 0.11020511533286859,
            'max_abs_error': 0.9773592253821132,
            'estimated_s': 12.186103938222718},
           {'step': 8,
            'added': 'gemm_m1',
            'median_abs_error': 0.10781571894305156,
            'max_abs_error': 0.5918642594875189,
            'estimated_s': 13.193363042222717},
           {'step': 9,
            'added': 'gemm_m8',
            'median_abs_error': 0.1072503600127841,
            'max_abs_error': 0.5917239450460607,
            'estimated_s': 14.201332674222718}]}


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
