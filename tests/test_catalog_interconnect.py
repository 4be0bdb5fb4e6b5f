"""Host links with PCIe generation and lanes, GPU links, and multi-GPU system entries."""
from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from roofline.catalog import CatalogFileError, DeviceSpec, load_catalog
from roofline.errors import CatalogError


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_pcie_fields_match_the_link_type(catalog):
    for device in catalog:
        link = device.host_link
        m = re.match(r"^PCIe (\d)\.0 x(\d+)", link.type or "")
        if m:
            assert link.generation == float(m[1]) and link.lanes == int(m[2]), device.id


@pytest.mark.parametrize("device_id,bandwidth,domain", [
    ("nvidia-h100-sxm", 900e9, 8), ("nvidia-h200-sxm", 900e9, 8), ("nvidia-b200", 1.8e12, 8),
    ("nvidia-a100-80gb-sxm", 600e9, 8), ("amd-mi300x", 896e9, 8), ("nvidia-h100-pcie", 600e9, 2),
])
def test_gpu_links_of_the_datacenter_gpus(catalog, device_id, bandwidth, domain):
    link = catalog.get(device_id).gpu_link
    assert link.bandwidth_bytes_per_s == bandwidth and link.domain_size == domain
    assert link.per_direction_bytes_per_s == bandwidth / 2


def test_mi300x_link_total_is_links_times_128_gb_s(catalog):
    link = catalog.get("amd-mi300x").gpu_link
    assert link.bandwidth_bytes_per_s == link.links * 128e9


def test_systems_are_kept_apart_from_single_devices(catalog):
    systems = {s.id for s in catalog.systems()}
    assert {"nvidia-dgx-h100", "nvidia-dgx-h200", "nvidia-dgx-b200", "amd-instinct-mi300x-platform"} <= systems
    assert not systems & set(catalog.ids())
    assert all(d.kind != "system" for d in catalog)
    assert catalog.by_kind("system") == catalog.systems()
    assert catalog.get("nvidia-dgx-h100").kind == "system"


def test_compose_sums_the_member_gpus(catalog):
    totals = catalog.compose("nvidia-dgx-h100")
    h100 = catalog.get("nvidia-h100-sxm")
    assert totals.count == 8 and totals.gpu.id == "nvidia-h100-sxm"
    assert totals.memory_bytes == 8 * h100.memory.capacity_bytes
    assert totals.peak_flops_by_dtype["bf16"] == 8 * h100.peak_flops_per_s("bf16")
    assert totals.gpu_link_domain_size == 8 and totals.host_cpu is None and totals.host_cpu_count == 2
    with pytest.raises(CatalogError, match="is not a system"):
        catalog.compose("nvidia-h100-sxm")


def test_system_needs_its_block_and_the_block_needs_the_kind():
    base = {"id": "s", "name": "S", "vendor": "V", "sources": [{"url": "https://example.com", "title": "t", "fields": ["system"]}]}
    with pytest.raises(ValidationError, match="a system: block goes with kind: system"):
        DeviceSpec.from_yaml_dict({**base, "kind": "system"})
    with pytest.raises(ValidationError, match="a system: block goes with kind: system"):
        DeviceSpec.from_yaml_dict({**base, "kind": "gpu", "system": {"gpu": "x", "count": 2}})


def test_a_system_naming_an_unknown_gpu_is_refused(tmp_path):
    (tmp_path / "bad-system.yaml").write_text(
        "id: bad-system\nname: B\nvendor: V\nkind: system\nsystem:\n  gpu: nvidia-h100-sxn\n  count: 8\n"
        "sources:\n  - url: https://example.com\n    title: t\n    fields: [system]\n")
    with pytest.raises(CatalogFileError, match="'nvidia-h100-sxn' is not a device of the catalog \\(did you mean 'nvidia-h100-sxm'"):
        load_catalog([tmp_path], strict=True)
    with pytest.warns(UserWarning):
        catalog = load_catalog([tmp_path])
    assert "bad-system" not in catalog
