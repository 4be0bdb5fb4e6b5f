"""``roofline predict MODEL --device ID`` and ``roofline rank MODEL``: the main job."""
from __future__ import annotations

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.profile import load_workload, model_options

RUNTIME_OPTION = click.option("--runtime", type=click.Choice(["eager", "compiled"]), default="eager",
                              show_default=True,
                              help="eager: PyTorch eager (unfused, per-op overhead); compiled: fused-graph "
                                   "runtimes (TensorRT, OpenVINO, torch.compile).")
TIER_OPTION = click.option("--tier", type=click.Choice(["sol", "datasheet", "calibrated"]), default=None,
                           help="Efficiency tier (default: calibrated when the device has a calibration, "
                                "else datasheet; sol = 100 % of peak, no overhead).")


def _layer_rows(prediction, workload):
    """Per-layer aggregation of op predictions: (layer, type, time, bound, share, flops, bytes)."""
    rows: dict[str, list] = {}
    for op, p in zip(workload.ops, prediction.ops):
        if op.is_view:
            continue
        key = op.module or "(root)"
        row = rows.setdefault(key, [key, op.module_type, 0.0, 0.0, 0.0, 0, 0])
        row[2] += p.time_s
        if p.bound == "compute":
            row[3] += p.time_s
        else:
            row[4] += p.time_s
        row[5] += p.flops
        row[6] += p.bytes
    return rows.values()


@click.command()
@click.argument("model")
@click.option("--device", "device_id", required=True, help="Catalog device id (see `roofline devices list`).")
@model_options
@RUNTIME_OPTION
@TIER_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--top", "top_k", type=int, default=None, help="Show only the K slowest layers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units), with per-op records.")
def predict(model, device_id, imgsz, input_shape, batch, dtype, runtime, tier, catalogs, strict, top_k, as_json):
    """Predict latency, throughput, energy and memory fit of MODEL on one device."""
    from roofline.cli._render import emit_json, seconds, stdout, table, warn
    from roofline.predict import predict as run_predict

    catalog = _load(catalogs, strict)
    device = catalog.get(device_id)
    workload = load_workload(model, imgsz=imgsz, input_shape=input_shape, batch=batch, dtype=dtype)
    p = run_predict(workload, device, runtime=runtime, tier=tier, include_ops=True)
    if as_json:
        emit_json(p.to_dict(include_ops=True))
        return
    rows = sorted(_layer_rows(p, workload), key=lambda r: r[2], reverse=True)[:top_k] if top_k \
        else list(_layer_rows(p, workload))
    body = [(name, kind, seconds(t), "compute" if c >= m else "memory", f"{100 * t / p.latency_s:.1f}%",
             f"{f / 1e9:.4f}", f"{b / 1e6:.2f}") for name, kind, t, c, m, f, b in rows]
    stdout.print(table(f"{workload.model} on {device.name} ({p.runtime}, {p.tier}, batch {p.batch}, {p.dtype})",
                       [("layer", "left"), ("type", "left"), ("time", "right"), ("bound", "left"),
                        ("share", "right"), ("GFLOPs", "right"), ("MB", "right")], body))
    _print_summary(p)
    for note in p.notes + ([p.energy.note] if p.energy.note else []):
        warn(note)
    if p.memory.fits is False:
        warn(f"does not fit: {p.memory.shortfall_message()}")


def _print_summary(p) -> None:
    from roofline.cli._render import seconds, si, stdout

    energy = (f"{p.energy.energy_per_item_j:.3g} J/inference ({p.energy.inferences_per_kwh:,.0f} per kWh, "
              f"{p.energy.method})" if p.energy.energy_j is not None else "energy: no power figure")
    fit = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[p.memory.fits]
    stdout.print(
        f"{p.device}: latency {seconds(p.latency_s)} at batch {p.batch}, {p.throughput_per_s:,.1f} items/s, "
        f"{p.bound}-bound ({100 * p.compute_bound_share:.0f}% compute, {100 * p.memory_bound_share:.0f}% memory, "
        f"{100 * p.overhead_share:.0f}% overhead), {si(p.achieved_flops_per_s, 'FLOP/s')} achieved "
        f"({100 * p.compute_utilization:.1f}% of peak), {energy}; memory {fit} "
        f"({p.memory.required_bytes / 1e9:.3g} GB needed); tier {p.tier}: {p.error_band}",
        highlight=False, soft_wrap=True)


