"""Broken device files: each one fails with a message naming the file, line, device and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from roofline.catalog import CatalogFileError, load_device_file, validate_paths

CASES = Path(__file__).parent / "catalog_cases"

# file -> (line or None, device id or None, message fragment)
EXPECTED: dict[str, tuple[int | None, str | None, str]] = {
    "malformed-yaml.yaml": (7, None, "malformed YAML: mapping values are not allowed"),
    "duplicate-key.yaml": (7, None, "malformed YAML: duplicate key 'tdp'"),
    "not-a-mapping.yaml": (None, None, "expected a mapping of device fields, got a list"),
    "unknown-key.yaml": (7, "unknown-key", "memory.bandwith: unknown key (did you mean 'bandwidth'?)"),
    "unknown-dtype.yaml": (6, "unknown-dtype", "compute.bfloat16: unknown key (did you mean 'bf16'?)"),
    "wrong-unit.yaml": (7, "wrong-unit", "compute.bf16.matrix: expected a FLOP rate (TFLOPS, GFLOPS, PFLOPS, TOPS, GOPS, ...), got '80 GB/s'"),
    "unknown-unit.yaml": (6, "unknown-unit", "memory.bandwidth: unknown unit 'Tb/s' in '3.35 Tb/s'"),
    "bare-number.yaml": (6, "bare-number", "memory.capacity: bare number 80 has no unit: expected a capacity"),
    "negative-value.yaml": (6, "negative-value", "power.tdp: must be positive, got '-700 W'"),
    "zero-value.yaml": (7, "zero-value", "memory.bandwidth: must be positive, got '0 TB/s'"),
    "dense-above-sparse.yaml": (8, "dense-above-sparse", "dense matrix peak 1979 TFLOPS is larger than the sparse peak 989.4 TFLOPS"),
    "unsourced-number.yaml": (9, "unsourced-number", "host_link.bandwidth: no source backs this number"),
    "bad-source-field.yaml": (10, "bad-source-field", "sources[0].fields[0]: 'memory.bandwith' names no field of a device (did you mean 'memory.bandwidth'?)"),
    "source-without-url.yaml": (8, "source-without-url", "sources[0]: source 'somewhere on the internet' needs a url or a document"),
    "bad-kind.yaml": (4, "bad-kind", "kind: unknown kind 'gpus' (did you mean 'gpu'?)"),
    "NVIDIA_H100.yaml": (1, "NVIDIA_H100", "id: id must be a slug of lowercase letters, digits and single '-'"),
    "file-name-mismatch.yaml": (1, "not-the-file-name", "rename the file to 'not-the-file-name.yaml'"),
    "price-with-dollar.yaml": (6, "price-with-dollar", "price.launch_usd: expected a plain number of US dollars (e.g. 1599), got '$1599'"),
    "missing-name.yaml": (None, "missing-name", "name: required field is missing"),
}


def test_every_broken_fixture_has_an_expectation() -> None:
    on_disk = {p.name for p in CASES.glob("*.yaml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file(name: str) -> None:
    line, device, fragment = EXPECTED[name]
    path = CASES / name
    files, problems = validate_paths([path])
    assert files == [str(path)]
    assert problems, f"{name} should be rejected"
    matching = [p for p in problems if fragment in str(p)]
    assert matching, f"no problem of {name} contains {fragment!r}: {[str(p) for p in problems]}"
    problem = matching[0]
    assert problem.file == str(path)
    assert problem.line == line
    assert problem.device == device
    head = f"{path}:{line}: " if line else f"{path}: "
    assert str(problem).startswith(head)
    if device:
        assert f"device '{device}'" in str(problem)
    with pytest.raises(CatalogFileError) as info:
        load_device_file(path)
    assert fragment in str(info.value)


def test_message_format_matches_docs() -> None:
    _, problems = validate_paths([CASES / "wrong-unit.yaml"])
    assert [str(p) for p in problems] == [
        f"{CASES / 'wrong-unit.yaml'}:7: device 'wrong-unit': compute.bf16.matrix: expected a FLOP rate "
        "(TFLOPS, GFLOPS, PFLOPS, TOPS, GOPS, ...), got '80 GB/s' (a bandwidth)"
    ]


def test_duplicate_id_across_two_files() -> None:
    files, problems = validate_paths([CASES / "duplicate-id"])
    assert len(files) == 2
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file.endswith("two/dup-device.yaml")
    assert problem.line == 1
    assert problem.device == "dup-device"
    assert "duplicate id (also defined in" in problem.message and "one/dup-device.yaml" in problem.message


def test_all_problems_of_a_directory_are_listed() -> None:
    files, problems = validate_paths([CASES])
    broken = {Path(p.file).name for p in problems}
    assert set(EXPECTED) <= broken
    assert not any("/valid/" in p.file for p in problems)
    assert len(files) == len(EXPECTED) + 2 + len(list((CASES / "valid").glob("*.yaml")))


def test_valid_fixtures_pass() -> None:
    files, problems = validate_paths([CASES / "valid"])
    assert len(files) >= 3
    assert problems == []


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    files, problems = validate_paths([tmp_path / "nope"])
    assert files == []
    assert "no such file or directory" in str(problems[0])
