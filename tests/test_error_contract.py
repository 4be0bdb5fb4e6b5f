"""One error contract for every command: bad input gives exit status 2, exactly one line on stderr that
starts with ``error:``, no traceback, no torch or Ultralytics log, nothing on stdout, no file left behind."""
import os

import pytest

BROKEN_DEVICE = "id: broken\nname: Broken\nkind: gpu\ncompute:\n  fp32: {vector: 10}\n"

# (id, arguments); "{tmp}" is the test's empty working directory
CASES = [
    # profile
    ("profile-unknown-model", ["profile", "nosuchmodel"]),
    ("profile-imgsz-zero", ["profile", "resnet18", "--imgsz", "0"]),
    ("profile-bad-shape", ["profile", "resnet18", "--input-shape", "1,3,x"]),
    ("profile-imgsz-and-shape", ["profile", "resnet18", "--imgsz", "64", "--input-shape", "1,3,64,64"]),
    ("profile-top-zero", ["profile", "resnet18", "--top", "0"]),
    ("profile-top-negative", ["profile", "resnet18", "--top", "-3"]),
    ("profile-depth-negative", ["profile", "resnet18", "--depth", "-1"]),
    ("profile-depth-by-op", ["profile", "resnet18", "--by", "op", "--depth", "1"]),
    ("profile-bad-dtype", ["profile", "resnet18", "--dtype", "fp7"]),
    ("profile-bad-by", ["profile", "resnet18", "--by", "nothing"]),
    ("profile-yolo-off-stride", ["profile", "ultralytics:yolo11n.yaml", "--imgsz", "33"]),
    ("profile-yolo-weights", ["profile", "ultralytics:yolo11n.pt"]),
    ("profile-llm-image-shape", ["profile", "hf:llama-3-8b", "--input-shape", "1,3,224,224"]),
    ("profile-batch-zero", ["profile", "resnet18", "--batch", "0"]),
    ("profile-threads-zero", ["profile", "resnet18", "--measure", "--threads", "0"]),
    ("profile-import-path", ["profile", "no_such_package_xyz.models:build"]),
    ("profile-missing-onnx", ["profile", "{tmp}/missing.onnx"]),
    # predict
    ("predict-no-device", ["predict", "resnet18"]),
    ("predict-unknown-device", ["predict", "resnet18", "--device", "nvidia-l5"]),
    ("predict-top-negative", ["predict", "resnet18", "--device", "nvidia-l4", "--top", "-3"]),
    ("predict-electricity-negative", ["predict", "resnet18", "--device", "nvidia-l4", "--electricity", "-1"]),
    ("predict-utilization-over-one", ["predict", "resnet18", "--device", "nvidia-l4", "--utilization", "2"]),
    ("predict-serving-option", ["predict", "resnet18", "--device", "nvidia-l4", "--prompt", "10"]),
    ("predict-llm-bad-weights", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-l4", "--weights", "int3"]),
    ("predict-bad-host-memory", ["predict", "resnet18", "--device", "nvidia-l4", "--host-memory", "lots"]),
    ("predict-bad-runtime", ["predict", "resnet18", "--device", "nvidia-l4", "--runtime", "turbo"]),
    ("predict-tp-not-dividing-heads", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-h100-sxm", "--tp", "3"]),
    ("predict-gpus-not-tp-times-pp", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-h100-sxm", "--gpus", "4",
                                      "--tp", "2"]),
    ("predict-ep-dense-model", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-h100-sxm", "--tp", "2", "--ep", "2"]),
    ("predict-tp-beyond-nvlink-domain", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-h100-sxm", "--gpus", "16"]),
    ("predict-gpus-beyond-system", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-dgx-h100", "--gpus", "16"]),
    ("predict-gpus-forward-model", ["predict", "resnet18", "--device", "nvidia-l4", "--gpus", "2"]),
    ("predict-gpus-zero", ["predict", "hf:llama-3.2-1b", "--device", "nvidia-h100-sxm", "--gpus", "0"]),
    # rank
    ("rank-batch-float", ["rank", "resnet18", "--batch", "1e9"]),
    ("rank-top-negative", ["rank", "resnet18", "--top", "-3"]),
    ("rank-bad-latency", ["rank", "resnet18", "--max-latency", "fast"]),
    ("rank-power-without-unit", ["rank", "resnet18", "--max-power", "15"]),
    ("rank-serving-sort", ["rank", "resnet18", "--sort", "ttft"]),
    ("rank-calibrated-tier", ["rank", "resnet18", "--tier", "calibrated"]),
    ("rank-empty-devices", ["rank", "resnet18", "--devices", ","]),
    ("rank-years-zero", ["rank", "resnet18", "--years", "0"]),
    ("rank-bad-price", ["rank", "resnet18", "--max-price", "abc"]),
    ("rank-unknown-kind", ["rank", "resnet18", "--kind", "tpu"]),
    ("rank-max-gpus-zero", ["rank", "hf:llama-3.2-1b", "--max-gpus", "0"]),
    ("rank-max-gpus-and-tp", ["rank", "hf:llama-3.2-1b", "--max-gpus", "8", "--tp", "2"]),
    # plan
    ("plan-no-qps", ["plan", "resnet18"]),
    ("plan-qps-zero", ["plan", "resnet18", "--qps", "0"]),
    ("plan-batch", ["plan", "resnet18", "--qps", "10", "--batch", "4"]),
    ("plan-batch-max-zero", ["plan", "resnet18", "--qps", "10", "--batch-max", "0"]),
    ("plan-latency-without-unit", ["plan", "resnet18", "--qps", "10", "--p99-latency", "5"]),
    ("plan-ttft-forward", ["plan", "resnet18", "--qps", "10", "--ttft", "1s"]),
    ("plan-rps-negative", ["plan", "hf:llama-3.2-1b", "--rps", "-1"]),
    ("plan-rps-isl-zero", ["plan", "hf:llama-3.2-1b", "--rps", "10", "--isl", "0"]),
    ("plan-rps-missing-mix", ["plan", "hf:llama-3.2-1b", "--rps", "10", "--mix", "{tmp}/missing.yaml"]),
    ("plan-rps-ttft-without-unit", ["plan", "hf:llama-3.2-1b", "--rps", "10", "--ttft", "2"]),
    ("plan-rps-forward-model", ["plan", "resnet18", "--rps", "10"]),
    ("plan-rps-calibrated-tier", ["plan", "hf:llama-3.2-1b", "--rps", "10", "--tier", "calibrated"]),
    # report
    ("report-no-out", ["report", "resnet18"]),
    ("report-pdf", ["report", "resnet18", "--out", "{tmp}/report.pdf"]),
    ("report-bad-budget", ["report", "resnet18", "--out", "{tmp}/r.md", "--budget", "lots"]),
    ("report-second-model-unknown", ["report", "resnet18", "nosuchmodel", "--out", "{tmp}/r.html"]),
    ("report-no-model", ["report", "--out", "{tmp}/r.html"]),
    ("report-jobs-zero", ["report", "resnet18", "mobilenet_v3_small", "--json", "--jobs", "0"]),
    # devices
    ("devices-list-bad-kind", ["devices", "list", "--kind", "tpu"]),
    ("devices-list-missing-catalog", ["devices", "list", "--catalog", "{tmp}/nowhere"]),
    ("devices-show-unknown", ["devices", "show", "nvidia-l5"]),
    ("devices-show-no-id", ["devices", "show"]),
    ("devices-compare-one", ["devices", "compare", "nvidia-l4"]),
    ("devices-compare-unknown", ["devices", "compare", "nvidia-l4", "nope"]),
    ("devices-validate-broken", ["devices", "validate", "{tmp}/in/broken.yaml"]),
    ("devices-validate-empty", ["devices", "validate", "{tmp}/in/empty"]),
    ("devices-unknown-subcommand", ["devices", "lst"]),
    # calibrate
    ("calibrate-threads-zero", ["calibrate", "--threads", "0"]),
    ("calibrate-unknown-base", ["calibrate", "--base", "nope"]),
    ("calibrate-existing-out", ["calibrate", "--out", "{tmp}/in/existing.yaml"]),
    # validate
    ("validate-no-device", ["validate", "resnet18"]),
    ("validate-unknown-device", ["validate", "resnet18", "--device", "nope"]),
    ("validate-unknown-model", ["validate", "nosuchmodel", "--device", "nvidia-l4"]),
    ("validate-batch-zero", ["validate", "resnet18", "--device", "nvidia-l4", "--batch", "0"]),
    ("validate-threads-zero", ["validate", "resnet18", "--device", "nvidia-l4", "--threads", "0"]),
    # the command itself
    ("unknown-command", ["nosuchcommand"]),
    ("unknown-option", ["--bogus"]),
]

_LOG_MARKS = ("Traceback", "File \"", "WARNING", "⚠️", "fake_tensor.py", "internal error")


def test_the_contract_covers_every_command():
    assert len(CASES) >= 40
    commands = {" ".join(a[:2]) if a[0] == "devices" else a[0] for _, a in CASES}
    for command in ("profile", "predict", "rank", "plan", "report", "devices list", "devices show",
                    "devices validate", "devices compare", "calibrate", "validate"):
        assert command in commands, command


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files) + \
        sorted(os.path.relpath(os.path.join(d, s), root) for d, subs, _ in os.walk(root) for s in subs)


@pytest.mark.parametrize("args", [a for _, a in CASES], ids=[i for i, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(args, run_cli, tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    (inputs / "empty").mkdir(parents=True)
    (inputs / "broken.yaml").write_text(BROKEN_DEVICE)
    (inputs / "existing.yaml").write_text("id: existing\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROOFLINE_CATALOG", raising=False)
    before = _listing(tmp_path)
    code, out, err = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2, (code, err)
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert not any(mark in err for mark in _LOG_MARKS), err
    assert _listing(tmp_path) == before, "a file was left behind"
    if args[:2] != ["devices", "validate"]:  # validate lists each problem on stdout before the error line
        assert out == "", out
