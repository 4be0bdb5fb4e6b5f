"""The device model: one :class:`DeviceSpec` per YAML file (format in docs/catalog.md).

YAML keys are short and carry human units (``capacity: 80 GB``); the Python attributes are SI
floats with the unit in their name (``memory.capacity_bytes``). Pydantic aliases map one to the
other. When a device is read from a file (``DeviceSpec.from_yaml_dict``, or ``model_validate``
with ``context={"yaml": True}``) a bare number in a unit field is an error; Python callers may
pass SI floats directly (``Memory(capacity_bytes=80e9)``) or unit strings.
"""
from __future__ import annotations

import datetime as _dt
import difflib
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Iterator, Literal, Optional

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from roofline.errors import CatalogError, UnitError

from .calibration import CalibrationRecord
from .units import format_quantity, parse_quantity

__all__ = [
    "DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "COMMON_DTYPES",
    "KINDS",
    "DeviceSpec",
    "CLOCK_BASES",
    "DEFAULT_CLOCK_BASIS",
    "Clocks",
    "ClockedPeaks",
    "PeakAtClock",
    "SystemMemory",
    "DEFAULT_HOST_MEMORY_BYTES",
    "assumed_system_memory",
    "Compute",
    "DtypePeaks",
    "Memory",
    "Cache",
    "HostLink",
    "GpuLink",
    "SystemSpec",
    "DEVICE_KINDS",
    "Power",
    "Price",
    "CloudPrice",
    "Source",
    "Published",
    "PublishedGemm",
    "PublishedBandwidth",
    "normalize_dtype",
]

FLOAT_DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp4")
INT_DTYPES: tuple[str, ...] = ("int8", "int4")
DTYPES: tuple[str, ...] = FLOAT_DTYPES + INT_DTYPES
COMMON_DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
KINDS: tuple[str, ...] = ("cpu", "gpu", "sbc", "accelerator", "system")
DEVICE_KINDS: tuple[str, ...] = ("cpu", "gpu", "sbc", "accelerator")  # single devices (not systems)

# spellings accepted by peak_flops_per_s() besides the catalog's own dtype keys
_DTYPE_ALIASES = {
    "float64": "fp64", "double": "fp64", "f64": "fp64",
    "float32": "fp32", "float": "fp32", "f32": "fp32",
    "tensorfloat32": "tf32",
    "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bfloat16": "bf16",
    "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "float8_e4m3fnuz": "fp8", "float8_e5m2fnuz": "fp8",
    "float4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4", "float4_e2m1fn_x2": "fp4",
    "qint8": "int8", "uint8": "int8", "quint8": "int8", "i8": "int8",
    "quint4x2": "int4", "i4": "int4",
}

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_YEAR_MIN, _YEAR_MAX = 1970, 2100


def normalize_dtype(dtype: object) -> str:
    """'bf16', 'bfloat16', 'torch.bfloat16' (or the torch dtype itself) -> 'bf16'."""
    text = str(dtype).strip().lower()
    if text.startswith("torch."):
        text = text[len("torch."):]
    text = _DTYPE_ALIASES.get(text, text)
    if text not in DTYPES:
        close = difflib.get_close_matches(text, list(DTYPES) + list(_DTYPE_ALIASES), n=1, cutoff=0.5)
        hint = f" (did you mean '{_DTYPE_ALIASES.get(close[0], close[0])}'?)" if close else ""
        raise CatalogError(f"unknown dtype '{dtype}'{hint}; known: {', '.join(DTYPES)}")
    return text


# ---------------------------------------------------------------------------------------------
# field types


