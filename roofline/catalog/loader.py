"""Reading device files: the built-in catalog, user catalogs, and precise error messages.

Layers, later ones overriding earlier ones by id:

1. the built-in catalog, ``importlib.resources.files("roofline.devices")``, ``**/*.yaml``;
2. ``ROOFLINE_CATALOG``: an ``os.pathsep``-separated list of directories or files;
3. ``extra_dirs`` (the CLI's repeatable ``--catalog``).

A duplicate id within one layer is an error. A broken built-in file is a hard error
(:class:`CatalogFileError`); a broken user file is skipped with a :class:`CatalogWarning`, unless
``strict=True``. Every problem reads ``FILE:LINE: device 'ID': FIELD: MESSAGE``.
"""
from __future__ import annotations

import difflib
import functools
import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml
from pydantic import BaseModel, ValidationError

from roofline.errors import CatalogError

from .schema import DTYPES, KINDS, DeviceSpec, _loc_text, _submodels

__all__ = [
    "Catalog",
    "SystemTotals",
    "CatalogFileError",
    "CatalogWarning",
    "Problem",
    "load_catalog",
    "load_device_file",
    "validate_paths",
    "clear_cache",
    "ENV_VAR",
]

ENV_VAR = "ROOFLINE_CATALOG"
_SUFFIXES = (".yaml", ".yml")


