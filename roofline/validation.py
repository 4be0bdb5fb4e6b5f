"""Prediction accuracy on this host: run models for real, predict them, compare.

relative_error = (predicted - measured) / measured; the summary reports the median and the
worst absolute relative error. A measurement taken while the host was too busy (other
processes' load, repeats spread too far: roofline.measure) gets no error: its row says why,
with the figures, and the summary leaves it out.

The validation zoo (``ZOO``, ``roofline validate --zoo``) groups its models by op pattern. Its
torchvision classification models are every one whose default input costs under 10 G
multiply-accumulates as the counter counts them (tests/test_calib_validation.py checks it).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from roofline.catalog import DeviceSpec

# op patterns the zoo is grouped by
DENSE, DEPTHWISE, CONCAT, ATTENTION = "dense conv", "depthwise/separable", "concat/shuffle-heavy", "attention"

ZOO: tuple[tuple[str, str], ...] = (
    *((m, DENSE) for m in ("alexnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d",
                           "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_y_400mf",
                           "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf")),
    *((m, DEPTHWISE) for m in ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5",
                               "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "efficientnet_b0", "efficientnet_b1",
                               "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "efficientnet_v2_s",
                               "convnext_tiny", "convnext_small")),
    *((m, CONCAT) for m in ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
                            "densenet121", "densenet161", "densenet169", "densenet201", "googlenet", "inception_v3",
                            "squeezenet1_0", "squeezenet1_1", "ultralytics:yolo11n.yaml", "ultralytics:yolo11s.yaml",
                            "ultralytics:yolov8n.yaml")),
    *((m, ATTENTION) for m in ("vit_b_32", "swin_t", "swin_v2_t", "maxvit_t", "hf:bert-base-uncased")),
    ("decode:hf:llama-3.2-1b", ATTENTION),
)
# "decode:hf:SPEC": one decode step of a language model (one new token per sequence, a KV cache of
# DECODE_PAST tokens), eager fp32, predicted from the same traced phase the serving estimates use
DECODE_PREFIX = "decode:"
DECODE_PAST = 128
ZOO_BATCHES = (1, 8)
ZOO_MAX_MACS = 10e9  # torchvision classification models: under 10 G multiply-accumulates at the default input


def zoo_pattern(model: str) -> str:
    return dict(ZOO).get(model, "")


@dataclass(frozen=True)
class ValidationRow:
    model: str
    batch: int
    measured_latency_s: float
    predicted_latency_s: float
    relative_error: float | None  # None when the host was too busy to measure
    measured_dispersion: float
    measured_noisy: bool
    tier: str
    pattern: str = ""  # the zoo's op pattern
    busy_reason: str | None = None
    foreign_load: float | None = None
    input_shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ValidationResult:
    device: str
    tier: str
    runtime: str
    threads: int
    rows: list[ValidationRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def measured_rows(self) -> list[ValidationRow]:
        return [r for r in self.rows if r.relative_error is not None]

    @property
    def median_abs_error(self) -> float | None:
        rows = self.measured_rows
        return statistics.median(abs(r.relative_error) for r in rows) if rows else None

    @property
    def max_abs_error(self) -> float | None:
        rows = self.measured_rows
        return max(abs(r.relative_error) for r in rows) if rows else None

    def by_pattern(self) -> list[dict[str, Any]]:
        """Median and worst |error| per op pattern and batch size, then over every row."""
        groups: dict[tuple[str, Any], list[float]] = {}
        busy: dict[tuple[str, Any], int] = {}
        for r in self.rows:
            for key in ((r.pattern or "-", r.batch), ("all", "all")):
                if r.relative_error is None:
                    busy[key] = busy.get(key, 0) + 1
                else:
                    groups.setdefault(key, []).append(abs(r.relative_error))
        out = []
        for key in sorted(set(groups) | set(busy), key=lambda k: (k[0] == "all", k[0], str(k[1]))):
            errors = groups.get(key, [])
            out.append({"pattern": key[0], "batch": key[1], "rows": len(errors), "busy": busy.get(key, 0),
                        "median_abs_error": statistics.median(errors) if errors else None,
                        "max_abs_error": max(errors) if errors else None})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "tier": self.tier,
            "runtime": self.runtime,
            "threads": self.threads,
            "results": [r.to_dict() for r in self.rows],
            "median_abs_error": self.median_abs_error,
            "max_abs_error": self.max_abs_error,
            "by_pattern": self.by_pattern(),
            "notes": list(self.notes),
        }


def device_at_threads(device: DeviceSpec, runtime: str, threads: int | None) -> tuple[DeviceSpec, str | None]:
    """``device`` with the calibration record for ``threads`` as its ``runtime`` record
    (roofline.catalog.calibration.select_record), and the note when no record matches."""
    from roofline.catalog.calibration import select_record

    record, note = select_record(device.calibration, runtime, threads)
    if record is None or device.calibration.get(runtime) is record:
        return device, note
    return device.model_copy(update={"calibration": {**device.calibration, runtime: record}}), note


def validate(models: Sequence[str], device: DeviceSpec, *, batches: Sequence[int | None] = (1,), tier: str | None = None,
             runtime: str = "eager", threads: int | None = None, budget_s: float = 2.0,
             progress: Callable[[str], None] | None = None, imgsz: int | None = None,
             input_shape: str | tuple[int, ...] | None = None, seq_len: int | None = None,
             measure: Callable[..., Any] | None = None) -> ValidationResult:
    """Measure each model at each batch size on this host's CPU and compare with the prediction.

    ``imgsz`` / ``input_shape`` / ``seq_len`` are ``profile``'s input options (the batch sizes
    replace the shape's first dimension). ``measure``: the measuring function (default
    ``roofline.measure.measure_latency``; tests pass a fake)."""
    import torch

    from roofline.measure import measure_latency
    from roofline.predict import predict
    from roofline.sources import load_model
    from roofline.sources.shapes import resolve_input_shape
    from roofline.workload import analyze

    from roofline.errors import RooflineError
    from roofline.sources import is_language_model

    if threads is not None and threads < 1:
        raise RooflineError(f"--threads must be a positive integer, got {threads}")
    if device.kind != "cpu":
        raise RooflineError(f"validate runs the models on this host's CPU: --device {device.id} is a {device.kind}, "
                            "so its prediction cannot be compared with this measurement (use a calibrated host, "
                            "or roofline validate --corpus for published measurements of other hardware)")
    for name in models:
        if name.startswith(DECODE_PREFIX):
            if not is_language_model(name[len(DECODE_PREFIX):]):
                raise RooflineError(f"{name}: a decode step needs an hf: language model after {DECODE_PREFIX!r}")
            if imgsz is not None or input_shape is not None:
                raise RooflineError(f"{name}: a decode step takes no --imgsz or --input-shape (batch: --batch)")
        elif is_language_model(name):
            raise RooflineError(f"{name}: validate does not run language models here (their serving phases are "
                                "not measured on this host); roofline validate --corpus compares published "
                                "decode figures")
    measure = measure or measure_latency
    run_threads = threads or torch.get_num_threads()
    device, note = device_at_threads(device, runtime, run_threads)
    result = ValidationResult(device.id, tier or "auto", runtime, run_threads, notes=[note] if note else [])
    for name in models:
        if name.startswith(DECODE_PREFIX):
            for batch in batches:
                if progress:
                    progress(f"{name} batch {batch or 1}")
                result.rows.append(_decode_row(name, device, batch or 1, runtime=runtime, tier=tier, threads=threads,
                                               budget_s=budget_s, measure=measure))
                result.tier = result.rows[-1].tier
            continue
        built = load_model(name, seq_len=seq_len)
        stride = built.meta.get("stride") if isinstance(built.meta, dict) else None
        for batch in batches:
            if progress:
                progress(f"{name} batch {batch}")
            shape = resolve_input_shape(name, built.default_input_shape, imgsz=imgsz, input_shape=input_shape,
                                        batch=batch, stride=stride)
            workload = analyze(built.model, shape, name=name)
            predicted = predict(workload, device, runtime=runtime, tier=tier)
            measured = measure(built.model, shape, threads=threads, budget_s=budget_s)
            result.tier = predicted.tier
            result.threads = measured.threads
            busy = getattr(measured, "busy_reason", None)
            result.rows.append(ValidationRow(
                model=name, batch=shape[0] if shape else batch, measured_latency_s=measured.latency_s,
                predicted_latency_s=predicted.latency_s,
                relative_error=None if busy else (predicted.latency_s - measured.latency_s) / measured.latency_s,
                measured_dispersion=measured.dispersion, measured_noisy=measured.noisy, tier=predicted.tier,
                pattern=zoo_pattern(name), busy_reason=busy, foreign_load=getattr(measured, "foreign_load", None),
                input_shape=tuple(shape),
            ))
    return result


def decode_step_workload(spec: str, batch: int, past: int = DECODE_PAST, *, llm: Any = None) -> Any:
    """The counted decode step of ``decode_step_module`` (fake tensors only: nothing is built for real)."""
    from roofline.llm.model import load_llm
    from roofline.llm.trace import trace_phase

    return trace_phase(llm or load_llm(spec), batch=batch, query=1, past=past, dtype="fp32", depth="full")


def decode_step_module(spec: str, batch: int, past: int = DECODE_PAST) -> tuple[Any, tuple[Any, ...], Any]:
    """(module, real inputs, traced workload) of one fp32 decode step of the hf: language model
    ``spec``: ``batch`` sequences add one token each to a KV cache of ``past`` tokens. The module
    is the one ``roofline.llm.trace`` traces, with randomly initialised weights."""
    import torch

    from roofline.llm.model import SLIDING, load_llm
    from roofline.llm.trace import PhaseModule
    from roofline.measure import materialize

    llm = load_llm(spec)
    workload = decode_step_workload(spec, batch, past, llm=llm)
    arch = llm.arch
    windows = [arch.sliding_window if t == SLIDING and arch.sliding_window else None for t in arch.layer_types]
    model = materialize(llm.depth_model("fp32")).eval()
    kv = []
    for w in windows:
        cached = min(past, w - 1) if w else past
        for width in (arch.key_dim, arch.value_dim):
            kv.append(torch.randn(batch, arch.kv_cache_heads, cached + 1, width))
    ids = torch.randint(0, int(getattr(llm.config, "vocab_size", 2) or 2), (batch, 1))
    return PhaseModule(model, past, windows), (ids, *kv), workload


def _decode_row(name: str, device: DeviceSpec, batch: int, *, runtime: str, tier: str | None, threads: int | None,
                budget_s: float, measure: Callable[..., Any]) -> ValidationRow:
    from roofline.predict import predict

    module, inputs, workload = decode_step_module(name[len(DECODE_PREFIX):], batch)
    predicted = predict(workload, device, runtime=runtime, tier=tier)
    measured = measure(module, None, threads=threads, budget_s=budget_s, inputs=inputs)
    busy = getattr(measured, "busy_reason", None)
    return ValidationRow(
        model=name, batch=batch, measured_latency_s=measured.latency_s, predicted_latency_s=predicted.latency_s,
        relative_error=None if busy else (predicted.latency_s - measured.latency_s) / measured.latency_s,
        measured_dispersion=measured.dispersion, measured_noisy=measured.noisy, tier=predicted.tier,
        pattern=zoo_pattern(name), busy_reason=busy, foreign_load=getattr(measured, "foreign_load", None),
        input_shape=(batch, 1),
    )
