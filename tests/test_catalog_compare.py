"""`roofline devices compare A B [C...]`: side by side, each figure with its source."""
from __future__ import annotations

import json

import pytest

from roofline.catalog import load_catalog
from roofline.cli import main


def test_compare_json_has_every_device_and_the_backing_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "compare", "nvidia-h100-sxm", "amd-mi300x", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["devices"] == ["nvidia-h100-sxm", "amd-mi300x"]
    rows = {row["figure"]: row["values"] for row in data["rows"]}
    catalog = load_catalog()
    h100, mi300x = catalog.get("nvidia-h100-sxm"), catalog.get("amd-mi300x")
    assert rows["bf16 dense peak"]["nvidia-h100-sxm"]["value"] == h100.peak_flops_per_s("bf16")
    assert rows["memory bandwidth"]["amd-mi300x"]["value"] == mi300x.memory.bandwidth_bytes_per_s
    for device_id, spec in (("nvidia-h100-sxm", h100), ("amd-mi300x", mi300x)):
        for figure, values in rows.items():
            cell = values[device_id]
            if cell["value"] is not None and figure not in ("kind", "vendor", "release year"):
                assert cell["source"] in spec.sources_refs, (device_id, figure)
                same_url = [s for s in spec.sources if s.reference == cell["source"]]
                assert any(cell["field"] == f or cell["field"].startswith(f + ".") for s in same_url for f in s.fields)


def test_compare_table_lists_the_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "compare", "nvidia-rtx-3060", "nvidia-rtx-4060", "raspberry-pi-5"]) == 0
    out = capsys.readouterr().out
    assert "nvidia-rtx-3060" in out and "raspberry-pi-5" in out and "360 GB/s" in out
    assert "[1] http" in out


def test_compare_unknown_id_is_a_one_line_error_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "compare", "nvidia-h100-sxm", "nvidia-h100-sxn"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: unknown device 'nvidia-h100-sxn'")
    assert "did you mean" in err and "nvidia-h100-sxm" in err


def test_compare_needs_two_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "compare", "nvidia-h100-sxm"]) == 2
    assert "at least two device ids" in capsys.readouterr().err


def test_source_for_prefers_the_most_specific_entry() -> None:
    h100 = load_catalog().get("nvidia-h100-sxm")
    assert "thamada" in h100.source_for("memory.usable").reference
    assert h100.source_for("nonexistent.field") is None
