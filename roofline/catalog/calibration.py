"""The calibration record: what ``roofline calibrate`` writes into a device file and the predictor reads.

One typed record per runtime (``calibration: {eager: ...}``), validated like every other catalog
field. The op classes and probe families are enums shared by the microbenchmark suite
(roofline.calibration.probes), the fit (roofline.calibration.fit) and the predictor
(roofline.predict.efficiency), so a name can never be spelled two ways. A record in an older
format is refused with one line: "run roofline calibrate again".
"""
from __future__ import annotations

import datetime as _dt
import enum
import functools
import warnings
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA = "roofline.calibration/2"


class CalibrationClass(str, enum.Enum):
    """Op classes the suite measures and fits (time = max(F / P, B / (f x BW)) + t0 per class and dtype)."""

    MATMUL = "matmul"
    CONV = "conv"
    DEPTHWISE_CONV = "depthwise_conv"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    SOFTMAX = "softmax"
    NORMALIZATION = "normalization"
    DATA_MOVEMENT = "data_movement"  # cat, copies of strided views, pad, upsample, gathers

    def __str__(self) -> str:
        return self.value


class ProbeFamily(str, enum.Enum):
    """Probe families: one kernel each, finer than its class. The predictor maps traced ops to the
    families in PREDICTED_FAMILIES (convolutions, activations, norms, data movement, pooling and the
    skinny GEMMs); the square GEMMs are fitted and recorded, and large matmuls take the class's fit."""

    CONV1X1 = "conv1x1"
    CONV1X1_S2 = "conv1x1_s2"
    CONV3X3 = "conv3x3"
    CONV3X3_S2 = "conv3x3_s2"
    CONV_STEM = "conv_stem"
    DWCONV3X3 = "dwconv3x3"
    DWCONV3X3_S2 = "dwconv3x3_s2"
    DWCONV5X5 = "dwconv5x5"
    DWCONV5X5_S2 = "dwconv5x5_s2"
    RELU = "relu"
    SIGMOID = "sigmoid"
    SILU = "silu"
    HARDSWISH = "hardswish"
    GELU = "gelu"
    BATCH_NORM = "batch_norm"
    LAYER_NORM = "layer_norm"
    SOFTMAX = "softmax"
    SUM = "sum"
    MEAN = "mean"
    GEMM_M1 = "gemm_m1"
    GEMM_M8 = "gemm_m8"
    GEMM_M64 = "gemm_m64"
    GEMM_SQUARE = "gemm_square"
    GCONV3X3 = "gconv3x3"  # grouped, 2..64 groups
    GCONV3X3_S2 = "gconv3x3_s2"
    DWCONV7X7 = "dwconv7x7"
    LAYER_NORM_CL = "layer_norm_cl"  # over the channels of a channels-last view (ConvNeXt)
    CAT = "cat"
    CLONE = "clone"  # .contiguous() of a permuted, transposed or sliced view
    CHANNEL_SHUFFLE = "channel_shuffle"
    PAD = "pad"
    UPSAMPLE_NEAREST = "upsample_nearest"
    UPSAMPLE_BILINEAR = "upsample_bilinear"
    EMBEDDING = "embedding"
    INDEX_SELECT = "index_select"
    GATHER = "gather"
    MAX_POOL = "max_pool"
    AVG_POOL = "avg_pool"

    def __str__(self) -> str:
        return self.value


