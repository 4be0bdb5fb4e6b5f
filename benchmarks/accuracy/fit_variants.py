"""Variants of the calibration fit, each refitted on one saved probe run and scored on the zoo.

    python benchmarks/accuracy/fit_variants.py --work sel-1t

``--work`` is a folder written by select_quick.py (suite.json: every probe of the full suite;
chains.json: the quick plan's in-sequence chains; zoo.json: the zoo measured at batch 1 and 8).
Each variant refits the whole suite from those probe measurements alone and predicts every zoo
row; the table gives the probes' own fit (relative RMS residual of the dense families, in
sample) next to the zoo's median and worst |error|. The zoo only scores the variants: no
parameter is fitted to it, and every variant run is recorded in docs/accuracy.md whichever wins.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

VARIANTS: dict[str, dict[str, Any]] = {
    "undetermined memory roof per probe level":
        {"UNDETERMINED_MEMORY_ROOF": "level", "UNDETERMINED_FAMILY_MEMORY_ROOF": "bound"},
    "undetermined memory roof from main memory (shipped)":
        {"UNDETERMINED_MEMORY_ROOF": "main", "UNDETERMINED_FAMILY_MEMORY_ROOF": "bound"},
    "the same, a family's undetermined memory side its class's":
        {"UNDETERMINED_MEMORY_ROOF": "main", "UNDETERMINED_FAMILY_MEMORY_ROOF": "class"},
    "a family's memory side its class's, dense bandwidth fraction >= 0.25":
        {"UNDETERMINED_MEMORY_ROOF": "main", "UNDETERMINED_FAMILY_MEMORY_ROOF": "class",
         "DENSE_MIN_BANDWIDTH_FRACTION": 0.25},
}

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, type=Path)
    args = ap.parse_args()

    import select_quick
    from roofline.calibration import fit as calibration_fit
    from roofline.calibrate import build_device_file, fit_chains
    from roofline.calibration.probes import SuiteResult
    from roofline.catalog import DeviceSpec
    from roofline.predict import predict

    suite = SuiteResult.from_dict(json.loads((args.work / "suite.json").read_text()))
    chains_timings = json.loads((args.work / "chains.json").read_text())
    zoo = json.loads((args.work / "zoo.json").read_text())
    from roofline.calibration.sequences import ChainTimer

    chains = ChainTimer("quick", threads=suite.threads, passes=3)
    chains.timings = chains_timings
    workloads = select_quick.zoo_workloads(zoo)

    print("| variant | dense probe fits, median rel. RMS | zoo median abs error | zoo worst | batch 1 median | batch 8 median |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, settings in VARIANTS.items():
        saved = {k: getattr(calibration_fit, k) for k in settings}
        for k, v in settings.items():
            setattr(calibration_fit, k, v)
        try:
            fit = calibration_fit.fit_suite(suite)
            sequences = fit_chains(fit, chains, cache={})
            device = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="variant",
                                                                 sequences=sequences))
            dense = [f.residual_rel_rms for f in fit.families.values() if f.op_class in calibration_fit.DENSE_CLASSES]
            errors: dict[int, list[float]] = {}
            for row in zoo:
                if row.get("busy_reason") or not row.get("measured_s"):
                    continue
                predicted = predict(workloads[row["key"]], device, tier="calibrated").latency_s
                errors.setdefault(row["batch"], []).append(abs(predicted - row["measured_s"]) / row["measured_s"])
        finally:
            for k, v in saved.items():
                setattr(calibration_fit, k, v)
        every = [e for es in errors.values() for e in es]
        cells = [f"{statistics.median(dense) * 100:.1f} %", f"{statistics.median(every) * 100:.1f} %",
                 f"{max(every) * 100:.1f} %"] + [f"{statistics.median(errors.get(b, [float('nan')])) * 100:.1f} %"
                                                 for b in (1, 8)]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