@click.command()
@click.argument("model")
@model_options
@RUNTIME_OPTION
@TIER_OPTION
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["cpu", "gpu", "sbc", "accelerator"]),
              help="Only devices of this kind (repeatable).")
@click.option("--max-latency", default=None, help="Latency limit, e.g. 30ms or 0.03s.")
@click.option("--min-throughput", default=None, help="Throughput floor, e.g. 100/s.")
@click.option("--max-power", default=None, help="Power limit (TDP / board power), e.g. 15W.")
@click.option("--max-price", default=None, help="Price limit in USD, e.g. 500.")
@click.option("--sort", type=click.Choice(["latency", "throughput", "energy", "price", "perf-per-dollar",
                                           "perf-per-watt"]), default="latency", show_default=True)
@click.option("--top", "top_n", type=int, default=None, help="Show the N best devices.")
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units).")
def rank(model, imgsz, input_shape, batch, dtype, runtime, tier, kinds, max_latency, min_throughput, max_power,
         max_price, sort, top_n, catalogs, strict, as_json):
    """Rank the catalog devices that fit MODEL and meet the constraints."""
    from roofline.cli._render import emit_json, seconds, stdout, table
    from roofline.ranking import Constraints, parse_duration, parse_power, parse_rate, parse_usd, perf_per_dollar
    from roofline.ranking import rank as run_rank

    constraints = Constraints(
        kinds=tuple(kinds) or None,
        max_latency_s=parse_duration(max_latency) if max_latency else None,
        min_throughput_per_s=parse_rate(min_throughput) if min_throughput else None,
        max_power_w=parse_power(max_power) if max_power else None,
        max_price_usd=parse_usd(max_price) if max_price else None,
    )
    catalog = _load(catalogs, strict)
    workload = load_workload(model, imgsz=imgsz, input_shape=input_shape, batch=batch, dtype=dtype)
    result = run_rank(workload, catalog, constraints, runtime=runtime, tier=tier, sort=sort, top=top_n)
    if as_json:
        emit_json(result.to_dict())
        return
    body = []
    for i, p in enumerate(result.ranked, 1):
        ppd = perf_per_dollar(p)
        body.append((i, p.device, p.kind, seconds(p.latency_s), f"{p.throughput_per_s:,.1f}",
                     f"{p.energy.energy_per_item_j:.3g}" if p.energy.energy_per_item_j is not None else "-",
                     p.bound, p.tier, f"{p.memory.required_bytes / 1e9:.2f}/"
                     + (f"{p.memory.available_bytes / 1e9:.0f}" if p.memory.available_bytes else "?"),
                     f"${p.price_usd:,.0f}" if p.price_usd is not None else "-",
                     f"{ppd:.3g}" if ppd is not None else "-"))
    title = (f"{workload.model}, batch {workload.batch}, {workload.dtype}, {runtime} runtime: "
             f"{len(result.ranked)} devices, sorted by {sort}")
    stdout.print(table(title, [("#", "right"), ("device", "left"), ("kind", "left"), ("latency", "right"),
                               ("items/s", "right"), ("J/item", "right"), ("bound", "left"), ("tier", "left"),
                               ("memory GB", "right"), ("price", "right"), ("items/s/$", "right")], body))
    if result.excluded:
        stdout.print(table("excluded", [("device", "left"), ("reason", "left"), ("detail", "left")],
                           [(e.device, e.category, e.reason) for e in result.excluded]))
    if not result.ranked and (constraints.max_latency_s or constraints.min_throughput_per_s):
        closest = run_rank(workload, catalog, Constraints(kinds=constraints.kinds), runtime=runtime, tier=tier,
                           sort="latency", top=1).ranked
        if closest:
            stdout.print(f"no device meets the constraints; the fastest that fits is {closest[0].device} at "
                         f"{seconds(closest[0].latency_s)}", highlight=False)
