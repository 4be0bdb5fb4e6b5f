"""`roofline predict` and `roofline rank` end to end."""
import json

import pytest

from roofline.errors import RooflineError
from roofline.cli.options import parse_duration, parse_power, parse_rate, parse_usd


def test_rank_json_shape(run_cli):
    code, out, err = run_cli("rank", "resnet18", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ranked"] and data["excluded"] is not None
    for row in data["ranked"]:
        assert row["throughput_per_s"] == pytest.approx(row["batch"] / row["latency_s"])
        assert row["bound"] in ("compute", "memory", "overhead")
        assert row["tier"] in ("datasheet", "published", "calibrated")
        if row["energy_j"] is not None:
            assert row["energy_j"] == pytest.approx(row["latency_s"] * row["power_w"])
    assert all(e["device"] and e["category"] and e["detail"] for e in data["excluded"])
    latencies = [r["latency_s"] for r in data["ranked"]]
    assert latencies == sorted(latencies)


def test_rank_constraints_exclude_with_reasons(run_cli):
    code, out, _ = run_cli("rank", "resnet18", "--max-power", "15W", "--max-latency", "1s", "--json")
    data = json.loads(out)
    assert all(r["tdp_w"] is not None and r["tdp_w"] <= 15 for r in data["ranked"])
    assert all(r["latency_s"] <= 1 for r in data["ranked"])
    categories = {e["category"] for e in data["excluded"]}
    assert "power" in categories


def test_rank_kind_and_top_and_sort(run_cli):
    code, out, _ = run_cli("rank", "resnet18", "--kind", "sbc", "--sort", "energy", "--top", "2", "--json")
    data = json.loads(out)
    assert len(data["ranked"]) == 2 and {r["kind"] for r in data["ranked"]} == {"sbc"}
    energies = [r["energy_per_item_j"] for r in data["ranked"]]
    assert energies == sorted(energies)


def test_rank_table(run_cli):
    code, out, _ = run_cli("rank", "ultralytics:yolo11n.yaml", "--imgsz", "640", "--top", "5")
    assert code == 0 and "excluded" in out and "sorted by latency" in out


def test_predict_json_has_ops(run_cli):
    code, out, err = run_cli("predict", "resnet18", "--device", "nvidia-t4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"] == "nvidia-t4" and data["ops"]
    assert sum(op["time_s"] for op in data["ops"]) == pytest.approx(data["latency_s"])
    assert {op["bound"] for op in data["ops"] if op["flops"]} <= {"compute", "memory"}


def test_predict_table(run_cli):
    code, out, _ = run_cli("predict", "resnet18", "--device", "raspberry-pi-5", "--top", "3")
    assert code == 0 and "layer" in out and "raspberry-pi-5: latency" in out


@pytest.mark.parametrize("args,message", [
    (("predict", "resnet18", "--device", "nvidia-h10"), "nvidia-h10"),
    (("rank", "resnet18", "--max-latency", "30 parsecs"), "malformed duration"),
    (("rank", "resnet18", "--max-power", "15V"), "malformed power"),
    (("rank", "resnet18", "--min-throughput", "fast"), "malformed value"),
    (("rank", "resnet18", "--max-price", "cheap"), "malformed price"),
    (("rank", "resnet18", "--top", "-3"), "--top must be a positive integer"),
    (("rank", "resnet18", "--top", "0"), "--top must be a positive integer"),
    (("predict", "resnet18", "--device", "nvidia-l4", "--top", "-3"), "--top must be a positive integer"),
    (("rank", "resnet18", "--cost-basis", "barter"), "error: invalid value for '--cost-basis'"),
])
def test_bad_input(run_cli, args, message):
    code, _, err = run_cli(*args)
    assert code == 2 and message in err and "Traceback" not in err


def test_unit_parsers():
    assert parse_duration("30ms") == pytest.approx(0.03)
    assert parse_duration("0.03s") == pytest.approx(0.03)
    assert parse_duration("500us") == pytest.approx(5e-4)
    assert parse_rate("100/s") == 100 and parse_rate("6000/min") == pytest.approx(100)
    assert parse_power("15W") == 15 and parse_power("0.5kW") == 500
    assert parse_usd("$1,500") == 1500 and parse_usd("1.5k") == 1500
    with pytest.raises(RooflineError):
        parse_duration("-3ms")


def test_empty_ranking_says_why(run_cli):
    code, out, err = run_cli("rank", "resnet18", "--max-price", "0")
    assert code == 0, err
    assert "nothing ranked: every device was excluded (missing spec, price, runtime)" in out
    code, out, err = run_cli("rank", "resnet18", "--max-price", "0", "--json")
    assert json.loads(out)["empty_reason"].startswith("every device was excluded")


def test_rank_marks_incomplete_costs(run_cli):
    code, out, err = run_cli("rank", "resnet18", "--devices", "nvidia-l40,raspberry-pi-5", "--sort", "cost", "--json")
    assert code == 0, err
    rows = json.loads(out)["ranked"]
    # the Pi has a price and a power figure; the L40 has no price (purchase or cloud): energy only, after every complete cost
    assert [(r["device"], r["cost_complete"]) for r in rows] == [("raspberry-pi-5", True), ("nvidia-l40", False)]
    assert rows[1]["cost_basis"] == "energy only" and rows[1]["cost_usd_per_million_units"] < \
        rows[0]["cost_usd_per_million_units"]
    code, out, _ = run_cli("rank", "resnet18", "--devices", "nvidia-l40,raspberry-pi-5", "--sort", "cost")
    assert "†" in out and "not comparable" in out
