"""`roofline report`: the HTML and Markdown documents, their numbers, charts and failure modes."""
import base64
import json
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from torch import nn

import roofline
from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.constants import SECONDS_PER_YEAR
from roofline.decide.costs import BASIS_ENERGY_ONLY, BASIS_FULL, unit_cost
from roofline.report import CostAssumptions, build_report, write_report


def inference_cost(throughput, energy, price, costs):
    return unit_cost(throughput, energy, price, None, costs, "inference")
from roofline.report.output import ReportOutputError

pytest.importorskip("matplotlib")

MODELS = ("resnet18", "mobilenet_v3_small")
DEVICES = ("nvidia-h100-sxm", "nvidia-rtx-4090", "nvidia-l4", "intel-core-i9-14900k", "raspberry-pi-5")
NUMERIC_FIELDS = ("latency_s", "throughput_per_s", "energy_per_unit_j", "price_usd", "memory_headroom_bytes")


class ReportParser(HTMLParser):
    """Collects table cells (data-field/data-value), charts, the embedded JSON and external references."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}  # model -> device -> field -> data-value
        self.charts: list[dict[str, str]] = []
        self.external: list[str] = []
        self.json_text = ""
        self._model = self._device = None
        self._figure: dict[str, str] | None = None
        self._in_json = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            value = a.get(key) or ""
            if key == "src" and value and not value.startswith("data:"):
                self.external.append(value)
        if tag == "link" or (tag == "script" and "src" in a):
            self.external.append(f"<{tag}>")
        if tag == "table" and "devices" in (a.get("class") or ""):
            self._model = a["data-model"]
            self.tables[self._model] = {}
        elif tag == "tr" and self._model is not None and "data-device" in a:
            self._device = a["data-device"]
            self.tables[self._model][self._device] = {}
        elif tag == "td" and self._device is not None and "data-field" in a:
            self.tables[self._model][self._device][a["data-field"]] = a["data-value"]
        elif tag == "figure" and "data-chart" in a:
            self._figure = {"chart": a["data-chart"], "model": a["data-model"]}
        elif tag == "img" and self._figure is not None:
            self._figure["src"] = a.get("src", "")
            self.charts.append(self._figure)
            self._figure = None
        elif tag == "script" and a.get("type") == "application/json":
            self._in_json = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._model = self._device = None
        elif tag == "tr":
            self._device = None
        elif tag == "script":
            self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.json_text += data


def _value(text: str):
    return json.loads(text) if text in ("null", "true", "false") else float(text)


@pytest.fixture(scope="module")
def html_report(tmp_path_factory):
    from roofline.cli import main

    out = tmp_path_factory.mktemp("report") / "report.html"
    code = main(["report", *MODELS, "--devices", ",".join(DEVICES), "--out", str(out)])
    assert code == 0
    parser = ReportParser()
    parser.feed(out.read_text(encoding="utf-8"))
    return out, parser


def test_html_table_numbers_equal_rank_json(html_report, run_cli):
    _, parsed = html_report
    assert set(parsed.tables) == set(MODELS)
    costs = CostAssumptions()
    for model in MODELS:
        code, out, err = run_cli("rank", model, "--json")
        assert code == 0, err
        ranked = {r["device"]: r for r in json.loads(out)["ranked"] if r["device"] in DEVICES}
        table = parsed.tables[model]
        assert set(table) == set(DEVICES) == set(ranked)
        # same order as rank (latency)
        assert list(table) == [d for d in (r["device"] for r in json.loads(out)["ranked"]) if d in DEVICES]
        for device, cells in table.items():
            expected = ranked[device]
            for field, key in (("latency_s", "latency_s"), ("throughput_per_s", "throughput_per_s"),
                               ("energy_per_unit_j", "energy_per_inference_j"), ("price_usd", "price_usd")):
                assert _value(cells[field]) == expected[key], (model, device, field)
            assert _value(cells["memory_headroom_bytes"]) == expected["memory"]["headroom_bytes"]
            assert cells["tier"] == expected["tier"] and cells["bound"] == expected["bound"]
            cost = unit_cost(expected["throughput_per_s"], expected["energy_per_inference_j"],
                             expected["price_usd"], expected["usd_per_hour"], costs, "inference")
            assert _value(cells["cost_usd_per_million"]) == cost.total_usd_per_million
            assert _value(cells["cost_usd_per_million"]) == expected["cost_usd_per_million_units"]
            assert _value(cells["purchase_usd_per_million"]) == cost.purchase_usd_per_million


def test_html_embeds_both_charts_per_model_and_loads_nothing(html_report):
    path, parsed = html_report
    assert parsed.external == []
    text = path.read_text(encoding="utf-8")
    assert "@import" not in text and "url(http" not in text
    found = {(c["model"], c["chart"]) for c in parsed.charts}
    assert found == {(m, k) for m in MODELS for k in ("roofline", "pareto")}
    for chart in parsed.charts:
        prefix = "data:image/svg+xml;base64,"
        assert chart["src"].startswith(prefix)
        svg = base64.b64decode(chart["src"][len(prefix):])
        assert b"<svg" in svg[:2000] and len(svg) > 10_000


def test_html_embedded_json_matches_cells(html_report):
    _, parsed = html_report
    data = json.loads(parsed.json_text)
    assert [m["model"] for m in data["models"]] == list(MODELS)
    for section in data["models"]:
        for row in section["rows"]:
            cells = parsed.tables[section["model"]][row["device"]]
            for field in NUMERIC_FIELDS:
                assert _value(cells[field]) == row[field]
    assert data["assumptions"]["electricity_usd_per_kwh"] == 0.15 and data["assumptions"]["years"] == 3
    sources = {d["device"]: d["sources"] for d in data["sources"]}
    assert set(sources) == set(DEVICES) and all(sources[d] for d in DEVICES)


def test_html_states_assumptions_sources_and_recommendations(html_report):
    path, _ = html_report
    text = path.read_text(encoding="utf-8")
    for phrase in ("Fastest", "Cheapest per inference", "Most energy-efficient", "0.15 USD/kWh", "3 years",
                   "50 % of the time", "cost per unit = purchase price", "energy-only cost",
                   "Sources of the specifications"):
        assert phrase in text, phrase
    from roofline.catalog import load_catalog

    catalog = load_catalog()
    for device in DEVICES:
        for ref in catalog.get(device).sources_refs:
            assert ref.replace("&", "&amp;") in text


@pytest.mark.slow
def test_markdown_writes_pngs_next_to_it(tmp_path, run_cli):
    out = tmp_path / "rep.md"
    code, stdout, err = run_cli("report", "resnet18", "--devices", "nvidia-l4,raspberry-pi-5", "--budget", "100",
                                "--out", str(out))
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    files = sorted(p.name for p in (tmp_path / "rep_files").iterdir())
    assert files == ["pareto-resnet18.png", "roofline-resnet18.png"]
    for name in files:
        assert (tmp_path / "rep_files" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](rep_files/{name})" in text
    assert "Best under $100" in text and "raspberry-pi-5" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folders left


def test_json_twin(run_cli):
    code, out, err = run_cli("report", "resnet18", "--devices", "nvidia-l4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["models"][0]["rows"][0]["device"] == "nvidia-l4"


# ------------------------------------------------------------------ costs and recommendations by hand

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "memory", "power",
                                                                                   "price"]}]


def _device(id_, price=None, tdp="100 W", fp32="1 TFLOPS", bandwidth="100 GB/s"):
    data = {"id": id_, "name": id_.title(), "vendor": "test", "kind": "gpu",
            "compute": {"fp32": {"vector": fp32}}, "memory": {"capacity": "8 GB", "bandwidth": bandwidth},
            "power": {"tdp": tdp, "idle": "20 W"}, "sources": SOURCE}
    if price is not None:
        data["price"] = {"launch_usd": price}
    return DeviceSpec.from_yaml_dict(data)


def test_cost_formula_by_hand():
    costs = CostAssumptions(electricity_usd_per_kwh=0.20, years=2, utilization=0.25)
    cost = inference_cost(1000.0, 0.5, 3000.0, costs)
    served = 1000 * 0.25 * 2 * 365.25 * 86400  # 15,778,800,000 inferences
    assert cost.purchase_usd_per_million == pytest.approx(1e6 * 3000 / served)  # $0.19013
    assert cost.energy_usd_per_million == pytest.approx(1e6 * 0.5 / 3.6e6 * 0.20)  # $0.027778
    assert cost.total_usd_per_million == pytest.approx(0.190129 + 0.027778, rel=1e-5)
    assert cost.basis == BASIS_FULL
    energy_only = inference_cost(1000.0, 0.5, None, costs)
    assert energy_only.basis == BASIS_ENERGY_ONLY and energy_only.total_usd_per_million == cost.energy_usd_per_million
    assert SECONDS_PER_YEAR == 31_557_600


@pytest.mark.parametrize("kwargs", [{"electricity_usd_per_kwh": -1}, {"years": 0}, {"utilization": 0},
                                    {"utilization": 1.5}])
def test_cost_assumptions_are_checked(kwargs):
    with pytest.raises(RooflineError):
        CostAssumptions(**kwargs)


def test_recommendations_on_synthetic_devices():
    w = roofline.analyze(nn.Linear(1024, 1024, bias=False), (64, 1024))
    fast = _device("fast-chip", price=5000, tdp="400 W", fp32="4 TFLOPS", bandwidth="400 GB/s")
    cheap = _device("cheap-chip", price=300, tdp="30 W")
    unpriced = _device("frugal-chip", tdp="10 W", fp32="0.5 TFLOPS", bandwidth="50 GB/s")
    data = build_report([w], [fast, cheap, unpriced], budget_usd=1000)
    (section,) = data.sections
    picks = {r.objective: r.device for r in section.recommendations}
    assert picks["fastest"] == "fast-chip"
    assert picks["budget"] == "cheap-chip"
    full = [r for r in section.rows if r.cost_basis == BASIS_FULL]
    assert picks["cheapest"] == min(full, key=lambda r: r.cost_usd_per_million).device
    assert picks["energy"] == min(section.rows, key=lambda r: r.energy_per_unit_j).device
    row = section.row("cheap-chip")
    expected = inference_cost(row.throughput_per_s, row.energy_per_unit_j, 300, CostAssumptions())
    assert row.cost_usd_per_million == expected.total_usd_per_million
    assert section.row("frugal-chip").cost_basis == BASIS_ENERGY_ONLY
    assert data.sources[0].sources[0].reference == "synthetic test device"


def test_python_api_writes_html(tmp_path):
    w = roofline.analyze(nn.Linear(64, 64), (8, 64), name="tiny")
    data = build_report([w], [_device("a-chip", price=100)], generated="2026-01-01")
    written = write_report(data, tmp_path / "tiny.html")
    text = written.path.read_text(encoding="utf-8")
    assert "Generated 2026-01-01" in text and written.format == "html"


# ------------------------------------------------------------------ bad input: one line, no file

@pytest.mark.parametrize("args,message", [
    (("--devices", "nvidia-h10"), "did you mean"),
    (("--devices", "nvidia-l4", "--prompt", "64"), "only hf: language models take --prompt"),
    (("--electricity", "cheap"), "malformed electricity price"),
    (("--utilization", "150%"), "malformed utilization"),
    (("--budget", "lots"), "malformed price"),
])
def test_bad_options(tmp_path, run_cli, args, message):
    out = tmp_path / "r.html"
    code, _, err = run_cli("report", "resnet18", *args, "--out", str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,message", [
    ("report.pdf", "must end in .html or .md"),
    ("missing/report.html", "does not exist"),
    ("afile/report.md", "is not a folder"),
])
def test_bad_output_paths(tmp_path, run_cli, name, message):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli("report", "resnet18", "--devices", "nvidia-l4", "--out", str(tmp_path / name))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_unwritable_folder_is_one_line(run_cli):
    code, _, err = run_cli("report", "resnet18", "--devices", "nvidia-l4", "--out", "/proc/roofline-report.html")
    assert code == 2 and err.startswith("error: cannot write") and len(err.strip().splitlines()) == 1
    assert not os.path.exists("/proc/roofline-report.html")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path, run_cli):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, _, err = run_cli("report", "resnet18", "--devices", "nvidia-l4", "--out", str(folder / "r.html"))
        assert code == 2 and "not writable" in err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def _tiny_data():
    w = roofline.analyze(nn.Linear(64, 64), (8, 64), name="tiny")
    return build_report([w], [_device("a-chip", price=100)])


def test_chart_failure_leaves_previous_html_whole(tmp_path):
    out = tmp_path / "r.html"
    out.write_text("previous report")
    calls = []

    def failing_chart(kind, section, fmt):
        calls.append(kind)
        if len(calls) > 1:
            raise RuntimeError("drawing failed")
        return b"<svg></svg>"

    with pytest.raises(RuntimeError):
        write_report(_tiny_data(), out, chart=failing_chart)
    assert out.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


@pytest.mark.slow
def test_markdown_write_failure_keeps_previous_report(tmp_path, monkeypatch):
    data = _tiny_data()
    out = tmp_path / "r.md"
    write_report(data, out)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert Path("r_files") in {p.parent for p in before}

    import roofline.report.output as output

    def broken(path, text, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output, "atomic_write_text", broken)
    with pytest.raises(ReportOutputError, match="no space left on device"):
        write_report(data, out)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_generate_report_from_a_model_name(tmp_path):
    from roofline.report import generate_report

    written = generate_report(["resnet18"], tmp_path / "r.md", devices=["nvidia-l4", "raspberry-pi-5"], batch=2,
                              costs=CostAssumptions(0.3, 5, 0.25))
    text = written.path.read_text(encoding="utf-8")
    assert "batch 2" in text and "0.3 USD/kWh" in text and "5 years" in text and "25 % of the time" in text
    assert len(written.images) == 2 and all(p.exists() for p in written.images)