# the families the predictor maps traced ops to, in the order of its family index
PREDICTED_FAMILIES: tuple[ProbeFamily, ...] = (
    ProbeFamily.CONV1X1, ProbeFamily.CONV1X1_S2, ProbeFamily.CONV3X3, ProbeFamily.CONV3X3_S2, ProbeFamily.DWCONV3X3,
    ProbeFamily.DWCONV3X3_S2, ProbeFamily.DWCONV5X5, ProbeFamily.DWCONV5X5_S2, ProbeFamily.RELU, ProbeFamily.SIGMOID,
    ProbeFamily.SILU, ProbeFamily.HARDSWISH, ProbeFamily.GELU, ProbeFamily.BATCH_NORM, ProbeFamily.LAYER_NORM,
    ProbeFamily.SOFTMAX, ProbeFamily.GCONV3X3, ProbeFamily.GCONV3X3_S2, ProbeFamily.DWCONV7X7,
    ProbeFamily.LAYER_NORM_CL, ProbeFamily.CAT, ProbeFamily.CLONE, ProbeFamily.CHANNEL_SHUFFLE, ProbeFamily.PAD,
    ProbeFamily.UPSAMPLE_NEAREST, ProbeFamily.UPSAMPLE_BILINEAR, ProbeFamily.EMBEDDING, ProbeFamily.INDEX_SELECT,
    ProbeFamily.GATHER, ProbeFamily.MAX_POOL, ProbeFamily.AVG_POOL, ProbeFamily.GEMM_M1, ProbeFamily.GEMM_M8,
    ProbeFamily.GEMM_M64)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClassFitRecord(_Record):
    """The fit of one op class or probe family at one dtype (SI units)."""

    op_class: CalibrationClass
    dtype: str
    family: Optional[ProbeFamily] = None
    peak_flops_per_s: Optional[float] = None  # None: no compute-bound case
    half_saturation_flops: Optional[float] = None
    overhead_s: float
    bandwidth_fraction: Optional[float] = None  # of the level's bandwidth; None when no level was measured
    effective_bandwidth_bytes_per_s: Optional[float] = None  # absolute, when no level was measured
    bandwidth_fraction_by_level: dict[str, float] = Field(default_factory=dict)
    residual_rel_rms: float = 0.0
    residual_rel_max: float = 0.0
    n_points: int = 0
    n_compute_bound: int = 0
    n_memory_bound: int = 0
    n_noisy: int = 0
    poor: bool = False
    note: str = ""


class MemoryLevelRecord(_Record):
    name: str
    max_working_set_bytes: Optional[float] = None  # None for main memory
    bandwidth_bytes_per_s: Optional[float] = None  # None when the level could not be measured
    raw_bandwidth_bytes_per_s: Optional[float] = None
    n_points: int = 0
    spread: float = 0.0
    per_kernel_bytes_per_s: dict[str, float] = Field(default_factory=dict)
    poor: bool = False
    note: str = ""


class HostRecord(BaseModel):
    """Facts of the host the record was measured on (calibration.host.HostInfo)."""

    model_config = ConfigDict(extra="allow")

    cpu_model: str
    logical_cpus: int
    threads: int
    torch_version: str
    python_version: str = ""
    os: str = ""
    date_utc: str
    device: str = "cpu"
    device_name: str = ""


class PowerRecord(BaseModel):
    """Measured power: idle, under a GEMM (compute) and under a STREAM triad (memory), or why not."""

    model_config = ConfigDict(extra="allow")

    method: str
    reason: Optional[str] = None
    idle_w: Optional[float] = None
    load_w: Optional[float] = None
    compute_w: Optional[float] = None
    memory_w: Optional[float] = None

    @property
    def measured(self) -> bool:
        return self.idle_w is not None and self.load_w is not None


class SequenceRecord(BaseModel):
    """The in-sequence correction (calibration.sequences): op times x a factor for dense and other ops."""

    model_config = ConfigDict(extra="allow")

    dense_scale: float
    other_scale: float
    applies_to: str = "op-time"
    residual_rel_rms: float = 0.0
    points: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _split_key(key: str, names: type[enum.Enum], what: str) -> tuple[str, str]:
    name, sep, dtype = key.partition("/")
    if not sep or not dtype:
        raise ValueError(f"{what} key {key!r} is not '<name>/<dtype>'")
    try:
        names(name)
    except ValueError:
        raise ValueError(f"unknown {what} {name!r} in {key!r}: known {', '.join(m.value for m in names)}") from None
    return name, dtype


class CalibrationRecord(_Record):
    """Everything one calibration of one runtime measured and fitted (plain SI numbers)."""

    schema_: str = Field(alias="schema")
    roofline_version: str
    device: str  # the torch device measured ("cpu", "cuda")
    threads: int
    plan: str  # "quick" or "full"
    host: HostRecord
    suite_elapsed_s: float = 0.0
    n_measurements: int = 0
    n_noisy: int = 0
    overhead_s: Optional[float] = None
    overhead_min_s: Optional[float] = None
    overhead_max_s: Optional[float] = None
    overhead_by_probe_s: dict[str, float] = Field(default_factory=dict)
    view_overhead_s: Optional[float] = None  # one view op; None: not measured (older suites)
    module_call_s: Optional[float] = None  # one nn.Module call in an eager network
    memory_levels: list[MemoryLevelRecord] = Field(default_factory=list)
    op_classes: dict[str, ClassFitRecord] = Field(default_factory=dict)  # "matmul/fp32": fit
    families: dict[str, ClassFitRecord] = Field(default_factory=dict)  # "conv3x3/fp32": fit
    dtypes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    power: Optional[PowerRecord] = None
    sequence: Optional[SequenceRecord] = None

    @model_validator(mode="before")
    @classmethod
    def _current_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema") != SCHEMA:
            raise ValueError(f"written by an older roofline (format {data.get('schema')!r}, this version reads "
                             f"{SCHEMA!r}); run `roofline calibrate` again")
        return data

    @field_validator("op_classes")
    @classmethod
    def _class_keys(cls, value: dict[str, ClassFitRecord]) -> dict[str, ClassFitRecord]:
        for key in value:
            _split_key(key, CalibrationClass, "op class")
        return value

    @field_validator("families")
    @classmethod
    def _family_keys(cls, value: dict[str, ClassFitRecord]) -> dict[str, ClassFitRecord]:
        for key in value:
            _split_key(key, ProbeFamily, "probe family")
        return value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


