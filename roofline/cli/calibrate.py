"""``roofline calibrate`` (microbenchmarks -> device file) and ``roofline validate`` (measured vs predicted)."""
from __future__ import annotations

from pathlib import Path

import click

from roofline.cli.devices import _CATALOG_OPTION, _STRICT_OPTION, _load


@click.command()
@click.option("--device-id", default=None, help="Id of the written device (default: BASE-calibrated, or host-<cpu>).")
@click.option("--base", "base_id", default=None, help="Catalog device to start from (its datasheet numbers and "
                                                         "sources are kept next to the measured ones).")
@click.option("--quick", is_flag=True, help="Quick suite (<= 60 s on 2 cores) instead of the full one (<= 5 min).")
@click.option("--threads", type=int, default=None, help="torch threads for the microbenchmarks (default: torch's).")
@click.option("--out", default=None, help="Output device file (default: ./<device-id>.yaml).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--merge", is_flag=True, help="Add this calibration to an existing device file as the record for "
                                            "its thread count (eager@N), keeping the records already there.")
@_CATALOG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the fitted figures as JSON after writing the file.")
def calibrate(device_id, base_id, quick, threads, out, force, merge, catalogs, as_json):
    """Measure what this host really achieves and write a calibrated device file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from roofline._atomic import atomic_write_text
    from roofline.calibrate import build_device_file, default_device_id, output_path, run_calibration
    from roofline.calibration.host import cpu_model
    from roofline.cli._render import emit_json, stderr, stdout, warn
    from roofline.errors import RooflineError

    if threads is not None and threads < 1:
        raise RooflineError(f"--threads must be >= 1, got {threads}")
    base = _load(catalogs, False).get(base_id) if base_id else None
    if device_id is None and out is not None:
        device_id = Path(out).stem  # the catalog requires file name == id
    device_id = device_id or default_device_id(cpu_model(), base)
    path = output_path(out, device_id, force or merge)  # refuse before spending minutes measuring
    existing = None
    if merge and path.exists():
        from roofline.catalog import load_device_file

        existing = load_device_file(path)  # a broken file is refused now, not after the measurements

    with Progress(TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("~{task.fields[eta]}"), TimeRemainingColumn(), console=stderr, disable=as_json) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int, est_s_left: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, eta=f"{est_s_left:.0f}s")
            bar.update(tasks[stage], completed=done, eta=f"{est_s_left:.0f}s left")

        run = run_calibration(quick=quick, threads=threads, progress=progress, base=base)
    for message in run.fit.warnings + (run.sequences.notes if run.sequences else []):
        warn(message)
    if run.power.get("method") == "unavailable":
        warn(f"power: {run.power['reason']}; energy predictions keep the catalog's figures")
    if existing is not None:
        from roofline.calibrate import merge_record

        data = merge_record(existing, run.fit, power=run.power, sequences=run.sequences)
    else:
        data = build_device_file(run.fit, base=base, device_id=device_id, power=run.power, sequences=run.sequences)
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    if as_json:
        emit_json({"device_id": device_id, "file": str(path), "calibration": data["calibration"]["eager"],
                   "records": sorted(data["calibration"])})
        return
    cal = data["calibration"]["eager"] if data["calibration"]["eager"]["threads"] == run.fit.threads \
        else data["calibration"][f"eager@{run.fit.threads}"]
    classes = cal.get("op_classes", {})
    gemm = classes.get("matmul/fp32", {}).get("peak_flops_per_s")
    dram = (cal.get("memory_levels") or [{}])[-1].get("bandwidth_bytes_per_s")
    stdout.print(f"wrote {path} (device id {device_id}): fp32 GEMM {gemm / 1e9 if gemm else float('nan'):.1f} GFLOP/s, "
                 f"main memory {dram / 1e9 if dram else float('nan'):.1f} GB/s, per-op overhead "
                 f"{(cal.get('overhead_s') or 0) * 1e6:.1f} us, {cal.get('suite_elapsed_s', 0):.0f} s of measurements",
                 highlight=False, soft_wrap=True)
    power = cal.get("power") or {}
    if power.get("idle_w") is not None:
        stdout.print(f"power ({power['method']}): idle {power['idle_w']:.1f} W, compute-bound {power['compute_w']:.1f} W, "
                     f"memory-bound {power['memory_w']:.1f} W", highlight=False)
    stdout.print(f"use it: roofline predict MODEL --device {device_id} --catalog {path.parent}", highlight=False)


@click.command()
@click.argument("models", nargs=-1)
@click.option("--device", "device_id", default=None, help="Device id to predict with (e.g. a calibrated host).")
@click.option("--corpus", default=None, is_flag=False, flag_value="", metavar="[PATH]",
              help="Instead of running models here: predict every row of the public corpus of published "
                   "measurements (default: benchmarks/corpus) and compare.")
@click.option("--batch", "batches", type=int, multiple=True, help="Batch size (repeatable; default 1).")
@click.option("--tier", type=click.Choice(["calibrated", "published", "datasheet", "sol"]), default=None,
              help="Efficiency tier (default: calibrated when available).")
@click.option("--runtime", type=click.Choice(["eager", "compiled"]), default="eager", show_default=True)
@click.option("--threads", type=int, default=None, help="torch threads for the measured runs (default: torch's).")
@click.option("--zoo", is_flag=True, help="Run the validation zoo (roofline.validation.ZOO: torchvision "
                                         "classification models, YOLO, BERT-base) at batch 1 and 8.")
@click.option("--imgsz", type=int, default=None, help="Square image size: input (B, 3, N, N).")
@click.option("--input-shape", type=str, default=None, help="Input shape, e.g. 1,3,224,224 (batch: --batch).")
@click.option("--seq-len", type=int, default=None, help="hf: text encoders: tokens per sequence (default 128).")
@click.option("--out", "out_path", default=None, help="Also write the tables as Markdown to this file.")
@_CATALOG_OPTION
@_STRICT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def validate(models, device_id, corpus, batches, tier, runtime, threads, zoo, imgsz, input_shape, seq_len, out_path,
             catalogs, strict, as_json):
    """Run MODELS for real on this host and compare measured with predicted latency; or, with --corpus,
    compare the predictions with published measurements on other hardware."""
    from roofline.cli._render import emit_json, stdout, warn
    from roofline.errors import RooflineError
    from roofline.validation import ZOO, ZOO_BATCHES
    from roofline.validation import validate as run_validate

    if corpus is not None:
        if models or device_id or zoo:
            raise RooflineError("--corpus predicts the corpus rows: give no MODEL, --zoo or --device with it")
        _validate_corpus(corpus or None, _load(catalogs, strict), tier, as_json)
        return
    if zoo:
        if models or imgsz is not None or input_shape is not None:
            raise RooflineError("--zoo runs the zoo's own models at their default inputs: give no MODEL, --imgsz "
                                "or --input-shape with it")
        models = tuple(m for m, _ in ZOO)
        batches = batches or ZOO_BATCHES
    if not models or not device_id:
        raise RooflineError("give MODEL... (or --zoo) and --device ID, or --corpus [PATH]")
    device = _load(catalogs, strict).get(device_id)
    from roofline.parallel import spinner

    import warnings

    from roofline.catalog.calibration import CalibrationWarning

    with spinner("measuring...", enabled=not as_json), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        # without --batch an --input-shape keeps its own first dimension
        result = run_validate(list(models), device, batches=batches or ((None,) if input_shape else (1,)),
                              tier=tier, runtime=runtime,
                              threads=threads, imgsz=imgsz, input_shape=input_shape, seq_len=seq_len)
    for w in caught:
        if issubclass(w.category, CalibrationWarning):
            warn(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    text = validation_markdown(result, device_id)
    if out_path:
        from roofline._atomic import atomic_write_text

        atomic_write_text(Path(out_path), text)
    if as_json:
        emit_json(result.to_dict())
        return
    _print_validation(result, device_id)
    for note in result.notes:
        warn(note)
    busy = [r for r in result.rows if r.busy_reason]
    if busy:
        warn(f"{len(busy)} of {len(result.rows)} measurement(s) not reported: {busy[0].busy_reason}")
    elif any(r.measured_noisy for r in result.rows):
        warn("some measurements are noisy (IQR/median > 10 %): other processes may be using the CPU")


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _rows(result):
    from roofline.cli._render import seconds

    return [(r.model, r.pattern or "-", r.batch, seconds(r.measured_latency_s), seconds(r.predicted_latency_s),
             f"{100 * r.relative_error:+.1f}%" if r.relative_error is not None else "busy",
             r.busy_reason or ("noisy" if r.measured_noisy else "")) for r in result.rows]


_HEAD = [("model", "left"), ("pattern", "left"), ("batch", "right"), ("measured", "right"), ("predicted", "right"),
         ("error", "right"), ("", "left")]
_GROUP_HEAD = [("pattern", "left"), ("batch", "right"), ("rows", "right"), ("busy", "right"),
               ("median |error|", "right"), ("worst |error|", "right")]


def _group_rows(result):
    return [(g["pattern"], g["batch"], g["rows"], g["busy"], _pct(g["median_abs_error"]), _pct(g["max_abs_error"]))
            for g in result.by_pattern()]


def _title(result, device_id: str) -> str:
    return (f"measured on this host vs predicted for {device_id} ({result.tier}, {result.runtime}, "
            f"{result.threads} threads)")


def _print_validation(result, device_id: str) -> None:
    from roofline.cli._render import stdout, table

    stdout.print(table(_title(result, device_id), _HEAD, _rows(result)))
    if len({r.pattern for r in result.rows}) > 1 or len({r.batch for r in result.rows}) > 1:
        stdout.print(table("by op pattern", _GROUP_HEAD, _group_rows(result)))
    if result.median_abs_error is None:
        stdout.print("no measurement to compare: the host was too busy for every one", highlight=False)
    else:
        stdout.print(f"median |error| {_pct(result.median_abs_error)}, worst {_pct(result.max_abs_error)}",
                     highlight=False)


def validation_markdown(result, device_id: str) -> str:
    """The validation tables as Markdown (``--out``), per model and per op pattern."""
    def md(head, body) -> list[str]:
        lines = ["| " + " | ".join(h for h, _ in head) + " |",
                 "|" + "|".join("---:" if a == "right" else "---" for _, a in head) + "|"]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
        return lines

    out = [f"### {_title(result, device_id)}", ""] + md(_HEAD, _rows(result)) + ["", "By op pattern:", ""]
    out += md(_GROUP_HEAD, _group_rows(result)) + [""]
    out += [f"- {note}" for note in result.notes]
    return "\n".join(out).rstrip() + "\n"


def _validate_corpus(path, catalog, tier, as_json) -> None:
    from roofline.cli._render import emit_json, stdout, table
    from roofline.corpus import evaluate, load_corpus, summarise

    from roofline.parallel import spinner

    rows = load_corpus(path)
    by_id = {r.id: r for r in rows}
    with spinner(f"predicting {len(rows)} published measurements...", enabled=not as_json):
        results = evaluate(rows, catalog, tier=tier or "datasheet")
    summary = summarise(results)
    by_runtime = [s for s in summarise(results, by="runtime") if s.device_class != "all"]
    if as_json:
        emit_json({"rows": [{**r.to_dict(), "source": by_id[r.id].source} for r in results],
                   "summary": [s.to_dict() for s in summary], "by_runtime": [s.to_dict() for s in by_runtime]})
        return

    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    body = [(r.id, r.metric, f"{r.measured:.4g}", f"{r.predicted:.4g}" if r.predicted is not None else "-",
             f"{r.ratio:.2f}x" if r.ratio is not None else r.status) for r in results]
    stdout.print(table("published measurements vs predicted", [("row", "left"), ("metric", "left"),
                                                               ("measured", "right"), ("predicted", "right"),
                                                               ("predicted/measured", "right")], body))
    stdout.print(table("summary", [("class", "left"), ("rows", "right"), ("predicted", "right"),
                                   ("within 1.5x", "right"), ("within 2x", "right"), ("median |error|", "right"),
                                   ("Spearman of devices per model", "right")],
                       [(s.device_class, s.rows, s.predicted, pct(s.within_1_5x), pct(s.within_2x),
                         pct(s.median_abs_error),
                         f"{s.spearman_devices_per_model:.2f} ({s.models_ranked})"
                         if s.spearman_devices_per_model is not None else "-") for s in summary + by_runtime]))
