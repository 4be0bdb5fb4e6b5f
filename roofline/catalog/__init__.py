"""The device catalog: sourced device specs read from YAML (format: docs/catalog.md).

>>> from roofline.catalog import load_catalog
>>> catalog = load_catalog()
>>> spec = catalog.get("nvidia-h100-sxm")                      # doctest: +SKIP
>>> spec.peak_flops_per_s("bf16"), spec.memory.bandwidth_bytes_per_s  # doctest: +SKIP
"""
from __future__ import annotations

from .loader import (
    ENV_VAR,
    Catalog,
    CatalogFileError,
    CatalogWarning,
    Problem,
    clear_cache,
    load_catalog,
    load_device_file,
    validate_paths,
)
from .schema import (
    CLOCK_BASES,
    COMMON_DTYPES,
    DEFAULT_CLOCK_BASIS,
    DEFAULT_HOST_MEMORY_BYTES,
    DTYPES,
    FLOAT_DTYPES,
    INT_DTYPES,
    KINDS,
    Cache,
    ClockedPeaks,
    Clocks,
    CloudPrice,
    Compute,
    DeviceSpec,
    DtypePeaks,
    HostLink,
    Memory,
    PeakAtClock,
    Power,
    Price,
    Source,
    SystemMemory,
    assumed_system_memory,
    normalize_dtype,
)
from .units import format_human, format_quantity, format_usd, parse_quantity

__all__ = [
    "ENV_VAR",
    "Catalog",
    "CatalogFileError",
    "CatalogWarning",
    "Problem",
    "clear_cache",
    "load_catalog",
    "load_device_file",
    "validate_paths",
    "CLOCK_BASES",
    "COMMON_DTYPES",
    "DEFAULT_CLOCK_BASIS",
    "DEFAULT_HOST_MEMORY_BYTES",
    "DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "KINDS",
    "Cache",
    "ClockedPeaks",
    "Clocks",
    "CloudPrice",
    "Compute",
    "DeviceSpec",
    "DtypePeaks",
    "HostLink",
    "Memory",
    "PeakAtClock",
    "Power",
    "Price",
    "Source",
    "SystemMemory",
    "assumed_system_memory",
    "normalize_dtype",
    "format_human",
    "format_quantity",
    "format_usd",
    "parse_quantity",
]
