"""Units: strict parsing of human quantities and exact formatting back."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.catalog.units import UNITS, format_human, format_quantity, format_usd, parse_quantity
from roofline.errors import UnitError


@pytest.mark.parametrize(
    "text, kind, expected",
    [
        ("80 GB", "bytes", 80 * 10**9),
        ("80 GiB", "bytes", 80 * 2**30),
        ("48 KiB", "bytes", 48 * 1024),
        ("1 TB", "bytes", 10**12),
        ("1 TiB", "bytes", 2**40),
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("2.039 TB/s", "bandwidth", 2.039e12),
        ("64 GiB/s", "bandwidth", 64 * 2**30),
        ("312 TFLOPS", "flops", 312e12),
        ("989.4 TFLOPS", "flops", 989.4e12),
        ("1979 TOPS", "flops", 1979e12),
        ("26 TOPS", "flops", 26e12),
        ("153.6 GFLOPS", "flops", 153.6e9),
        ("400 W", "power", 400.0),
        ("2.5 W", "power", 2.5),
        ("500 mW", "power", 0.5),
        ("1.2 kW", "power", 1200.0),
        ("1.98 GHz", "frequency", 1.98e9),
        ("1755 MHz", "frequency", 1.755e9),
        ("80GB", "bytes", 80e9),
        ("  80 GB ", "bytes", 80e9),
        ("1e3 GB", "bytes", 1e12),
    ],
)
def test_parse_exact(text: str, kind: str, expected: float) -> None:
    assert parse_quantity(text, kind) == float(expected)


def test_gb_and_gib_differ_exactly() -> None:
    assert parse_quantity("1 GB", "bytes") == 1_000_000_000
    assert parse_quantity("1 GiB", "bytes") == 1_073_741_824
    assert parse_quantity("1 GiB", "bytes") - parse_quantity("1 GB", "bytes") == 73_741_824


def test_decimal_parse_is_correctly_rounded() -> None:
    # 989.4 * 1e12 in float arithmetic is not the nearest double to 989.4e12; parsing must be
    assert parse_quantity("989.4 TFLOPS", "flops") == float("989.4e12")
    assert parse_quantity("0.1 GB", "bytes") == 1e8


@pytest.mark.parametrize(
    "value, kind, fragment",
    [
        ("80 GB/s", "flops", "expected a FLOP rate (TFLOPS, GFLOPS"),
        ("80 GB/s", "flops", "got '80 GB/s' (a bandwidth)"),
        ("312 TFLOPS", "bandwidth", "expected a bandwidth (TB/s, GB/s"),
        ("80 GB", "bandwidth", "got '80 GB' (a capacity)"),
        ("400 W", "bytes", "expected a capacity"),
        ("1.98 GHz", "power", "expected a power"),
        (80, "bytes", "bare number 80 has no unit"),
        (3.35, "bandwidth", "bare number 3.35 has no unit"),
        ("80", "bytes", "bare number '80' has no unit"),
        ("-700 W", "power", "must be positive, got '-700 W'"),
        ("0 W", "power", "must be positive, got '0 W'"),
        ("0.0 TB/s", "bandwidth", "must be positive"),
        ("5 tflops", "flops", "did you mean 'TFLOPS'?"),
        ("5 TFLOPs", "flops", "did you mean 'TFLOPS'?"),
        ("3.35 Tb/s", "bandwidth", "unknown unit 'Tb/s'"),
        ("80 Gb", "bytes", "did you mean 'GB'?"),
        ("eighty GB", "bytes", "written as '<number> <unit>'"),
        ("1,979 TFLOPS", "flops", "got '1,979 TFLOPS'"),
        (True, "power", "expected a power"),
        (None, "power", "expected a power"),
        ([1], "power", "expected a power"),
    ],
)
def test_parse_errors(value: object, kind: str, fragment: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_quantity(value, kind)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "value, kind, integer, text",
    [
        (989.4e12, "flops", False, "989.4 TFLOPS"),
        (1979e12, "flops", False, "1979 TFLOPS"),
        (1978.9e12, "flops", True, "1978.9 TOPS"),
        (3.35e12, "bandwidth", False, "3.35 TB/s"),
        (80e9, "bytes", False, "80 GB"),
        (80 * 2**30, "bytes", False, "80 GiB"),
        (48 * 1024, "bytes", False, "48 KiB"),
        (50 * 2**20, "bytes", False, "50 MiB"),
        (700.0, "power", False, "700 W"),
        (0.5, "power", False, "500 mW"),
        (1.98e9, "frequency", False, "1.98 GHz"),
    ],
)
def test_format_readable(value: float, kind: str, integer: bool, text: str) -> None:
    assert format_quantity(value, kind, integer=integer) == text
    assert parse_quantity(text, kind) == value


_kinds = st.sampled_from(sorted(UNITS))
_positive = st.floats(min_value=1e-6, max_value=1e22, allow_nan=False, allow_infinity=False).filter(lambda v: v > 0)


@settings(max_examples=400, deadline=None)
@given(value=_positive, kind=_kinds, integer=st.booleans())
def test_format_parse_round_trip(value: float, kind: str, integer: bool) -> None:
    text = format_quantity(value, kind, integer=integer)
    assert "e" not in text.split(" ")[0].lower()
    assert parse_quantity(text, kind) == value


def test_format_rejects_non_positive() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(UnitError):
            format_quantity(bad, "power")


def test_human_formatting() -> None:
    assert format_human(None, "flops") == "-"
    assert format_human(1979e12, "flops") == "1979 TFLOPS"
    assert format_human(1978.9e12, "flops", integer=True) == "1979 TOPS"
    assert format_human(2.039e12, "bandwidth") == "2.039 TB/s"
    assert format_human(17.068e9, "bandwidth") == "17.07 GB/s"
    assert format_human(48 * 1024, "bytes") == "48 KiB"
    assert format_human(1000.0, "power") == "1000 W"
    assert format_usd(1599.0) == "$1,599"
    assert format_usd(12.29) == "$12.29"
    assert format_usd(None) == "-"