class CalibrationWarning(UserWarning):
    """A calibration record used outside the conditions it was measured in (another torch version)."""


def record_key(runtime: str, threads: int | None = None) -> str:
    """Where a record sits in a device's ``calibration`` block: ``eager`` (the default record), or
    ``eager@2`` for a further record measured at 2 threads."""
    return runtime if threads is None else f"{runtime}@{threads}"


def select_record(calibration: dict[str, "CalibrationRecord"] | None, runtime: str,
                  threads: int | None) -> tuple[Optional["CalibrationRecord"], Optional[str]]:
    """The record to predict ``runtime`` at ``threads`` with, and a one-line note when it was measured
    at another thread count.

    The rule: a record measured at exactly ``threads`` wins (``eager@N``, or ``eager`` when its
    ``threads`` is N); otherwise the default ``eager`` record is used and the note says so.
    ``threads`` None means "the thread count of the default record".
    """
    cal = calibration or {}
    default = cal.get(runtime)
    if threads is None:
        return default, None
    for key in (record_key(runtime, threads), runtime):
        record = cal.get(key)
        if record is not None and record.threads == threads:
            return record, None
    if default is None:
        return None, None
    others = sorted(r.threads for k, r in cal.items() if k.partition("@")[0] == runtime)
    return default, (f"calibrated at {', '.join(map(str, others))} thread(s), run at {threads}: the prediction uses "
                     f"the {default.threads}-thread figures (calibrate with --threads {threads} --merge for a record "
                     "at this count)")


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


@functools.lru_cache(maxsize=1)
def installed_torch_version() -> str | None:
    """torch's version without importing torch (a catalog read must stay cheap)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


_WARNED: set[tuple[str, str, str]] = set()  # (device, recorded minor, installed minor) already warned


def warn_if_other_torch(device_id: str, record: "CalibrationRecord", installed: str | None = None) -> str | None:
    """Warn once per device and version pair when ``record`` was measured with another torch minor
    version than the one installed (kernels, thread pools and dispatch costs change between them).
    Returns the message (also when already warned), None when the versions agree."""
    installed = installed if installed is not None else installed_torch_version()
    recorded = record.host.torch_version
    if not installed or not recorded or _minor(installed) == _minor(recorded):
        return None
    message = (f"{device_id}: calibrated with torch {recorded}, running torch {installed}: the measured figures may "
               "no longer hold (run roofline calibrate again)")
    key = (device_id, ".".join(_minor(recorded)), ".".join(_minor(installed)))
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, CalibrationWarning, stacklevel=3)
    return message


def record_age_days(record: "CalibrationRecord", now: _dt.datetime | None = None) -> float | None:
    """Days since the record's measurement (its host's UTC date), None when the date is unreadable."""
    try:
        when = _dt.datetime.fromisoformat(record.host.date_utc)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (now - when).total_seconds() / 86400)


def describe_record(key: str, record: "CalibrationRecord", now: _dt.datetime | None = None) -> str:
    """One line: where and with what a record was measured, and how long ago."""
    age = record_age_days(record, now)
    age_text = "age unknown" if age is None else (f"{age:.0f} days old" if age >= 1 else "measured today")
    return (f"{key}: {record.plan} plan on {record.host.cpu_model} ({record.host.logical_cpus} CPUs), "
            f"{record.threads} thread(s), torch {record.host.torch_version}, roofline {record.roofline_version}, "
            f"{record.host.date_utc[:10]} ({age_text})")


__all__ = ["SCHEMA", "CalibrationWarning", "record_key", "select_record", "warn_if_other_torch", "record_age_days",
           "describe_record", "installed_torch_version", "CalibrationClass", "ProbeFamily", "PREDICTED_FAMILIES", "CalibrationRecord", "ClassFitRecord",
           "MemoryLevelRecord", "HostRecord", "PowerRecord", "SequenceRecord"]
