"""Choose the quick plan's probe families by how much each reduces the validation zoo's prediction error.

One command on a quiet host:

    python benchmarks/accuracy/select_quick.py --threads 1 --work sel-1t --out sel-1t/quick-selection.md --write

1. runs the full microbenchmark suite once and times the quick plan's in-sequence chains (three
   passes, each in a fresh process), and measures every zoo model (roofline.validation.ZOO) at
   batch 1 and 8; each is saved as JSON under ``--work`` and reused when the script runs again;
2. starts from the stages every plan times (dispatch, memory) and adds probe families one at a
   time: each step fits a calibration from the measurements of the quick plan's cases of the
   families chosen so far plus one candidate (scipy fits and chain factors as `roofline
   calibrate` makes them), predicts the zoo with it, and keeps the candidate with the lowest
   median |error| (ties: the lower worst error); it stops when no candidate lowers the median or
   the quick plan's estimated suite time would exceed ``--budget-s``;
   With ``--method drop-one`` it instead scores each family once against all the others (the zoo's
   error with every family, then without each one) and keeps those whose absence hurts, in order of
   worth, within the budget: one evaluation per family instead of one per family and step;
3. writes the table of steps (families, zoo median and worst |error|, estimated seconds) as
   Markdown, and with ``--write`` records the chosen families in
   calibration/quick_subset.py (``SELECTION``), which ``build_plan("quick")`` reads.

Only probe measurements feed each fit; the zoo decides which probes the quick plan times, never
a fitted figure.
"""
from __future__ import annotations

import argparse
import json
import math
import pprint
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
SUBSET_FILE = HERE.parent.parent / "calibration" / "quick_subset.py"


# ---------------------------------------------------------------- the selection itself (pure)

def candidate_families(plan: Any) -> list[str]:
    """Families of a (quick) plan outside the always-timed stages, in plan order."""
    from roofline.calibration.quick_subset import ALWAYS_STAGES

    out: list[str] = []
    for stage in plan.stages:
        if stage.name in ALWAYS_STAGES:
            continue
        for case in stage.cases:
            if case.family not in out:
                out.append(case.family)
    return out


def family_seconds(plan: Any) -> tuple[float, dict[str, float]]:
    """(estimated seconds of the always-timed stages, estimated seconds per family) of a plan."""
    from roofline.calibration.quick_subset import ALWAYS_STAGES

    base, per = 0.0, {}
    for stage in plan.stages:
        for case in stage.cases:
            if stage.name in ALWAYS_STAGES:
                base += case.est_s
            else:
                per[case.family] = per.get(case.family, 0.0) + case.est_s
    return base * plan.params.passes, {k: v * plan.params.passes for k, v in per.items()}


def greedy_select(candidates: Sequence[str], evaluate: Callable[[list[str]], tuple[float, float]],
                  seconds: dict[str, float], base_s: float, budget_s: float,
                  log: Callable[[str], None] = lambda _: None) -> tuple[list[str], list[dict[str, Any]]]:
    """Forward selection: each step adds the family whose inclusion gives the lowest zoo median
    |error| (``evaluate(families) -> (median, worst)``), until none lowers it or the budget is spent."""
    chosen: list[str] = []
    median, worst = evaluate(chosen)
    spent = base_s
    rows = [{"step": 0, "added": "(dispatch and memory stages)", "median_abs_error": median,
             "max_abs_error": worst, "estimated_s": spent}]
    remaining = list(candidates)
    while remaining:
        scored = []
        for fam in remaining:
            if spent + seconds.get(fam, 0.0) > budget_s:
                continue
            m, w = evaluate(chosen + [fam])
            scored.append((m, w, fam))
            log(f"  {fam}: median {m:.3f}, worst {w:.3f}")
        if not scored:
            break
        m, w, fam = min(scored)
        if not math.isfinite(m) or m >= median - 1e-6:
            break
        chosen.append(fam)
        remaining.remove(fam)
        median, worst, spent = m, w, spent + seconds.get(fam, 0.0)
        rows.append({"step": len(chosen), "added": fam, "median_abs_error": m, "max_abs_error": w,
                     "estimated_s": spent})
        log(f"step {len(chosen)}: + {fam} -> median {m:.3f}, worst {w:.3f}, ~{spent:.0f} s")
    return chosen, rows


