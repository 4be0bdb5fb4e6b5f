"""What the commands print: tables and summaries of estimates, rankings and plans.

Which figures a table shows depends on the scenario (a forward pass shows latency and items/s, serving
shows TTFT, TPOT and tokens/s); each scenario kind's columns are data in the tables below, so the
commands themselves never branch on the kind of model.
"""
from __future__ import annotations

from typing import Any, Callable

from roofline.cli._render import per_second, seconds, si, stdout, table, warn
from roofline.decide.costs import BASIS_CLOUD, BASIS_ENERGY_ONLY, BASIS_PURCHASE_ONLY

COST_MARK = {BASIS_ENERGY_ONLY: "†", BASIS_PURCHASE_ONLY: "‡", BASIS_CLOUD: "☁"}


def _gb(value) -> str:
    return "-" if value is None else f"{value / 1e9:.3g}"


def _cost_cell(r) -> str:
    value = r.cost.total_usd_per_million
    if value is None:
        return "-"
    return f"${value:,.3g}{COST_MARK.get(r.cost.basis, '')}"


def _memory_cell(e, digits: int) -> str:
    m = e.memory
    return f"{m.required_bytes / 1e9:.{digits}f}/" + (f"{m.available_bytes / 1e9:.0f}" if m.available_bytes else "?")


def _gpus_cell(e) -> str:
    """GPUs per replica and their layout ('4 TP=4'); memory cells are then per GPU."""
    plan = e.scenario.parallel
    if plan is None or not plan.is_multi:
        return str(e.scenario.gpus)
    return f"{plan.gpus} {plan.parallelism.label()}"


def _ratio(a, b):
    return a / b if a is not None and b else None


def _range(e) -> str:
    """The latency interval (cross-validated on the public corpus) as 'low-high', or '-' without one."""
    if e.latency_interval_s is None:
        return "-"
    low, high = e.latency_interval_s
    return f"{seconds(low)}-{seconds(high)}"


def _price_cell(e) -> str:
    """The purchase price, else the cloud price per hour (marked), else '-'."""
    if e.price_usd is not None:
        return f"${e.price_usd:,.0f}"
    if e.usd_per_hour is not None:
        return f"${e.usd_per_hour:,.3g}/h ☁"
    return "-"


Column = tuple[str, str, Callable[[Any], str]]  # header, justify, cell of a Ranked row

RANK_COLUMNS: dict[str, list[Column]] = {
    "forward": [
        ("latency", "right", lambda r: seconds(r.estimate.latency_s)),
        ("80% range", "right", lambda r: _range(r.estimate)),
        ("items/s", "right", lambda r: per_second(r.estimate.throughput_per_s)),
        ("J/item", "right", lambda r: f"{r.estimate.energy_per_unit_j:.3g}"
         if r.estimate.energy_per_unit_j is not None else "-"),
        ("bound", "left", lambda r: r.estimate.bound),
        ("tier", "left", lambda r: r.estimate.tier),
        ("memory GB", "right", lambda r: _memory_cell(r.estimate, 2)),
        ("price", "right", lambda r: _price_cell(r.estimate)),
        ("items/s/$", "right", lambda r: f"{v:.3g}" if (v := _ratio(r.estimate.throughput_per_s,
                                                                     r.estimate.price_usd)) is not None else "-"),
        ("$/M items", "right", _cost_cell),
    ],
    "serving": [
        ("TTFT", "right", lambda r: seconds(r.estimate.metrics["ttft_s"])),
        ("TPOT", "right", lambda r: seconds(r.estimate.metrics["tpot_s"])),
        ("tok/s/seq", "right", lambda r: per_second(r.estimate.metrics['tokens_per_s_per_sequence'])),
        ("tok/s", "right", lambda r: per_second(r.estimate.metrics['tokens_per_s'])),
        ("request", "right", lambda r: seconds(r.estimate.latency_s)),
        ("80% range", "right", lambda r: _range(r.estimate)),
        ("J/token", "right", lambda r: f"{r.estimate.energy_per_unit_j:.3g}"
         if r.estimate.energy_per_unit_j is not None else "-"),
        ("GPUs", "right", lambda r: _gpus_cell(r.estimate)),
        ("memory GB", "right", lambda r: _memory_cell(r.estimate, 1)),
        ("$/Mtok", "right", _cost_cell),
        ("bound", "left", lambda r: r.estimate.bound),
        ("tier", "left", lambda r: r.estimate.tier),
    ],
}


