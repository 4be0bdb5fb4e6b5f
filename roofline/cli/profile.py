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
    shape = resolve_input_shape(model, built.default_input_shape, imgsz=imgsz, input_shape=input_shape, batch=batch,
                                stride=built.meta.get("stride") if isinstance(built.meta, dict) else None)
    check_language_model_input(built, shape, imgsz=imgsz)
    workload = analyze(built.model, shape, dtype=dtype, name=model)
    return (workload, built.model, shape) if with_model else workload


def check_language_model_input(built, shape: tuple[int, ...], *, imgsz: int | None) -> None:
    """A language model (``hf:``) takes (batch, tokens): an image shape would silently count a
    few tokens, so it is refused in one line."""
    from roofline.errors import InputShapeError

    if not str(built.name).startswith("hf:"):
        return
    if imgsz is not None:
        raise InputShapeError(f"{built.name} is a language model: --imgsz does not apply; give "
                              "--input-shape BATCH,TOKENS (e.g. 1,128)")
    if len(shape) != 2:
        raise InputShapeError(f"{built.name} is a language model: its input is (batch, tokens), e.g. "
                              f"--input-shape 1,128; got {'x'.join(map(str, shape))}")


def _shapes_text(shapes: list[tuple[int, ...]], fallback: tuple[int, ...] | None) -> str:
    """Each distinct output shape once, in call order, with how many calls returned it."""
    if not shapes:
        return "x".join(map(str, fallback)) if fallback else "-"
    counts: dict[tuple[int, ...], int] = {}
    for shape in shapes:
        counts[shape] = counts.get(shape, 0) + 1
    parts = ["x".join(map(str, shape)) + (f" ({n} calls)" if n > 1 and len(counts) > 1 else "")
             for shape, n in counts.items()]
    return ", ".join(parts)


def render_rows(workload, rows, *, by: str, depth: int | None, shown_of: int | None = None):
    """The profile table: one row per module call site (or op), a MACs column next to FLOPs, and
    a total row that is the sum of the rows above it."""
    from roofline.cli._render import table
    from roofline.workload.summary import totals

    total = totals(rows)
    recursive = depth is not None
    scope = "own" if by == "layer" else "recursive" if by == "module" else None
    label = (lambda name: f"{name} ({scope})") if scope else (lambda name: name)
    first = {"layer": "layer", "module": "module", "op": "aten op"}[by]
    columns = [(first, "left"), ("class" if by == "op" else "type", "left"), ("calls", "right")]
    if by != "op":
        columns += [("output shape", "left"), (label("params"), "right")]
    columns += [(label("GFLOPs"), "right"), (label("GMACs"), "right"), (label("MB moved"), "right"),
                ("FLOP/B", "right")]
    if recursive:
        columns += [("params (recursive)", "right"), ("GFLOPs (recursive)", "right"),
                    ("GMACs (recursive)", "right")]

    def cells(r, *, is_total: bool = False):
        name = r.name
        if recursive and not is_total:
            name = "  " * max(0, r.depth - 1) + r.name if r.depth else r.name
        out = [name, r.type, "" if is_total else f"{r.calls:,}" if r.calls else "-"]
        if by != "op":
            out += ["" if is_total else _shapes_text(r.output_shapes, r.output_shape), f"{r.params:,}"]
        out += [f"{r.flops / 1e9:.4f}", f"{r.macs / 1e9:.4f}", f"{r.bytes_moved / 1e6:.2f}",
                f"{r.arithmetic_intensity:.1f}"]
        if recursive:
            rec = r.recursive
            out += ["", "", ""] if is_total or rec is None else \
                [f"{rec.params:,}", f"{rec.flops / 1e9:.4f}", f"{rec.macs / 1e9:.4f}"]
        return out

    body = [cells(r) for r in rows]
    total.name = f"total ({len(rows)} of {shown_of} rows)" if shown_of is not None and shown_of != len(rows) \
        else "total"
    body.append(cells(total, is_total=True))
    shape = "x".join(map(str, workload.input_shapes[0])) if workload.input_shapes else ""
    title = f"{workload.model} {shape} {workload.dtype}"
    if shown_of is not None and shown_of != len(rows):
        title += f" (top {len(rows)} by FLOPs)"
    if depth is not None:
        title += f" (modules to depth {depth})"
    t = table(title, columns, body)
    t.rows[-1].end_section = False
    if len(t.rows) > 1:
        t.rows[-2].end_section = True  # a rule above the total row
    return t


