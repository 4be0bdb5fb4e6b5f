"""Regression tests of defects found while reading the code, one each (every one failed before its fix)."""
import json

import pytest
from pydantic import ValidationError
import torch
from torch import nn

import roofline
from roofline.catalog import DeviceSpec
from roofline.errors import RooflineError
from roofline.workload import formulas

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "memory", "power"]}]


def _device(**extra) -> DeviceSpec:
    data = {"id": "test-cpu", "name": "Test CPU", "vendor": "test", "kind": "cpu",
            "compute": {"fp32": {"vector": "1 TFLOPS"}}, "memory": {"capacity": "8 GB", "bandwidth": "100 GB/s"},
            "power": {"tdp": "100 W", "idle": "20 W"}, "sources": SOURCE}
    data.update(extra)
    return DeviceSpec.from_yaml_dict(data)


@pytest.mark.parametrize("op", ["mkldnn_convolution", "cudnn_convolution", "_slow_conv2d_forward"])
def test_backend_convolutions_count_a_strided_conv_over_its_output(op):
    """mkldnn_convolution's 7th argument is groups and cudnn_convolution's is benchmark; read as `transposed`
    they made a strided conv count over its input size (4x too many MACs at stride 2)."""
    x = torch.empty(1, 16, 32, 32, device="meta")
    w = torch.empty(32, 16, 3, 3, device="meta")
    out = torch.empty(1, 32, 16, 16, device="meta")
    args = {"mkldnn_convolution": (x, w, None, [1, 1], [2, 2], [1, 1], 1),
            "cudnn_convolution": (x, w, [1, 1], [2, 2], [1, 1], 1, True, False, True),
            "_slow_conv2d_forward": (x, w, [3, 3], None, [2, 2], [1, 1])}[op]
    kind = formulas.lookup(getattr(torch.ops.aten, op).default)
    cost = kind.formula(args, {}, [out])
    expected = 1 * 16 * 16 * 3 * 3 * 32 * 16  # output points x kernel x C_out x C_in
    assert cost.macs == expected
    reference = formulas.lookup(torch.ops.aten.convolution.default).formula(
        (x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1), {}, [out])
    assert cost.macs == reference.macs


def test_a_calibration_without_memory_levels_keeps_an_absolute_rate():
    """With no STREAM measurement the memory side was fitted against 1 B/s, stored as a 'fraction' in B/s,
    and multiplied by the catalog bandwidth again: memory-bound ops ran 1e11 times too fast."""
    from roofline.calibration.fit import fit_suite
    from test_calibration_fit import _synthetic_suite

    res = _synthetic_suite()
    res.measurements = [m for m in res.measurements if m.op_class != "memory"]
    fit = fit_suite(res)
    ew = fit.classes["elementwise/fp32"]
    assert ew.bandwidth_fraction is None
    # one absolute rate for the class, inside the rates its cases ran at (0.7 x 20 ... 300 GB/s), never ~1e3 B/s
    # or a fraction to be multiplied by a bandwidth again
    assert 0.7 * 20e9 <= ew.effective_bandwidth_bytes_per_s <= 0.7 * 300e9
    from roofline.calibrate import build_device_file

    device = DeviceSpec.from_yaml_dict(build_device_file(fit, base=_device(), device_id="test-cpu-calibrated"))
    relu = roofline.analyze(nn.ReLU(), (1 << 22,))
    p = roofline.predict(relu, device, tier="calibrated", include_ops=True)
    op = next(o for o in p.ops if o.op.startswith("aten.relu"))
    assert op.memory_time_s == pytest.approx(op.bytes / ew.effective_bandwidth_bytes_per_s)


