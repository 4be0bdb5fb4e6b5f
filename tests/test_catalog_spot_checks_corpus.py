"""Spot checks of the devices the validation corpus measures, against their datasheet figures."""
import pytest

from roofline.catalog import load_catalog

GiB = 2**30


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_a100_80gb_pcie_keeps_the_sxm_compute_with_its_own_memory_power_and_links(catalog):
    pcie, sxm = catalog.get("nvidia-a100-80gb-pcie"), catalog.get("nvidia-a100-80gb-sxm")
    assert pcie.peak_flops_per_s("bf16") == 312e12 and pcie.peak_flops_per_s("int8") == 624e12
    assert pcie.compute.bf16.matrix_sparse_flops_per_s == 624e12
    for dtype in ("fp64", "fp32", "tf32", "fp16", "bf16", "int8"):
        assert pcie.peak_flops_per_s(dtype) == sxm.peak_flops_per_s(dtype), dtype
    assert pcie.memory.capacity_bytes == 80 * GiB and pcie.memory.bandwidth_bytes_per_s == 1935e9
    assert pcie.power.tdp_w == 300 and sxm.power.tdp_w == 400
    assert pcie.host_link.bandwidth_bytes_per_s * 2 == 64e9 and pcie.host_link.generation == 4
    assert pcie.gpu_link.bandwidth_bytes_per_s == 600e9 and pcie.gpu_link.domain_size == 2


def test_rtx_a6000(catalog):
    card = catalog.get("nvidia-rtx-a6000")
    assert card.compute_units == 84 and card.peak_flops_per_s("fp32") == pytest.approx(38.7e12)
    # 10,752 CUDA cores x 2 FLOP per FMA at the 1800 MHz boost clock
    assert card.peak_flops_per_s("fp32") == pytest.approx(10752 * 2 * 1.8e9, rel=1e-3)
    assert card.memory.capacity_bytes == 48 * GiB and card.memory.bandwidth_bytes_per_s == 768e9
    assert card.memory.bandwidth_bytes_per_s == card.memory.bus_width_bits / 8 * 16e9
    assert card.gpu_link.bandwidth_bytes_per_s == 112.5e9 and card.power.tdp_w == 300


@pytest.mark.parametrize("device_id,tdp_w", [
    ("nvidia-rtx-pro-6000-blackwell", 600), ("nvidia-rtx-pro-6000-blackwell-max-q", 300),
])
def test_rtx_pro_6000_blackwell_variants(catalog, device_id, tdp_w):
    card = catalog.get(device_id)
    assert card.compute_units == 188 and card.power.tdp_w == tdp_w
    assert card.memory.capacity_bytes == 96 * GiB and card.memory.bandwidth_bytes_per_s == 1792e9
    assert card.memory.bus_width_bits == 512 and card.host_link.generation == 5
    assert 100e12 < card.peak_flops_per_s("fp32") <= 125e12


def test_rtx_pro_6000_workstation_edition_figures(catalog):
    card, rtx_5090 = catalog.get("nvidia-rtx-pro-6000-blackwell"), catalog.get("nvidia-rtx-5090")
    assert card.peak_flops_per_s("fp32") == 125e12
    assert card.memory.bandwidth_bytes_per_s == 512 / 8 * 28e9
    # same GB202 die, more SMs enabled, same 512-bit / 1,792 GB/s memory system
    assert card.compute_units > rtx_5090.compute_units
    assert card.memory.bandwidth_bytes_per_s == rtx_5090.memory.bandwidth_bytes_per_s


def test_max_q_fp32_is_the_core_count_at_its_boost_clock(catalog):
    card = catalog.get("nvidia-rtx-pro-6000-blackwell-max-q")
    assert card.clocks.boost_hz == 2.288e9
    assert card.peak_flops_per_s("fp32") == pytest.approx(24064 * 2 * 2.288e9, rel=1e-3)


