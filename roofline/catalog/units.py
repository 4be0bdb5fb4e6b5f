"""Human units in device files: strict parsing to SI floats and formatting back.

Every quantity in a device file is written as ``<number> <unit>`` ("312 TFLOPS", "2.039 TB/s",
"80 GiB", "400 W", "1.98 GHz"). Parsing is strict:

* the unit must be one of the units of the field's kind (a bandwidth in a FLOPS field is an
  error that names the expected units);
* decimal prefixes are powers of ten (``GB`` = 1e9 bytes), binary prefixes powers of two
  (``GiB`` = 2**30 bytes);
* the value must be positive;
* a bare number without a unit is an error (the file would not say what it means).

Parsing is exact: the decimal text is multiplied by the unit's scale as a fraction and rounded
once, so ``parse_quantity(format_quantity(x, kind), kind) == x`` for every positive float ``x``.
"""
from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal
from fractions import Fraction

from roofline.errors import UnitError

__all__ = [
    "KINDS",
    "UNITS",
    "parse_quantity",
    "format_quantity",
    "format_human",
    "format_usd",
    "expected_units",
]

_DEC = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}

# kind -> {unit: scale}; insertion order = display order in error messages
UNITS: dict[str, dict[str, Fraction]] = {
    "flops": {
        **{f"{p}FLOPS": Fraction(s) for p, s in _DEC.items()},
        **{f"{p}OPS": Fraction(s) for p, s in _DEC.items() if p != "K"},
    },
    "bandwidth": {
        **{f"{p}B/s": Fraction(s) for p, s in _DEC.items() if p != "P"},
        **{f"{p}B/s": Fraction(s) for p, s in _BIN.items()},
    },
    "bytes": {
        **{f"{p}B": Fraction(s) for p, s in _DEC.items() if p != "P"},
        **{f"{p}B": Fraction(s) for p, s in _BIN.items()},
    },
    "power": {"mW": Fraction(1, 1000), "W": Fraction(1), "kW": Fraction(1000)},
    "frequency": {"Hz": Fraction(1), "kHz": Fraction(10**3), "MHz": Fraction(10**6), "GHz": Fraction(10**9)},
}
UNITS["flops"]["KOPS"] = Fraction(10**3)

KINDS: dict[str, str] = {
    "flops": "a FLOP rate",
    "bandwidth": "a bandwidth",
    "bytes": "a capacity",
    "power": "a power",
    "frequency": "a clock frequency",
}

# the units listed in error messages (a readable subset, largest first)
_SHOWN: dict[str, tuple[str, ...]] = {
    "flops": ("TFLOPS", "GFLOPS", "PFLOPS", "TOPS", "GOPS"),
    "bandwidth": ("TB/s", "GB/s", "MB/s", "GiB/s", "MiB/s"),
    "bytes": ("GB", "MB", "KB", "GiB", "MiB", "KiB"),
    "power": ("W", "mW", "kW"),
    "frequency": ("GHz", "MHz"),
}

# families used when formatting: each a list of (unit, scale), smallest first
_FAMILIES: dict[str, list[list[str]]] = {
    "flops": [["FLOPS", "KFLOPS", "MFLOPS", "GFLOPS", "TFLOPS", "PFLOPS"]],
    "ops": [["OPS", "KOPS", "MOPS", "GOPS", "TOPS", "POPS"]],
    "bandwidth": [["B/s", "KB/s", "MB/s", "GB/s", "TB/s"], ["KiB/s", "MiB/s", "GiB/s", "TiB/s"]],
    "bytes": [["B", "KB", "MB", "GB", "TB"], ["KiB", "MiB", "GiB", "TiB"]],
    "power": [["mW", "W", "kW"]],
    "frequency": [["Hz", "kHz", "MHz", "GHz"]],
}

_NUMBER = re.compile(
    r"^\s*(?P<sign>[+-]?)(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[^\s\d.+-][^\s]*)?\s*$"
)


def expected_units(kind: str) -> str:
    """'a FLOP rate (TFLOPS, GFLOPS, ...)' - the phrase used in error messages."""
    return f"{KINDS[kind]} ({', '.join(_SHOWN[kind])}, ...)"


def _kind_of_unit(unit: str) -> str | None:
    for kind, table in UNITS.items():
        if unit in table:
            return kind
    return None


