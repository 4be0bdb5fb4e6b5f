"""Cold-load time of the device catalog (budget: 100 ms for ~35 device files).

Each run is a fresh Python process, so nothing is cached; the import of ``roofline.catalog``
(pydantic model construction included) is timed separately from ``load_catalog()``.
A second measurement pads the catalog to at least 35 files with renamed copies of the
built-in devices (or of the test fixtures, when the built-in catalog is small or empty).

    python benchmarks/bench_catalog_load.py [--runs 5] [--target 35]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from roofline.catalog import load_catalog
t1 = time.perf_counter()
catalog = load_catalog(sys.argv[1:])
t2 = time.perf_counter()
load_catalog(sys.argv[1:])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "cached_s": t3 - t2, "devices": len(catalog)}))
"""


def _run(extra: list[str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _CHILD, *extra], check=True, capture_output=True, text=True).stdout
        samples.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "devices": samples[0]["devices"],
        "import_ms": 1000 * statistics.median(s["import_s"] for s in samples),
        "load_ms": 1000 * statistics.median(s["load_s"] for s in samples),
        "cached_ms": 1000 * statistics.median(s["cached_s"] for s in samples),
    }


def _padded_dir(target: int, into: Path) -> int:
    """Renamed copies of existing device files so that built-in + copies >= target."""
    from importlib import resources

    root = Path(str(resources.files("roofline.devices")))
    builtin = sorted(root.rglob("*.yaml"))
    templates = builtin or sorted((Path(__file__).resolve().parents[1] / "tests" / "catalog_cases" / "valid").glob("*.yaml"))
    need = max(0, target - len(builtin))
    for i in range(need):
        src = templates[i % len(templates)]
        text = src.read_text(encoding="utf-8")
        old_id = src.stem
        new_id = f"{old_id}-copy{i}"
        (into / f"{new_id}.yaml").write_text(text.replace(f"id: {old_id}", f"id: {new_id}", 1), encoding="utf-8")
    return need


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=int, default=35)
    args = parser.parse_args()

    base = _run([], args.runs)
    print(f"built-in catalog: {base['devices']} devices, median of {args.runs} cold runs: "
          f"load {base['load_ms']:.1f} ms (import {base['import_ms']:.1f} ms, cached reload {base['cached_ms']:.2f} ms)")
    with tempfile.TemporaryDirectory() as tmp:
        added = _padded_dir(args.target, Path(tmp))
        if added:
            padded = _run([tmp], args.runs)
            print(f"padded catalog:   {padded['devices']} devices, median of {args.runs} cold runs: "
                  f"load {padded['load_ms']:.1f} ms (import {padded['import_ms']:.1f} ms, cached reload {padded['cached_ms']:.2f} ms)")


if __name__ == "__main__":
    main()
