"""Published language-model serving measurements (benchmarks/llm/serving.yaml) and their comparison script.

The schema is exercised on the shipped file and on rows built to break it; the row -> prediction mapping
is checked with a stand-in estimate (no tracing), so that the conversion from TPOT to tokens/s, the
interval and the pending branch are tested on their own.
"""
from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "llm" / "compare.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("llm_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_compare"] = module
    spec.loader.exec_module(module)
    return module


cmp = _load_module()


@pytest.fixture(scope="module")
def rows():
    return cmp.load_rows()


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(cmp.DATA.read_text())


def test_file_has_the_required_coverage(rows):
    assert len(rows) >= 16
    assert len({r.id for r in rows}) == len(rows)
    mlperf = [r for r in rows if r.id.startswith("mlperf-") and r.model_name.startswith("Llama-2-70B")]
    systems = {(r.device, r.load) for r in mlperf}
    for device in ("nvidia-h100-sxm", "nvidia-h200-sxm", "nvidia-b200", "amd-mi300x"):
        assert (device, "offline") in systems and (device, "request_rate") in systems, device
    assert all(r.gpus == 8 for r in mlperf)
    assert any("TensorRT-LLM" in r.runtime and r.load == "max_throughput" and r.precision.weights == "fp8"
               for r in rows)
    assert any(r.runtime.startswith(("vLLM", "SGLang")) for r in rows)
    assert sum(r.runtime.startswith("llama.cpp") and r.kind == "single_stream" for r in rows) >= 4


def test_every_row_is_sourced_and_its_devices_are_in_the_catalog(rows):
    from roofline.catalog import load_catalog

    catalog = load_catalog()
    for r in rows:
        assert r.source.startswith("https://")
        assert r.quote.strip() and r.uncertain.strip() and r.runtime_version.strip()
        if r.device is not None:
            assert catalog.get(r.device).kind in ("gpu", "sbc"), r.id
        if r.system is not None:
            system = catalog.get(r.system)
            assert system.kind == "system", r.id


def test_quoted_figure_is_the_recorded_value(rows):
    """The value must appear in the quoted words of the source (ms and ns figures are scaled back)."""
    for r in rows:
        v = r.value
        forms = {f"{v:g}", f"{v:,.0f}", f"{v:.2f}", f"{v:.1f}", f"{v * 1e3:.2f}", f"{v * 1e9:.0f}"}
        assert any(f in r.quote for f in forms), (r.id, v)


def test_derived_output_lengths_follow_the_published_rates(rows):
    """Offline MLPerf rows: output tokens per sample = tokens/s / samples/s, both quoted."""
    import re

    for r in rows:
        if r.id.startswith("mlperf-") and r.load == "offline":
            samples = float(re.search(r"Samples per second: ([0-9.]+)", r.quote).group(1))
            assert r.output_tokens == round(r.value / samples), r.id


def _row(raw, kind):
    return copy.deepcopy(next(item for item in raw if item["kind"] == kind))


@pytest.mark.parametrize("field,value,message", [
    ("source", "http://example.com/x", "https URL"),
    ("tp", 2, "whole number"),
    ("metric", "tokens_per_s_batch", "tokens_per_s_single_stream"),
    ("load_value", 4, "load_value 1"),
    ("extra_field", 1, "Extra inputs"),
])
def test_schema_rejects_broken_single_stream_rows(raw, field, value, message):
    item = _row(raw, "single_stream")
    item[field] = value
    with pytest.raises(Exception, match=message):
        cmp.ServingMeasurement.model_validate(item)


def test_schema_rejects_inconsistent_serving_rows(raw):
    item = _row(raw, "serving")
    item["load"], item["load_value"] = "request_rate", None
    with pytest.raises(Exception, match="needs its load_value"):
        cmp.ServingMeasurement.model_validate(item)
    item = _row(raw, "serving")
    item["model"], item["uncertain"] = None, "lengths vary"
    with pytest.raises(Exception, match="preset"):
        cmp.ServingMeasurement.model_validate(item)
    item = _row(raw, "fixed_batch")
    item["gpus"], item["tp"] = 2, 2
    with pytest.raises(Exception, match="one GPU"):
        cmp.ServingMeasurement.model_validate(item)


