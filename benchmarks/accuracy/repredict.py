"""Predict a saved zoo run again with the current predictor: same calibration files, same measurements.

    python benchmarks/accuracy/repredict.py --work zoo-run [--device host-zoo-full-1t ...]

``--work`` is a folder written by zoo.py (zoo.json and the calibrated device files). Every row is
traced and predicted again with today's code against the device files as they were calibrated, and
compared with the measurement zoo.json recorded; a change to the predictor (how traced ops map to
probe families, say) is scored on the very measurements the earlier run made, without measuring or
calibrating again. Busy rows stay out, as in zoo.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--device", action="append", default=None, help="device ids in zoo.json (default: all)")
    ap.add_argument("--rows", action="store_true", help="print every row, not only the summary")
    args = ap.parse_args()

    from roofline.catalog import load_catalog
    from roofline.predict import predict
    from roofline.sources import load_model
    from roofline.sources.shapes import resolve_input_shape
    from roofline.validation import DECODE_PREFIX, decode_step_workload
    from roofline.workload import analyze

    figures = json.loads((args.work / "zoo.json").read_text())
    catalog = load_catalog([str(args.work)])
    workloads: dict[tuple[str, int], object] = {}
    for device_id in args.device or list(figures):
        device = catalog.get(device_id)
        errors: dict[int, list[float]] = {}
        worst = (0.0, "")
        for row in figures[device_id]["results"]:
            if row.get("relative_error") is None:
                continue  # busy when measured
            key = (row["model"], row["batch"])
            if key not in workloads:
                if row["model"].startswith(DECODE_PREFIX):
                    workloads[key] = decode_step_workload(row["model"][len(DECODE_PREFIX):], row["batch"])
                else:
                    built = load_model(row["model"])
                    shape = resolve_input_shape(row["model"], built.default_input_shape, batch=row["batch"])
                    workloads[key] = analyze(built.model, shape, name=row["model"])
            predicted = predict(workloads[key], device, tier="calibrated").latency_s
            error = predicted / row["measured_latency_s"] - 1.0
            errors.setdefault(row["batch"], []).append(abs(error))
            worst = max(worst, (abs(error), f"{row['model']} batch {row['batch']}"))
            if args.rows:
                print(f"{device_id} {row['model']:28s} {row['batch']:2d} measured {row['measured_latency_s'] * 1e3:9.2f} ms"
                      f" was {row['predicted_latency_s'] * 1e3:9.2f} now {predicted * 1e3:9.2f} ms ({error * 100:+.1f} %)")
        every = [e for es in errors.values() for e in es]
        by_batch = ", ".join(f"batch {b} {statistics.median(es) * 100:.1f} %" for b, es in sorted(errors.items()))
        print(f"{device_id}: {len(every)} rows, median |error| {statistics.median(every) * 100:.1f} % ({by_batch}), "
              f"worst {worst[0] * 100:.1f} % ({worst[1]})", flush=True)


if __name__ == "__main__":
    main()
