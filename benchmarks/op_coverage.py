"""Which aten ops real models issue, and how roofline counts each (the table in docs/counting.md).

Traces, on fake tensors, every torchvision classification, detection and segmentation model,
Ultralytics YOLO11 and YOLOv8 (n, s, m, l, x), the ``hf:`` decoder presets (prefill and one
decode step, through ``roofline.llm.trace.trace_phase``) and a fixed list of timm models, and
classifies every op seen:

- ``formula``: a FLOP formula in ``roofline/workload/formulas.py``;
- ``zero``: a documented zero-FLOP op (data movement, creation): bytes only;
- ``view``: a view or metadata op: neither FLOPs nor bytes;
- ``unsupported``: no formula; 0 FLOPs, listed in ``Workload.unsupported_ops``;
- ``not traceable``: an op whose output size depends on tensor values (``nonzero``...), which a
  shape-only trace cannot run; the model's trace stops there with a one-line error.

A model whose forward stops at such an op contributes the ops it issued before it.

    python benchmarks/op_coverage.py                 # every family, Markdown table on stdout
    python benchmarks/op_coverage.py --family yolo --family hf --json coverage.json
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

FAMILIES = ("torchvision", "detection", "segmentation", "yolo", "hf", "timm")

YOLO_CONFIGS = tuple(f"yolo{v}{s}.yaml" for v in ("11", "v8") for s in "nsmlx")

# Twenty-odd timm architectures covering convnets, vision transformers, hybrids and MLP mixers.
TIMM_MODELS = ("resnet50", "efficientnet_b0", "mobilenetv3_large_100", "convnext_tiny", "vit_base_patch16_224",
               "deit_small_patch16_224", "swin_tiny_patch4_window7_224", "regnety_016", "densenet121",
               "ghostnet_100", "mobilevit_s", "levit_128", "cait_xxs24_224", "beit_base_patch16_224",
               "poolformer_s12", "mixer_b16_224", "resmlp_12_224", "xcit_tiny_12_p16_224", "maxvit_tiny_tf_224",
               "coatnet_0_rw_224", "nfnet_l0", "rexnet_100", "dla34", "hrnet_w18_small", "fastvit_t8",
               "edgenext_small", "eva02_tiny_patch14_224", "tiny_vit_5m_224", "efficientvit_b0", "caformer_s18")


@dataclass
class ModelResult:
    family: str
    name: str
    ops: dict[str, int]  # aten op -> times issued
    error: str | None = None
    seconds: float = 0.0


@dataclass
class OpRow:
    op: str
    status: str  # formula | zero | view | unsupported | not traceable
    op_class: str
    rule: str
    models: dict[str, set[str]] = field(default_factory=dict)  # family -> model names

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "status": self.status, "op_class": self.op_class, "rule": self.rule,
                "models": {f: sorted(m) for f, m in sorted(self.models.items())}}


# ------------------------------------------------------------------ model families

def _quiet() -> contextlib.AbstractContextManager:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def _trace_module(model, shape) -> dict[str, int]:
    from roofline.workload.tracer import trace

    counts: dict[str, int] = {}
    try:
        tr = trace(model, shape)
        ops = tr.ops
    except Exception as exc:
        ops = getattr(exc, "partial_ops", None)
        if ops is None:
            raise
        for op in ops:
            counts[op.op] = counts.get(op.op, 0) + 1
        exc.partial_counts = counts  # type: ignore[attr-defined]
        raise
    for op in ops:
        counts[op.op] = counts.get(op.op, 0) + 1
    return counts


def _torchvision(module_name: str) -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    import torch
    import torchvision as tv

    module = {"torchvision": tv.models, "detection": tv.models.detection,
              "segmentation": tv.models.segmentation}[module_name]
    for name in sorted(tv.models.list_models(module=module)):
        def run(name: str = name) -> dict[str, int]:
            if module_name == "torchvision":
                from roofline.sources import load_model

                built = load_model(name)
                return _trace_module(built.model, built.default_input_shape)
            weights = tv.models.get_model_weights(name).DEFAULT
            kwargs: dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
            with torch.device("meta"):
                model = tv.models.get_model(name, weights=None, weights_backbone=None, **kwargs)
            # detection models resize inside the forward; segmentation crops at 520
            size = 320 if "320" in name else 300 if name.startswith("ssd300") else 520
            return _trace_module(model.eval(), (1, 3, size, size))
        yield name, run


def _yolo() -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    from roofline.sources import load_model

    for config in YOLO_CONFIGS:
        def run(config: str = config) -> dict[str, int]:
            logging.getLogger("ultralytics").setLevel(logging.ERROR)
            built = load_model(f"ultralytics:{config}")
            return _trace_module(built.model, built.default_input_shape)
        yield config, run


def _hf() -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    from roofline.sources.hf import list_presets

    for preset in list_presets():
        def run(preset: str = preset) -> dict[str, int]:
            from roofline.llm.model import load_llm
            from roofline.llm.trace import trace_phase
            from roofline.sources import is_language_model, load_model

            if not is_language_model(f"hf:{preset}"):  # encoders, vision and speech: one forward pass
                built = load_model(f"hf:{preset}")
                return _trace_module(built.model, built.default_input_shape)
            llm = load_llm(f"hf:{preset}")
            counts: dict[str, int] = {}
            for query, past in ((128, 0), (1, 127)):  # prefill of 128 tokens, one decode step after it
                phase = trace_phase(llm, batch=1, query=query, past=past)
                for op in phase.ops:
                    counts[op.op] = counts.get(op.op, 0) + 1
            return counts
        yield preset, run


def _timm() -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    for name in TIMM_MODELS:
        def run(name: str = name) -> dict[str, int]:
            import timm
            import torch

            try:
                with torch.device("meta"):
                    model = timm.create_model(name, pretrained=False)
            except Exception:  # constructors that compute on their tensors: build for real
                model = timm.create_model(name, pretrained=False)
            shape = (1, *model.pretrained_cfg.get("input_size", (3, 224, 224)))
            return _trace_module(model.eval(), shape)
        yield name, run


def models(family: str) -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    if family in ("torchvision", "detection", "segmentation"):
        return _torchvision(family)
    return {"yolo": _yolo, "hf": _hf, "timm": _timm}[family]()


def sweep(families: tuple[str, ...] = FAMILIES, *, only: set[str] | None = None,
          progress: Callable[[ModelResult], None] | None = None) -> list[ModelResult]:
    """Trace every model of ``families`` (or only those named in ``only``)."""
    results = []
    for family in families:
        for name, run in models(family):
            if only is not None and name not in only:
                continue
            start = time.perf_counter()
            try:
                with _quiet():
                    ops = run()
                result = ModelResult(family, name, ops)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                result = ModelResult(family, name, dict(getattr(exc, "partial_counts", {})), first)
            result.seconds = time.perf_counter() - start
            results.append(result)
            if progress is not None:
                progress(result)
    return results


# ------------------------------------------------------------------ classification

def resolve(op: str) -> Any | None:
    """'aten.mm.default' -> torch.ops.aten.mm.default (None if it does not resolve)."""
    import torch

    namespace, _, rest = op.partition(".")
    packet_name, _, overload = rest.rpartition(".")
    try:
        packet = getattr(getattr(torch.ops, namespace), packet_name)
        return getattr(packet, overload)
    except (AttributeError, RuntimeError):
        return None


def classify(op: str) -> tuple[str, str, str]:
    """(status, op class, FLOP rule) of an aten op name as the tracer counts it."""
    from roofline.workload import formulas
    from roofline.workload.types import OpClass

    func = resolve(op)
    if func is None:
        return "unsupported", "other", "0 (not in the registry)"
    if func.overloadpacket in formulas.DATA_DEPENDENT:
        return "not traceable", "data-dependent", formulas.DATA_DEPENDENT[func.overloadpacket]
    kind = formulas.lookup(func)
    if kind is None and getattr(func, "is_view", False):
        kind = formulas.OpKind(OpClass.VIEW, None, rule="0 (view)")
    if kind is None:
        return "unsupported", "other", "0 (not in the registry): listed in unsupported_ops"
    if kind.op_class is OpClass.VIEW:
        return "view", kind.op_class.value, kind.rule or "0 (view)"
    if kind.formula is None:
        return "zero", kind.op_class.value, kind.rule or "0"
    return "formula", kind.op_class.value, kind.rule


def coverage(results: list[ModelResult]) -> list[OpRow]:
    rows: dict[str, OpRow] = {}
    for r in results:
        for op in r.ops:
            row = rows.get(op)
            if row is None:
                status, op_class, rule = classify(op)
                row = rows[op] = OpRow(op, status, op_class, rule)
            row.models.setdefault(r.family, set()).add(r.name)
        if r.error and "depends on tensor values" in r.error:
            # the op that stopped the trace: "... aten.nonzero's output size depends on tensor values ..."
            op = next((w.removesuffix("'s") for w in r.error.split() if "." in w and w.endswith("'s")), None)
            if op:
                name = op if op.count(".") == 2 else op + ".default"
                row = rows.get(name)
                if row is None:
                    status, op_class, rule = classify(name)
                    row = rows[name] = OpRow(name, status, op_class, rule)
                row.models.setdefault(r.family, set()).add(r.name)
    order = {"formula": 0, "zero": 1, "view": 2, "not traceable": 3, "unsupported": 4}
    return sorted(rows.values(), key=lambda x: (order[x.status], x.op_class, x.op))


# ------------------------------------------------------------------ output

def _where(row: OpRow, totals: dict[str, int]) -> str:
    parts = []
    for family in FAMILIES:
        names = row.models.get(family)
        if not names:
            continue
        if len(names) == totals.get(family):
            parts.append(f"{family} (all {len(names)})")
        elif len(names) <= 2:
            parts.append(f"{family} ({', '.join(sorted(names))})")
        else:
            parts.append(f"{family} ({len(names)})")
    return "; ".join(parts)


def markdown(results: list[ModelResult], rows: list[OpRow]) -> str:
    totals: dict[str, int] = {}
    for r in results:
        totals[r.family] = totals.get(r.family, 0) + 1
    lines = ["| op | class | FLOP rule | seen in |", "|---|---|---|---|"]
    for row in rows:
        op = row.op.removeprefix("aten.")
        label = row.op_class if row.status in ("formula", "view", "zero") else row.status
        lines.append(f"| `{op}` | {label} | {row.rule} | {_where(row, totals)} |")
    return "\n".join(lines)


def summary(results: list[ModelResult], rows: list[OpRow]) -> str:
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    traced = sum(1 for r in results if r.error is None)
    lines = [f"{len(results)} models ({traced} traced to the end), {len(rows)} distinct ops: "
             + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))]
    for r in results:
        if r.error:
            lines.append(f"- {r.family} {r.name}: {r.error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", action="append", choices=FAMILIES, help="model family (repeatable; default all)")
    parser.add_argument("--json", dest="json_path", help="also write the sweep as JSON to this file")
    args = parser.parse_args(argv)
    families = tuple(args.family) if args.family else FAMILIES

    def progress(r: ModelResult) -> None:
        state = "ok" if r.error is None else f"stopped: {r.error}"
        print(f"{r.family:12s} {r.name:40s} {len(r.ops):3d} ops {r.seconds:6.1f} s {state}", file=sys.stderr,
              flush=True)

    results = sweep(families, progress=progress)
    rows = coverage(results)
    print(summary(results, rows))
    print()
    print(markdown(results, rows))
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump({"models": [{"family": r.family, "name": r.name, "ops": r.ops, "error": r.error}
                                  for r in results],
                       "ops": [row.to_dict() for row in rows]}, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
