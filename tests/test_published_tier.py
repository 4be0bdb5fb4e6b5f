"""Published measurements per device (the ``published:`` block) and the ``published`` tier that uses them."""
import pytest
from torch import nn

import roofline
from roofline.catalog import DeviceSpec, load_catalog
from roofline.predict.efficiency import ExecutionModel, Runtime, Tier, parse_tier
from roofline.predict.model import DeviceUnusable, predict
from roofline.workload.types import OpClass

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "compute_units", "memory"]}]
GEMM = {"dtype": "bf16", "value": "800 TFLOPS", "shape": "2048x2048x8192", "library": "cuBLAS",
        "runtime": "torch 2.7.0+cu126", "tool": "mamf-finder.py", "source": "https://example.org/mamf",
        "uncertain": "best shape of a partial search"}
BANDWIDTH = {"value": "2.8 TB/s", "test": "STREAM triad", "tool": "gpu-stream", "source": "https://example.org/stream",
             "uncertain": "ECC state not stated"}


def device(published=None, **extra):
    data = {"id": "test-gpu", "name": "Test GPU", "vendor": "test", "kind": "gpu",
            "compute_units": 100, "compute_unit_name": "SM",
            "compute": {"fp32": {"vector": "60 TFLOPS"}, "bf16": {"matrix": "1000 TFLOPS"}},
            "memory": {"capacity": "80 GiB", "bandwidth": "3.35 TB/s"}, "sources": SOURCE, **extra}
    if published is not None:
        data["published"] = published
    return DeviceSpec.from_yaml_dict(data)


# ------------------------------------------------------------------ schema

def test_a_published_block_parses_into_si_figures_and_round_trips():
    d = device({"gemm": [GEMM, {**GEMM, "value": "820 TFLOPS"}], "bandwidth": [BANDWIDTH]})
    assert d.published.gemm_flops_per_s("bfloat16") == pytest.approx(820e12)  # the highest entry of the dtype
    assert d.published.gemm_flops_per_s("fp16") is None
    assert d.published.bandwidth_bytes_per_s == pytest.approx(2.8e12)
    assert d.published.dtypes == ("bf16",) and d.published.present
    assert DeviceSpec.from_yaml_dict(d.to_yaml_dict()) == d


@pytest.mark.parametrize("entry,kind,message", [
    ({**GEMM, "value": 800e12}, "gemm", "bare number"),
    ({**GEMM, "value": "800 GB/s"}, "gemm", "FLOP rate"),
    ({**GEMM, "value": "-800 TFLOPS"}, "gemm", "positive"),
    ({k: v for k, v in GEMM.items() if k != "value"}, "gemm", "needs its value"),
    ({k: v for k, v in GEMM.items() if k != "source"}, "gemm", "source"),
    ({**GEMM, "source": "a blog post"}, "gemm", "http"),
    ({**GEMM, "dtype": "bfloat17"}, "gemm", "unknown dtype"),
    ({k: v for k, v in GEMM.items() if k != "uncertain"}, "gemm", "uncertain"),
    ({**BANDWIDTH, "value": "2.8 TFLOPS"}, "bandwidth", "bandwidth"),
    ({**BANDWIDTH, "value": "0 TB/s"}, "bandwidth", "positive"),
    ({k: v for k, v in BANDWIDTH.items() if k != "test"}, "bandwidth", "test"),
    ({**BANDWIDTH, "sustained": "yes"}, "bandwidth", "sustained"),
])
def test_bad_published_entries_are_refused(entry, kind, message):
    with pytest.raises(Exception) as info:
        device({kind: [entry]})
    assert message in str(info.value)


def test_the_built_in_catalog_has_published_figures_each_sourced_and_below_the_datasheet():
    catalog = load_catalog()
    with_figures = [d for d in catalog if d.published.present]
    assert len(with_figures) >= 25
    for d in with_figures:
        for g in d.published.gemm:
            assert g.source.startswith("https://") and g.tool and g.uncertain
            peak = d.peak_flops_per_s(g.dtype)  # the best dense rate (fp32 GEMM runs on vector units)
            assert peak is not None and g.flops_per_s <= peak, (d.id, g.dtype)  # attainable, never above the peak
        for b in d.published.bandwidth:
            assert b.source.startswith("https://") and b.test and b.uncertain
            if d.memory.bandwidth_bytes_per_s is not None:  # a board may have no datasheet figure at all
                assert b.bandwidth_bytes_per_s <= d.memory.bandwidth_bytes_per_s, d.id


