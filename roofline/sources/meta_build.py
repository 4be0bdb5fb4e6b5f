"""Build a module on the meta device without running its weight initialisers.

On the meta device an initialiser has no values to write, yet ``torch.nn.init``'s functions still
run: each ``normal_``/``uniform_`` on a meta tensor goes through torch's Python reference
implementation, and the first one imports TorchDynamo (``torch._compile._disable_dynamo``). For
resnet50 that was about 0.3 s of a 2.5 s first ``roofline rank`` (docs/performance.md). Inside
``on_meta()`` the in-place initialisers of ``torch.nn.init`` return a meta tensor untouched and run
as before on any other tensor (Hugging Face's ``no_init_weights`` skips them the same way).
Shapes, dtypes and module structure, all a trace reads, are unchanged.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

_INITIALISERS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


def _skipped_on_meta(initialiser: Callable[..., Any]) -> Callable[..., Any]:
    import torch

    @functools.wraps(initialiser)
    def initialise(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            return tensor
        return initialiser(tensor, *args, **kwargs)

    initialise.__roofline_original__ = initialiser  # type: ignore[attr-defined]
    return initialise


@contextlib.contextmanager
def on_meta() -> Iterator[None]:
    """``torch.device("meta")`` with ``torch.nn.init``'s initialisers skipped for meta tensors."""
    import torch
    from torch.nn import init

    saved: dict[str, Callable[..., Any]] = {}
    for name in _INITIALISERS:
        original = getattr(init, name, None)
        if original is None or hasattr(original, "__roofline_original__"):
            continue  # absent in this torch, or already wrapped by an enclosing block
        saved[name] = original
        setattr(init, name, _skipped_on_meta(original))
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, original in saved.items():
            setattr(init, name, original)


__all__ = ["on_meta"]
