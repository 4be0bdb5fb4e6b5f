"""Platform memory of CPUs: the vendor's per-socket maximum and the assumed system memory."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from roofline.catalog import DEFAULT_HOST_MEMORY_BYTES, DeviceSpec, assumed_system_memory, load_catalog
from roofline.errors import CatalogError
from roofline.predict.memory import usable_memory


def _cpu(**memory) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "c", "name": "C", "vendor": "V", "kind": "cpu", "memory": memory,
        "sources": [{"url": "https://example.com", "title": "t", "fields": ["memory"]}],
    })


def test_default_is_documented_and_stated():
    result = assumed_system_memory(_cpu(max_capacity="6 TB"))
    assert result.bytes == DEFAULT_HOST_MEMORY_BYTES and result.basis == "default"
    assert "assumed system memory 64 GiB" in result.note


def test_host_memory_overrides_the_default():
    result = _cpu(max_capacity="6 TB").system_memory(512e9)
    assert result.bytes == 512e9 and result.basis == "host-memory" and "512 GB" in result.note


def test_host_memory_is_capped_at_the_platform_maximum():
    result = _cpu(max_capacity="192 GB").system_memory(512e9)
    assert result.bytes == 192e9
    assert "capped at the platform maximum 192 GB" in result.note


def test_small_maximum_caps_the_default_too():
    assert _cpu(max_capacity="32 GiB").system_memory().bytes == 32 * 2**30


def test_installed_capacity_in_a_device_file_wins_over_the_default():
    result = _cpu(capacity="256 GiB", max_capacity="6 TB").system_memory()
    assert (result.bytes, result.basis) == (256 * 2**30, "catalog")
    assert _cpu(capacity="256 GiB").system_memory(1e12).bytes == 1e12  # the caller's figure wins


def test_capacity_above_the_maximum_is_refused():
    with pytest.raises(ValidationError, match="larger than max_capacity"):
        _cpu(capacity="8 TB", max_capacity="6 TB")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True, "512GB"])
def test_bad_host_memory_is_an_error(bad):
    with pytest.raises(CatalogError, match="host memory must be a positive number of bytes"):
        _cpu().system_memory(bad)


def test_accelerators_keep_their_device_memory():
    h100 = load_catalog().get("nvidia-h100-sxm")
    result = h100.system_memory(512e9)
    assert (result.bytes, result.basis) == (h100.memory.capacity_bytes, "device")


def test_usable_memory_of_a_cpu_states_the_assumption():
    xeon = load_catalog().get("intel-xeon-6980p")
    available, note = usable_memory(xeon)
    assert available == DEFAULT_HOST_MEMORY_BYTES and "assumed" in note
    weights_70b_fp16 = 66 * 32768 * 32768 * 2
    assert available < weights_70b_fp16  # the default excludes a 70B fp16 model
    available, note = usable_memory(xeon, host_memory_bytes=512e9)
    assert available == 512e9 > weights_70b_fp16


def test_builtin_cpus_carry_the_maximum_not_an_installed_size():
    catalog = load_catalog()
    assert catalog.get("amd-epyc-9654").memory.max_capacity_bytes == 6e12
    assert catalog.get("intel-core-i9-14900k").memory.max_capacity_bytes == 192e9
    for cpu in catalog.by_kind("cpu"):
        assert cpu.memory.capacity_bytes is None, cpu.id
