"""The report's two charts, drawn with matplotlib (Agg, no pyplot state), as SVG or PNG bytes.

- roofline chart (log-log): every device's ceiling min(peak FLOP/s, bandwidth x intensity) and
  the model on that device as a point at its arithmetic intensity and achieved FLOP/s;
- Pareto chart (log-log): latency per batch against cost per million inferences; devices on
  the front (no other device is both faster and cheaper) are joined and labelled. Purchased
  devices (purchase + energy) and cloud-priced ones (on-demand USD/h) share the same axes, each
  basis with its own marker and legend entry; devices with a partial cost (energy only, purchase
  only) are drawn hollow, labelled with their basis, and kept off the front.

matplotlib is imported only when a chart is drawn (``pip install 'roofline[report]'``).
"""
from __future__ import annotations

import io
import math
from typing import Any, Sequence

from roofline.errors import MissingExtraError
from roofline.decide.costs import BASIS_CLOUD, BASIS_ENERGY_ONLY, BASIS_FULL, BASIS_PURCHASE_ONLY, COMPLETE_BASES
from roofline.report.data import DeviceRow, ModelSection

CHART_KINDS = ("roofline", "pareto")
_FORMATS = ("svg", "png")


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise MissingExtraError("matplotlib is not installed: pip install 'roofline[report]'") from exc
    return matplotlib, Figure


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    base = list(colormaps["tab10"].colors) + list(colormaps["Dark2"].colors) + list(colormaps["Set1"].colors)
    return [base[i % len(base)] for i in range(n)]


_STYLES = ("-", "--", "-.", ":")


def pareto_front(rows: Sequence[DeviceRow]) -> list[DeviceRow]:
    """Rows with a full cost that no other such row beats on both latency and cost, fastest first."""
    full = sorted((r for r in rows if r.cost_basis in COMPLETE_BASES),
                  key=lambda r: (r.latency_s, r.cost_usd_per_million))
    front: list[DeviceRow] = []
    best_cost = math.inf
    for r in full:
        if r.cost_usd_per_million < best_cost:
            front.append(r)
            best_cost = r.cost_usd_per_million
    return front


def _save(fig: Any, fmt: str) -> bytes:
    if fmt not in _FORMATS:
        raise ValueError(f"chart format must be svg or png, not {fmt!r}")
    buf = io.BytesIO()
    # a fixed hash salt and no date keep the SVG identical from run to run
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "roofline", "svg.fonttype": "path"}):
        # constrained layout already keeps titles and legends inside the figure: no tight-bbox pass
        fig.savefig(buf, format=fmt, dpi=150, metadata=metadata)
    return buf.getvalue()


def _label_offsets(ax: Any, points: list[tuple[float, float]], min_gap_px: float = 11.0,
                   width_px: float = 105.0, pad_px: float = 7.0) -> list[float]:
    """Vertical text offsets (points) that keep each label (drawn right of its marker) clear of the
    other labels and markers: a label that would overprint moves up one line at a time."""
    fig = ax.figure
    fig.draw_without_rendering()  # settle the layout and limits so data -> pixel is final
    px_per_pt = fig.dpi / 72.0
    gap, width, pad = min_gap_px * px_per_pt, width_px * px_per_pt, pad_px * px_per_pt
    display = [tuple(p) for p in ax.transData.transform(points)] if points else []
    order = sorted(range(len(points)), key=lambda i: (display[i][1], display[i][0]))
    placed: list[tuple[float, float]] = []  # (left x, centre y) of labels placed so far, in pixels

    def clear(i: int, y: float) -> bool:
        left = display[i][0] + pad
        for j, (mx, my) in enumerate(display):
            if j != i and left - pad / 2 <= mx <= left + width and abs(my - y) < 0.8 * gap:
                return False
        return all(not (abs(lx - left) < width and abs(ly - y) < gap) for lx, ly in placed)

    offsets = [0.0] * len(points)
    for i in order:
        y = display[i][1]
        for step in range(12):
            candidate = y + step * gap
            if clear(i, candidate):
                y = candidate
                break
        else:
            y = display[i][1]
        placed.append((display[i][0] + pad, y))
        offsets[i] = (y - display[i][1]) / px_per_pt
    return offsets