def parse_quantity(value: object, kind: str) -> float:
    """Parse ``"<number> <unit>"`` into an SI float (FLOP/s, bytes/s, bytes, W, Hz).

    Raises :class:`UnitError` with a one-line message for a wrong unit kind, an unknown unit,
    a bare number, a non-positive value or unparsable text.
    """
    if kind not in UNITS:
        raise ValueError(f"unknown quantity kind {kind!r}")
    want = expected_units(kind)
    if isinstance(value, bool) or value is None:
        raise UnitError(f"expected {want}, got {value!r}")
    if isinstance(value, (int, float)):
        raise UnitError(f"bare number {value!r} has no unit: expected {want}, e.g. '{value} {_SHOWN[kind][0]}'")
    if not isinstance(value, str):
        raise UnitError(f"expected {want}, got {type(value).__name__} {value!r}")
    m = _NUMBER.match(value)
    if m is None:
        raise UnitError(f"expected {want} written as '<number> <unit>', got {value!r}")
    unit = m["unit"]
    if unit is None:
        raise UnitError(f"bare number {value!r} has no unit: expected {want}")
    table = UNITS[kind]
    if unit not in table:
        other = _kind_of_unit(unit)
        if other is not None:
            raise UnitError(f"expected {want}, got {value!r} ({KINDS[other]})")
        close = difflib.get_close_matches(unit, list(table), n=1, cutoff=0.6)
        folded = [u for u in table if u.lower() == unit.lower()]
        hint = folded or close
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UnitError(f"unknown unit '{unit}' in {value!r}: expected {want}{suffix}")
    number = Fraction(m["num"])
    if m["sign"] == "-" and number != 0:
        raise UnitError(f"must be positive, got {value!r}")
    if number == 0:
        raise UnitError(f"must be positive, got {value!r} (leave a field out when it is not published)")
    result = float(number * table[unit])
    if not math.isfinite(result):
        raise UnitError(f"value out of range: {value!r}")
    return result


def _exact_text(value: float, scale: Fraction) -> str | None:
    """Shortest plain decimal text ``t`` with ``float(Fraction(t) * scale) == value``."""
    approx = float(Fraction(value) / scale)
    for digits in range(1, 18):
        text = format(approx, f".{digits}g")
        if "e" in text:
            text = format(Decimal(text), "f")  # positional: '1e+17' -> '100000000000000000'
        if float(Fraction(text) * scale) == value:
            return text
    return None


def format_quantity(value: float, kind: str, *, integer: bool = False) -> str:
    """Format an SI float in the most readable unit, exactly (parsing it back gives ``value``).

    ``kind`` is one of :data:`UNITS`; ``integer=True`` uses OPS instead of FLOPS for compute.
    Among the units where the number falls in [1, 10000) the one with the fewest digits wins;
    on a tie decimal prefixes beat binary ones and smaller units beat larger ones (so 80e9 bytes
    is '80 GB', 49152 bytes '48 KiB', 3.35e12 B/s '3.35 TB/s', 1.979e15 FLOP/s '1979 TFLOPS').
    """
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UnitError(f"cannot format {value!r} as {KINDS.get(kind, kind)}: must be a positive number")
    family_key = "ops" if (kind == "flops" and integer) else kind
    families = _FAMILIES[family_key]
    best: tuple[int, int, int, str] | None = None
    for rank, family in enumerate(families):
        for index, unit in enumerate(family):
            scale = UNITS[kind][unit]
            if not (1 <= Fraction(value) / scale < 10000):
                continue
            text = _exact_text(value, scale)
            if text is None:
                continue
            key = (sum(c.isdigit() for c in text), rank, index)
            if best is None or key < best[:3]:
                best = (*key, f"{text} {unit}")
    if best is not None:
        return best[3]
    # out of every unit's comfortable range: the largest unit for huge values, else the smallest
    decimal = families[0]
    unit = decimal[-1] if value >= float(UNITS[kind][decimal[-1]]) else decimal[0]
    text = _exact_text(value, UNITS[kind][unit])
    if text is None:  # no short exact text in that unit: the base unit always has one
        unit = next(u for u in UNITS[kind] if UNITS[kind][u] == 1)
        text = format(Decimal(repr(float(value))), "f")
    return f"{text} {unit}"


def format_human(value: float | None, kind: str, *, digits: int = 4, integer: bool = False) -> str:
    """Rounded display text for tables ('989.4 TFLOPS', '3.35 TB/s', '80 GB'); '-' for None."""
    if value is None:
        return "-"
    family_key = "ops" if (kind == "flops" and integer) else kind
    families = _FAMILIES[family_key]
    # prefer the family whose exact text is shortest (e.g. 48 KiB rather than 49.15 KB)
    exact = format_quantity(value, kind, integer=integer)
    exact_unit = exact.split(" ", 1)[1]
    family = next(f for f in families if exact_unit in f)
    chosen = family[0]
    for unit in family:
        if value / float(UNITS[kind][unit]) >= 1:
            chosen = unit
    if chosen[0] == "P" and value < 1e16 and kind == "flops":
        chosen = "T" + chosen[1:]  # compare peaks in one unit: 1979 TFLOPS next to 989.4 TFLOPS
    if chosen == "kW" and value < 1e4:
        chosen = "W"  # 1000 W, as board power is quoted
    number = value / float(UNITS[kind][chosen])
    text = f"{number:.{digits}g}"
    if "e" in text:
        text = f"{number:.0f}"
    return f"{text} {chosen}"


def format_usd(value: float | None) -> str:
    """'$1,599' or '$12.29'; '-' for None."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"${value:,.0f}"
    return f"${value:,.2f}"