class _Unit:
    """Annotated marker: the quantity kind of a unit field (used by to_yaml_dict)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"_Unit({self.kind!r})"


def _from_yaml(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("yaml"))


def _quantity(kind: str):
    def validate(value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not _from_yaml(info):
            if not math.isfinite(value) or value <= 0:
                raise PydanticCustomError("unit", f"must be a positive finite number, got {value!r}")
            return float(value)
        try:
            return parse_quantity(value, kind)
        except UnitError as exc:
            raise PydanticCustomError("unit", str(exc)) from None

    return validate


def _Q(kind: str) -> Any:
    return Annotated[Optional[float], BeforeValidator(_quantity(kind)), _Unit(kind)]


FlopRate = _Q("flops")
Bandwidth = _Q("bandwidth")
ByteSize = _Q("bytes")
Power_ = _Q("power")
Frequency = _Q("frequency")


def _usd(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("usd", f"expected a plain number of US dollars (e.g. 1599), got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise PydanticCustomError("usd", f"must be positive, got {value!r}")
    return float(value)


Usd = Annotated[Optional[float], BeforeValidator(_usd)]


def _positive_number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", f"expected a plain number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise PydanticCustomError("number", f"must be positive, got {value!r}")
    return float(value)


PositiveFloat = Annotated[Optional[float], BeforeValidator(_positive_number)]
PositiveInt = Annotated[Optional[int], Field(strict=True, gt=0)]
Year = Annotated[Optional[int], Field(strict=True, ge=_YEAR_MIN, le=_YEAR_MAX)]


def _check_kind(value: Any) -> Any:
    if isinstance(value, str) and value not in KINDS:
        close = difflib.get_close_matches(value.lower(), KINDS, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PydanticCustomError("kind", f"unknown kind {value!r}{hint}: expected one of {', '.join(KINDS)}")
    return value


Kind = Annotated[Literal["cpu", "gpu", "sbc", "accelerator", "system"], BeforeValidator(_check_kind)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)

    def _is_empty(self) -> bool:
        return all(getattr(self, n) == f.get_default(call_default_factory=True) for n, f in type(self).model_fields.items())


# ---------------------------------------------------------------------------------------------
# sub-models


CLOCK_BASES: tuple[str, ...] = ("base", "all_core_boost")
DEFAULT_CLOCK_BASIS = "base"


class Clocks(_Model):
    """Clock frequencies. ``boost`` is the maximum (single- or few-core) boost; ``all_core_boost``
    the vendor's all-core turbo/boost; the ``avx512_*`` and ``amx_*`` clocks are the separately
    specified frequencies of heavy AVX-512 and AMX code where a vendor publishes them."""

    base_hz: Frequency = Field(None, alias="base")
    boost_hz: Frequency = Field(None, alias="boost")
    all_core_boost_hz: Frequency = Field(None, alias="all_core_boost")
    avx512_base_hz: Frequency = Field(None, alias="avx512_base")
    avx512_all_core_boost_hz: Frequency = Field(None, alias="avx512_all_core_boost")
    amx_base_hz: Frequency = Field(None, alias="amx_base")
    amx_all_core_boost_hz: Frequency = Field(None, alias="amx_all_core_boost")


class ClockedPeaks(_Model):
    """Peaks of one dtype at a clock other than the one of the entry's main figures."""

    vector_flops_per_s: FlopRate = Field(None, alias="vector")
    matrix_flops_per_s: FlopRate = Field(None, alias="matrix")
    note: Optional[str] = None

    def best_flops_per_s(self, units: str = "best") -> float | None:
        if units == "matrix":
            return self.matrix_flops_per_s
        if units == "vector":
            return self.vector_flops_per_s
        values = [v for v in (self.matrix_flops_per_s, self.vector_flops_per_s) if v is not None]
        return max(values) if values else None


# Assumed memory of a CPU system when neither the device file nor the caller says how much is
# installed: a documented assumption, not a device figure (docs/catalog.md, "Platform memory").
DEFAULT_HOST_MEMORY_BYTES = 64 * 2**30


@dataclass(frozen=True)
class SystemMemory:
    """Memory available to a model: ``bytes`` (None: unknown), ``basis`` ("device" for the
    memory of a GPU/board/accelerator, "catalog" for a CPU file's installed memory,
    "host-memory" for the caller's figure, "default" for DEFAULT_HOST_MEMORY_BYTES) and a note
    to print next to any ranking that relies on it."""

    bytes: float | None
    basis: str
    note: str | None


@dataclass(frozen=True)
class PeakAtClock:
    """A dense peak and the clock basis it was taken at (what a prediction states).

    ``clock_basis``: "base" or "all_core_boost" for CPUs; "rated" for GPUs and accelerators,
    whose vendors publish one figure at their rated boost clock. ``fallback`` is true when the
    requested basis has no published figure and the base-clock figure is returned instead.
    """

    flops_per_s: float | None
    clock_basis: str
    requested_basis: str
    fallback: bool = False

    def describe(self) -> str:
        text = {"base": "base clock", "all_core_boost": "all-core boost clock",
                "rated": "the vendor's rated clock"}[self.clock_basis]
        if self.fallback:
            text += f" (no {self.requested_basis.replace('_', '-')} figure published)"
        return text


