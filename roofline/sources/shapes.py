"""Resolve the input shape of a model from its default, --imgsz, --input-shape and --batch."""
from __future__ import annotations

import re

from roofline.errors import InputShapeError


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' or '1x3x224x224' -> (1, 3, 224, 224); one-line error otherwise."""
    cleaned = text.strip().strip("()[]").replace(" ", "").rstrip(",")
    parts = re.split(r"[,x]", cleaned)
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputShapeError(f"malformed --input-shape {text!r}: expected comma-separated integers such as "
                              "1,3,224,224") from None
    if not shape or any(d <= 0 for d in shape):
        raise InputShapeError(f"malformed --input-shape {text!r}: every dimension must be a positive integer")
    return shape


def resolve_input_shape(model_name: str, default: tuple[int, ...] | None, *, imgsz: int | None = None,
                        input_shape: tuple[int, ...] | str | None = None, batch: int | None = None
                        ) -> tuple[int, ...]:
    if isinstance(input_shape, str):
        input_shape = parse_shape(input_shape)
    if input_shape is not None and imgsz is not None:
        raise InputShapeError("give either --imgsz or --input-shape, not both")
    if batch is not None and batch <= 0:
        raise InputShapeError(f"--batch must be a positive integer, got {batch}")
    if imgsz is not None:
        if imgsz <= 0:
            raise InputShapeError(f"--imgsz must be a positive integer, got {imgsz}")
        channels = default[1] if default is not None and len(default) == 4 else 3
        shape: tuple[int, ...] = (1, channels, imgsz, imgsz)
    elif input_shape is not None:
        shape = tuple(input_shape)
    elif default is not None:
        shape = default
    else:
        raise InputShapeError(f"{model_name} has no default input size: pass --input-shape, e.g. "
                              "--input-shape 1,3,224,224")
    if batch is not None:
        shape = (batch,) + tuple(shape[1:])
    return shape
