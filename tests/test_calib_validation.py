"""Busy-host detection, thread-count records, versioned records, and validate --zoo (with fakes: no timing)."""
from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest
import yaml

import roofline.validation as validation
from roofline.calibrate import build_device_file, merge_record
from roofline.calibration.fit import fit_suite
from roofline.catalog import DeviceSpec
from roofline.catalog.calibration import (
    CalibrationWarning,
    describe_record,
    record_age_days,
    select_record,
    warn_if_other_torch,
)
from roofline.measure import MeasuredLatency, busy_reason

from test_calibration_fit import _synthetic_suite


def _fit(threads: int = 2):
    res = _synthetic_suite()
    res.threads = threads
    res.host.threads = threads
    return fit_suite(res)


def _device(device_id: str = "host-test", threads: int = 2) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict(build_device_file(_fit(threads), base=None, device_id=device_id))


# ---------------------------------------------------------------- busy host

def test_busy_reason_needs_free_cpus_for_the_threads_and_stable_repeats():
    quiet = dict(logical_cpus=2, p10_s=1e-3, p90_s=1.1e-3)
    assert busy_reason(threads=1, foreign_load=0.02, **quiet) is None
    # one neighbour busy on one of two CPUs: a 1-thread run still has a core, a 2-thread run has not
    assert busy_reason(threads=1, foreign_load=0.5, **quiet) is None
    reason = busy_reason(threads=2, foreign_load=0.5, load_avg_1m=1.7, **quiet)
    assert reason.startswith("host too busy to measure") and "1.0 of 2 CPUs" in reason and "load average 1.7" in reason
    spread = busy_reason(threads=1, logical_cpus=2, foreign_load=0.0, p10_s=1e-3, p90_s=13e-3)
    assert "spread 13.00x" in spread


class _FakeLoad:
    value = None

    def __init__(self, value):
        self._value = value

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.value = self._value


def test_measure_latency_reports_a_faked_foreign_load_instead_of_a_number(monkeypatch):
    import torch
    from torch import nn

    import roofline.calibration.host as host
    from roofline.measure import measure_latency

    monkeypatch.setattr(host, "ForeignLoad", _FakeLoad(0.95))
    monkeypatch.setattr(host, "load_average", lambda: 3.5)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    m = measure_latency(nn.Linear(4, 4), (1, 4), threads=1, budget_s=0.01, min_repeats=3)
    assert m.busy and m.foreign_load == 0.95 and m.load_avg_1m == 3.5 and m.logical_cpus == 2
    assert "1.9 of 2 CPUs" in m.busy_reason and "load average 3.5" in m.busy_reason
    assert m.to_dict()["busy"] is True and torch.get_num_threads() >= 1

    monkeypatch.setattr(host, "ForeignLoad", _FakeLoad(0.0))
    calm = measure_latency(nn.Linear(4, 4), (1, 4), threads=1, budget_s=0.01, min_repeats=3)
    assert calm.foreign_load == 0.0 and ("spread" in (calm.busy_reason or "spread") or not calm.busy)


def _fake_measure(latency_s: float = 1e-3, busy: str | None = None):
    def measure(model, shape, *, threads=None, budget_s=2.0):
        return MeasuredLatency(latency_s, latency_s, latency_s, 0.01, False, 5, threads or 1, 0.0, 0.1, 2, busy)

    return measure


# ---------------------------------------------------------------- threads

def test_a_record_for_the_thread_count_wins_and_another_count_says_so():
    one = _device("host-t", threads=1)
    data = merge_record(one, _fit(2))
    assert sorted(data["calibration"]) == ["eager", "eager@2"]
    both = DeviceSpec.from_yaml_dict(data)
    assert select_record(both.calibration, "eager", 2) == (both.calibration["eager@2"], None)
    assert select_record(both.calibration, "eager", 1) == (both.calibration["eager"], None)
    record, note = select_record(both.calibration, "eager", 4)
    assert record is both.calibration["eager"]
    assert "calibrated at 1, 2 thread(s), run at 4" in note and "--threads 4 --merge" in note
    assert select_record(both.calibration, "eager", None) == (both.calibration["eager"], None)
    # merging a record at the default record's thread count replaces it
    again = merge_record(both, _fit(1))
    assert sorted(again["calibration"]) == ["eager", "eager@2"]

    picked, note = validation.device_at_threads(both, "eager", 2)
    assert note is None and picked.calibration["eager"].threads == 2
    assert both.calibration["eager"].threads == 1  # the catalog's device is left as it was