class DtypePeaks(_Model):
    """Peak rates of one dtype, in FLOP/s (or OP/s for integer dtypes)."""

    vector_flops_per_s: FlopRate = Field(None, alias="vector")
    matrix_flops_per_s: FlopRate = Field(None, alias="matrix")
    matrix_sparse_flops_per_s: FlopRate = Field(None, alias="matrix_sparse")
    accumulate: Optional[str] = None
    all_core_boost: Optional[ClockedPeaks] = None
    note: Optional[str] = None

    @field_validator("matrix_sparse_flops_per_s")
    @classmethod
    def _dense_not_above_sparse(cls, sparse: float | None, info: ValidationInfo) -> float | None:
        dense = info.data.get("matrix_flops_per_s")
        if sparse is not None and dense is not None and dense > sparse:
            raise PydanticCustomError(
                "dense_above_sparse",
                f"dense matrix peak {format_quantity(dense, 'flops')} is larger than the sparse peak "
                f"{format_quantity(sparse, 'flops')}: the 'with sparsity' figure goes in matrix_sparse, "
                "the dense one in matrix",
            )
        return sparse

    @model_validator(mode="after")
    def _all_core_not_below_base(self) -> "DtypePeaks":
        other = self.all_core_boost
        if other is not None:
            for unit in ("vector", "matrix"):
                base, boosted = getattr(self, f"{unit}_flops_per_s"), getattr(other, f"{unit}_flops_per_s")
                if base is not None and boosted is not None and boosted < base:
                    raise PydanticCustomError(
                        "all_core_below_base",
                        f"all_core_boost.{unit} {format_quantity(boosted, 'flops')} is below the base-clock "
                        f"{unit} peak {format_quantity(base, 'flops')}: the main figures are at base clock",
                    )
        return self

    def best_flops_per_s(self, units: str = "best") -> float | None:
        if units == "matrix":
            return self.matrix_flops_per_s
        if units == "vector":
            return self.vector_flops_per_s
        if units == "best":
            values = [v for v in (self.matrix_flops_per_s, self.vector_flops_per_s) if v is not None]
            return max(values) if values else None
        raise CatalogError(f"unknown units {units!r}: expected 'matrix', 'vector' or 'best'")


class Compute(_Model):
    fp64: Optional[DtypePeaks] = None
    fp32: Optional[DtypePeaks] = None
    tf32: Optional[DtypePeaks] = None
    fp16: Optional[DtypePeaks] = None
    bf16: Optional[DtypePeaks] = None
    fp8: Optional[DtypePeaks] = None
    fp4: Optional[DtypePeaks] = None  # FP4 tensor cores (NVFP4 / MXFP4 operands): Blackwell, MI355X
    int8: Optional[DtypePeaks] = None
    int4: Optional[DtypePeaks] = None

    def items(self) -> Iterator[tuple[str, DtypePeaks]]:
        """(dtype, peaks) for the dtypes present, in catalog order."""
        for dtype in DTYPES:
            peaks = getattr(self, dtype)
            if peaks is not None:
                yield dtype, peaks


class Cache(_Model):
    level: str
    size_bytes: ByteSize = Field(None, alias="size")
    instances: PositiveInt = None
    bandwidth_bytes_per_s: Bandwidth = Field(None, alias="bandwidth")
    note: Optional[str] = None

    @property
    def total_bytes(self) -> float | None:
        """Size over all instances."""
        if self.size_bytes is None:
            return None
        return self.size_bytes * (self.instances or 1)


class Memory(_Model):
    """Device memory. ``capacity`` is the physical size (binary for HBM/GDDR/LPDDR parts);
    ``usable`` the bytes the runtime reports (nvidia-smi / deviceQuery / cloud instance data),
    measured with ECC in the state ``ecc`` says, where such a figure is published."""

    type: Optional[str] = None
    capacity_bytes: ByteSize = Field(None, alias="capacity")
    usable_bytes: ByteSize = Field(None, alias="usable")
    ecc: Optional[bool] = Field(None, strict=True)
    max_capacity_bytes: ByteSize = Field(None, alias="max_capacity")
    bandwidth_bytes_per_s: Bandwidth = Field(None, alias="bandwidth")
    bus_width_bits: PositiveInt = None
    data_rate_mtps: PositiveFloat = None
    channels: PositiveInt = None
    unified: bool = Field(False, strict=True)
    caches: list[Cache] = Field(default_factory=list)
    note: Optional[str] = None

    @field_validator("usable_bytes")
    @classmethod
    def _usable_not_above_capacity(cls, usable: float | None, info: ValidationInfo) -> float | None:
        capacity = info.data.get("capacity_bytes")
        if usable is not None and capacity is not None and usable > capacity:
            raise PydanticCustomError(
                "usable_above_capacity",
                f"usable memory {format_quantity(usable, 'bytes')} is larger than the capacity "
                f"{format_quantity(capacity, 'bytes')}: capacity is the physical size (often binary: '80 GiB')",
            )
        return usable

    @field_validator("max_capacity_bytes")
    @classmethod
    def _max_not_below_capacity(cls, maximum: float | None, info: ValidationInfo) -> float | None:
        capacity = info.data.get("capacity_bytes")
        if maximum is not None and capacity is not None and capacity > maximum:
            raise PydanticCustomError(
                "capacity_above_max",
                f"capacity {format_quantity(capacity, 'bytes')} is larger than max_capacity "
                f"{format_quantity(maximum, 'bytes')} (the platform maximum per socket)",
            )
        return maximum

    @property
    def runtime_bytes(self) -> float | None:
        """The bytes a runtime can allocate: ``usable`` where published, else ``capacity``."""
        return self.usable_bytes if self.usable_bytes is not None else self.capacity_bytes


