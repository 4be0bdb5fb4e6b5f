"""Ultralytics models built offline from their YAML configs (no weights)."""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

from roofline.errors import MissingExtraError, UnknownModelError
from roofline.sources.torchvision_models import BuiltModel

DEFAULT_IMGSZ = 640


def build(config: str) -> BuiltModel:
    """Build ``config`` (e.g. 'yolo11n.yaml', or a path to a model YAML) with Ultralytics."""
    try:
        # a first import writes a settings file and says so on stdout, which would corrupt --json output
        with contextlib.redirect_stdout(io.StringIO()):
            from ultralytics import YOLO
    except ImportError as exc:
        raise MissingExtraError("ultralytics is not installed: pip install 'roofline[yolo]'") from exc
    if not config.endswith((".yaml", ".yml")):
        raise UnknownModelError(
            f"ultralytics:{config}: give a model YAML such as 'ultralytics:yolo11n.yaml' "
            "(weights files cannot be downloaded here; counting needs only the architecture)")
    logger = logging.getLogger("ultralytics")
    previous = logger.level
    logger.setLevel(logging.ERROR)  # building prints a layer table we do not want on stdout
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model = YOLO(config).model
    except FileNotFoundError as exc:
        raise UnknownModelError(f"ultralytics:{config}: no such model YAML ({exc})") from exc
    except Exception as exc:
        raise UnknownModelError(f"ultralytics:{config}: Ultralytics could not build it: {exc}") from exc
    finally:
        logger.setLevel(previous)
    try:
        stride = int(max(model.stride.tolist())) if hasattr(model, "stride") else None
    except (TypeError, ValueError, AttributeError):
        stride = None
    return BuiltModel(model.eval(), Path(config).stem, (1, 3, DEFAULT_IMGSZ, DEFAULT_IMGSZ),
                      {"stride": stride} if stride else {})
