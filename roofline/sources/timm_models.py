"""timm models: ``timm:NAME`` (extra ``timm``), built without weights.

``timm.create_model(NAME, pretrained=False)`` builds the architecture on the meta device (no
memory, no init time, no download) and falls back to the CPU when a constructor computes on its
tensors. NAME may carry a pretrained tag (``vit_base_patch16_224.augreg_in21k``); the default
input is ``(1, *input_size)`` from the model's pretrained configuration (the tag's, else the
architecture's default tag), as timm's own evaluation uses it.
"""
from __future__ import annotations

import difflib
import warnings
from typing import Any

from roofline.sources.meta_build import on_meta
from roofline.errors import MissingExtraError, UnknownModelError
from roofline.sources.torchvision_models import BuiltModel

EXTRA_HINT = "pip install 'roofline[timm]'"


def _timm():
    try:
        import timm
    except ImportError as exc:
        raise MissingExtraError(f"timm is not installed: {EXTRA_HINT}") from exc
    return timm


def list_models() -> list[str]:
    """Every architecture name timm can build."""
    return list(_timm().list_models())


def suggest(name: str, n: int = 3) -> list[str]:
    """Close timm names for a typo (architecture part only, tags ignored)."""
    arch = name.split(".", 1)[0].lower()
    names = list_models()
    close = difflib.get_close_matches(arch, names, n=n, cutoff=0.6)
    if not close:  # a name that is a prefix of many (resnet -> resnet10t, resnet14t...)
        close = [m for m in names if m.startswith(arch)][:n]
    return close


def input_size(model: Any) -> tuple[int, ...] | None:
    """``(C, H, W)`` from the model's pretrained configuration, if it has one."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    if isinstance(size, (list, tuple)) and size and all(isinstance(d, int) and d > 0 for d in size):
        return tuple(size)
    return None


def build(name: str, *, device: str = "meta") -> BuiltModel:
    """Build timm model ``name`` without weights; one-line error with suggestions for an unknown name."""
    timm = _timm()
    import torch

    name = name.strip()
    if not name:
        raise UnknownModelError("timm: needs a model name, e.g. timm:convnext_tiny or timm:vit_base_patch16_224")
    arch = name.split(".", 1)[0]
    if not timm.is_model(arch):
        close = suggest(name)
        hint = f"; did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UnknownModelError(f"unknown timm model {name!r}{hint} (timm {timm.__version__} has "
                                f"{len(list_models())} architectures: python -c 'import timm; print(timm.list_models())')")
    model = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if device == "meta":
            try:
                with on_meta():
                    model = timm.create_model(name, pretrained=False)
            except Exception:
                model = None  # a constructor that computes on its tensors: build for real
        if model is None:
            try:
                model = timm.create_model(name, pretrained=False)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UnknownModelError(f"timm:{name}: timm could not build it: {first}") from None
    size = input_size(model)
    shape = (1, *size) if size else None
    cfg = getattr(model, "pretrained_cfg", None) or {}
    meta = {"source": "timm", "timm_version": timm.__version__, "architecture": arch,
            "pretrained_tag": cfg.get("tag") if isinstance(cfg, dict) else None}
    return BuiltModel(model.eval(), f"timm:{name}", shape, meta)


__all__ = ["build", "list_models", "suggest", "input_size", "EXTRA_HINT"]
