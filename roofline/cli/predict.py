"""``roofline predict MODEL --device ID`` and ``roofline rank MODEL``: the main job.

``hf:`` models (decoder-only LLMs) get serving estimates instead of one forward pass: prefill and
decode phases, time to first token, time per output token, tokens/s, KV cache and cost per
million tokens (roofline.llm).
"""
from __future__ import annotations

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load
from roofline.cli.profile import load_workload, model_options

RUNTIME_OPTION = click.option("--runtime", type=click.Choice(["eager", "compiled"]), default=None,
                              help="eager: PyTorch eager (unfused, per-op overhead); compiled: fused-graph "
                                   "runtimes (TensorRT, OpenVINO, torch.compile, LLM serving engines). "
                                   "Default: eager; compiled for hf: models.")
TIER_OPTION = click.option("--tier", type=click.Choice(["sol", "datasheet", "calibrated"]), default=None,
                           help="Efficiency tier (default: calibrated when the device has a calibration, "
                                "else datasheet; sol = 100 % of peak, no overhead).")


LLM_SORT_KEYS = ("tokens-per-s", "cost", "ttft", "tpot")


def llm_options(f):
    """Serving options for ``hf:`` models (decoder-only LLMs)."""
    f = click.option("--kv-dtype", default=None,
                     help="hf: models: KV cache dtype (fp16, bf16, fp32, fp8, int8; default: the activation dtype).")(f)
    f = click.option("--weights", default=None,
                     help="hf: models: weight format (fp16, bf16, fp32, or int8/int4 weight-only with the "
                          "activation dtype's math; default: the activation dtype).")(f)
    f = click.option("--generate", type=int, default=None,
                     help="hf: models: tokens generated per sequence (default 256).")(f)
    f = click.option("--prompt", type=int, default=None,
                     help="hf: models: prompt tokens per sequence (default 1024).")(f)
    return f


def is_llm(model: str) -> bool:
    return model.strip().startswith("hf:")


def _check_plain_model(model: str, **llm_only) -> None:
    given = [f"--{k.replace('_', '-')}" for k, v in llm_only.items() if v is not None]
    if given:
        from roofline.errors import RooflineError

        raise RooflineError(f"only hf: language models take {', '.join(given)} (not {model!r})")


def _llm_request(model, imgsz, input_shape, batch, dtype, prompt, generate, weights, kv_dtype):
    from roofline.errors import RooflineError
    from roofline.llm.estimate import make_request

    if imgsz is not None or input_shape is not None:
        raise RooflineError(f"{model}: give --prompt/--generate/--batch for a language model, not --imgsz/--input-shape")
    return make_request(prompt=prompt, generate=generate, batch=batch, dtype=dtype, weights=weights,
                        kv_dtype=kv_dtype)


def _selected(catalogs, strict, device_ids):
    """The catalog's devices, or only those named by --devices."""
    from roofline.planning import resolve_devices

    catalog = _load(catalogs, strict)
    if device_ids is None:
        return list(catalog)
    return resolve_devices([i.strip() for i in device_ids.split(",") if i.strip()], catalog=catalog)


def _gb(value) -> str:
    return "-" if value is None else f"{value / 1e9:.3g}"


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
@llm_options
@RUNTIME_OPTION
@TIER_OPTION
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--top", "top_k", type=int, default=None, help="Show only the K slowest layers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units), with per-op records.")
def predict(model, device_id, imgsz, input_shape, batch, dtype, prompt, generate, weights, kv_dtype, runtime, tier,
            catalogs, strict, top_k, as_json):
    """Predict latency, throughput, energy and memory fit of MODEL on one device.

    For hf: models (hf:llama-3-8b, hf:path/to/config.json): time to first token, time per output
    token, tokens/s, memory and cost of serving --batch requests of --prompt tokens generating
    --generate tokens.
    """
    from roofline.cli._render import emit_json, seconds, stdout, table, warn
    from roofline.predict import predict as run_predict

    if is_llm(model):
        request = _llm_request(model, imgsz, input_shape, batch, dtype, prompt, generate, weights, kv_dtype)
        catalog = _load(catalogs, strict)
        device = catalog.get(device_id)
        _predict_llm(model, device, request, runtime or "compiled", tier, as_json)
        return
    _check_plain_model(model, prompt=prompt, generate=generate, weights=weights, kv_dtype=kv_dtype)
    runtime = runtime or "eager"
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