def drop_one_select(candidates: Sequence[str], evaluate: Callable[[list[str]], tuple[float, float]],
                    seconds: dict[str, float], base_s: float, budget_s: float,
                    log: Callable[[str], None] = lambda _: None) -> tuple[list[str], list[dict[str, Any]]]:
    """Each family's worth to the quick plan: the zoo's median |error| with every family, then with every
    family but one. A family whose absence raises the median (or, at an equal median, the worst error)
    is kept; the kept families are then taken in order of worth while the estimated suite time stays in
    the budget. One evaluation per family, where forward selection needs one per family and step."""
    everything = list(candidates)
    median, worst = evaluate(everything)
    rows = [{"step": 0, "added": "(every family)", "median_abs_error": median, "max_abs_error": worst,
             "estimated_s": base_s + sum(seconds.get(f, 0.0) for f in everything)}]
    worth = []
    for fam in everything:
        m, w = evaluate([f for f in everything if f != fam])
        log(f"  without {fam}: median {m:.3f}, worst {w:.3f}")
        worth.append((m - median, w - worst, fam))
    chosen, spent = [], base_s
    for dm, dw, fam in sorted(worth, reverse=True):
        if dm < 1e-4 and not (abs(dm) < 1e-4 and dw > 1e-3):
            continue  # its absence does not hurt the zoo
        if spent + seconds.get(fam, 0.0) > budget_s:
            continue
        chosen.append(fam)
        spent += seconds.get(fam, 0.0)
    for i, (dm, dw, fam) in enumerate(sorted(worth, reverse=True), start=1):
        rows.append({"step": i, "added": f"without {fam}" + (" (kept)" if fam in chosen else ""),
                     "median_abs_error": median + dm, "max_abs_error": worst + dw,
                     "estimated_s": base_s + sum(seconds.get(f, 0.0) for f in everything if f != fam)})
    m, w = evaluate(chosen)
    rows.append({"step": len(rows), "added": f"the {len(chosen)} kept families", "median_abs_error": m,
                 "max_abs_error": w, "estimated_s": spent})
    log(f"kept {len(chosen)}: median {m:.3f}, worst {w:.3f}, ~{spent:.0f} s")
    return chosen, rows


def table_markdown(rows: Sequence[dict[str, Any]], host: dict[str, Any] | None = None) -> str:
    lines = []
    if host:
        lines += [f"Measured on {host.get('cpu_model')} ({host.get('threads')} thread(s), torch "
                  f"{host.get('torch_version')}, {str(host.get('date_utc', ''))[:10]}).", ""]
    lines += ["| step | families | zoo median abs error | zoo worst abs error | estimated quick suite |",
              "|---:|---|---:|---:|---:|"]
    def pct(v: float | None) -> str:
        return f"{100 * v:.1f}%" if v is not None and math.isfinite(v) else "cannot predict"

    for r in rows:
        lines.append(f"| {r['step']} | {r['added']} | {pct(r['median_abs_error'])} | {pct(r['max_abs_error'])} | "
                     f"{r['estimated_s']:.0f} s |")
    return "\n".join(lines) + "\n"


