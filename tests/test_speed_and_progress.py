"""Light paths stay light (no torch import for --help), slow commands show a spinner only on a terminal,
several models are traced in parallel processes with the same results, and JSON is byte-identical run to run."""
import json
import os
import subprocess
import sys

import pytest

COMMANDS = [[], ["profile"], ["predict"], ["rank"], ["plan"], ["report"], ["calibrate"], ["validate"], ["devices"],
            ["devices", "list"], ["devices", "show"], ["devices", "compare"], ["devices", "validate"]]

_PROBE = """
import sys
from roofline.cli import main
code = main({args!r})
heavy = sorted(m for m in ("torch", "torchvision", "ultralytics", "transformers", "timm", "numpy", "matplotlib")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
sys.exit(code)
"""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "roofline")
def test_help_imports_no_torch(command):
    """`roofline --help` took 3-5 s because building the command list imported torch."""
    run = subprocess.run([sys.executable, "-c", _PROBE.format(args=command + ["--help"])], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Usage:" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "HEAVY=", run.stdout[-300:]


def _pty_run(args):
    """Run the CLI with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, terminal text)."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "roofline", *args], stdout=subprocess.PIPE, stderr=follower,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=300)
    os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow  # two whole processes on a pseudo-terminal
def test_rank_shows_a_spinner_on_a_terminal_and_not_with_json():
    code, out, terminal = _pty_run(["rank", "resnet18", "--devices", "nvidia-l4,raspberry-pi-5"])
    assert code == 0
    assert "tracing resnet18 and estimating on 2 devices" in terminal
    assert "tracing" not in out  # the table on stdout carries no spinner
    code, out, terminal = _pty_run(["rank", "resnet18", "--devices", "nvidia-l4,raspberry-pi-5", "--json"])
    assert code == 0 and "tracing" not in terminal
    json.loads(out)


def test_no_spinner_when_stderr_is_not_a_terminal(run_cli):
    code, out, err = run_cli("plan", "resnet18", "--qps", "10", "--batch-max", "2", "--devices", "nvidia-l4")
    assert code == 0 and "tracing" not in err and "tracing" not in out


def test_report_over_several_models_in_processes_matches_one_process(run_cli):
    args = ["report", "resnet18", "mobilenet_v3_small", "--devices", "nvidia-l4,raspberry-pi-5", "--json"]
    code, one, err = run_cli(*args, "--jobs", "1")
    assert code == 0, err
    code, two, err = run_cli(*args, "--jobs", "2")
    assert code == 0, err
    assert one == two
    assert [s["model"] for s in json.loads(two)["models"]] == ["resnet18", "mobilenet_v3_small"]


def test_sweep_over_several_models_in_processes_matches_one_process():
    import roofline

    kwargs = dict(devices=["nvidia-l4", "raspberry-pi-5"], batches=[1, 2], progress=False)
    parallel = roofline.sweep(["resnet18", "squeezenet1_0"], jobs=2, **kwargs)
    serial = roofline.sweep(["resnet18", "squeezenet1_0"], jobs=1, **kwargs)
    assert parallel.to_dicts() == serial.to_dicts()
    assert [r.model for r in parallel][:4] == ["resnet18"] * 4
    alone = roofline.sweep("squeezenet1_0", **kwargs)
    assert parallel.to_dicts()[4:] == alone.to_dicts()


def test_a_worker_error_is_one_line(run_cli, tmp_path):
    code, out, err = run_cli("report", "resnet18", "nosuchmodel", "--out", str(tmp_path / "r.md"), "--jobs", "2")
    assert code == 2 and err.startswith("error: unknown model 'nosuchmodel'") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["rank", "resnet18", "--json"],
    ["plan", "resnet18", "--qps", "100", "--batch-max", "4", "--json"],
    ["predict", "hf:llama-3.2-1b", "--device", "nvidia-l4", "--json"],
], ids=["rank", "plan", "llm-predict"])
@pytest.mark.slow  # two whole processes per command
def test_json_is_byte_identical_run_to_run(args, tmp_path):
    outputs = [subprocess.run([sys.executable, "-m", "roofline", *args], capture_output=True, timeout=300,
                              cwd=tmp_path, env={**os.environ, "PYTHONHASHSEED": str(seed)})
               for seed in (1, 2)]  # different hash seeds: no order may depend on set or dict hashing
    for run in outputs:
        assert run.returncode == 0, run.stderr.decode()[-500:]
    assert outputs[0].stdout == outputs[1].stdout
    json.loads(outputs[0].stdout)
