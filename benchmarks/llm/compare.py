"""Published language-model serving measurements against roofline's predictions.

``benchmarks/llm/serving.yaml`` holds one row per published figure (schema :class:`ServingMeasurement`):
MLPerf Inference Llama-2-70B on 8-GPU systems, NVIDIA's TensorRT-LLM throughput tables, SGLang and vLLM
figures, llama.cpp single-stream decode and TensorRT Edge-LLM on Jetson AGX Thor. Each row says how it is
served (``kind``):

- ``single_stream``: one sequence at a time (batch 1); predicted as tokens/s = 1 / TPOT with
  ``roofline.estimate(...)``.
- ``fixed_batch``: B sequences decoded together; predicted as B / TPOT at that batch.
- ``serving``: continuous batching to a load (offline, a request rate, maximum throughput) on one or more
  GPUs with tensor/pipeline parallelism. These need the serving model and are listed as pending.

:func:`predict_row` maps a row to a :class:`Comparison`; supporting the serving model is one more branch
there. Run from the repository root::

    python benchmarks/llm/compare.py              # table: measured, predicted, ratio, interval
    python benchmarks/llm/compare.py --markdown   # the table of docs/llm.md "Published comparisons"
    python benchmarks/llm/compare.py --json
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
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

DATA = Path(__file__).resolve().parent / "serving.yaml"

#: weight formats roofline prices (roofline.llm.precision) and the activation / KV dtypes a row may name
WEIGHT_FORMATS = ("fp16", "bf16", "fp32", "fp8", "int8", "int4", "nvfp4", "mxfp4")
ACTIVATION_DTYPES = ("fp16", "bf16", "fp32", "fp8", "fp4")
KV_DTYPES = ("fp16", "bf16", "fp32", "fp8", "int8")
SERVING_MODEL = "the multi-GPU continuous-batching serving model (roofline.llm.batching, roofline.llm.parallel)"


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
        if not value.startswith("https://"):
            raise ValueError(f"source must be a public https URL, got {value!r}")
        return value

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
    status: str  # "predicted", "pending" (needs the serving model) or "not predicted"
    predicted: float | None = None
    interval: tuple[float, float] | None = None  # the datasheet tier's calibrated band, in the metric's unit
    coverage: float | None = None  # nominal coverage of that band
    bound: str | None = None
    reason: str | None = None

    @property
    def ratio(self) -> float | None:
        """predicted / measured (a rate: < 1 is predicted too slow; a time: > 1 is)."""
        return None if self.predicted is None else self.predicted / self.measured

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


def estimate_arguments(row: ServingMeasurement) -> dict[str, Any]:
    """Keyword arguments of ``roofline.estimate`` for a one-GPU row (single_stream, fixed_batch).

    A row without a published generated length is predicted as the decode step at its prompt's context
    (``generate=2``: one decode step after the prefill token)."""
    p = row.precision
    if p.activations == "fp8":
        dtype, weights = "fp8", (None if p.weights == "fp8" else p.weights)
    elif p.activations == "fp4":  # 4-bit math is not modelled: the 4-bit weights with 16-bit math
        dtype, weights = "fp16", p.weights
    else:
        dtype, weights = p.activations, (None if p.weights == p.activations else p.weights)
    args: dict[str, Any] = dict(batch=row.batch, dtype=dtype, runtime="compiled",
                                prompt=max(row.input_tokens or 0, 1),
                                generate=row.output_tokens if row.output_tokens else 2)
    if weights is not None:
        args["weights"] = weights
    default_kv = "fp16" if dtype == "fp8" else dtype  # roofline's KV default under each dtype
    if p.kv is not None and p.kv != default_kv:
        args["kv_dtype"] = p.kv
    return args


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


def predict_row(row: ServingMeasurement, *, estimate: Callable[..., Any] | None = None,
                interval_factors: Callable[[Any], Any] | None = None, catalog: Any = None) -> Comparison:
    """Measured vs predicted for one row. ``estimate`` and ``interval_factors`` default to roofline's."""
    base = Comparison(id=row.id, kind=row.kind, device=row.device, runtime=row.runtime,
                      runtime_version=row.runtime_version, metric=row.metric, measured=row.value,
                      status="not predicted")
    if row.kind == "serving":
        # The one branch the serving model adds: continuous batching to row.load on row.gpus (TP x PP).
        base.status, base.reason = "pending", f"needs {SERVING_MODEL}"
        return base
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


def markdown(rows: list[ServingMeasurement], results: list[Comparison]) -> str:
    """The predicted rows as a table, then the pending and unpredicted ones by name."""
    by_id = {r.id: r for r in rows}
    out = ["| row | device | runtime, version | model, weights | metric | measured | predicted | ratio | interval |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in results:
        if c.status != "predicted":
            continue
        r = by_id[c.id]
        interval = f"{_num(c.interval[0])}–{_num(c.interval[1])}" if c.interval else ""
        out.append(f"| `{c.id}` | {c.device} | {r.runtime.split(' (')[0]}, {r.runtime_version} | "
                   f"{r.model_name.split(' (')[0]}, {r.precision.published.split(' (')[0]} | {c.metric} | "
                   f"{_num(c.measured)} | {_num(c.predicted)} | {c.ratio:.2f} | {interval} |")
    rest = [c for c in results if c.status != "predicted"]
    if rest:
        out += ["", "| row | GPUs | runtime, version | metric | measured | status |", "|---|---|---|---|---|---|"]
        for c in rest:
            r = by_id[c.id]
            status = "pending" if c.status == "pending" else f"{c.status}: {c.reason}"
            out.append(f"| `{c.id}` | {r.gpus}x {c.device or 'not in catalog'} (TP{r.tp} PP{r.pp}) | "
                       f"{r.runtime.split(' (')[0]}, {r.runtime_version} | {c.metric} | {_num(c.measured)} | "
                       f"{status} |")
        if any(c.status == "pending" for c in rest):
            out += ["", f"pending: needs {SERVING_MODEL}."]
    return "\n".join(out)


def table(results: list[Comparison]) -> str:
    head = f"{'row':62} {'measured':>10} {'predicted':>10} {'ratio':>6} {'interval':>19}  status"
    lines = [head, "-" * len(head)]
    for c in results:
        interval = f"{_num(c.interval[0])}-{_num(c.interval[1])}" if c.interval else ""
        ratio = f"{c.ratio:.2f}" if c.ratio is not None else ""
        status = c.status if c.status == "predicted" else f"{c.status}: {c.reason}"
        lines.append(f"{c.id[:62]:62} {_num(c.measured):>10} {_num(c.predicted):>10} {ratio:>6} "
                     f"{interval:>19}  {status}")
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
        print(json.dumps([c.to_dict() for c in results], indent=1))
    elif args.markdown:
        print(markdown(rows, results))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
