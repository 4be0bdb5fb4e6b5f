"""Published language-model serving measurements against roofline's predictions.

``benchmarks/llm/serving.yaml`` holds one row per published figure (schema :class:`ServingMeasurement`):
MLPerf Inference Llama-2-70B on 8-GPU systems, NVIDIA's TensorRT-LLM throughput tables, SGLang and vLLM
figures, llama.cpp single-stream decode and TensorRT Edge-LLM on Jetson AGX Thor. Each row says how it is
served (``kind``):

- ``single_stream``: one sequence at a time (batch 1); predicted as tokens/s = 1 / TPOT with
  ``roofline.estimate(...)``.
- ``fixed_batch``: B sequences decoded together; predicted as B / TPOT at that batch.
- ``serving``: continuous batching to a load on one or more GPUs with tensor/pipeline parallelism, predicted
  with the serving model (:func:`serving_call` says which call): ``offline`` and ``max_throughput`` rows are
  the maximum throughput of a replica (``ContinuousBatching.max_throughput``) times the replicas
  (``gpus / (tp x pp)``, as published); ``request_rate`` rows the figures at the published rate split over
  the replicas (``at_rate``); ``concurrency`` rows TTFT/TPOT at that many running sequences
  (``at_concurrency``, closed loop); a fixed ``batch`` on several GPUs is ``roofline.estimate(...,
  parallelism=)`` as on one GPU.

A row whose request mix is a dataset with no published mean input length (MLPerf's OpenOrca, ShareGPT)
is predicted at 1-token prompts with its published output length: an upper bound of the throughput
(status ``bound``), left out of the summary. A row with no published lengths at all is not predicted.
Where the KV-cache dtype is not published, roofline's default for the row's dtype is used (16-bit) and
the FP8 KV cache is computed as a variant (``variant``) for the FP8 and FP4 rows, not chosen by the ratio.

:func:`predict_row` maps a row to a :class:`Comparison`; :func:`summary` counts the predicted rows.
Run from the repository root::

    python benchmarks/llm/compare.py              # table: measured, predicted, ratio, interval
    python benchmarks/llm/compare.py --markdown   # the table of docs/llm.md "Published comparisons"
    python benchmarks/llm/compare.py --json
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from roofline.errors import RooflineError  # noqa: E402
from roofline.corpus import public_url  # noqa: E402

DATA = Path(__file__).resolve().parent / "serving.yaml"

#: weight formats roofline prices (roofline.llm.precision) and the activation / KV dtypes a row may name
WEIGHT_FORMATS = ("fp16", "bf16", "fp32", "fp8", "int8", "int4", "nvfp4", "mxfp4")
ACTIVATION_DTYPES = ("fp16", "bf16", "fp32", "fp8", "fp4")
KV_DTYPES = ("fp16", "bf16", "fp32", "fp8", "int8")


class ServingDataError(RooflineError):
    """A measurement file that does not load or a row that breaks the schema."""


class Precision(BaseModel):
    """Weights, activations (the matmul math) and KV cache of a row, in roofline's names, plus the runtime's own."""

    model_config = ConfigDict(extra="forbid")

    weights: Literal[WEIGHT_FORMATS]  # type: ignore[valid-type]
    activations: Literal[ACTIVATION_DTYPES]  # type: ignore[valid-type]
    kv: Optional[Literal[KV_DTYPES]] = None  # type: ignore[valid-type]  # None: not published
    published: str = Field(min_length=1)  # the format as the source names it (Q4_0, INT4 AWQ, use_fp8 ...)


class ServingMeasurement(BaseModel):
    """One published serving figure."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    kind: Literal["single_stream", "fixed_batch", "serving"]
    source: str
    retrieved: _dt.date
    quote: str = Field(min_length=1)  # the words of the source that hold the number
    runtime: str = Field(min_length=1)
    runtime_version: str = Field(min_length=1)
    device: Optional[str] = None  # catalog id of one GPU; None: not in the catalog (say so in ``uncertain``)
    system: Optional[str] = None  # catalog id of the multi-GPU system, where the catalog has it
    gpus: int = Field(ge=1)
    tp: int = Field(ge=1)
    pp: int = Field(ge=1)
    model: Optional[str] = None  # roofline model spec; None: no preset (say so in ``uncertain``)
    model_name: str = Field(min_length=1)  # the checkpoint or benchmark model as published
    precision: Precision
    input_tokens: Optional[int] = Field(default=None, ge=0)  # None: not published (a mix of lengths)
    output_tokens: Optional[int] = Field(default=None, ge=1)
    lengths_note: str = Field(min_length=1)
    load: Literal["batch", "concurrency", "request_rate", "max_throughput", "offline"]
    load_value: Optional[float] = Field(default=None, gt=0)  # batch size, concurrency, requests/s
    metric: Literal["output_tokens_per_s_system", "output_tokens_per_s_per_gpu", "ttft_s", "tpot_s",
                    "request_latency_s", "tokens_per_s_single_stream", "tokens_per_s_batch"]
    value: float = Field(gt=0)
    uncertain: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return public_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> "ServingMeasurement":
        if self.gpus % (self.tp * self.pp):
            raise ValueError(f"{self.gpus} GPUs is not a whole number of TP{self.tp} x PP{self.pp} replicas")
        if self.load in ("batch", "concurrency", "request_rate") and self.load_value is None:
            raise ValueError(f"load {self.load!r} needs its load_value")
        if self.kind == "single_stream":
            if self.load != "batch" or self.load_value != 1:
                raise ValueError("a single_stream row is load: batch with load_value 1")
            if self.metric != "tokens_per_s_single_stream":
                raise ValueError("a single_stream row measures tokens_per_s_single_stream")
        if self.kind == "fixed_batch":
            if self.load != "batch" or self.load_value is None or self.load_value < 2 \
                    or self.load_value != int(self.load_value):
                raise ValueError("a fixed_batch row is load: batch with a whole load_value of 2 or more")
            if self.metric not in ("tokens_per_s_batch", "request_latency_s"):
                raise ValueError("a fixed_batch row measures tokens_per_s_batch or request_latency_s")
        if self.kind in ("single_stream", "fixed_batch") and (self.gpus, self.tp, self.pp) != (1, 1, 1):
            raise ValueError(f"a {self.kind} row runs on one GPU (multi-GPU rows are kind: serving)")
        if self.kind == "serving" and self.metric in ("tokens_per_s_single_stream", "tokens_per_s_batch"):
            raise ValueError(f"a serving row measures throughput, TTFT or TPOT, not {self.metric}")
        if self.device is None and "catalog" not in self.uncertain:
            raise ValueError("a device missing from the catalog must be named in 'uncertain'")
        if self.model is None and "preset" not in self.uncertain:
            raise ValueError("a model without a roofline preset must be named in 'uncertain'")
        return self

    @property
    def batch(self) -> int:
        return int(self.load_value) if self.load == "batch" and self.load_value else 1


