"""The roofline predictor: hand-computed cases on a synthetic device, properties, and the catalog."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import roofline
from roofline.catalog import DeviceSpec
from roofline.predict import DeviceUnusable, predict


@pytest.fixture(autouse=True)
def datasheet_defaults(monkeypatch):
    """These hand-derived cases use the documented kind-keyed defaults (docs/methodology.md), not the engine fit."""
    import roofline.predict.engines as engines

    monkeypatch.setattr(engines, "fitted", lambda: None)

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": [
    "compute", "memory", "power", "price"]}]


def synthetic(fp32="1 TFLOPS", bandwidth="100 GB/s", fp16_matrix="4 TFLOPS", capacity="8 GB", kind="gpu",
              **extra) -> DeviceSpec:
    data = {
        "id": "test-chip", "name": "Test chip", "vendor": "test", "kind": kind,
        "compute": {"fp32": {"vector": fp32}, "fp16": {"matrix": fp16_matrix}},
        "memory": {"capacity": capacity, "bandwidth": bandwidth},
        "power": {"tdp": "100 W", "idle": "20 W"},
        "price": {"launch_usd": 1000},
        "sources": SOURCE,
    }
    data.update(extra)
    return DeviceSpec.from_yaml_dict(data)


@pytest.fixture(scope="module")
def matmul_workload():
    return roofline.analyze(nn.Linear(1024, 1024, bias=False), (256, 1024))


@pytest.fixture(scope="module")
def relu_workload():
    return roofline.analyze(nn.ReLU(), (1, 1048576))


def test_compute_bound_op_by_hand(matmul_workload):
    p = predict(matmul_workload, synthetic(), include_ops=True)
    # FLOPs = 2*256*1024*1024 = 536,870,912; eager GPU matmul efficiency 0.60 of 1 TFLOPS
    compute_s = 536_870_912 / (1e12 * 0.60)  # 894.785 us
    # bytes = (256*1024 + 1024*1024 + 256*1024) * 4 = 6,291,456 at 0.75 of 100 GB/s
    memory_s = 6_291_456 / (100e9 * 0.75)  # 83.886 us
    assert p.latency_s == pytest.approx(compute_s + 8e-6, rel=1e-9)  # + 8 us eager GPU per-op overhead
    assert p.latency_s == pytest.approx(902.785e-6, rel=1e-5)
    (op,) = [o for o in p.ops if o.flops]
    assert op.bound == "compute" and op.memory_time_s == pytest.approx(memory_s)
    assert p.bound == "compute" and p.throughput_per_s == pytest.approx(256 / p.latency_s)
    assert p.tier == "datasheet"


def test_memory_bound_op_by_hand(relu_workload):
    p = predict(relu_workload, synthetic(), include_ops=True)
    # 1,048,576 elements read and written: 8,388,608 bytes at 0.75 x 100 GB/s = 111.848 us
    assert p.latency_s == pytest.approx(8_388_608 / 75e9 + 8e-6, rel=1e-9)
    assert p.ops[0].bound == "memory" and p.bound == "memory"
    sol = predict(relu_workload, synthetic(), tier="sol")
    assert sol.latency_s == pytest.approx(8_388_608 / 100e9)  # 100 % of bandwidth, no overhead
    assert sol.tier == "speed-of-light"


def test_small_model_end_to_end_by_hand():
    model = nn.Sequential(nn.Linear(1024, 1024, bias=False), nn.ReLU())
    w = roofline.analyze(model, (256, 1024))
    eager = predict(w, synthetic())
    mm = 536_870_912 / 0.6e12 + 8e-6
    relu = max(262_144 / 0.5e12, 2 * 262_144 * 4 / 75e9) + 8e-6
    assert eager.latency_s == pytest.approx(mm + relu, rel=1e-9)
    compiled = predict(w, synthetic(), runtime="compiled")
    # compiled: 0.75 matmul efficiency, 0.85 memory efficiency, 3 us per op, and the matmul output
    # is fused into the relu (neither written by the matmul nor read by the relu)
    mm_c = max(536_870_912 / 0.75e12, (6_291_456 - 1_048_576) / 85e9) + 3e-6
    relu_c = max(262_144 / 0.6e12, 1_048_576 / 85e9)  # fused into the matmul's kernel: no launch of its own
    assert compiled.latency_s == pytest.approx(mm_c + relu_c, rel=1e-9)
    # energy: E = t x (P_idle + (P_max - P_idle) x u), u = max(compute, bandwidth utilisation)
    u = max(eager.compute_utilization, eager.bandwidth_utilization)
    assert eager.energy_j == pytest.approx(eager.latency_s * (20 + 80 * u))
    assert eager.energy.inferences_per_kwh == pytest.approx(3.6e6 / (eager.energy_j / 256))


def test_cache_level_bandwidth_is_used_when_the_working_set_fits(relu_workload):
    fast_cache = synthetic(memory={"capacity": "8 GB", "bandwidth": "100 GB/s", "caches": [
        {"level": "L2", "size": "64 MiB", "bandwidth": "1 TB/s"}]})
    p = predict(relu_workload, fast_cache, include_ops=True)
    assert p.ops[0].memory_level == "L2"
    assert p.latency_s == pytest.approx(8_388_608 / 0.75e12 + 8e-6)


def test_dtype_fallback_is_reported():
    w = roofline.analyze(nn.Linear(64, 64), (8, 64), dtype="bf16")
    p = predict(w, synthetic())  # no bf16 on the test chip: fp16 matrix path
    assert any("no native bf16" in n for n in p.notes)
    cpu_like = synthetic(compute={"fp32": {"vector": "1 TFLOPS"}})
    p2 = predict(w, cpu_like)
    assert any("runs at the fp32 rate" in n for n in p2.notes)


def test_device_without_a_path_for_the_dtype_is_unusable():
    w = roofline.analyze(nn.Linear(64, 64), (8, 64))
    npu = synthetic(kind="accelerator", compute={"int8": {"matrix": "4 TOPS"}})
    with pytest.raises(DeviceUnusable) as info:
        predict(w, npu, runtime="compiled")
    assert info.value.category == "dtype" and "--dtype int8" in str(info.value)
    with pytest.raises(DeviceUnusable) as info:
        predict(w, npu, runtime="eager")
    assert info.value.category == "runtime"


def test_memory_fit_and_unified_reserve():
    w = roofline.analyze(nn.Linear(64, 64), (8, 64))
    p = predict(w, synthetic(capacity="2 GB", memory={"capacity": "2 GB", "bandwidth": "10 GB/s", "unified": True}))
    assert p.memory.available_bytes == pytest.approx(2e9 * 0.75)
    assert p.memory.fits is True
    assert p.memory.required_bytes == w.weight_bytes + w.peak_activation_bytes + 512 * 2**20


def test_no_power_figure_gives_no_energy(matmul_workload):
    device = synthetic(power={})
    device = DeviceSpec.from_yaml_dict({**device.to_yaml_dict(), "power": {}})
    p = predict(matmul_workload, device)
    assert p.energy_j is None and p.energy.method == "unavailable"


# ------------------------------------------------------------------ properties

_rates = st.floats(min_value=1e9, max_value=1e15)
_bws = st.floats(min_value=1e8, max_value=1e13)


@settings(max_examples=40, deadline=None)
@given(fp32=_rates, bandwidth=_bws, factor=st.floats(min_value=1.0, max_value=100.0))
def test_more_flops_or_bandwidth_never_slower(matmul_workload, fp32, bandwidth, factor):
    base = predict(matmul_workload, synthetic(fp32=f"{fp32} FLOPS", bandwidth=f"{bandwidth} B/s"))
    faster_compute = predict(matmul_workload, synthetic(fp32=f"{fp32 * factor} FLOPS", bandwidth=f"{bandwidth} B/s"))
    faster_memory = predict(matmul_workload, synthetic(fp32=f"{fp32} FLOPS", bandwidth=f"{bandwidth * factor} B/s"))
    assert faster_compute.latency_s <= base.latency_s * (1 + 1e-12)
    assert faster_memory.latency_s <= base.latency_s * (1 + 1e-12)
    # energy = latency x power, the power between the idle figure and the TDP (synthetic: 100 W, idle 30 % of it)
    assert base.energy.power_w == pytest.approx(base.energy_j / base.latency_s)
    assert base.energy.idle_w <= base.energy.power_w <= base.energy.load_w


@settings(max_examples=15, deadline=None)
@given(small=st.integers(min_value=1, max_value=8), extra=st.integers(min_value=0, max_value=8))
def test_flops_scale_linearly_with_batch(small, extra):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    a = roofline.analyze(model, (small, 3, 8, 8))
    b = roofline.analyze(model, (small + extra, 3, 8, 8))
    # every op here is per sample: FLOPs and MACs are exactly proportional to the batch
    assert b.flops * small == a.flops * (small + extra)
    assert b.macs * small == a.macs * (small + extra)
    assert a.macs == small * (8 * 6 * 6 * 3 * 3 * 3 + 8 * 6 * 6 * 10)  # conv + linear, by hand
    p = predict(b, synthetic())
    assert p.energy_j == pytest.approx(p.latency_s * p.energy.power_w)


# ------------------------------------------------------------------ catalog sanity

@pytest.fixture(scope="module")
def catalog():
    from roofline.catalog import load_catalog

    return load_catalog()


def test_resnet50_rank_order_is_sane(catalog):
    w = roofline.analyze(roofline.load_model("resnet50").model, (1, 3, 224, 224))
    result = roofline.rank(w, catalog)
    ids = [r.estimate.device for r in result.ranked]
    # the fastest at batch 1 are datacenter parts with HBM
    assert all("HBM" in (catalog.get(i).memory.type or "") for i in ids[:3]), ids[:3]
    pis = [i for i in ids if i.startswith("raspberry-pi")]
    assert pis and ids[-len(pis):] == pis or set(ids[-2:]) <= set(pis) | {"nvidia-jetson-nano"}
    ranked = [r.estimate for r in result.ranked]
    priced = [p for p in ranked if p.price_usd is not None]
    assert priced and all(p.energy_j is not None for p in ranked if p.tdp_w is not None)
    for excluded in result.excluded:
        assert excluded.category and excluded.detail


def test_70b_fp16_excludes_every_device_below_140_gb(catalog):
    import torch

    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(32768, 32768, bias=False) for _ in range(66)])  # 70.9 B parameters
    w = roofline.analyze(model, (1, 32768), dtype="fp16")
    assert w.weight_bytes == 66 * 32768 * 32768 * 2 > 140e9
    result = roofline.rank(w, catalog)
    excluded = {e.device: e for e in result.excluded}
    for device in catalog:
        capacity = device.memory.capacity_bytes
        if capacity is not None and capacity < 140e9:
            assert device.id in excluded, device.id
            if excluded[device.id].category == "memory":
                assert "needs" in excluded[device.id].detail and "has" in excluded[device.id].detail
    assert all(r.estimate.memory.fits is not False for r in result.ranked)
    assert any(e.category == "memory" for e in result.excluded)


def record(**fields):
    """A calibration record with the required facts filled in (roofline.catalog.calibration)."""
    from roofline.catalog.calibration import SCHEMA

    classes = {k: {"op_class": k.split("/")[0], "dtype": k.split("/")[1], **v}
               for k, v in fields.pop("op_classes", {}).items()}
    host = {"cpu_model": "test", "logical_cpus": 1, "threads": 1, "torch_version": "2.14.1",
            "date_utc": "2026-01-01T00:00:00+00:00"}
    return {"schema": SCHEMA, "roofline_version": "0.1.0", "device": "cpu", "threads": 1, "plan": "quick",
            "host": host, **fields, "op_classes": classes}


def test_calibrated_tier_uses_measured_class_parameters(matmul_workload, relu_workload):
    block = {"eager": record(
        overhead_s=5e-6,
        memory_levels=[
            {"name": "L2", "max_working_set_bytes": 1 << 20, "bandwidth_bytes_per_s": 200e9},
            {"name": "DRAM", "max_working_set_bytes": None, "bandwidth_bytes_per_s": 20e9},
        ],
        op_classes={
            "matmul/fp32": {"peak_flops_per_s": 100e9, "bandwidth_fraction": None, "overhead_s": 20e-6},
            "elementwise/fp32": {"peak_flops_per_s": None, "bandwidth_fraction": 0.5, "overhead_s": 3e-6},
        },
    )}
    device = DeviceSpec.from_yaml_dict({**synthetic().to_yaml_dict(), "calibration": block})
    p = predict(matmul_workload, device)
    assert p.tier == "calibrated"
    # 536,870,912 FLOPs at the measured 100 GFLOP/s + the class's 20 us fixed cost; its 6.3 MB
    # stream from DRAM at 20 GB/s (no measured fraction: 1.0) take 315 us < 5,369 us
    assert p.latency_s == pytest.approx(536_870_912 / 100e9 + 20e-6)
    r = predict(relu_workload, device)
    # 8,388,608 bytes > 1 MiB: DRAM at 0.5 x 20 GB/s, + 3 us
    assert r.latency_s == pytest.approx(8_388_608 / 10e9 + 3e-6)
    assert predict(relu_workload, device, tier="datasheet").tier == "datasheet"


def test_calibrated_power_weights_the_latency_by_where_it_goes(matmul_workload, relu_workload):
    power = {"method": "rapl", "idle_w": 10.0, "compute_w": 60.0, "memory_w": 40.0, "load_w": 60.0}
    block = {"eager": record(overhead_s=5e-6,
                             memory_levels=[{"name": "DRAM", "max_working_set_bytes": None,
                                             "bandwidth_bytes_per_s": 20e9}],
                             op_classes={"matmul/fp32": {"peak_flops_per_s": 100e9, "overhead_s": 20e-6}},
                             power=power)}
    for kind, overhead_w in (("cpu", 40.0), ("gpu", 10.0)):
        device = DeviceSpec.from_yaml_dict({**synthetic(kind=kind).to_yaml_dict(), "calibration": block})
        for workload in (matmul_workload, relu_workload):
            p = predict(workload, device)
            expected_w = p.compute_bound_share * 60.0 + p.memory_bound_share * 40.0 + p.overhead_share * overhead_w
            assert p.energy.method == "calibrated"
            assert p.energy.power_w == pytest.approx(expected_w)
            assert p.energy_j == pytest.approx(p.latency_s * expected_w)
    # the GEMM is compute-bound (5.4 ms at 100 GFLOP/s): nearly all of it at the GEMM's power
    assert predict(matmul_workload, device).energy.power_w == pytest.approx(60.0, rel=0.01)
    # without compute/memory figures (an older block) the idle/load utilisation model is used
    old = {"eager": {**block["eager"], "power": {"method": "rapl", "idle_w": 10.0, "load_w": 60.0}}}
    device = DeviceSpec.from_yaml_dict({**synthetic().to_yaml_dict(), "calibration": old})
    p = predict(matmul_workload, device)
    u = max(p.compute_utilization, p.bandwidth_utilization)
    assert p.energy.method == "calibrated" and p.energy.power_w == pytest.approx(10.0 + 50.0 * u)


def test_calibrated_host_without_datasheet_peaks_uses_measured_ones(matmul_workload):
    block = {"eager": record(overhead_s=5e-6,
                             memory_levels=[{"name": "DRAM", "max_working_set_bytes": None,
                                             "bandwidth_bytes_per_s": 20e9}],
                             op_classes={"matmul/fp32": {"peak_flops_per_s": 80e9, "overhead_s": 1e-6}})}
    host = DeviceSpec.from_yaml_dict({"id": "host-x", "name": "host", "vendor": "x", "kind": "cpu",
                                      "sources": SOURCE, "calibration": block})
    p = predict(matmul_workload, host)
    assert p.latency_s == pytest.approx(536_870_912 / 80e9 + 1e-6)
    with pytest.raises(DeviceUnusable):
        predict(matmul_workload, host, tier="datasheet")


def test_yolo11n_rank_order_is_sane(catalog):
    pytest.importorskip("ultralytics")
    built = roofline.load_model("ultralytics:yolo11n.yaml")
    w = roofline.analyze(built.model, (1, 3, 640, 640), name="yolo11n")
    ranked = [r.estimate for r in roofline.rank(w, catalog).ranked]
    kinds = [p.kind for p in ranked]
    assert kinds[:5] == ["gpu"] * 5
    slowest = [p.device for p in ranked[-3:]]
    assert any(d.startswith("raspberry-pi") for d in slowest)
    assert all(p.energy_j is not None for p in ranked if p.tdp_w is not None)
    assert any(p.price_usd is not None for p in ranked)
