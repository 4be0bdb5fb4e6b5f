"""What a user reads: labels that say what really happened, rates without silent zeros, one-line errors
for models that cannot be built or traced, and catalog folders that add nothing."""
import json
import sys
import textwrap

import pytest
from torch import nn

from roofline._human import per_second
from roofline.catalog import DeviceSpec
from roofline.predict import predict
from roofline.workload import analyze

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "memory", "power"]}]


def _gpu(compute: dict) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "test-gpu", "name": "Test GPU", "vendor": "test", "kind": "gpu", "compute": compute,
        "memory": {"capacity": "16 GB", "bandwidth": "500 GB/s"}, "power": {"tdp": "200 W", "idle": "20 W"},
        "sources": SOURCE})


@pytest.fixture(scope="module")
def fp16_workload():
    model = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096))
    return analyze(model, (512, 4096), dtype="fp16", name="mlp")


def _fallback_notes(p):
    return [n for n in p.notes if n.startswith("no native")]


def test_tensor_core_fp16_without_a_vector_figure_is_not_called_a_fallback(fp16_workload):
    """A GPU whose fp16 rate is a tensor-core (matrix) figure only used to be labelled "no native fp16
    math: runs at the fp32 rate" although its matmuls ran at the fp16 tensor-core rate."""
    gpu = _gpu({"fp32": {"vector": "20 TFLOPS"}, "fp16": {"matrix": "160 TFLOPS"}})
    p = predict(fp16_workload, gpu, tier="sol")
    assert _fallback_notes(p) == []
    # the matmuls really ran at the fp16 matrix rate: faster than on the same device without it
    slower = predict(fp16_workload, _gpu({"fp32": {"vector": "20 TFLOPS"}}), tier="sol")
    assert p.latency_s < slower.latency_s


def test_a_device_without_fp16_math_still_says_so(fp16_workload):
    p = predict(fp16_workload, _gpu({"fp32": {"vector": "20 TFLOPS"}}))
    assert _fallback_notes(p) == ["no native fp16 math: runs at the fp32 rate"]


def test_builtin_tensor_core_gpus_carry_no_fallback_note(fp16_workload):
    from roofline.catalog import load_catalog

    catalog = load_catalog()
    for device_id in ("nvidia-h200", "nvidia-l4", "nvidia-t4"):
        if device_id in catalog:
            assert _fallback_notes(predict(fp16_workload, catalog.get(device_id))) == [], device_id


@pytest.mark.parametrize("value, text", [(0.0123, "0.0123"), (0.25, "0.25"), (3.14159, "3.14"), (12.34, "12.3"),
                                         (1234.5, "1,234.5"), (123456.7, "123,457"), (None, "-")])
def test_rates_keep_significant_digits(value, text):
    assert per_second(value) == text


def test_a_slow_board_shows_its_rate_not_zero(run_cli, tmp_path):
    """0.04 items/s printed as '0.0' in the rank table and the predict summary."""
    slow = {"id": "slow-board", "name": "Slow board", "vendor": "test", "kind": "sbc",
            "compute": {"fp32": {"vector": "0.1 GFLOPS"}}, "memory": {"capacity": "4 GB", "bandwidth": "0.1 GB/s"},
            "power": {"tdp": "5 W", "idle": "2 W"}, "sources": SOURCE}
    import yaml

    (tmp_path / "slow-board.yaml").write_text(yaml.safe_dump(slow))
    code, out, err = run_cli("predict", "resnet18", "--device", "slow-board", "--catalog", str(tmp_path))
    assert code == 0, err
    code, data, _ = run_cli("predict", "resnet18", "--device", "slow-board", "--catalog", str(tmp_path), "--json")
    rate = json.loads(data)["throughput_per_s"]
    assert 0 < rate < 0.05
    assert f"{per_second(rate)} items/s" in out and "0.0 items/s" not in out
    code, out, err = run_cli("rank", "resnet18", "--devices", "slow-board", "--catalog", str(tmp_path))
    assert code == 0, err
    assert per_second(rate) in out


def test_calibrated_tier_with_nothing_calibrated_is_one_line(run_cli):
    code, out, err = run_cli("rank", "resnet18", "--tier", "calibrated")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: --tier calibrated: none of the")
    assert out == ""


