"""Time of ``roofline report`` on one model and the whole catalog (budget: 10 s, end to end).

Each run is a fresh process (``python -m roofline report MODEL --out ...``), so imports (torch,
matplotlib) are counted. One more in-process run splits the time into its stages: tracing,
ranking and costing, drawing the charts, and rendering/writing.

    python benchmarks/bench_report.py [--model resnet50] [--runs 3]
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

BUDGET_S = 10.0


def _cli_seconds(model: str, out: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "roofline", "report", model, "--out", str(out)], check=True,
                       capture_output=True, text=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _stages(model: str, out: Path) -> dict[str, float]:
    from roofline.catalog import load_catalog
    from roofline.cli.profile import load_workload
    from roofline.report import build_report, write_report
    from roofline.report import charts as charts_module

    t0 = time.perf_counter()
    workload = load_workload(model, imgsz=None, input_shape=None, batch=None, dtype=None)
    t1 = time.perf_counter()
    catalog = load_catalog()
    data = build_report([workload], list(catalog))
    t2 = time.perf_counter()
    drawn: dict[tuple, bytes] = {}
    for section in data.sections:
        for kind in charts_module.CHART_KINDS:
            drawn[(kind, section.model, "svg")] = charts_module.chart(kind, section, "svg")
    t3 = time.perf_counter()
    write_report(data, out, chart=lambda kind, section, fmt: drawn[(kind, section.model, fmt)])
    t4 = time.perf_counter()
    return {"devices": len(catalog), "trace_s": t1 - t0, "rank_and_cost_s": t2 - t1, "charts_s": t3 - t2,
            "render_and_write_s": t4 - t3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html_s = _cli_seconds(args.model, Path(tmp) / "report.html", args.runs)
        md_s = _cli_seconds(args.model, Path(tmp) / "report.md", args.runs)
        stages = _stages(args.model, Path(tmp) / "stages.html")
    result = {"model": args.model, "runs": args.runs, "html_end_to_end_s": round(html_s, 2),
              "markdown_end_to_end_s": round(md_s, 2), **{k: round(v, 3) for k, v in stages.items()},
              "budget_s": BUDGET_S}
    print(json.dumps(result, indent=2))
    worst = max(html_s, md_s)
    if worst > BUDGET_S:
        print(f"over budget: {worst:.1f} s > {BUDGET_S:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