def write_subset(families: Sequence[str], rows: Sequence[dict[str, Any]], host: dict[str, Any] | None,
                 path: Path = SUBSET_FILE) -> None:
    """Replace the ``SELECTION = {...}`` block of calibration/quick_subset.py."""
    import ast

    text = path.read_text()
    # the block's extent from the parsed assignment: pprint's layout differs from the hand-written one
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.AnnAssign)
                and getattr(n.target, "id", None) == "SELECTION")
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[:node.lineno - 1])
    end = sum(len(line) for line in lines[:node.end_lineno])
    # a step that could not predict the zoo has an infinite error: recorded as None (pprint would write
    # `inf`, which is not a Python literal)
    table = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]
    selection = {"families": tuple(families), "host": host, "table": table}
    block = "SELECTION: dict[str, Any] = " + pprint.pformat(selection, width=110, sort_dicts=False) + "\n"
    path.write_text(text[:start] + block + text[end:])


# ---------------------------------------------------------------- evaluation against the zoo

def zoo_errors(measurements: list[Any], suite: Any, zoo: list[dict[str, Any]], workloads: dict[str, Any],
               chains: Any | None, cache: dict[str, Any]) -> tuple[float, float]:
    """Fit a calibration from ``measurements`` alone, predict every measured zoo row with it:
    (median, worst) |error| over the rows that were not busy."""
    from roofline.calibrate import build_device_file, fit_chains
    from roofline.calibration.fit import fit_suite
    from roofline.catalog import DeviceSpec
    from roofline.predict import predict

    from roofline.errors import RooflineError

    fit = fit_suite(replace(suite, measurements=measurements))
    try:
        sequences = fit_chains(fit, chains, cache=cache) if chains is not None else None
    except RooflineError:  # a subset without a compute class cannot predict the chains either
        return math.inf, math.inf
    device = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="quick-selection",
                                                         sequences=sequences))

    errors = []
    for row in zoo:
        if row.get("busy_reason") or not row.get("measured_s"):
            continue
        try:
            predicted = predict(workloads[row["key"]], device, tier="calibrated").latency_s
        except RooflineError:  # a subset without a compute class cannot predict a network at all
            return math.inf, math.inf
        errors.append(abs(predicted - row["measured_s"]) / row["measured_s"])
    if not errors:
        raise SystemExit("no zoo measurement to compare with (every one busy?)")
    return statistics.median(errors), max(errors)


def subset_of(suite: Any, quick_names: set[str], families: Sequence[str]) -> list[Any]:
    """The suite's measurements a quick plan of ``families`` would have: the always-timed stages and
    those families' quick cases (a family whose quick shapes the full suite lacks keeps its own)."""
    from roofline.calibration.quick_subset import ALWAYS_STAGES

    keep = []
    wanted = set(families)
    for fam in wanted:
        ms = [m for m in suite.measurements if m.family == fam and m.stage not in ALWAYS_STAGES]
        quick = [m for m in ms if m.name in quick_names]
        keep += quick if len(quick) >= 4 else ms
    return [m for m in suite.measurements if m.stage in ALWAYS_STAGES] + keep


# ---------------------------------------------------------------- measuring (cached under --work)

def _cached(path: Path, make: Callable[[], Any]) -> Any:
    if path.exists():
        return json.loads(path.read_text())
    value = make()
    path.write_text(json.dumps(value))
    return value


def measure_zoo(threads: int | None, budget_s: float, log: Callable[[str], None]) -> list[dict[str, Any]]:
    from roofline.measure import measure_latency
    from roofline.sources import load_model
    from roofline.sources.shapes import resolve_input_shape
    from roofline.validation import DECODE_PREFIX, ZOO, ZOO_BATCHES, decode_step_module

    rows = []
    for name, pattern in ZOO:
        built = None if name.startswith(DECODE_PREFIX) else load_model(name)
        for batch in ZOO_BATCHES:
            if built is None:  # one decode step of a language model
                module, inputs, _ = decode_step_module(name[len(DECODE_PREFIX):], batch)
                shape = (batch, 1)
                m = measure_latency(module, None, inputs=inputs, threads=threads, budget_s=budget_s)
            else:
                shape = resolve_input_shape(name, built.default_input_shape, batch=batch)
                m = measure_latency(built.model, shape, threads=threads, budget_s=budget_s)
            rows.append({"key": f"{name}@{batch}", "model": name, "pattern": pattern, "batch": batch,
                         "shape": list(shape), "measured_s": m.latency_s, "busy_reason": m.busy_reason})
            log(f"{name} batch {batch}: {m.latency_s * 1e3:.2f} ms" + (f" ({m.busy_reason})" if m.busy else ""))
    return rows


