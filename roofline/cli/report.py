"""``roofline report MODEL...`` (a document for buyers) and ``roofline plan MODEL --qps N`` (capacity)."""
from __future__ import annotations

import time

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.options import (DEVICES_OPTION, HOST_MEMORY_OPTION, JOBS_OPTION, KIND_OPTION, PARALLEL_OPTIONS,
                                  RUNTIME_OPTION, TIER_OPTION, OptionError, cost_options, costs_from, model_options,
                                  model_options_from, parse_host_memory)


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
@click.option("--qps", default=None, help="Request rate to serve, e.g. 500 or 500/s or 30000/min (static batches).")
@click.option("--rps", default=None,
              help="hf: models: request rate served with continuous batching, e.g. 10 or 10/s (per device: GPUs per "
                   "replica, replicas, concurrency, cost per million tokens).")
@click.option("--max-throughput", "max_throughput", is_flag=True,
              help="hf: models: the highest sustainable throughput of each device (continuous batching), no load.")
@click.option("--isl", default=None, help="With --rps/--max-throughput: input tokens per request (default --prompt, "
                                          "else 1024).")
@click.option("--osl", default=None, help="With --rps/--max-throughput: output tokens per request (default "
                                          "--generate, else 256).")
@click.option("--mix", "mix_file", default=None, metavar="FILE",
              help="With --rps/--max-throughput: a YAML or JSON list of {isl, osl, weight} request classes.")
@click.option("--max-gpus", "max_gpus", default=None, metavar="N",
              help="With --rps/--max-throughput: most GPUs per replica when choosing the smallest tensor-parallel "
                   "degree that fits (default: the device's NVLink domain).")
@click.option("--chunk", default=None, metavar="TOKENS",
              help="With --rps/--max-throughput: prefill chunk per request and step (default 2048).")
@click.option("--max-concurrency", "max_concurrency", default=None, metavar="N",
              help="With --rps/--max-throughput: cap on running sequences per replica (default: the KV cache's limit).")
@click.option("--p99-latency", "p99_latency", default=None,
              help="Latency limit per request, e.g. 50ms (compared with the worst case under the stated "
                   "queueing assumption).")
@click.option("--ttft", "max_ttft", default=None,
              help="hf: models: time-to-first-token limit, e.g. 2s (with --rps: on the 99th percentile).")
@click.option("--tpot", "max_tpot", default=None, help="hf: models: time-per-output-token limit, e.g. 50ms.")
@DEVICES_OPTION
@KIND_OPTION
@click.option("--batch-max", default="64", show_default=True, help="Try batch sizes 1, 2, 4, ... up to this.")
@model_options
@PARALLEL_OPTIONS
@RUNTIME_OPTION
@TIER_OPTION
@cost_options
@HOST_MEMORY_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units, USD).")
def plan(model, qps, rps, max_throughput, isl, osl, mix_file, max_gpus, chunk, max_concurrency, p99_latency,
         max_ttft, max_tpot, device_ids, kinds, batch_max, runtime, tier, host_memory, catalogs, strict, as_json,
         **kwargs):
    """Plan capacity: per device the best batch size, units needed, power and cost, lowest TCO first.

    For language models (hf:...), QPS is requests per second of --prompt + --generate tokens in static
    batches; --rps plans continuous batching under --ttft/--tpot SLOs (docs/llm.md, "Serving at a load").
    """
    if rps is not None or max_throughput:
        return _plan_load(model, qps, rps, max_throughput, isl, osl, mix_file, max_gpus, chunk, max_concurrency,
                          p99_latency, max_ttft, max_tpot, device_ids, kinds, batch_max, runtime, tier, host_memory,
                          catalogs, strict, as_json, kwargs)
    given = [flag for flag, value in (("--isl", isl), ("--osl", osl), ("--mix", mix_file), ("--max-gpus", max_gpus),
                                      ("--chunk", chunk), ("--max-concurrency", max_concurrency),
                                      *((f"--{k}", kwargs.pop(k)) for k in ("gpus", "tp", "pp", "ep")))
             if value is not None]
    if given:
        raise OptionError(f"{given[0]} applies to continuous batching: give --rps or --max-throughput")
    if qps is None:
        raise OptionError("give --qps (static batches) or, for hf: language models, --rps or --max-throughput "
                          "(continuous batching)")
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


