"""Physical capacity vs runtime-visible (usable) memory, and the fit check's use of it."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from roofline.catalog import DeviceSpec, load_catalog
from roofline.predict.memory import memory_fit, usable_memory


def _device(**memory) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "x", "name": "X", "vendor": "V", "kind": "gpu", "memory": memory,
        "sources": [{"url": "https://example.com", "title": "t", "fields": ["memory"]}],
    })


def test_usable_parses_binary_and_decimal_units():
    spec = _device(capacity="80 GiB", usable="81106 MiB", ecc=True)
    assert spec.memory.capacity_bytes == 80 * 2**30
    assert spec.memory.usable_bytes == 81106 * 2**20
    assert spec.memory.runtime_bytes == spec.memory.usable_bytes


def test_usable_above_capacity_is_refused():
    with pytest.raises(ValidationError, match="usable memory .* is larger than the capacity"):
        _device(capacity="80 GB", usable="81 GiB")


def test_usable_needs_a_source():
    with pytest.raises(ValidationError, match="memory.usable: no source backs this number"):
        DeviceSpec.from_yaml_dict({
            "id": "x", "name": "X", "vendor": "V", "kind": "gpu",
            "memory": {"capacity": "8 GiB", "usable": "7 GiB"},
            "sources": [{"url": "https://example.com", "title": "t", "fields": ["memory.capacity"]}],
        })


def test_ecc_is_a_boolean():
    with pytest.raises(ValidationError, match="valid boolean"):
        _device(capacity="8 GiB", ecc="on")


def test_usable_memory_prefers_the_runtime_figure():
    spec = _device(capacity="24 GiB", usable="23570219008 B", ecc=True)
    available, note = usable_memory(spec)
    assert available == 23570219008
    assert "ECC on" in note
    no_usable = _device(capacity="24 GiB")
    assert usable_memory(no_usable) == (24 * 2**30, None)


def test_fit_check_uses_usable_memory():
    spec = _device(capacity="24 GiB", usable="23570219008 B")
    # fits the physical 24 GiB but not the 23.57 GB the runtime sees
    weights = 24 * 2**30 - 600 * 2**20 - 512 * 2**20
    fit = memory_fit(weights, 0, spec)
    assert fit.capacity_bytes == 24 * 2**30
    assert fit.available_bytes == 23570219008
    assert fit.fits is False


def test_unified_reserve_applies_to_the_usable_figure():
    spec = DeviceSpec.from_yaml_dict({
        "id": "x", "name": "X", "vendor": "V", "kind": "sbc",
        "memory": {"capacity": "8 GiB", "usable": "7 GiB", "unified": True},
        "sources": [{"url": "https://example.com", "title": "t", "fields": ["memory"]}],
    })
    available, note = usable_memory(spec)
    assert available == 7 * 2**30 - 2**30  # the 1 GiB board cap of the OS reserve
    assert "kept for the OS" in note


def test_builtin_hbm_and_gddr_capacities_are_binary():
    catalog = load_catalog()
    for device in catalog:
        memory = device.memory
        kind = (memory.type or "").upper()
        if memory.capacity_bytes and any(t in kind for t in ("HBM", "GDDR", "LPDDR")):
            assert memory.capacity_bytes % 2**30 == 0, (device.id, memory.capacity_bytes)
        if memory.usable_bytes is not None:
            assert memory.usable_bytes <= memory.capacity_bytes
            assert memory.usable_bytes > 0.85 * memory.capacity_bytes, device.id


def test_h200_holds_a_70b_fp16_model_that_needs_142_gb():
    h200 = load_catalog().get("nvidia-h200-sxm")
    available, _ = usable_memory(h200)
    assert available > 142e9
