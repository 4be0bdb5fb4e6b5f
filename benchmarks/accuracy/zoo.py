"""The validation zoo on this host: full and quick calibrations, at 1 thread and torch's default, measured vs predicted.

One command on a quiet host:

    python benchmarks/accuracy/zoo.py --work zoo-run --out zoo-run/zoo.md

For each thread count (``--threads``, repeatable; default 1 and torch's own count) it runs
`roofline calibrate` and `roofline calibrate --quick` at that count (and with ``--repeat`` a second
full calibration, whose predictions are compared with the first's), each in its own process as a
user runs it (timed), then measures every zoo model (roofline.validation.ZOO) once at batch 1
and 8 and predicts it with both calibrations. It writes the tables for docs/accuracy.md
(per model, and per op pattern and batch, for each thread count and plan) as Markdown, and
every figure as JSON (``WORK/zoo.json``). Busy measurements (roofline.measure) are listed with
their reason and left out of the medians.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def calibrate(work: Path, threads: int, quick: bool, suffix: str = "") -> tuple[str, float]:
    device_id = f"host-zoo-{'quick' if quick else 'full'}-{threads}t{suffix}"
    cmd = [sys.executable, "-m", "roofline", "calibrate", "--threads", str(threads), "--out",
           str(work / f"{device_id}.yaml"), "--force"] + (["--quick"] if quick else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return device_id, time.perf_counter() - start


class Replay:
    """Measures on the first pass over the zoo and replays the same figures on the next ones, so every
    calibration is compared with one and the same measurement."""

    def __init__(self) -> None:
        self.figures: list[Any] = []
        self.position = 0

    def __call__(self, model: Any, shape: Any, **kw: Any) -> Any:
        if self.position < len(self.figures):
            figure = self.figures[self.position]
        else:
            from roofline.measure import measure_latency

            figure = measure_latency(model, shape, **kw)
            self.figures.append(figure)
        self.position += 1
        return figure

    def rewind(self) -> None:
        self.position = 0


def repeatability_markdown(predictions: dict[str, dict[tuple[str, int], float]], first: str, second: str,
                           threads: int) -> str:
    """How far two full calibrations' predictions of the same zoo rows lie apart: |second / first - 1|."""
    import statistics

    a, b = predictions[first], predictions[second]
    gaps = sorted(((abs(b[k] / a[k] - 1.0), k) for k in a if k in b and a[k] > 0), reverse=True)
    if not gaps:
        return ""
    within = sum(1 for g, _ in gaps if g <= 0.10)
    worst = ", ".join(f"{m} batch {bt} {g * 100:.1f} %" for g, (m, bt) in gaps[:5])
    return (f"#### two full calibrations, {threads} thread(s): `{first}` against `{second}`\n\n"
            f"| rows | median gap | worst gap | within 10 % |\n|---:|---:|---:|---:|\n"
            f"| {len(gaps)} | {statistics.median(g for g, _ in gaps) * 100:.1f} % | {gaps[0][0] * 100:.1f} % | "
            f"{within} of {len(gaps)} |\n\nLargest gaps: {worst}.\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("zoo-run"))
    parser.add_argument("--threads", type=int, action="append", default=None,
                        help="thread counts (repeatable; default: 1 and torch's default)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown tables (default WORK/zoo.md)")
    parser.add_argument("--models", nargs="*", default=None, help="a subset of the zoo (default: all of it)")
    parser.add_argument("--repeat", action="store_true",
                        help="a second full calibration per thread count, its predictions compared with the first's")
    args = parser.parse_args(argv)

    import torch

    from roofline.catalog import load_catalog
    from roofline.cli.calibrate import validation_markdown
    from roofline.validation import ZOO, ZOO_BATCHES, validate

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    counts = args.threads or sorted({1, torch.get_num_threads()})
    models = args.models or [m for m, _ in ZOO]
    sections, figures = [], {}
    for threads in counts:
        replay = Replay()
        predictions: dict[str, dict[tuple[str, int], float]] = {}
        plans = [(False, ""), (True, "")] + ([(False, "-repeat")] if args.repeat else [])
        for quick, suffix in plans:
            device_id, seconds = calibrate(work, threads, quick, suffix)
            print(f"{device_id}: calibrated in {seconds:.0f} s", file=sys.stderr, flush=True)
            device = load_catalog([str(work)]).get(device_id)
            replay.rewind()
            result = validate(models, device, batches=ZOO_BATCHES, threads=threads, measure=replay,
                              progress=lambda what: print(what, file=sys.stderr, flush=True))
            sections.append(f"#### {'quick' if quick else 'full'} calibration, {threads} thread(s) "
                            f"(`roofline calibrate{' --quick' if quick else ''}` took {seconds:.0f} s)\n\n"
                            + validation_markdown(result, device_id))
            figures[device_id] = {"calibrate_s": seconds, **result.to_dict()}
            predictions[device_id] = {(r.model, r.batch): r.predicted_latency_s for r in result.rows}
        if args.repeat:
            sections.append(repeatability_markdown(predictions, f"host-zoo-full-{threads}t",
                                                   f"host-zoo-full-{threads}t-repeat", threads))
    text = "\n".join(sections)
    (args.out or work / "zoo.md").write_text(text)
    (work / "zoo.json").write_text(json.dumps(figures, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
