"""Prediction accuracy on this host: two full calibrations, then measured vs predicted latency.

The two calibrations run as `roofline calibrate --threads N` in their own processes. For each
model and batch size the model then runs for real once (warm-up, repeats, median) and is
predicted three ways: with calibration A (the calibrated tier), with calibration B (for
repeatability) and with a datasheet description of the host (the datasheet tier,
host-1core-datasheet.yaml next to this script). Prints Markdown tables for docs/accuracy.md and
writes the raw figures as JSON.

Usage:  python benchmarks/accuracy/run.py --threads 1 --json accuracy.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16")
BATCHES = (1, 8)
HERE = Path(__file__).resolve().parent


def calibrate(threads: int, directory: Path, device_id: str):
    """One full `roofline calibrate`, in its own process as a user runs it (a calibration's
    timings depend on what its process ran before: docs/calibration.md, "Allocator state")."""
    import yaml

    from roofline.catalog import load_device_file

    start = time.perf_counter()
    path = directory / f"{device_id}.yaml"
    subprocess.run([sys.executable, "-m", "roofline", "calibrate", "--threads", str(threads), "--out", str(path),
                    "--force"], check=True, stdout=subprocess.DEVNULL)
    data = yaml.safe_load(path.read_text())
    block = data["calibration"]["eager"]
    seq = block.get("sequence")
    print(f"calibration {device_id}: {time.perf_counter() - start:.0f} s; warnings: {len(block['warnings'])}; "
          + (f"in-sequence factors: dense {seq['dense_scale']:.3f}, other ops {seq['other_scale']:.3f}" if seq
             else "no sequence fit"), flush=True)
    # the same calibration without the in-sequence correction, to show what it contributes
    data["id"] = device_id + "-isolated"
    block.pop("sequence", None)
    isolated = directory / f"{device_id}-isolated.yaml"
    isolated.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_device_file(path), load_device_file(isolated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--keep", type=Path, default=None, help="Keep the calibrated device files in this folder.")
    args = parser.parse_args()

    import torch

    import roofline
    from roofline.catalog import load_device_file
    from roofline.measure import measure_latency
    from roofline.sources import load_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cal_a, cal_a_isolated = calibrate(args.threads, folder, "host-cal-a")
        cal_b, _ = calibrate(args.threads, folder, "host-cal-b")
    datasheet = load_device_file(HERE / "host-1core-datasheet.yaml")

    rows = []
    for name in args.models:
        built = load_model(name)
        for batch in BATCHES:
            shape = (batch,) + tuple(built.default_input_shape[1:])
            workload = roofline.analyze(built.model, shape, name=name)
            measured = measure_latency(built.model, shape, threads=args.threads, budget_s=3.0)
            preds = {key: roofline.predict(workload, dev).latency_s
                     for key, dev in (("a", cal_a), ("b", cal_b), ("datasheet", datasheet),
                                      ("isolated", cal_a_isolated))}
            row = {
                "model": name, "batch": batch, "measured_latency_s": measured.latency_s,
                "measured_dispersion": measured.dispersion,
                "calibrated_latency_s": preds["a"], "calibrated_b_latency_s": preds["b"],
                "datasheet_latency_s": preds["datasheet"],
                "calibrated_error": (preds["a"] - measured.latency_s) / measured.latency_s,
                "isolated_latency_s": preds["isolated"],
                "isolated_error": (preds["isolated"] - measured.latency_s) / measured.latency_s,
                "datasheet_error": (preds["datasheet"] - measured.latency_s) / measured.latency_s,
                "repeatability": abs(preds["b"] - preds["a"]) / preds["a"],
            }
            rows.append(row)
            print(f"{name} b{batch}: measured {measured.latency_s * 1e3:.2f} ms, calibrated "
                  f"{preds['a'] * 1e3:.2f} ({100 * row['calibrated_error']:+.1f}%), datasheet "
                  f"{preds['datasheet'] * 1e3:.2f} ({100 * row['datasheet_error']:+.1f}%)", flush=True)

    def summary(key: str) -> tuple[float, float]:
        errors = [abs(r[key]) for r in rows]
        return statistics.median(errors), max(errors)

    cal_med, cal_max = summary("calibrated_error")
    ds_med, ds_max = summary("datasheet_error")
    iso_med, iso_max = summary("isolated_error")
    rep = max(r["repeatability"] for r in rows)
    print(f"\nhost: {torch.__version__}, {args.threads} thread(s)\n")
    print("| model | batch | measured | calibrated | error | isolated fits only | error | datasheet | error |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['measured_latency_s'] * 1e3:.2f} ms | "
              f"{r['calibrated_latency_s'] * 1e3:.2f} ms | {100 * r['calibrated_error']:+.1f} % | "
              f"{r['isolated_latency_s'] * 1e3:.2f} ms | {100 * r['isolated_error']:+.1f} % | "
              f"{r['datasheet_latency_s'] * 1e3:.2f} ms | {100 * r['datasheet_error']:+.1f} % |")
    print(f"\ncalibrated: median |error| {100 * cal_med:.1f} %, worst {100 * cal_max:.1f} %")
    print(f"isolated fits only: median |error| {100 * iso_med:.1f} %, worst {100 * iso_max:.1f} %")
    print(f"datasheet:  median |error| {100 * ds_med:.1f} %, worst {100 * ds_max:.1f} %")
    print(f"repeatability: two calibrations' predictions differ by at most {100 * rep:.1f} %")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "rows": rows, "calibrated_median_abs_error": cal_med,
                                         "calibrated_max_abs_error": cal_max, "datasheet_median_abs_error": ds_med,
                                         "datasheet_max_abs_error": ds_max, "isolated_median_abs_error": iso_med,
                                         "isolated_max_abs_error": iso_max, "repeatability_max": rep}, indent=2))


if __name__ == "__main__":
    main()
