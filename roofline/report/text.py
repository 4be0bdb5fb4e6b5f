"""Wording shared by the HTML and Markdown renderers: column headers, cells, assumptions."""
from __future__ import annotations

from typing import Any

from roofline.predict.energy import STATIC_SHARE_DEFAULT
from roofline.report import format as fmt
from roofline.decide.costs import BASIS_CLOUD, BASIS_ENERGY_ONLY, BASIS_PURCHASE_ONLY
from roofline.report.data import DeviceRow, ModelSection, ReportData

# Serving metrics shown after the request latency: (header, metric).
SERVING_COLUMNS: tuple[tuple[str, str], ...] = (("TTFT", "ttft_s"), ("TPOT", "tpot_s"),
                                                ("decode tokens/s", "tokens_per_s"))


def columns(section: ModelSection) -> tuple[tuple[str, str], ...]:
    """(header, row field or metric whose exact value a cell carries) of a section's device table."""
    unit = section.unit
    serving = section.scenario == "serving"
    out = [("device", "device"), ("kind", "kind"),
           ("latency / request" if serving else "latency / batch", "latency_s")]
    out += list(SERVING_COLUMNS) if serving else []
    out += [("throughput" if not serving else "output tokens/s", "throughput_per_s"),
            (f"energy / {unit}", "energy_per_unit_j"), ("price", "price_usd"),
            (f"USD / 1M {unit}s", "cost_usd_per_million"), ("of which purchase", "purchase_usd_per_million"),
            ("of which energy", "energy_usd_per_million"), ("memory headroom", "memory_headroom_bytes"),
            ("tier", "tier"), ("bound", "bound")]
    return tuple(out)


COST_MARK = {BASIS_ENERGY_ONLY: " †", BASIS_PURCHASE_ONLY: " ‡", BASIS_CLOUD: " ☁"}
COST_FOOTNOTES = {
    BASIS_ENERGY_ONLY: "† no purchase price in the catalog: energy-only cost, not comparable with full costs.",
    BASIS_PURCHASE_ONLY: "‡ no power figure in the catalog: purchase-only cost, electricity not included.",
    BASIS_CLOUD: "☁ no purchase price in the catalog: the cloud price per hour (energy included).",
}


def cell(row: DeviceRow, field: str) -> str:
    value = row.value(field)
    if field in ("latency_s", "ttft_s", "tpot_s"):
        return fmt.seconds(value)
    if field in ("throughput_per_s", "tokens_per_s"):
        return fmt.rate(value)
    if field == "energy_per_unit_j":
        return fmt.joules(value)
    if field == "price_usd":
        return fmt.usd(value)
    if field == "cost_usd_per_million":
        return fmt.usd_cost(value) + (COST_MARK.get(row.cost_basis, "") if value is not None else "")
    if field in ("purchase_usd_per_million", "energy_usd_per_million"):
        return fmt.usd_cost(value)
    if field == "memory_headroom_bytes":
        return fmt.gigabytes(value) if value is not None else "not checked"
    return "-" if value is None else str(value)


def footnotes(section: ModelSection) -> list[str]:
    bases = {r.cost_basis for r in section.rows}
    return [COST_FOOTNOTES[b] for b in (BASIS_ENERGY_ONLY, BASIS_PURCHASE_ONLY, BASIS_CLOUD) if b in bases]


def workload_line(section: ModelSection) -> str:
    o = section.options
    if section.scenario == "serving":
        return (f"batch {section.batch} of {o.get('prompt')} prompt + {o.get('generate')} generated tokens, "
                f"activations {section.dtype}, weights {o.get('weights')}, KV cache {o.get('kv_dtype')}, "
                f"{section.runtime} runtime; {fmt.flops(section.flops)} in the prefill, "
                f"{fmt.count(section.params)} parameters ({fmt.gigabytes(section.weight_bytes)} of weights)")
    return (f"batch {section.batch}, {section.dtype}, {section.runtime} runtime; {fmt.flops(section.flops)} per "
            f"batch, {fmt.count(section.params)} parameters ({fmt.gigabytes(section.weight_bytes)} of weights)")


def assumptions(data: ReportData) -> list[tuple[str, str]]:
    c = data.costs
    tier = data.tier or "calibrated where the device has a calibration, else datasheet"
    rows = [
        ("runtime", f"{data.runtime} ({'PyTorch eager: unfused, per-op dispatch overhead' if data.runtime == 'eager' else 'fused-graph runtime such as TensorRT, OpenVINO or torch.compile'})"),
        ("prediction tier", tier),
        ("electricity price", f"{c.electricity_usd_per_kwh:g} USD/kWh"),
        ("period of ownership", f"{c.years:g} years"),
        ("utilisation", f"{100 * c.utilization:g} % of the time serving requests"),
        ("budget", fmt.usd(data.budget_usd) if data.budget_usd is not None else "none given"),
        ("cost formula", data.cost_formula + "; idle draw between requests is not charged"),
        ("energy model", "energy per batch = latency x power, power = idle + (TDP - idle) x utilisation of the "
                         f"busiest resource; idle taken as {100 * STATIC_SHARE_DEFAULT:.0f} % of TDP where the "
                         "catalog has no idle figure"),
        ("price", "launch list price (MSRP) from the catalog; devices without one get the energy-only cost"),
        ("memory headroom", "usable device memory minus weights, KV cache (language models), peak activations and "
                            "runtime workspace"),
    ]
    for tier_name, band in data.error_bands.items():
        rows.append((f"error band ({tier_name})", band))
    return rows


def recommendation_rows(data: ReportData) -> list[tuple[str, str, str | None, str]]:
    """(model, objective title, device id or None, sentence)."""
    return [(s.model, r.title, r.device, r.text) for s in data.sections for r in s.recommendations]


def notes(section: ModelSection) -> list[str]:
    seen: dict[str, list[str]] = {}
    for r in section.rows:
        for n in r.notes:
            seen.setdefault(n, []).append(r.device)
    return [f"{n} ({', '.join(devs)})" for n, devs in seen.items()]


def json_value(value: Any) -> str:
    """The exact value of a cell for ``data-value``: repr of floats (round-trips), 'null' for None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
