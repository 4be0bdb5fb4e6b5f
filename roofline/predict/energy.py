"""Energy per inference from a utilisation model of board power.

E = t x P,  P = P_static + (P_max - P_static) x u

- P_max: the catalog's TDP / board power (or the power measured under load by calibration);
- P_static: published idle power, or measured idle; when neither exists, 30 % of P_max, the
  static share of GenZ's power model (github.com/abhibambhaniya/GenZ-LLM-Analyzer, GenZ/power.py),
  and the result says so;
- u: utilisation of the binding resource, max(achieved FLOP/s / peak, achieved bytes/s / peak).

With calibrated power (``roofline calibrate`` on a host with RAPL, NVML or INA3221), the board's
measured draw replaces the utilisation model: the compute-bound share of the latency runs at the
power measured under a GEMM, the memory-bound share at the power under a STREAM triad, and the
per-op overhead share at the triad's power on CPUs (the core runs the dispatcher) and at idle
power on accelerators (the device waits for the next launch).

TDP-based figures overestimate real draw (an 8xH100 node peaked at 82 % of its rating), so the
datasheet tier is an upper-leaning estimate; calibrated power overrides it. A device without
any power figure gets no energy, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

from roofline.catalog import DeviceSpec
from roofline.constants import JOULES_PER_KWH

STATIC_SHARE_DEFAULT = 0.30


@dataclass(frozen=True)
class Energy:
    energy_j: float | None  # per forward pass (the whole batch)
    energy_per_item_j: float | None
    inferences_per_kwh: float | None
    power_w: float | None
    method: str  # "datasheet", "datasheet (idle estimated)", "calibrated", "unavailable"
    note: str | None = None
    idle_w: float | None = None  # the idle (static) power the estimate used
    load_w: float | None = None  # the power under full load it used (TDP, or measured under load)


def estimate_energy(latency_s: float, utilization: float, batch: int, device: DeviceSpec,
                    measured: dict | None = None, shares: tuple[float, float, float] | None = None) -> Energy:
    """``shares``: the latency's (compute-bound, memory-bound, overhead) fractions, used with
    calibrated compute and memory power."""
    u = min(max(utilization, 0.0), 1.0)
    if measured and shares is not None and all(measured.get(k) is not None for k in ("idle_w", "compute_w", "memory_w")):
        compute_share, memory_share, overhead_share = shares
        overhead_w = measured["memory_w"] if device.kind in ("cpu", "sbc") else measured["idle_w"]
        power = (compute_share * float(measured["compute_w"]) + memory_share * float(measured["memory_w"])
                 + overhead_share * float(overhead_w))
        energy = latency_s * power
        per_item = energy / batch
        load = measured.get("load_w")
        return Energy(energy, per_item, JOULES_PER_KWH / per_item if per_item > 0 else None, power, "calibrated",
                      idle_w=float(measured["idle_w"]),
                      load_w=float(load) if load is not None else max(float(measured["compute_w"]),
                                                                      float(measured["memory_w"])))
    if measured and measured.get("idle_w") is not None and measured.get("load_w") is not None:
        p_static, p_max, method, note = float(measured["idle_w"]), float(measured["load_w"]), "calibrated", None
    else:
        p_max = device.power.active_w  # power under load: measured wall power where published, else TDP
        if p_max is None:
            return Energy(None, None, None, None, "unavailable", "no power figure in the catalog")
        if device.power.idle_w is not None:
            p_static, method, note = device.power.idle_w, "datasheet", None
        else:
            p_static = STATIC_SHARE_DEFAULT * p_max
            method = "datasheet (idle estimated)"
            note = "idle power not published: static power taken as 30 % of TDP"
    power = p_static + (p_max - p_static) * u
    energy = latency_s * power
    per_item = energy / batch
    return Energy(energy, per_item, JOULES_PER_KWH / per_item if per_item > 0 else None, power, method, note,
                  idle_w=p_static, load_w=p_max)
