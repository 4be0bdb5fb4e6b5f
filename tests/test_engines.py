"""The execution model keyed by compute engine: classification, the fitted file, and an op by hand."""
import pytest
from torch import nn

import roofline
from roofline.catalog import DeviceSpec, load_catalog
from roofline.predict.efficiency import Runtime
from roofline.predict import engines
from roofline.predict.engines import (
    REFERENCE_HOST_CLOCK_HZ,
    device_class,
    engine_of,
    execution_from,
    fitted,
    host_dispatch_factor,
    param_names,
    simd_utilisation,
    vector_lanes,
    wave_quantisation,
)

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "compute_units", "memory", "power"]}]


@pytest.mark.parametrize("device,engine,cls", [
    ("nvidia-h100-sxm", "gpu", "gpu"), ("nvidia-jetson-orin-nano-8gb", "gpu", "edge-gpu"),
    ("raspberry-pi-5", "cpu", "edge-cpu"), ("intel-xeon-platinum-8480p", "cpu", "cpu"),
    ("hailo-8-m2", "npu", "npu"),
])
def test_engines_are_keyed_by_what_computes_not_by_form_factor(device, engine, cls):
    d = load_catalog().get(device)
    assert engine_of(d) == engine and device_class(d) == cls


def test_the_shipped_fit_has_every_global_parameter_and_intervals():
    data = fitted()
    assert data is not None and set(param_names()) <= set(data["parameters"])
    assert len(param_names()) <= 40  # global numbers only: none per device or per model
    for cls in ("gpu", "edge-gpu", "edge-cpu", "cpu", "npu"):
        low, high = data["intervals"][cls]["low"], data["intervals"][cls]["high"]
        assert 0 < low < high
    assert data["interval_coverage"] == 0.8


def test_a_matmul_on_the_engine_model_by_hand():
    device = DeviceSpec.from_yaml_dict({"id": "test-gpu", "name": "Test GPU", "vendor": "test", "kind": "gpu",
                                        "compute_units": 10, "compute_unit_name": "SM",
                                        "compute": {"fp32": {"vector": "1 TFLOPS"}},
                                        "memory": {"capacity": "8 GB", "bandwidth": "100 GB/s"}, "sources": SOURCE})
    params = fitted()["parameters"]
    w = roofline.analyze(nn.Linear(1024, 1024, bias=False), (256, 1024))
    p = roofline.predict(w, device, tier="datasheet")
    flops = 2 * 256 * 1024 * 1024
    per_unit = flops / 10
    shape = per_unit / (per_unit + params["eager/gpu/saturation"])
    # with GPU tile and wave quantisation (off: docs/accuracy.md) the 256 x 1024 output on 10 SMs would also pay
    # 64 / 70 (64 tiles of 64 x 64 in 7 waves of 10)
    waves = 64 / 70 if engines.GPU_WAVES else 1.0
    compute = flops / (1e12 * params["eager/gpu/matmul"] * shape * waves)
    memory = (256 * 1024 * 2 + 1024 * 1024) * 4 / (100e9 * params["eager/gpu/memory"])
    assert p.latency_s == pytest.approx(max(compute, memory) + params["eager/gpu/overhead"], rel=1e-9)
    assert p.engine == "gpu"
    e = roofline.estimate(w, device)
    low, high = e.latency_interval_s
    assert low == pytest.approx(e.latency_s * fitted()["intervals"]["gpu"]["low"]) and high > e.latency_s
    assert e.interval_coverage == 0.8


def test_boards_pay_the_embedded_host_factor_on_each_op():
    catalog = load_catalog()
    params = fitted()["parameters"]
    board = execution_from(params, catalog.get("nvidia-jetson-orin-nano-8gb"), Runtime.COMPILED)
    gpu = execution_from(params, catalog.get("nvidia-l4"), Runtime.COMPILED)
    assert board.overhead_s == pytest.approx(gpu.overhead_s * params["compiled/embedded_host"])
    assert board.compute_efficiency == gpu.compute_efficiency


def test_cpu_dispatch_scales_with_the_issuing_core_clock():
    catalog = load_catalog()
    params = fitted()["parameters"]
    pi4 = catalog.get("raspberry-pi-4b")  # 1.5 GHz Cortex-A72: twice the reference core's per-op cost
    assert host_dispatch_factor(pi4) == pytest.approx(REFERENCE_HOST_CLOCK_HZ / 1.5e9)
    model = execution_from(params, pi4, Runtime.EAGER)
    assert model.overhead_s == pytest.approx(params["eager/cpu/overhead"] * params["eager/embedded_host"]
                                             * REFERENCE_HOST_CLOCK_HZ / 1.5e9)
    assert host_dispatch_factor(catalog.get("nvidia-l4")) == 1.0  # a GPU's host is not in the catalog


