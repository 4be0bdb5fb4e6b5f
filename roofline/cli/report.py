"""``roofline report MODEL...`` (a document for buyers) and ``roofline plan MODEL --qps N`` (capacity)."""
from __future__ import annotations

import time

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.options import (DEVICES_OPTION, HOST_MEMORY_OPTION, JOBS_OPTION, KIND_OPTION, RUNTIME_OPTION,
                                  TIER_OPTION, OptionError, cost_options, costs_from, model_options, model_options_from,
                                  parse_host_memory)


@click.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL [MODEL...]")
@model_options
@RUNTIME_OPTION
@TIER_OPTION
@DEVICES_OPTION
@KIND_OPTION
@cost_options
@HOST_MEMORY_OPTION
@click.option("--budget", default=None, metavar="USD", help="Purchase budget: adds 'best under budget'.")
@click.option("--out", "out", default=None, metavar="FILE",
              help="report.html (self-contained) or report.md (images in <stem>_files/).")
@_CATALOG_OPTION
@_STRICT_OPTION
@JOBS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report's data as JSON (SI units, USD).")
def report(models, runtime, tier, device_ids, kinds, host_memory, budget, out, catalogs, strict, jobs, as_json,
           **kwargs):
    """Write a buyer's report on MODEL(s): recommendations, per-device table, charts, sources."""
    from roofline.cli._render import emit_json, stdout
    from roofline.cli.options import parse_usd, select_devices
    from roofline.report import build_report, check_output_path, write_report
    from roofline.parallel import check_jobs, scenarios_of, spinner

    start = time.perf_counter()
    jobs = check_jobs(jobs)
    if out is None and not as_json:
        raise OptionError("give --out report.html or --out report.md (or --json for the data)")
    if out is not None:
        check_output_path(out)
    batch, dtype, options = model_options_from(kwargs)
    costs = costs_from(kwargs)
    budget_usd = parse_usd(budget) if budget is not None else None
    specs = select_devices(_load(catalogs, strict), device_ids, kinds)
    host = parse_host_memory(host_memory)
    what = models[0] if len(models) == 1 else f"{len(models)} models"
    with spinner(f"tracing {what} and estimating on {len(specs)} devices...", enabled=not as_json):
        scenarios = scenarios_of(models, options, batch, dtype, jobs)
        data = build_report(scenarios, specs, runtime=runtime, tier=tier, costs=costs, budget_usd=budget_usd,
                            host_memory_bytes=host)
        written = write_report(data, out) if out is not None else None
    if as_json:
        emit_json(data.to_dict())
    if written is not None:
        message = (f"wrote {written.path} ({len(scenarios)} model{'s' if len(scenarios) != 1 else ''} x "
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
@click.option("--ttft", "max_ttft", default=None, help="hf: models: time-to-first-token limit, e.g. 2s.")
@click.option("--tpot", "max_tpot", default=None, help="hf: models: time-per-output-token limit, e.g. 50ms.")
@DEVICES_OPTION
@KIND_OPTION
@click.option("--batch-max", default="64", show_default=True, help="Try batch sizes 1, 2, 4, ... up to this.")
@model_options
@RUNTIME_OPTION
@TIER_OPTION
@cost_options
@HOST_MEMORY_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units, USD).")
def plan(model, qps, p99_latency, max_ttft, max_tpot, device_ids, kinds, batch_max, runtime, tier, host_memory,
         catalogs, strict, as_json, **kwargs):
    """Plan capacity: per device the best batch size, units needed, power and cost, lowest TCO first.

    For language models (hf:...), QPS is requests per second of --prompt + --generate tokens.
    """
    from roofline.cli._render import emit_json
    from roofline.cli.options import parse_duration, parse_positive_int, parse_rate, select_devices
    from roofline.cli.views import print_plan
    from roofline.decide.plan import batch_sizes, plan_scenarios
    from roofline.decide.rank import Constraints
    from roofline.parallel import spinner
    from roofline.resolve import ScenarioSource

    batch, dtype, options = model_options_from(kwargs)
    if batch is not None:
        raise OptionError("plan sweeps the batch size: use --batch-max instead of --batch")
    costs = costs_from(kwargs)
    rate = parse_rate(qps)
    limit = parse_duration(p99_latency) if p99_latency is not None else None
    constraints = Constraints(max_ttft_s=parse_duration(max_ttft) if max_ttft else None,
                              max_tpot_s=parse_duration(max_tpot) if max_tpot else None)
    batches = batch_sizes(parse_positive_int(batch_max, "--batch-max", "64"))
    specs = select_devices(_load(catalogs, strict), device_ids, kinds)
    host = parse_host_memory(host_memory)
    with spinner(f"tracing {model} at {len(batches)} batch sizes and planning on {len(specs)} devices...",
                 enabled=not as_json):
        source = ScenarioSource(model, options)
        scenarios = [source.scenario(b, dtype) for b in batches]
        result = plan_scenarios(scenarios, specs, qps=rate, p99_latency_s=limit, constraints=constraints,
                                runtime=runtime, tier=tier, costs=costs, host_memory_bytes=host)
    if as_json:
        emit_json(result.to_dict())
        return
    print_plan(result)