class HostLink(_Model):
    """The link to the host. ``bandwidth`` is per direction; ``generation`` and ``lanes`` the
    PCIe generation (4, 5, ...) and lane count where the link is PCIe."""

    type: Optional[str] = None
    bandwidth_bytes_per_s: Bandwidth = Field(None, alias="bandwidth")
    generation: PositiveFloat = None
    lanes: PositiveInt = None
    note: Optional[str] = None


class GpuLink(_Model):
    """The device-to-device link (NVLink, Infinity Fabric, ICI, ...).

    ``bandwidth``: total per device over all its links, both directions together (the way
    NVIDIA and AMD quote it; per direction is half); ``links``: link count per device;
    ``domain_size``: devices in one all-to-all domain of the usual platform (8 on an HGX
    baseboard, 72 in a GB200 NVL72 rack).
    """

    type: Optional[str] = None
    bandwidth_bytes_per_s: Bandwidth = Field(None, alias="bandwidth")
    links: PositiveInt = None
    domain_size: PositiveInt = None
    note: Optional[str] = None

    @property
    def per_direction_bytes_per_s(self) -> float | None:
        return None if self.bandwidth_bytes_per_s is None else self.bandwidth_bytes_per_s / 2


class SystemSpec(_Model):
    """A multi-device system composed of catalog devices (``kind: system``)."""

    gpu: str
    count: int = Field(strict=True, gt=0)
    interconnect: Optional[str] = None
    host_cpu: Optional[str] = None
    host_cpu_id: Optional[str] = None
    host_cpu_count: PositiveInt = None
    note: Optional[str] = None


class Power(_Model):
    """``tdp``: the vendor's TDP / TBP / module power of the (one) power mode the entry describes;
    ``loaded``: a published measurement of the power under a CPU or inference load (wall power
    for boards), which energy estimates use in preference to a vendor figure; ``idle``: the
    published idle draw."""

    tdp_w: Power_ = Field(None, alias="tdp")
    loaded_w: Power_ = Field(None, alias="loaded")
    idle_w: Power_ = Field(None, alias="idle")
    note: Optional[str] = None

    @property
    def active_w(self) -> float | None:
        """The power under load for energy estimates: ``loaded`` where published, else ``tdp``."""
        return self.loaded_w if self.loaded_w is not None else self.tdp_w

    @property
    def active_basis(self) -> str | None:
        """Which figure :attr:`active_w` is: "loaded" (measured under load), "tdp" or None."""
        if self.loaded_w is not None:
            return "loaded"
        return "tdp" if self.tdp_w is not None else None


class CloudPrice(_Model):
    """One on-demand cloud offer of this device.

    ``instance_usd_per_hour`` is the provider's on-demand price of the whole instance;
    ``devices`` how many of this device the instance holds (for a CPU, the sockets, or the
    fraction of one socket the instance's vCPUs are); ``usd_per_hour`` the price per device,
    derived as instance price / devices when not given (given both, they must agree).
    """

    provider: str
    instance: Optional[str] = None
    devices: PositiveFloat = None
    instance_usd_per_hour: Usd = None
    usd_per_hour: Usd = None
    region: Optional[str] = None
    retrieved: Optional[_dt.date] = None
    source: Optional[str] = None
    note: Optional[str] = None

    @field_validator("source")
    @classmethod
    def _source_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://\S+$", url):
            raise PydanticCustomError("url", f"source must be an http:// or https:// url without spaces, got {url!r}")
        return url

    @model_validator(mode="before")
    @classmethod
    def _derive_per_device(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        instance = data.get("instance_usd_per_hour")
        devices = data.get("devices")
        per_device = data.get("usd_per_hour")
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (instance, devices))
        if numeric and per_device is None:
            return {**data, "usd_per_hour": instance / devices}
        if numeric and isinstance(per_device, (int, float)) and not isinstance(per_device, bool):
            if abs(per_device * devices - instance) > 0.005 * instance:
                raise PydanticCustomError(
                    "cloud_price",
                    f"usd_per_hour {per_device!r} x devices {devices!r} does not match instance_usd_per_hour {instance!r}",
                )
        return data

    @model_validator(mode="after")
    def _has_a_price(self) -> "CloudPrice":
        if self.usd_per_hour is None:
            raise PydanticCustomError(
                "cloud_price", "a cloud entry needs instance_usd_per_hour and devices, or usd_per_hour (per device)"
            )
        return self