@pytest.mark.parametrize("device_id,gpu_cores,capacity_gib,bandwidth", [
    ("apple-m2-ultra", 76, 192, 800e9), ("apple-m3-max", 40, 128, 400e9),
])
def test_apple_corpus_chips(catalog, device_id, gpu_cores, capacity_gib, bandwidth):
    chip = catalog.get(device_id)
    assert chip.compute_units == gpu_cores and chip.memory.unified
    assert chip.memory.capacity_bytes == capacity_gib * GiB and chip.memory.bandwidth_bytes_per_s == bandwidth
    if device_id != "apple-m2-ultra":  # the M2 Ultra's 27.2 TFLOPS is Apple's (tests/test_catalog_gaps.py)
        assert chip.peak_flops_per_s("fp32") is None  # Apple publishes no GPU clock or FLOPS figure


@pytest.mark.parametrize("device_id,sm,cores,boost_hz,ai_tops,capacity_gib,bandwidth,tdp_w,usd", [
    ("nvidia-rtx-5080", 84, 10752, 2.62e9, 1801e12, 16, 960e9, 360, 999),
    ("nvidia-rtx-5070", 48, 6144, 2.51e9, 988e12, 12, 672e9, 250, 549),
])
def test_rtx_50_series_below_the_5090(catalog, device_id, sm, cores, boost_hz, ai_tops, capacity_gib,
                                      bandwidth, tdp_w, usd):
    card, rtx_5090 = catalog.get(device_id), catalog.get("nvidia-rtx-5090")
    assert card.compute_units == sm and card.clocks.boost_hz == boost_hz
    assert card.peak_flops_per_s("fp32") == pytest.approx(cores * 2 * boost_hz, rel=1e-3)
    assert card.memory.capacity_bytes == capacity_gib * GiB and card.memory.bandwidth_bytes_per_s == bandwidth
    assert card.power.tdp_w == tdp_w and card.price.launch_usd == usd
    # tensor rates per SM per clock are the RTX 5090's (same Blackwell SM) ...
    per_sm_clock = rtx_5090.compute.bf16.matrix_flops_per_s / (170 * rtx_5090.clocks.boost_hz)
    assert card.compute.bf16.matrix_flops_per_s == pytest.approx(per_sm_clock * sm * boost_hz, rel=2e-3)
    # ... and they reproduce NVIDIA's AI TOPS headline: sparse FP4 = 16 x dense bf16 (fp32 accumulate)
    assert 16 * card.compute.bf16.matrix_flops_per_s == pytest.approx(ai_tops, rel=5e-3)
    assert card.compute.int8.matrix_flops_per_s == pytest.approx(4 * card.compute.bf16.matrix_flops_per_s, rel=1e-3)


def test_mi355x(catalog):
    gpu = catalog.get("amd-mi355x")
    assert gpu.compute_units == 256 and gpu.clocks.boost_hz == 2.4e9 and gpu.power.tdp_w == 1400
    assert gpu.memory.capacity_bytes == 288 * GiB and gpu.memory.bandwidth_bytes_per_s == 8e12
    assert gpu.peak_flops_per_s("fp32") == pytest.approx(157.3e12)
    assert gpu.peak_flops_per_s("bf16") == pytest.approx(2.5e15, rel=0.01)  # AMD: "2.5 PFLOPS"
    assert gpu.peak_flops_per_s("fp8") == pytest.approx(256 * 8192 * 2.4e9, rel=1e-4)
    assert gpu.peak_flops_per_s("fp8") == 2 * gpu.peak_flops_per_s("bf16")
    # twice the MI325X's dense bf16 rate on fewer CUs
    assert gpu.peak_flops_per_s("bf16") > 1.9 * catalog.get("amd-mi325x").peak_flops_per_s("bf16")


def test_jetson_agx_thor(catalog):
    thor = catalog.get("nvidia-jetson-agx-thor")
    assert thor.kind == "sbc" and thor.memory.unified and thor.compute_units == 20
    assert thor.memory.capacity_bytes == 128 * GiB and thor.memory.bandwidth_bytes_per_s == 273e9
    assert thor.memory.bandwidth_bytes_per_s == pytest.approx(256 / 8 * 8533e6, rel=1e-3)
    assert thor.peak_flops_per_s("fp32") == pytest.approx(2560 * 2 * 1.575e9)
    assert thor.power.tdp_w == 130
    assert thor.memory.capacity_bytes > catalog.get("nvidia-jetson-agx-orin-64gb").memory.capacity_bytes