TITLES: dict[str, Callable[[Any], str]] = {
    "forward": lambda s: f"{s.model}, batch {s.batch}, {s.dtype}",
    "serving": lambda s: (f"{s.model}: batch {s.batch}, prompt {s.options['prompt']}, generate "
                          f"{s.options['generate']}, weights {s.options['weights']}, KV {s.options['kv_dtype']}"),
}


def scenario_title(s, runtime: str) -> str:
    return f"{TITLES[s.kind](s)}, {runtime} runtime"


def cost_footer(costs, unit: str) -> str:
    return (f"$/M: USD per million {unit}s = purchase price over {costs.years:g} years at "
            f"{100 * costs.utilization:g} % utilisation + electricity at ${costs.electricity_usd_per_kwh:g}/kWh "
            "(cost basis " + costs.basis + "); † energy only (no price), ‡ purchase only (no power figure), "
            "☁ cloud price per hour x hours (complete, energy included); † and ‡ costs are not comparable with the others")


def exclusions(excluded) -> None:
    if excluded:
        stdout.print(table("excluded", [("device", "left"), ("reason", "left"), ("detail", "left")],
                           [(e.device, e.category, e.detail) for e in excluded]))


def print_rank(result) -> None:
    s = result.scenario
    columns = RANK_COLUMNS[s.kind]
    body = [(i, r.estimate.device, r.estimate.kind, *[cell(r) for _, _, cell in columns])
            for i, r in enumerate(result.ranked, 1)]
    title = f"{scenario_title(s, result.runtime)}: {len(result.ranked)} devices, sorted by {result.sort}"
    stdout.print(table(title, [("#", "right"), ("device", "left"), ("kind", "left"),
                               *[(h, j) for h, j, _ in columns]], body))
    exclusions(result.excluded)
    if result.empty_reason:
        stdout.print(f"nothing ranked: {result.empty_reason}", highlight=False)
    stdout.print(cost_footer(result.costs, s.unit), highlight=False, soft_wrap=True)


# ------------------------------------------------------------------ predict

def _layer_rows(p, workload):
    """Per-layer aggregation of op predictions: (layer, type, time, compute time, memory time, flops, bytes)."""
    rows: dict[str, list] = {}
    for op, o in zip(workload.ops, p.ops):
        if op.is_view:
            continue
        key = op.module or "(root)"
        row = rows.setdefault(key, [key, op.module_type, 0.0, 0.0, 0.0, 0, 0])
        row[2] += o.time_s
        if o.bound == "compute":
            row[3] += o.time_s
        else:
            row[4] += o.time_s
        row[5] += o.flops
        row[6] += o.bytes
    return list(rows.values())


def _print_forward(e, cost, top: int | None) -> None:
    p = e.prediction
    workload = e.scenario.primary
    rows = _layer_rows(p, workload)
    if top:
        rows = sorted(rows, key=lambda r: r[2], reverse=True)[:top]
    body = [(name, kind, seconds(t), "compute" if c >= m else "memory", f"{100 * t / p.latency_s:.1f}%",
             f"{f / 1e9:.4f}", f"{b / 1e6:.2f}") for name, kind, t, c, m, f, b in rows]
    stdout.print(table(f"{workload.model} on {e.device_name} ({p.runtime}, {p.tier}, batch {p.batch}, {p.dtype})",
                       [("layer", "left"), ("type", "left"), ("time", "right"), ("bound", "left"),
                        ("share", "right"), ("GFLOPs", "right"), ("MB", "right")], body))
    energy = (f"{p.energy.energy_per_item_j:.3g} J/inference ({p.energy.inferences_per_kwh:,.0f} per kWh, "
              f"{p.energy.method})" if p.energy.energy_j is not None else "energy: no power figure")
    fit = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[e.memory.fits]
    stdout.print(
        f"{p.device}: latency {seconds(p.latency_s)} (80% range {_range(e)}) at batch {p.batch}, "
        f"{per_second(p.throughput_per_s)} items/s, "
        f"{p.bound}-bound on its {p.engine} engine ({100 * p.compute_bound_share:.0f}% compute, "
        f"{100 * p.memory_bound_share:.0f}% memory, {100 * p.overhead_share:.0f}% dispatch and launch overhead"
        + (f", {100 * p.host_share:.0f}% on the host" if p.host_share else "")
        + f"), {si(p.achieved_flops_per_s, 'FLOP/s')} achieved "
        f"({100 * p.compute_utilization:.1f}% of peak), {energy}; memory {fit} "
        f"({e.memory.required_bytes / 1e9:.3g} GB needed); {_cost_sentence(cost)}; tier {p.tier}: {p.error_band}",
        highlight=False, soft_wrap=True)


