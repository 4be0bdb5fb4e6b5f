"""The quick plan's subset is data chosen by zoo accuracy (benchmarks/accuracy/select_quick.py), with fakes."""
from __future__ import annotations

import ast
import math
import importlib.util
import json
from pathlib import Path

import pytest

from roofline.calibration import quick_subset
from roofline.calibration.probes import DtypeSupport, build_plan

from test_calibration_fit import _synthetic_suite

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("select_quick", ROOT / "benchmarks" / "accuracy" / "select_quick.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_greedy_selection_adds_what_lowers_the_error_most_and_stops():
    sq = _script()
    gain = {"a": 0.10, "b": 0.30, "c": 0.0, "d": 0.25}

    def evaluate(families):
        median = 0.5 - sum(gain[f] for f in families) + (0.3 if {"b", "d"} <= set(families) else 0.0)
        return round(median, 6), round(median + 0.1, 6)

    chosen, rows = sq.greedy_select(["a", "b", "c", "d"], evaluate, {"a": 5, "b": 5, "c": 1, "d": 5}, 10.0, 40.0)
    # b first (largest gain), then d would undo part of it (interaction), so a; c gains nothing: stop
    assert chosen == ["b", "a"]
    assert [r["added"] for r in rows][1:] == ["b", "a"] and rows[-1]["median_abs_error"] == pytest.approx(0.1)
    assert rows[-1]["estimated_s"] == 20
    # a budget that leaves room for one family only
    chosen, _ = sq.greedy_select(["a", "b", "c", "d"], evaluate, {"a": 5, "b": 5, "c": 1, "d": 5}, 10.0, 15.0)
    assert chosen == ["b"]
    text = sq.table_markdown(rows, {"cpu_model": "X", "threads": 1, "torch_version": "2.x", "date_utc": "2026-12-01"})
    assert "| 1 | b | 20.0% | 30.0% | 15 s |" in text and "X (1 thread(s)" in text


def test_drop_one_keeps_the_families_whose_absence_hurts_within_the_budget():
    sq = _script()
    gain = {"a": 0.10, "b": 0.30, "c": 0.0, "d": -0.05}  # d makes the zoo worse

    def evaluate(families):
        median = 0.6 - sum(gain[f] for f in families)
        worst = median + (0.2 if "c" not in families else 0.1)  # c helps the worst case only
        return round(median, 6), round(worst, 6)

    chosen, rows = sq.drop_one_select(["a", "b", "c", "d"], evaluate, {"a": 5, "b": 5, "c": 1, "d": 5}, 10.0, 40.0)
    assert chosen == ["b", "a", "c"]  # by worth: b, a (median), then c (worst error at an equal median); not d
    assert rows[0]["median_abs_error"] == pytest.approx(0.25)
    assert rows[-1]["added"] == "the 3 kept families" and rows[-1]["median_abs_error"] == pytest.approx(0.2)
    assert rows[-1]["estimated_s"] == 21
    chosen, _ = sq.drop_one_select(["a", "b", "c", "d"], evaluate, {"a": 5, "b": 5, "c": 1, "d": 5}, 10.0, 15.5)
    assert chosen == ["b"]  # a (20 s) and c (16 s) would exceed the 15.5 s budget


def test_the_recorded_subset_filters_the_quick_plan_only(monkeypatch):
    monkeypatch.setattr(quick_subset, "SELECTION", {"families": None})  # the plan with every family
    dtypes = {"fp32": DtypeSupport("fp32", True, "test", 1.6e11)}
    selection = {"families": ("conv3x3", "cat")}
    plan = build_plan("quick", dtypes=dtypes, threads=1)
    kept = [c for st in plan.stages for c in st.cases if quick_subset.keep_in_plan("quick", c, selection)]
    assert {c.family for c in kept if c.stage not in quick_subset.ALWAYS_STAGES} == {"conv3x3", "cat"}
    assert {c.stage for c in kept} >= {"dispatch", "memory"}
    full_case = next(c for st in build_plan("full", dtypes=dtypes, threads=1).stages for c in st.cases)
    assert quick_subset.keep_in_plan("full", full_case, selection)
    # nothing selected yet: the quick plan times every family
    assert quick_subset.selected_families({"families": None}) is None


def test_write_subset_rewrites_the_selection_as_data(tmp_path):
    sq = _script()
    target = tmp_path / "quick_subset.py"
    target.write_text((ROOT / "calibration" / "quick_subset.py").read_text())
    rows = [{"step": 0, "added": "(dispatch and memory stages)", "median_abs_error": math.inf,
             "max_abs_error": math.inf, "estimated_s": 6.0},  # cannot predict: must still be a Python literal
            {"step": 1, "added": "conv3x3", "median_abs_error": 0.2, "max_abs_error": 0.5, "estimated_s": 9.0}]
    sq.write_subset(["conv3x3"], rows, {"cpu_model": "X"}, path=target)
    tree = ast.parse(target.read_text())
    namespace: dict = {}
    exec(compile(tree, str(target), "exec"), namespace)
    assert namespace["SELECTION"]["families"] == ("conv3x3",)
    assert namespace["SELECTION"]["table"][1]["added"] == "conv3x3"
    assert namespace["SELECTION"]["table"][0]["median_abs_error"] is None
    # a second selection replaces the first (the block written by pprint is found again)
    sq.write_subset(["cat", "relu"], rows[1:], {"cpu_model": "Y"}, path=target)
    namespace = {}
    exec(compile(ast.parse(target.read_text()), str(target), "exec"), namespace)
    assert namespace["SELECTION"]["families"] == ("cat", "relu") and namespace["SELECTION"]["host"]["cpu_model"] == "Y"
    assert target.read_text().count("SELECTION: dict[str, Any] =") == 1
    assert namespace["keep_in_plan"].__name__ == "keep_in_plan"


def test_zoo_errors_fit_from_probe_data_and_predict_the_measured_rows():
    from torch import nn

    from roofline.workload import analyze

    sq = _script()
    suite = _synthetic_suite()
    workloads = {"mlp@1": analyze(nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256)), (1, 256)),
                 "mlp@8": analyze(nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256)), (8, 256))}
    zoo = [{"key": "mlp@1", "measured_s": 20e-6}, {"key": "mlp@8", "measured_s": 40e-6},
           {"key": "mlp@8", "measured_s": 1.0, "busy_reason": "host too busy"}]
    names = {m.name for m in suite.measurements}
    everything = sq.subset_of(suite, names, ["gemm_square", "gemm_m1", "gemm_m8", "relu"])
    assert len(everything) == len(suite.measurements)
    only_base = sq.subset_of(suite, names, [])
    assert {m.stage for m in only_base} == {"dispatch", "memory"}
    median, worst = sq.zoo_errors(everything, suite, zoo, workloads, None, {})
    assert 0 <= median <= worst < 10  # the busy row (1 s measured) is left out
    # without a compute class nothing can be predicted: the selection's first step must add one
    assert sq.zoo_errors(only_base, suite, zoo, workloads, None, {}) == (float("inf"), float("inf"))
    no_relu, _ = sq.zoo_errors(sq.subset_of(suite, names, ["gemm_square", "gemm_m1", "gemm_m8"]), suite, zoo,
                               workloads, None, {})
    assert no_relu != median  # the relu probes change the prediction of a network with a ReLU