def test_bad_file_is_one_line_error_and_exit_2(tmp_path):
    bad = tmp_path / "rows.yaml"
    bad.write_text("- id: x\n  kind: serving\n  source: ftp://nowhere\n")
    with pytest.raises(cmp.ServingDataError, match="row 1 \\(x\\)"):
        cmp.load_rows(bad)
    out = subprocess.run([sys.executable, str(SCRIPT), "--file", str(bad)], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1


def test_serving_rows_are_pending_by_name(rows):
    results = [cmp.predict_row(r, estimate=_never, interval_factors=_never) for r in rows if r.kind == "serving"]
    assert results and all(c.status == "pending" and c.predicted is None for c in results)
    assert all("batching" in c.reason and "parallel" in c.reason for c in results)
    text = cmp.markdown(rows, results)
    for c in results:
        assert f"`{c.id}`" in text


def _never(*args, **kwargs):
    raise AssertionError("a serving row must not be estimated with the single-GPU model")


class _Catalog:
    def get(self, device_id):
        return SimpleNamespace(id=device_id)


def _stub(tpot_s, tier="datasheet"):
    calls = []

    def estimate(model, device, **kwargs):
        calls.append((model, device, kwargs))
        return SimpleNamespace(metrics={"tpot_s": tpot_s}, tier=tier, bound="memory")

    return estimate, calls


def test_single_stream_row_is_one_over_tpot_with_the_interval_inverted(rows):
    row = next(r for r in rows if r.kind == "single_stream" and r.precision.weights == "int4")
    estimate, calls = _stub(0.02)
    c = cmp.predict_row(row, estimate=estimate, interval_factors=lambda d: (0.5, 2.0, 0.8), catalog=_Catalog())
    assert c.status == "predicted"
    assert c.predicted == pytest.approx(50.0)
    assert c.interval == pytest.approx((25.0, 100.0))  # measured time in [0.5, 2] x predicted
    assert c.coverage == 0.8 and c.ratio == pytest.approx(50.0 / row.value)
    (model, device, kwargs), = calls
    assert (model, device) == (row.model, row.device)
    assert kwargs["batch"] == 1 and kwargs["weights"] == "int4" and kwargs["dtype"] == "fp16"
    assert kwargs["prompt"] == max(row.input_tokens, 1) and kwargs["generate"] == row.output_tokens


def test_fixed_batch_row_is_batch_over_tpot(rows):
    row = next(r for r in rows if r.kind == "fixed_batch")
    estimate, calls = _stub(0.05)
    c = cmp.predict_row(row, estimate=estimate, interval_factors=lambda d: None, catalog=_Catalog())
    assert c.predicted == pytest.approx(row.batch / 0.05) and c.interval is None
    assert calls[0][2]["batch"] == row.batch == 8


def test_interval_only_on_the_datasheet_tier(rows):
    row = next(r for r in rows if r.kind == "single_stream")
    estimate, _ = _stub(0.01, tier="calibrated")
    c = cmp.predict_row(row, estimate=estimate, interval_factors=lambda d: (0.5, 2.0, 0.8), catalog=_Catalog())
    assert c.predicted == pytest.approx(100.0) and c.interval is None


def test_precision_maps_to_estimate_arguments(rows):
    by = {(r.precision.weights, r.precision.activations): r for r in rows}
    nvfp4 = cmp.estimate_arguments(by[("nvfp4", "fp4")])
    assert nvfp4["dtype"] == "fp16" and nvfp4["weights"] == "nvfp4"  # 4-bit math: weights only
    f16 = cmp.estimate_arguments(by[("fp16", "fp16")])
    assert f16["dtype"] == "fp16" and "weights" not in f16 and "kv_dtype" not in f16
    fp8 = cmp.ServingMeasurement.model_validate({**by[("fp16", "fp16")].model_dump(), "precision": {
        "weights": "fp8", "activations": "fp8", "kv": "fp8", "published": "FP8"}})
    args = cmp.estimate_arguments(fp8)
    assert args["dtype"] == "fp8" and "weights" not in args and args["kv_dtype"] == "fp8"
    unknown_length = next(r for r in rows if r.kind == "single_stream" and r.output_tokens is None)
    assert cmp.estimate_arguments(unknown_length)["generate"] == 2
    assert cmp.estimate_arguments(unknown_length)["prompt"] == unknown_length.input_tokens


def test_unusable_device_is_reported_not_raised(rows):
    from roofline.errors import RooflineError

    row = next(r for r in rows if r.kind == "single_stream")

    def estimate(*args, **kwargs):
        raise RooflineError("apple-m4: no compute peak in the catalog")

    c = cmp.predict_row(row, estimate=estimate, interval_factors=lambda d: None, catalog=_Catalog())
    assert c.status == "not predicted" and "no compute peak" in c.reason and c.predicted is None


def test_fixed_batch_latency_row_is_the_request_latency_with_the_band_as_is(rows):
    row = next(r for r in rows if r.kind == "fixed_batch" and r.metric == "request_latency_s")

    def estimate(model, device, **kwargs):
        assert kwargs["batch"] == row.batch and kwargs["generate"] == row.output_tokens
        return SimpleNamespace(metrics={"request_latency_s": 0.5, "tpot_s": 1.0}, tier="datasheet")

    c = cmp.predict_row(row, estimate=estimate, interval_factors=lambda d: (0.6, 1.7, 0.8), catalog=_Catalog())
    assert c.predicted == pytest.approx(0.5)
    assert c.interval == pytest.approx((0.3, 0.85))
