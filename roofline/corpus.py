"""The public validation corpus: published end-to-end measurements on hardware nobody here owns, and
measured vs predicted for each of them.

A row (``benchmarks/corpus/*.yaml``, schema :class:`CorpusRow`) is one published figure: device, model,
input, batch, dtype, runtime and its version, the value with its metric, the public source, the words of
the source that hold the number and what is uncertain about it. :func:`evaluate` predicts every row with
the current execution model; :func:`summarise` gives, per device class, the share within 1.5x and 2x,
the median absolute error and the Spearman rank correlation of devices per model (docs/accuracy.md).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roofline.errors import RooflineError

CORPUS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "corpus"
DEVICE_CLASSES = ("cpu", "gpu", "edge-gpu", "edge-cpu", "npu")


class CorpusError(RooflineError):
    """A corpus file that does not load or a row that breaks the schema."""


class ServingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: int = Field(ge=0)
    generate: int = Field(ge=0)



def public_url(value: str) -> str:
    """A measurement's source: a public https URL (one-line error otherwise)."""
    if not value.startswith("https://"):
        raise ValueError(f"source must be a public https URL, got {value!r}")
    return value

class CorpusRow(BaseModel):
    """One published measurement."""

    model_config = ConfigDict(extra="forbid")

    id: str
    device: str  # a catalog id
    model: str  # a roofline model spec
    task: Literal["forward", "prefill", "decode"]
    input: Union[list[int], ServingInput]
    batch: int = Field(ge=1)
    dtype: str
    runtime: Literal["eager", "compiled"]
    runtime_name: str
    threads: Optional[int] = None
    power_mode: Optional[str] = None
    metric: Literal["latency_s", "throughput_per_s", "tokens_per_s"]
    value: float = Field(gt=0)
    source: str
    retrieved: _dt.date
    quote: str = Field(min_length=1)
    uncertain: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return public_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> "CorpusRow":
        if self.task == "forward":
            if not isinstance(self.input, list) or not self.input or any(d < 1 for d in self.input):
                raise ValueError("a forward row's input is a shape with positive dimensions")
            if self.input[0] != self.batch:
                raise ValueError(f"input {self.input} does not start with the batch {self.batch}")
            if self.metric == "tokens_per_s":
                raise ValueError("a forward row measures latency_s or throughput_per_s")
        else:
            if not isinstance(self.input, ServingInput):
                raise ValueError("a prefill or decode row's input is {prompt: N, generate: M}")
            if self.task == "prefill" and self.input.prompt < 1:
                raise ValueError("a prefill row needs a prompt")
            if self.task == "decode" and self.input.generate < 1:
                raise ValueError("a decode row needs generated tokens")
        return self