def _predict_llm(model, device, request, runtime, tier, as_json) -> None:
    from roofline.cli._render import emit_json, seconds, stdout, table, warn
    from roofline.llm.estimate import estimate

    p = estimate(model, device, request, runtime=runtime, tier=tier)
    if as_json:
        emit_json(p.to_dict())
        return
    r = p.request
    title = (f"{p.model} on {p.device_name} ({p.runtime}, {p.tier}, batch {r.batch}, prompt {r.prompt}, generate "
             f"{r.generate}; weights {r.weights}, activations {r.dtype}, KV {r.kv_dtype})")
    rows = []
    for label, ph in (("prefill", p.prefill), ("decode step (mean)", p.decode)):
        rows.append((label, f"{ph.tokens:,}", f"{ph.kv_length:,}", f"{ph.flops / 1e9:,.2f}", _gb(ph.weight_bytes),
                     _gb(ph.kv_read_bytes), _gb(ph.kv_write_bytes), _gb(ph.activation_bytes), seconds(ph.latency_s),
                     ph.bound))
    stdout.print(table(title, [("phase", "left"), ("tokens", "right"), ("KV length", "right"), ("GFLOPs", "right"),
                               ("weights GB", "right"), ("KV read GB", "right"), ("KV write GB", "right"),
                               ("activations GB", "right"), ("time", "right"), ("bound", "left")], rows))
    m = p.memory
    fit = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[m.fits]
    energy = f"{p.energy_per_token_j:.3g} J/token" if p.energy_per_token_j is not None else "energy: no power figure"
    cost = (f"${p.usd_per_million_tokens:,.3g} per million tokens ({p.cost_basis})"
            if p.usd_per_million_tokens is not None else "cost: no price or power figure")
    stdout.print(
        f"{p.device}: time to first token {seconds(p.ttft_s)}, time per output token {seconds(p.tpot_s)} "
        f"(first {seconds(p.tpot_first_s)}, last {seconds(p.tpot_last_s)}), {p.tokens_per_s_per_sequence:,.1f} "
        f"tokens/s per sequence, {p.tokens_per_s:,.1f} tokens/s at batch {r.batch}, request {seconds(p.request_latency_s)} "
        f"({p.requests_per_s:,.3g} requests/s); {energy}; {cost}", highlight=False, soft_wrap=True)
    stdout.print(
        f"memory {fit}: weights {_gb(m.weight_bytes)} GB + KV cache {_gb(m.kv_cache_bytes)} GB (context "
        f"{r.context:,} x batch {r.batch}) + activations {_gb(m.activation_bytes)} GB + workspace "
        f"{_gb(m.workspace_bytes)} GB = {_gb(m.required_bytes)} GB of {_gb(m.available_bytes)} GB; tier {p.tier}: "
        f"{p.error_band}", highlight=False, soft_wrap=True)
    for note in p.notes:
        warn(note)
    if m.fits is False:
        warn(f"does not fit: {m.shortfall_message()}")


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
@llm_options
@RUNTIME_OPTION
@TIER_OPTION
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["cpu", "gpu", "sbc", "accelerator"]),
              help="Only devices of this kind (repeatable).")
@click.option("--max-latency", default=None, help="Latency limit, e.g. 30ms or 0.03s (hf: whole request).")
@click.option("--min-throughput", default=None, help="Throughput floor, e.g. 100/s (hf: tokens/s of the batch).")
@click.option("--max-ttft", default=None, help="hf: models: time-to-first-token limit, e.g. 500ms.")
@click.option("--max-tpot", default=None, help="hf: models: time-per-output-token limit, e.g. 50ms.")
@click.option("--max-power", default=None, help="Power limit (TDP / board power), e.g. 15W.")
@click.option("--max-price", default=None, help="Price limit in USD, e.g. 500.")
@click.option("--sort", type=click.Choice(["latency", "throughput", "energy", "price", "perf-per-dollar",
                                           "perf-per-watt", *LLM_SORT_KEYS]), default=None,
              help="Order (default: latency; tokens-per-s for hf: models, which also take cost = USD per "
                   "million tokens, ttft and tpot).")
