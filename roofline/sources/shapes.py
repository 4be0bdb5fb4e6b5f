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
                        input_shape: tuple[int, ...] | str | None = None, batch: int | None = None,
                        stride: int | None = None) -> tuple[int, ...]:
    """The input shape of ``model_name``; ``stride``: the model's largest stride (Ultralytics
    detectors), which an image size must be a multiple of."""
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
    if stride and (imgsz is not None or input_shape is not None) and len(shape) == 4:
        bad = [d for d in shape[2:] if d % stride]
        if bad:
            flag = f"--imgsz {imgsz}" if imgsz is not None else f"--input-shape {'x'.join(map(str, shape))}"
            low, high = (bad[0] // stride) * stride, -(-bad[0] // stride) * stride
            sizes = f"{low} or {high}" if low else f"{high}"
            raise InputShapeError(f"{model_name}: {flag}: the image size must be a multiple of the model's stride "
                                  f"{stride} (use {sizes}; Ultralytics itself rounds up to {high})")
    return shape
