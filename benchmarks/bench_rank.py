"""Time to rank the whole built-in catalog for an already traced workload (median of 20).

Usage: python benchmarks/bench_rank.py
"""
from __future__ import annotations

import statistics
import time

import roofline
from roofline.catalog import load_catalog


def main() -> None:
    catalog = load_catalog()
    print(f"| model | ops | devices | rank median (ms) | rank min (ms) |")
    print("|---|---|---|---|---|")
    for name in ("resnet50", "vit_b_16", "ultralytics:yolo11n.yaml"):
        built = roofline.load_model(name)
        workload = roofline.analyze(built.model, built.default_input_shape, name=name)
        roofline.rank(workload, catalog)  # first call builds the per-op arrays once
        times = []
        for _ in range(20):
            start = time.perf_counter()
            roofline.rank(workload, catalog)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {len(workload.ops)} | {len(catalog)} | {statistics.median(times) * 1e3:.2f} | "
              f"{min(times) * 1e3:.2f} |")


if __name__ == "__main__":
    main()
