"""The report as GitHub-flavoured Markdown; its PNG charts go to ``<stem>_files/`` next to it."""
from __future__ import annotations

from typing import Callable

from roofline.report import format as fmt
from roofline.report import text
from roofline.report.data import ModelSection, ReportData

ChartFn = Callable[[str, ModelSection, str], bytes]


def _md(value: str) -> str:
    """Escape a table cell."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


def chart_names(data: ReportData) -> list[tuple[ModelSection, str, str]]:
    """(section, chart kind, file name) for every chart, file names unique within the report."""
    out = []
    used: set[str] = set()
    for i, section in enumerate(data.sections):
        base = fmt.slug(section.model)
        if base in used:
            base = f"{base}-{i + 1}"
        used.add(base)
        if section.rows:
            out += [(section, kind, f"{kind}-{base}.png") for kind in ("roofline", "pareto")]
    return out


def render_markdown(data: ReportData, chart: ChartFn, files_dir: str) -> tuple[str, dict[str, bytes]]:
    """The Markdown text and its images {file name: PNG bytes}; images are linked as ``files_dir/name``."""
    images: dict[str, bytes] = {}
    names = {(id(s), kind): name for s, kind, name in chart_names(data)}
    out = [f"# {data.title}", "",
           f"Generated {data.generated} by roofline {data.version}. Predictions from a per-operator roofline model "
           "of each device's published specifications; see the assumptions and sources below.", ""]

    out += ["## Recommendations", ""]
    out += _table(["model", "objective", "device", "why"],
                  [[m, t, d or "-", s] for m, t, d, s in text.recommendation_rows(data)])
    out += ["", "## Assumptions", ""]
    out += _table(["assumption", "value"], [[k, v] for k, v in text.assumptions(data)])
    out.append("")

    for section in data.sections:
        cols = text.columns(section)
        numeric = {i for i, (_, f) in enumerate(cols) if f not in ("device", "kind", "tier", "bound")}
        out += [f"## {section.model}", ""]
        out.append(f"{text.workload_line(section)}. {len(section.rows)} devices run it"
                   + (f", {len(section.excluded)} cannot" if section.excluded else "") + ".")
        out.append("")
        out += [f"- **{r.title}:** {r.text}" for r in section.recommendations]
        out.append("")
        picked = {r.device for r in section.recommendations if r.device}
        rows = []
        for r in section.rows:
            cells = [text.cell(r, f) for _, f in cols]
            if r.device in picked:
                cells[0] = f"**{cells[0]}**"
            rows.append(cells)
        out += _table([h for h, _ in cols], rows, numeric)
        out.append("")
        for note in text.footnotes(section):
            out += [note, ""]
        for kind in ("roofline", "pareto"):
            name = names.get((id(section), kind))
            if name is None:
                continue
            images[name] = chart(kind, section, "png")
            label = "Roofline chart" if kind == "roofline" else "Latency against cost (Pareto) chart"
            out += [f"![{label} for {section.model}]({files_dir}/{name})", ""]
        if section.excluded:
            out += ["### Devices that cannot run it", ""]
            out += _table(["device", "reason", "detail"], [[e.device, e.category, e.detail] for e in section.excluded])
            out.append("")
        notes = text.notes(section)
        if notes:
            out += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]

    out += ["## Sources of the specifications", "",
            "Every peak rate, bandwidth, capacity, power figure and price comes from the catalog entry of its "
            "device, which names its source for each field.", ""]
    for dev in data.sources:
        out.append(f"- **{dev.device_name}** (`{dev.device}`)")
        for s in dev.sources:
            ref = f"<{s.reference}>" if s.is_url else s.reference
            retrieved = f", retrieved {s.retrieved}" if s.retrieved else ""
            out.append(f"  - {s.title}: {ref} (fields: {', '.join(s.fields)}{retrieved})")
    out.append("")
    return "\n".join(out), images
