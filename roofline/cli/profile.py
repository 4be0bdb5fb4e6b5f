"""``roofline profile MODEL``: per-layer FLOPs, bytes and parameters."""
from __future__ import annotations

import click

from roofline.workload.dtypes import COUNTING_DTYPES


def model_options(f):
    """Options shared by every command that takes a MODEL."""
    f = click.option("--dtype", type=str, default=None,
                     help=f"Counting dtype for bytes: {', '.join(COUNTING_DTYPES)} (default: the model's).")(f)
    f = click.option("--batch", type=int, default=None, help="Batch size (first input dimension).")(f)
    f = click.option("--input-shape", type=str, default=None, help="Input shape, e.g. 1,3,224,224.")(f)
    f = click.option("--imgsz", type=int, default=None, help="Square image size: input (B, 3, N, N).")(f)
    return f


def load_workload(model: str, *, imgsz: int | None, input_shape: str | None, batch: int | None, dtype: str | None,
                  with_model: bool = False, seq_len: int | None = None):
    """Resolve MODEL and its input, and count its work (shared by profile, predict, rank...).

    ``with_model=True`` returns (workload, module, input shape) for commands that also run it.
    ``seq_len``: tokens per sequence for hf: text models.
    """
    from roofline.sources import load_model
    from roofline.sources.shapes import resolve_input_shape
    from roofline.workload import analyze
    from roofline.workload.dtypes import normalize_dtype

    dtype = normalize_dtype(dtype)
    built = load_model(model, seq_len=seq_len)
    takes = str(built.meta.get("input", "")) if isinstance(built.meta, dict) else ""
    if imgsz is not None and takes in ("tokens", "tokens+decoder", "audio", "audio+decoder"):
        from roofline.errors import InputShapeError

        raise InputShapeError(f"{model} takes {takes.split('+')[0]} input: --imgsz does not apply"
                              + (" (use --seq-len)" if takes.startswith("tokens") else ""))
    shape = resolve_input_shape(model, built.default_input_shape, imgsz=imgsz, input_shape=input_shape, batch=batch)
    workload = analyze(built.model, shape, dtype=dtype, name=model)
    return (workload, built.model, shape) if with_model else workload


@click.command()
@click.argument("model")
@model_options
@click.option("--by", type=click.Choice(["layer", "module", "op"]), default="layer", show_default=True,
              help="Group rows by leaf layer, top-level module, or aten op.")
@click.option("--top", "top_k", type=int, default=None, help="Show only the K rows with the most FLOPs.")
@click.option("--measure", is_flag=True, help="Also run the model for real on this host's CPU and report its "
                                             "median latency (fp32, warm-up and repeats).")
@click.option("--threads", type=int, default=None, help="CPU threads for --measure (default: torch's).")
@click.option("--seq-len", type=int, default=None,
              help="hf: text models: tokens per sequence (default 128; CLIP: its 77 positions).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def profile(model: str, imgsz, input_shape, batch, dtype, by, top_k, measure, threads, seq_len, as_json) -> None:
    """Count FLOPs, bytes and parameters of MODEL per op, on fake tensors.

    MODEL: a torchvision name (resnet50), timm:NAME, ultralytics:yolo11n.yaml, hf:PRESET or
    hf:path/to/config.json, a file model.onnx, or package.module:callable (docs/sources.md).
    """
    from roofline.cli._render import emit_json
    from roofline.workload.profile import print_profile
    from roofline.workload.summary import group, top

    workload, module, shape = load_workload(model, imgsz=imgsz, input_shape=input_shape, batch=batch, dtype=dtype,
                                            with_model=True, seq_len=seq_len)
    measured = None
    if measure and callable(getattr(module, "roofline_workload", None)):
        from roofline.errors import RooflineError

        raise RooflineError(f"--measure runs PyTorch models on this host; {model} is a graph that is counted, not run")
    if measure:
        from roofline.measure import measure_latency

        measured = measure_latency(module, shape, threads=threads)
    if as_json:
        data = workload.to_dict()
        if measured is not None:
            data["measured"] = measured.to_dict()
        data["rows"] = [r.to_dict() for r in top(group(workload, by), top_k)]
        data["group_by"] = by
        emit_json(data)
        if workload.unsupported_ops:
            from roofline.cli._render import warn

            warn(f"no FLOP formula for {', '.join(sorted(workload.unsupported_ops))}: counted as 0 FLOPs")
        return
    extra = None
    if measured is not None:
        extra = (f"measured {measured.latency_s * 1e3:.2f} ms/forward on this host's CPU ({measured.threads} threads, "
                 f"median of {measured.repeats}{', noisy' if measured.noisy else ''})")
    print_profile(workload, by=by, k=top_k, extra_summary=extra)