def test_validate_uses_the_thread_record_and_notes_a_mismatch():
    dev = _device("host-v", threads=1)
    result = validation.validate(["squeezenet1_1"], dev, threads=3, measure=_fake_measure())
    assert result.threads == 3 and result.notes and "run at 3" in result.notes[0]
    matched = validation.validate(["squeezenet1_1"], dev, threads=1, measure=_fake_measure())
    assert matched.notes == []


# ---------------------------------------------------------------- zoo and input options

def test_zoo_lists_the_issue_models_by_pattern():
    names = [m for m, _ in validation.ZOO]
    torchvision = [m for m in names if ":" not in m]
    assert len(torchvision) >= 40 and len(set(names)) == len(names)
    assert {"ultralytics:yolo11n.yaml", "ultralytics:yolo11s.yaml", "ultralytics:yolov8n.yaml",
            "hf:bert-base-uncased"} <= set(names)
    assert {p for _, p in validation.ZOO} == {validation.DENSE, validation.DEPTHWISE, validation.CONCAT,
                                               validation.ATTENTION}
    assert validation.ZOO_BATCHES == (1, 8)


@pytest.mark.slow
def test_zoo_torchvision_models_are_under_the_size_limit():
    from roofline.sources import load_model
    from roofline.workload import analyze

    for name, _ in validation.ZOO:
        if ":" in name:
            continue
        built = load_model(name)
        assert analyze(built.model, built.default_input_shape).macs < validation.ZOO_MAX_MACS, name


def test_validate_two_zoo_models_groups_by_pattern_and_leaves_busy_rows_out(monkeypatch):
    dev = _device()
    measured = {"squeezenet1_1": _fake_measure(2e-3), "mobilenet_v3_small": _fake_measure(1e-3, "host too busy: x")}
    calls = []

    def measure(model, shape, **kw):
        calls.append(shape)
        name = "squeezenet1_1" if len(calls) <= 2 else "mobilenet_v3_small"
        return measured[name](model, shape, **kw)

    result = validation.validate(["squeezenet1_1", "mobilenet_v3_small"], dev, batches=(1, 8), threads=2,
                                 measure=measure)
    assert [r.batch for r in result.rows] == [1, 8, 1, 8] and calls[1][0] == 8
    squeeze = result.rows[0]
    assert squeeze.pattern == validation.CONCAT and squeeze.tier == "calibrated"
    assert squeeze.relative_error == pytest.approx((squeeze.predicted_latency_s - 2e-3) / 2e-3)
    busy = result.rows[2]
    assert busy.relative_error is None and busy.busy_reason == "host too busy: x"
    assert result.median_abs_error == pytest.approx(
        sorted(abs(r.relative_error) for r in result.rows[:2])[0] / 2 + sorted(abs(r.relative_error)
                                                                                for r in result.rows[:2])[1] / 2)
    groups = {(g["pattern"], g["batch"]): g for g in result.by_pattern()}
    assert groups[(validation.DEPTHWISE, 1)]["busy"] == 1 and groups[(validation.DEPTHWISE, 1)]["rows"] == 0
    assert groups[("all", "all")]["rows"] == 2 and groups[("all", "all")]["busy"] == 2
    json.dumps(result.to_dict())


def test_validate_takes_profile_input_options():
    dev = _device()
    seen = []

    def measure(model, shape, **kw):
        seen.append(shape)
        return _fake_measure()(model, shape, **kw)

    validation.validate(["squeezenet1_1"], dev, batches=(2,), imgsz=96, measure=measure)
    validation.validate(["squeezenet1_1"], dev, batches=(None,), input_shape="3,3,64,80", measure=measure)
    assert seen == [(2, 3, 96, 96), (3, 3, 64, 80)]


