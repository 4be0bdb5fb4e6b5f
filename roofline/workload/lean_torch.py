"""Keep TorchDynamo's package import off the path of a trace.

A cold ``roofline rank resnet50`` spent over a third of its wall time importing TorchDynamo
(``torch._dynamo``, about 1.1 s on the 2-core reference machine, docs/performance.md), and it
runs no compiler. Two imports pulled it in, each for almost nothing:

- ``FakeTensorMode()`` reads two flags, and each op a flag, from ``torch._dynamo.config``;
  importing that module first runs the package's ``__init__``, which loads the whole compiler.
  ``config.py`` itself imports only the standard library and ``torch.utils._config_module``.
- ``torchvision.ops.roi_align`` imports ``is_compile_supported`` from ``torch._dynamo.utils``
  at module level (so every ``import torchvision`` does) and calls it only when ``roi_align``
  runs.

``deferred_dynamo()`` covers both: while it is active, ``torch._dynamo`` is a placeholder that
holds the real ``config`` module (loaded from its file alone) and a ``utils`` whose
``is_compile_supported`` imports the real one when called. Any other use of the placeholder (an
attribute it lacks, a submodule import, which asks for ``__path__``) imports the real package on
the spot and answers from it, so code that does need TorchDynamo inside the block still gets it.
On exit the placeholder leaves ``sys.modules`` and ``torch``: a later ``import torch._dynamo``
runs in full. Nothing is deferred when TorchDynamo is already imported.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import os
import sys
import types
from typing import Any, Iterator

_PACKAGE = "torch._dynamo"
_CONFIG = "torch._dynamo.config"
_UTILS = "torch._dynamo.utils"

_config_alone: types.ModuleType | None = None  # loaded once per process, reused by every block


def _real_package() -> types.ModuleType:
    """Drop the placeholder and import TorchDynamo in full."""
    for name in (_UTILS, _CONFIG, _PACKAGE):
        module = sys.modules.get(name)
        if module is not None and (isinstance(module, (_Placeholder, _UtilsForwarder)) or module is _config_alone):
            del sys.modules[name]
    import torch

    if isinstance(torch.__dict__.get("_dynamo"), _Placeholder):
        del torch.__dict__["_dynamo"]
    return importlib.import_module(_PACKAGE)


def _is_probe(name: str) -> bool:
    """A dunder other than ``__path__``: tools scanning sys.modules (inspect.getmodule, via
    torch.library's registrations) ask every module for ``__file__``, and must not trigger the
    import; ``__path__`` is what a submodule import asks for."""
    return name.startswith("__") and name.endswith("__") and name != "__path__"


class _Placeholder(types.ModuleType):
    def __getattr__(self, name: str) -> Any:  # only for names the placeholder does not hold
        if _is_probe(name):
            raise AttributeError(name)
        return getattr(_real_package(), name)


class _UtilsForwarder(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # a module, not a package: no __path__ either
            raise AttributeError(name)
        _real_package()
        return getattr(importlib.import_module(_UTILS), name)


def _is_compile_supported(*args: Any, **kwargs: Any) -> Any:
    from torch._dynamo.utils import is_compile_supported

    return is_compile_supported(*args, **kwargs)


def _dynamo_imported() -> bool:
    module = sys.modules.get(_PACKAGE)
    return module is not None and not isinstance(module, _Placeholder)


def _disable(fn: Any = None, recursive: bool = True, **kwargs: Any) -> Any:
    """``torch._dynamo.disable`` as ``torch._compile._disable_dynamo`` asks for it on the first call of
    a torch function that the compiler must not trace (the Python refs that meta-device weight
    initialisation runs). It caches the answer on the function, so the answer must stay right
    later: until TorchDynamo is imported nothing can be compiling and ``fn`` runs as it is; from
    then on the real ``disable`` wraps it."""
    if fn is None:
        return functools.partial(_disable, recursive=recursive, **kwargs)
    real: Any = None

    @functools.wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        nonlocal real
        if real is None:
            if not _dynamo_imported():
                return fn(*args, **kw)
            import torch._dynamo

            real = torch._dynamo.disable(fn, recursive, **kwargs)
        return real(*args, **kw)

    return call


class _ExistingModule(importlib.abc.Loader):
    """Loads a module that is already imported: itself, with its own spec put back."""

    def __init__(self, module: types.ModuleType):
        self.module = module
        self.spec = getattr(module, "__spec__", None)

    def create_module(self, spec: Any) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        if self.spec is not None:
            module.__spec__ = self.spec  # the import system set it to the spec it was handed


class _SubmoduleFinder(importlib.abc.MetaPathFinder):
    """A submodule import under the placeholder (``import torch._dynamo.source``) asks the placeholder
    for ``__path__``, which imports TorchDynamo in full; that import usually brings the submodule in
    too, after the import system checked ``sys.modules`` for it. Without this finder it would then
    execute the submodule a second time, and two copies of its classes would live side by side."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not name.startswith(_PACKAGE + "."):
            return None
        if isinstance(sys.modules.get(_PACKAGE), _Placeholder):
            _real_package()
        existing = sys.modules.get(name)
        if existing is None or isinstance(existing, (_Placeholder, _UtilsForwarder)) or existing is _config_alone:
            return None  # not imported yet: the usual finders load it under the real package
        return importlib.util.spec_from_loader(name, _ExistingModule(existing))


def _load_config_alone() -> types.ModuleType:
    global _config_alone
    if _config_alone is None:
        # find_spec of the submodule would import its package: locate the file from the package's spec
        package = importlib.util.find_spec(_PACKAGE)
        locations = list(package.submodule_search_locations or []) if package is not None else []
        spec = (importlib.util.spec_from_file_location(_CONFIG, os.path.join(locations[0], "config.py"))
                if locations else None)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot find {_CONFIG}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_CONFIG] = module  # config.py installs itself through sys.modules[__name__]
        try:
            spec.loader.exec_module(module)
            _config_alone = sys.modules[_CONFIG]
        finally:
            del sys.modules[_CONFIG]
    return _config_alone


@contextlib.contextmanager
def deferred_dynamo() -> Iterator[None]:
    """Run the block with TorchDynamo's package import deferred (see the module docstring)."""
    import torch

    if _PACKAGE in sys.modules:
        yield
        return
    config = _load_config_alone()
    placeholder = _Placeholder(_PACKAGE)
    utils = _UtilsForwarder(_UTILS)
    utils.is_compile_supported = _is_compile_supported
    placeholder.config = config
    placeholder.disable = _disable
    placeholder.utils = utils
    sys.modules[_PACKAGE] = placeholder
    sys.modules[_CONFIG] = placeholder.config
    sys.modules[_UTILS] = utils
    torch.__dict__["_dynamo"] = placeholder
    finder = _SubmoduleFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        if sys.modules.get(_PACKAGE) is placeholder:
            for name in (_UTILS, _CONFIG, _PACKAGE):
                sys.modules.pop(name, None)
            if torch.__dict__.get("_dynamo") is placeholder:
                del torch.__dict__["_dynamo"]


__all__ = ["deferred_dynamo"]
