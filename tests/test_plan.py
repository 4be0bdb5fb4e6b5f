"""Capacity planning: hand-computed cases on synthetic devices, the sweep API, and `roofline plan`."""
import json
import math

import pytest
from torch import nn

import roofline
from roofline.catalog import DeviceSpec
from roofline.decide.costs import CostAssumptions
from roofline.decide.plan import NoDeviceMeetsLatency, batch_sizes, plan_scenarios, units_needed
from roofline.decide.plan import plan as _plan
from roofline.decide.sweep import sweep as _sweep
from roofline.errors import MissingExtraError, RooflineError
from roofline.resolve import ModelOptions
from roofline.scenario import forward_scenario


def plan(model, *, input_shape, electricity_usd_per_kwh=0.15, years=3.0, **kw):
    costs = CostAssumptions(electricity_usd_per_kwh, years)
    return _plan(model, options=ModelOptions(input_shape=input_shape), costs=costs, **kw)


def sweep(model, *, input_shape, **kw):
    return _sweep(model, options=ModelOptions(input_shape=input_shape), **kw)


@pytest.fixture(autouse=True)
def datasheet_defaults(monkeypatch):
    """These hand-derived cases use the documented kind-keyed defaults (docs/methodology.md), not the engine fit."""
    import roofline.predict.engines as engines

    monkeypatch.setattr(engines, "fitted", lambda: None)

SOURCE = [{"document": "synthetic test device", "title": "hand-made", "fields": ["compute", "memory", "power",
                                                                                   "price"]}]


def synthetic(id_="test-chip", price=1000, **extra) -> DeviceSpec:
    data = {
        "id": id_, "name": id_.title(), "vendor": "test", "kind": "gpu",
        "compute": {"fp32": {"vector": "1 TFLOPS"}},
        "memory": {"capacity": "8 GB", "bandwidth": "100 GB/s"},
        "power": {"tdp": "100 W", "idle": "20 W"},
        "sources": SOURCE,
    }
    if price is not None:
        data["price"] = {"launch_usd": price}
    data.update(extra)
    return DeviceSpec.from_yaml_dict(data)


LINEAR = nn.Linear(1024, 1024, bias=False)


def hand_latency(b: int) -> tuple[float, float]:
    """(latency, power while running) of Linear(1024, 1024) at batch b on the synthetic chip, eager GPU
    datasheet tier: 0.60 x 1 TFLOPS for the matmul, 0.75 x 100 GB/s, 8 us per op; idle 20 W, TDP 100 W."""
    flops = 2 * b * 1024 * 1024
    nbytes = (b * 1024 + 1024 * 1024 + b * 1024) * 4
    latency = max(flops / 0.6e12, nbytes / 75e9) + 8e-6
    utilisation = max(flops / latency / 1e12, nbytes / latency / 100e9)
    return latency, 20 + 80 * utilisation


def test_hand_latency_matches_the_predictor():
    w = roofline.analyze(LINEAR, (2, 1024))
    assert roofline.predict(w, synthetic()).latency_s == pytest.approx(hand_latency(2)[0], rel=1e-12)


def test_plan_arithmetic_by_hand():
    qps = 20_000.0
    result = plan(LINEAR, input_shape=(1, 1024), qps=qps, p99_latency_s=200e-6, batch_max=4,
                  devices=[synthetic()], electricity_usd_per_kwh=0.10, years=3)
    assert result.batches == (1, 2, 4)
    (row,) = result.rows
    # worst-case latency (B-1)/qps + S(B): 64.0 us (B=1), 50 + 64.1 us (B=2), 150 + 64.3 us (B=4 > 200 us);
    # B=1 needs ceil(20000 / 15,617/s) = 2 units, B=2 needs ceil(20000 / 31,181/s) = 1: B=2 is cheaper
    s2, p_run = hand_latency(2)
    assert s2 == pytest.approx(64.1425e-6, rel=1e-5)
    assert row.batch == 2 and row.units == 1
    assert row.fill_latency_s == pytest.approx(50e-6)
    assert row.worst_latency_s == pytest.approx(50e-6 + s2)
    assert row.throughput_per_unit_per_s == pytest.approx(2 / s2)
    busy = qps * s2 / 2  # 0.641 of the time
    assert row.busy_fraction == pytest.approx(busy)
    power = busy * p_run + (1 - busy) * 20  # W, one unit
    assert row.power_w == pytest.approx(power)
    assert row.peak_power_w == 100
    kwh = power * 8766 / 1000
    assert row.energy_kwh_per_year == pytest.approx(kwh)
    assert row.energy_usd_per_year == pytest.approx(kwh * 0.10)
    assert row.purchase_usd == 1000
    assert row.tco_usd == pytest.approx(1000 + 3 * kwh * 0.10)
    # the same average power, written as qps x energy per item + idle units
    assert row.power_w == pytest.approx(qps * s2 * p_run / 2 + (1 - busy) * 20)