def load_rows(path: str | Path | None = None) -> list[ServingMeasurement]:
    """The rows of a measurement file; ids must be unique."""
    f = Path(path) if path is not None else DATA
    if not f.is_file():
        raise ServingDataError(f"{f}: no such measurement file")
    try:
        data = yaml.safe_load(f.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ServingDataError(f"{f}{f':{mark.line + 1}' if mark is not None else ''}: not valid YAML") from None
    if not isinstance(data, list):
        raise ServingDataError(f"{f}: a measurement file is a list of rows")
    rows: list[ServingMeasurement] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        try:
            row = ServingMeasurement.model_validate(item)
        except Exception as exc:  # pydantic's message: the field and why, on one line
            lines = str(exc).splitlines()
            detail = "; ".join(line.strip() for line in lines[1:3]) if len(lines) > 1 else str(exc)
            name = item.get("id") if isinstance(item, dict) else "?"
            raise ServingDataError(f"{f}: row {i + 1} ({name}): {detail}") from None
        if row.id in seen:
            raise ServingDataError(f"{f}: row {i + 1}: duplicate id {row.id!r}")
        seen.add(row.id)
        rows.append(row)
    return rows


@dataclass
class Comparison:
    id: str
    kind: str
    device: str | None
    runtime: str
    runtime_version: str
    metric: str
    measured: float
    status: str  # "predicted", "upper bound" (dataset lengths not published) or "not predicted"
    predicted: float | None = None
    interval: tuple[float, float] | None = None  # the datasheet tier's calibrated band, in the metric's unit
    coverage: float | None = None  # nominal coverage of that band
    bound: str | None = None
    reason: str | None = None
    call: str | None = None  # the serving-model call that predicted the row (serving_call)
    variant: dict[str, Any] | None = None  # the same call with the FP8 KV cache, where the KV dtype is unknown
    extra: dict[str, Any] | None = None  # further figures of the same operating point (TTFT, TPOT, concurrency)

    @property
    def ratio(self) -> float | None:
        """predicted / measured (a rate: < 1 is predicted too slow; a time: > 1 is)."""
        return None if self.predicted is None else self.predicted / self.measured

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


def precision_arguments(row: ServingMeasurement, *, kv: str | None = None) -> dict[str, Any]:
    """``dtype``, ``weights`` and ``kv_dtype`` of a row in roofline's names (the latter two only where they
    differ from roofline's defaults). FP4 activations (W4A4) run as ``--dtype fp4`` (FP4 tensor cores,
    FP8 fallback where the device has none). ``kv``: a KV dtype to use instead of the row's (a variant where it is not published)."""
    p = row.precision
    if p.activations == "fp8":
        dtype, weights = "fp8", (None if p.weights == "fp8" else p.weights)
    elif p.activations == "fp4":  # W4A4 on FP4 tensor cores: NVFP4 is --dtype fp4's default weight format
        dtype, weights = "fp4", (None if p.weights == "nvfp4" else p.weights)
    else:
        dtype, weights = p.activations, (None if p.weights == p.activations else p.weights)
    args: dict[str, Any] = {"dtype": dtype}
    if weights is not None:
        args["weights"] = weights
    default_kv = "fp16" if dtype in ("fp8", "fp4") else dtype  # roofline's KV default under each dtype
    chosen = kv if kv is not None else p.kv
    if chosen is not None and chosen != default_kv:
        args["kv_dtype"] = chosen
    return args


def estimate_arguments(row: ServingMeasurement) -> dict[str, Any]:
    """Keyword arguments of ``roofline.estimate`` for a fixed-batch row (single_stream, fixed_batch, or a
    ``serving`` row at a fixed batch on several GPUs: add ``parallelism``).

    A row without a published generated length is predicted as the decode step at its prompt's context
    (``generate=2``: one decode step after the prefill token)."""
    return dict(batch=row.batch, **precision_arguments(row), runtime="compiled",
                prompt=max(row.input_tokens or 0, 1), generate=row.output_tokens if row.output_tokens else 2)


#: the serving-model call of each load (ServingCall.method)
CALLS = {"offline": "max_throughput", "max_throughput": "max_throughput", "request_rate": "at_rate",
         "concurrency": "at_concurrency", "batch": "estimate"}
BOUND_ISL = 1  # prompt length of an upper bound where a dataset's mean input length is not published


@dataclass(frozen=True)
class ServingCall:
    """How a ``serving`` row is predicted: ``ContinuousBatching(model, device, mix=RequestMix.fixed(isl, osl),
    parallelism=Parallelism(tp, pp), **arguments).<method>(argument)`` per replica, times ``replicas`` for a
    system figure; ``method == "estimate"``: ``roofline.estimate(..., parallelism=)`` at a fixed batch."""

    method: str
    model: str
    device: str
    tp: int
    pp: int
    replicas: int
    isl: int
    osl: int
    arguments: dict[str, Any]
    argument: float | None = None  # requests/s per replica (at_rate), running sequences (at_concurrency)
    upper_bound: bool = False  # the dataset's mean input length is not published: 1-token prompts

    def label(self) -> str:
        arg = "" if self.argument is None else f"{self.argument:g}"
        layout = f"TP{self.tp}" + (f" PP{self.pp}" if self.pp > 1 else "")
        times = f" x {self.replicas} replicas" if self.replicas > 1 else ""
        prec = ", ".join(f"{k}={v}" for k, v in self.arguments.items())
        return f"{self.method}({arg}) {layout}{times}, ISL {self.isl} / OSL {self.osl}, {prec}"


def serving_call(row: ServingMeasurement) -> tuple[ServingCall | None, str | None]:
    """The serving-model call of a ``serving`` row, or None and why it cannot be predicted."""
    if row.device is None:
        return None, "device not in the catalog"
    if row.model is None:
        return None, "no roofline preset for the model"
    if row.output_tokens is None:
        return None, "request lengths of the dataset not published (neither input nor output)"
    bound = row.input_tokens is None
    replicas = row.gpus // (row.tp * row.pp)
    method = CALLS[row.load]
    argument = None
    if row.load == "request_rate":
        argument = float(row.load_value) / replicas
    elif row.load == "concurrency":
        argument = float(row.load_value)
    elif row.load == "batch":
        argument = float(row.batch)
    isl = BOUND_ISL if bound else max(row.input_tokens, 1)
    return ServingCall(method, row.model, row.device, row.tp, row.pp, replicas, isl, row.output_tokens,
                       precision_arguments(row), argument, bound), None


def _predicted(row: ServingMeasurement, estimate: Any, factors: tuple[float, float, float] | None):
    """(value, interval, coverage) of a one-GPU row: tokens/s from the Estimate's TPOT, or its request latency."""
    if row.metric == "request_latency_s":
        latency = estimate.metrics["request_latency_s"]
        if factors is None or estimate.tier != "datasheet":
            return latency, None, None
        return latency, (latency * factors[0], latency * factors[1]), factors[2]
    tpot = estimate.metrics["tpot_s"]
    rate = row.batch / tpot
    if factors is None or estimate.tier != "datasheet":
        return rate, None, None
    low, high, coverage = factors  # measured / predicted latency: a time band, inverted for a rate
    return rate, (row.batch / (tpot * high), row.batch / (tpot * low)), coverage


_RATES = ("output_tokens_per_s_system", "output_tokens_per_s_per_gpu")


def _point_value(row: ServingMeasurement, call: ServingCall, point: Any) -> float:
    """The row's metric from an OperatingPoint of one replica."""
    if row.metric == "output_tokens_per_s_system":
        return point.output_tokens_per_s * call.replicas
    if row.metric == "output_tokens_per_s_per_gpu":
        return point.output_tokens_per_s / (call.tp * call.pp)
    if row.metric == "ttft_s":
        return point.ttft_s
    if row.metric == "tpot_s":
        return point.tpot_s
    if row.metric == "request_latency_s":
        return point.ttft_s + (call.osl - 1) * point.tpot_s
    raise ServingDataError(f"{row.id}: metric {row.metric!r} has no serving-model figure")


def _band(value: float, rate: bool, factors: tuple[float, float, float] | None):
    """The datasheet tier's measured / predicted latency band around ``value`` (inverted for a rate)."""
    if factors is None:
        return None, None
    low, high, coverage = factors
    return ((value / high, value / low) if rate else (value * low, value * high)), coverage


def _serving_point(row: ServingMeasurement, call: ServingCall, batching: Callable[..., Any], catalog: Any,
                   kv: str | None = None):
    """(replica, operating point, note) of a continuous-batching row; ``kv``: the variant's KV dtype."""
    from roofline.llm.batching import RequestMix
    from roofline.llm.parallel import Parallelism

    arguments = precision_arguments(row, kv=kv) if kv is not None else call.arguments
    cb = batching(call.model, call.device, mix=RequestMix.fixed(call.isl, call.osl), tier="datasheet",
                  runtime="compiled", parallelism=Parallelism(call.tp, call.pp), catalog=catalog, **arguments)
    note = None
    if call.method == "max_throughput":
        point = cb.max_throughput()
    elif call.method == "at_concurrency":
        point = cb.at_concurrency(call.argument)
    else:  # at_rate; above the predicted maximum the replica serves its maximum (and the row is short of it)
        top = cb.max_throughput()
        if call.argument > top.requests_per_s:
            point, note = top, (f"{call.argument:g} requests/s per replica exceeds the predicted maximum of "
                                f"{top.requests_per_s:.4g}: the maximum throughput is given")
        else:
            point = cb.at_rate(call.argument)
    return cb, point, note


_LOGGED = {"measured_mean_ttft_s": re.compile(r"Mean First Token latency \(ns\) : ([0-9.]+)"),
           "measured_mean_tpot_s": re.compile(r"Mean Time to Output Token \(ns\) : ([0-9.]+)")}


def _logged_means(row: ServingMeasurement) -> dict[str, float]:
    """The mean TTFT and TPOT an MLPerf Server log gives next to its throughput (in the quote), in s."""
    out = {}
    for key, pattern in _LOGGED.items():
        m = pattern.search(row.quote)
        if m:
            out[key] = float(m.group(1)) * 1e-9
    return out


def predict_serving(row: ServingMeasurement, *, batching: Callable[..., Any] | None = None,
                    estimate: Callable[..., Any] | None = None, interval_factors: Callable[[Any], Any] | None = None,
                    catalog: Any = None, variants: bool = True) -> Comparison:
    """Measured vs predicted for a ``serving`` row through :func:`serving_call`. ``batching`` defaults to
    ``roofline.llm.batching.ContinuousBatching``, ``estimate`` to ``roofline.estimate``."""
    base = Comparison(id=row.id, kind=row.kind, device=row.device, runtime=row.runtime,
                      runtime_version=row.runtime_version, metric=row.metric, measured=row.value,
                      status="not predicted")
    call, reason = serving_call(row)
    if call is None:
        base.reason = reason
        return base
    base.call = call.label()
    if interval_factors is None:
        from roofline.predict.engines import interval_factors
    rate = row.metric in _RATES
    try:
        device = catalog.get(row.device) if catalog is not None else _device(row.device)
        factors = interval_factors(device)
        if call.method == "estimate":
            from roofline.llm.parallel import Parallelism

            if estimate is None:
                import roofline

                estimate = roofline.estimate
            e = estimate(row.model, row.device, **estimate_arguments(row), parallelism=Parallelism(call.tp, call.pp),
                         catalog=catalog)
            base.predicted, base.interval, base.coverage = _predicted(row, e, factors)
            base.bound = getattr(e, "bound", None)
        else:
            if batching is None:
                from roofline.llm.batching import ContinuousBatching as batching
            cb, point, note = _serving_point(row, call, batching, catalog)
            base.predicted = _point_value(row, call, point)
            base.interval, base.coverage = _band(base.predicted, rate, factors)
            base.bound = getattr(point, "bound", None)
            base.extra = {"concurrency_per_replica": point.concurrency,
                          "kv_limited_concurrency": cb.kv_limit().max_concurrency,
                          "tpot_s": point.tpot_s, "ttft_s": point.ttft_s}
            if note:
                base.extra["note"] = note
            base.extra.update(_logged_means(row))
            if variants and row.precision.kv is None and row.precision.activations in ("fp8", "fp4"):
                _, vpoint, vnote = _serving_point(row, call, batching, catalog, kv="fp8")
                value = _point_value(row, call, vpoint)
                base.variant = {"kv_dtype": "fp8", "predicted": value, "ratio": value / row.value}
                if vnote:
                    base.variant["note"] = vnote
    except RooflineError as exc:
        base.reason = str(exc).splitlines()[0]
        return base
    except Exception as exc:  # a model that fails to build or trace is reported, never silent
        base.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return base
    if call.upper_bound:
        base.status = "upper bound"
        base.reason = (f"mean input length of the dataset not published: {BOUND_ISL}-token prompts with the "
                       f"published output length ({call.osl}), an upper bound of the throughput")
    else:
        base.status = "predicted"
    return base


def predict_row(row: ServingMeasurement, *, estimate: Callable[..., Any] | None = None,
                interval_factors: Callable[[Any], Any] | None = None, catalog: Any = None,
                batching: Callable[..., Any] | None = None, variants: bool = True) -> Comparison:
    """Measured vs predicted for one row. ``estimate``, ``interval_factors`` and ``batching`` (the serving
    model) default to roofline's."""
    if row.kind == "serving":
        return predict_serving(row, batching=batching, estimate=estimate, interval_factors=interval_factors,
                               catalog=catalog, variants=variants)
    base = Comparison(id=row.id, kind=row.kind, device=row.device, runtime=row.runtime,
                      runtime_version=row.runtime_version, metric=row.metric, measured=row.value,
                      status="not predicted")
    if row.device is None:
        base.reason = "device not in the catalog"
        return base
    if row.model is None:
        base.reason = "no roofline preset for the model"
        return base
    if estimate is None:
        import roofline

        estimate = roofline.estimate
    if interval_factors is None:
        from roofline.predict.engines import interval_factors
    try:
        e = estimate(row.model, row.device, **estimate_arguments(row), catalog=catalog)
    except RooflineError as exc:
        base.reason = str(exc).splitlines()[0]
        return base
    except Exception as exc:  # a model that fails to build or trace is reported, never silent
        base.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return base
    device = catalog.get(row.device) if catalog is not None else _device(row.device)
    base.predicted, base.interval, base.coverage = _predicted(row, e, interval_factors(device))
    base.status, base.bound = "predicted", getattr(e, "bound", None)
    return base


def _device(device_id: str) -> Any:
    from roofline.catalog import load_catalog

    return load_catalog().get(device_id)


def compare(rows: list[ServingMeasurement], **kwargs: Any) -> list[Comparison]:
    if kwargs.get("catalog") is None and kwargs.get("estimate") is None:
        from roofline.catalog import load_catalog

        kwargs["catalog"] = load_catalog()
    return [predict_row(r, **kwargs) for r in rows]


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}" if x < 100 else f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def within(ratio: float, factor: float) -> bool:
    """Whether predicted / measured lies within ``factor`` either way."""
    return max(ratio, 1.0 / ratio) <= factor


