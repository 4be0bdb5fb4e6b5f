"""`roofline plan hf:...`: capacity planning for language models through the plan command."""
import json

import pytest

pytest.importorskip("transformers")


@pytest.mark.slow
def test_plan_hf_model_json(run_cli):
    code, out, err = run_cli("plan", "hf:llama-3-8b", "--qps", "5", "--prompt", "256", "--generate", "32",
                             "--devices", "nvidia-h100-sxm,nvidia-l4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["requests_per_s"] == 5 and data["prompt"] == 256 and data["generate"] == 32
    assert data["units_per_s"] == pytest.approx(5 * 32) and data["unit"] == "token"
    assert {r["device"] for r in data["rows"]} | {e["device"] for e in data["excluded"]} == {
        "nvidia-h100-sxm", "nvidia-l4"}
    for row in data["rows"]:
        # enough units for the load: units x per-unit request rate covers the target
        assert row["units"] * row["requests_per_s_per_unit"] >= 5 * (1 - 1e-9)
        assert row["metrics"]["ttft_s"] > 0 and row["metrics"]["tpot_s"] > 0
        assert row["throughput_per_unit_per_s"] == pytest.approx(row["requests_per_s_per_unit"] * 32)


@pytest.mark.slow
def test_plan_hf_model_table(run_cli):
    code, out, err = run_cli("plan", "hf:llama-3-8b", "--qps", "1", "--prompt", "128", "--generate", "16",
                             "--devices", "nvidia-h100-sxm")
    assert code == 0, err
    assert "TTFT" in out and "assumption" in out
