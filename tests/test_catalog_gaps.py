"""Spot checks of catalog fields filled from published figures: interconnects for multi-GPU
serving, host links of datacenter GPUs and the Apple M2 Ultra's GPU peak.

Each expected value is the published figure (or its derivation from published inputs, written
out here), not a number computed by the code under test.
"""
import pytest

from roofline.catalog import load_catalog

GB = 1e9


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _sourced(device, path):
    source = device.source_for(path)
    assert source is not None, f"{device.id}: no source backs {path}"
    return source


def test_mi325x_infinity_fabric_is_seven_links_of_128_gb_s(catalog):
    gpu = catalog.get("amd-mi325x")
    link = gpu.gpu_link
    assert link.links == 7 and link.domain_size == 8
    assert link.bandwidth_bytes_per_s == 7 * 128 * GB  # AMD: 128 GB/s peak per link
    assert link.per_direction_bytes_per_s == 448 * GB
    # a drop-in replacement on the MI300X platform: the same fabric as the MI300X entry
    assert link.bandwidth_bytes_per_s == catalog.get("amd-mi300x").gpu_link.bandwidth_bytes_per_s
    assert "ml-engineering" in _sourced(gpu, "gpu_link.bandwidth").reference


def test_mi355x_infinity_fabric_and_host_link(catalog):
    gpu = catalog.get("amd-mi355x")
    link = gpu.gpu_link
    assert link.links == 7 and link.domain_size == 8
    assert link.bandwidth_bytes_per_s == 7 * 153 * GB  # 153 GB/s peak per link as tabulated
    assert link.bandwidth_bytes_per_s > catalog.get("amd-mi325x").gpu_link.bandwidth_bytes_per_s
    host = gpu.host_link
    assert (host.generation, host.lanes) == (5, 16)
    assert host.bandwidth_bytes_per_s == 128 * GB / 2  # Gen5 x16: 128 GB/s both directions
    _sourced(gpu, "host_link.lanes")
    assert any("mlcommons" in src.reference and "host_link.lanes" in src.fields for src in gpu.sources)


def test_b300_hgx_domain_and_pcie_gen6_host_link(catalog):
    gpu = catalog.get("nvidia-b300")
    assert gpu.gpu_link.domain_size == 8  # HGX B300 8-GPU baseboard
    assert gpu.gpu_link.bandwidth_bytes_per_s == 1800 * GB
    assert gpu.host_link.generation == 6
    assert gpu.host_link.bandwidth_bytes_per_s == 128 * GB  # per direction, twice the B200's Gen5
    assert gpu.host_link.bandwidth_bytes_per_s == 2 * catalog.get("nvidia-b200").host_link.bandwidth_bytes_per_s
    assert "nvidia.com" in _sourced(gpu, "gpu_link.domain_size").reference
    assert "host_link.bandwidth" not in gpu.missing_fields()


def test_v100_nvlink2_and_pcie(catalog):
    gpu = catalog.get("nvidia-v100-sxm2-16gb")
    assert gpu.gpu_link.links == 6
    assert gpu.gpu_link.bandwidth_bytes_per_s == 6 * 25 * GB * 2  # 6 links x 25 GB/s each way
    assert gpu.gpu_link.domain_size is None  # DGX-1 hybrid cube-mesh: not all-to-all
    assert gpu.host_link.bandwidth_bytes_per_s == 32 * GB / 2  # "16 x 2 = 32 GB/s" bidirectional
    assert "host_link.bandwidth" not in gpu.missing_fields()


def test_datacenter_gpus_with_a_gpu_link_state_its_bandwidth(catalog):
    """Multi-GPU serving needs the per-GPU link rate; every datacenter GPU that has one says it."""
    for gpu_id in ("amd-mi300x", "amd-mi325x", "amd-mi355x", "nvidia-a100-80gb-sxm", "nvidia-h100-sxm",
                   "nvidia-h200-sxm", "nvidia-b200", "nvidia-b300", "nvidia-gb200"):
        link = catalog.get(gpu_id).gpu_link
        assert link.bandwidth_bytes_per_s and link.domain_size, gpu_id


def test_m2_ultra_peak_is_apples_27_2_tflops(catalog):
    chip = catalog.get("apple-m2-ultra")
    assert chip.peak_flops_per_s("fp32") == 27.2e12
    # 76 GPU cores x 128 FP32 ALUs x 2 FLOP per FMA x 1.398 GHz (the M2's measured GPU clock)
    assert chip.peak_flops_per_s("fp32") == pytest.approx(76 * 128 * 2 * 1.398e9, rel=1e-3)
    assert chip.clocks.boost_hz == 1.398e9 == catalog.get("apple-m2").clocks.boost_hz
    assert chip.peak_flops_per_s("fp16") == chip.peak_flops_per_s("fp32")
    assert "apple.com" in _sourced(chip, "compute.fp32").reference
    assert "compute.fp32" not in chip.missing_fields()


@pytest.mark.parametrize("chip_id", ["apple-m3", "apple-m3-max", "apple-m4", "apple-m4-pro", "apple-m4-max"])
def test_apple_chips_without_a_published_gpu_clock_stay_unpredicted(catalog, chip_id):
    """Apple publishes no GPU clock or FLOPS for these; the catalog leaves the peak out."""
    chip = catalog.get(chip_id)
    assert chip.peak_flops_per_s("fp32") is None
    assert "compute.fp32" in chip.missing_fields()


def test_gb200_host_link_is_nvlink_c2c_without_a_guessed_rate(catalog):
    gpu = catalog.get("nvidia-gb200")
    assert "NVLink-C2C" in gpu.host_link.type
    assert gpu.host_link.bandwidth_bytes_per_s is None  # no per-GPU figure published
    assert "host_link.bandwidth" in gpu.missing_fields()