def _plan_load(model, qps, rps, max_throughput, isl, osl, mix_file, max_gpus, chunk, max_concurrency, p99_latency,
               max_ttft, max_tpot, device_ids, kinds, batch_max, runtime, tier, host_memory, catalogs, strict, as_json,
               kwargs):
    """``plan --rps`` / ``plan --max-throughput``: continuous batching under SLOs (roofline.decide.load)."""
    from roofline.cli._render import emit_json
    from roofline.cli.options import parallel_from, parse_duration, parse_positive_int, parse_rate, select_devices
    from roofline.cli.views import print_load_plan
    from roofline.decide.load import plan_load
    from roofline.llm.batching import DEFAULT_CHUNK_TOKENS, RequestMix, load_mix
    from roofline.parallel import spinner
    from roofline.resolve import is_serving_model

    if qps is not None:
        raise OptionError("give --qps (static batches) or --rps (continuous batching), not both")
    if rps is not None and max_throughput:
        raise OptionError("--max-throughput takes no --rps: it reports the highest sustainable rate")
    if max_throughput and (max_ttft or max_tpot):
        raise OptionError("--max-throughput takes no --ttft/--tpot: give --rps to plan under SLOs")
    for flag, value, default in (("--p99-latency", p99_latency, None), ("--batch-max", batch_max, "64"),
                                 ("--host-memory", host_memory, None)):
        if value != default:
            raise OptionError(f"{flag} applies to static batches (--qps), not to continuous batching")
    if not is_serving_model(model):
        raise OptionError(f"--rps and --max-throughput plan language-model serving (hf: models); use --qps for "
                          f"{model!r}")
    batch, dtype, options = model_options_from(kwargs)
    forward_only = options.given("imgsz", "input_shape", "seq_len")
    if forward_only:
        raise OptionError(f"{forward_only[0]} does not apply to a language model: give --isl/--osl")
    if batch is not None:
        raise OptionError("continuous batching finds its own concurrency: use --max-concurrency instead of --batch")
    costs = costs_from(kwargs)
    rate = parse_rate(rps) if rps is not None else None
    if mix_file is not None:
        if isl is not None or osl is not None:
            raise OptionError("give either --mix FILE or --isl/--osl, not both")
        mix = load_mix(mix_file)
    else:
        for flag, value, other in (("--isl", isl, options.prompt), ("--osl", osl, options.generate)):
            if value is not None and other is not None:
                raise OptionError(f"give {flag} or {'--prompt' if flag == '--isl' else '--generate'}, not both")
        isl_n = parse_positive_int(isl, "--isl", "1024") if isl is not None else (options.prompt or 1024)
        osl_n = parse_positive_int(osl, "--osl", "256") if osl is not None else (options.generate or 256)
        mix = RequestMix.fixed(isl_n, osl_n)
    parallelism = parallel_from(kwargs)
    gpu_cap = parse_positive_int(max_gpus, "--max-gpus", "8") if max_gpus is not None else None
    chunk_n = parse_positive_int(chunk, "--chunk", "2048") if chunk is not None else DEFAULT_CHUNK_TOKENS
    cap = parse_positive_int(max_concurrency, "--max-concurrency", "256") if max_concurrency is not None else None
    ttft = parse_duration(max_ttft) if max_ttft else None
    tpot = parse_duration(max_tpot) if max_tpot else None
    specs = select_devices(_load(catalogs, strict), device_ids, kinds)
    what = "the highest throughput" if max_throughput else f"{rate:g} requests/s"
    with spinner(f"planning {what} of {model} with continuous batching on {len(specs)} devices...",
                 enabled=not as_json):
        result = plan_load(model, rps=rate, mix=mix, ttft_s=ttft, tpot_s=tpot, devices=specs, dtype=dtype,
                           weights=options.weights, kv_dtype=options.kv_dtype, runtime=runtime, tier=tier,
                           costs=costs, chunk_tokens=chunk_n, max_concurrency=cap, parallelism=parallelism,
                           max_gpus=gpu_cap, max_throughput=max_throughput)
    if as_json:
        emit_json(result.to_dict())
        return
    print_load_plan(result)
