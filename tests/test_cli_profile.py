"""`roofline profile` end to end: output, JSON keys, and one-line errors with exit code 2."""
import json
import sys

import pytest

REQUIRED_KEYS = {"model", "input_shape", "dtype", "params", "trainable_params", "flops", "macs", "bytes_read",
                 "bytes_written", "bytes_fused", "weight_bytes", "peak_activation_bytes", "ops", "unsupported_ops"}


def test_profile_table_and_summary(run_cli):
    code, out, err = run_cli("profile", "resnet18")
    assert code == 0, err
    assert "layer4.1.conv2" in out
    assert "resnet18 summary: 52 layers, 11,689,512 parameters, 11,689,512 gradients, 3.64 GFLOPs" in out


def test_profile_json(run_cli):
    code, out, _ = run_cli("profile", "torchvision:mobilenet_v2", "--batch", "2", "--dtype", "fp16", "--json")
    assert code == 0
    data = json.loads(out)
    assert REQUIRED_KEYS <= data.keys()
    assert data["input_shape"] == [2, 3, 224, 224]
    assert data["dtype"] == "fp16"
    assert data["macs"] == pytest.approx(2 * 0.301e9, rel=0.005)
    assert data["weight_bytes"] > 2 * data["params"]  # fp16 parameters plus batch-norm buffers
    assert data["weight_bytes"] < 2.1 * data["params"]
    assert sum(op["flops"] for op in data["ops"]) == data["flops"]


@pytest.mark.parametrize("by", ["layer", "module", "op"])
def test_profile_group_by(run_cli, by):
    code, out, _ = run_cli("profile", "resnet18", "--by", by, "--top", "3", "--json")
    rows = json.loads(out)["rows"]
    assert len(rows) == 3
    assert rows[0]["flops"] >= rows[1]["flops"] >= rows[2]["flops"]


def test_profile_ultralytics(run_cli):
    pytest.importorskip("ultralytics")
    code, out, err = run_cli("profile", "ultralytics:yolo11n.yaml", "--imgsz", "320", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shape"] == [1, 3, 320, 320] and data["params"] == 2_624_080


def test_import_path_model_needs_input_shape(run_cli, tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        "from torch import nn\n"
        "def tiny():\n    return nn.Sequential(nn.Linear(16, 8), nn.ReLU())\n"
        "def broken():\n    return nn.Sequential(nn.Linear(16, 8), Explode())\n"
        "class Explode(nn.Module):\n    def forward(self, x):\n        raise RuntimeError('kaput')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli("profile", "mymodels:tiny")
    assert code == 2 and "--input-shape" in err
    code, out, _ = run_cli("profile", "mymodels:tiny", "--input-shape", "4,16", "--json")
    assert code == 0 and json.loads(out)["macs"] == 4 * 16 * 8
    code, _, err = run_cli("profile", "mymodels:broken", "--input-shape", "4,16")
    assert code == 2 and "module '1' (Explode)" in err and "kaput" in err


@pytest.mark.parametrize("args,message", [
    (("profile", "resnet5"), "did you mean resnet50"),
    (("profile", "resnet18", "--input-shape", "1,3,x"), "malformed --input-shape"),
    (("profile", "resnet18", "--input-shape", "3,224"), "forward failed in module 'conv1'"),
    (("profile", "resnet18", "--dtype", "fp12"), "unsupported dtype 'fp12'"),
    (("profile", "resnet18", "--imgsz", "224", "--input-shape", "1,3,224,224"), "either --imgsz or --input-shape"),
    (("profile", "nosuchpkg.models:net"), "cannot import 'nosuchpkg.models'"),
])
def test_profile_bad_input_is_one_line(run_cli, args, message):
    code, out, err = run_cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_extra_names_it(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # makes `import ultralytics` fail
    code, _, err = run_cli("profile", "ultralytics:yolo11n.yaml")
    assert code == 2 and "pip install 'roofline[yolo]'" in err


def test_debug_shows_traceback(run_cli):
    with pytest.raises(Exception):
        run_cli("--debug", "profile", "resnet5")


def test_python_profile_one_liner(capsys):
    import roofline

    w = roofline.profile("resnet18")
    out = capsys.readouterr().out
    assert w.params == 11_689_512 and "resnet18 summary" in out