class Price(_Model):
    launch_usd: Usd = None
    launch_year: Year = None
    cloud: list[CloudPrice] = Field(default_factory=list)
    note: Optional[str] = None


class Source(_Model):
    url: Optional[str] = None
    document: Optional[str] = None
    title: str
    fields: list[str] = Field(min_length=1)
    retrieved: Optional[_dt.date] = None
    note: Optional[str] = None

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://\S+$", url):
            raise PydanticCustomError("url", f"url must start with http:// or https:// and contain no spaces, got {url!r}")
        return url

    @model_validator(mode="after")
    def _url_or_document(self) -> "Source":
        if not self.url and not self.document:
            raise PydanticCustomError(
                "source_location",
                f"source {self.title!r} needs a url or a document (a citable reference: datasheet title, "
                "part number, page)",
            )
        return self

    @property
    def reference(self) -> str:
        """The url, or the document reference when there is no url."""
        return self.url or self.document or ""


class _PublishedEntry(_Model):
    """Common fields of a published measurement: where it comes from and how it was taken."""

    tool: str  # the benchmark program and its version (mamf-finder.py, STREAM 5.10, tinymembench v0.4.10, ...)
    source: str  # the public page that holds the figure
    retrieved: Optional[_dt.date] = None
    uncertain: str = Field(min_length=1)  # what is not known about the measurement
    note: Optional[str] = None  # derivation, when the figure is derived from the published one

    @field_validator("source")
    @classmethod
    def _source_url(cls, url: str) -> str:
        if not re.match(r"^https?://\S+$", url):
            raise PydanticCustomError("url", f"source must be an http:// or https:// url without spaces, got {url!r}")
        return url


class PublishedGemm(_PublishedEntry):
    """Measured attainable dense GEMM rate of one dtype (a maximum-achievable-matmul search, a vendor's
    GEMM benchmark): ``value`` in FLOP/s, the matrix size it was reached at, the library and runtime."""

    dtype: str
    flops_per_s: FlopRate = Field(None, alias="value")
    shape: Optional[str] = None  # M x N x K of the best (or only) size
    library: Optional[str] = None  # cuBLAS, hipBLASLt, oneDNN, ...
    runtime: Optional[str] = None  # the framework and its version (torch 2.7.0+cu126)

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        try:
            return normalize_dtype(value)
        except CatalogError as exc:
            raise PydanticCustomError("dtype", str(exc)) from None

    @model_validator(mode="after")
    def _has_value(self) -> "PublishedGemm":
        if self.flops_per_s is None:
            raise PydanticCustomError("published", "a published GEMM entry needs its value (e.g. '794.5 TFLOPS')")
        return self


class PublishedBandwidth(_PublishedEntry):
    """Measured sustained main-memory bandwidth (STREAM triad or copy, a vendor's bandwidth test), counted as
    bytes read plus bytes written, as STREAM counts them."""

    bandwidth_bytes_per_s: Bandwidth = Field(None, alias="value")
    test: str  # the kernel: STREAM triad, gpu-stream triad, tinymembench C copy, ...
    threads: PositiveInt = None  # CPU threads the test ran on, where stated

    @model_validator(mode="after")
    def _has_value(self) -> "PublishedBandwidth":
        if self.bandwidth_bytes_per_s is None:
            raise PydanticCustomError("published", "a published bandwidth entry needs its value (e.g. '3.53 TB/s')")
        return self


class Published(_Model):
    """Published measurements of this device (the ``published`` tier): attainable GEMM per dtype and
    sustained memory bandwidth, each entry with its own source. Several entries of one kind: the highest
    is the attainable figure."""

    gemm: list[PublishedGemm] = Field(default_factory=list)
    bandwidth: list[PublishedBandwidth] = Field(default_factory=list)
    note: Optional[str] = None

    def gemm_flops_per_s(self, dtype: object) -> float | None:
        """The highest published GEMM rate of ``dtype``, or None."""
        key = normalize_dtype(dtype)
        values = [g.flops_per_s for g in self.gemm if g.dtype == key and g.flops_per_s]
        return max(values) if values else None

    @property
    def bandwidth_bytes_per_s(self) -> float | None:
        """The highest published sustained bandwidth, or None."""
        values = [b.bandwidth_bytes_per_s for b in self.bandwidth if b.bandwidth_bytes_per_s]
        return max(values) if values else None

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(d for d in DTYPES if any(g.dtype == d for g in self.gemm))

    @property
    def present(self) -> bool:
        return bool(self.gemm or self.bandwidth)