def test_a_fused_runtime_launches_one_kernel_per_fused_chain():
    """The compiled runtime charged per-op overhead to ops whose bytes it fused into their producer."""
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Sigmoid())
    w = roofline.analyze(model, (8, 256))
    fused = [op for op in w.ops if op.fused_with_producer]
    assert {op.op.split(".")[1] for op in fused} == {"relu", "sigmoid"}
    p = roofline.predict(w, _device(), runtime="compiled", include_ops=True)
    charged = [o for o in p.ops if o.overhead_s > 0]
    active = [op for op in w.ops if not op.is_view and (op.flops or op.bytes_read + op.bytes_written)]
    assert len(charged) == len(active) - len(fused)
    eager = roofline.predict(w, _device(), runtime="eager", include_ops=True)
    assert len([o for o in eager.ops if o.overhead_s > 0]) == len(active)


def test_an_unknown_tensor_dtype_is_an_error_not_four_bytes():
    from roofline.workload.build import weight_bytes

    with pytest.raises(RooflineError, match="unsupported tensor dtype 'mystery'"):
        weight_bytes([("mystery", 10)], None)
    assert weight_bytes([("uint16", 10), ("bool", 3), ("fp32", 2)], None) == 20 + 3 + 8


def test_plan_refuses_options_of_the_other_kind_of_model(run_cli):
    code, _, err = run_cli("plan", "resnet18", "--qps", "10", "--generate", "64")
    assert code == 2 and "only hf: language models take --generate" in err
    code, _, err = run_cli("plan", "hf:llama-3.2-1b", "--qps", "1", "--imgsz", "224")
    assert code == 2 and "not --imgsz" in err


def test_devices_are_deduplicated_and_kinds_checked():
    from roofline.resolve import resolve_devices

    specs = resolve_devices(["nvidia-l4", "nvidia-t4", "nvidia-l4"])
    assert [d.id for d in specs] == ["nvidia-l4", "nvidia-t4"]
    with pytest.raises(RooflineError):
        resolve_devices(None, kinds=["gpus"])


def test_report_on_a_language_model_shows_serving_figures(run_cli, tmp_path):
    out = tmp_path / "r.md"
    code, stdout, err = run_cli("report", "hf:llama-3.2-1b", "--prompt", "64", "--generate", "16", "--devices",
                                "nvidia-l4,nvidia-rtx-4090", "--out", str(out))
    assert code == 0, err
    text = out.read_text()
    for phrase in ("TTFT", "TPOT", "decode tokens/s", "USD / 1M tokens", "per million tokens", "latency / request"):
        assert phrase in text, phrase
    assert "inferences" not in text.split("## Sources")[0]


def test_an_older_calibration_record_asks_for_a_new_calibration():
    old = {"schema": "roofline.calibration/1", "device": "cpu", "threads": 1, "plan": "quick"}
    with pytest.raises(ValidationError, match="run `roofline calibrate` again"):
        _device(calibration={"eager": old})


def test_calibration_names_are_one_enum_for_suite_fit_and_predictor():
    from roofline.calibration.fit import FITTED_CLASSES
    from roofline.calibration.probes import build_plan
    from roofline.catalog.calibration import CalibrationClass, ProbeFamily
    from roofline.predict.model import CALIBRATION_CLASSES, CALIBRATION_FAMILIES

    assert FITTED_CLASSES == CALIBRATION_CLASSES == tuple(c.value for c in CalibrationClass)
    assert set(CALIBRATION_FAMILIES) <= {f.value for f in ProbeFamily}
    plan = build_plan("full", "cpu", threads=1)
    fitted = {(c.op_class, c.family) for st in plan.stages for c in st.cases if c.op_class in FITTED_CLASSES}
    assert {family for _, family in fitted} <= {f.value for f in ProbeFamily}


def test_json_of_an_estimate_is_plain():
    e = roofline.estimate("resnet18", "nvidia-l4")
    json.dumps(e.to_dict(), allow_nan=False)


@pytest.mark.parametrize("args,message", [
    (("validate", "resnet18", "--device", "nvidia-h100-sxm"), "cannot be compared with this measurement"),
    (("validate", "hf:llama-3.2-1b", "--device", "intel-xeon-platinum-8480p"), "does not run language models"),
])
def test_validate_refuses_comparisons_it_cannot_make(run_cli, args, message):
    code, _, err = run_cli(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
