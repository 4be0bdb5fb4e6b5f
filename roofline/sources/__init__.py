"""Where models come from: torchvision names, Ultralytics YAMLs, import paths.

``load_model(spec)`` accepts:
- ``resnet50`` or ``torchvision:resnet50``: a torchvision classification model;
- ``ultralytics:yolo11n.yaml``: any Ultralytics model YAML, built offline;
- ``timm:convnext_tiny``: any timm model, without weights (extra ``timm``);
- ``package.module:callable``: user code returning an ``nn.Module``;
- ``model.onnx``: an ONNX file, counted from its graph (extra ``onnx``);
- ``program.pt2``: a ``torch.export`` program saved with ``torch.export.save``;
- ``hf:PRESET`` or ``hf:path/to/config.json``: a transformers model built from its configuration on
  the meta device: decoder-only language models (llama-3-8b, mistral-7b, mixtral-8x7b...; serving
  phases in roofline.llm) and encoders, vision, speech and encoder-decoder models
  (bert-base-uncased, vit-base-patch16-224, clip-vit-base-patch32, t5-small, whisper-small...).
"""
from __future__ import annotations

import difflib

from typing import Any

from roofline.errors import UnknownModelError


def __getattr__(name: str) -> Any:
    # BuiltModel lives beside the torchvision builder, which imports torch: only on first use, so that
    # roofline.sources.shapes and is_language_model stay light (a cached workload needs no torch)
    if name == "BuiltModel":
        from roofline.sources.torchvision_models import BuiltModel

        return BuiltModel
    raise AttributeError(f"module 'roofline.sources' has no attribute {name!r}")

ACCEPTED_FORMS = ("a torchvision model name (resnet50, torchvision:vit_b_16)",
                  "ultralytics:<model>.yaml (e.g. ultralytics:yolo11n.yaml)",
                  "timm:<name> for any timm model (e.g. timm:convnext_tiny)",
                  "package.module:callable returning an nn.Module",
                  "a path to an ONNX file (model.onnx)",
                  "a path to a torch.export program (program.pt2)",
                  "hf:<preset> or hf:<path to config.json> for a transformers model (e.g. hf:llama-3-8b, "
                  "hf:bert-base-uncased)")


def is_language_model(spec: str) -> bool:
    """Whether ``spec`` is an ``hf:`` decoder-only causal LM (served in prefill and decode phases by
    roofline.llm) rather than a one-forward-pass model (encoders, vision, speech, encoder-decoders)."""
    spec = spec.strip()
    if not spec.startswith("hf:"):
        return False
    from roofline.sources import hf_encoders

    try:
        return not hf_encoders.is_encoder_spec(spec.removeprefix("hf:"))
    except Exception:
        return True  # an unreadable config: the LLM path reports it


def _unknown(spec: str) -> UnknownModelError:
    hint = ""
    try:
        from roofline.sources import torchvision_models

        close = difflib.get_close_matches(spec.removeprefix("torchvision:"), torchvision_models.classification_models(),
                                          n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
    except Exception:
        pass
    return UnknownModelError(f"unknown model {spec!r}{hint} Accepted forms: " + "; ".join(ACCEPTED_FORMS))


def load_model(spec: str, *, seq_len: int | None = None) -> BuiltModel:
    """Build the model named by ``spec`` (see module docstring); no weights are downloaded.

    ``seq_len``: tokens per sequence for ``hf:`` text models (their default input is (1, seq_len)).
    """
    from roofline.workload.lean_torch import deferred_dynamo

    # Builders import torchvision and initialise weights on the meta device, both of which would
    # import TorchDynamo (about a second) for nothing (roofline/workload/lean_torch.py).
    with deferred_dynamo():
        return _load_model(spec, seq_len=seq_len)


def _load_model(spec: str, *, seq_len: int | None) -> BuiltModel:
    spec = spec.strip()
    if seq_len is not None and not spec.startswith("hf:"):
        from roofline.errors import InputShapeError

        raise InputShapeError(f"--seq-len applies to hf: text models, not {spec!r} (use --input-shape)")
    from roofline.sources import export_file, onnx_file

    if onnx_file.is_onnx_spec(spec):
        return onnx_file.build(spec)
    if export_file.is_export_spec(spec):
        return export_file.build(spec)
    prefix, sep, rest = spec.partition(":")
    if sep and prefix == "torchvision":
        from roofline.sources import torchvision_models

        try:
            return torchvision_models.build(rest)
        except UnknownModelError:
            raise _unknown(spec) from None
    if sep and prefix == "hf":
        from roofline.sources import hf, hf_encoders

        if hf_encoders.is_encoder_spec(rest):
            return hf_encoders.build(rest, seq_len=seq_len)
        built = hf.build(rest)
        if seq_len is not None:
            if seq_len <= 0:
                from roofline.errors import InputShapeError

                raise InputShapeError(f"--seq-len must be a positive integer, got {seq_len}")
            from roofline.sources.torchvision_models import BuiltModel

            built = BuiltModel(built.model, built.name, (1, seq_len), built.meta)
        return built
    if sep and prefix == "timm":
        from roofline.sources import timm_models

        return timm_models.build(rest)
    if sep and prefix in ("ultralytics", "yolo"):
        from roofline.sources import ultralytics_models

        return ultralytics_models.build(rest)
    if sep and "/" not in prefix:
        from roofline.sources import importpath

        return importpath.build(spec)
    if not sep:
        if spec.endswith((".yaml", ".yml")) and spec.lower().startswith(("yolo", "rtdetr")):
            from roofline.sources import ultralytics_models

            return ultralytics_models.build(spec)
        from roofline.sources import torchvision_models

        try:
            return torchvision_models.build(spec)
        except UnknownModelError:
            raise _unknown(spec) from None
    raise _unknown(spec)


__all__ = ["load_model", "is_language_model", "BuiltModel", "ACCEPTED_FORMS"]
