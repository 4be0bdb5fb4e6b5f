"""`roofline calibrate` and `roofline validate` end to end, and the file-safety rules."""
import json

import pytest

import roofline.calibrate as calibrate_module


@pytest.mark.slow
def test_quick_calibration_then_validate_end_to_end(run_cli, tmp_path):
    out = tmp_path / "host-test.yaml"
    code, stdout, err = run_cli("calibrate", "--quick", "--threads", "1", "--out", str(out))
    assert code == 0, err
    assert out.exists() and "wrote" in stdout
    from roofline.catalog import load_device_file

    device = load_device_file(out)
    block = device.calibration["eager"].to_dict()
    assert block["host"]["threads"] == 1 and block["host"]["torch_version"]
    assert block["op_classes"]["matmul/fp32"]["peak_flops_per_s"] > 1e9
    assert block["memory_levels"][-1]["bandwidth_bytes_per_s"] > 1e8
    power = block["power"]
    if power["method"] == "unavailable":  # no counter: a reason, never a figure
        assert power["reason"] and all(v is None for k, v in power.items() if k.endswith("_w"))
    else:
        assert 0 < power["idle_w"] and 0 < power["compute_w"] and 0 < power["memory_w"]
    seq = block["sequence"]
    assert seq["applies_to"] == "op-time" and 0.5 <= seq["dense_scale"] <= 4 and 0.5 <= seq["other_scale"] <= 4
    names = [p["name"] for p in seq["points"]]
    assert any(n.startswith("cnn") for n in names) and any(n.startswith("separable") for n in names)
    assert all(p["measured_s"] > 0 and p["dense_s"] + p["other_s"] > 0 for p in seq["points"])

    code, stdout, err = run_cli("validate", "mobilenet_v3_small", "--device", "host-test", "--catalog",
                                str(tmp_path), "--threads", "1", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    (row,) = data["results"]
    assert row["model"] == "mobilenet_v3_small" and row["batch"] == 1
    assert row["measured_latency_s"] > 0 and row["predicted_latency_s"] > 0
    if row["busy_reason"]:  # a host too busy to measure gets no error figure, and says why
        assert row["relative_error"] is None and data["median_abs_error"] is None
        assert row["busy_reason"].startswith("host too busy to measure")
    else:
        assert row["relative_error"] == pytest.approx(
            (row["predicted_latency_s"] - row["measured_latency_s"]) / row["measured_latency_s"])
        assert data["median_abs_error"] == pytest.approx(abs(row["relative_error"]))
    assert row["tier"] == "calibrated"
    assert block["view_overhead_s"] > 0 and block["module_call_s"] > 0
    from roofline.calibration.quick_subset import selected_families

    selected = selected_families()
    fitted = {key.split("/")[0] for key in block["families"]}
    if selected is None:  # no recorded selection: the quick plan times every family
        assert "cat" in fitted and "data_movement/fp32" in block["op_classes"]
    else:  # the recorded selection (calibration/quick_subset.py) and nothing else
        assert fitted and fitted <= set(selected)


def test_never_overwrites_without_force(run_cli, tmp_path, monkeypatch):
    out = tmp_path / "host-x.yaml"
    out.write_text("precious\n")
    monkeypatch.setattr(calibrate_module, "run_calibration",
                        lambda **kw: pytest.fail("measured although the file exists"))
    code, _, err = run_cli("calibrate", "--quick", "--out", str(out))
    assert code == 2 and "exists: pass --force" in err
    assert out.read_text() == "precious\n"


def test_file_name_must_be_the_device_id(run_cli, tmp_path):
    code, _, err = run_cli("calibrate", "--quick", "--device-id", "host-a", "--out", str(tmp_path / "host-b.yaml"))
    assert code == 2 and "named after its id" in err


def test_interrupt_leaves_no_file(run_cli, tmp_path, monkeypatch):
    def interrupted(**kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibrate_module, "run_calibration", interrupted)
    out = tmp_path / "host-y.yaml"
    code, _, _ = run_cli("calibrate", "--quick", "--out", str(out))
    assert code == 130
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    from roofline._atomic import atomic_write_text

    target = tmp_path / "host-z.yaml"
    target.write_text("old\n")

    class Boom(Exception):
        pass

    def broken_replace(src, dst):
        raise Boom

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(Boom):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host-z.yaml"]