# ------------------------------------------------------------------ the tier

def unit(tier):
    def make(device, runtime):
        return ExecutionModel(runtime, tier, {c: 1.0 for c in OpClass}, 1.0, 0.0, fused_bytes=False)
    return make


def test_published_tier_sits_between_datasheet_and_calibrated():
    assert parse_tier("published") is Tier.PUBLISHED
    order = [t.value for t in Tier]
    assert order.index("datasheet") < order.index("published") < order.index("calibrated")
    with pytest.raises(Exception, match="published"):
        parse_tier("measured")


def test_published_gemm_replaces_the_peak_of_matmuls_of_that_dtype_only():
    d = device({"gemm": [GEMM]})
    gemm = roofline.analyze(nn.Linear(4096, 4096, bias=False), (4096, 4096), dtype="bf16")
    ds = predict(gemm, d, tier="datasheet", execution=unit(Tier.DATASHEET), include_ops=True)
    pub = predict(gemm, d, tier="published", execution=unit(Tier.PUBLISHED), include_ops=True)
    mm_ds = next(o for o in ds.ops if o.op_class == "matmul")
    mm_pub = next(o for o in pub.ops if o.op_class == "matmul")
    assert mm_pub.compute_time_s / mm_ds.compute_time_s == pytest.approx(
        d.peak_flops_per_s("bf16") / d.published.gemm_flops_per_s("bf16"))
    assert pub.tier == "published" and any("measured bf16 GEMM" in n for n in pub.notes)
    fp32 = roofline.analyze(nn.Linear(4096, 4096, bias=False), (4096, 4096))
    a = predict(fp32, d, tier="datasheet", execution=unit(Tier.DATASHEET))
    b = predict(fp32, d, tier="published", execution=unit(Tier.PUBLISHED))
    assert b.latency_s == pytest.approx(a.latency_s)  # no fp32 figure published: the datasheet peak stays
    assert any("datasheet peak for fp32" in n for n in b.notes)


def test_published_bandwidth_replaces_main_memory_bandwidth():
    d = device({"bandwidth": [BANDWIDTH]})
    w = roofline.analyze(nn.ReLU(), (64, 1024, 1024))
    ds = predict(w, d, tier="datasheet", execution=unit(Tier.DATASHEET))
    pub = predict(w, d, tier="published", execution=unit(Tier.PUBLISHED))
    assert ds.bandwidth_bytes_per_s == pytest.approx(d.memory.bandwidth_bytes_per_s)
    assert pub.bandwidth_bytes_per_s == pytest.approx(d.published.bandwidth_bytes_per_s)
    assert pub.latency_s / ds.latency_s == pytest.approx(3.35 / 2.8, rel=1e-6)


def test_a_board_without_a_datasheet_bandwidth_becomes_predictable_with_a_published_one():
    data = {"id": "test-board", "name": "Test board", "vendor": "test", "kind": "sbc", "compute_units": 4,
            "compute_unit_name": "core", "compute": {"fp32": {"vector": "100 GFLOPS"}},
            "memory": {"capacity": "8 GiB"}, "sources": SOURCE}
    w = roofline.analyze(nn.ReLU(), (1, 64, 256, 256))
    with pytest.raises(DeviceUnusable, match="bandwidth"):
        predict(w, DeviceSpec.from_yaml_dict(data), tier="datasheet")
    board = DeviceSpec.from_yaml_dict({**data, "published": {"bandwidth": [{**BANDWIDTH, "value": "20 GB/s"}]}})
    p = predict(w, board, execution=unit(Tier.PUBLISHED))
    assert p.tier == "published" and p.bandwidth_bytes_per_s == pytest.approx(20e9)
    assert p.latency_s == pytest.approx(2 * 64 * 256 * 256 * 4 / 20e9)  # read + write of the fp32 tensor


def test_published_tier_is_opt_in_the_default_stays_datasheet():
    # leave-one-device-out the published tier was worse on Jetson rows and no better overall
    # (docs/accuracy.md), and a ranking must not mix tiers by default
    w = roofline.analyze(nn.Linear(256, 256), (8, 256))
    assert predict(w, device({"bandwidth": [BANDWIDTH]})).tier == "datasheet"
    assert predict(w, device({"bandwidth": [BANDWIDTH]}), tier="published").tier == "published"
    assert predict(w, device()).tier == "datasheet"
    assert predict(w, device({"bandwidth": [BANDWIDTH]}), tier="datasheet").tier == "datasheet"


