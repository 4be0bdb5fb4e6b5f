"""One clock basis for CPU peaks: base clock by default, all-core boost where published."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from roofline.catalog import CLOCK_BASES, DEFAULT_CLOCK_BASIS, DeviceSpec, load_catalog
from roofline.errors import CatalogError


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _cpu(**fp32) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "c", "name": "C", "vendor": "V", "kind": "cpu", "compute_units": 4, "compute_unit_name": "core",
        "clocks": {"base": "2 GHz", "all_core_boost": "3 GHz"}, "compute": {"fp32": fp32},
        "sources": [{"url": "https://example.com", "title": "t", "fields": ["compute", "clocks", "compute_units"]}],
    })


def test_default_basis_is_base_clock():
    assert DEFAULT_CLOCK_BASIS == "base" and set(CLOCK_BASES) == {"base", "all_core_boost"}


def test_peak_at_each_basis():
    spec = _cpu(vector="256 GFLOPS", all_core_boost={"vector": "384 GFLOPS"})
    base = spec.peak_at("fp32")
    assert (base.flops_per_s, base.clock_basis, base.fallback) == (256e9, "base", False)
    boosted = spec.peak_at("float32", "all_core_boost")
    assert (boosted.flops_per_s, boosted.clock_basis) == (384e9, "all_core_boost")
    assert spec.peak_flops_at("fp32", "all_core_boost") == 384e9
    assert spec.peak_flops_per_s("fp32") == 256e9  # the default query stays on base clock


def test_missing_all_core_figure_falls_back_to_base_and_says_so():
    spec = _cpu(vector="256 GFLOPS")
    result = spec.peak_at("fp32", "all_core_boost")
    assert result.fallback and result.clock_basis == "base" and result.flops_per_s == 256e9
    assert "no all-core-boost figure" in result.describe()
    assert spec.peak_flops_at("fp32", "all_core_boost") is None


def test_all_core_figure_below_base_is_refused():
    with pytest.raises(ValidationError, match="all_core_boost.vector .* is below the base-clock"):
        _cpu(vector="256 GFLOPS", all_core_boost={"vector": "200 GFLOPS"})


def test_unknown_basis_is_an_error_with_a_suggestion():
    with pytest.raises(CatalogError, match="did you mean 'all_core_boost'"):
        _cpu(vector="256 GFLOPS").peak_at("fp32", "all_core_bost")


def test_gpu_peaks_are_the_rated_figure(catalog):
    h100 = catalog.get("nvidia-h100-sxm")
    assert h100.peak_clock_basis == "rated"
    assert h100.peak_at("bf16", "all_core_boost").clock_basis == "rated"
    assert h100.peak_at("bf16").flops_per_s == h100.peak_flops_per_s("bf16")


def test_every_cpu_vector_peak_is_cores_times_base_clock(catalog):
    """Single-core-type CPUs: the main fp32 figure follows from cores x base clock (x FLOP/cycle)."""
    for cpu in catalog.by_kind("cpu"):
        if cpu.id == "intel-core-i9-14900k":  # hybrid: P- and E-cores at their own base clocks
            continue
        if cpu.compute.fp32 is None:  # no sourced peak yet (intel-core-ultra-7-258v): listed as missing
            assert "compute.fp32" in cpu.missing_fields(), cpu.id
            continue
        fp32 = cpu.compute.fp32.vector_flops_per_s
        per_cycle = fp32 / (cpu.compute_units * cpu.clocks.base_hz)
        assert per_cycle in (16, 32, 64), (cpu.id, per_cycle)
        boosted = cpu.compute.fp32.all_core_boost
        if boosted is not None:
            assert boosted.vector_flops_per_s == pytest.approx(per_cycle * cpu.compute_units * cpu.clocks.all_core_boost_hz)


def test_epyc_and_xeon_compare_on_the_same_basis(catalog):
    epyc, xeon = catalog.get("amd-epyc-9654"), catalog.get("intel-xeon-6980p")
    assert epyc.peak_at("fp32").clock_basis == xeon.peak_at("fp32").clock_basis == "base"
    assert epyc.peak_flops_per_s("fp32") == pytest.approx(96 * 2.4e9 * 32)
    assert epyc.peak_flops_at("fp32", "all_core_boost") == pytest.approx(96 * 3.55e9 * 32)
