"""torchvision classification models, built as torchvision builds them for their default weights.

No weights are downloaded: the builder gets the same keyword arguments the weights would
impose (number of classes, image size, auxiliary heads off), and the default input is the
weights' evaluation crop. Models are built on the meta device when their constructor
allows it (no memory, no init time) and on the CPU otherwise.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from torch import nn

from roofline.sources.meta_build import on_meta
from roofline.errors import MissingExtraError, UnknownModelError


@dataclass(frozen=True)
class BuiltModel:
    model: nn.Module
    name: str
    default_input_shape: tuple[int, ...] | None  # (1, C, H, W); None when the source has no default
    meta: dict[str, Any]


def _tv():
    from roofline.workload.lean_torch import deferred_dynamo

    try:
        with deferred_dynamo():  # torchvision.ops imports TorchDynamo for one function
            import torchvision
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError("torchvision is not installed: pip install 'roofline[vision]'") from exc
    return torchvision


def classification_models() -> list[str]:
    tv = _tv()
    return sorted(tv.models.list_models(module=tv.models))


def default_weights(name: str) -> Any | None:
    tv = _tv()
    try:
        return tv.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        return None


def crop_size(weights: Any) -> int | None:
    transforms = getattr(weights, "transforms", None)
    keywords = getattr(transforms, "keywords", None) or {}
    size = keywords.get("crop_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    return int(size) if size else None


def _weight_kwargs(name: str, weights: Any) -> dict[str, Any]:
    """The constructor arguments torchvision's builder derives from the weights."""
    meta = weights.meta
    kwargs: dict[str, Any] = {"num_classes": len(meta["categories"])}
    if name.startswith("vit_") and "min_size" in meta:
        kwargs["image_size"] = meta["min_size"][0]
    if name in ("googlenet", "inception_v3"):
        # With weights torchvision builds the auxiliary heads, loads them, then drops them unless
        # asked to keep them: googlenet drops them by default, inception_v3 keeps them. They run
        # only in training mode, so they change parameters, not inference FLOPs.
        kwargs["transform_input"] = True
        kwargs["aux_logits"] = name == "inception_v3"
        kwargs["init_weights"] = False
    return kwargs


def build(name: str, *, device: str = "meta") -> BuiltModel:
    """Build torchvision model ``name`` (e.g. 'resnet50') without downloading weights."""
    tv = _tv()
    import torch

    available = classification_models()
    if name not in available:
        all_models = sorted(tv.models.list_models())
        if name not in all_models:
            raise UnknownModelError(name)
    weights = default_weights(name)
    kwargs = _weight_kwargs(name, weights) if weights is not None else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = None
        if device == "meta":
            try:
                with on_meta():
                    model = tv.models.get_model(name, weights=None, **kwargs)
            except Exception:
                model = None  # some constructors compute on their tensors (RegNet): build for real
        if model is None:
            model = tv.models.get_model(name, weights=None, **kwargs)
    size = crop_size(weights) if weights is not None else None
    shape = (1, 3, size, size) if size else None
    return BuiltModel(model.eval(), name, shape, dict(weights.meta) if weights is not None else {})
