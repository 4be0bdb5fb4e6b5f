"""Built-in catalog figures checked against the vendors' datasheets."""
import json

import pytest

from roofline.catalog import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_h100_sxm_is_dense_bf16_3_35_tb_s_80_gib(catalog):
    h100 = catalog.get("nvidia-h100-sxm")
    assert h100.compute.bf16.matrix_flops_per_s == pytest.approx(989.4e12, rel=0.002)  # not the 1979 sparse figure
    assert h100.compute.bf16.matrix_sparse_flops_per_s == pytest.approx(1979e12, rel=0.002)
    assert h100.memory.bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert h100.memory.capacity_bytes == 80 * 2**30  # "80 GB" HBM3 is 80 GiB physical
    assert h100.memory.usable_bytes == 85_045_477_376 and h100.memory.ecc is True  # deviceQuery, ECC on


def test_l4_bandwidth_is_300_gb_s(catalog):
    assert catalog.get("nvidia-l4").memory.bandwidth_bytes_per_s == pytest.approx(300e9)


def test_raspberry_pi_5_memory_is_lpddr4x_4267_on_32_bits(catalog):
    memory = catalog.get("raspberry-pi-5").memory
    assert "LPDDR4X" in memory.type
    assert memory.data_rate_mtps == 4267 and memory.bus_width_bits == 32
    assert memory.bandwidth_bytes_per_s == pytest.approx(4267e6 * 4, rel=1e-3)


def test_no_dense_peak_exceeds_its_sparse_peak(catalog):
    for device in catalog:
        for dtype, peaks in device.compute.items():
            if peaks.matrix_flops_per_s and peaks.matrix_sparse_flops_per_s:
                assert peaks.matrix_flops_per_s <= peaks.matrix_sparse_flops_per_s, (device.id, dtype)


def test_list_json_covers_30_devices_with_sources(run_cli):
    code, out, _ = run_cli("devices", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) >= 30
    assert all(row["sources"] for row in rows)
    assert {"cpu", "gpu", "sbc"} <= {row["kind"] for row in rows}
    for key in ("id", "name", "kind", "peak_flops", "memory_bytes", "memory_bandwidth_bytes_per_s", "tdp_w",
                "price_usd", "sources"):
        assert all(key in row for row in rows)


@pytest.mark.parametrize("device_id", ["nvidia-rtx-3060", "nvidia-rtx-4060"])
def test_geforce_bandwidth_is_data_rate_times_bus_width(catalog, device_id):
    memory = catalog.get(device_id).memory
    assert memory.bandwidth_bytes_per_s == pytest.approx(memory.data_rate_mtps * 1e6 * memory.bus_width_bits / 8)


def test_derived_host_links_follow_generation_and_lanes(catalog):
    per_lane = {"3.0": 1e9, "4.0": 2e9, "5.0": 4e9}  # bytes/s per lane per direction, nominal
    for device in catalog.by_kind("gpu"):
        link = device.host_link
        if link.type and link.type.startswith("PCIe ") and link.bandwidth_bytes_per_s:
            generation, lanes = link.type.split()[1], int(link.type.split()[2].lstrip("x"))
            assert link.bandwidth_bytes_per_s == pytest.approx(per_lane[generation] * lanes), device.id
    assert catalog.get("nvidia-rtx-4060").host_link.bandwidth_bytes_per_s == 16e9
    assert catalog.get("amd-mi300x").host_link.bandwidth_bytes_per_s == 64e9


def test_jetson_agx_orin_dense_tensor_peaks_are_half_the_sparse_ones(catalog):
    orin = catalog.get("nvidia-jetson-agx-orin-64gb").compute
    assert orin.fp16.matrix_flops_per_s * 2 == orin.fp16.matrix_sparse_flops_per_s == 85e12
    assert orin.int8.matrix_flops_per_s * 2 == orin.int8.matrix_sparse_flops_per_s == 170e12


def test_xeon_6980p_amx_peak_is_cores_times_base_clock_times_1024(catalog):
    xeon = catalog.get("intel-xeon-6980p")
    expected = xeon.compute_units * xeon.clocks.base_hz * 1024
    assert xeon.compute.bf16.matrix_flops_per_s == pytest.approx(expected)
    assert xeon.compute.int8.matrix_flops_per_s == pytest.approx(2 * expected)
    older = catalog.get("intel-xeon-platinum-8480p")
    assert xeon.compute.bf16.matrix_flops_per_s > older.compute.bf16.matrix_flops_per_s
