"""DeviceSpec: fields, SI attributes, validators, provenance, queries and dumping."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import re

import pytest
import yaml
from pydantic import ValidationError

from roofline.catalog import DeviceSpec, Memory, Source, load_device_file, normalize_dtype
from roofline.errors import CatalogError

VALID = Path(__file__).parent / "catalog_cases" / "valid"


def _base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-gpu",
        "name": "Test GPU",
        "vendor": "Test",
        "kind": "gpu",
        "sources": [{"url": "https://example.com/datasheet", "title": "datasheet", "fields": ["compute", "memory", "power"]}],
    }
    data.update(extra)
    return data


@pytest.fixture(scope="module")
def h100() -> DeviceSpec:
    return load_device_file(VALID / "nvidia-h100-sxm.yaml")


def test_si_attributes(h100: DeviceSpec) -> None:
    assert h100.memory.capacity_bytes == 80e9
    assert h100.memory.bandwidth_bytes_per_s == 3.35e12
    assert h100.power.tdp_w == 700.0
    assert h100.power.idle_w is None
    assert h100.compute.bf16.matrix_flops_per_s == 989.4e12
    assert h100.compute.bf16.matrix_sparse_flops_per_s == 1979e12
    assert h100.compute.bf16.accumulate == "fp32"
    assert h100.memory.caches[0].size_bytes == 50 * 2**20
    assert h100.host_link.bandwidth_bytes_per_s == 64e9
    assert h100.compute_units == 132
    assert h100.sources[0].retrieved.isoformat() == "2026-11-28"


def test_peak_flops(h100: DeviceSpec) -> None:
    assert h100.peak_flops_per_s("bf16") == 989.4e12
    assert h100.peak_flops_per_s("bf16", units="matrix") == 989.4e12
    assert h100.peak_flops_per_s("bf16", units="vector") is None
    assert h100.peak_flops_per_s("fp32", units="matrix") is None
    assert h100.peak_flops_per_s("fp32") == 67e12
    assert h100.peak_flops_per_s("fp64") == 67e12  # tensor-core fp64 beats the vector rate
    assert h100.peak_flops_per_s("fp64", units="vector") == 34e12
    assert h100.peak_flops_per_s("int4") is None
    assert h100.peak_flops_per_s("torch.bfloat16") == 989.4e12
    assert h100.peak_flops_per_s("float16") == 989.4e12
    assert h100.peak_flops_by_dtype()["int8"] == 1978.9e12
    assert set(h100.peak_flops_by_dtype()) == {"fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"}
    with pytest.raises(CatalogError, match="did you mean 'bf16'"):
        h100.peak_flops_per_s("bf61")
    with pytest.raises(CatalogError, match="expected 'matrix', 'vector' or 'best'"):
        h100.peak_flops_per_s("bf16", units="sparse")


def test_normalize_dtype() -> None:
    assert normalize_dtype("BF16") == "bf16"
    assert normalize_dtype("bfloat16") == "bf16"
    assert normalize_dtype("half") == "fp16"
    assert normalize_dtype("torch.float32") == "fp32"
    with pytest.raises(CatalogError, match="unknown dtype"):
        normalize_dtype("complex64")


def test_missing_fields(h100: DeviceSpec) -> None:
    assert h100.missing_fields() == ["clocks.boost", "power.idle", "price.launch_usd"]
    bare = DeviceSpec.from_yaml_dict(_base())
    missing = bare.missing_fields()
    for name in ("memory.bandwidth", "memory.capacity", "power.tdp", "power.idle", "price.launch_usd",
                 "host_link.bandwidth", "compute.fp32", "compute.bf16", "compute.fp16", "compute.int8"):
        assert name in missing
    cpu = DeviceSpec.from_yaml_dict(_base(kind="cpu"))
    assert "host_link.bandwidth" not in cpu.missing_fields()


def test_frozen(h100: DeviceSpec) -> None:
    with pytest.raises(ValidationError):
        h100.name = "changed"  # type: ignore[misc]


def test_python_construction_accepts_si_floats() -> None:
    spec = DeviceSpec(
        id="synthetic",
        name="Synthetic",
        vendor="Test",
        kind="accelerator",
        memory=Memory(capacity_bytes=16e9, bandwidth_bytes_per_s="1 TB/s"),
        compute={"fp16": {"matrix_flops_per_s": 100e12}},
        sources=[Source(document="unit test", title="made up", fields=["memory", "compute"])],
    )
    assert spec.memory.capacity_bytes == 16e9
    assert spec.memory.bandwidth_bytes_per_s == 1e12
    assert spec.peak_flops_per_s("fp16") == 100e12


def test_yaml_context_refuses_bare_numbers() -> None:
    data = _base(memory={"capacity": 80})
    with pytest.raises(ValidationError, match="bare number 80 has no unit"):
        DeviceSpec.from_yaml_dict(data)
    # the same mapping from Python code means SI units
    assert DeviceSpec.model_validate(data).memory.capacity_bytes == 80.0


def test_binary_and_decimal_capacity() -> None:
    gib = DeviceSpec.from_yaml_dict(_base(memory={"capacity": "80 GiB"}))
    gb = DeviceSpec.from_yaml_dict(_base(memory={"capacity": "80 GB"}))
    assert gib.memory.capacity_bytes == 85_899_345_920
    assert gb.memory.capacity_bytes == 80_000_000_000


def test_dense_equal_to_sparse_is_allowed() -> None:
    spec = DeviceSpec.from_yaml_dict(_base(compute={"fp16": {"matrix": "100 TFLOPS", "matrix_sparse": "100 TFLOPS"}}))
    assert spec.compute.fp16.matrix_flops_per_s == 100e12


def test_dense_above_sparse_rejected() -> None:
    with pytest.raises(ValidationError, match="dense matrix peak 200 TFLOPS is larger than the sparse peak 100 TFLOPS"):
        DeviceSpec.from_yaml_dict(_base(compute={"fp16": {"matrix": "200 TFLOPS", "matrix_sparse": "100 TFLOPS"}}))


def test_provenance_prefixes() -> None:
    def with_fields(fields: list[str], **extra: Any) -> dict[str, Any]:
        return _base(sources=[{"url": "https://example.com", "title": "t", "fields": fields}], **extra)

    compute = {"bf16": {"matrix": "1 TFLOPS"}, "fp32": {"vector": "1 TFLOPS"}}
    DeviceSpec.from_yaml_dict(with_fields(["compute"], compute=compute))
    DeviceSpec.from_yaml_dict(with_fields(["compute.bf16", "compute.fp32.vector"], compute=compute))
    with pytest.raises(ValidationError, match=r"compute\.fp32\.vector: no source backs this number"):
        DeviceSpec.from_yaml_dict(with_fields(["compute.bf16"], compute=compute))
    # a dot-prefix, not a string prefix: 'compute.bf1' backs nothing
    with pytest.raises(ValidationError, match="'compute.bf1' names no field"):
        DeviceSpec.from_yaml_dict(with_fields(["compute.bf1", "compute.fp32"], compute=compute))
    caches = {"caches": [{"level": "L1d", "size": "48 KiB", "instances": 8}, {"level": "L2", "size": "2 MiB"}]}
    DeviceSpec.from_yaml_dict(with_fields(["memory.caches"], memory=caches))
    DeviceSpec.from_yaml_dict(with_fields(["memory"], memory=caches))
    with pytest.raises(ValidationError, match=r"memory\.caches\[1\]\.size: no source"):
        DeviceSpec.from_yaml_dict(with_fields(["memory.caches.L1d"], memory=caches))
    cloud = {"cloud": [{"provider": "AWS", "instance": "p5.48xlarge", "usd_per_hour": 12.29}]}
    with pytest.raises(ValidationError, match=r"price\.cloud\[0\]\.usd_per_hour: no source"):
        DeviceSpec.from_yaml_dict(with_fields(["price.launch_usd"], price=cloud))
    DeviceSpec.from_yaml_dict(with_fields(["price.cloud"], price=cloud))
    # years need no source
    DeviceSpec.from_yaml_dict(with_fields(["compute"], release_year=2022, price={"launch_year": 2022}))


def test_source_needs_url_or_document() -> None:
    DeviceSpec.from_yaml_dict(_base(sources=[{"document": "NVIDIA DS-10313-001, p. 2", "title": "t", "fields": ["compute"]}]))
    with pytest.raises(ValidationError, match="needs a url or a document"):
        DeviceSpec.from_yaml_dict(_base(sources=[{"title": "t", "fields": ["compute"]}]))
    with pytest.raises(ValidationError, match="url must start with http"):
        DeviceSpec.from_yaml_dict(_base(sources=[{"url": "www.nvidia.com", "title": "t", "fields": ["compute"]}]))
    with pytest.raises(ValidationError):
        DeviceSpec.from_yaml_dict(_base(sources=[]))


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"id": "Bad Id"}, "id must be a slug"),
        ({"id": "double--dash"}, "id must be a slug"),
        ({"kind": "GPU"}, "did you mean 'gpu'"),
        ({"compute_units": 0}, "greater than 0"),
        ({"compute_units": "132"}, "valid integer"),
        ({"compute_units": 132}, "compute_units needs compute_unit_name"),
        ({"release_year": 22}, "greater than or equal to 1970"),
        ({"price": {"launch_usd": "$1599"}}, "plain number of US dollars"),
        ({"price": {"launch_usd": -5}}, "must be positive"),
        ({"memory": {"unified": "yes"}}, "valid boolean"),
        ({"memory": {"bus_width_bits": 5120.5}}, "valid integer"),
        ({"memory": {"data_rate_mtps": "5200 MT/s"}}, "expected a plain number"),
        ({"power": {"tdp": "700 J"}}, "unknown unit 'J'"),
        ({"clocks": {"boost": "1.98 GB"}}, "expected a clock frequency"),
        ({"compute": {"int8": {"matrix": "624 TB/s"}}}, "expected a FLOP rate"),
        ({"compute": {"fp16": {"dense": "1 TFLOPS"}}}, "extra"),
        ({"weight": "1 kg"}, "extra"),
    ],
)
def test_invalid_fields(patch: dict[str, Any], fragment: str) -> None:
    data = _base(**patch)
    if "compute_units" in patch and patch["compute_units"] != 132:
        data["compute_unit_name"] = "SM"
    with pytest.raises(ValidationError) as info:
        DeviceSpec.from_yaml_dict(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize("path", sorted(VALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_fixture_round_trip(path: Path) -> None:
    spec = load_device_file(path)
    dumped = spec.to_yaml_dict()
    assert DeviceSpec.from_yaml_dict(copy.deepcopy(dumped)) == spec
    assert DeviceSpec.from_yaml_dict(yaml.safe_load(spec.to_yaml())) == spec
    # human units in the dump, never bare SI floats
    assert isinstance(dumped["sources"], list)
    if spec.memory.bandwidth_bytes_per_s is not None:
        assert isinstance(dumped["memory"]["bandwidth"], str)


def test_dump_uses_human_units(h100: DeviceSpec) -> None:
    d = h100.to_yaml_dict()
    assert d["memory"] == {
        "type": "HBM3",
        "capacity": "80 GB",
        "bandwidth": "3.35 TB/s",
        "caches": [{"level": "L2", "size": "50 MiB", "instances": 1}],
    }
    assert d["compute"]["bf16"]["matrix"] == "989.4 TFLOPS"
    assert d["compute"]["int8"]["matrix"] == "1978.9 TOPS"
    assert d["power"] == {"tdp": "700 W"}
    assert "price" not in d  # nothing published: left out, not written as empty
    assert list(d)[:4] == ["id", "name", "vendor", "kind"]


def test_calibration_is_a_typed_record_that_round_trips() -> None:
    from roofline.catalog.calibration import SCHEMA, CalibrationRecord

    record = {"schema": SCHEMA, "roofline_version": "0.1.0", "device": "cpu", "threads": 2, "plan": "quick",
              "host": {"cpu_model": "x", "logical_cpus": 2, "threads": 2, "torch_version": "2.14.1",
                       "date_utc": "2026-11-28T00:00:00+00:00"},
              "op_classes": {"matmul/fp32": {"op_class": "matmul", "dtype": "fp32", "peak_flops_per_s": 1e11,
                                             "overhead_s": 1e-6}}}
    spec = DeviceSpec.from_yaml_dict(_base(calibration={"eager": record}))
    assert isinstance(spec.calibration["eager"], CalibrationRecord)
    assert spec.calibration["eager"].op_classes["matmul/fp32"].peak_flops_per_s == 1e11
    assert DeviceSpec.from_yaml_dict(spec.to_yaml_dict()) == spec


@pytest.mark.parametrize("change,message", [
    ({"schema": "roofline.calibration/1"}, "run `roofline calibrate` again"),
    ({"op_classes": {"matmull/fp32": {"op_class": "matmul", "dtype": "fp32", "overhead_s": 1e-6}}},
     "unknown op class 'matmull'"),
    ({"families": {"conv9x9/fp32": {"op_class": "conv", "dtype": "fp32", "overhead_s": 1e-6}}},
     "unknown probe family 'conv9x9'"),
    ({"threads": "many"}, "threads"),
])
def test_malformed_calibration_records_are_refused(change, message) -> None:
    from roofline.catalog.calibration import SCHEMA

    record = {"schema": SCHEMA, "roofline_version": "0.1.0", "device": "cpu", "threads": 2, "plan": "quick",
              "host": {"cpu_model": "x", "logical_cpus": 2, "threads": 2, "torch_version": "2.14.1",
                       "date_utc": "2026-11-28T00:00:00+00:00"}, **change}
    with pytest.raises(ValidationError, match=re.escape(message)):
        DeviceSpec.from_yaml_dict(_base(calibration={"eager": record}))
