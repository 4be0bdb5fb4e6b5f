"""Loaded power for boards and one entry per published power mode."""
from __future__ import annotations

import pytest

from roofline.catalog import DeviceSpec, load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _board(**power) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "b", "name": "B", "vendor": "V", "kind": "sbc", "power": power,
        "sources": [{"url": "https://example.com", "title": "t", "fields": ["power"]}],
    })


def test_active_power_prefers_the_loaded_measurement():
    board = _board(tdp="4 W", loaded="9.7 W")
    assert (board.power.active_w, board.power.active_basis) == (9.7, "loaded")
    only_tdp = _board(tdp="4 W")
    assert (only_tdp.power.active_w, only_tdp.power.active_basis) == (4.0, "tdp")
    assert _board().power.active_basis is None


def test_raspberry_pi_5_energy_uses_the_loaded_wall_power(catalog):
    power = catalog.get("raspberry-pi-5").power
    assert power.loaded_w == 9.7 and power.idle_w == 2.8
    assert power.active_w > 2 * power.tdp_w  # the 4.08 W light-load figure is not used


def test_every_variant_names_an_existing_entry_of_the_same_device(catalog):
    variants = [d for d in catalog if d.variant_of]
    assert variants
    for variant in variants:
        base = catalog.get(variant.variant_of)
        assert variant.power_mode and base.power_mode and variant.power_mode != base.power_mode
        assert variant.memory.capacity_bytes == base.memory.capacity_bytes
        assert variant.power.tdp_w < base.power.tdp_w


def test_orin_nano_15w_mode_has_the_figures_of_that_mode(catalog):
    low, high = catalog.get("nvidia-jetson-orin-nano-8gb-15w"), catalog.get("nvidia-jetson-orin-nano-8gb")
    assert low.power.tdp_w == 15 and high.power.tdp_w == 25
    assert low.compute.int8.matrix_flops_per_s == 20e12 and low.compute.int8.matrix_sparse_flops_per_s == 40e12
    assert low.memory.bandwidth_bytes_per_s == 68e9 < high.memory.bandwidth_bytes_per_s
    assert low.compute.fp32.vector_flops_per_s == pytest.approx(1024 * 2 * low.clocks.boost_hz)