def test_zoo_script_compares_full_and_quick_on_one_measurement(tmp_path, monkeypatch):
    import yaml

    import roofline.measure
    from roofline.calibrate import build_device_file
    from roofline.calibration.fit import fit_suite

    spec = importlib.util.spec_from_file_location("zoo", ROOT / "benchmarks" / "accuracy" / "zoo.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)

    def fake_calibrate(work, threads, quick, suffix=""):
        device_id = f"host-zoo-{'quick' if quick else 'full'}-{threads}t{suffix}"
        res = _synthetic_suite()
        if quick:  # a different calibration: the relu probes run twice as fast
            res.measurements = [m if m.family != "relu" else type(m)(**{**m.__dict__, "p10_s": m.p10_s / 2})
                                for m in res.measurements]
        (work / f"{device_id}.yaml").write_text(yaml.safe_dump(build_device_file(fit_suite(res), base=None,
                                                                                 device_id=device_id)))
        return device_id, 1.0

    calls = []

    def fake_measure(model, shape, **kw):
        calls.append(shape)
        return roofline.measure.MeasuredLatency(1e-3 * len(calls), 1e-3, 1e-3, 0.01, False, 5, 1)

    monkeypatch.setattr(zoo, "calibrate", fake_calibrate)
    monkeypatch.setattr(roofline.measure, "measure_latency", fake_measure)
    zoo.main(["--work", str(tmp_path), "--threads", "1", "--models", "squeezenet1_1"])
    assert len(calls) == 2  # batch 1 and 8, measured once for both calibrations
    figures = json.loads((tmp_path / "zoo.json").read_text())
    full, quick = figures["host-zoo-full-1t"], figures["host-zoo-quick-1t"]
    assert [r["measured_latency_s"] for r in full["results"]] == [r["measured_latency_s"] for r in quick["results"]]
    assert full["results"][0]["predicted_latency_s"] != quick["results"][0]["predicted_latency_s"]
    text = (tmp_path / "zoo.md").read_text()
    assert "#### full calibration, 1 thread(s)" in text and "#### quick calibration, 1 thread(s)" in text

    # --repeat: a second full calibration (here identical to the first), compared row by row
    calls.clear()
    zoo.main(["--work", str(tmp_path / "repeat"), "--threads", "1", "--models", "squeezenet1_1", "--repeat"])
    assert len(calls) == 2  # still measured once
    text = (tmp_path / "repeat" / "zoo.md").read_text()
    assert "#### two full calibrations, 1 thread(s): `host-zoo-full-1t` against `host-zoo-full-1t-repeat`" in text
    assert "| 2 | 0.0 % | 0.0 % | 2 of 2 |" in text
