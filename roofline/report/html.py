"""The report as one self-contained HTML file.

Charts are SVG embedded as ``data:`` URIs, the style sheet is inline, and nothing is loaded from
the network. Every number cell carries its exact value (``data-field`` / ``data-value``, the
repr of the float), and the whole report data is embedded as JSON in
``<script type="application/json" id="roofline-report-data">`` (never executed).
"""
from __future__ import annotations

import base64
import json
from html import escape
from typing import Callable

from roofline.report import text
from roofline.report.data import ModelSection, ReportData

ChartFn = Callable[[str, ModelSection, str], bytes]

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f3f3f5; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.pick td:first-child { font-weight: bold; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88em; }
.note { color: #555; font-size: 0.88em; }
code { background: #f3f3f5; padding: 0 0.2em; }
"""

_NUMERIC = {"latency_s", "throughput_per_s", "energy_per_unit_j", "ttft_s", "tpot_s", "tokens_per_s", "price_usd", "cost_usd_per_million",
            "purchase_usd_per_million", "energy_usd_per_million", "memory_headroom_bytes"}


def _data_uri_svg(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _table(section: ModelSection) -> list[str]:
    picked = {r.device for r in section.recommendations if r.device}
    out = [f'<table class="devices" data-model="{escape(section.model)}">', "<thead><tr>"]
    cols = text.columns(section)
    out += [f"<th>{escape(h)}</th>" for h, _ in cols]
    out.append("</tr></thead><tbody>")
    for row in section.rows:
        cls = ' class="pick"' if row.device in picked else ""
        out.append(f'<tr data-device="{escape(row.device)}"{cls}>')
        for _, field in cols:
            value = row.value(field)
            css = ' class="num"' if field in _NUMERIC else ""
            title = f' title="{escape(row.device_name)}"' if field == "device" else ""
            out.append(f'<td{css}{title} data-field="{field}" data-value="{escape(text.json_value(value))}">'
                       f"{escape(text.cell(row, field))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _figure(kind: str, section: ModelSection, chart: ChartFn) -> str:
    caption = {
        "roofline": "Roofline (log-log): each line is a device's ceiling, min(peak FLOP/s, memory bandwidth x "
                    "arithmetic intensity); each dot is the model on that device at its predicted FLOP/s.",
        "pareto": f"Latency per {'request' if section.unit == 'token' else 'batch'} against cost per million "
                  f"{section.unit}s (log-log). Devices on the red line "
                  "are Pareto-optimal: no other device is both faster and cheaper. Hollow markers: no purchase "
                  "price, energy-only cost.",
    }[kind]
    alt = f"{kind} chart for {section.model}"
    return (f'<figure class="chart" data-chart="{kind}" data-model="{escape(section.model)}">'
            f'<img alt="{escape(alt)}" src="{_data_uri_svg(chart(kind, section, "svg"))}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def render_html(data: ReportData, chart: ChartFn) -> str:
    """The HTML document; ``chart(kind, section, fmt)`` returns the image bytes (report.charts.chart)."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(data.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{escape(data.title)}</h1>",
           f'<p class="meta">Generated {escape(data.generated)} by roofline {escape(data.version)}. Predictions '
           "from a per-operator roofline model of each device's published specifications; see the assumptions "
           "and sources below.</p>"]

    out.append('<h2 id="recommendations">Recommendations</h2>')
    out.append('<table class="recommendations"><thead><tr><th>model</th><th>objective</th><th>device</th>'
               "<th>why</th></tr></thead><tbody>")
    for model, title, device, sentence in text.recommendation_rows(data):
        out.append(f'<tr data-model="{escape(model)}" data-device="{escape(device or "")}"><td>{escape(model)}</td>'
                   f"<td>{escape(title)}</td><td>{escape(device or '-')}</td><td>{escape(sentence)}</td></tr>")
    out.append("</tbody></table>")

    out.append('<h2 id="assumptions">Assumptions</h2><table class="assumptions"><tbody>')
    for key, value in text.assumptions(data):
        out.append(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>")
    out.append("</tbody></table>")

    for section in data.sections:
        out.append(f'<h2 id="model-{escape(section.model)}">{escape(section.model)}</h2>')
        out.append(f"<p>{escape(text.workload_line(section))}. {len(section.rows)} devices run it"
                   + (f", {len(section.excluded)} cannot" if section.excluded else "") + ".</p>")
        out.append("<ul>" + "".join(f"<li><strong>{escape(r.title)}:</strong> {escape(r.text)}</li>"
                                    for r in section.recommendations) + "</ul>")
        out += _table(section)
        for note in text.footnotes(section):
            out.append(f'<p class="note">{escape(note)}</p>')
        if section.rows:
            out.append(_figure("roofline", section, chart))
            out.append(_figure("pareto", section, chart))
        if section.excluded:
            out.append('<h3>Devices that cannot run it</h3><table class="excluded"><thead><tr><th>device</th>'
                       "<th>reason</th><th>detail</th></tr></thead><tbody>")
            for e in section.excluded:
                out.append(f'<tr data-device="{escape(e.device)}"><td>{escape(e.device)}</td>'
                           f"<td>{escape(e.category)}</td><td>{escape(e.detail)}</td></tr>")
            out.append("</tbody></table>")
        notes = text.notes(section)
        if notes:
            out.append("<h3>Notes</h3><ul class=\"note\">" + "".join(f"<li>{escape(n)}</li>" for n in notes)
                       + "</ul>")

    out.append('<h2 id="sources">Sources of the specifications</h2>')
    out.append('<p class="note">Every peak rate, bandwidth, capacity, power figure and price comes from the '
               "catalog entry of its device, which names its source for each field.</p>")
    for dev in data.sources:
        out.append(f'<h3 id="src-{escape(dev.device)}">{escape(dev.device_name)} (<code>{escape(dev.device)}</code>)'
                   '</h3><ul class="sources">')
        for s in dev.sources:
            ref = (f'<a href="{escape(s.reference)}">{escape(s.reference)}</a>' if s.is_url
                   else escape(s.reference))
            retrieved = f", retrieved {escape(s.retrieved)}" if s.retrieved else ""
            out.append(f"<li>{escape(s.title)}: {ref} (fields: {escape(', '.join(s.fields))}{retrieved})</li>")
        out.append("</ul>")

    blob = json.dumps(data.to_dict(), allow_nan=False, sort_keys=False).replace("</", "<\\/")
    out.append(f'<script type="application/json" id="roofline-report-data">{blob}</script>')
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
