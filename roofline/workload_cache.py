"""On-disk cache of traced forward passes, so that a repeated command skips importing and tracing.

``rank resnet50`` spends most of its time importing torch and TorchDynamo (which fake tensors
need) and building and tracing the model; the ranking itself takes milliseconds. The traced
Workload is plain data (no torch objects once its raw trace is dropped), so a second run reads
it back and never imports torch.

An entry is found only under the key it was made with, so a stale entry is never read:

- the model: its spec as given, ``--seq-len`` and the label; a spec naming a file (ONNX, a
  ``.pt2`` program, an ``hf:`` config.json, a local Ultralytics YAML) adds that file's resolved
  path, size and modification time; import paths (``package.module:callable``, user code that
  may change at any time) and in-memory modules are never cached;
- the code that counted it: roofline's version and the path, size and modification time of
  every file of the roofline package, the Python version, and the installed torch,
  torchvision, timm, ultralytics, transformers and onnx (each package's ``NAME-VERSION.dist-info``
  and the size and modification time of its ``__init__.py``);
- the input: the resolved input shape and the counting dtype.

Location: ``$ROOFLINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/roofline/workloads``, else
``~/.cache/roofline/workloads``; ``ROOFLINE_CACHE=0`` turns it off. Entries are written
atomically; an unreadable entry is ignored (and rewritten), never an error. Entries made by older
code stay on disk unused: delete the folder to reclaim the space.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

FORMAT = 1
_PACKAGES = ("torch", "torchvision", "timm", "ultralytics", "transformers", "onnx")
_KNOWN_PREFIXES = ("torchvision", "timm", "ultralytics", "yolo", "hf")
_fingerprint_memo: list[str] = []


def enabled() -> bool:
    return os.environ.get("ROOFLINE_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def cache_dir() -> Path:
    explicit = os.environ.get("ROOFLINE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "roofline" / "workloads"


def _version(package: str) -> str:
    """The installed package, without importing it: its ``__init__.py`` (path, size, modification time,
    which an upgrade rewrites) and its ``NAME-VERSION.dist-info`` folder name; "-" when absent.
    (``importlib.metadata.version`` scans every distribution: about 50 ms a package here.)"""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return "-"
    origin = Path(spec.origin)
    st = origin.stat()
    site = origin.parent.parent
    try:
        names = os.listdir(site)
    except OSError:
        names = []
    prefix = package.lower().replace("-", "_") + "-"
    dists = sorted(n for n in names if n.lower().startswith(prefix) and n.endswith((".dist-info", ".egg-info")))
    return f"{origin}:{st.st_size}:{st.st_mtime_ns}:{','.join(dists)}"


def fingerprint() -> str:
    """What the counting code is: roofline's version and files, Python's and the model libraries' versions."""
    if _fingerprint_memo:
        return _fingerprint_memo[0]
    import roofline

    root = Path(roofline.__file__).parent
    h = hashlib.sha256()
    h.update(f"{FORMAT}|{roofline.__version__}|{sys.version}".encode())
    for package in _PACKAGES:
        h.update(f"|{package}={_version(package)}".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            h.update(f"|{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    _fingerprint_memo.append(h.hexdigest())
    return _fingerprint_memo[0]


def _file_part(text: str) -> str | None:
    """The resolved path, size and modification time of a file or folder that ``text`` names, if any."""
    path = Path(text).expanduser()
    try:
        if path.is_dir() and (path / "config.json").is_file():
            path = path / "config.json"
        if not path.exists():
            return None
        st = path.stat()
    except OSError:
        return None
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def model_key(spec: str, *, seq_len: int | None, label: str) -> str | None:
    """The cache key of a named model, or None when it is not cached (user code)."""
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if sep and prefix not in _KNOWN_PREFIXES and not _file_part(spec):
        return None  # package.module:callable
    target = rest if sep and prefix in _KNOWN_PREFIXES else spec
    return f"{spec}|seq_len={seq_len}|label={label}|file={_file_part(target)}"


def _path(key: str) -> Path:
    digest = hashlib.sha256(f"{key}|{fingerprint()}".encode()).hexdigest()[:40]
    return cache_dir() / f"{digest}.pkl"


def load(key: str) -> dict[str, Any] | None:
    """The entry stored under ``key`` by this code, or None."""
    try:
        with open(_path(key), "rb") as f:
            entry = pickle.load(f)
    except Exception:  # missing, truncated or from an incompatible version: trace again
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or entry.get("fingerprint") != fingerprint():
        return None
    return entry


def store(key: str, entry: dict[str, Any]) -> None:
    """Write ``entry`` under ``key`` (atomically); a cache that cannot be written is skipped silently."""
    from roofline._atomic import atomic_open

    try:
        path = _path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps({**entry, "key": key, "fingerprint": fingerprint()}, protocol=pickle.HIGHEST_PROTOCOL)
        with atomic_open(path, "wb", encoding=None) as f:
            f.write(data)
    except Exception:
        pass


def storable(workload):
    """The workload without its raw trace (torch objects, only needed to re-price) and derived arrays."""
    return replace(workload, trace=None, cache={})


__all__ = ["enabled", "cache_dir", "fingerprint", "model_key", "load", "store", "storable", "FORMAT"]