def caption(by: str, depth: int | None) -> str:
    if depth is not None:
        return (f"own: what a module computes itself (a row at depth {depth} also owns its hidden submodules); "
                "recursive: the module with all its submodules. calls: times the module ran at this call site. "
                "The total row sums the own columns. MACs: multiply-accumulates (FLOPs = 2 x MACs for "
                "matmul, conv, attention).")
    if by == "layer":
        return ("own: ops each module issued itself (a container row holds only what it computes between its "
                "submodules' calls); calls: times it ran at this call site. The total row sums the rows. "
                "MACs: multiply-accumulates (FLOPs = 2 x MACs for matmul, conv, attention).")
    if by == "module":
        return ("recursive: each block with all its submodules; calls: times the block ran. The total row sums the "
                "rows. MACs: multiply-accumulates (FLOPs = 2 x MACs for matmul, conv, attention).")
    return "calls: records of the op. The total row sums the rows. MACs: multiply-accumulates."


@click.command()
@click.argument("model")
@model_options
@click.option("--by", type=click.Choice(["layer", "module", "op"]), default="layer", show_default=True,
              help="Group rows by leaf layer, top-level module, or aten op.")
@click.option("--top", "top_k", type=int, default=None, help="Show only the K rows with the most FLOPs.")
@click.option("--depth", type=int, default=None,
              help="Show the module tree down to depth N, with own and recursive figures (rows by layer).")
@click.option("--measure", is_flag=True, help="Also run the model for real on this host's CPU and report its "
                                             "median latency (fp32, warm-up and repeats).")
@click.option("--threads", type=int, default=None, help="CPU threads for --measure (default: torch's).")
@click.option("--seq-len", type=int, default=None,
              help="hf: text models: tokens per sequence (default 128; CLIP: its 77 positions).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def profile(model: str, imgsz, input_shape, batch, dtype, by, top_k, depth, measure, threads, seq_len,
            as_json) -> None:
    """Count FLOPs, MACs, bytes and parameters of MODEL per layer, on fake tensors.

    MODEL: a torchvision name (resnet50), timm:NAME, ultralytics:yolo11n.yaml, hf:PRESET or
    hf:path/to/config.json (a language model: --input-shape BATCH,TOKENS), a file model.onnx or
    program.pt2, or package.module:callable (docs/sources.md).
    """
    from roofline.errors import RooflineError

    # checked before the model is built, so a bad count costs nothing and never drops rows silently
    if top_k is not None and top_k <= 0:
        raise RooflineError(f"--top must be a positive number of rows, got {top_k}")
    if depth is not None and depth < 0:
        raise RooflineError(f"--depth must be 0 or more, got {depth}")
    if depth is not None and by != "layer":
        raise RooflineError(f"--depth shows the module tree: use it with --by layer, not --by {by}")
    if threads is not None and threads <= 0:
        raise RooflineError(f"--threads must be a positive integer, got {threads}")

    from roofline.cli._render import emit_json
    from roofline.workload.summary import group, top, totals

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
        rows = top(group(workload, by, depth), top_k)
        data["rows"] = [r.to_dict() for r in rows]
        data["totals_of_rows"] = totals(rows).to_dict()
        data["group_by"] = by
        data["depth"] = depth
        emit_json(data)
        if workload.unsupported_ops:
            from roofline.cli._render import warn

            warn(f"no FLOP formula for {', '.join(sorted(workload.unsupported_ops))}: counted as 0 FLOPs")
        return
    extra = None
    if measured is not None and measured.busy:
        extra = f"not measured: {measured.busy_reason}"
    elif measured is not None:
        extra = (f"measured {measured.latency_s * 1e3:.2f} ms/forward on this host's CPU ({measured.threads} threads, "
                 f"median of {measured.repeats}{', noisy' if measured.noisy else ''})")
    from roofline.cli._render import stdout, warn

    all_rows = group(workload, by, depth)
    rows = top(all_rows, top_k)
    stdout.print(render_rows(workload, rows, by=by, depth=depth, shown_of=len(all_rows)))
    stdout.print(caption(by, depth), style="dim", highlight=False, soft_wrap=True)
    stdout.print(workload.summary_line() + (f", {extra}" if extra else ""), highlight=False, soft_wrap=True)
    if workload.unsupported_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(workload.unsupported_ops.items()))
        warn(f"no FLOP formula for {listed}: counted as 0 FLOPs (their bytes still count)")