# ---------------------------------------------------------------------------------------------
# the device

# numbers that need no source: dates, and measured calibration data (it carries its own record)
_UNSOURCED_OK = {("release_year",), ("price", "launch_year")}


class DeviceSpec(_Model):
    """One device of the catalog. Numbers are SI floats; ``None`` means 'not published'."""

    id: str
    name: str
    vendor: str
    kind: Kind
    form_factor: Optional[str] = None
    release_year: Year = None
    architecture: Optional[str] = None
    power_mode: Optional[str] = None
    variant_of: Optional[str] = None
    compute_units: PositiveInt = None
    compute_unit_name: Optional[str] = None
    threads: PositiveInt = None
    clocks: Clocks = Field(default_factory=Clocks)
    compute: Compute = Field(default_factory=Compute)
    memory: Memory = Field(default_factory=Memory)
    published: Published = Field(default_factory=Published)  # measured attainable figures (published tier)
    host_link: HostLink = Field(default_factory=HostLink)
    gpu_link: GpuLink = Field(default_factory=GpuLink)
    system: Optional[SystemSpec] = None
    power: Power = Field(default_factory=Power)
    price: Price = Field(default_factory=Price)
    sources: list[Source] = Field(min_length=1)
    notes: Optional[str] = None
    calibration: Optional[dict[str, CalibrationRecord]] = None  # by runtime ("eager"), written by roofline calibrate

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise PydanticCustomError(
                "slug", f"id must be a slug of lowercase letters, digits and single '-' (e.g. 'nvidia-h100-sxm'), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> "DeviceSpec":
        problems = _provenance_problems(self)
        if self.compute_units is not None and not self.compute_unit_name:
            problems.append((("compute_units",), "compute_units needs compute_unit_name (core, SM, CU, ...)"))
        if (self.kind == "system") != (self.system is not None):
            problems.append((("system",), "a system: block goes with kind: system, and kind: system needs a system: block"))
        if problems:
            text = "; ".join(f"{_loc_text(loc)}: {msg}" for loc, msg in problems)
            raise PydanticCustomError("device", text, {"problems": problems})
        return self

    # --- construction and dumping ------------------------------------------------------------

    @classmethod
    def from_yaml_dict(cls, data: Any) -> "DeviceSpec":
        """Validate a mapping read from a device file (human units required, bare numbers refused)."""
        return cls.model_validate(data, context={"yaml": True})

    def to_yaml_dict(self) -> dict[str, Any]:
        """The device as a device-file mapping in human units; ``from_yaml_dict`` of it is ``self``."""
        return _dump(self)

    def to_yaml(self) -> str:
        """The device as device-file text (comments of the original file are not kept)."""
        return yaml.safe_dump(self.to_yaml_dict(), sort_keys=False, allow_unicode=True, width=100)

    # --- queries -----------------------------------------------------------------------------

    def peaks(self, dtype: object) -> DtypePeaks | None:
        """The peaks entry of ``dtype`` (any spelling accepted by normalize_dtype), or None."""
        return getattr(self.compute, normalize_dtype(dtype))

    def peak_flops_per_s(self, dtype: object, units: str = "best") -> float | None:
        """Dense peak of ``dtype`` in FLOP/s (OP/s for integer dtypes); None if not published.

        ``units``: "matrix" (tensor cores, AMX, ...), "vector" (SIMD / CUDA cores) or "best"
        (the larger of the two). Sparse peaks are never returned.
        """
        if units not in ("best", "matrix", "vector"):
            raise CatalogError(f"unknown units {units!r}: expected 'matrix', 'vector' or 'best'")
        peaks = self.peaks(dtype)
        return None if peaks is None else peaks.best_flops_per_s(units)

    @property
    def peak_clock_basis(self) -> str:
        """The clock basis of the main peak figures: "base" for CPUs (the catalog rule, the same
        for every vendor), "rated" for GPUs, boards and accelerators (the vendor's figure)."""
        return "base" if self.kind == "cpu" else "rated"

    def peak_at(self, dtype: object, clock_basis: str = DEFAULT_CLOCK_BASIS, units: str = "best") -> PeakAtClock:
        """Dense peak of ``dtype`` under a named clock basis, with the basis actually used.

        ``clock_basis``: "base" (default) or "all_core_boost". CPUs give their base-clock figure
        for "base" and the ``all_core_boost`` block for "all_core_boost"; where that block is not
        published the base-clock figure is returned with ``fallback=True``. GPUs, boards and
        accelerators have one vendor figure ("rated") whatever the basis.
        """
        if clock_basis not in CLOCK_BASES:
            close = difflib.get_close_matches(str(clock_basis), CLOCK_BASES, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise CatalogError(f"unknown clock basis {clock_basis!r}{hint}: expected one of {', '.join(CLOCK_BASES)}")
        base = self.peak_flops_per_s(dtype, units)
        if self.kind != "cpu":
            return PeakAtClock(base, "rated", clock_basis)
        if clock_basis == "base":
            return PeakAtClock(base, "base", clock_basis)
        peaks = self.peaks(dtype)
        other = None if peaks is None or peaks.all_core_boost is None else peaks.all_core_boost.best_flops_per_s(units)
        if other is None:
            return PeakAtClock(base, "base", clock_basis, fallback=True)
        return PeakAtClock(other, clock_basis, clock_basis)

    def peak_flops_at(self, dtype: object, clock_basis: str = DEFAULT_CLOCK_BASIS, units: str = "best") -> float | None:
        """Dense peak of ``dtype`` at ``clock_basis``; None when that basis has no published figure."""
        result = self.peak_at(dtype, clock_basis, units)
        return None if result.fallback else result.flops_per_s

    def system_memory(self, host_memory_bytes: float | None = None) -> "SystemMemory":
        """The memory a model may use on this device and where the figure comes from.

        CPUs: ``host_memory_bytes`` when given (capped at ``memory.max_capacity``), else the
        installed ``memory.capacity`` of the device file, else :data:`DEFAULT_HOST_MEMORY_BYTES`
        (capped the same way). Other kinds: their device memory (``host_memory_bytes`` does not
        apply to the memory of an accelerator).
        """
        memory = self.memory
        if self.kind != "cpu":
            return SystemMemory(memory.capacity_bytes, "device", None)
        maximum = memory.max_capacity_bytes
        if host_memory_bytes is not None:
            if isinstance(host_memory_bytes, bool) or not (isinstance(host_memory_bytes, (int, float))
                                                           and math.isfinite(host_memory_bytes) and host_memory_bytes > 0):
                raise CatalogError(f"host memory must be a positive number of bytes, got {host_memory_bytes!r}")
            chosen, basis = float(host_memory_bytes), "host-memory"
        elif memory.capacity_bytes is not None:
            return SystemMemory(memory.capacity_bytes, "catalog", "installed memory from the device file")
        else:
            chosen, basis = float(DEFAULT_HOST_MEMORY_BYTES), "default"
        note = ("assumed system memory " if basis == "default" else "host memory ") + format_quantity(chosen, "bytes")
        if basis == "default":
            note += " (the default; set the host memory to change it)"
        if maximum is not None and chosen > maximum:
            note += f", capped at the platform maximum {format_quantity(maximum, 'bytes')} per socket"
            chosen = maximum
        return SystemMemory(chosen, basis, note)

    def peak_flops_by_dtype(self, units: str = "best") -> dict[str, float]:
        """{dtype: dense peak FLOP/s} for the dtypes that have one."""
        out: dict[str, float] = {}
        for dtype, peaks in self.compute.items():
            value = peaks.best_flops_per_s(units)
            if value is not None:
                out[dtype] = value
        return out

    def missing_fields(self) -> list[str]:
        """Expected fields this device does not have (not published, or not yet entered)."""
        missing: list[str] = []
        if self.kind == "system":
            system_checks = [("release_year", self.release_year), ("power.tdp", self.power.tdp_w),
                             ("system.host_cpu", self.system.host_cpu if self.system else None)]
            return [name for name, value in system_checks if value is None]
        checks: list[tuple[str, Any]] = [
            ("release_year", self.release_year),
            ("compute_units", self.compute_units),
            ("clocks.boost", self.clocks.boost_hz),
            ("memory.type", self.memory.type),
            ("memory.capacity", self.memory.capacity_bytes),
            ("memory.bandwidth", self.memory.bandwidth_bytes_per_s),
        ]
        if self.kind in ("gpu", "accelerator"):
            checks.append(("host_link.bandwidth", self.host_link.bandwidth_bytes_per_s))
        checks += [
            ("power.tdp", self.power.tdp_w),
            ("power.idle", self.power.idle_w),
            ("price.launch_usd", self.price.launch_usd),
        ]
        checks += [(f"compute.{d}", self.peak_flops_per_s(d)) for d in COMMON_DTYPES]
        for name, value in checks:
            if value is None:
                missing.append(name)
        return missing

    def source_for(self, path: str) -> "Source | None":
        """The first source that backs the field ``path`` (its own entry or a dot-prefix of it)."""
        best: Source | None = None
        best_len = -1
        for source in self.sources:
            for entry in source.fields:
                if (path == entry or path.startswith(entry + ".")) and len(entry) > best_len:
                    best, best_len = source, len(entry)
        return best

    @property
    def sources_refs(self) -> list[str]:
        """The url (or document) of every source."""
        return [s.reference for s in self.sources]


# ---------------------------------------------------------------------------------------------
# provenance


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _alias(name: str, field: Any) -> str:
    return field.alias or name


def _numeric_leaves(model: BaseModel, loc: tuple[Any, ...] = (), named: tuple[str, ...] = ()):
    """(loc, named path) of every number set in ``model``; list items are named by cache level or index."""
    for name, field in type(model).model_fields.items():
        if name == "calibration" or name == "sources":
            continue
        key = _alias(name, field)
        value = getattr(model, name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, BaseModel):
            yield from _numeric_leaves(value, loc + (key,), named + (key,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    label = item.level if isinstance(item, Cache) else str(i)
                    yield from _numeric_leaves(item, loc + (key, i), named + (key, label))
        elif isinstance(value, (int, float)):
            if named + (key,) not in _UNSOURCED_OK:
                yield loc + (key,), ".".join(named + (key,))


def _schema_paths(cls: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in cls.model_fields.items():
        path = f"{prefix}{_alias(name, field)}"
        paths.add(path)
        for sub in _submodels(field.annotation):
            paths |= _schema_paths(sub, path + ".")
    return paths


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _submodels(arg)
    return out


_OPEN_PREFIXES = ("memory.caches.", "price.cloud.", "calibration.", "published.")
_SCHEMA_PATHS: set[str] | None = None


def _known_path(entry: str) -> bool:
    global _SCHEMA_PATHS
    if _SCHEMA_PATHS is None:
        _SCHEMA_PATHS = _schema_paths(DeviceSpec)
    return entry in _SCHEMA_PATHS or entry.startswith(_OPEN_PREFIXES)


def _provenance_problems(spec: DeviceSpec) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    backers: list[str] = []
    for i, source in enumerate(spec.sources):
        for j, entry in enumerate(source.fields):
            if _known_path(entry):
                backers.append(entry)
            else:
                assert _SCHEMA_PATHS is not None
                close = difflib.get_close_matches(entry, sorted(_SCHEMA_PATHS), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append((("sources", i, "fields", j), f"'{entry}' names no field of a device{hint}"))
    for i, offer in enumerate(spec.price.cloud):
        if offer.source:
            backers.append(f"price.cloud.{i}")
    for kind in ("gemm", "bandwidth"):  # every published entry carries its own source
        backers += [f"published.{kind}.{i}" for i in range(len(getattr(spec.published, kind)))]
    for loc, named in _numeric_leaves(spec):
        if not any(named == b or named.startswith(b + ".") for b in backers):
            problems.append((loc, "no source backs this number: name it (or a prefix of it) in the fields of a source"))
    return problems


# ---------------------------------------------------------------------------------------------
# dumping to human units


def _unit_kind(field: Any) -> str | None:
    for meta in field.metadata:
        if isinstance(meta, _Unit):
            return meta.kind
    return None


def _dump(model: BaseModel, dtype: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if value == field.get_default(call_default_factory=True):
            continue
        key = _alias(name, field)
        kind = _unit_kind(field)
        if kind is not None:
            out[key] = format_quantity(value, kind, integer=dtype in INT_DTYPES)
        elif isinstance(value, BaseModel):
            sub = _dump(value, dtype=name if isinstance(model, Compute) else dtype)
            if sub:
                out[key] = sub
        elif isinstance(value, list):
            out[key] = [_dump(v) if isinstance(v, BaseModel) else v for v in value]
        elif isinstance(value, dict) and any(isinstance(v, CalibrationRecord) for v in value.values()):
            out[key] = {k: v.to_dict() for k, v in value.items()}
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            out[key] = int(value)  # USD and MT/s as written (1599, not 1599.0); reloads to the same float
        else:
            out[key] = value
    return out


def assumed_system_memory(device: DeviceSpec, host_memory_bytes: float | None = None) -> SystemMemory:
    """``device.system_memory(host_memory_bytes)``: the memory a model may use, with its basis."""
    return device.system_memory(host_memory_bytes)
