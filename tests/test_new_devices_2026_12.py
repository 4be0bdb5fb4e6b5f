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
# two 256-bit FMA pipes per core: the HX 370's CPUID Fn8000_001A EAX reads 0x6 (FP256, not FP512)
# (https://github.com/InstLatx64/InstLatx64/blob/fd320d2182d9055cbb8872ef2632ed12940b8837/AuthenticAMD/AuthenticAMD0B20F40_K20_StrixPoint_06_CPUID.txt)
# -> 2 x 8 fp32 lanes x 2 FLOP
HX370_CPUID_8000001A_EAX = 0x6
ZEN5_MOBILE_FP32_FLOP_PER_CYCLE = 2 * ((512 if HX370_CPUID_8000001A_EAX & 0x8 else 256) // 32) * 2


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


@pytest.mark.parametrize("device_id", ["amd-ryzen-ai-9-hx-370", "intel-core-ultra-7-258v", "intel-core-ultra-9-288v"])
def test_every_number_of_the_new_devices_is_backed_by_a_dated_source(catalog, device_id):
    spec = catalog.get(device_id)
    for path in ("compute_units", "threads", "clocks.base", "memory.bandwidth", "memory.max_capacity", "power.tdp"):
        source = spec.source_for(path)
        assert source is not None and (source.url or "").startswith("https://"), (device_id, path)
    assert any(s.retrieved is not None for s in spec.sources)


# Core Ultra 9 288V. The processor's own CPUID registers, AIDA64 dump by InstLatX64
# (https://github.com/InstLatx64/InstLatx64/blob/23fb8b7d8943e3ab57a776ca27aa00c5dd45a6cf/GenuineIntel/GenuineIntel00B06D1_LunarLake_04_CPUID.txt):
# leaf 16h "3300 / 5100" MHz on the four P-cores and "3300 / 3700" on the four E-cores (Skymont);
# caches: P-core L0+L1 data 48+192 KB and L2 2560 KB, E-core L1d 32 KB and L2 4 MB (shared), L3 12 MB
LNL9_P_CORES, LNL9_E_CORES, LNL9_P_BASE_MHZ, LNL9_P_MAX_MHZ, LNL9_E_BASE_MHZ = 4, 4, 3300, 5100, 3300
LNL9_P_L2_KB, LNL9_E_L2_MB, LNL9_L3_MB = 2560, 4, 12
# Notebookcheck's processor list (saved copy above): 288V TDP 30 W (turbo 37 W), "14MB + 12MB" cache
LNL9_TDP_W, LNL9_L2_TOTAL_MB = 30, 14
# Measured throughput of the same core designs in a Core Ultra 7 265K (InstLatX64 AIDA64 dumps,
# https://github.com/InstLatx64/InstLatx64/blob/d993c2d5e7d3cbfa9f9aa659954c3f438d7258d7/GenuineIntel/GenuineIntel00C0662_ArrowLake_08_BC_InstLatX64.txt
# and ..._08_LC_InstLatX64.txt): VFMADD231PS ymm throughput 0.499 and 0.504 cycles
FMA_YMM_CYCLES_PER_INSTRUCTION = (0.499, 0.504)


def test_core_ultra_9_288v_peak_is_both_core_types_at_their_base_clock(catalog):
    soc = catalog.get("intel-core-ultra-9-288v")
    assert (soc.compute_units, soc.threads) == (LNL9_P_CORES + LNL9_E_CORES, LNL9_P_CORES + LNL9_E_CORES)
    assert (soc.clocks.base_hz, soc.clocks.boost_hz) == (LNL9_P_BASE_MHZ * 1e6, LNL9_P_MAX_MHZ * 1e6)
    flop_per_cycle = [round(1 / t) * (256 // 32) * 2 for t in FMA_YMM_CYCLES_PER_INSTRUCTION]  # FMAs/cycle x lanes x 2
    assert flop_per_cycle == [32, 32]
    fp32 = (LNL9_P_CORES * LNL9_P_BASE_MHZ * 1e6 * flop_per_cycle[0]
            + LNL9_E_CORES * LNL9_E_BASE_MHZ * 1e6 * flop_per_cycle[1])
    assert soc.peak_flops_per_s("fp32") == pytest.approx(fp32)
    assert soc.peak_flops_per_s("fp64") == pytest.approx(fp32 / 2)
    assert soc.peak_flops_per_s("int8") is None and soc.peak_flops_per_s("bf16") is None  # NPU TOPS are not CPU peaks
    assert soc.power.tdp_w == LNL9_TDP_W


def test_core_ultra_9_288v_caches_add_up_to_notebookchecks_totals(catalog):
    caches = catalog.get("intel-core-ultra-9-288v").memory.caches
    l2 = sum(c.size_bytes * c.instances for c in caches if c.level == "L2")
    assert l2 == LNL9_P_CORES * LNL9_P_L2_KB * 1024 + LNL9_E_L2_MB * MiB == LNL9_L2_TOTAL_MB * MiB
    assert [c.size_bytes for c in caches if c.level == "L3"] == [LNL9_L3_MB * MiB]
    l1d = sorted(c.size_bytes for c in caches if c.level == "L1d" for _ in range(c.instances))
    assert l1d == [32 * 1024] * LNL9_E_CORES + [48 * 1024] * LNL9_P_CORES


def test_core_ultra_9_288v_shares_the_258v_memory_system(catalog):
    top, mid = catalog.get("intel-core-ultra-9-288v"), catalog.get("intel-core-ultra-7-258v")
    assert top.memory.bandwidth_bytes_per_s == pytest.approx(LNL_MTPS * 1e6 * LNL_BUS_BITS / 8)
    assert top.memory.bandwidth_bytes_per_s == mid.memory.bandwidth_bytes_per_s
    assert top.memory.max_capacity_bytes == LNL_MEMORY_GB * GiB
    assert top.system_memory().bytes == LNL_MEMORY_GB * GiB


# HX 370 CPUID dump by InstLatX64
# (https://github.com/InstLatx64/InstLatx64/blob/fd320d2182d9055cbb8872ef2632ed12940b8837/AuthenticAMD/AuthenticAMD0B20F40_K20_StrixPoint_06_CPUID.txt):
# L1D 48 KB and L2 1 MB on each of the 12 cores
HX370_L1D_KB, HX370_L2_MB = 48, 1


def test_ryzen_ai_9_hx_370_per_core_caches(catalog):
    caches = catalog.get("amd-ryzen-ai-9-hx-370").memory.caches
    assert [(c.size_bytes, c.instances) for c in caches if c.level == "L1d"] == [(HX370_L1D_KB * 1024, HX370_CORES)]
    assert [(c.size_bytes, c.instances) for c in caches if c.level == "L2"] == [(HX370_L2_MB * MiB, HX370_CORES)]
