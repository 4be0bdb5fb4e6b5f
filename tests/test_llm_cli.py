"""`roofline rank/predict/profile hf:...` end to end, and that other models keep their behaviour."""
import json

import pytest

pytest.importorskip("transformers")


def test_rank_llama_3_8b_is_sane(run_cli):
    # one tier for every device: the published tier would put measured bandwidths next to datasheet ones
    code, out, err = run_cli("rank", "hf:llama-3-8b", "--prompt", "1024", "--generate", "256", "--tier", "datasheet",
                             "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["prompt"] == 1024 and data["generate"] == 256 and data["sort"] == "tokens-per-s"
    ranked = data["ranked"]
    assert len(ranked) > 10
    speeds = [r["tokens_per_s"] for r in ranked]
    assert speeds == sorted(speeds, reverse=True)
    from roofline.catalog import load_catalog

    catalog = load_catalog()
    top = [r["device"] for r in ranked[:6]]
    # decode at batch 1 is memory-bound: the HBM parts lead
    assert all("HBM" in (catalog.get(d).memory.type or "") for d in top), top
    assert "nvidia-b200" in top and "nvidia-h200-sxm" in top
    for r in ranked:
        assert 0 < r["ttft_s"] < 600 and 0 < r["tpot_s"] < 5
        assert r["memory"]["fits"] is not False
    excluded = {e["device"]: e for e in data["excluded"]}
    assert excluded["raspberry-pi-5"]["category"] == "memory"


def test_rank_table_and_cost_sort(run_cli):
    code, out, err = run_cli("rank", "hf:llama-3-8b", "--prompt", "256", "--generate", "32", "--sort", "cost",
                             "--kind", "gpu", "--top", "5", "--weights", "int4")
    assert code == 0, err
    assert "sorted by cost" in out and "$/Mtok" in out and "weights int4" in out


def test_rank_llm_constraints(run_cli):
    code, out, err = run_cli("rank", "hf:llama-3-8b", "--prompt", "512", "--generate", "64", "--max-tpot", "10ms",
                             "--max-ttft", "1s", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert all(r["tpot_s"] <= 0.01 and r["ttft_s"] <= 1 for r in data["ranked"])
    assert any(e["category"] == "latency" for e in data["excluded"])


def test_predict_llm_json_and_table(run_cli):
    code, out, err = run_cli("predict", "hf:mistral-7b", "--device", "nvidia-l4", "--prompt", "512", "--generate",
                             "128", "--batch", "4", "--kv-dtype", "fp8", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"] == "nvidia-l4" and data["batch"] == 4 and data["kv_dtype"] == "fp8"
    for phase in ("prefill", "decode"):
        for key in ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "activation_bytes", "latency_s"):
            assert data[phase][key] > 0
    assert data["memory"]["kv_cache_bytes"] == 2 * 32 * 8 * 128 * 640 * 4 * 1
    assert data["request_latency_s"] == pytest.approx(data["ttft_s"] + 127 * data["tpot_s"])
    code, out, err = run_cli("predict", "hf:mistral-7b", "--device", "nvidia-l4")
    assert code == 0, err
    assert "prefill" in out and "decode step" in out and "time to first token" in out and "KV cache" in out


@pytest.mark.parametrize("args,message", [
    (("rank", "hf:llama-3-8b", "--prompt", "8000", "--generate", "500"), "max_position_embeddings"),
    (("rank", "hf:llama-3-8b", "--prompt", "0"), "--prompt must be a positive integer"),
    (("predict", "hf:llama-3-8b", "--device", "nvidia-l4", "--weights", "int3"), "unsupported weight format"),
    (("predict", "hf:llama-3-8b", "--device", "nvidia-l4", "--imgsz", "224"), "not --imgsz"),
    (("rank", "hf:no-such-model"), "unknown model 'hf:no-such-model'"),
    (("rank", "resnet18", "--prompt", "128"), "only hf: language models take --prompt"),
    (("rank", "resnet18", "--sort", "ttft"), "--sort ttft applies to language-model serving"),
    (("rank", "resnet18", "--max-tpot", "5ms"), "--max-tpot applies to language-model serving"),
])
def test_llm_bad_input(run_cli, args, message):
    code, _, err = run_cli(*args)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


def test_unsupported_config_is_one_line(run_cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "no-such-arch", "hidden_size": 64}))
    code, _, err = run_cli("rank", f"hf:{tmp_path}")
    assert code == 2 and "unknown model_type" in err and len(err.strip().splitlines()) == 1


def test_missing_transformers_from_cli(run_cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    code, _, err = run_cli("rank", "hf:llama-3-8b")
    assert code == 2 and "pip install 'roofline[llm]'" in err


def test_profile_hf_model(run_cli, tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                                "vocab_size": 100, "max_position_embeddings": 256}))
    code, out, err = run_cli("profile", f"hf:{path}", "--input-shape", "1,16", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["params"] == 2 * 64 * 100 + 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64
    assert data["flops"] > 0 and not data["unsupported_ops"]


def test_plain_models_keep_eager_default(run_cli):
    code, out, err = run_cli("rank", "resnet18", "--kind", "gpu", "--top", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["runtime"] == "eager" and data["sort"] == "latency"
