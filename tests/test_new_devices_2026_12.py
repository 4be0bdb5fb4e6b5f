"""Spot checks of the laptop CPUs added in December 2026 against the figures of their public sources.

Each literal below is the figure as published (the url is in the comment next to it); derived
catalog numbers are recomputed here from those published inputs, not read back from the loader.
"""
import pytest

from roofline.catalog import DEFAULT_HOST_MEMORY_BYTES, load_catalog

GiB = 2**30
MiB = 2**20


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# AMD's specification table as published by ComputerBase
# (https://computerbase.de/2024-07/ryzen-ai-9-hx-375-amd-macht-die-55-tops-apu-offiziell):
# 12 cores / 24 threads, 2.0 GHz base, 5.1 GHz boost, 36 MB L2 + L3, 28 W
HX370_CORES, HX370_THREADS, HX370_BASE_HZ, HX370_BOOST_HZ, HX370_L2_L3_MB, HX370_TDP_W = 12, 24, 2.0e9, 5.1e9, 36, 28
# Hardwareluxx (https://www.hardwareluxx.de/index.php/news/hardware/prozessoren/63926-strix-halo-amds-st%C3%A4rkste-apu-zeigt-sich-mit-128-gb-arbeitsspeicher.html):
# Strix Point 128-bit LPDDR5X-7500 (120 GB/s); the memory controller takes up to 256 GB
HX370_BUS_BITS, HX370_MTPS, HX370_MAX_MEMORY_B = 128, 7500, 256e9
# Chips and Cheese (https://chipsandcheese.com/2024/08/10/amds-strix-point-zen-5-hits-mobile):
# 16 MB L3 for the four Zen 5 cores, 8 MB L3 for the eight Zen 5c cores
HX370_L3_MB = (16, 8)
# two 256-bit FMA pipes per core (mobile Zen 5): 2 x 8 fp32 lanes x 2 FLOP
ZEN5_MOBILE_FP32_FLOP_PER_CYCLE = 2 * (256 // 32) * 2


def test_ryzen_ai_9_hx_370_product_figures(catalog):
    apu = catalog.get("amd-ryzen-ai-9-hx-370")
    assert apu.kind == "cpu" and apu.vendor == "AMD"
    assert (apu.compute_units, apu.threads) == (HX370_CORES, HX370_THREADS)
    assert (apu.clocks.base_hz, apu.clocks.boost_hz) == (HX370_BASE_HZ, HX370_BOOST_HZ)
    assert apu.power.tdp_w == HX370_TDP_W
    l2 = [c for c in apu.memory.caches if c.level == "L2"]
    l3 = [c for c in apu.memory.caches if c.level == "L3"]
    assert sorted(c.size_bytes for c in l3) == sorted(mb * MiB for mb in HX370_L3_MB)
    total = sum(c.size_bytes * c.instances for c in l2 + l3)
    assert total == HX370_L2_L3_MB * MiB
    assert l2[0].instances == HX370_CORES  # one L2 per core


def test_ryzen_ai_9_hx_370_memory_is_the_lpddr5x_configuration(catalog):
    memory = catalog.get("amd-ryzen-ai-9-hx-370").memory
    assert memory.bus_width_bits == HX370_BUS_BITS and memory.data_rate_mtps == HX370_MTPS
    assert memory.bandwidth_bytes_per_s == pytest.approx(HX370_MTPS * 1e6 * HX370_BUS_BITS / 8)
    assert memory.bandwidth_bytes_per_s == pytest.approx(120e9)  # Hardwareluxx's figure
    assert memory.max_capacity_bytes == HX370_MAX_MEMORY_B
    assert memory.capacity_bytes is None and memory.unified


def test_ryzen_ai_9_hx_370_peaks_are_at_the_base_clock(catalog):
    apu = catalog.get("amd-ryzen-ai-9-hx-370")
    fp32 = HX370_CORES * HX370_BASE_HZ * ZEN5_MOBILE_FP32_FLOP_PER_CYCLE
    assert apu.peak_flops_per_s("fp32") == pytest.approx(fp32)
    assert apu.peak_flops_per_s("fp64") == pytest.approx(fp32 / 2)
    # half the per-core, per-clock rate of the full-width (512-bit) server Zen 5 in the catalog
    epyc = catalog.get("amd-epyc-9755")
    per_core_clock = apu.peak_flops_per_s("fp32") / (apu.compute_units * apu.clocks.base_hz)
    assert per_core_clock * 2 == pytest.approx(epyc.peak_flops_per_s("fp32") / (epyc.compute_units * epyc.clocks.base_hz))
    assert apu.peak_at("fp32", "all_core_boost").fallback  # AMD publishes no all-core boost
    for dtype in ("bf16", "fp16", "int8"):  # the NPU's TOPS are not a CPU peak
        assert apu.peak_flops_per_s(dtype) is None


def test_ryzen_ai_9_hx_370_uses_the_default_host_memory(catalog):
    system = catalog.get("amd-ryzen-ai-9-hx-370").system_memory()
    assert (system.bytes, system.basis) == (DEFAULT_HOST_MEMORY_BYTES, "default")
    assert catalog.get("amd-ryzen-ai-9-hx-370").system_memory(512e9).bytes == HX370_MAX_MEMORY_B


# Saved copy of Notebookcheck's processor list, pinned
# (https://github.com/miptleha/cpu-rating/blob/c1d974351f9d31b6ee52d59311aaf43ff7ad01c9/parser/Data/cpu.html):
# Core Ultra 7 258V: 8/8 cores/threads, 2200-4800 MHz, TDP 17 W (turbo 37 W), 12 MB L3
LNL_CORES, LNL_THREADS, LNL_BASE_HZ, LNL_BOOST_HZ, LNL_TDP_W, LNL_L3_MB = 8, 8, 2.2e9, 4.8e9, 17, 12
# Notebookcheck (https://www.notebookcheck.net/Intel-Core-Ultra-7-256V-Processor-Benchmarks-and-Specs.892554.0.html):
# LPDDR5x-8533 on package; the 258V has 32 GB (the 256V 16 GB)
LNL_MTPS, LNL_MEMORY_GB = 8533, 32
# Hardwareluxx (url above): Lunar Lake 128-bit memory interface, 136 GB/s
LNL_BUS_BITS = 128


def test_core_ultra_7_258v_product_figures(catalog):
    soc = catalog.get("intel-core-ultra-7-258v")
    assert soc.kind == "cpu" and soc.vendor == "Intel"
    assert (soc.compute_units, soc.threads) == (LNL_CORES, LNL_THREADS)  # no Hyper-Threading
    assert (soc.clocks.base_hz, soc.clocks.boost_hz) == (LNL_BASE_HZ, LNL_BOOST_HZ)
    assert soc.power.tdp_w == LNL_TDP_W
    assert [(c.level, c.size_bytes) for c in soc.memory.caches] == [("L3", LNL_L3_MB * MiB)]


def test_core_ultra_7_258v_on_package_memory(catalog):
    memory = catalog.get("intel-core-ultra-7-258v").memory
    assert memory.data_rate_mtps == LNL_MTPS and memory.bus_width_bits == LNL_BUS_BITS
    assert memory.bandwidth_bytes_per_s == pytest.approx(LNL_MTPS * 1e6 * LNL_BUS_BITS / 8)
    assert round(memory.bandwidth_bytes_per_s / 1e9) == 137  # Hardwareluxx's rounded 136 GB/s is within 1 GB/s
    assert memory.max_capacity_bytes == LNL_MEMORY_GB * GiB  # physical LPDDR5X size (rule 7)
    assert memory.capacity_bytes is None and memory.unified


def test_core_ultra_7_258v_caps_the_assumed_memory_at_its_32_gb(catalog):
    system = catalog.get("intel-core-ultra-7-258v").system_memory()
    assert DEFAULT_HOST_MEMORY_BYTES > LNL_MEMORY_GB * GiB
    assert system.bytes == LNL_MEMORY_GB * GiB and "capped" in system.note


def test_core_ultra_7_258v_has_no_peak_until_its_inputs_are_sourced(catalog):
    soc = catalog.get("intel-core-ultra-7-258v")
    assert soc.peak_flops_by_dtype() == {}
    assert {"compute.fp32", "compute.int8"} <= set(soc.missing_fields())
    assert "E-core base frequency" in soc.notes  # the file says what is missing and why


@pytest.mark.parametrize("device_id", ["amd-ryzen-ai-9-hx-370", "intel-core-ultra-7-258v"])
def test_every_number_of_the_new_devices_is_backed_by_a_dated_source(catalog, device_id):
    spec = catalog.get(device_id)
    for path in ("compute_units", "threads", "clocks.base", "memory.bandwidth", "memory.max_capacity", "power.tdp"):
        source = spec.source_for(path)
        assert source is not None and (source.url or "").startswith("https://"), (device_id, path)
    assert any(s.retrieved is not None for s in spec.sources)
