"""Time to count a model with ``roofline.analyze`` next to ``torch.utils.flop_counter.FlopCounterMode``.

For resnet50, vit_b_16 (torchvision, default crop 224) and Ultralytics yolo11n (640), after the
imports and one warm-up call of each tool, the median of ``--runs`` calls of:

- ``roofline.analyze(model, shape)`` on the model with real (randomly initialised) CPU weights,
  the same module FlopCounterMode runs; and on the model built on the meta device, as
  ``roofline profile resnet50`` builds it (torchvision only: Ultralytics builds on the CPU);
- a real forward pass on CPU tensors under ``FlopCounterMode(display=False)`` and
  ``torch.no_grad()`` (inference, as roofline traces).

Then a 20 B-parameter stack of 19 ``nn.Linear(32768, 32768, bias=False)`` built under
``torch.device("meta")`` is analysed in a fresh process, so that its peak resident memory is
that analysis alone (plus the interpreter and the torch import, reported separately).

    python benchmarks/bench_counting.py [--runs 5] [--no-20b] [--json run1.json]
    python benchmarks/bench_counting.py --merge run1.json run2.json   # better medians of both

Prints a Markdown table (the one in docs/performance.md). Timings on a shared machine vary
from run to run: run it twice and merge, which keeps the lower median of each cell.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

MODELS = ("resnet50", "vit_b_16", "ultralytics:yolo11n.yaml")

# Peak RSS is the kernel's VmHWM of this process: getrusage's ru_maxrss survives exec and so
# starts at the parent's (forked) resident size, which would hide the child's own figure.
_BIG_CHILD = r"""
import json, resource, sys, time

def peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

t0 = time.perf_counter()
import torch
from torch import nn
import roofline
from roofline.workload import analyze
rss_import = peak_rss()
t1 = time.perf_counter()
with torch.device("meta"):
    model = nn.Sequential(*[nn.Linear(32768, 32768, bias=False) for _ in range(19)])
t2 = time.perf_counter()
w = analyze(model, (1, 32768))
t3 = time.perf_counter()
runs = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    analyze(model, (1, 32768))
    runs.append(time.perf_counter() - t)
rss_peak = peak_rss()
print(json.dumps({"params": w.params, "flops": w.flops, "import_s": t1 - t0, "build_s": t2 - t1,
                  "first_s": t3 - t2, "runs": runs, "rss_import": rss_import, "rss_peak": rss_peak}))
"""


def _median_time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), result


def _real_model(spec: str):
    """(module with real CPU weights, module as `roofline profile` builds it, input shape)."""
    from roofline.sources import load_model
    from roofline.sources import torchvision_models

    if spec.startswith("ultralytics:"):
        built = load_model(spec)  # Ultralytics builds on the CPU with initialised weights
        return built.model, None, built.default_input_shape
    real = torchvision_models.build(spec, device="cpu")
    meta = torchvision_models.build(spec)
    return real.model, meta.model, real.default_input_shape


def bench_model(spec: str, runs: int) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from roofline.workload import analyze

    model, meta_model, shape = _real_model(spec)
    model.eval()
    ours_s, w = _median_time(lambda: analyze(model, shape), runs)
    meta_s = None
    if meta_model is not None and next(meta_model.parameters()).device.type == "meta":
        meta_s, _ = _median_time(lambda: analyze(meta_model, shape), runs)
    x = torch.randn(shape)

    def torch_count() -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
        return counter.get_total_flops()

    torch_s, torch_flops = _median_time(torch_count, runs)
    return {"model": spec.removeprefix("ultralytics:").removesuffix(".yaml"), "shape": shape,
            "roofline_s": ours_s, "roofline_meta_s": meta_s, "torch_s": torch_s,
            "gflops": w.flops / 1e9, "matmul_gflops": w.matmul_flops / 1e9, "torch_gflops": torch_flops / 1e9,
            "ops": len(w.ops)}


def bench_big(runs: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _BIG_CHILD, str(runs)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_table(rows: list[dict[str, Any]], big: dict[str, Any] | None, note: str) -> None:
    print(f"{note}\n")
    print("| model | input | roofline s | roofline s (meta-built) | FlopCounterMode s | speed-up "
          "| roofline GFLOPs (all ops / matmul+conv+attn) | FlopCounterMode GFLOPs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {'x'.join(map(str, r['shape']))} | {_s(r['roofline_s'])} | {_s(r['roofline_meta_s'])} "
              f"| {_s(r['torch_s'])} | {r['torch_s'] / r['roofline_s']:.2f}x "
              f"| {r['gflops']:.3f} / {r['matmul_gflops']:.3f} | {r['torch_gflops']:.3f} |")
    if big is not None:
        print(f"\n20 B-parameter meta Linear stack (19 x Linear(32768, 32768, bias=False), {big['params']:,} params, "
              f"{big['flops'] / 1e9:,.1f} GFLOPs): first analyze in a fresh process {big['first_s']:.3f} s, then median "
              f"{statistics.median(big['runs']):.4f} s; peak RSS {big['rss_peak'] / 2**20:,.0f} MiB "
              f"({big['rss_import'] / 2**20:,.0f} MiB after importing torch and roofline)")


def merge(paths: list[str]) -> None:
    """Best (lowest) median of each timing over several ``--json`` runs of this script."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    rows = []
    for i, first in enumerate(runs[0]["models"]):
        row = dict(first)
        for key in ("roofline_s", "roofline_meta_s", "torch_s"):
            values = [r["models"][i][key] for r in runs if r["models"][i][key] is not None]
            row[key] = min(values) if values else None
        rows.append(row)
    bigs = [r["big"] for r in runs if r.get("big")]
    big = None
    if bigs:
        big = dict(min(bigs, key=lambda b: statistics.median(b["runs"])))
        big["first_s"] = min(b["first_s"] for b in bigs)
        big["rss_peak"] = max(b["rss_peak"] for b in bigs)
        big["rss_import"] = max(b["rss_import"] for b in bigs)
    print_table(rows, big, f"{runs[0]['header']}; better medians of {len(runs)} runs (peak RSS: the largest)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-20b", action="store_true", help="skip the 20 B-parameter meta model")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="print the best medians of earlier --json runs")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge)
        return

    import torch

    torch.manual_seed(0)
    rows = [bench_model(spec, args.runs) for spec in MODELS]
    big = None if args.no_20b else bench_big(args.runs)
    header = f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.runs} after one warm-up"
    print_table(rows, big, header)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"header": header, "models": rows, "big": big}, f, indent=2)


if __name__ == "__main__":
    main()
