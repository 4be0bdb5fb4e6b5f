"""Golden outputs: what users read from profile, predict, rank, plan and report, stored in tests/goldens/.

A changed output fails here and shows in the diff of the commit that changes it. Regenerate with
``python -m pytest tests/test_goldens.py --update-goldens`` and review the diff.

Text is compared exactly; JSON is compared value by value with floats to 1e-9 relative (the order of a
sum may change its last bits without changing a number anyone reads).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

GOLDENS = Path(__file__).with_name("goldens")
DEVICES = "nvidia-l4,raspberry-pi-5,intel-xeon-platinum-8480p"
LLM = ("--prompt", "128", "--generate", "32")

MODELS = {
    "resnet18": ("resnet18",),
    "yolo11n": ("ultralytics:yolo11n.yaml",),
    "llama-3.2-1b": ("hf:llama-3.2-1b",),
}


def _commands(name: str, spec: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    llm = name.startswith("llama")
    extra = LLM if llm else ()
    profile = ("profile", *spec, "--top", "15") + (("--input-shape", "1,128") if llm else ())
    return {
        "profile": profile,
        "predict": ("predict", *spec, "--device", "nvidia-l4", *extra) + (() if llm else ("--top", "12")),
        "rank": ("rank", *spec, "--devices", DEVICES, *extra),
        "plan": ("plan", *spec, "--qps", "20", "--devices", DEVICES) + (("--batch-max", "4", *extra) if llm
                                                                       else ("--batch-max", "8")),
        "report": ("report", *spec, "--devices", DEVICES, *extra),
        **({"plan-load": ("plan", *spec, "--rps", "20", "--isl", "128", "--osl", "32", "--ttft", "2s", "--tpot",
                          "100ms", "--devices", DEVICES)} if llm else {}),
    }


# Per-op records: the first ones are kept (the totals guard the rest), so goldens stay small.
KEPT_OPS = 25


def _trim(data):
    if isinstance(data, dict):
        return {k: ("YYYY-MM-DD" if k == "generated" else  # the report's date: today's, not the golden's
                    _trim(v[:KEPT_OPS]) if k == "ops" and isinstance(v, list) else _trim(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_trim(v) for v in data]
    return data


CASES = [(name, command, args) for name, spec in MODELS.items() for command, args in _commands(name, spec).items()]

_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
_SECONDS = re.compile(r" in \d+\.\d s$", re.M)


def _normalise(text: str) -> str:
    return _SECONDS.sub(" in X s", _DATE.sub("YYYY-MM-DD", text))


def _close(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in a.keys() & b.keys():
            out += _close(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [m for i, (x, y) in enumerate(zip(a, b)) for m in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _run(run_cli, args: tuple[str, ...], tmp_path: Path, as_json: bool) -> str:
    args = list(args)
    if args[0] == "report" and not as_json:
        out = tmp_path / "report.md"
        code, stdout, err = run_cli(*args, "--out", str(out))
        assert code == 0, err
        return _normalise(out.read_text())
    code, stdout, err = run_cli(*args, *(["--json"] if as_json else []))
    assert code == 0, err
    return json.dumps(_trim(json.loads(stdout)), indent=1) + "\n" if as_json else _normalise(stdout)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name,command,args", CASES, ids=[f"{n}-{c}" for n, c, _ in CASES])
def test_golden(name, command, args, as_json, run_cli, tmp_path, request):
    got = _run(run_cli, args, tmp_path, as_json)
    path = GOLDENS / f"{name}.{command}.{'json' if as_json else ('md' if command == 'report' else 'txt')}"
    if request.config.getoption("--update-goldens"):
        path.write_text(got)
        return
    assert path.exists(), f"no golden {path.name}: run pytest with --update-goldens and review the diff"
    expected = path.read_text()
    if as_json:
        problems = _close(json.loads(got), json.loads(expected))
        assert not problems, "\n".join(problems[:20])
    else:
        assert got == expected