def zoo_workloads(zoo: list[dict[str, Any]]) -> dict[str, Any]:
    """The traced workload of every measured zoo row (measure_zoo's rows), by row key."""
    from roofline.sources import load_model
    from roofline.validation import DECODE_PREFIX, decode_step_workload
    from roofline.workload import analyze

    workloads = {}
    for row in zoo:
        if row["model"].startswith(DECODE_PREFIX):
            workloads[row["key"]] = decode_step_workload(row["model"][len(DECODE_PREFIX):], row["batch"])
        else:
            workloads[row["key"]] = analyze(load_model(row["model"]).model, tuple(row["shape"]), name=row["model"])
    return workloads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--work", default="quick-selection", help="folder for the cached measurements (JSON)")
    parser.add_argument("--budget-s", type=float, default=40.0, help="estimated quick suite seconds to fill")
    parser.add_argument("--zoo-budget-s", type=float, default=2.0, help="timing budget per zoo model and batch")
    parser.add_argument("--out", default=None, help="Markdown table (default: WORK/quick-selection.md)")
    parser.add_argument("--write", action="store_true", help="record the selection in calibration/quick_subset.py")
    parser.add_argument("--method", choices=("forward", "drop-one"), default="forward",
                        help="forward selection (one evaluation per family and step) or each family's worth "
                             "against every other (one evaluation per family)")
    args = parser.parse_args(argv)

    from roofline.calibration.probes import SuiteResult, plan_suite, run_suite
    from roofline.calibration.sequences import ChainTimer

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log("full suite (cached in suite.json)...")
    suite = SuiteResult.from_dict(_cached(work / "suite.json", lambda: run_suite("full", threads=args.threads)
                                          .to_dict()))
    chains = ChainTimer("quick", threads=args.threads, passes=3)

    def time_chains() -> list[Any]:
        for _ in range(chains.passes):
            chains.time_pass()
        return chains.timings

    chains.timings = _cached(work / "chains.json", time_chains)
    zoo = _cached(work / "zoo.json", lambda: measure_zoo(args.threads, args.zoo_budget_s, log))
    workloads = zoo_workloads(zoo)

    # the quick plan with every family, as this host would build it (the selection must not filter it)
    import roofline.calibration.quick_subset as qs

    saved = qs.SELECTION
    qs.SELECTION = {"families": None}
    try:
        plan = plan_suite("quick", threads=args.threads)
    finally:
        qs.SELECTION = saved
    quick_names = {c.name for st in plan.stages for c in st.cases}
    base_s, seconds = family_seconds(plan)
    cache: dict[str, Any] = {}
    select = drop_one_select if args.method == "drop-one" else greedy_select
    chosen, rows = select(candidate_families(plan),
                                 lambda fams: zoo_errors(subset_of(suite, quick_names, fams), suite, zoo, workloads,
                                                         chains, cache),
                                 seconds, base_s, args.budget_s, log)
    host = {"cpu_model": suite.host.cpu_model, "threads": suite.threads, "torch_version": suite.host.torch_version,
            "date_utc": suite.host.date_utc}
    text = table_markdown(rows, host)
    out = Path(args.out) if args.out else work / "quick-selection.md"
    out.write_text(text)
    print(text)
    if args.write:
        write_subset(chosen, rows, host)
        log(f"recorded {len(chosen)} families in {SUBSET_FILE}")


if __name__ == "__main__":
    main()