def load_corpus(path: str | Path | None = None) -> list[CorpusRow]:
    """Every row of the corpus files in ``path`` (a folder of YAML files or one file); ids must be unique."""
    root = Path(path) if path is not None else CORPUS_DIR
    files = sorted(root.glob("*.yaml")) if root.is_dir() else [root]
    if not files or not all(f.exists() for f in files):
        raise CorpusError(f"{root}: no corpus files (*.yaml)")
    rows: list[CorpusRow] = []
    seen: set[str] = set()
    for f in files:
        try:
            data = yaml.safe_load(f.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise CorpusError(f"{f}{where}: not valid YAML") from None
        if not isinstance(data, list):
            raise CorpusError(f"{f}: a corpus file is a list of rows")
        for i, item in enumerate(data):
            try:
                row = CorpusRow.model_validate(item)
            except Exception as exc:  # pydantic's message, first line: which field and why
                first = str(exc).splitlines()
                detail = "; ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(exc)
                raise CorpusError(f"{f}: row {i + 1} ({item.get('id') if isinstance(item, dict) else '?'}): "
                                  f"{detail}") from None
            if row.id in seen:
                raise CorpusError(f"{f}: row {i + 1}: duplicate id {row.id!r}")
            seen.add(row.id)
            rows.append(row)
    return rows


def device_class(device: Any) -> str:
    """cpu, gpu, edge-gpu (Jetson-class boards), edge-cpu (Raspberry Pi-class boards) or npu."""
    from roofline.predict.engines import device_class as of

    return of(device)


@dataclass
class RowResult:
    id: str
    device: str
    device_class: str | None
    model: str
    task: str
    batch: int
    dtype: str
    runtime: str
    metric: str
    measured: float
    predicted: float | None
    status: str  # "ok", or why the row was not predicted
    detail: str | None = None
    tier: str | None = None

    @property
    def ratio(self) -> float | None:
        """predicted / measured, in the metric's own direction (time: >1 is too slow)."""
        if self.predicted is None:
            return None
        return self.predicted / self.measured

    @property
    def error(self) -> float | None:
        """Relative error of the predicted time (for a rate: of its inverse): predicted / measured - 1."""
        r = self.ratio
        if r is None:
            return None
        return r - 1 if self.metric == "latency_s" else 1 / r - 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["error"] = self.error
        return out


def _serving_request(row: CorpusRow) -> dict[str, Any]:
    """Request lengths for a serving row: a decode row from an empty prompt starts at one token; a
    prefill row generates the one token its time to first token ends with."""
    i = row.input
    return {"prompt": max(i.prompt, 1), "generate": max(i.generate, 1) if row.task == "decode" else 1}


def end_to_end(row: CorpusRow) -> bool:
    """A decode row whose figure is a latency measures the whole request (prefill and every generated token;
    the corpus words it so), not one decode step."""
    return row.task == "decode" and row.metric == "latency_s"


def _dtype_options(row: CorpusRow) -> tuple[str | None, dict[str, Any]]:
    """(counting or activation dtype, serving weight format) of a row."""
    if row.task == "forward":
        return row.dtype, {}
    if row.dtype in ("int4", "int8"):
        return "fp16", {"weights": row.dtype}
    return row.dtype, {}


class Predictor:
    """Builds each model once and predicts rows with the execution model in force."""

    def __init__(self, catalog: Any = None, *, tier: str | None = "datasheet", execution: Any = None):
        from roofline.catalog import load_catalog

        self.catalog = catalog if catalog is not None else load_catalog()
        self.tier = tier
        self.execution = execution  # an alternative datasheet execution model (roofline.predict.engines)
        self._sources: dict[tuple, Any] = {}
        self._scenarios: dict[tuple, Any] = {}

    def scenario(self, row: CorpusRow):
        from roofline.resolve import ModelOptions, ScenarioSource

        dtype, extra = _dtype_options(row)
        if row.task == "forward":
            shape = tuple(row.input)
            key = (row.model, shape, dtype)
            if key not in self._scenarios:
                src_key = (row.model, shape[1:])
                if src_key not in self._sources:
                    self._sources[src_key] = ScenarioSource(row.model, ModelOptions(input_shape=shape))
                self._scenarios[key] = self._sources[src_key].scenario(row.batch, dtype)
            return self._scenarios[key]
        request = _serving_request(row)
        key = (row.model, row.batch, dtype, tuple(sorted(extra.items())), request["prompt"], request["generate"])
        if key not in self._scenarios:
            options = ModelOptions(prompt=request["prompt"], generate=request["generate"], **extra)
            self._scenarios[key] = ScenarioSource(row.model, options).scenario(row.batch, dtype)
        return self._scenarios[key]

    def predict(self, row: CorpusRow) -> RowResult:
        from roofline.estimation import estimate_scenario

        base = dict(id=row.id, device=row.device, model=row.model, task=row.task, batch=row.batch, dtype=row.dtype,
                    runtime=row.runtime, metric=row.metric, measured=row.value)
        try:
            device = self.catalog.get(row.device)
        except RooflineError:
            return RowResult(**base, device_class=None, predicted=None, status="no device",
                             detail=f"{row.device} is not in the catalog")
        cls = device_class(device)
        try:
            scenario = self.scenario(row)
            e = estimate_scenario(scenario, device, runtime=row.runtime, tier=self.tier, execution=self.execution)
        except RooflineError as exc:
            return RowResult(**base, device_class=cls, predicted=None, status="not predicted", detail=str(exc))
        except Exception as exc:  # a model that fails to build or trace is reported, never silent
            return RowResult(**base, device_class=cls, predicted=None, status="not predicted",
                             detail=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if row.metric == "latency_s":
            value = e.latency_s if row.task == "forward" or end_to_end(row) else e.metrics.get("ttft_s") \
                if row.task == "prefill" else e.metrics.get("tpot_s")
        elif row.metric == "throughput_per_s":
            value = e.throughput_per_s
        elif row.task == "decode":
            value = e.metrics["tokens_per_s"]
        else:
            value = row.batch * _serving_request(row)["prompt"] / e.metrics["ttft_s"]
        return RowResult(**base, device_class=cls, predicted=value, status="ok", tier=e.tier)


def evaluate(rows: Iterable[CorpusRow], catalog: Any = None, *, tier: str | None = "datasheet",
             execution: Any = None, progress: Any = None) -> list[RowResult]:
    predictor = Predictor(catalog, tier=tier, execution=execution)
    rows = list(rows)
    out = []
    for i, row in enumerate(rows):
        out.append(predictor.predict(row))
        if progress is not None:
            progress(i + 1, len(rows))
    return out


def _spearman(x: list[float], y: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


@dataclass
class ClassSummary:
    device_class: str
    rows: int
    predicted: int
    within_1_5x: float | None
    within_2x: float | None
    median_abs_error: float | None
    spearman_devices_per_model: float | None  # mean over models measured on 3 or more devices
    models_ranked: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(results: list[RowResult], *, by: str = "device_class") -> list[ClassSummary]:
    """Per device class (or runtime, with ``by="runtime"``), then 'all'."""
    groups: dict[str, list[RowResult]] = {}
    for r in results:
        key = getattr(r, by) or "not in catalog"
        groups.setdefault(key, []).append(r)
    groups["all"] = list(results)
    out = []
    for key, rs in groups.items():
        ok = [r for r in rs if r.predicted is not None]
        fold = [max(r.ratio, 1 / r.ratio) for r in ok]
        errors = sorted(abs(r.error) for r in ok)
        by_model: dict[tuple, list[RowResult]] = {}
        for r in ok:
            by_model.setdefault((r.model, r.task, r.batch, r.dtype, r.runtime, r.metric), []).append(r)
        rhos = []
        for group in by_model.values():
            per_device = {r.device: r for r in group}
            if len(per_device) >= 3:
                sign = 1 if group[0].metric == "latency_s" else -1  # rank by speed either way
                rho = _spearman([sign * r.measured for r in per_device.values()],
                                [sign * r.predicted for r in per_device.values()])
                if rho is not None:
                    rhos.append(rho)
        out.append(ClassSummary(
            key, len(rs), len(ok),
            sum(f <= 1.5 for f in fold) / len(fold) if fold else None,
            sum(f <= 2.0 for f in fold) / len(fold) if fold else None,
            errors[len(errors) // 2] if errors else None,
            sum(rhos) / len(rhos) if rhos else None, len(rhos)))
    return out



__all__ = ["CorpusRow", "public_url", "load_corpus", "end_to_end", "evaluate", "summarise", "RowResult", "ClassSummary", "Predictor",
           "device_class", "CorpusError", "CORPUS_DIR", "DEVICE_CLASSES"]