def summary(results: list[Comparison]) -> dict[str, Any]:
    """Counts over the predicted rows (``upper bound`` and unpredicted rows are left out)."""
    import statistics

    done = [c for c in results if c.status == "predicted"]
    ratios = [c.ratio for c in done]
    n = len(done)
    banded = [c for c in done if c.interval is not None]
    return {
        "rows": len(results), "predicted": n,
        "upper_bound": sum(c.status == "upper bound" for c in results),
        "not_predicted": sum(c.status == "not predicted" for c in results),
        "within_1_5x": sum(within(r, 1.5) for r in ratios), "within_2x": sum(within(r, 2.0) for r in ratios),
        "share_within_1_5x": (sum(within(r, 1.5) for r in ratios) / n) if n else None,
        "share_within_2x": (sum(within(r, 2.0) for r in ratios) / n) if n else None,
        "median_ratio": statistics.median(ratios) if n else None,
        "with_interval": len(banded),
        "inside_interval": sum(c.interval[0] <= c.measured <= c.interval[1] for c in banded),
    }


def summary_line(s: dict[str, Any]) -> str:
    if not s["predicted"]:
        return f"0 of {s['rows']} rows predicted"
    return (f"{s['predicted']} of {s['rows']} rows predicted: {s['within_1_5x']} within 1.5x "
            f"({s['share_within_1_5x']:.0%}), {s['within_2x']} within 2x ({s['share_within_2x']:.0%}), median "
            f"ratio {s['median_ratio']:.2f}, {s['inside_interval']} of {s['with_interval']} measured values inside "
            f"the interval; {s['upper_bound']} upper bounds and {s['not_predicted']} not predicted, left out")


