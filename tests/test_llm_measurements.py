"""Published language-model serving measurements (benchmarks/llm/serving.yaml) and their comparison script.

The schema is exercised on the shipped file and on rows built to break it; the row -> prediction mapping
is checked with a stand-in estimate and a stand-in serving model (no tracing), so that the conversion from
TPOT to tokens/s, the replicas, the interval and the choice of serving-model call are tested on their own;
one row of each serving kind is then run through the real serving model on a small model.
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


def _never(*args, **kwargs):
    raise AssertionError("this row must not reach this model")


def _by_id(rows, prefix):
    return next(r for r in rows if r.id.startswith(prefix))


def test_each_load_maps_to_its_serving_model_call(rows):
    offline = cmp.serving_call(_by_id(rows, "mlperf-v4.1/dgx-h100x8/llama2-70b/offline"))[0]
    assert (offline.method, offline.tp, offline.replicas) == ("max_throughput", 2, 4)
    assert offline.upper_bound and offline.isl == cmp.BOUND_ISL and offline.osl == 290
    assert offline.arguments == {"dtype": "fp8"}  # fp8 weights and math, KV unknown: roofline's default
    server = _by_id(rows, "mlperf-v4.1/dgx-h100x8/llama2-70b/server")
    call = cmp.serving_call(server)[0]
    assert call.method == "at_rate" and call.argument == pytest.approx(server.load_value / 4)
    trt = _by_id(rows, "trtllm-1.0/h100/llama-3.1-8b/fp8/isl128-osl2048")
    call = cmp.serving_call(trt)[0]
    assert (call.method, call.isl, call.osl, call.replicas, call.upper_bound) == ("max_throughput", 128, 2048, 1,
                                                                                   False)
    b200 = cmp.serving_call(_by_id(rows, "mlperf-v5.0/dgx-b200x8/llama2-70b/offline"))[0]
    assert b200.arguments == {"dtype": "fp4", "kv_dtype": "fp8"}  # W4A4 on FP4 tensor cores, NVFP4 weights by default
    mi300 = cmp.serving_call(_by_id(rows, "mlperf-v4.1/8xmi300x/llama2-70b/offline"))[0]
    assert mi300.arguments == {"dtype": "fp8", "kv_dtype": "fp8"} and mi300.replicas == 8
    nim = cmp.serving_call(_by_id(rows, "nim-1.8.0/h100x2"))[0]
    assert (nim.method, nim.argument, nim.tp, nim.isl, nim.osl) == ("at_concurrency", 1.0, 2, 5000, 500)
    vllm = cmp.serving_call(_by_id(rows, "vllm-ci-9515/h200x4"))[0]
    assert (vllm.method, vllm.argument, vllm.tp) == ("estimate", 8.0, 4)
    call, reason = cmp.serving_call(_by_id(rows, "sglang-0.3.0/h100x4"))
    assert call is None and "not published" in reason


class _Point(SimpleNamespace):
    pass


def _batching(step_s=0.05, cmax=100, calls=None):
    """A stand-in ContinuousBatching: ``C / step`` tokens/s, requests/s = C / (osl step), KV limit ``cmax``."""

    class Fake:
        def __init__(self, model, device, *, mix, parallelism, **kwargs):
            self.osl, self.par, self.kwargs = mix.mean_osl, parallelism, kwargs
            if calls is not None:
                calls.append((model, device, mix, parallelism, kwargs))

        def kv_limit(self):
            return SimpleNamespace(max_concurrency=cmax)

        def at_concurrency(self, c, rate=None):
            return _Point(concurrency=c, output_tokens_per_s=c / step_s, requests_per_s=c / (self.osl * step_s),
                          tpot_s=step_s, ttft_s=2 * step_s, bound="memory")

        def max_throughput(self):
            return self.at_concurrency(cmax)

        def at_rate(self, rate):
            return self.at_concurrency(rate * self.osl * step_s, rate)

    return Fake


def test_max_throughput_row_is_a_replica_times_the_replicas_with_the_band_inverted(rows):
    row = _by_id(rows, "trtllm-1.0/h100x2/llama-3.3-70b/fp8/isl1000-osl1000")
    calls = []
    c = cmp.predict_row(row, batching=_batching(0.05, 100, calls), estimate=_never,
                        interval_factors=lambda d: (0.5, 2.0, 0.8), catalog=_Catalog())
    assert c.status == "predicted" and c.predicted == pytest.approx(100 / 0.05)
    assert c.interval == pytest.approx((1000.0, 4000.0)) and c.coverage == 0.8
    model, device, mix, par, kwargs = calls[0]
    assert (model, device, par.tp, par.pp) == (row.model, row.device, 2, 1)
    assert (mix.mean_isl, mix.mean_osl) == (1000, 1000) and kwargs["dtype"] == "fp8"
    assert "kv_dtype" not in kwargs and calls[1][4]["kv_dtype"] == "fp8"  # the variant, KV not published
    assert c.variant["kv_dtype"] == "fp8" and c.variant["ratio"] == pytest.approx(2000 / row.value)


def test_offline_dataset_row_is_an_upper_bound_over_every_replica(rows):
    row = _by_id(rows, "mlperf-v4.1/h200x8/llama2-70b/offline")
    calls = []
    c = cmp.predict_row(row, batching=_batching(0.1, 50, calls), interval_factors=lambda d: None,
                        catalog=_Catalog(), variants=False)
    assert c.status == "upper bound" and "not published" in c.reason
    assert c.predicted == pytest.approx(8 * 50 / 0.1)  # eight TP1 replicas
    assert len(calls) == 1 and calls[0][2].mean_isl == cmp.BOUND_ISL


def test_rate_row_splits_the_rate_over_the_replicas_and_caps_at_the_maximum(rows):
    row = _by_id(rows, "mlperf-v4.1/dgx-h100x8/llama2-70b/server")
    c = cmp.predict_row(row, batching=_batching(0.05, 10_000), interval_factors=lambda d: None,
                        catalog=_Catalog(), variants=False)
    # at 75 / 4 requests/s per replica: C = rate x osl x step, tokens/s = C / step = rate x osl, x 4 replicas
    assert c.predicted == pytest.approx(row.load_value * row.output_tokens)
    assert c.extra["measured_mean_tpot_s"] == pytest.approx(0.154960329)
    assert c.extra["concurrency_per_replica"] == pytest.approx(row.load_value / 4 * row.output_tokens * 0.05)
    capped = cmp.predict_row(row, batching=_batching(0.05, 10), interval_factors=lambda d: None,
                             catalog=_Catalog(), variants=False)
    assert capped.predicted == pytest.approx(4 * 10 / 0.05) and "exceeds" in capped.extra["note"]


def test_concurrency_latency_row_keeps_the_band_as_is(rows):
    row = _by_id(rows, "nim-1.8.0/h100x2")
    c = cmp.predict_row(row, batching=_batching(0.02, 40), interval_factors=lambda d: (0.6, 1.7, 0.8),
                        catalog=_Catalog(), variants=False)
    assert c.status == "predicted" and c.predicted == pytest.approx(0.02)
    assert c.interval == pytest.approx((0.012, 0.034))


def test_fixed_batch_on_several_gpus_is_estimate_with_the_parallelism(rows):
    row = _by_id(rows, "vllm-ci-9515/h200x4")

    def estimate(model, device, **kwargs):
        par = kwargs.pop("parallelism")
        assert (par.tp, par.pp) == (4, 1) and kwargs["batch"] == 8 and kwargs["generate"] == 128
        return SimpleNamespace(metrics={"request_latency_s": 2.0, "tpot_s": 0.015}, tier="datasheet")

    c = cmp.predict_row(row, batching=_never, estimate=estimate, interval_factors=lambda d: (0.5, 1.5, 0.8),
                        catalog=_Catalog())
    assert c.status == "predicted" and c.predicted == 2.0 and c.interval == pytest.approx((1.0, 3.0))


def test_no_serving_row_is_left_pending_and_the_multi_gpu_rows_are_predicted(rows):
    def estimate(model, device, **kwargs):
        return SimpleNamespace(metrics={"request_latency_s": 2.0, "tpot_s": 0.02}, tier="datasheet")

    results = [cmp.predict_row(r, batching=_batching(), estimate=estimate, interval_factors=lambda d: None,
                               catalog=_Catalog(), variants=False) for r in rows if r.kind == "serving"]
    assert all(c.status in ("predicted", "upper bound", "not predicted") for c in results)
    by = {c.id: c for c in results}
    for prefix in ("vllm-ci-9515/h200x4", "nim-1.8.0/h100x2"):
        assert next(c for i, c in by.items() if i.startswith(prefix)).status == "predicted"
    text = cmp.markdown(rows, results)
    for c in results:
        assert f"`{c.id}`" in text


def _c(ratio, status="predicted", interval=None):
    return cmp.Comparison(id="x", kind="serving", device=None, runtime="r", runtime_version="v", metric="m",
                          measured=10.0, status=status, predicted=None if status == "not predicted" else 10.0 * ratio,
                          interval=interval)


def test_summary_counts_only_the_predicted_rows():
    results = [_c(1.2, interval=(5, 20)), _c(0.6, interval=(11, 30)), _c(2.5), _c(1 / 1.4), _c(1.9),
               _c(0.2, "upper bound"), _c(1.0, "not predicted")]
    s = cmp.summary(results)
    assert (s["rows"], s["predicted"], s["upper_bound"], s["not_predicted"]) == (7, 5, 1, 1)
    assert s["within_1_5x"] == 2 and s["within_2x"] == 4  # 1.2, 1/1.4; then 0.6 and 1.9; not 2.5
    assert s["share_within_1_5x"] == pytest.approx(0.4) and s["share_within_2x"] == pytest.approx(0.8)
    assert s["median_ratio"] == pytest.approx(1.2)  # of 0.6, 0.714, 1.2, 1.9, 2.5
    assert (s["with_interval"], s["inside_interval"]) == (2, 1)
    assert "5 of 7 rows predicted: 2 within 1.5x (40%)" in cmp.summary_line(s)


@pytest.fixture(scope="module")
def small_rows(rows):
    """One row of each serving kind on a small model (Llama-3.2-1B), same loads, lengths and layouts."""
    ids = ("trtllm-1.0/h100x2/llama-3.3-70b/fp8/isl1000-osl1000", "mlperf-v4.1/dgx-h100x8/llama2-70b/server",
           "nim-1.8.0/h100x2")
    out = []
    for prefix in ids:
        r = _by_id(rows, prefix)
        out.append(cmp.ServingMeasurement.model_validate({**r.model_dump(), "model": "hf:llama-3.2-1b",
                                                          "input_tokens": 256, "output_tokens": 64}))
    return out


def test_serving_rows_match_the_serving_model_called_directly(small_rows):
    from roofline.catalog import load_catalog
    from roofline.llm.batching import ContinuousBatching, RequestMix
    from roofline.llm.parallel import Parallelism

    catalog = load_catalog()
    top, server, nim = small_rows

    def direct(row):
        return ContinuousBatching(row.model, row.device, mix=RequestMix.fixed(256, 64), dtype="fp8",
                                  parallelism=Parallelism(row.tp, row.pp), tier="datasheet", catalog=catalog)

    c = cmp.predict_row(top, catalog=catalog, variants=False)
    assert c.status == "predicted" and c.predicted == pytest.approx(direct(top).max_throughput().output_tokens_per_s)
    c = cmp.predict_row(server, catalog=catalog, variants=False)
    point = direct(server).at_rate(server.load_value / 4)
    assert c.predicted == pytest.approx(4 * point.output_tokens_per_s)
    assert c.predicted == pytest.approx(server.load_value * 64, rel=1e-6)  # a sustained rate: rate x osl
    assert c.extra["tpot_s"] == pytest.approx(point.tpot_s)
    c = cmp.predict_row(nim, catalog=catalog, variants=False)
    assert c.predicted == pytest.approx(direct(nim).at_concurrency(1).tpot_s)
    assert c.interval[0] < c.predicted < c.interval[1]


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
    assert nvfp4["dtype"] == "fp4" and "weights" not in nvfp4  # W4A4: --dtype fp4 implies NVFP4 weights
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
