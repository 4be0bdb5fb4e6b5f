"""The on-disk cache of traced forward passes (roofline.workload_cache): found only by the code and input
that made it, read back exactly, and never importing torch when it answers."""
import json
import os
import subprocess
import sys

import pytest

import roofline
from roofline import workload_cache
from roofline.resolve import ScenarioSource


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE", "1")
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_source_reads_the_workload_without_building_the_model(cache):
    first = ScenarioSource("resnet18")
    traced = first.workload(batch=2, dtype="fp16")
    assert len(list(cache.glob("*.pkl"))) == 1
    second = ScenarioSource("resnet18")
    assert second._module is None  # not built: the cached entry holds the default shape
    cached = second.workload(batch=2, dtype="fp16")
    assert second._module is None
    assert cached.ops == traced.ops and cached.params == traced.params
    assert (cached.flops, cached.bytes_fused, cached.peak_activation_bytes) == \
        (traced.flops, traced.bytes_fused, traced.peak_activation_bytes)
    a = roofline.estimate(first.scenario(2, "fp16"), "nvidia-l4").to_dict(include_ops=True)
    b = roofline.estimate(second.scenario(2, "fp16"), "nvidia-l4").to_dict(include_ops=True)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    # a new input shape builds the model and traces it, and is added to the same entry
    second.workload(batch=3, dtype="fp16")
    assert second._module is not None and len(list(cache.glob("*.pkl"))) == 1
    assert set(ScenarioSource("resnet18")._cache_entry["workloads"]) == {((2, 3, 224, 224), "fp16"),
                                                                          ((3, 3, 224, 224), "fp16")}


def test_other_code_or_library_versions_miss(cache, monkeypatch):
    ScenarioSource("resnet18").workload()
    assert ScenarioSource("resnet18")._cache_entry is not None
    monkeypatch.setattr(workload_cache, "_fingerprint_memo", [])
    monkeypatch.setattr(workload_cache, "_version", lambda package: "0.0-other")
    assert ScenarioSource("resnet18")._cache_entry == {"default_shape": (1, 3, 224, 224), "stride": None,
                                                       "workloads": {}}  # a miss: built afresh


def test_roofline_source_files_are_part_of_the_fingerprint(monkeypatch, tmp_path):
    before = workload_cache.fingerprint()
    monkeypatch.setattr(workload_cache, "_fingerprint_memo", [])
    real_stat = os.stat
    target = os.path.join(os.path.dirname(roofline.__file__), "resolve.py")

    class Moved:
        def __init__(self, st):
            self.st_size, self.st_mtime_ns = st.st_size, st.st_mtime_ns + 1

    monkeypatch.setattr(os, "stat", lambda p, *a, **k: Moved(real_stat(p)) if p == target else real_stat(p, *a, **k))
    assert workload_cache.fingerprint() != before


def test_keys(tmp_path):
    assert workload_cache.model_key("mypkg.models:build", seq_len=None, label="x") is None  # user code
    key = workload_cache.model_key("resnet18", seq_len=None, label="resnet18")
    assert key != workload_cache.model_key("resnet18", seq_len=None, label="other")
    assert workload_cache.model_key("hf:bert-base-uncased", seq_len=64, label="b") != \
        workload_cache.model_key("hf:bert-base-uncased", seq_len=128, label="b")
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "vit"}')
    k1 = workload_cache.model_key(f"hf:{config}", seq_len=None, label="v")
    config.write_text('{"model_type": "vit", "hidden_size": 192}')
    assert workload_cache.model_key(f"hf:{config}", seq_len=None, label="v") != k1  # the file changed


def test_a_broken_entry_is_traced_again(cache):
    ScenarioSource("resnet18").workload()
    (path,) = cache.glob("*.pkl")
    path.write_bytes(b"not a pickle")
    source = ScenarioSource("resnet18")
    assert source._module is not None and source.workload().flops > 0
    assert ScenarioSource("resnet18")._cache_entry["workloads"]


def test_off_switch(cache, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE", "0")
    ScenarioSource("resnet18").workload()
    assert not cache.exists()


@pytest.mark.slow
def test_a_cached_rank_does_not_import_torch(cache):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(roofline.__file__))}
    run = [sys.executable, "-m", "roofline", "rank", "resnet18", "--devices", "nvidia-l4,nvidia-t4", "--json"]
    first = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    probe = ("import sys\n"
             "from roofline.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "assert 'torch' not in sys.modules, 'torch imported'\n")
    second = subprocess.run([sys.executable, "-c", probe, *run[3:]], capture_output=True, text=True, env=env,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
