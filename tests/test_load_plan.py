"""Planning for a load with continuous batching (roofline.decide.load, `roofline plan --rps`)."""
import json

import pytest

pytest.importorskip("transformers")

from roofline.constants import HOURS_PER_YEAR  # noqa: E402
from roofline.decide.costs import CostAssumptions  # noqa: E402
from roofline.llm.batching import RequestMix  # noqa: E402

MODEL = "hf:llama-3.2-1b"
DEVICES = ["nvidia-l4", "nvidia-rtx-4090", "nvidia-h100-sxm", "nvidia-rtx-4060"]


@pytest.fixture(scope="module")
def plan():
    from roofline.decide.load import plan_load

    return plan_load(MODEL, rps=40, mix=RequestMix.fixed(512, 128), ttft_s=1.0, tpot_s=0.03, devices=DEVICES)


def test_replicas_cover_the_rate_within_the_slos(plan):
    assert plan.rows, plan.excluded
    for row in plan.rows:
        assert row.replicas * row.capacity_requests_per_s >= 40 * (1 - 1e-9)
        assert (row.replicas - 1) * row.capacity_requests_per_s < 40  # no replica more than needed
        p = row.point
        assert p.requests_per_s == pytest.approx(40 / row.replicas, rel=1e-6)
        assert p.ttft_s <= 1.0 and p.tpot_s <= 0.03
        assert p.concurrency <= row.max_concurrency
        assert row.gpus == row.replicas * row.gpus_per_replica == row.replicas  # a 1B model fits one GPU


def test_rows_sorted_by_cost_complete_first(plan):
    keys = [(not r.cost_complete, r.usd_per_million_tokens) for r in plan.rows]
    assert keys == sorted(keys)


def test_cost_per_million_tokens_by_hand(plan):
    from roofline.resolve import resolve_device

    row = next(r for r in plan.rows if r.device == "nvidia-rtx-4090")
    assert row.cost_basis == "purchase + energy"
    price = resolve_device("nvidia-rtx-4090").price.launch_usd
    c = CostAssumptions()
    tokens_per_hour = row.point.output_tokens_per_s * row.replicas * 3600
    per_hour = row.gpus * price / (c.years * HOURS_PER_YEAR) + row.power_w / 1000 * c.electricity_usd_per_kwh
    assert row.usd_per_hour == pytest.approx(per_hour, rel=1e-9)
    assert row.usd_per_million_tokens == pytest.approx(per_hour / tokens_per_hour * 1e6, rel=1e-9)
    assert row.power_w == pytest.approx(row.point.power_w * row.gpus)


def test_every_device_is_a_row_or_an_exclusion(plan):
    assert set(DEVICES) == {r.device for r in plan.rows} | {e.device for e in plan.excluded}


def test_a_gpu_too_small_is_excluded_with_its_reason():
    from roofline.decide.load import plan_load

    result = plan_load("hf:llama-3.1-8b", rps=1, mix=RequestMix.fixed(512, 128), devices=["nvidia-rtx-4060"])
    assert not result.rows
    (excluded,) = result.excluded
    assert excluded.category == "memory" and "leave no room" in excluded.detail


def test_max_throughput_needs_no_load():
    from roofline.decide.load import plan_load

    result = plan_load(MODEL, mix=RequestMix.fixed(512, 128), devices=["nvidia-l4"], max_throughput=True)
    row = result.rows[0]
    assert row.replicas == 1 and row.point.concurrency == row.max_concurrency
    assert row.point.output_tokens_per_s_per_gpu == row.point.output_tokens_per_s
    assert result.to_dict()["mode"] == "max-throughput"


def test_plan_rps_json(run_cli):
    code, out, err = run_cli("plan", MODEL, "--rps", "20", "--isl", "256", "--osl", "64", "--ttft", "2s",
                             "--tpot", "50ms", "--devices", "nvidia-l4,nvidia-h100-sxm", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["mode"] == "load" and data["requests_per_s"] == 20
    assert data["mix"]["mean_isl"] == 256 and data["ttft_limit_s"] == 2 and data["tpot_limit_s"] == 0.05
    assert "Allen-Cunneen" in data["queueing"] and data["ttft_quantile"] == 0.99
    for row in data["rows"]:
        assert row["replicas"] * row["capacity_requests_per_s"] >= 20 * (1 - 1e-9)
        assert row["point"]["ttft_s"] <= 2 and row["point"]["tpot_s"] <= 0.05
    assert err == ""  # no spinner under --json


def test_plan_rps_table_and_max_throughput(run_cli, tmp_path):
    code, out, err = run_cli("plan", MODEL, "--rps", "5", "--isl", "128", "--osl", "32", "--devices", "nvidia-l4")
    assert code == 0, err
    assert "replicas" in out and "queueing:" in out and "nvidia-l4" in out
    mix = tmp_path / "mix.yaml"
    mix.write_text("- {isl: 128, osl: 32, weight: 1}\n- {isl: 512, osl: 64, weight: 1}\n")
    code, out, err = run_cli("plan", MODEL, "--max-throughput", "--mix", str(mix), "--devices", "nvidia-l4")
    assert code == 0, err
    assert "highest sustainable throughput" in out and "mix.yaml" in out


@pytest.mark.parametrize("args,message", [
    (["--rps", "5", "--qps", "5"], "not both"),
    (["--max-throughput", "--rps", "5"], "takes no --rps"),
    (["--rps", "5", "--p99-latency", "1s"], "static batches"),
    (["--rps", "5", "--tp", "3"], "--tp 3 must divide the 32 attention heads"),
    (["--isl", "100", "--qps", "5"], "applies to continuous batching"),
    (["--rps", "5", "--isl", "100", "--prompt", "100"], "not both"),
])
def test_plan_rps_usage_errors(run_cli, args, message):
    code, out, err = run_cli("plan", MODEL, *args, "--devices", "nvidia-l4")
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_rps_needs_a_language_model(run_cli):
    code, out, err = run_cli("plan", "resnet18", "--rps", "5")
    assert code == 2 and "--qps" in err


@pytest.mark.slow
def test_a_model_too_big_for_one_gpu_gets_the_smallest_tp_that_fits(run_cli):
    code, out, err = run_cli("plan", "hf:llama-3.1-70b", "--rps", "10", "--isl", "1024", "--osl", "256", "--ttft", "2s",
                             "--tpot", "50ms", "--devices", "nvidia-h100-sxm,nvidia-b200", "--json")
    assert code == 0, err
    rows = {r["device"]: r for r in json.loads(out)["rows"]}
    h100 = rows["nvidia-h100-sxm"]
    assert h100["tp"] == h100["gpus_per_replica"] >= 2 and h100["pp"] == 1  # 141 GB of weights > 80 GB
    assert h100["gpus"] == h100["replicas"] * h100["tp"]
    assert h100["point"]["output_tokens_per_s_per_gpu"] == pytest.approx(
        h100["point"]["output_tokens_per_s"] / h100["tp"])
    assert rows["nvidia-b200"]["tp"] == 1  # 180 GB: one GPU
    for r in rows.values():
        assert r["replicas"] * r["capacity_requests_per_s"] >= 10 * (1 - 1e-9)