class CatalogWarning(UserWarning):
    """A user device file was skipped because it is broken."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one device file."""

    file: str
    message: str
    line: int | None = None
    device: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.device:
            parts.append(f"device '{self.device}'")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class CatalogFileError(CatalogError):
    """One or more device files are broken; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "catalog error"
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''}; `roofline devices validate` lists them)" if more else ""
        super().__init__(first + suffix)


# ---------------------------------------------------------------------------------------------
# YAML with duplicate-key detection and key line numbers


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """safe_load, plus an error on a key repeated within one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                        )
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """{(key, index, ...): 1-based line} for every mapping key and sequence item."""
    lines: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return lines

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                p = path + (key_node.value,)
                lines.setdefault(p, key_node.start_mark.line + 1)
                walk(value_node, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                p = path + (i,)
                lines[p] = item.start_mark.line + 1
                walk(item, p)

    if root is not None:
        walk(root, ())
    return lines


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None


# ---------------------------------------------------------------------------------------------
# pydantic errors -> problems

_OWN_MESSAGES = {"unit", "usd", "number", "kind", "slug", "url", "source_location", "dense_above_sparse"}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    cls: type[BaseModel] = DeviceSpec
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {(f.alias or n): f for n, f in cls.model_fields.items()}
        field = fields.get(part)
        if field is None:
            return None
        subs = _submodels(field.annotation)
        if not subs:
            return None
        cls = subs[0]
    return cls


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's internal loc parts (validator names) that are not keys of the data."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (node is None or isinstance(node, dict)) and not part.startswith(("function-", "json-or-python")) and "[" not in part:
            out.append(part)  # a missing key: still part of the field path
            node = None
    return tuple(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems_from_validation(exc: ValidationError, data: Any, display: str, device: str | None, text: str) -> list[Problem]:
    lines = _line_map(text)
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        if kind == "device":
            for loc, message in err["ctx"]["problems"]:
                problems.append(Problem(display, message, _line_of(lines, loc), device, _loc_text(loc)))
            continue
        loc = _clean_loc(tuple(err["loc"]), data)
        field = _loc_text(loc) or None
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            key = loc[-1] if loc else "?"
            known = [f.alias or n for n, f in model.model_fields.items()] if model else []
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            message = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
            if model is not None and model.__name__ == "Compute":
                message += f"; dtypes are {', '.join(DTYPES)}"
            elif known:
                message += f"; expected one of {', '.join(known)}"
        elif kind == "missing":
            message = "required field is missing"
        elif kind in _OWN_MESSAGES:
            message = err["msg"]
        elif kind in _BOUNDS:
            limit = next(iter(err.get("ctx", {}).values()), None)
            message = ("must be positive" if kind == "greater_than" and limit == 0 else err["msg"]) + f", got {_short(err['input'])}"
        else:
            got = err.get("input")
            message = err["msg"] + ("" if isinstance(got, (dict, list)) else f", got {_short(got)}")
        problems.append(Problem(display, message, _line_of(lines, loc), device, field))
    return problems


# ---------------------------------------------------------------------------------------------
# one file


@dataclass(frozen=True)
class _FileResult:
    display: str
    spec: DeviceSpec | None
    problems: tuple[Problem, ...]
    device_id: str | None
    id_line: int | None


def _read_text(text: str, display: str, stem: str) -> _FileResult:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        return _FileResult(display, None, (Problem(display, f"malformed YAML: {what}", mark.line + 1 if mark else None),), None, None)
    except yaml.YAMLError as exc:
        return _FileResult(display, None, (Problem(display, f"malformed YAML: {exc}"),), None, None)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        return _FileResult(display, None, (Problem(display, f"expected a mapping of device fields, got {got}"),), None, None)
    raw_id = data.get("id")
    device_id = raw_id if isinstance(raw_id, str) else None
    problems: list[Problem] = []
    spec: DeviceSpec | None = None
    try:
        spec = DeviceSpec.from_yaml_dict(data)
    except ValidationError as exc:
        problems = _problems_from_validation(exc, data, display, device_id, text)
    id_line = None
    if device_id is not None:
        id_line = _line_of(_line_map(text), ("id",)) if (problems or device_id != stem) else None
        if device_id != stem and stem:
            problems.append(Problem(display, f"file name must be the id: rename the file to '{device_id}.yaml' (or fix the id)", id_line, device_id, "id"))
            spec = None
    return _FileResult(display, spec if not problems else None, tuple(problems), device_id, id_line)


@functools.lru_cache(maxsize=4096)
def _read_path(path: str, display: str, mtime_ns: int, size: int) -> _FileResult:
    p = Path(path)
    stem = p.stem
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _FileResult(display, None, (Problem(display, f"cannot read: {exc}"),), None, None)
    return _read_text(text, display, stem)


@functools.lru_cache(maxsize=4096)
def _read_bytes(data: bytes, display: str, stem: str) -> _FileResult:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _FileResult(display, None, (Problem(display, f"cannot read: {exc}"),), None, None)
    return _read_text(text, display, stem)


def _read_file(path: Path, display: str) -> _FileResult:
    try:
        st = path.stat()
    except OSError as exc:
        return _FileResult(display, None, (Problem(display, f"cannot read: {exc.strerror or exc}"),), None, None)
    return _read_path(str(path), display, st.st_mtime_ns, st.st_size)


def clear_cache() -> None:
    """Forget parsed files (the next load re-reads everything)."""
    _read_path.cache_clear()
    _read_bytes.cache_clear()
    _disk_memo.clear()


def load_device_file(path: str | os.PathLike[str]) -> DeviceSpec:
    """Load one device file; raises :class:`CatalogFileError` listing its problems."""
    result = _read_file(Path(path), str(path))
    if result.spec is None:
        raise CatalogFileError(result.problems)
    return result.spec


# ---------------------------------------------------------------------------------------------
# file discovery


def _is_hidden(path: Path, root: Path) -> bool:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    return any(part.startswith(".") for part in rel.parts)


def _expand(entry: str | os.PathLike[str], origin: str) -> tuple[list[tuple[Path, str]], list[Problem]]:
    """Device files under a user path (a directory, searched recursively, or a file)."""
    path = Path(os.path.expanduser(os.fspath(entry)))
    shown = os.fspath(entry)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file() and not _is_hidden(p, path))
        return [(p, str(Path(shown) / p.relative_to(path))) for p in found], []
    if path.is_file():
        return [(path, shown)], []
    where = f" (from {origin})" if origin else ""
    return [], [Problem(shown, f"no such file or directory{where}")]


def _builtin_root() -> Any:
    """Where the built-in catalog lives (a Path for a normal install, else a Traversable)."""
    return resources.files("roofline.devices")


def _builtin_results(root: Any) -> list[_FileResult]:
    results: list[_FileResult] = []
    if isinstance(root, Path):
        files = [p for p in sorted(root.rglob("*.yaml")) if p.is_file() and not _is_hidden(p, root)]
        key = _disk_key(root, files)
        cached = _disk_memo.get(key) or _disk_load(key) if key is not None else None
        if cached is not None:
            _disk_memo[key] = cached
            return cached
        for p in files:
            results.append(_read_file(p, "devices/" + p.relative_to(root).as_posix()))
        if key is not None and not any(r.problems for r in results):
            _disk_store(key, results)
            _disk_memo[key] = results
        return results

    def walk(node: Any, rel: str) -> Iterator[tuple[Any, str]]:  # zip imports and other Traversables
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith("."):
                continue
            if child.is_dir():
                yield from walk(child, f"{rel}{child.name}/")
            elif child.name.endswith(".yaml"):
                yield child, f"{rel}{child.name}"

    for child, rel in walk(root, ""):
        results.append(_read_bytes(child.read_bytes(), "devices/" + rel, Path(child.name).stem))
    return results


# ---------------------------------------------------------------------------------------------
# on-disk cache of the validated built-in catalog
#
# Parsing the built-in YAML files and validating them costs about a tenth of a second or more on
# every command that loads the catalog; the validated result is read back from disk instead, found
# under a key made of every device file's path, size and modification time, the files of this
# package (schema, units, loader), roofline's, Python's and pydantic's versions. Same switch and
# base folder as the workload cache (ROOFLINE_CACHE=0 turns it off); written atomically; an unreadable
# entry is parsed again and rewritten, never an error. Only a catalog without problems is stored.

_DISK_FORMAT = 1
_disk_memo: dict[str, list["_FileResult"]] = {}  # this process's reads: the same objects every load


def _disk_key(root: Path, files: Sequence[Path]) -> str | None:
    from roofline import workload_cache

    if not workload_cache.enabled():
        return None
    import hashlib
    import sys

    import pydantic

    import roofline

    h = hashlib.sha256(f"{_DISK_FORMAT}|{roofline.__version__}|{sys.version}|{pydantic.VERSION}|{root}".encode())
    try:
        for p in sorted(Path(__file__).parent.glob("*.py")) + list(files):
            st = p.stat()
            h.update(f"|{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        return None
    return h.hexdigest()


def _disk_path(key: str) -> Path:
    """``$ROOFLINE_CACHE_DIR/catalog/``, else ``catalog/`` next to the workload cache's folder."""
    from roofline import workload_cache

    explicit = os.environ.get("ROOFLINE_CACHE_DIR")
    base = Path(explicit).expanduser() if explicit else workload_cache.cache_dir().parent
    return base / "catalog" / f"{key[:40]}.pkl"


def _disk_load(key: str) -> list[_FileResult] | None:
    import pickle

    try:
        with open(_disk_path(key), "rb") as f:
            entry = pickle.load(f)
    except Exception:  # missing, truncated, or written by incompatible code: parse again
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    results = entry.get("results")
    if not isinstance(results, list) or not all(isinstance(r, _FileResult) and r.spec is not None for r in results):
        return None
    return results


def _disk_store(key: str, results: list[_FileResult]) -> None:
    import pickle

    from roofline._atomic import atomic_open

    try:
        path = _disk_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps({"key": key, "results": results}, protocol=pickle.HIGHEST_PROTOCOL)
        with atomic_open(path, "wb", encoding=None) as f:
            f.write(data)
    except Exception:  # a cache that cannot be written is skipped silently
        pass


# ---------------------------------------------------------------------------------------------
# the catalog


@dataclass(frozen=True)
class SystemTotals:
    """A system's totals from its members: ``count`` x the GPU's figures (peaks by dtype,
    memory, memory bandwidth, TDP), the GPU link per device and its domain, and the host CPUs.
    Sums of device figures, not a system benchmark: communication costs are not included."""

    system: DeviceSpec
    gpu: DeviceSpec
    count: int
    host_cpu: DeviceSpec | None
    host_cpu_count: int | None
    peak_flops_by_dtype: dict[str, float]
    memory_bytes: float | None
    memory_bandwidth_bytes_per_s: float | None
    gpu_tdp_w: float | None
    gpu_link_bandwidth_bytes_per_s: float | None
    gpu_link_domain_size: int | None

    @classmethod
    def of(cls, system: DeviceSpec, gpu: DeviceSpec, cpu: DeviceSpec | None) -> "SystemTotals":
        n = system.system.count  # type: ignore[union-attr]

        def times(value: float | None) -> float | None:
            return None if value is None else value * n

        return cls(
            system=system, gpu=gpu, count=n, host_cpu=cpu, host_cpu_count=system.system.host_cpu_count,  # type: ignore[union-attr]
            peak_flops_by_dtype={d: v * n for d, v in gpu.peak_flops_by_dtype().items()},
            memory_bytes=times(gpu.memory.capacity_bytes),
            memory_bandwidth_bytes_per_s=times(gpu.memory.bandwidth_bytes_per_s),
            gpu_tdp_w=times(gpu.power.tdp_w),
            gpu_link_bandwidth_bytes_per_s=gpu.gpu_link.bandwidth_bytes_per_s,
            gpu_link_domain_size=gpu.gpu_link.domain_size,
        )


class Catalog:
    """The loaded devices, by id. Iterating yields the single devices (every kind but
    ``system``) as :class:`DeviceSpec` objects sorted by id; multi-device systems are in
    :meth:`systems` (and ``by_kind("system")``), and ``get`` finds both."""

    def __init__(self, devices: dict[str, DeviceSpec], files: dict[str, str] | None = None,
                 overridden: dict[str, list[str]] | None = None, paths: dict[str, Path] | None = None) -> None:
        self._devices = dict(sorted(devices.items()))
        self._files = dict(files or {})
        self._paths = dict(paths or {})
        self.overridden: dict[str, list[str]] = dict(overridden or {})
        """id -> files whose device of that id was replaced by a later layer."""

    def get(self, device_id: str) -> DeviceSpec:
        """The device ``device_id``; :class:`CatalogError` with suggestions if there is none."""
        spec = self._devices.get(device_id)
        if spec is not None:
            return spec
        raise CatalogError(f"unknown device '{device_id}'{self._suggest(device_id)}; `roofline devices list` shows all ids")

    __getitem__ = get

    def _suggest(self, device_id: str) -> str:
        needle = str(device_id).lower()
        hits = [i for i in self._devices if needle and needle in i]
        hits += [i for i in difflib.get_close_matches(needle, list(self._devices), n=3, cutoff=0.5) if i not in hits]
        if not hits:
            return ""
        return " (did you mean " + ", ".join(f"'{h}'" for h in hits[:3]) + "?)"

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def __iter__(self) -> Iterator[DeviceSpec]:
        return iter([d for d in self._devices.values() if d.kind != "system"])

    def __len__(self) -> int:
        return sum(1 for d in self._devices.values() if d.kind != "system")

    def __repr__(self) -> str:
        return f"Catalog({len(self)} devices)"

    def ids(self) -> list[str]:
        """All single-device ids, sorted (systems: ``[s.id for s in catalog.systems()]``)."""
        return [i for i, d in self._devices.items() if d.kind != "system"]

    def systems(self) -> list[DeviceSpec]:
        """The multi-device system entries (``kind: system``), sorted by id."""
        return [d for d in self._devices.values() if d.kind == "system"]

    def compose(self, system_id: str) -> "SystemTotals":
        """Totals of a system entry from its member devices (see :class:`SystemTotals`)."""
        spec = self.get(system_id)
        if spec.system is None:
            raise CatalogError(f"'{system_id}' is not a system (kind {spec.kind}); systems: "
                               + ", ".join(s.id for s in self.systems()))
        gpu = self.get(spec.system.gpu)
        cpu = self.get(spec.system.host_cpu_id) if spec.system.host_cpu_id else None
        return SystemTotals.of(spec, gpu, cpu)

    def by_kind(self, kind: str) -> list[DeviceSpec]:
        """Devices of one kind (cpu, gpu, sbc, accelerator), sorted by id."""
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise CatalogError(f"unknown kind '{kind}'{hint}: expected one of {', '.join(KINDS)}")
        return [d for d in self._devices.values() if d.kind == kind]

    def path(self, device_id: str) -> str | None:
        """The file the device was read from (built-ins as 'devices/<group>/<id>.yaml')."""
        self.get(device_id)
        return self._files.get(device_id)

    def file_path(self, device_id: str) -> Path | None:
        """The filesystem path of the device's file, when it has one (for rewriting it)."""
        self.get(device_id)
        return self._paths.get(device_id)


def _user_entries() -> list[str]:
    raw = os.environ.get(ENV_VAR, "")
    return [e for e in raw.split(os.pathsep) if e.strip()]


def _merge_layer(results: Iterable[tuple[_FileResult, Path | None]], problems: list[Problem],
                 devices: dict[str, DeviceSpec], files: dict[str, str], real: dict[str, Path],
                 overridden: dict[str, list[str]]) -> None:
    seen: dict[str, str] = {}
    for result, real_path in results:
        if result.problems:
            problems.extend(result.problems)
            continue
        spec = result.spec
        assert spec is not None
        if spec.id in seen:
            line = result.id_line
            if line is None and real_path is not None:
                line = _line_of(_line_map(real_path.read_text(encoding="utf-8")), ("id",))
            problems.append(Problem(result.display, f"duplicate id (also defined in {seen[spec.id]})", line, spec.id, "id"))
            continue
        seen[spec.id] = result.display
        if spec.id in devices:
            overridden.setdefault(spec.id, []).append(files[spec.id])
        devices[spec.id] = spec
        files[spec.id] = result.display
        if real_path is not None:
            real[spec.id] = real_path
        else:
            real.pop(spec.id, None)


def _warn_or_raise(problems: list[Problem], strict: bool) -> None:
    if not problems:
        return
    if strict:
        raise CatalogFileError(problems)
    by_file: dict[str, list[Problem]] = {}
    for p in problems:
        by_file.setdefault(p.file, []).append(p)
    for file_problems in by_file.values():
        more = len(file_problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        warnings.warn(f"{file_problems[0]}{extra}; file skipped", CatalogWarning, stacklevel=3)


def _user_results(entries: Sequence[str | os.PathLike[str]], origin: str) -> tuple[list[tuple[_FileResult, Path]], list[Problem]]:
    out: list[tuple[_FileResult, Path]] = []
    problems: list[Problem] = []
    done: set[Path] = set()
    for entry in entries:
        found, missing = _expand(entry, origin)
        problems += missing
        if not found and not missing and origin:
            # an empty folder adds nothing: said the same way as a path that does not exist
            warnings.warn(f"{os.fspath(entry)}: no device files (*.yaml, *.yml) in this directory (from {origin}); "
                          "nothing added", CatalogWarning, stacklevel=3)
        for path, display in found:
            resolved = path.resolve()
            if resolved in done:
                continue
            done.add(resolved)
            out.append((_read_file(path, display), resolved))
    return out, problems


def load_catalog(extra_dirs: Sequence[str | os.PathLike[str]] = (), *, strict: bool = False) -> Catalog:
    """The built-in catalog, then ``$ROOFLINE_CATALOG``, then ``extra_dirs`` (files or directories).

    Later layers override a built-in id. Broken user files are skipped with a
    :class:`CatalogWarning` (``strict=True``: :class:`CatalogFileError`); broken built-in files
    always raise. Parsed files are cached per process by path, mtime and size.
    """
    if isinstance(extra_dirs, (str, os.PathLike)):
        extra_dirs = [extra_dirs]
    devices: dict[str, DeviceSpec] = {}
    files: dict[str, str] = {}
    real: dict[str, Path] = {}
    overridden: dict[str, list[str]] = {}

    builtin_problems: list[Problem] = []
    root = _builtin_root()
    builtin = _builtin_results(root)
    pairs = [(r, (Path(str(root)) / r.display[len("devices/"):]) if isinstance(root, Path) else None) for r in builtin]
    _merge_layer(pairs, builtin_problems, devices, files, real, overridden)
    if builtin_problems:
        raise CatalogFileError(builtin_problems)

    for entries, origin in ((_user_entries(), ENV_VAR), (list(extra_dirs), "--catalog")):
        if not entries:
            continue
        results, problems = _user_results(entries, origin)
        _merge_layer(results, problems, devices, files, real, overridden)
        _warn_or_raise(problems, strict)

    reference_problems = _system_reference_problems(devices, files)
    if reference_problems:
        if any(p.file.startswith("devices/") for p in reference_problems):  # a built-in system: the package is broken
            raise CatalogFileError(reference_problems)
        _warn_or_raise(reference_problems, strict)
        for p in reference_problems:
            devices.pop(p.device, None)
    return Catalog(devices, files, overridden, real)


def _system_reference_problems(devices: dict[str, DeviceSpec], files: dict[str, str]) -> list[Problem]:
    """A system must name catalog devices: its gpu (not itself a system) and host_cpu_id."""
    problems: list[Problem] = []
    for spec in devices.values():
        if spec.system is None:
            continue
        for field, ref in (("system.gpu", spec.system.gpu), ("system.host_cpu_id", spec.system.host_cpu_id)):
            if ref is None:
                continue
            target = devices.get(ref)
            if target is None or target.kind == "system":
                close = difflib.get_close_matches(ref, [i for i, d in devices.items() if d.kind != "system"], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(Problem(files.get(spec.id, spec.id), f"'{ref}' is not a device of the catalog{hint}",
                                        None, spec.id, field))
    return problems


def validate_paths(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[str], list[Problem]]:
    """Check device files (directories searched recursively) as one catalog layer.

    Returns the files checked and every problem found, duplicate ids across the files included.
    """
    results, problems = _user_results(paths, "")
    devices: dict[str, DeviceSpec] = {}
    _merge_layer(results, problems, devices, {}, {}, {})
    return [r.display for r, _ in results], problems
