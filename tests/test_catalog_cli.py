"""`roofline devices list|show|validate` through roofline.cli.main."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import roofline.catalog.loader as loader
from roofline.catalog import clear_cache
from roofline.cli import main

CASES = Path(__file__).parent / "catalog_cases"
VALID = CASES / "valid"

SUMMARY_KEYS = {"id", "name", "kind", "vendor", "peak_flops", "memory_bytes", "memory_bandwidth_bytes_per_s", "tdp_w", "price_usd", "sources"}


@pytest.fixture(autouse=True)
def builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "builtin"
    root.mkdir()
    for path in VALID.glob("*.yaml"):
        shutil.copy(path, root / path.name)
    monkeypatch.setattr(loader, "_builtin_root", lambda: root)
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    clear_cache()
    return root


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    assert "3 devices" in out
    for text in ("nvidia-h100-sxm", "989.4 TFLOPS", "1979 TOPS", "3.35 TB/s", "80 GB", "700 W", "$699", "153.6 GFLOPS"):
        assert text in out


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["amd-ryzen-9-7950x", "nvidia-h100-sxm", "raspberry-pi-5-8gb"]
    for row in rows:
        assert SUMMARY_KEYS <= set(row)
    h100 = rows[1]
    assert h100["peak_flops"]["bf16"] == 989.4e12
    assert h100["peak_flops"]["int8"] == 1978.9e12
    assert h100["memory_bytes"] == 80e9
    assert h100["memory_bandwidth_bytes_per_s"] == 3.35e12
    assert h100["tdp_w"] == 700.0
    assert h100["price_usd"] is None
    assert h100["sources"][0] == "https://www.nvidia.com/en-us/data-center/h100/"
    assert rows[0]["price_usd"] == 699.0
    assert isinstance(rows[0]["memory_bandwidth_bytes_per_s"], float)


def test_list_kind_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "list", "--kind", "sbc", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["raspberry-pi-5-8gb"]
    assert main(["devices", "list", "--kind", "tpu"]) == 2
    assert "tpu" in capsys.readouterr().err


def test_list_with_user_catalog_and_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user = tmp_path / "user"
    user.mkdir()
    text = (VALID / "nvidia-h100-sxm.yaml").read_text().replace("tdp: 700 W", "tdp: 650 W")
    (user / "nvidia-h100-sxm.yaml").write_text(text)
    shutil.copy(CASES / "wrong-unit.yaml", user)
    assert main(["devices", "list", "--json", "--catalog", str(user)]) == 0
    captured = capsys.readouterr()
    rows = {r["id"]: r for r in json.loads(captured.out)}
    assert rows["nvidia-h100-sxm"]["tdp_w"] == 650.0
    assert "wrong-unit" not in rows
    assert captured.err.startswith("warning: ")
    assert "wrong-unit.yaml:7: device 'wrong-unit': compute.bf16.matrix: expected a FLOP rate" in captured.err
    assert main(["devices", "list", "--strict", "--catalog", str(user)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "wrong-unit.yaml:7" in err
    assert len(err.strip().splitlines()) == 1


def test_env_var_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    user = tmp_path / "user"
    user.mkdir()
    text = (VALID / "raspberry-pi-5-8gb.yaml").read_text().replace("id: raspberry-pi-5-8gb", "id: my-pi")
    (user / "my-pi.yaml").write_text(text)
    monkeypatch.setenv("ROOFLINE_CATALOG", str(user))
    assert main(["devices", "show", "my-pi", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "my-pi"
    assert data["file"] == str(user / "my-pi.yaml")


def test_catalog_option_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "list", "--catalog", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_show_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "show", "nvidia-h100-sxm"]) == 0
    out = capsys.readouterr().out
    for text in ("NVIDIA H100 SXM5 80GB", "989.4 TFLOPS", "1979 TFLOPS", "3.35 TB/s", "80 GB", "50 MiB", "700 W",
                 "https://www.nvidia.com/en-us/data-center/h100/", "64 GB/s", "132 SM"):
        assert text in out, text
    assert "missing fields: clocks.boost, power.idle, price.launch_usd" in out


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "show", "amd-ryzen-9-7950x", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["clocks"]["boost_hz"] == 5.7e9
    assert data["memory"]["bandwidth_bytes_per_s"] == 83.2e9
    assert data["memory"]["caches"][0]["size_bytes"] == 2**20
    assert data["compute"]["fp32"]["vector_flops_per_s"] == 2304e9
    assert data["price"]["launch_usd"] == 699.0
    assert "power.idle" in data["missing_fields"]
    assert data["sources"][1]["document"].startswith("AMD, Software Optimization Guide")


def test_show_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "show", "h100"]) == 2
    err = capsys.readouterr().err
    assert err == "error: unknown device 'h100' (did you mean 'nvidia-h100-sxm'?); `roofline devices list` shows all ids\n"


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "validate", str(VALID)]) == 0
    assert capsys.readouterr().out.strip() == "3 files OK"
    assert main(["devices", "validate", str(VALID / "nvidia-h100-sxm.yaml")]) == 0
    assert capsys.readouterr().out.strip() == "1 file OK"


def test_validate_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "validate", str(CASES / "wrong-unit.yaml"), str(CASES / "bare-number.yaml"), str(VALID)]) == 2
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{CASES / 'wrong-unit.yaml'}:7: device 'wrong-unit'")
    assert lines[1].startswith(f"{CASES / 'bare-number.yaml'}:6: device 'bare-number'")
    assert captured.err == "error: 2 problems in 2 of 5 files\n"


def test_validate_duplicate_ids_across_files(capsys: pytest.CaptureFixture[str]) -> None:
    one = CASES / "duplicate-id" / "one" / "dup-device.yaml"
    two = CASES / "duplicate-id" / "two" / "dup-device.yaml"
    assert main(["devices", "validate", str(one), str(two)]) == 2
    out = capsys.readouterr().out
    assert f"{two}:1: device 'dup-device': id: duplicate id (also defined in {one})" in out


def test_validate_whole_cases_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "validate", str(CASES)]) == 2
    out = capsys.readouterr().out
    for path in CASES.glob("*.yaml"):
        assert str(path) in out


def test_validate_nothing_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["devices", "validate", str(empty)]) == 2
    assert "no device files" in capsys.readouterr().err
    assert main(["devices", "validate"]) == 2


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("list", "show", "validate"):
        assert name in out