def test_wave_and_simd_quantisation_by_hand():
    import numpy as np

    # 108 SMs (an A100), a 1792 x 1792 output: 256 x 128 tiles give 7 x 14 = 98 tiles in one wave (98 / 108
    # useful), the example of NVIDIA's guide; 64 x 64 tiles give 784 in 8 waves (784 / 864, the same share)
    assert wave_quantisation(np.array([1792.0]), np.array([1792.0]), 108)[0] == pytest.approx(98 / 108)
    # 1800 x 1792: 256 x 128 needs 8 x 14 = 112 tiles, two waves for 4 tiles too many (0.46 useful); 128 x 256
    # tiles (15 x 7 = 105) fit one wave: 1800 x 1792 / (108 x 128 x 256) is the best
    assert wave_quantisation(np.array([1800.0]), np.array([1792.0]), 108)[0] == pytest.approx(
        1800 * 1792 / (108 * 128 * 256))
    assert wave_quantisation(np.array([0.0]), np.array([5.0]), 108)[0] == 1.0  # unknown shape: no term
    assert list(simd_utilisation(np.array([3.0, 16.0, 20.0]), 8)) == pytest.approx([3 / 8, 1.0, 20 / 24])
    # Zen 4: 32 fp32 FLOP per cycle per core = 2 FMA pipes x 8 lanes x 2 FLOP
    assert vector_lanes(load_catalog().get("amd-epyc-9654")) == 8


def test_a_depthwise_convolution_runs_at_the_vector_rate_on_a_gpu():
    device = DeviceSpec.from_yaml_dict({"id": "test-gpu", "name": "Test GPU", "vendor": "test", "kind": "gpu",
                                        "compute_units": 1, "compute_unit_name": "SM",
                                        "compute": {"fp16": {"vector": "1 TFLOPS", "matrix": "8 TFLOPS"}},
                                        "memory": {"capacity": "8 GB", "bandwidth": "100 TB/s"}, "sources": SOURCE})
    dense = roofline.analyze(nn.Conv2d(64, 64, 3, padding=1, bias=False), (1, 64, 64, 64), dtype="fp16")
    depthwise = roofline.analyze(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), (1, 64, 64, 64),
                                 dtype="fp16")
    terms_dense = engines.op_terms(dense, device).compute_scale
    terms_dw = engines.op_terms(depthwise, device).compute_scale
    # one SM: the tile term is the padding of the 4096 x 64 output only, the same for both convolutions
    assert terms_dw[0] == pytest.approx(terms_dense[0] / 8)


def test_npu_weights_beyond_the_on_chip_memory_stream_over_the_host_link():
    spec = {"id": "test-npu", "name": "Test NPU", "vendor": "test", "kind": "accelerator", "compute_units": 1,
            "compute_unit_name": "array", "compute": {"int8": {"matrix": "4 TOPS"}},
            "memory": {"caches": [{"level": "SRAM", "size": "1 MB"}]},
            "host_link": {"bandwidth": "500 MB/s"},
            "sources": [{**SOURCE[0], "fields": SOURCE[0]["fields"] + ["host_link"]}]}
    device = DeviceSpec.from_yaml_dict(spec)
    w = roofline.analyze(nn.Sequential(nn.Linear(1000, 1000, bias=False), nn.Linear(1000, 3000, bias=False)),
                         (1, 1000), dtype="int8")
    terms = engines.op_terms(w, device)
    # 1 MB + 3 MB of int8 weights: the first layer fills the 1 MB, all of the second streams
    weights = [b for b in terms.memory_bytes]
    assert sum(weights) == pytest.approx(3e6 + 1000 + 3000)  # + the int8 input and output
    unbounded = DeviceSpec.from_yaml_dict({**spec, "memory": {}})
    assert sum(engines.op_terms(w, unbounded).memory_bytes) == pytest.approx(1000 + 3000)


def test_npu_graphs_run_epilogues_in_the_kernel_dtype_and_leave_the_rest_to_the_host():
    e = roofline.estimate("resnet50", "hailo-8-m2", dtype="int8", runtime="compiled")
    p = e.prediction
    assert 0 < p.host_share < 0.5  # the final mean pooling stays fp32: host; batch norms run in the convs
    assert any("run on the host" in n for n in p.notes)