def test_units_power_and_cost_scale_with_the_load():
    qps = 100_000.0
    result = plan(LINEAR, input_shape=(1, 1024), qps=qps, batch_max=1, devices=[synthetic()],
                  electricity_usd_per_kwh=0.15, years=2)
    (row,) = result.rows
    s1, p_run = hand_latency(1)
    units = math.ceil(qps * s1)  # 100,000 x 64.03 us = 6.4 -> 7 units
    assert units == 7 and row.units == 7 and row.batch == 1
    busy = qps / (units * (1 / s1))
    power = units * (busy * p_run + (1 - busy) * 20)
    assert row.power_w == pytest.approx(power)
    assert row.peak_power_w == 700
    assert row.purchase_usd == 7000
    assert row.tco_usd == pytest.approx(7000 + 2 * power * 8766 / 1000 * 0.15)


def test_without_a_limit_the_cheapest_batch_wins_and_unpriced_devices_go_last():
    result = plan(LINEAR, input_shape=(1, 1024), qps=20_000, batch_max=4,
                  devices=[synthetic("no-price-chip", price=None), synthetic()])
    assert [r.device for r in result.rows] == ["test-chip", "no-price-chip"]
    assert result.rows[0].batch == 4  # one unit either way; batch 4 spends the least energy
    unpriced = result.rows[1]
    # an energy-only TCO is shown, but marked incomplete and ranked after every complete one
    assert unpriced.purchase_usd is None and unpriced.energy_usd_per_year > 0
    assert unpriced.tco_usd == pytest.approx(3 * unpriced.energy_usd_per_year) and not unpriced.cost_complete
    assert result.rows[0].cost_complete and unpriced.tco_usd < result.rows[0].tco_usd
    assert any("no price" in n for n in unpriced.notes)


def test_no_device_meets_the_limit_names_the_closest():
    with pytest.raises(NoDeviceMeetsLatency) as info:
        plan(LINEAR, input_shape=(1, 1024), qps=1000, p99_latency_s=10e-6, batch_max=2, devices=[synthetic()])
    message = str(info.value)
    assert "no device meets" in message and "closest is test-chip at 0.064 ms (batch 1)" in message
    worst, batch = info.value.result.closest["test-chip"]
    assert batch == 1 and worst == pytest.approx(hand_latency(1)[0])


def test_memory_and_unusable_devices_are_excluded_with_reasons():
    tiny = synthetic("tiny-chip", memory={"capacity": "1 MB", "bandwidth": "100 GB/s"})
    npu = synthetic("npu-chip", kind="accelerator", compute={"int8": {"matrix": "4 TOPS"}})
    result = plan(LINEAR, input_shape=(1, 1024), qps=100, batch_max=2, devices=[tiny, npu, synthetic()])
    assert [r.device for r in result.rows] == ["test-chip"]
    reasons = {e.device: e.category for e in result.excluded}
    assert reasons == {"tiny-chip": "memory", "npu-chip": "runtime"}


def test_one_trace_per_batch_size_not_per_device(monkeypatch):
    import roofline.workload.build

    calls = []
    real = roofline.workload.build.analyze

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(roofline.workload.build, "analyze", counting)
    devices = [synthetic("chip-a"), synthetic("chip-b"), synthetic("chip-c", price=None)]
    plan(LINEAR, input_shape=(1, 1024), qps=1000, batch_max=8, devices=devices)
    assert [shape[0] for shape in calls] == [1, 2, 4, 8]
    calls.clear()
    rows = sweep(LINEAR, input_shape=(1, 1024), batches=[1, 4], dtypes=["fp32", "fp16"], devices=devices)
    assert len(calls) == 2 and len(rows) == 2 * 2 * 3


