"""``roofline report MODEL...`` (a document for buyers) and ``roofline plan MODEL --qps N`` (capacity)."""
from __future__ import annotations

import math
import time

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.predict import RUNTIME_OPTION, TIER_OPTION
from roofline.cli.profile import model_options
from roofline.errors import RooflineError

_KINDS = click.Choice(["cpu", "gpu", "sbc", "accelerator"])


class OptionError(RooflineError):
    """A report or plan option with a malformed value."""


def _number(text: str, what: str, example: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise OptionError(f"malformed {what} {text!r}: expected a number such as {example}") from None
    if not math.isfinite(value):
        raise OptionError(f"malformed {what} {text!r}: expected a finite number such as {example}")
    return value


def parse_electricity(text: str) -> float:
    """'0.15', '$0.15', '0.15/kWh' -> USD per kWh."""
    cleaned = str(text).strip().lower().replace("usd", "").lstrip("$").strip()
    for suffix in ("/kwh", "per kwh"):
        cleaned = cleaned.removesuffix(suffix).strip()
    value = _number(cleaned, "electricity price", "0.15 (USD per kWh)")
    if value < 0:
        raise OptionError(f"malformed electricity price {text!r}: must be a non-negative number of USD per kWh")
    return value


def parse_years(text: str) -> float:
    value = _number(text, "period", "3 (years)")
    if value <= 0:
        raise OptionError(f"malformed period {text!r}: --years must be positive")
    return value


def parse_utilization(text: str) -> float:
    """'0.5' or '50%' -> 0.5."""
    cleaned = str(text).strip()
    scale = 1.0
    if cleaned.endswith("%"):
        cleaned, scale = cleaned[:-1], 0.01
    value = _number(cleaned, "utilization", "0.5 or 50%") * scale
    if not 0 < value <= 1:
        raise OptionError(f"malformed utilization {text!r}: must be in (0, 1], e.g. 0.5 or 50%")
    return value


def parse_batch_max(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise OptionError(f"malformed --batch-max {text!r}: expected a positive integer such as 64") from None
    if value < 1:
        raise OptionError(f"malformed --batch-max {text!r}: must be a positive integer")
    return value


def _devices(catalog, device_ids: str | None, kinds: tuple[str, ...]):
    from roofline.planning import resolve_devices

    if device_ids is not None and kinds:
        raise OptionError("give either --devices or --kind, not both")
    ids = None
    if device_ids is not None:
        ids = [i.strip() for i in device_ids.split(",") if i.strip()]
        if not ids:
            raise OptionError("--devices needs at least one device id, e.g. --devices nvidia-l4,nvidia-t4")
    specs = resolve_devices(ids, catalog=catalog, kinds=kinds or None)
    if not specs:
        raise OptionError("no device of kind " + ", ".join(kinds) + " in the catalog")
    return specs


_DEVICES_OPTION = click.option("--devices", "device_ids", default=None, metavar="ID,ID,...",
                               help="Comma-separated catalog device ids (default: the whole catalog).")
_KIND_OPTION = click.option("--kind", "kinds", multiple=True, type=_KINDS,
                            help="Only devices of this kind (repeatable); not with --devices.")
_ELECTRICITY_OPTION = click.option("--electricity", default="0.15", show_default=True, metavar="USD/kWh",
                                   help="Electricity price in USD per kWh.")
_YEARS_OPTION = click.option("--years", default="3", show_default=True,
                             help="Period of ownership over which the purchase price is amortised.")


@click.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL [MODEL...]")
@model_options
@RUNTIME_OPTION
@TIER_OPTION
@_DEVICES_OPTION
@_KIND_OPTION
@_ELECTRICITY_OPTION
@_YEARS_OPTION
@click.option("--utilization", default="0.5", show_default=True,
              help="Share of the time a device serves inferences (0.5 or 50%), for the amortised price.")
@click.option("--budget", default=None, metavar="USD", help="Purchase budget: adds 'best under budget'.")
@click.option("--out", "out", default=None, metavar="FILE",
              help="report.html (self-contained) or report.md (images in <stem>_files/).")
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report's data as JSON (SI units, USD).")
def report(models, imgsz, input_shape, batch, dtype, runtime, tier, device_ids, kinds, electricity, years,
           utilization, budget, out, catalogs, strict, as_json):
    """Write a buyer's report on MODEL(s): recommendations, per-device table, charts, sources."""
    from roofline.cli._render import emit_json, stdout
    from roofline.cli.profile import load_workload
    from roofline.ranking import parse_usd
    from roofline.report import CostAssumptions, build_report, check_output_path, write_report

    start = time.perf_counter()
    runtime = runtime or "eager"
    if out is None and not as_json:
        raise OptionError("give --out report.html or --out report.md (or --json for the data)")
    if out is not None:
        check_output_path(out)
    costs = CostAssumptions(parse_electricity(electricity), parse_years(years), parse_utilization(utilization))
    budget_usd = parse_usd(budget) if budget is not None else None
    catalog = _load(catalogs, strict)
    specs = _devices(catalog, device_ids, kinds)
    workloads = [load_workload(m, imgsz=imgsz, input_shape=input_shape, batch=batch, dtype=dtype) for m in models]
    data = build_report(workloads, specs, runtime=runtime, tier=tier, costs=costs, budget_usd=budget_usd)
    written = write_report(data, out) if out is not None else None
    if as_json:
        emit_json(data.to_dict())
    if written is not None:
        message = (f"wrote {written.path} ({len(workloads)} model{'s' if len(workloads) != 1 else ''} x "
                   f"{len(specs)} devices, {written.bytes_written / 1e3:,.0f} kB"
                   + (f", images in {written.images[0].parent}" if written.images else "")
                   + f") in {time.perf_counter() - start:.1f} s")
        if as_json:
            click.echo(message, err=True)
        else:
            for section in data.sections:
                for rec in section.recommendations:
                    stdout.print(f"{section.model}: {rec.title.lower()}: {rec.text}", highlight=False, soft_wrap=True)
            stdout.print(message, highlight=False, soft_wrap=True)


@click.command()
@click.argument("model")
@click.option("--qps", required=True, help="Request rate to serve, e.g. 500 or 500/s or 30000/min.")
@click.option("--p99-latency", "p99_latency", default=None,
              help="Latency limit per request, e.g. 50ms (compared with the worst case under the stated "
                   "queueing assumption).")
@_DEVICES_OPTION
@_KIND_OPTION
@click.option("--batch-max", default="64", show_default=True, help="Try batch sizes 1, 2, 4, ... up to this.")
@click.option("--dtype", type=str, default=None, help="Counting dtype for bytes (default: the model's).")
@click.option("--input-shape", type=str, default=None, help="Input shape, e.g. 1,3,224,224 (batch is swept).")
@click.option("--imgsz", type=int, default=None, help="Square image size: input (B, 3, N, N).")
@RUNTIME_OPTION
@TIER_OPTION
@_ELECTRICITY_OPTION
@_YEARS_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--prompt", type=int, default=None, help="hf: models: prompt tokens per request.")
@click.option("--generate", type=int, default=None, help="hf: models: generated tokens per request.")
@click.option("--weights", default=None, help="hf: models: weight-only quantisation (int8, int4).")
@click.option("--kv-dtype", default=None, help="hf: models: KV-cache dtype.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units, USD).")
def plan(model, qps, p99_latency, device_ids, kinds, batch_max, dtype, input_shape, imgsz, runtime, tier,
         electricity, years, catalogs, strict, prompt, generate, weights, kv_dtype, as_json):
    """Plan capacity: per device the best batch size, units needed, power and cost, lowest TCO first.

    For language models (hf:...), QPS is requests per second of --prompt + --generate tokens.
    """
    from roofline.cli._render import emit_json, seconds, stdout, table
    from roofline.planning import batch_sizes, load_workloads, plan_workloads
    from roofline.ranking import parse_duration, parse_rate

    if model.startswith("hf:"):
        _plan_llm(model, qps, p99_latency, device_ids, kinds, batch_max, dtype, runtime, tier, electricity, years,
                  catalogs, strict, prompt, generate, weights, kv_dtype, as_json)
        return
    runtime = runtime or "eager"
    rate = parse_rate(qps)
    limit = parse_duration(p99_latency) if p99_latency is not None else None
    electricity_usd = parse_electricity(electricity)
    years_value = parse_years(years)
    batches = batch_sizes(parse_batch_max(batch_max))
    catalog = _load(catalogs, strict)
    specs = _devices(catalog, device_ids, kinds)
    workloads = load_workloads(model, batches, dtype=dtype, input_shape=input_shape, imgsz=imgsz)
    result = plan_workloads(workloads, specs, qps=rate, p99_latency_s=limit, runtime=runtime, tier=tier,
                            electricity_usd_per_kwh=electricity_usd, years=years_value)
    if as_json:
        emit_json(result.to_dict())
        return

    def usd(v):
        return f"${v:,.0f}" if v is not None else "-"

    def watts(v):
        return "-" if v is None else f"{v:,.0f} W" if v < 1e4 else f"{v / 1e3:,.1f} kW"

    body = [(i, r.device, r.batch, seconds(r.worst_latency_s), seconds(r.service_latency_s),
             f"{r.throughput_per_unit_per_s:,.1f}", r.units, f"{100 * r.busy_fraction:.0f}%", watts(r.power_w),
             watts(r.peak_power_w), usd(r.purchase_usd), usd(r.energy_usd_per_year), usd(r.tco_usd))
            for i, r in enumerate(result.rows, 1)]
    limit_text = f", worst-case latency <= {seconds(limit)}" if limit is not None else ""
    title = (f"{result.model}, {result.dtype}, {result.runtime} runtime: {rate:,.6g} requests/s{limit_text}; "
             f"batches {', '.join(map(str, result.batches))}; sorted by {years_value:g}-year TCO at "
             f"{electricity_usd:g} USD/kWh")
    stdout.print(table(title, [("#", "right"), ("device", "left"), ("batch", "right"), ("worst latency", "right"),
                               ("batch time", "right"), ("items/s/unit", "right"), ("units", "right"),
                               ("busy", "right"), ("avg power", "right"), ("peak power", "right"),
                               ("purchase", "right"), ("energy/yr", "right"), (f"TCO {years_value:g}y", "right")],
                       body))
    if result.excluded:
        stdout.print(table("excluded", [("device", "left"), ("reason", "left"), ("detail", "left")],
                           [(e.device, e.category, e.reason) for e in result.excluded]))
    stdout.print(f"assumption: {result.assumption}. TCO = purchase + years x electricity; devices without a "
                 "price or power figure come last.", highlight=False, soft_wrap=True)


def _plan_llm(model, qps, p99_latency, device_ids, kinds, batch_max, dtype, runtime, tier, electricity, years,
              catalogs, strict, prompt, generate, weights, kv_dtype, as_json) -> None:
    """`roofline plan hf:...`: requests of prompt + generated tokens (roofline.llm.plan)."""
    from roofline.cli._render import emit_json, seconds, stdout, table
    from roofline.llm.plan import plan_llm
    from roofline.ranking import parse_duration, parse_rate

    catalog = _load(catalogs, strict)
    specs = _devices(catalog, device_ids, kinds)
    result = plan_llm(model, requests_per_s=parse_rate(qps), prompt=prompt, generate=generate, dtype=dtype,
                      weights=weights, kv_dtype=kv_dtype, devices=specs, batch_max=parse_batch_max(batch_max),
                      max_latency_s=parse_duration(p99_latency) if p99_latency else None,
                      runtime=runtime or "compiled", tier=tier,
                      electricity_usd_per_kwh=parse_electricity(electricity), years=parse_years(years))
    if as_json:
        emit_json(result.to_dict())
        return

    def usd(v):
        return f"${v:,.0f}" if v is not None else "-"

    body = [(i, r.device, r.batch, r.units, seconds(r.ttft_s), seconds(r.tpot_s), seconds(r.worst_latency_s),
             f"{r.tokens_per_s_per_unit:,.0f}", f"{r.power_w:,.0f} W" if r.power_w is not None else "-",
             usd(r.purchase_usd), usd(r.energy_usd_per_year), usd(r.tco_usd),
             f"{r.usd_per_million_tokens:.3g}" if r.usd_per_million_tokens is not None else "-")
            for i, r in enumerate(result.rows, 1)]
    title = (f"{result.model}: {result.requests_per_s:g} requests/s of {result.prompt} + {result.generate} tokens "
             f"({result.tokens_per_s:,.0f} output tokens/s), {result.dtype} weights {result.weights}, "
             f"{result.runtime} runtime; lowest {result.years:g}-year TCO first")
    stdout.print(table(title, [("#", "right"), ("device", "left"), ("batch", "right"), ("units", "right"),
                               ("TTFT", "right"), ("TPOT", "right"), ("worst latency", "right"),
                               ("tok/s/unit", "right"), ("power", "right"), ("purchase", "right"),
                               ("energy/yr", "right"), ("TCO", "right"), ("$/M tokens", "right")], body))
    if result.excluded:
        stdout.print(table("excluded", [("device", "left"), ("reason", "left"), ("detail", "left")],
                           [(e.device, e.category, e.reason) for e in result.excluded]))
    stdout.print(f"assumption: {result.assumption}", highlight=False, soft_wrap=True)
