"""The commands with several GPUs: predict --gpus, a system entry, rank --max-gpus (table and JSON)."""
import json

import pytest


@pytest.fixture(scope="module")
def cli():
    from click.testing import CliRunner

    from roofline.cli import cli as group

    runner = CliRunner()

    def run(*args):
        result = runner.invoke(group, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout

    return run


def test_predict_70b_on_four_h100(cli):
    code, out = cli("predict", "hf:llama-3-70b", "--device", "nvidia-h100-sxm", "--gpus", "4", "--json")
    assert code == 0
    d = json.loads(out)
    assert (d["tp"], d["pp"], d["gpus"]) == (4, 1, 4)
    assert d["parallel"]["tp"] == 4
    assert d["memory"]["gpus"] == 4 and d["memory"]["fits"] is True
    assert d["memory_per_gpu_bytes"] == d["memory"]["required_bytes"]
    # a quarter of the 70B model's fp16 weights (plus replicated norms) on each GPU
    assert 0.25 <= d["memory"]["weight_bytes"] / (70.5e9 * 2) <= 0.2505
    share = d["decode_collective_share"]
    assert 0 < share < 1 and share == pytest.approx(d["decode"]["collective_s"] / d["decode"]["latency_s"])
    assert d["tokens_per_s_per_gpu"] == pytest.approx(d["tokens_per_s"] / 4)
    code, table = cli("predict", "hf:llama-3-70b", "--device", "nvidia-h100-sxm", "--gpus", "4")
    assert code == 0
    assert "TP=4" in table and "memory per GPU" in table and "of a decode step" in table


@pytest.mark.slow
def test_system_entry_runs_on_its_gpus(cli):
    code, out = cli("predict", "hf:llama-3-70b", "--device", "nvidia-dgx-h100", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["device"] == "nvidia-h100-sxm" and d["gpus"] == 8


def test_rank_70b_gives_h100_and_a100_their_gpus(cli):
    code, out = cli("rank", "hf:llama-3-70b", "--prompt", "1024", "--generate", "256", "--kind", "gpu",
                    "--max-gpus", "8", "--devices", "nvidia-h100-sxm,nvidia-a100-80gb-sxm,nvidia-a100-40gb-sxm",
                    "--json")
    assert code == 0
    d = json.loads(out)
    gpus = {r["device"]: r["gpus"] for r in d["ranked"]}
    assert set(gpus) == {"nvidia-h100-sxm", "nvidia-a100-80gb-sxm", "nvidia-a100-40gb-sxm"}
    assert gpus["nvidia-a100-40gb-sxm"] > gpus["nvidia-a100-80gb-sxm"] >= 2
    code, table = cli("rank", "hf:llama-3-70b", "--prompt", "1024", "--generate", "256", "--kind", "gpu",
                      "--max-gpus", "8", "--devices", "nvidia-h100-sxm,nvidia-a100-80gb-sxm")
    assert code == 0 and "GPUs" in table and "TP=2" in table
