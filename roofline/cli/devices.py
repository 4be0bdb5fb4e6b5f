"""``roofline devices``: list, show and validate catalog devices (no torch import)."""
from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import click

from roofline.catalog import (
    INT_DTYPES,
    KINDS,
    Catalog,
    CatalogWarning,
    DeviceSpec,
    load_catalog,
    validate_paths,
)
from roofline.catalog.units import format_human, format_usd
from roofline.errors import CatalogError

_CATALOG_OPTION = click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(exists=True, path_type=str),
    metavar="DIR",
    help="Extra device directory or file (repeatable); overrides built-in ids. Also read: $ROOFLINE_CATALOG.",
)
_STRICT_OPTION = click.option("--strict", is_flag=True, help="Fail on a broken user device file instead of skipping it.")
_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units) instead of a table.")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _load(catalogs: tuple[str, ...], strict: bool) -> Catalog:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CatalogWarning)
        catalog = load_catalog(list(catalogs), strict=strict)
    for w in caught:
        if issubclass(w.category, CatalogWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return catalog


def _flops(spec: DeviceSpec, dtype: str) -> str:
    return format_human(spec.peak_flops_per_s(dtype), "flops", integer=dtype in INT_DTYPES)


def _memory_cell(spec: DeviceSpec) -> str:
    m = spec.memory
    if m.capacity_bytes is None and m.max_capacity_bytes is not None:
        return f"max {format_human(m.max_capacity_bytes, 'bytes')}"
    return format_human(m.capacity_bytes, "bytes")


def _summary(spec: DeviceSpec, catalog: Catalog) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "kind": spec.kind,
        "vendor": spec.vendor,
        "form_factor": spec.form_factor,
        "release_year": spec.release_year,
        "peak_flops": spec.peak_flops_by_dtype("best"),
        "memory_bytes": spec.memory.capacity_bytes,
        "usable_memory_bytes": spec.memory.usable_bytes,
        "max_memory_bytes": spec.memory.max_capacity_bytes,
        "memory_bandwidth_bytes_per_s": spec.memory.bandwidth_bytes_per_s,
        "tdp_w": spec.power.tdp_w,
        "idle_w": spec.power.idle_w,
        "loaded_w": spec.power.loaded_w,
        "power_mode": spec.power_mode,
        "price_usd": spec.price.launch_usd,
        "sources": spec.sources_refs,
        "missing_fields": spec.missing_fields(),
        "file": catalog.path(spec.id),
    }


@click.group()
def devices() -> None:
    """The device catalog: list, show and validate devices."""


