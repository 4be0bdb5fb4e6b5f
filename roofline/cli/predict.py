"""``roofline predict MODEL --device ID`` and ``roofline rank MODEL``: the main job.

The model names its scenario (roofline.resolve): a forward pass, or for ``hf:`` language models the
serving of requests (prefill and decode: TTFT, TPOT, tokens/s, KV cache, cost per million tokens).
"""
from __future__ import annotations

import click

from roofline.errors import RooflineError

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.options import (DEVICES_OPTION, HOST_MEMORY_OPTION, KIND_OPTION, PARALLEL_OPTIONS, RUNTIME_OPTION,
                                  TIER_OPTION, cost_options, costs_from, model_options, model_options_from,
                                  parallel_from, parse_host_memory)


@click.command()
@click.argument("model")
@click.option("--device", "device_id", required=True, help="Catalog device id (see `roofline devices list`).")
@model_options
@PARALLEL_OPTIONS
@RUNTIME_OPTION
@TIER_OPTION
@cost_options
@HOST_MEMORY_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--top", "top_k", type=int, default=None, help="Show only the K slowest layers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units), with per-op records.")
def predict(model, device_id, runtime, tier, host_memory, catalogs, strict, top_k, as_json, **kwargs):
    """Predict latency, throughput, energy, memory fit and cost of MODEL on one device.

    For hf: models (hf:llama-3-8b, hf:path/to/config.json): time to first token, time per output
    token, tokens/s, memory and cost of serving --batch requests of --prompt tokens generating
    --generate tokens; --gpus N (tensor parallel over N GPUs) or --tp/--pp/--ep for one replica on several
    GPUs: memory per GPU and the collectives' share of each phase.
    """
    from roofline.cli._render import emit_json
    from roofline.cli.views import print_estimate
    from roofline.decide.costs import cost_of
    from roofline.decide.rank import check_top
    from roofline.estimation import estimate_scenario
    from roofline.resolve import load_scenario

    check_top(top_k)
    batch, dtype, options = model_options_from(kwargs)
    parallelism = parallel_from(kwargs)
    costs = costs_from(kwargs)
    catalog = _load(catalogs, strict)
    device = catalog.get(device_id)
    if device.system is not None:
        device, parallelism = _system_layout(catalog, device, model, parallelism)
    scenario = load_scenario(model, batch=batch, dtype=dtype, options=options, parallelism=parallelism)
    e = estimate_scenario(scenario, device, runtime=runtime, tier=tier, include_ops=True,
                          host_memory_bytes=parse_host_memory(host_memory))
    cost = cost_of(e, costs)
    if as_json:
        emit_json({**e.to_dict(include_ops=True), **cost.to_dict()})
        return
    print_estimate(e, cost, top_k)


def _system_layout(catalog, system, model, parallelism):
    """A system entry (8x H100...): a language model runs on its GPUs, tensor parallel over all of them unless
    a layout is given, which may not ask for more GPUs than the system has."""
    from roofline.llm.parallel import Parallelism
    from roofline.resolve import is_serving_model

    if not is_serving_model(model):
        return system, parallelism
    count = system.system.count
    parallelism = parallelism or Parallelism(count)
    if parallelism.gpus > count:
        raise RooflineError(f"{system.id}: {parallelism.gpus} GPUs asked for, the system has {count}")
    return catalog.get(system.system.gpu), parallelism


@click.command()
@click.argument("model")
@model_options
@PARALLEL_OPTIONS
@click.option("--max-gpus", type=int, default=None,
              help="hf: models: GPUs per replica a device may get when the model does not fit one (default: its "
                   "NVLink domain; devices without one: 1).")