@click.option("--top", "top_n", type=int, default=None, help="Show the N best devices.")
@click.option("--devices", "device_ids", default=None, metavar="ID,ID,...",
              help="Comma-separated catalog device ids (default: the whole catalog).")
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units).")
def rank(model, imgsz, input_shape, batch, dtype, prompt, generate, weights, kv_dtype, runtime, tier, kinds,
         max_latency, min_throughput, max_ttft, max_tpot, max_power, max_price, sort, top_n, device_ids, catalogs,
         strict, as_json):
    """Rank the catalog devices that fit MODEL and meet the constraints.

    For hf: models: by tokens/s (default), cost per million tokens (--sort cost), latency...
    """
    from roofline.cli._render import emit_json, seconds, stdout, table
    from roofline.errors import RooflineError
    from roofline.ranking import Constraints, parse_duration, parse_power, parse_rate, parse_usd, perf_per_dollar
    from roofline.ranking import rank as run_rank

    if is_llm(model):
        request = _llm_request(model, imgsz, input_shape, batch, dtype, prompt, generate, weights, kv_dtype)
        _rank_llm(model, request, runtime or "compiled", tier, kinds, max_latency, min_throughput, max_ttft, max_tpot,
                  max_power, max_price, sort or "tokens-per-s", top_n, device_ids, catalogs, strict, as_json)
        return
    _check_plain_model(model, prompt=prompt, generate=generate, weights=weights, kv_dtype=kv_dtype,
                       max_ttft=max_ttft, max_tpot=max_tpot)
    if sort in LLM_SORT_KEYS:
        raise RooflineError(f"only hf: language models take --sort {sort} (not {model!r})")
    sort = sort or "latency"
    runtime = runtime or "eager"
    constraints = Constraints(
        kinds=tuple(kinds) or None,
        max_latency_s=parse_duration(max_latency) if max_latency else None,
        min_throughput_per_s=parse_rate(min_throughput) if min_throughput else None,
        max_power_w=parse_power(max_power) if max_power else None,
        max_price_usd=parse_usd(max_price) if max_price else None,
    )
    catalog = _selected(catalogs, strict, device_ids)
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


def _rank_llm(model, request, runtime, tier, kinds, max_latency, min_throughput, max_ttft, max_tpot, max_power,
              max_price, sort, top_n, device_ids, catalogs, strict, as_json) -> None:
    from roofline.cli._render import emit_json, seconds, stdout, table
    from roofline.llm.ranking import LlmConstraints, rank_llm
    from roofline.ranking import parse_duration, parse_power, parse_rate, parse_usd

    constraints = LlmConstraints(
        kinds=tuple(kinds) or None,
        max_latency_s=parse_duration(max_latency) if max_latency else None,
        max_ttft_s=parse_duration(max_ttft) if max_ttft else None,
        max_tpot_s=parse_duration(max_tpot) if max_tpot else None,
        min_tokens_per_s=parse_rate(min_throughput) if min_throughput else None,
        max_power_w=parse_power(max_power) if max_power else None,
        max_price_usd=parse_usd(max_price) if max_price else None,
    )
    catalog = _selected(catalogs, strict, device_ids)
    result = rank_llm(model, catalog, request, constraints, runtime=runtime, tier=tier, sort=sort, top=top_n)
    if as_json:
        emit_json(result.to_dict())
        return
    body = []
    for i, p in enumerate(result.ranked, 1):
        body.append((i, p.device, p.kind, seconds(p.ttft_s), seconds(p.tpot_s), f"{p.tokens_per_s_per_sequence:,.1f}",
                     f"{p.tokens_per_s:,.1f}", seconds(p.request_latency_s),
                     f"{p.energy_per_token_j:.3g}" if p.energy_per_token_j is not None else "-",
                     f"{p.memory.required_bytes / 1e9:.1f}/"
                     + (f"{p.memory.available_bytes / 1e9:.0f}" if p.memory.available_bytes else "?"),
                     f"${p.usd_per_million_tokens:,.3g}" if p.usd_per_million_tokens is not None else "-",
                     p.bound, p.tier))
    r = result.request
    title = (f"{result.model}: batch {r.batch}, prompt {r.prompt}, generate {r.generate}, weights {r.weights}, KV "
             f"{r.kv_dtype}, {runtime} runtime: {len(result.ranked)} devices, sorted by {sort}")
    stdout.print(table(title, [("#", "right"), ("device", "left"), ("kind", "left"), ("TTFT", "right"),
                               ("TPOT", "right"), ("tok/s/seq", "right"), ("tok/s", "right"), ("request", "right"),
                               ("J/token", "right"), ("memory GB", "right"), ("$/Mtok", "right"), ("bound", "left"),
                               ("tier", "left")], body))
    if result.excluded:
        stdout.print(table("excluded", [("device", "left"), ("reason", "left"), ("detail", "left")],
                           [(e.device, e.category, e.reason) for e in result.excluded]))
    stdout.print("$/Mtok: USD per million generated tokens = purchase price over 3 years at 50 % utilisation + "
                 "electricity at $0.15/kWh (energy only where the catalog has no price)", highlight=False)
