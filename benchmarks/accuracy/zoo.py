"""The validation zoo on this host: full and quick calibrations, at 1 thread and torch's default, measured vs predicted.

One command on a quiet host:

    python benchmarks/accuracy/zoo.py --work zoo-run --out zoo-run/zoo.md

For each thread count (``--threads``, repeatable; default 1 and torch's own count) it runs
`roofline calibrate` and `roofline calibrate --quick` at that count, each in its own process as a
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


def calibrate(work: Path, threads: int, quick: bool) -> tuple[str, float]:
    device_id = f"host-zoo-{'quick' if quick else 'full'}-{threads}t"
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("zoo-run"))
    parser.add_argument("--threads", type=int, action="append", default=None,
                        help="thread counts (repeatable; default: 1 and torch's default)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown tables (default WORK/zoo.md)")
    parser.add_argument("--models", nargs="*", default=None, help="a subset of the zoo (default: all of it)")
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
        for quick in (False, True):
            device_id, seconds = calibrate(work, threads, quick)
            print(f"{device_id}: calibrated in {seconds:.0f} s", file=sys.stderr, flush=True)
            device = load_catalog([str(work)]).get(device_id)
            replay.rewind()
            result = validate(models, device, batches=ZOO_BATCHES, threads=threads, measure=replay,
                              progress=lambda what: print(what, file=sys.stderr, flush=True))
            sections.append(f"#### {'quick' if quick else 'full'} calibration, {threads} thread(s) "
                            f"(`roofline calibrate{' --quick' if quick else ''}` took {seconds:.0f} s)\n\n"
                            + validation_markdown(result, device_id))
            figures[device_id] = {"calibrate_s": seconds, **result.to_dict()}
    text = "\n".join(sections)
    (args.out or work / "zoo.md").write_text(text)
    (work / "zoo.json").write_text(json.dumps(figures, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