def _cost_sentence(cost) -> str:
    if cost.total_usd_per_million is None:
        return "cost: no price or power figure"
    return f"${cost.total_usd_per_million:,.3g} per million {cost.unit}s ({cost.basis})"


def _print_serving(e, cost, top: int | None) -> None:
    s = e.scenario
    o = s.options
    title = (f"{s.model} on {e.device_name} ({e.runtime}, {e.tier}, batch {s.batch}, prompt {o['prompt']}, generate "
             f"{o['generate']}; weights {o['weights']}, activations {s.dtype}, KV {o['kv_dtype']})")
    rows = []
    labels = {"encode": "encode (audio)", "prefill": "prefill", "decode": "decode step (mean)"}
    for label, ph in ((labels.get(ph.name, ph.name), ph) for ph in e.phases):
        b = ph.breakdown
        rows.append((label, f"{ph.facts['tokens']:,}", f"{ph.facts['kv_length']:,}", f"{ph.flops / 1e9:,.2f}",
                     _gb(b.get("weight_bytes")), _gb(b.get("kv_read_bytes")), _gb(b.get("kv_write_bytes")),
                     _gb(b["activation_bytes"]), seconds(ph.latency_s), ph.bound))
    stdout.print(table(title, [("phase", "left"), ("tokens", "right"), ("KV length", "right"), ("GFLOPs", "right"),
                               ("weights GB", "right"), ("KV read GB", "right"), ("KV write GB", "right"),
                               ("activations GB", "right"), ("time", "right"), ("bound", "left")], rows))
    m, x = e.memory, e.metrics
    fit = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[m.fits]
    energy = f"{e.energy_per_unit_j:.3g} J/token" if e.energy_per_unit_j is not None else "energy: no power figure"
    stdout.print(
        f"{e.device}: time to first token {seconds(x['ttft_s'])}, time per output token {seconds(x['tpot_s'])} "
        f"(first {seconds(x['tpot_first_s'])}, last {seconds(x['tpot_last_s'])}), "
        f"{per_second(x['tokens_per_s_per_sequence'])} tokens/s per sequence, {per_second(x['tokens_per_s'])} tokens/s at batch "
        f"{s.batch}, request {seconds(e.latency_s)} ({e.requests_per_s:,.3g} requests/s); {energy}; "
        f"{_cost_sentence(cost)}", highlight=False, soft_wrap=True)
    stdout.print(
        f"memory {fit}: weights {_gb(m.weight_bytes)} GB + KV cache {_gb(m.kv_cache_bytes)} GB (context "
        f"{o['context']:,} x batch {s.batch}) + activations {_gb(m.activation_bytes)} GB + workspace "
        f"{_gb(m.workspace_bytes)} GB = {_gb(m.required_bytes)} GB of {_gb(m.available_bytes)} GB; request 80% range "
        f"{_range(e)}; tier {e.tier}: {e.error_band}", highlight=False, soft_wrap=True)
    if s.parallel is not None and s.parallel.is_multi:
        _print_parallel(e)


def _per_gpu_scope(plan) -> str:
    if plan.parallelism.pp == 1:
        return "figures above are per GPU"
    return (f"the phase table is one tensor-parallel rank through all {plan.parallelism.pp} stages at a micro-batch "
            f"of {plan.micro_batch}; memory is per GPU")


def _print_parallel(e) -> None:
    """Several GPUs: the layout, memory per GPU and the collectives' share of each phase."""
    x, m, plan = e.metrics, e.memory, e.scenario.parallel
    parts = [f"{ph.name} {seconds(ph.collective_s)} ({100 * ph.collective_share:.1f}% of "
             f"{'the time to first token' if ph.name == 'prefill' else 'a decode step'})" for ph in e.phases]
    stdout.print(
        f"{plan.gpus} GPUs per replica, {plan.parallelism.label()}: memory per GPU {_gb(m.required_bytes)} GB of "
        f"{_gb(m.available_bytes)} GB ({_per_gpu_scope(plan)}); collectives {', '.join(parts)}; "
        f"{per_second(x['tokens_per_s_per_gpu'])} decode tokens/s per GPU",
        highlight=False, soft_wrap=True)