def test_sweep_rows_are_typed_and_dtypes_repriced():
    rows = sweep(LINEAR, input_shape=(1, 1024), batches=[1, 2], dtypes=["fp32", "fp16"],
                 devices=[synthetic(), synthetic("npu-chip", kind="accelerator", compute={"int8": {"matrix": "4 TOPS"}})])
    ok = {(r.batch, r.dtype): r for r in rows if r.status == "ok"}
    assert set(ok) == {(1, "fp32"), (1, "fp16"), (2, "fp32"), (2, "fp16")}
    assert ok[(1, "fp16")].memory_required_bytes < ok[(1, "fp32")].memory_required_bytes
    bad = [r for r in rows if r.device == "npu-chip"]
    assert all(r.status == "runtime" and r.latency_s is None and r.reason for r in bad)
    assert rows.to_dicts()[0]["device"] == "test-chip"


def test_dataframe_when_pandas_is_installed():
    rows = sweep(LINEAR, input_shape=(1, 1024), batches=[1], devices=[synthetic()])
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="pandas"):
            rows.to_dataframe()
        return
    frame = rows.to_dataframe()
    assert list(frame["device"]) == ["test-chip"] and "latency_s" in frame.columns


def test_public_api_name():
    assert roofline.plan is _plan and roofline.sweep is _sweep


def test_plan_scenarios_is_pure_on_traced_workloads():
    scenarios = [forward_scenario(roofline.analyze(LINEAR, (b, 1024))) for b in (4, 1, 2)]
    result = plan_scenarios(scenarios, [synthetic()], qps=20_000, p99_latency_s=200e-6)
    assert result.batches == (1, 2, 4) and result.rows[0].batch == 2


def test_batch_sizes_and_units():
    assert batch_sizes(64) == (1, 2, 4, 8, 16, 32, 64)
    assert batch_sizes(48) == (1, 2, 4, 8, 16, 32)
    assert batch_sizes(1) == (1,)
    with pytest.raises(RooflineError):
        batch_sizes(0)
    assert units_needed(300.0, 100.0) == 3  # exact multiples need no extra unit
    assert units_needed(300.000001, 100.0) == 4
    assert units_needed(0.3, 0.1) == 3  # 0.3 / 0.1 = 2.9999999999999996 in floats
    assert units_needed(0.5, 100.0) == 1


@pytest.mark.parametrize("kwargs", [{"qps": 0}, {"qps": -5}, {"qps": 10, "p99_latency_s": 0},
                                    {"qps": 10, "years": 0}, {"qps": 10, "electricity_usd_per_kwh": -0.1}])
def test_bad_plan_inputs(kwargs):
    with pytest.raises(RooflineError):
        plan(LINEAR, input_shape=(1, 1024), devices=[synthetic()], **kwargs)


# ------------------------------------------------------------------ CLI

def test_cli_plan_json(run_cli):
    code, out, err = run_cli("plan", "resnet18", "--qps", "500", "--p99-latency", "50ms", "--batch-max", "16",
                             "--devices", "nvidia-l4,nvidia-rtx-4090,raspberry-pi-5", "--tier", "datasheet", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["batches"] == [1, 2, 4, 8, 16] and data["requests_per_s"] == 500 and data["p99_latency_s"] == 0.05
    assert "worst-case latency = (B - 1) / rate" in data["assumption"]
    for row in data["rows"]:
        assert row["worst_latency_s"] <= 0.05
        assert row["units"] == math.ceil(500 / row["throughput_per_unit_per_s"] * (1 - 1e-12))
    assert [r["device"] for r in data["rows"]][0] == "nvidia-rtx-4090"  # the only one with a price and power
    assert {e["device"]: e["category"] for e in data["excluded"]} == {"raspberry-pi-5": "latency"}


def test_cli_plan_table(run_cli):
    code, out, err = run_cli("plan", "resnet18", "--qps", "100/s", "--kind", "sbc", "--batch-max", "4")
    assert code == 0, err
    assert "units" in out and "TCO" in out and "assumption: requests arrive evenly" in out


@pytest.mark.parametrize("args,message", [
    (("--qps", "500", "--p99-latency", "0.1ms", "--devices", "nvidia-l4,nvidia-t4"), "the closest is nvidia-"),
    (("--qps", "500", "--devices", "nvidia-h10"), "did you mean"),
    (("--qps", "fast"), "malformed value"),
    (("--qps", "500", "--batch-max", "0"), "--batch-max"),
    (("--qps", "500", "--p99-latency", "soon"), "malformed value"),
    (("--qps", "500", "--batch", "4"), "--batch-max"),
    (("--qps", "500", "--prompt", "128"), "only hf: language models take --prompt"),
    (("--qps", "500", "--ttft", "2s"), "apply to language-model serving"),
])
def test_cli_plan_bad_input(run_cli, args, message):
    code, out, err = run_cli("plan", "resnet18", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