@RUNTIME_OPTION
@TIER_OPTION
@KIND_OPTION
@DEVICES_OPTION
@click.option("--max-latency", default=None, help="Latency limit, e.g. 30ms or 0.03s (hf: whole request).")
@click.option("--min-throughput", default=None, help="Throughput floor, e.g. 100/s (items/s; hf: output tokens/s).")
@click.option("--max-ttft", default=None, help="hf: models: time-to-first-token limit, e.g. 500ms.")
@click.option("--max-tpot", default=None, help="hf: models: time-per-output-token limit, e.g. 50ms.")
@click.option("--max-power", default=None, help="Power limit (TDP / board power), e.g. 15W.")
@click.option("--max-price", default=None, help="Price limit in USD, e.g. 500.")
@click.option("--sort", type=click.Choice(["latency", "throughput", "energy", "price", "cost", "perf-per-dollar",
                                           "perf-per-watt", "tokens-per-s", "tokens-per-s-per-gpu", "ttft", "tpot"]),
              default=None, help="Order (default: latency; tokens-per-s for hf: models, which also take "
                                 "tokens-per-s-per-gpu, ttft and tpot).")
@click.option("--top", "top_n", type=int, default=None, help="Show the N best devices.")
@cost_options
@HOST_MEMORY_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units).")
def rank(model, runtime, tier, kinds, device_ids, max_latency, min_throughput, max_ttft, max_tpot, max_power,
         max_price, sort, top_n, host_memory, catalogs, strict, as_json, max_gpus, **kwargs):
    """Rank the catalog devices that fit MODEL and meet the constraints."""
    from roofline.cli._render import emit_json, seconds, stdout
    from roofline.cli.options import parse_duration, parse_power, parse_rate, parse_usd, select_devices
    from roofline.cli.views import print_rank
    from roofline.decide.rank import Constraints, check_top
    from roofline.decide.rank import rank as run_rank
    from roofline.parallel import spinner
    from roofline.resolve import load_scenario

    check_top(top_n)
    batch, dtype, options = model_options_from(kwargs)
    parallelism = parallel_from(kwargs)
    costs = costs_from(kwargs)
    if max_gpus is not None and max_gpus < 1:
        raise RooflineError(f"--max-gpus must be a positive integer, got {max_gpus}")
    if max_gpus is not None and parallelism is not None:
        raise RooflineError("give either --max-gpus (each device gets the GPUs it needs) or --gpus/--tp/--pp/--ep "
                            "(one layout for every device)")
    constraints = Constraints(
        kinds=tuple(kinds) or None,
        max_latency_s=parse_duration(max_latency) if max_latency else None,
        min_throughput_per_s=parse_rate(min_throughput) if min_throughput else None,
        max_ttft_s=parse_duration(max_ttft) if max_ttft else None,
        max_tpot_s=parse_duration(max_tpot) if max_tpot else None,
        max_power_w=parse_power(max_power) if max_power is not None else None,
        max_price_usd=parse_usd(max_price) if max_price is not None else None,
    )
    devices = select_devices(_load(catalogs, strict), device_ids, ())
    host = parse_host_memory(host_memory)
    with spinner(f"tracing {model} and estimating on {len(devices)} devices...", enabled=not as_json):
        scenario = load_scenario(model, batch=batch, dtype=dtype, options=options, parallelism=parallelism)
        result = run_rank(scenario, devices, constraints, runtime=runtime, tier=tier, sort=sort, top=top_n,
                          costs=costs, host_memory_bytes=host, max_gpus=max_gpus)
    if as_json:
        emit_json(result.to_dict())
        return
    print_rank(result)
    if not result.ranked and (constraints.max_latency_s or constraints.min_throughput_per_s):
        closest = run_rank(scenario, devices, Constraints(kinds=constraints.kinds), runtime=runtime, tier=tier,
                           sort="latency", top=1, costs=costs, host_memory_bytes=host, max_gpus=max_gpus).ranked
        if closest:
            stdout.print(f"no device meets the constraints; the fastest that fits is {closest[0].estimate.device} "
                         f"at {seconds(closest[0].estimate.latency_s)}", highlight=False)