def _write_module(tmp_path, monkeypatch, text):
    (tmp_path / "ux_user_models.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("ux_user_models", None)


def test_a_class_needing_constructor_arguments_is_a_one_line_error(run_cli, tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, """
        from torch import nn
        class Needs(nn.Module):
            def __init__(self, width, depth=2):
                super().__init__()
                self.l = nn.Linear(width, width)
            def forward(self, x):
                return self.l(x)
        class Boom(nn.Module):
            def __init__(self):
                raise RuntimeError("no GPU here")
    """)
    code, out, err = run_cli("profile", "ux_user_models:Needs")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "constructor arguments (width)" in err
    code, out, err = run_cli("profile", "ux_user_models:Boom")
    assert code == 2 and err.count("\n") == 1 and "RuntimeError: no GPU here" in err


def test_data_dependent_control_flow_is_said_in_words(run_cli, tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, """
        from torch import nn
        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.l = nn.Linear(8, 8)
            def forward(self, x):
                y = self.l(x)
                return y * 2 if y.sum() > 0 else y
    """)
    code, out, err = run_cli("profile", "ux_user_models:Branchy", "--input-shape", "1,8")
    assert code == 2 and err.count("\n") == 1
    assert "data-dependent control flow" in err and "Exception" not in err


@pytest.mark.slow
def test_yolo_image_size_off_the_stride_is_one_line_without_logs(tmp_path):
    import subprocess

    run = subprocess.run([sys.executable, "-m", "roofline", "profile", "ultralytics:yolo11n.yaml", "--imgsz", "33"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("error: ") and "multiple of the model's stride 32" in run.stderr
    assert "use 32 or 64" in run.stderr


@pytest.mark.slow
def test_a_shape_mismatch_in_a_trace_logs_nothing(tmp_path):
    """FakeTensor logged a 40-line traceback before the one-line error."""
    import subprocess

    (tmp_path / "ux_cat.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        class Cat(nn.Module):
            def forward(self, x):
                return torch.cat([x, x[:, :, :3]], dim=1)
    """))
    run = subprocess.run([sys.executable, "-m", "roofline", "profile", "ux_cat:Cat", "--input-shape", "1,3,8,8"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: forward failed"), run.stderr


@pytest.mark.parametrize("args, expected", [
    (("rank", "resnet18", "--batch", "1e9"), "error: invalid value for '--batch': '1e9' is not a valid integer"),
    (("rnk", "resnet18"), "error: no such command 'rnk'"),
    (("devices", "show"), "error: missing argument 'ID'"),
    (("predict", "resnet18", "--device", "nvidia-l4", "--tier", "fast"), "error: invalid value for '--tier'"),
    (("profile", "resnet18", "--depth"), "error: option '--depth' requires an argument"),
])
def test_click_usage_errors_are_one_line(run_cli, args, expected):
    code, out, err = run_cli(*args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(expected), err


def test_devices_validate_exits_2_on_a_broken_file(run_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("id: bad\nname: Bad\nkind: gpu\n")
    code, out, err = run_cli("devices", "validate", str(tmp_path / "bad.yaml"))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1


def test_validate_threads_zero_is_a_user_error(run_cli):
    code, out, err = run_cli("validate", "resnet18", "--device", "nvidia-l4", "--threads", "0")
    assert code == 2 and err == "error: --threads must be a positive integer, got 0\n"


def test_an_empty_catalog_folder_warns_like_a_missing_path(run_cli, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_cli("devices", "list", "--catalog", str(empty))
    assert code == 0
    assert err == f"warning: {empty}: no device files (*.yaml, *.yml) in this directory (from --catalog); nothing added\n"
    monkeypatch.setenv("ROOFLINE_CATALOG", str(empty))
    code, out, err = run_cli("devices", "list")
    assert err == (f"warning: {empty}: no device files (*.yaml, *.yml) in this directory (from ROOFLINE_CATALOG); "
                   "nothing added\n")
    monkeypatch.setenv("ROOFLINE_CATALOG", str(tmp_path / "missing"))
    code, out, err = run_cli("devices", "list")
    assert err.startswith("warning: ") and "(from ROOFLINE_CATALOG)" in err and err.count("\n") == 1
