"""The execution model keyed by compute engine: classification, the fitted file, and an op by hand."""
import pytest
from torch import nn

import roofline
from roofline.catalog import DeviceSpec, load_catalog
from roofline.predict.efficiency import Runtime
from roofline.predict.engines import device_class, engine_of, execution_from, fitted, param_names

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
    compute = flops / (1e12 * params["eager/gpu/matmul"] * shape)
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


def test_npu_graphs_run_epilogues_in_the_kernel_dtype_and_leave_the_rest_to_the_host():
    e = roofline.estimate("resnet50", "hailo-8-m2", dtype="int8", runtime="compiled")
    p = e.prediction
    assert 0 < p.host_share < 0.5  # the final mean pooling stays fp32: host; batch norms run in the convs
    assert any("run on the host" in n for n in p.notes)
