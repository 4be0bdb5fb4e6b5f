"""Models from user code: ``package.module:callable`` returning an ``nn.Module``."""
from __future__ import annotations

import importlib
import sys

from torch import nn

from roofline.errors import UnknownModelError
from roofline.sources.torchvision_models import BuiltModel


def build(spec: str) -> BuiltModel:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UnknownModelError(f"{spec!r}: an import path must look like 'package.module:callable'")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # let users name modules in the current directory, as `python -m` does
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownModelError(f"{spec!r}: cannot import {module_name!r} ({exc})") from exc
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UnknownModelError(f"{spec!r}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    model = target if isinstance(target, nn.Module) else (_call(spec, target) if callable(target) else None)
    if not isinstance(model, nn.Module):
        raise UnknownModelError(f"{spec!r}: expected an nn.Module or a callable returning one, "
                                f"got {type(model).__name__}")
    return BuiltModel(model, attr, None, {})


def _call(spec: str, target) -> object:
    """Call a model class or factory with no arguments; one that needs some, or that raises, is a
    one-line error naming it."""
    import inspect

    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature: just call them
        signature = None
    if signature is not None:
        try:
            signature.bind()
        except TypeError:
            required = [name for name, p in signature.parameters.items()
                        if p.default is inspect.Parameter.empty
                        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise UnknownModelError(
                f"{spec!r} needs constructor arguments ({', '.join(required)}): point at a function that "
                "takes none and returns the model, e.g. 'mymodels:build'") from None
    try:
        return target()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnknownModelError(f"{spec!r}: building the model raised {type(exc).__name__}"
                                + (f": {first}" if first else "")) from exc
