"""``roofline.profile``: the one-liner that prints a per-layer table and a summary line."""
from __future__ import annotations

from typing import IO, Any

from torch import nn

from roofline.workload.build import analyze
from roofline.workload.summary import GroupBy, group, top
from roofline.workload.types import Workload


def layer_table(workload: Workload, by: GroupBy = "layer", k: int | None = None):
    """A rich Table of the workload grouped by layer, module or op."""
    from roofline._human import table

    rows = top(group(workload, by), k)
    first = {"layer": "layer", "module": "module", "op": "aten op"}[by]
    second = "class" if by == "op" else "type"
    columns = [(first, "left"), (second, "left"), ("output shape", "left"), ("params", "right"),
               ("GFLOPs", "right"), ("MB moved", "right"), ("FLOP/B", "right")]
    body = [
        (r.name, r.type, "x".join(map(str, r.output_shape)) if r.output_shape else "-", f"{r.params:,}",
         f"{r.flops / 1e9:.4f}", f"{r.bytes_moved / 1e6:.2f}", f"{r.arithmetic_intensity:.1f}")
        for r in rows
    ]
    title = f"{workload.model} {'x'.join(map(str, workload.input_shapes[0])) if workload.input_shapes else ''} " \
            f"{workload.dtype}" + (f" (top {k} by FLOPs)" if k else "")
    return table(title, columns, body)


def print_profile(workload: Workload, *, by: GroupBy = "layer", k: int | None = None, file: IO[str] | None = None,
                  extra_summary: str | None = None) -> None:
    from rich.console import Console

    from roofline._human import console as make_console
    from roofline._human import warn

    console = Console(file=file, width=200) if file is not None else make_console()
    console.print(layer_table(workload, by, k))
    console.print(workload.summary_line() + (f", {extra_summary}" if extra_summary else ""), highlight=False,
                  soft_wrap=True)
    if workload.unsupported_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(workload.unsupported_ops.items()))
        warn(f"no FLOP formula for {listed}: counted as 0 FLOPs (their bytes still count)")


def profile(model: nn.Module | str, imgsz: int | None = None, *, input_shape: Any = None, batch: int | None = None,
            dtype: str | None = None, by: GroupBy = "layer", top_k: int | None = None, verbose: bool = True
            ) -> Workload:
    """Analyse ``model`` and print its per-layer table and summary, as Ultralytics' profile does.

    ``model`` is an ``nn.Module`` or a model spec string ('resnet50', 'ultralytics:yolo11n.yaml').
    The input is ``(batch, 3, imgsz, imgsz)`` unless ``input_shape`` is given; without either, a
    spec string uses its source's default (the weights' crop, 640 for Ultralytics) and a module 640.
    """
    from roofline.sources.shapes import resolve_input_shape

    name = None
    default = None
    if isinstance(model, str):
        from roofline.sources import load_model

        built = load_model(model)
        name, model, default = model, built.model, built.default_input_shape
    if imgsz is None and input_shape is None and default is None:
        imgsz = 640
    shape = resolve_input_shape(name or type(model).__name__, default, imgsz=imgsz, input_shape=input_shape,
                                batch=batch)
    workload = analyze(model, shape, dtype=dtype, name=name)
    if verbose:
        print_profile(workload, by=by, k=top_k)
    return workload
