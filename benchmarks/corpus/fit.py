"""Fit the engine execution model's global parameters on the public corpus, with leave-one-device-out.

    python benchmarks/corpus/fit.py [--write] [--out docs/corpus-fit.json]

1. Every corpus row is predicted once at unit efficiencies (roofline.corpus; each op's compute time at
   100 % of its peak, memory time at 100 % of its level's bandwidth, and whether it launches a kernel),
   so any parameter vector is evaluated by numpy over all rows at once.
2. The parameters of roofline.predict.engines (per runtime and engine: matmul, conv, vector and memory
   fractions, per-op overhead, saturation FLOPs per unit; per runtime: the embedded-host dispatch factor)
   are fitted with scipy's least_squares on log(predicted / measured) time, soft-L1 loss, and a weak prior
   towards today's datasheet defaults so that a parameter the corpus says little about stays where it was.
3. Leave-one-device-out: for each device, the fit is redone without its rows and its rows are predicted.
4. Intervals: per engine, the 10th and 90th percentiles of the leave-one-device-out log ratios give the
   80 % interval; its coverage is checked leave-one-device-out too (each device's interval from the other
   devices' residuals).

``--write`` stores the in-sample parameters, the interval factors and the figures in
roofline/predict/engine_fit.yaml (the datasheet tier uses it). Global parameters only: none per device
or per model.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from roofline.corpus import Predictor, RowResult, _serving_request, device_class, load_corpus, summarise  # noqa: E402
from roofline.predict.efficiency import DEFAULTS, ExecutionModel, Runtime, Tier  # noqa: E402
from roofline.predict.engines import embedded_host, engine_of, param_names  # noqa: E402
from roofline.workload.types import OpClass  # noqa: E402

NAMES = param_names()
BOUNDS = {"matmul": (0.02, 1.0), "conv": (0.02, 1.0), "vector": (0.005, 1.0), "memory": (0.05, 1.0),
          "overhead": (2e-7, 5e-3), "saturation": (1e3, 1e11), "embedded_host": (1.0, 30.0)}
PRIOR_WEIGHT = 0.15  # per parameter, in log space, against the datasheet defaults
KIND_OF_ENGINE = {"cpu": "cpu", "gpu": "gpu", "npu": "accelerator"}


def prior() -> dict[str, float]:
    out = {}
    for name in NAMES:
        parts = name.split("/")
        runtime = Runtime(parts[0])
        if parts[-1] == "embedded_host":
            out[name] = 3.0
            continue
        engine, what = parts[1], parts[2]
        kind = KIND_OF_ENGINE[engine]
        compute, memory, overhead = DEFAULTS.get((runtime, kind)) or DEFAULTS[(runtime, "cpu")]
        out[name] = {"matmul": compute[OpClass.MATMUL], "conv": compute[OpClass.CONV],
                     "vector": compute[OpClass.ELEMENTWISE], "memory": memory, "overhead": overhead,
                     "saturation": 1e6}[what]
    return out


def _bounds(name: str) -> tuple[float, float]:
    return BOUNDS[name.split("/")[-1]]


def unit_execution(device, runtime: Runtime) -> ExecutionModel:
    return ExecutionModel(runtime, Tier.DATASHEET, {c: 1.0 for c in OpClass}, 1.0, 1.0,
                          fused_bytes=runtime is Runtime.COMPILED)


def measured_time(row) -> float:
    """The row's figure as the time the predicted sum of op times stands for."""
    if row.metric == "latency_s":
        return row.value
    if row.metric == "throughput_per_s" or row.task == "decode":
        return row.batch / row.value
    return row.batch * _serving_request(row)["prompt"] / row.value  # prefill tokens/s -> TTFT