PREDICT_VIEWS: dict[str, Callable[[Any, Any, int | None], None]] = {"forward": _print_forward,
                                                                     "serving": _print_serving}


def print_estimate(e, cost, top: int | None) -> None:
    PREDICT_VIEWS[e.scenario.kind](e, cost, top)
    for note in e.notes:
        warn(note)
    if e.memory.fits is False:
        warn(f"does not fit: {e.memory.shortfall_message()}")


# ------------------------------------------------------------------ plan

def _usd(v) -> str:
    return f"${v:,.0f}" if v is not None else "-"


def _watts(v) -> str:
    return "-" if v is None else f"{v:,.0f} W" if v < 1e4 else f"{v / 1e3:,.1f} kW"


def _tco(r) -> str:
    return _usd(r.tco_usd) + (COST_MARK.get(r.cost_basis, "") if r.tco_usd is not None else "")


PlanColumn = tuple[str, Callable[[Any], str]]

PLAN_COLUMNS: dict[str, list[PlanColumn]] = {
    "forward": [
        ("batch", lambda r: str(r.batch)), ("worst latency", lambda r: seconds(r.worst_latency_s)),
        ("batch time", lambda r: seconds(r.service_latency_s)),
        ("items/s/unit", lambda r: per_second(r.throughput_per_unit_per_s)), ("units", lambda r: str(r.units)),
        ("busy", lambda r: f"{100 * r.busy_fraction:.0f}%"), ("avg power", lambda r: _watts(r.power_w)),
        ("peak power", lambda r: _watts(r.peak_power_w)), ("purchase", lambda r: _usd(r.purchase_usd)),
        ("energy/yr", lambda r: _usd(r.energy_usd_per_year)), ("TCO", _tco),
        ("$/M items", lambda r: f"${r.usd_per_million_units:.3g}" if r.usd_per_million_units is not None else "-"),
    ],
    "serving": [
        ("batch", lambda r: str(r.batch)), ("units", lambda r: str(r.units)),
        ("TTFT", lambda r: seconds(r.metrics["ttft_s"])), ("TPOT", lambda r: seconds(r.metrics["tpot_s"])),
        ("worst latency", lambda r: seconds(r.worst_latency_s)),
        ("tok/s/unit", lambda r: per_second(r.throughput_per_unit_per_s)), ("avg power", lambda r: _watts(r.power_w)),
        ("purchase", lambda r: _usd(r.purchase_usd)), ("energy/yr", lambda r: _usd(r.energy_usd_per_year)),
        ("TCO", _tco),
        ("$/M tokens", lambda r: f"${r.usd_per_million_units:.3g}" if r.usd_per_million_units is not None else "-"),
    ],
}


LOADS: dict[str, Callable[[Any], str]] = {
    "forward": lambda r: f"{r.requests_per_s:,.6g} requests/s",
    "serving": lambda r: (f"{r.requests_per_s:,.6g} requests/s of {r.options['prompt']} + {r.options['generate']} "
                          f"tokens ({r.requests_per_s * r.options['generate']:,.0f} output tokens/s), weights "
                          f"{r.options['weights']}"),
}


def print_plan(result) -> None:
    columns = PLAN_COLUMNS[result.scenario]
    body = [(i, r.device, *[cell(r) for _, cell in columns]) for i, r in enumerate(result.rows, 1)]
    c = result.costs
    limit = f", worst-case latency <= {seconds(result.p99_latency_s)}" if result.p99_latency_s is not None else ""
    what = LOADS[result.scenario](result)
    title = (f"{result.model}, {result.dtype}, {result.runtime} runtime: {what}{limit}; batches "
             f"{', '.join(map(str, result.batches))}; sorted by {c.years:g}-year TCO at "
             f"{c.electricity_usd_per_kwh:g} USD/kWh")
    stdout.print(table(title, [("#", "right"), ("device", "left"),
                               *[(h, "right") for h, _ in columns]], body))
    exclusions(result.excluded)
    stdout.print(f"assumption: {result.assumption}. TCO = purchase + years x electricity (☁: cloud price x hours); "
                 "† energy only and ‡ purchase only TCOs come after complete ones.", highlight=False,
                 soft_wrap=True)


