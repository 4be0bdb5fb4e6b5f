"""Spot checks of ten devices added in catalog v2 against the figures of their datasheets."""
import pytest

from roofline.catalog import load_catalog

GiB = 2**30


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_has_at_least_50_single_devices(catalog):
    assert len(catalog) >= 50 and len(list(catalog)) == len(catalog)


def test_tpu_v6e(catalog):
    tpu = catalog.get("google-tpu-v6e")
    assert tpu.peak_flops_per_s("bf16") == 918e12 and tpu.peak_flops_per_s("int8") == 1836e12
    assert tpu.memory.capacity_bytes == 32 * GiB and tpu.memory.bandwidth_bytes_per_s == 1638e9
    assert tpu.gpu_link.bandwidth_bytes_per_s == 800e9 and tpu.gpu_link.domain_size == 256


def test_tpu_v5e(catalog):
    tpu = catalog.get("google-tpu-v5e")
    assert tpu.peak_flops_per_s("bf16") == 197e12 and tpu.peak_flops_per_s("int8") == 393e12
    assert tpu.memory.capacity_bytes == 16 * GiB and tpu.memory.bandwidth_bytes_per_s == 819e9


def test_l40_dense_is_half_the_sparse_figure(catalog):
    l40 = catalog.get("nvidia-l40")
    assert l40.compute.bf16.matrix_flops_per_s == pytest.approx(181.05e12)
    assert l40.compute.bf16.matrix_sparse_flops_per_s == pytest.approx(2 * 181.05e12, rel=1e-3)
    assert l40.memory.bandwidth_bytes_per_s == 864e9 and l40.power.tdp_w == 300


def test_rtx_6000_ada(catalog):
    card = catalog.get("nvidia-rtx-6000-ada")
    assert card.compute_units == 142 and card.peak_flops_per_s("fp32") == pytest.approx(91.1e12)
    assert card.memory.bandwidth_bytes_per_s == 960e9 and card.memory.usable_bytes == 51002867712


def test_v100(catalog):
    v100 = catalog.get("nvidia-v100-sxm2-16gb")
    assert v100.compute.fp16.matrix_flops_per_s == 120e12 and v100.peak_flops_per_s("fp32") == 15e12
    assert v100.peak_flops_per_s("fp32") == pytest.approx(5120 * 2 * v100.clocks.boost_hz, rel=0.01)
    assert v100.memory.bandwidth_bytes_per_s == 900e9


def test_mi325x_keeps_mi300x_compute_with_more_memory(catalog):
    new, old = catalog.get("amd-mi325x"), catalog.get("amd-mi300x")
    assert new.peak_flops_by_dtype() == old.peak_flops_by_dtype()
    assert new.peak_flops_per_s("bf16") == pytest.approx(1307.4e12)
    assert new.memory.capacity_bytes == 256 * GiB and new.memory.bandwidth_bytes_per_s == 6e12
    assert new.power.tdp_w == 1000


def test_gaudi_3(catalog):
    gaudi = catalog.get("intel-gaudi-3")
    assert gaudi.peak_flops_per_s("bf16") == 1835e12 == gaudi.peak_flops_per_s("fp8")
    assert gaudi.memory.capacity_bytes == 128 * GiB and gaudi.memory.bandwidth_bytes_per_s == 3.67e12
    assert gaudi.host_link.bandwidth_bytes_per_s * 2 == 128e9 and gaudi.power.tdp_w == 900


@pytest.mark.parametrize("device_id,gpu_cores,capacity_gib,bandwidth", [
    ("apple-m4", 10, 32, 120e9), ("apple-m4-pro", 20, 64, 273e9), ("apple-m4-max", 40, 128, 546e9),
])
def test_apple_m4_family(catalog, device_id, gpu_cores, capacity_gib, bandwidth):
    chip = catalog.get(device_id)
    assert chip.compute_units == gpu_cores and chip.memory.unified
    assert chip.memory.capacity_bytes == capacity_gib * GiB and chip.memory.bandwidth_bytes_per_s == bandwidth


def test_raspberry_pi_500_and_cm5_share_the_pi_5_cpu(catalog):
    pi5 = catalog.get("raspberry-pi-5")
    for device_id, loaded in (("raspberry-pi-500", 9.0), ("raspberry-pi-cm5", 8.5)):
        board = catalog.get(device_id)
        assert board.peak_flops_by_dtype() == pi5.peak_flops_by_dtype()
        assert board.power.loaded_w == loaded and board.power.active_basis == "loaded"


def test_jetson_orin_nx_16gb_scales_the_orin_nano_gpu_to_918_mhz(catalog):
    nx, nano = catalog.get("nvidia-jetson-orin-nx-16gb"), catalog.get("nvidia-jetson-orin-nano-8gb")
    scale = nx.clocks.boost_hz / nano.clocks.boost_hz
    assert nx.compute.int8.matrix_flops_per_s == pytest.approx(nano.compute.int8.matrix_flops_per_s * scale, rel=1e-3)
    assert nx.peak_flops_per_s("fp32") == pytest.approx(1024 * 2 * 918e6)
    assert nx.power.tdp_w == 25


def test_hailo_8l_hat(catalog):
    hat = catalog.get("raspberry-pi-ai-hat-plus-13-tops")
    assert hat.peak_flops_per_s("int8") == 13e12 and hat.kind == "accelerator"