class Decomposed:
    """Every op of every predicted row, at unit efficiencies, as flat arrays."""

    def __init__(self, rows, catalog, *, tier: str = "datasheet", execution=None):
        execution = execution or unit_execution
        predictor = Predictor(catalog, tier=tier, execution=execution)
        cols = {k: [] for k in ("row", "weight", "compute", "memory", "launch", "cls", "per_unit", "key")}
        self.rows, self.devices, self.classes, self.measured, self.keys = [], [], [], [], []
        key_index: dict[tuple, int] = {}
        self.skipped: list[tuple[str, str]] = []
        for row in rows:
            try:
                device = catalog.get(row.device)
            except Exception:
                self.skipped.append((row.id, "device not in the catalog"))
                continue
            try:
                from roofline.estimation import estimate_scenario

                scenario = predictor.scenario(row)
                e = estimate_scenario(scenario, device, runtime=row.runtime, tier=tier,
                                      execution=execution, include_ops=True)
            except Exception as exc:
                self.skipped.append((row.id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
                continue
            phase = {"forward": "forward", "prefill": "prefill", "decode": "decode"}[row.task]
            if row.task == "forward":
                phase = e.phases[0].name
            ph = e.phase(phase)
            samples = scenario.phase(phase).samples
            engine = engine_of(device)
            key = (row.runtime, engine, embedded_host(device))
            k = key_index.setdefault(key, len(key_index))
            units = float(device.compute_units or 1)
            i = len(self.rows)
            for sample, pred in zip(samples, ph.predictions):
                ops = [o for o in pred.ops if o.time_s > 0]
                n = len(ops)
                cols["row"] += [i] * n
                cols["weight"] += [sample.share] * n
                cols["compute"] += [o.compute_time_s for o in ops]
                cols["memory"] += [o.memory_time_s for o in ops]
                cols["launch"] += [1.0 if o.overhead_s > 0 else 0.0 for o in ops]
                cols["cls"] += [0 if o.op_class in ("matmul", "attention") else 1 if o.op_class == "conv" else 2
                                for o in ops]
                cols["per_unit"] += [o.flops / units for o in ops]
                cols["key"] += [k] * n
            self.rows.append(row)
            self.devices.append(row.device)
            self.classes.append(device_class(device))
            self.measured.append(measured_time(row))
            self.keys.append(k)
        self.arrays = {k: np.asarray(v, dtype=np.int64 if k in ("row", "cls", "key") else float)
                       for k, v in cols.items()}
        self.key_list = sorted(key_index, key=key_index.get)
        self.measured = np.asarray(self.measured)
        # per key: indices into the parameter vector for (matmul, conv, vector, memory, overhead, saturation)
        index = {n: j for j, n in enumerate(NAMES)}
        table = []
        for runtime, engine, embedded in self.key_list:
            if engine == "npu":
                mm = index[f"{runtime}/npu/matmul"]
                ids = [mm, mm, mm, index[f"{runtime}/npu/memory"], index[f"{runtime}/npu/overhead"], -1]
            else:
                ids = [index[f"{runtime}/{engine}/{p}"] for p in ("matmul", "conv", "vector", "memory", "overhead",
                                                                  "saturation")]
            ids.append(index[f"{runtime}/embedded_host"] if embedded else -1)
            table.append(ids)
        self.table = np.asarray(table, dtype=np.int64)

    def times(self, theta: np.ndarray) -> np.ndarray:
        """Predicted time of every row under log-parameters ``theta``."""
        p = np.exp(theta)
        a = self.arrays
        k = a["key"]
        ids = self.table[k]
        eff = p[ids[np.arange(len(k)), a["cls"]]]
        sat_idx = ids[:, 5]
        sat = np.where(sat_idx >= 0, p[np.maximum(sat_idx, 0)], 0.0)
        per_unit = a["per_unit"]
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = np.where(sat > 0, per_unit / (per_unit + sat), 1.0)
            compute = np.where(a["compute"] > 0, a["compute"] / (eff * shape), 0.0)
        memory = a["memory"] / p[ids[:, 3]]
        host_idx = ids[:, 6]
        host = np.where(host_idx >= 0, p[np.maximum(host_idx, 0)], 1.0)
        op_time = np.maximum(compute, memory) + a["launch"] * p[ids[:, 4]] * host
        return np.bincount(a["row"], weights=a["weight"] * op_time, minlength=len(self.rows))

    def used(self, mask: np.ndarray) -> set[int]:
        keys = set(np.asarray(self.keys)[mask].tolist())
        return {int(j) for key in keys for j in self.table[key] if j >= 0}


def fit(d: Decomposed, mask: np.ndarray, start: np.ndarray, prior_theta: np.ndarray) -> np.ndarray:
    lo = np.log([_bounds(n)[0] for n in NAMES])
    hi = np.log([_bounds(n)[1] for n in NAMES])
    target = np.log(d.measured[mask])

    def resid(theta):
        r = np.log(d.times(theta)[mask]) - target
        return np.concatenate([r, PRIOR_WEIGHT * (theta - prior_theta)])

    x0 = np.clip(start, lo + 1e-9, hi - 1e-9)
    sol = optimize.least_squares(resid, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.3, max_nfev=400)
    return sol.x


def results(d: Decomposed, times: np.ndarray, tier: str) -> list[RowResult]:
    out = []
    for row, cls, t in zip(d.rows, d.classes, times):
        if row.metric == "latency_s":
            value = t
        elif row.metric == "throughput_per_s" or row.task == "decode":
            value = row.batch / t
        else:
            value = row.batch * _serving_request(row)["prompt"] / t
        out.append(RowResult(row.id, row.device, cls, row.model, row.task, row.batch, row.dtype, row.runtime,
                             row.metric, row.value, float(value), "ok", tier=tier))
    return out


def table(title: str, summaries) -> str:
    lines = [f"### {title}", "", "| class | rows | within 1.5x | within 2x | median abs error | Spearman (models) |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in summaries:
        rho = f"{s.spearman_devices_per_model:.2f} ({s.models_ranked})" if s.spearman_devices_per_model is not None \
            else "-"
        lines.append(f"| {s.device_class} | {s.predicted} | {100 * s.within_1_5x:.0f} % | {100 * s.within_2x:.0f} % | "
                     f"{100 * s.median_abs_error:.0f} % | {rho} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ the published tier's parameter group
# The published tier (roofline.predict.published) runs the same engine model on measured attainable peaks, so
# its efficiencies are a parameter group of their own: the same names, global per (runtime, engine), fitted on
# the rows of devices with published figures, with a weak prior towards the datasheet tier's fit.

def unit_execution_published(device, runtime: Runtime) -> ExecutionModel:
    import dataclasses

    return dataclasses.replace(unit_execution(device, runtime), tier=Tier.PUBLISHED)


def _lodo(d: Decomposed, start: np.ndarray, prior_theta: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Each device's rows predicted by a fit on the other devices' rows (within ``mask``, default all)."""
    devices = np.asarray(d.devices)
    mask = np.ones(len(d.rows), dtype=bool) if mask is None else mask
    out = np.empty(len(d.rows))
    for device in sorted(set(d.devices)):
        held = devices == device
        out[held] = d.times(fit(d, mask & ~held, start, prior_theta))[held]
    return out


def _intervals(d: Decomposed, times: np.ndarray):
    """Per class: the (tail, 1 - tail) quantiles of measured / predicted, the tail searched from the 10th down to
    the 2nd percentile until the interval covers 80 % of each held-out device's rows when that device's interval
    comes from the other devices' residuals (as for the datasheet tier above)."""
    log_ratio = np.log(d.measured / times)
    classes, devices = np.asarray(d.classes), np.asarray(d.devices)
    intervals, tails, hit = {}, {}, np.zeros(len(d.rows), dtype=bool)
    for cls in sorted(set(d.classes)):
        m = classes == cls
        for tail in np.arange(0.10, 0.015, -0.005):
            got = np.zeros(len(d.rows), dtype=bool)
            for device in sorted(set(devices[m])):
                held = m & (devices == device)
                others = m & ~held if (m & ~held).sum() >= 5 else ~held
                lo, hi = np.quantile(log_ratio[others], [tail, 1 - tail])
                got[held] = (log_ratio[held] >= lo) & (log_ratio[held] <= hi)
            if got[m].mean() >= 0.8:
                break
        hit[m] = got[m]
        tails[cls] = float(tail)
        intervals[cls] = [float(np.exp(np.quantile(log_ratio[m], tail))),
                          float(np.exp(np.quantile(log_ratio[m], 1 - tail)))]
    coverage = {cls: float(hit[classes == cls].mean()) for cls in sorted(set(d.classes))}
    coverage["all"] = float(hit.mean())
    return intervals, coverage, tails


def main_published(args) -> int:
    """Fit the published tier's parameter group; compare it with the datasheet tier on the same rows."""
    from roofline.catalog import load_catalog
    from roofline.predict import engines

    catalog = load_catalog()
    rows = [r for r in load_corpus() if r.device in catalog and catalog.get(r.device).published.present]
    start = time.perf_counter()
    pub = Decomposed(rows, catalog, tier="published", execution=unit_execution_published)
    kept = {r.id for r in pub.rows}
    ds = Decomposed([r for r in rows if r.id in kept], catalog)
    same = {r.id for r in ds.rows}  # rows the datasheet tier can predict too (a board without a datasheet
    # bandwidth is predictable only with its published one)

    def on_same(results_):
        return [r for r in results_ if r.id in same]
    print(f"{len(pub.rows)} rows on {len(set(pub.devices))} devices with published figures decomposed in "
          f"{time.perf_counter() - start:.0f} s; {len(pub.skipped)} skipped", flush=True)
    shipped = engines.fitted()
    base = np.log([prior()[n] for n in NAMES])
    lo = np.log([_bounds(n)[0] for n in NAMES])
    hi = np.log([_bounds(n)[1] for n in NAMES])
    engine_theta = base if shipped is None else \
        np.clip(np.log([shipped["parameters"][n] for n in NAMES]), lo + 1e-9, hi - 1e-9)
    variants = {
        "datasheet tier, shipped engine fit (in sample: fitted on the whole corpus)": results(
            ds, ds.times(engine_theta), "datasheet"),
        "published tier, datasheet tier's engine fit unchanged": on_same(
            results(pub, pub.times(engine_theta), "published")),
    }
    ds_lodo = _lodo(ds, engine_theta, engine_theta)
    variants["datasheet tier, refitted on these rows, leave one device out"] = results(ds, ds_lodo, "datasheet")
    theta = fit(pub, np.ones(len(pub.rows), dtype=bool), engine_theta, engine_theta)
    variants["published tier, own fit, in sample"] = on_same(results(pub, pub.times(theta), "published"))
    pub_lodo = _lodo(pub, theta, engine_theta)
    variants["published tier, own fit, leave one device out"] = on_same(results(pub, pub_lodo, "published"))
    variants["published tier, own fit, leave one device out, every row it predicts"] = results(
        pub, pub_lodo, "published")
    # variant: the group fitted only on the rows the datasheet tier predicts too (without the rows a published
    # bandwidth made predictable, such as a board whose datasheet has none)
    same_mask = np.asarray([r.id in same for r in pub.rows])
    variants["published tier, fitted on the same rows only, leave one device out"] = on_same(results(
        pub, _lodo(pub, theta, engine_theta, same_mask), "published"))
    intervals, coverage, tails = _intervals(pub, pub_lodo)
    report = [table(f"{title} ({len(r)} rows)", summarise(r)) for title, r in variants.items()]
    report.append(table("published tier, own fit, leave one device out, by runtime",
                        summarise(variants["published tier, own fit, leave one device out, every row it predicts"],
                                  by="runtime")))
    per_device = {}
    for key in ("datasheet tier, refitted on these rows, leave one device out",
                "published tier, own fit, leave one device out, every row it predicts"):
        for r in variants[key]:
            per_device.setdefault(r.device, {}).setdefault(key, []).append(abs(np.log(r.predicted / r.measured)))
    report.append("median |log(predicted / measured)| per device (datasheet LODO, published LODO): " + json.dumps(
        {dev: [round(float(np.median(v)), 3) for v in by.values()] for dev, by in sorted(per_device.items())}))
    report.append("80 % intervals (measured / predicted, per class): " + json.dumps(intervals))
    report.append("tail quantile per class: " + json.dumps(tails))
    report.append("leave-one-device-out coverage of the 80 % interval: " + json.dumps(coverage))
    print("\n\n".join(report))
    params = {n: float(v) for n, v in zip(NAMES, np.exp(theta))}
    print(json.dumps(params, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"parameters": params, "intervals": intervals, "coverage": coverage,
                                              "variants": {k: [r.to_dict() for r in v] for k, v in variants.items()},
                                              "skipped": pub.skipped}, indent=1, default=str))
    if args.write:
        import yaml

        lodo = variants["published tier, own fit, leave one device out, every row it predicts"]
        data = {
            "description": "global parameters of the published tier (roofline.predict.published) fitted on the "
                           "benchmarks/corpus rows of devices with published figures by benchmarks/corpus/fit.py "
                           "--published (none per device or per model)",
            "fitted": dt.date.today().isoformat(), "corpus_rows": len(pub.rows),
            "devices": sorted(set(pub.devices)),
            "parameters": params,
            "interval_coverage": 0.8,
            "intervals": {cls: {"low": v[0], "high": v[1], "tail_quantile": tails[cls]}
                          for cls, v in intervals.items()},
            "leave_one_device_out_coverage": coverage,
            "leave_one_device_out": {s.device_class: {"within_1_5x": s.within_1_5x, "within_2x": s.within_2x,
                                                      "median_abs_error": s.median_abs_error}
                                     for s in summarise(lodo)},
        }
        out = ROOT / "roofline" / "predict" / "published_fit.yaml"
        out.write_text("# Written by benchmarks/corpus/fit.py --published --write; do not edit by hand.\n"
                       + yaml.safe_dump(data, sort_keys=False))
        print(f"wrote {out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write roofline/predict/engine_fit.yaml")
    ap.add_argument("--out", default=None, help="also write every figure as JSON here")
    ap.add_argument("--published", action="store_true",
                    help="fit the published tier's parameter group instead (writes roofline/predict/published_fit.yaml)")
    args = ap.parse_args()
    if args.published:
        return main_published(args)
    from roofline.catalog import load_catalog

    catalog = load_catalog()
    rows = load_corpus()
    start = time.perf_counter()
    d = Decomposed(rows, catalog)
    print(f"{len(d.rows)} of {len(rows)} rows decomposed in {time.perf_counter() - start:.0f} s; "
          f"{len(d.skipped)} skipped", flush=True)
    prior_theta = np.log([prior()[n] for n in NAMES])
    everything = np.ones(len(d.rows), dtype=bool)
    theta = fit(d, everything, prior_theta, prior_theta)
    in_sample = results(d, d.times(theta), "engine fit, in sample")
    baseline = results(d, d.times(prior_theta), "datasheet defaults, same decomposition")
    devices = np.asarray(d.devices)
    lodo_times = np.empty(len(d.rows))
    for device in sorted(set(d.devices)):
        held = devices == device
        th = fit(d, ~held, theta, prior_theta)
        lodo_times[held] = d.times(th)[held]
    lodo = results(d, lodo_times, "engine fit, leave one device out")
    # 80 % intervals per class from the leave-one-device-out log ratios (measured / predicted). Residuals of
    # one device are correlated, so the interval of a held-out device is built from the other devices' residuals,
    # and the tail quantile is the widest-needed one that gives 80 % coverage that way (at most the 2nd/98th).
    log_ratio = np.log(d.measured / lodo_times)
    classes = np.asarray(d.classes)
    intervals, covered, tails = {}, np.zeros(len(d.rows), dtype=bool), {}

    def held_out_coverage(m, tail):
        hit = np.zeros(len(d.rows), dtype=bool)
        for device in sorted(set(devices[m])):
            held = m & (devices == device)
            others = m & ~held
            if others.sum() < 5:
                others = ~held
            lo, hi = np.quantile(log_ratio[others], [tail, 1 - tail])
            hit[held] = (log_ratio[held] >= lo) & (log_ratio[held] <= hi)
        return hit

    for cls in sorted(set(d.classes)):
        m = classes == cls
        for tail in np.arange(0.10, 0.015, -0.005):
            hit = held_out_coverage(m, tail)
            if hit[m].mean() >= 0.8:
                break
        tails[cls] = float(tail)
        covered[m] = hit[m]
        intervals[cls] = [float(np.exp(np.quantile(log_ratio[m], tail))),
                          float(np.exp(np.quantile(log_ratio[m], 1 - tail)))]
    coverage = {cls: float(covered[classes == cls].mean()) for cls in sorted(set(d.classes))}
    coverage["all"] = float(covered.mean())
    from roofline.corpus import evaluate

    today = evaluate(d.rows, catalog, tier="datasheet")  # the datasheet tier as shipped before this fit
    report = [table("today's datasheet tier (kind-keyed defaults; same rows)", summarise(today)),
              table("today's defaults keyed by engine (the fit's prior; same rows)", summarise(baseline)),
              table("engine fit, in sample", summarise(in_sample)),
              table("engine fit, leave one device out", summarise(lodo)),
              table("engine fit, leave one device out, by runtime", summarise(lodo, by="runtime")),
              "80 % intervals (measured / predicted, per class): " + json.dumps(intervals),
              "tail quantile per class: " + json.dumps(tails),
              "leave-one-device-out coverage of the 80 % interval: " + json.dumps(coverage)]
    print("\n\n".join(report))
    params = {n: float(v) for n, v in zip(NAMES, np.exp(theta))}
    print(json.dumps(params, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"parameters": params, "intervals": intervals, "coverage": coverage,
                                              "rows": [r.to_dict() for r in lodo],
                                              "skipped": d.skipped}, indent=1, default=str))
    if args.write:
        import yaml

        data = {
            "description": "global parameters of roofline.predict.engines fitted on benchmarks/corpus by "
                           "benchmarks/corpus/fit.py (none per device or per model)",
            "fitted": dt.date.today().isoformat(), "corpus_rows": len(d.rows),
            "parameters": params,
            "interval_coverage": 0.8,
            "intervals": {cls: {"low": lo_hi[0], "high": lo_hi[1], "tail_quantile": tails[cls]}
                          for cls, lo_hi in intervals.items()},
            "leave_one_device_out_coverage": coverage,
            "leave_one_device_out": {s.device_class: {"within_1_5x": s.within_1_5x, "within_2x": s.within_2x,
                                                      "median_abs_error": s.median_abs_error}
                                     for s in summarise(lodo)},
        }
        out = ROOT / "roofline" / "predict" / "engine_fit.yaml"
        out.write_text("# Written by benchmarks/corpus/fit.py --write; do not edit by hand.\n"
                       + yaml.safe_dump(data, sort_keys=False))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
