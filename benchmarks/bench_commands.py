"""Whole-process wall times of a few commands, next to ``python -c "import torch"`` in the same rounds.

Each round runs every command once, in order (stdout and stderr to /dev/null), so the torch-import
baseline sees the same machine load as the commands; the table gives median / min / max over the
rounds. ``rank resnet50`` is timed four ways: the first run (empty caches), the first run of the model
once the validated catalog is on disk (any earlier command wrote it), a repeated run (the caches
answer), and with the caches off (``ROOFLINE_CACHE=0``).

    python benchmarks/bench_commands.py --rounds 5
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable
COMMANDS = [
    ("`python -c \"import torch\"`", [PY, "-c", "import torch"], None),
    ("`roofline --help`", [PY, "-m", "roofline", "--help"], None),
    ("`roofline rank resnet50`, first run (empty cache)", [PY, "-m", "roofline", "rank", "resnet50"], "fresh"),
    ("`roofline rank resnet50`, first run of the model (catalog cached)", [PY, "-m", "roofline", "rank", "resnet50"],
     "catalog"),
    ("`roofline rank resnet50`, repeated (cached workload)", [PY, "-m", "roofline", "rank", "resnet50"], "warm"),
    ("`roofline rank resnet50`, `ROOFLINE_CACHE=0`", [PY, "-m", "roofline", "rank", "resnet50"], "off"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    warm = tempfile.mkdtemp(prefix="roofline-cache-")
    env = dict(os.environ, ROOFLINE_CACHE_DIR=warm, ROOFLINE_CACHE="1")
    subprocess.run(COMMANDS[-2][1], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for _ in range(args.rounds):
        for label, cmd, cache in COMMANDS:
            run_env = dict(env)
            if cache == "fresh":
                run_env["ROOFLINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="roofline-cache-")
            elif cache == "catalog":  # the validated catalog already on disk (any earlier command), no workload
                run_env["ROOFLINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="roofline-cache-")
                shutil.copytree(os.path.join(warm, "catalog"), os.path.join(run_env["ROOFLINE_CACHE_DIR"], "catalog"))
            elif cache == "off":
                run_env["ROOFLINE_CACHE"] = "0"
            start = time.perf_counter()
            subprocess.run(cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[label].append(time.perf_counter() - start)
    print(f"load average after: {os.getloadavg()[0]:.1f} (before: {load_before:.1f})")
    torch_s = statistics.median(times[COMMANDS[0][0]])
    print("| command | median s | min s | max s | x import torch |\n|---|---:|---:|---:|---:|")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"| {label} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | {median / torch_s:.2f} |")


if __name__ == "__main__":
    main()