def test_calibration_still_wins_over_published_figures():
    from roofline.catalog.calibration import SCHEMA

    host = {"cpu_model": "test", "logical_cpus": 1, "threads": 1, "torch_version": "2.14.1",
            "date_utc": "2026-01-01T00:00:00+00:00"}
    record = {"schema": SCHEMA, "roofline_version": "0.1.0", "device": "cpu", "threads": 1, "plan": "quick",
              "host": host, "overhead_s": 5e-6, "op_classes": {}}
    both = device({"bandwidth": [BANDWIDTH]}, calibration={"eager": record})
    w = roofline.analyze(nn.Linear(256, 256), (8, 256))
    assert predict(w, both).tier == "calibrated"
    assert predict(w, both, tier="published").tier == "published"
    assert predict(w, both, runtime="compiled").tier == "datasheet"  # no compiled calibration: the default below it


def test_tier_published_without_figures_is_refused_for_predict_and_excluded_with_a_reason_in_rank():
    w = roofline.analyze(nn.Linear(256, 256), (8, 256))
    with pytest.raises(DeviceUnusable) as info:
        predict(w, device(), tier="published")
    assert info.value.category == "missing spec" and "no published measurements" in info.value.detail
    result = roofline.rank(w, [device(), device({"bandwidth": [BANDWIDTH]}, id="test-gpu-2")], tier="published")
    assert [r.estimate.device for r in result.ranked] == ["test-gpu-2"]
    assert [(e.device, e.category) for e in result.excluded] == [("test-gpu", "missing spec")]


def test_cli_tier_published_on_a_device_without_figures_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("predict", "resnet18", "--device", "nvidia-a10", "--tier", "published")
    assert code == 2 and err.startswith("error: ") and "no published measurements" in err
    assert len(err.strip().splitlines()) == 1


def test_published_predictions_carry_the_tiers_interval_when_a_fit_is_shipped():
    from roofline.predict import published

    assert published.fitted() is not None  # roofline/predict/published_fit.yaml ships with the package
    catalog = load_catalog()
    d = next(d for d in catalog if d.published.bandwidth and d.kind == "gpu")
    e = roofline.estimate(roofline.analyze(nn.Linear(1024, 1024), (64, 1024)), d, tier="published")
    assert e.tier == "published"
    low, high = e.latency_interval_s
    factors = published.interval_factors(d)
    assert low == pytest.approx(e.latency_s * factors[0]) and high == pytest.approx(e.latency_s * factors[1])


def test_the_published_fit_is_global_per_runtime_and_engine():
    from roofline.predict import published
    from roofline.predict.engines import param_names

    data = published.fitted()
    if data is None:
        pytest.skip("no published_fit.yaml shipped")
    assert set(data["parameters"]) == set(param_names())  # the same global names: none per device or model
    catalog = load_catalog()
    d = catalog.get(data["devices"][0])
    model = published.published_execution(d, Runtime.EAGER)
    assert model.tier is Tier.PUBLISHED


def test_validate_corpus_in_the_published_tier_predicts_rows_of_devices_with_figures_only(run_cli, tmp_path):
    import json

    import yaml

    from roofline.corpus import CORPUS_DIR

    rows = yaml.safe_load((CORPUS_DIR / "edge.yaml").read_text())
    catalog = load_catalog()
    pick = [next(r for r in rows if r["device"] == "raspberry-pi-4b" and r["runtime"] == "eager"),
            next(r for r in rows if r["device"] == "nvidia-jetson-orin-nx-16gb" and r["runtime"] == "eager")]
    assert catalog.get(pick[0]["device"]).published.present and not catalog.get(pick[1]["device"]).published.present
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(pick, sort_keys=False))
    code, out, err = run_cli("validate", "--corpus", str(path), "--tier", "published", "--json")
    assert code == 0, err
    by_device = {r["device"]: r for r in json.loads(out)["rows"]}
    assert by_device["raspberry-pi-4b"]["status"] == "ok" and by_device["raspberry-pi-4b"]["tier"] == "published"
    assert by_device["nvidia-jetson-orin-nx-16gb"]["status"] == "not predicted"
    assert "no published measurements" in by_device["nvidia-jetson-orin-nx-16gb"]["detail"]


def test_devices_show_prints_the_published_figures_with_how_they_were_taken(run_cli):
    code, out, err = run_cli("devices", "show", "nvidia-h100-sxm")
    assert code == 0, err
    assert "published measurements" in out and "GEMM bf16" in out and "794.5 TFLOPS" in out and "mamf-finder" in out