def _leader(dy: float) -> dict[str, Any]:
    """A thin line from a label moved off its marker back to the marker."""
    if abs(dy) < 1:
        return {}
    return {"arrowprops": {"arrowstyle": "-", "linewidth": 0.5, "color": "grey", "shrinkA": 0, "shrinkB": 3}}


def roofline_chart(section: ModelSection, fmt: str = "svg") -> bytes:
    matplotlib, Figure = _matplotlib()
    from matplotlib.ticker import EngFormatter

    rows = [r for r in section.rows if r.peak_flops_per_s and r.bandwidth_bytes_per_s and r.bytes]
    n = len(rows)
    legend_rows = math.ceil(n / 3) if n else 0
    fig = Figure(figsize=(11, 6.5 + 0.2 * legend_rows), layout="constrained")
    ax = fig.add_subplot()
    intensities = [r.intensity_flops_per_byte for r in rows] or [1.0]
    ridges = [r.peak_flops_per_s / r.bandwidth_bytes_per_s for r in rows] or [1.0]
    lo = 10 ** math.floor(math.log10(max(min(intensities + ridges) / 10, 1e-3)))
    hi = 10 ** math.ceil(math.log10(max(intensities + ridges) * 10))
    colors = _colors(n)
    tiers = {r.tier for r in rows}
    for i, r in enumerate(rows):
        ridge = r.peak_flops_per_s / r.bandwidth_bytes_per_s
        xs = [lo, ridge, hi] if lo < ridge < hi else [lo, hi]
        ys = [min(r.peak_flops_per_s, r.bandwidth_bytes_per_s * x) for x in xs]
        style = _STYLES[(i // 10) % len(_STYLES)]
        label = r.device if len(tiers) == 1 else f"{r.device} ({r.tier})"
        ax.plot(xs, ys, style, color=colors[i], linewidth=1.3, alpha=0.85, label=label)
        ax.plot([r.intensity_flops_per_byte], [r.achieved_flops_per_s], "o", color=colors[i], markersize=6,
                markeredgecolor="black", markeredgewidth=0.5, zorder=3)
    for x in sorted(set(round(v, 6) for v in intensities)):
        ax.axvline(x, color="grey", linestyle=":", linewidth=0.9)
        ax.annotate(f"{section.model}: {x:.3g} FLOP/byte", (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="dimgrey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOP/byte, log scale)")
    ax.set_ylabel("FLOP/s (log scale)")
    ax.yaxis.set_major_formatter(EngFormatter(unit="FLOP/s", places=0))
    ax.grid(True, which="major", linewidth=0.5, alpha=0.5)
    ax.grid(True, which="minor", linewidth=0.3, alpha=0.25)
    picked = {rec.device for rec in section.recommendations if rec.device}
    marked = [r for r in rows if r.device in picked]
    if marked:
        points = [(r.intensity_flops_per_byte, r.achieved_flops_per_s) for r in marked]
        for r, dy in zip(marked, _label_offsets(ax, points)):
            ax.annotate(r.device, (r.intensity_flops_per_byte, r.achieved_flops_per_s), xytext=(7, dy - 3),
                        textcoords="offset points", fontsize=7.5, **_leader(dy))
    tier_text = f", {next(iter(tiers))} tier" if len(tiers) == 1 else ""
    ax.set_title(f"Roofline: {section.model}, batch {section.batch}, {section.dtype}, {section.runtime} runtime"
                 f"{tier_text}\nlines: device ceilings min(peak, bandwidth x intensity); dots: the model's "
                 "predicted FLOP/s on each device", fontsize=10)
    if n:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncols=min(3, n),
                   title="device", title_fontsize=8, frameon=False)
    return _save(fig, fmt)


def _usd_tick(value: float, _pos: Any = None) -> str:
    if value >= 1:
        return f"${value:,.0f}"
    return f"${value:.3g}"


# Legend text per cost basis: the chart says which basis each marker is (the same words as the tables).
PARETO_LEGEND = {
    BASIS_FULL: "cost basis: purchase + energy (amortised price + electricity)",
    BASIS_CLOUD: "cost basis: cloud price (on-demand USD/h per device, energy included)",
    BASIS_ENERGY_ONLY: "cost basis: energy only (no price in the catalog; not comparable)",
    BASIS_PURCHASE_ONLY: "cost basis: purchase only (no power figure; not comparable)",
}


def pareto_chart(section: ModelSection, fmt: str = "svg") -> bytes:
    return _save(pareto_figure(section), fmt)


def pareto_figure(section: ModelSection) -> Any:
    """The Pareto chart as a matplotlib Figure (one Axes): every priced device on the same axes."""
    matplotlib, Figure = _matplotlib()
    from matplotlib.ticker import EngFormatter, FuncFormatter

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    ax = fig.add_subplot()
    full = [r for r in section.rows if r.cost_basis in COMPLETE_BASES]
    partial = [r for r in section.rows if r.cost_basis not in COMPLETE_BASES and r.cost_usd_per_million is not None]
    front = pareto_front(section.rows)
    front_ids = {r.device for r in front}
    picked = {rec.device for rec in section.recommendations if rec.device}
    bought = [r for r in full if r.cost_basis == BASIS_FULL]
    rented = [r for r in full if r.cost_basis == BASIS_CLOUD]
    if bought:
        ax.scatter([r.latency_s for r in bought], [r.cost_usd_per_million for r in bought], s=36, color="tab:blue",
                   edgecolors="black", linewidths=0.5, zorder=3, label=PARETO_LEGEND[BASIS_FULL])
    if rented:
        ax.scatter([r.latency_s for r in rented], [r.cost_usd_per_million for r in rented], s=40, marker="s",
                   color="tab:green", edgecolors="black", linewidths=0.5, zorder=3, label=PARETO_LEGEND[BASIS_CLOUD])
    for basis, color in ((BASIS_ENERGY_ONLY, "tab:orange"), (BASIS_PURCHASE_ONLY, "tab:purple")):
        some = [r for r in partial if r.cost_basis == basis]
        if some:
            ax.scatter([r.latency_s for r in some], [r.cost_usd_per_million for r in some], s=36,
                       facecolors="none", edgecolors=color, linewidths=1.2, zorder=3, label=PARETO_LEGEND[basis])
    if front:
        ax.step([r.latency_s for r in front], [r.cost_usd_per_million for r in front], where="post",
                color="tab:red", linewidth=1.2, zorder=2)
        ax.scatter([r.latency_s for r in front], [r.cost_usd_per_million for r in front], s=110,
                   facecolors="none", edgecolors="tab:red", linewidths=1.4, zorder=4,
                   label="Pareto front: no device is both faster and cheaper")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit="s", places=0))
    ax.yaxis.set_major_formatter(FuncFormatter(_usd_tick))
    run = "request" if section.unit == "token" else "batch"
    ax.set_xlabel(f"latency per {run} (log scale)")
    ax.set_ylabel(f"USD per million {section.unit}s (log scale)")
    ax.grid(True, which="major", linewidth=0.5, alpha=0.5)
    ax.grid(True, which="minor", linewidth=0.3, alpha=0.25)
    labelled = [r for r in full if len(full) <= 16 or r.device in front_ids or r.device in picked]
    labelled += [r for r in partial if len(partial) <= 8 or r.device in picked]
    if labelled:
        ax.margins(x=0.08, y=0.08)
        points = [(r.latency_s, r.cost_usd_per_million) for r in labelled]
        for r, dy in zip(labelled, _label_offsets(ax, points)):
            ax.annotate(r.device, (r.latency_s, r.cost_usd_per_million), xytext=(7, dy - 3),
                        textcoords="offset points", fontsize=7.5, va="baseline",
                        fontweight="bold" if r.device in front_ids else "normal", **_leader(dy))
    ax.set_title(f"Latency against cost: {section.model}, batch {section.batch}, {section.dtype}\n"
                 "lower left is better; cost = amortised purchase + electricity, or the cloud price", fontsize=10)
    if full or partial:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncols=2, frameon=False)
    return fig


def chart(kind: str, section: ModelSection, fmt: str = "svg") -> bytes:
    if kind == "roofline":
        return roofline_chart(section, fmt)
    if kind == "pareto":
        return pareto_chart(section, fmt)
    raise ValueError(f"unknown chart {kind!r}: choose {', '.join(CHART_KINDS)}")