@devices.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only devices of this kind.")
@_CATALOG_OPTION
@_STRICT_OPTION
@_JSON_OPTION
def list_(kind: str | None, catalogs: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """List the devices with their peak rates, memory, power and price."""
    catalog = _load(catalogs, strict)
    specs = catalog.by_kind(kind) if kind else list(catalog)
    if as_json:
        click.echo(json.dumps([_summary(s, catalog) for s in specs], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(specs)} device{'s' if len(specs) != 1 else ''}", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("kind")
    table.add_column("name")
    for header in ("fp32", "fp16", "bf16", "int8"):
        table.add_column(header, justify="right")
    table.add_column("memory", justify="right")
    table.add_column("bandwidth", justify="right")
    table.add_column("TDP", justify="right")
    table.add_column("price", justify="right")
    for s in specs:
        table.add_row(
            s.id,
            s.kind,
            s.name,
            *(_flops(s, d) for d in ("fp32", "fp16", "bf16", "int8")),
            _memory_cell(s),
            format_human(s.memory.bandwidth_bytes_per_s, "bandwidth"),
            format_human(s.power.tdp_w, "power"),
            format_usd(s.price.launch_usd),
        )
    _console().print(table)
    if not specs:
        click.echo("no devices" + (f" of kind {kind}" if kind else ""))


def _kv_table(title: str, rows: list[tuple[str, str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def _clocks_text(spec: DeviceSpec) -> str:
    c = spec.clocks
    parts = [f"base {format_human(c.base_hz, 'frequency')}", f"boost {format_human(c.boost_hz, 'frequency')}"]
    for label, value in (("all-core boost", c.all_core_boost_hz), ("AVX-512 base", c.avx512_base_hz),
                         ("AVX-512 all-core", c.avx512_all_core_boost_hz), ("AMX base", c.amx_base_hz),
                         ("AMX all-core", c.amx_all_core_boost_hz)):
        if value is not None:
            parts.append(f"{label} {format_human(value, 'frequency')}")
    return ", ".join(parts)


@devices.command("show")
@click.argument("device_id", metavar="ID")
@_CATALOG_OPTION
@_STRICT_OPTION
@_JSON_OPTION
def show(device_id: str, catalogs: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Show every field of one device, its sources and its missing fields."""
    catalog = _load(catalogs, strict)
    spec = catalog.get(device_id)
    if as_json:
        data = spec.model_dump(mode="json")
        data["missing_fields"] = spec.missing_fields()
        data["file"] = catalog.path(spec.id)
        click.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    console = _console()
    units = f"{spec.compute_units} {spec.compute_unit_name or ''}".strip() if spec.compute_units else "-"
    rows = [
        ("name", spec.name),
        ("vendor", spec.vendor),
        ("kind", spec.kind),
        ("form factor", _opt(spec.form_factor)),
        ("release year", _opt(spec.release_year)),
        ("architecture", _opt(spec.architecture)),
        ("compute units", units),
        ("threads", _opt(spec.threads)),
        ("clocks", _clocks_text(spec)),
        ("peak clock basis", spec.peak_clock_basis),
        ("file", _opt(catalog.path(spec.id))),
    ]
    if spec.id in catalog.overridden:
        rows.append(("overrides", ", ".join(catalog.overridden[spec.id])))
    console.print(_kv_table(f"{spec.id}", rows))

    basis = "base clock" if spec.peak_clock_basis == "base" else "vendor's rated clock"
    compute = Table(title=f"compute (dense peaks, {basis})", title_justify="left")
    numeric = ("vector", "matrix", "matrix sparse", "all-core boost")
    for header in ("dtype", *numeric, "accumulate", "note"):
        compute.add_column(header, justify="right" if header in numeric else "left")
    for dtype, peaks in spec.compute.items():
        integer = dtype in INT_DTYPES
        boosted = peaks.all_core_boost.best_flops_per_s() if peaks.all_core_boost else None
        compute.add_row(
            dtype,
            format_human(peaks.vector_flops_per_s, "flops", integer=integer),
            format_human(peaks.matrix_flops_per_s, "flops", integer=integer),
            format_human(peaks.matrix_sparse_flops_per_s, "flops", integer=integer),
            format_human(boosted, "flops", integer=integer),
            _opt(peaks.accumulate),
            peaks.note or "",
        )
    console.print(compute)

    m = spec.memory
    mem_rows = [
        ("type", _opt(m.type) + (" (unified)" if m.unified else "")),
        ("capacity", format_human(m.capacity_bytes, "bytes")),
        ("usable", format_human(m.usable_bytes, "bytes")
         + ({True: " (ECC on)", False: " (ECC off)"}.get(m.ecc, "") if m.usable_bytes else "")),
        ("max capacity", format_human(m.max_capacity_bytes, "bytes") + (" per socket" if m.max_capacity_bytes else "")),
        ("bandwidth", format_human(m.bandwidth_bytes_per_s, "bandwidth")),
        ("bus width", f"{m.bus_width_bits} bit" if m.bus_width_bits else "-"),
        ("data rate", f"{m.data_rate_mtps:g} MT/s" if m.data_rate_mtps else "-"),
        ("channels", _opt(m.channels)),
    ]
    for c in m.caches:
        text = format_human(c.size_bytes, "bytes")
        if c.instances and c.instances > 1:
            text += f" x {c.instances}"
        if c.bandwidth_bytes_per_s:
            text += f", {format_human(c.bandwidth_bytes_per_s, 'bandwidth')}"
        mem_rows.append((f"cache {c.level}", text))
    if m.note:
        mem_rows.append(("note", m.note))
    console.print(_kv_table("memory", mem_rows))

    pub = spec.published
    if pub.gemm or pub.bandwidth:
        measured = Table(title="published measurements (--tier published)", title_justify="left")
        for header in ("figure", "value", "how", "source", "uncertain"):
            measured.add_column(header, overflow="fold", justify="right" if header == "value" else "left")
        for g in pub.gemm:
            how = ", ".join(x for x in (g.shape, g.library, g.runtime, g.tool) if x)
            measured.add_row(f"GEMM {g.dtype}", format_human(g.flops_per_s, "flops"), how, g.source, g.uncertain)
        for b in pub.bandwidth:
            how = ", ".join(x for x in (b.test, f"{b.threads} threads" if b.threads else None, b.tool) if x)
            measured.add_row("bandwidth", format_human(b.bandwidth_bytes_per_s, "bandwidth"), how, b.source,
                             b.uncertain)
        console.print(measured)

    other = [
        ("host link", f"{_opt(spec.host_link.type)}, {format_human(spec.host_link.bandwidth_bytes_per_s, 'bandwidth')} per direction"
         if spec.host_link.type or spec.host_link.bandwidth_bytes_per_s else "-"),
        ("GPU link", f"{_opt(spec.gpu_link.type)}, {format_human(spec.gpu_link.bandwidth_bytes_per_s, 'bandwidth')} per device "
                     f"(both directions), {_opt(spec.gpu_link.links)} links, domain of {_opt(spec.gpu_link.domain_size)}"
         if spec.gpu_link.type or spec.gpu_link.bandwidth_bytes_per_s else "-"),
        ("power", f"TDP {format_human(spec.power.tdp_w, 'power')}, loaded {format_human(spec.power.loaded_w, 'power')}, "
                  f"idle {format_human(spec.power.idle_w, 'power')}"
                  + (f"; power mode {spec.power_mode}" if spec.power_mode else "")
                  + (f" (a mode of {spec.variant_of})" if spec.variant_of else "")),
        ("price", f"{format_usd(spec.price.launch_usd)} at launch" + (f" ({spec.price.launch_year})" if spec.price.launch_year else "")),
    ]
    for cp in spec.price.cloud:
        text = f"{cp.provider} {cp.instance or ''}".strip() + f": {format_usd(cp.usd_per_hour)}/h per device"
        if cp.instance_usd_per_hour is not None:
            text += f" ({format_usd(cp.instance_usd_per_hour)}/h for {cp.devices:g})"
        details = [d for d in (cp.region, f"retrieved {cp.retrieved}" if cp.retrieved else None, cp.source, cp.note) if d]
        other.append(("cloud", text + (f"; {', '.join(details)}" if details else "")))
    if spec.system is not None:
        sysm = spec.system
        host = f"; host {sysm.host_cpu_count or ''}x {sysm.host_cpu}".replace("; host x", "; host ") if sysm.host_cpu else ""
        other.append(("system", f"{sysm.count}x {sysm.gpu}" + (f", {sysm.interconnect}" if sysm.interconnect else "") + host))
    if spec.calibration:
        from roofline.catalog.calibration import describe_record

        for key in sorted(spec.calibration):
            other.append(("calibration", describe_record(key, spec.calibration[key])))
    if spec.notes:
        other.append(("notes", spec.notes))
    console.print(_kv_table("power, price, links", other))

    sources = Table(title="sources", title_justify="left")
    for header in ("#", "reference", "title", "fields", "retrieved"):
        sources.add_column(header, overflow="fold")
    for i, src in enumerate(spec.sources, 1):
        sources.add_row(str(i), src.reference, src.title, ", ".join(src.fields), _opt(src.retrieved))
    console.print(sources)
    missing = spec.missing_fields()
    console.print(f"missing fields: {', '.join(missing) if missing else 'none'}", markup=False)


# (label, field path for provenance, getter returning (SI value or text, quantity kind or None))
def _peak_row(dtype: str):
    def get(spec: DeviceSpec) -> tuple[Any, str | None, str]:
        peaks = spec.peaks(dtype)
        value = spec.peak_flops_per_s(dtype)
        if peaks is None or value is None:
            return None, "flops", f"compute.{dtype}"
        unit = "matrix" if peaks.matrix_flops_per_s == value else "vector"
        return value, "flops", f"compute.{dtype}.{unit}"
    return (f"{dtype} dense peak", get)


def _field_row(label: str, path: str, attr: Any, kind: str | None):
    def get(spec: DeviceSpec) -> tuple[Any, str | None, str]:
        return attr(spec), kind, path
    return (label, get)


_COMPARE_ROWS = [
    _field_row("kind", "kind", lambda s: s.kind, None),
    _field_row("vendor", "vendor", lambda s: s.vendor, None),
    _field_row("release year", "release_year", lambda s: s.release_year, None),
    _field_row("compute units", "compute_units",
               lambda s: f"{s.compute_units} {s.compute_unit_name or ''}".strip() if s.compute_units else None, None),
    _field_row("boost clock", "clocks.boost", lambda s: s.clocks.boost_hz, "frequency"),
    _field_row("base clock", "clocks.base", lambda s: s.clocks.base_hz, "frequency"),
    *(_peak_row(d) for d in ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")),
    _field_row("memory", "memory.capacity", lambda s: s.memory.capacity_bytes, "bytes"),
    _field_row("memory usable", "memory.usable", lambda s: s.memory.usable_bytes, "bytes"),
    _field_row("max memory / socket", "memory.max_capacity", lambda s: s.memory.max_capacity_bytes, "bytes"),
    _field_row("memory bandwidth", "memory.bandwidth", lambda s: s.memory.bandwidth_bytes_per_s, "bandwidth"),
    _field_row("host link", "host_link.bandwidth", lambda s: s.host_link.bandwidth_bytes_per_s, "bandwidth"),
    _field_row("GPU link (both directions)", "gpu_link.bandwidth", lambda s: s.gpu_link.bandwidth_bytes_per_s, "bandwidth"),
    _field_row("TDP", "power.tdp", lambda s: s.power.tdp_w, "power"),
    _field_row("loaded power", "power.loaded", lambda s: s.power.loaded_w, "power"),
    _field_row("launch price", "price.launch_usd", lambda s: s.price.launch_usd, "usd"),
]

_UNSOURCED_FIELDS = {"kind", "vendor", "release_year"}


def _cell_text(value: Any, kind: str | None, dtype_int: bool) -> str:
    if value is None:
        return "-"
    if kind == "usd":
        return format_usd(value)
    if kind is not None:
        return format_human(value, kind, integer=dtype_int)
    return str(value)


@devices.command("compare")
@click.argument("device_ids", nargs=-1, required=True, metavar="ID ID [ID...]")
@_CATALOG_OPTION
@_STRICT_OPTION
@_JSON_OPTION
def compare(device_ids: tuple[str, ...], catalogs: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Compare two or more devices side by side, each figure with the source that backs it."""
    if len(device_ids) < 2:
        raise CatalogError("compare needs at least two device ids (`roofline devices list` shows them)")
    catalog = _load(catalogs, strict)
    specs = [catalog.get(i) for i in device_ids]  # an unknown id raises with a did-you-mean
    rows: list[dict[str, Any]] = []
    for label, get in _COMPARE_ROWS:
        values: dict[str, Any] = {}
        for spec in specs:
            value, kind, path = get(spec)
            source = spec.source_for(path) if value is not None and path not in _UNSOURCED_FIELDS else None
            integer = label.startswith(("int8", "int4"))
            values[spec.id] = {
                "value": value, "text": _cell_text(value, kind, integer), "field": path,
                "source": source.reference if source else None,
            }
        if any(v["value"] is not None for v in values.values()):
            rows.append({"figure": label, "values": values})
    if as_json:
        click.echo(json.dumps({"devices": [s.id for s in specs], "rows": rows}, indent=2))
        return
    from rich.table import Table

    refs: list[str] = []
    table = Table(title="compare: " + " vs ".join(s.id for s in specs), title_justify="left")
    table.add_column("figure", no_wrap=True)
    for spec in specs:
        table.add_column(spec.id, justify="right")
    table.add_row("name", *(s.name for s in specs))
    for row in rows:
        cells = []
        for spec in specs:
            cell = row["values"][spec.id]
            text = cell["text"]
            if cell["source"]:
                if cell["source"] not in refs:
                    refs.append(cell["source"])
                text += f" [{refs.index(cell['source']) + 1}]"
            cells.append(text)
        table.add_row(row["figure"], *cells)
    console = _console()
    console.print(table)
    for n, ref in enumerate(refs, 1):
        console.print(f"[{n}] {ref}", markup=False, soft_wrap=True)


class ValidationFailed(CatalogError):
    """`roofline devices validate` found problems (exit status 2, as for any bad input; the problems are
    printed first)."""


@devices.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
def validate(paths: tuple[str, ...]) -> None:
    """Check device files or directories: every problem in every file, duplicate ids included.

    Prints one line per problem and exits with status 2 if there is any; else prints "N files OK".
    """
    files, problems = validate_paths(list(paths))
    for problem in problems:
        click.echo(str(problem))
    if not files and not problems:
        raise ValidationFailed(f"no device files (*.yaml, *.yml) under {', '.join(paths)}")
    if problems:
        bad = len({p.file for p in problems})
        raise ValidationFailed(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {bad} of {len(files)} files")
    click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} OK")

__all__ = ["devices"]