def test_cli_validate_zoo_writes_the_table(run_cli, tmp_path, monkeypatch):
    cal = tmp_path / "cal"
    cal.mkdir()
    (cal / "host-zoo.yaml").write_text(yaml.safe_dump(build_device_file(_fit(), base=None, device_id="host-zoo")))
    monkeypatch.setattr(validation, "ZOO", (("squeezenet1_1", validation.CONCAT),
                                            ("mobilenet_v3_small", validation.DEPTHWISE)))
    import roofline.measure

    monkeypatch.setattr(roofline.measure, "measure_latency", _fake_measure(1e-3))
    out = tmp_path / "zoo.md"
    code, stdout, err = run_cli("validate", "--zoo", "--device", "host-zoo", "--catalog", str(cal), "--threads",
                                "2", "--out", str(out))
    assert code == 0, err
    assert "by op pattern" in stdout and "squeezenet1_1" in stdout and "median |error|" in stdout
    text = out.read_text()
    assert "| model | pattern | batch |" in text and text.count("squeezenet1_1") == 2
    assert "| depthwise/separable | 8 |" in text
    code, _, err = run_cli("validate", "--zoo", "resnet18", "--device", "host-zoo", "--catalog", str(cal))
    assert code == 2 and err.startswith("error: --zoo")


# ---------------------------------------------------------------- versioned records

def test_another_torch_minor_version_warns_once():
    dev = _device("host-w")
    record = dev.calibration["eager"]
    recorded = record.host.torch_version  # "2.x" in the synthetic suite
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = warn_if_other_torch("host-w", record, installed="9.9.0")
        second = warn_if_other_torch("host-w", record, installed="9.9.1")
        assert warn_if_other_torch("host-w", record, installed=recorded + ".7") is None
    assert f"calibrated with torch {recorded}, running torch 9.9.0" in first and "torch 9.9.1" in second
    assert [w.category for w in caught] == [CalibrationWarning]


def test_predicting_with_a_record_from_another_torch_warns(monkeypatch):
    import roofline.catalog.calibration as cc
    from roofline.predict import predict
    from roofline.workload import analyze
    from torch import nn

    monkeypatch.setattr(cc, "installed_torch_version", lambda: "0.1.0")
    dev = _device("host-old-torch")
    w = analyze(nn.Linear(8, 8), (1, 8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict(w, dev)
        predict(w, dev)
    assert [str(c.message) for c in caught if c.category is CalibrationWarning] == [
        "host-old-torch: calibrated with torch 2.x, running torch 0.1.0: the measured figures may no longer hold "
        "(run roofline calibrate again)"]


def test_devices_show_prints_where_and_when_a_record_was_measured(run_cli, tmp_path):
    fit = _fit(1)
    fit.host.date_utc = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)).isoformat()
    (tmp_path / "host-show.yaml").write_text(yaml.safe_dump(build_device_file(fit, base=None,
                                                                              device_id="host-show")))
    code, out, err = run_cli("devices", "show", "host-show", "--catalog", str(tmp_path))
    assert code == 0, err
    flat = " ".join(out.split())
    assert "Test CPU" in flat and "1 thread(s)" in flat and "torch 2.x" in flat and "40 days old" in flat
    import roofline

    assert f"roofline {roofline.__version__}" in flat
    record = DeviceSpec.from_yaml_dict(build_device_file(fit, base=None, device_id="host-show")).calibration["eager"]
    assert record_age_days(record) == pytest.approx(40, abs=0.01)
    assert "quick plan" in describe_record("eager", record)


def test_profile_measure_says_busy_instead_of_a_latency(run_cli, monkeypatch):
    import roofline.measure

    monkeypatch.setattr(roofline.measure, "measure_latency",
                        _fake_measure(5e-3, "host too busy to measure: other processes used 1.9 of 2 CPUs"))
    code, out, err = run_cli("profile", "squeezenet1_1", "--measure", "--threads", "2")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "not measured: host too busy to measure: other processes used 1.9 of 2 CPUs" in flat
    assert "ms/forward" not in flat
    code, out, _ = run_cli("profile", "squeezenet1_1", "--measure", "--json")
    assert code == 0 and json.loads(out)["measured"]["busy"] is True