@pytest.mark.parametrize("watts,sm,gpu_hz", [(15, 6, 408e6), (30, 8, 612e6), (50, 16, 816e6)])
def test_jetson_agx_orin_power_modes(catalog, watts, sm, gpu_hz):
    maxn = catalog.get("nvidia-jetson-agx-orin-64gb")
    mode = catalog.get(f"nvidia-jetson-agx-orin-64gb-{watts}w")
    assert mode.variant_of == maxn.id and mode.power.tdp_w == watts and mode.power.tdp_w < maxn.power.tdp_w
    assert mode.compute_units == sm and mode.clocks.boost_hz == gpu_hz
    assert mode.peak_flops_per_s("fp32") == pytest.approx(sm * 128 * 2 * gpu_hz)
    # the tensor peaks scale from NVIDIA's MAXN figures by SM count and clock
    scale = (sm / maxn.compute_units) * (gpu_hz / maxn.clocks.boost_hz)
    assert mode.compute.fp16.matrix_flops_per_s == pytest.approx(42.5e12 * scale, rel=1e-3)
    assert mode.compute.int8.matrix_sparse_flops_per_s == pytest.approx(170e12 * scale, rel=1e-3)
    assert mode.memory.capacity_bytes == maxn.memory.capacity_bytes


def test_agx_orin_modes_order_by_power(catalog):
    ids = [f"nvidia-jetson-agx-orin-64gb-{w}w" for w in (15, 30, 50)] + ["nvidia-jetson-agx-orin-64gb"]
    peaks = [catalog.get(i).peak_flops_per_s("int8") for i in ids]
    assert peaks == sorted(peaks) and len(set(peaks)) == 4
    # the 15 W mode caps the memory clock: no bandwidth is claimed for it
    assert catalog.get(ids[0]).memory.bandwidth_bytes_per_s is None
    assert catalog.get(ids[1]).memory.bandwidth_bytes_per_s == 204.8e9


def test_gb200_gpu_runs_the_b200_silicon_at_a_higher_power_limit(catalog):
    gb200, b200 = catalog.get("nvidia-gb200"), catalog.get("nvidia-b200")
    assert gb200.peak_flops_per_s("bf16") == 2500e12 and gb200.compute.bf16.matrix_sparse_flops_per_s == 5000e12
    assert gb200.peak_flops_per_s("fp8") == 5000e12 and gb200.peak_flops_per_s("fp32") == 90e12
    assert gb200.power.tdp_w == 1200 and b200.power.tdp_w == 1000
    assert gb200.peak_flops_per_s("bf16") / b200.peak_flops_per_s("bf16") == pytest.approx(2500 / 2250)
    assert gb200.gpu_link.domain_size == 72 and gb200.gpu_link.bandwidth_bytes_per_s == 1.8e12


def test_b300_adds_memory_not_bf16_compute(catalog):
    b300, b200 = catalog.get("nvidia-b300"), catalog.get("nvidia-b200")
    assert b300.memory.capacity_bytes == 288 * GiB > b200.memory.capacity_bytes
    assert b300.peak_flops_per_s("bf16") == 2250e12 == b200.peak_flops_per_s("bf16")
    assert b300.peak_flops_per_s("fp8") == 4500e12
    assert b300.peak_flops_per_s("int8") is None  # the tables read disagree; left out
    assert b300.power.tdp_w == 1100


@pytest.mark.parametrize("device_id,usable_bytes,ecc", [
    ("nvidia-a100-80gb-pcie", 84974239744, True), ("nvidia-rtx-a6000", 51160023040, False),
])
def test_runtime_visible_memory_of_the_corpus_cards(catalog, device_id, usable_bytes, ecc):
    card = catalog.get(device_id)
    assert card.memory.usable_bytes == usable_bytes and card.memory.ecc is ecc
    assert card.memory.runtime_bytes == usable_bytes < card.memory.capacity_bytes