def _gpus(r: ServingMeasurement, device: str | None) -> str:
    name = device or "not in catalog"
    if r.gpus == 1:
        return name
    layout = f"TP{r.tp}" + (f" PP{r.pp}" if r.pp > 1 else "")
    replicas = r.gpus // (r.tp * r.pp)
    return f"{r.gpus}x {name} ({layout}{f' x {replicas}' if replicas > 1 else ''})"


def _variant(c: Comparison) -> str:
    return f"{c.variant['ratio']:.2f}" if c.variant else ""


def markdown(rows: list[ServingMeasurement], results: list[Comparison]) -> str:
    """The predicted rows as a table with the summary line, then the upper bounds, then the rest by name."""
    by_id = {r.id: r for r in rows}
    out = ["| row | GPUs | runtime, version | model, weights | metric | measured | predicted | ratio | interval | "
           "ratio, KV fp8 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in results:
        if c.status != "predicted":
            continue
        r = by_id[c.id]
        interval = f"{_num(c.interval[0])}–{_num(c.interval[1])}" if c.interval else ""
        out.append(f"| [`{c.id}`]({r.source}) | {_gpus(r, c.device)} | {r.runtime.split(' (')[0]}, {r.runtime_version} | "
                   f"{r.model_name.split(' (')[0]}, {r.precision.published.split(' (')[0]} | {c.metric} | "
                   f"{_num(c.measured)} | {_num(c.predicted)} | {c.ratio:.2f} | {interval} | {_variant(c)} |")
    out += ["", summary_line(summary(results)) + "."]
    bounds = [c for c in results if c.status == "upper bound"]
    if bounds:
        out += ["", "| row | GPUs | runtime, version | metric | measured | upper bound (1-token prompts) | "
                "measured / bound | same, KV fp8 | TPOT: bound (lower) / log mean |",
                "|---|---|---|---|---|---|---|---|---|"]
        for c in bounds:
            r = by_id[c.id]
            kv = f"{1 / c.variant['ratio']:.2f}" if c.variant else ""
            extra = c.extra or {}
            tpot = (f"{extra['tpot_s'] * 1e3:.1f} ms / {extra['measured_mean_tpot_s'] * 1e3:.1f} ms"
                    if "measured_mean_tpot_s" in extra else "")
            out.append(f"| [`{c.id}`]({r.source}) | {_gpus(r, c.device)} | {r.runtime.split(' (')[0]}, {r.runtime_version} | "
                       f"{c.metric} | {_num(c.measured)} | {_num(c.predicted)} | {1 / c.ratio:.2f} | {kv} | "
                       f"{tpot} |")
    rest = [c for c in results if c.status not in ("predicted", "upper bound")]
    if rest:
        out += ["", "| row | GPUs | runtime, version | metric | measured | status |", "|---|---|---|---|---|---|"]
        for c in rest:
            r = by_id[c.id]
            out.append(f"| [`{c.id}`]({r.source}) | {_gpus(r, c.device)} | {r.runtime.split(' (')[0]}, {r.runtime_version} | "
                       f"{c.metric} | {_num(c.measured)} | {c.status}: {c.reason} |")
    return "\n".join(out)


def table(results: list[Comparison]) -> str:
    head = f"{'row':62} {'measured':>10} {'predicted':>10} {'ratio':>6} {'interval':>19} {'KV fp8':>6}  status"
    lines = [head, "-" * len(head)]
    for c in results:
        interval = f"{_num(c.interval[0])}-{_num(c.interval[1])}" if c.interval else ""
        ratio = f"{c.ratio:.2f}" if c.ratio is not None else ""
        status = c.status if c.status == "predicted" else f"{c.status}: {c.reason}"
        lines.append(f"{c.id[:62]:62} {_num(c.measured):>10} {_num(c.predicted):>10} {ratio:>6} "
                     f"{interval:>19} {_variant(c):>6}  {status}")
    lines += ["", summary_line(summary(results))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=None, help="measurement file (default: benchmarks/llm/serving.yaml)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON list of comparisons")
    out.add_argument("--markdown", action="store_true", help="the docs/llm.md table")
    args = parser.parse_args(argv)
    try:
        rows = load_rows(args.file)
        results = compare(rows)
    except RooflineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"summary": summary(results), "rows": [c.to_dict() for c in results]}, indent=1))
    elif args.markdown:
        print(markdown(rows, results))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