TINY_LLAMA = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512,
              "rms_norm_eps": 1e-5, "architectures": ["LlamaForCausalLM"]}


def test_a_decode_step_is_measured_on_the_module_the_serving_trace_counts(tmp_path):
    from roofline.measure import measure_latency

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_LLAMA))
    module, inputs, workload = validation.decode_step_module(f"hf:{config}", 2, past=16)
    assert inputs[0].shape == (2, 1) and inputs[1].shape == (2, 2, 17, 16) and len(inputs) == 1 + 2 * 2
    assert workload.batch == 2 and workload.flops > 0
    real = measure_latency(module, None, inputs=inputs, threads=1, budget_s=0.02, min_repeats=3)
    assert real.latency_s > 0

    seen = []

    def measure(model, shape, *, threads=None, budget_s=2.0, inputs=None):
        seen.append((shape, None if inputs is None else tuple(t.shape for t in inputs)))
        return _fake_measure(1e-3)(model, shape, threads=threads)

    result = validation.validate([f"decode:hf:{config}"], _device(), batches=(1, 8), threads=1, measure=measure)
    assert [r.batch for r in result.rows] == [1, 8] and all(r.tier == "calibrated" for r in result.rows)
    assert seen[1][0] is None and seen[1][1][0] == (8, 1)
    assert result.rows[0].relative_error == pytest.approx((result.rows[0].predicted_latency_s - 1e-3) / 1e-3)
    with pytest.raises(Exception, match="needs an hf: language model"):
        validation.validate(["decode:resnet18"], _device(), measure=measure)
    assert ("decode:hf:llama-3.2-1b", validation.ATTENTION) in validation.ZOO


def test_calibrate_merge_adds_a_record_for_another_thread_count(run_cli, tmp_path, monkeypatch):
    import roofline.calibrate as calibrate_module
    from roofline.catalog import load_device_file

    out = tmp_path / "host-merge.yaml"
    fits = iter([_fit(1), _fit(2)])
    monkeypatch.setattr(calibrate_module, "run_calibration",
                        lambda **kw: calibrate_module.CalibrationRun(next(fits), None, {"method": "unavailable",
                                                                                        "reason": "test"}))
    code, _, err = run_cli("calibrate", "--threads", "1", "--out", str(out))
    assert code == 0, err
    code, _, err = run_cli("calibrate", "--threads", "2", "--out", str(out), "--merge")
    assert code == 0, err
    device = load_device_file(out)
    assert sorted(device.calibration) == ["eager", "eager@2"]
    assert device.calibration["eager"].threads == 1 and device.calibration["eager@2"].threads == 2
    code, _, err = run_cli("calibrate", "--threads", "2", "--out", str(out))
    assert code == 2 and "--force" in err  # without --merge or --force an existing file is kept


def test_a_calibrated_prediction_says_which_thread_count_it_predicts():
    from torch import nn

    from roofline.predict import predict
    from roofline.workload import analyze

    p = predict(analyze(nn.Linear(8, 8), (1, 8)), _device("host-n", threads=1))
    assert p.tier == "calibrated"
    assert any(n.startswith("calibrated at 1 thread(s) (quick plan, torch 2.x)") for n in p.notes)


def test_cli_prints_the_library_warnings_as_one_warning_line(capsys):
    from roofline.cli import _house_warnings

    passed_on = []
    with warnings.catch_warnings():  # restores Python's showwarning afterwards
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *rest, **kw: passed_on.append(str(message))
        _house_warnings()
        _house_warnings()  # idempotent: one wrapper, one line
        warnings.warn_explicit("host-x: calibrated with torch 2.x", CalibrationWarning, "f.py", 1)
        warnings.warn_explicit("a library's own", UserWarning, "f.py", 2)
    err = capsys.readouterr().err
    assert err.count("warning: host-x: calibrated with torch 2.x\n") == 1
    assert passed_on == ["a library's own"] and "a library's own" not in err