# ------------------------------------------------------------------ plan for a load (continuous batching)

def _per_hour(r) -> str:
    if r.usd_per_hour is None:
        return "-"
    return f"${r.usd_per_hour:,.3g}{COST_MARK.get(r.cost_basis, '')}"


def _per_million(r) -> str:
    return "-" if r.usd_per_million_tokens is None else f"{r.usd_per_million_tokens:.3g}"


def _ttft(p) -> str:
    return seconds(p.ttft_s) if p.ttft_s != float("inf") else "unbounded"


LOAD_COLUMNS: dict[str, list[PlanColumn]] = {
    "load": [
        ("GPUs/replica", lambda r: f"{r.gpus_per_replica} ({r.tp}x{r.pp})"), ("replicas", lambda r: str(r.replicas)),
        ("concurrency", lambda r: f"{r.point.concurrency:.3g}/{r.max_concurrency}"),
        ("TTFT p", lambda r: _ttft(r.point)), ("TPOT", lambda r: seconds(r.point.tpot_s)),
        ("req/s/replica", lambda r: per_second(r.capacity_requests_per_s)),
        ("tok/s/GPU", lambda r: per_second(r.point.output_tokens_per_s_per_gpu)),
        ("power", lambda r: _watts(r.power_w)), ("$/h", _per_hour), ("$/M tokens", _per_million),
    ],
    "max-throughput": [
        ("GPUs/replica", lambda r: f"{r.gpus_per_replica} ({r.tp}x{r.pp})"),
        ("concurrency", lambda r: str(r.max_concurrency)),
        ("req/s/replica", lambda r: per_second(r.point.requests_per_s)),
        ("tok/s/replica", lambda r: per_second(r.point.output_tokens_per_s)),
        ("tok/s/GPU", lambda r: per_second(r.point.output_tokens_per_s_per_gpu)),
        ("TTFT", lambda r: _ttft(r.point)), ("TPOT", lambda r: seconds(r.point.tpot_s)),
        ("power", lambda r: _watts(r.power_w)), ("$/h", _per_hour), ("$/M tokens", _per_million),
    ],
}


def print_load_plan(result) -> None:
    columns = LOAD_COLUMNS[result.mode]
    quantile = f"p{100 * result.quantile:g}"
    columns = [(h.replace("TTFT p", f"TTFT {quantile}"), cell) for h, cell in columns]
    body = [(i, r.device, *[cell(r) for _, cell in columns]) for i, r in enumerate(result.rows, 1)]
    m = result.mix
    lengths = (f"{m.classes[0].isl} + {m.classes[0].osl} tokens" if len(m.classes) == 1 else
               f"the mix {m.source} (mean {m.mean_isl:,.0f} + {m.mean_osl:,.0f} tokens)")
    if result.mode == "load":
        slos = [f"TTFT {quantile} <= {seconds(result.ttft_limit_s)}" if result.ttft_limit_s else "",
                f"TPOT <= {seconds(result.tpot_limit_s)}" if result.tpot_limit_s else ""]
        slo = ", ".join(s for s in slos if s) or "no SLO: replicas at their maximum throughput"
        what = (f"{result.requests_per_s:,.6g} requests/s of {lengths} "
                f"({result.requests_per_s * m.mean_osl:,.0f} output tokens/s), {slo}")
    else:
        what = f"highest sustainable throughput at {lengths}"
    c = result.costs
    title = (f"{result.model}, {result.dtype}, weights {result.weights}, KV {result.kv_dtype}, {result.runtime} runtime: "
             f"{what}; continuous batching, prefill chunks of {result.chunk_tokens}; sorted by cost per million "
             f"output tokens ({c.years:g} years, {c.electricity_usd_per_kwh:g} USD/kWh)")
    stdout.print(table(title, [("#", "right"), ("device", "left"), *[(h, "right") for h, _ in columns]], body))
    exclusions(result.excluded)
    stdout.print(f"queueing: {result.queueing}. $/h: purchase amortised over the period plus electricity (☁: cloud "
                 "price); † energy only and ‡ purchase only costs come after complete ones.", highlight=False,
                 soft_wrap=True, markup=False)


__all__ = ["print_rank", "print_estimate", "print_plan", "print_load_plan", "LOAD_COLUMNS", "exclusions", "RANK_COLUMNS", "PLAN_COLUMNS",
           "PREDICT_VIEWS"]
