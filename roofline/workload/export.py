"""``torch.export`` programs: an ``ExportedProgram`` (or a ``.pt2`` file) counted by the same tracer.

The program's graph runs as a module (``torch.export.unflatten`` keeps the original module
hierarchy, so per-layer tables keep their names; ``ExportedProgram.module()`` when it cannot) on
fake tensors, exactly as an eager model is traced. Without inputs, the program's own example
inputs give the shapes; a shape given instead keeps the example input's dtype (token ids stay
integers). A program exported with static shapes accepts only those (its guards say which).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from roofline.errors import RooflineError, UnknownModelError


def is_exported_program(obj: Any) -> bool:
    try:
        from torch.export import ExportedProgram
    except ImportError:  # pragma: no cover - torch without torch.export
        return False
    return isinstance(obj, ExportedProgram)


def as_module(program) -> nn.Module:
    """The program as a callable module, with its module hierarchy when it can be restored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.export.unflatten(program)
        except Exception:
            return program.module()


class ExportedProgramModule(nn.Module):
    """An ``ExportedProgram`` where an ``nn.Module`` is expected; it runs (``--measure``) and is counted
    with its example inputs' dtypes."""

    def __init__(self, program, name: str = "exported_program"):
        super().__init__()
        self.program_module = as_module(program)
        args, kwargs = program.example_inputs or ((), {})
        self.example_args = tuple(args)
        self.example_kwargs = dict(kwargs or {})
        self.program_name = name

    def forward(self, *args, **kwargs):
        return self.program_module(*args, **kwargs)

    def default_input_shape(self) -> tuple[int, ...] | None:
        first = next((a for a in self.example_args if isinstance(a, torch.Tensor)), None)
        return tuple(first.shape) if first is not None else None

    def _inputs(self, inputs: Any) -> Any:
        """Shapes become meta tensors of the example inputs' dtypes; None means the example inputs."""
        from roofline.workload.tracer import _is_shape

        if inputs is None:
            if not self.example_args and not self.example_kwargs:
                raise RooflineError(f"{self.program_name}: the program carries no example inputs; give the "
                                    "input shapes")
            if self.example_kwargs and not self.example_args:
                return dict(self.example_kwargs)
            return tuple(self.example_args) if len(self.example_args) != 1 else self.example_args[0]
        given = [inputs] if _is_shape(inputs) or isinstance(inputs, torch.Tensor) else list(inputs) \
            if isinstance(inputs, (tuple, list)) else None
        if given is None:
            return inputs
        out = []
        for i, x in enumerate(given):
            example = self.example_args[i] if i < len(self.example_args) else None
            if _is_shape(x) and isinstance(example, torch.Tensor):
                x = torch.empty(tuple(x), dtype=example.dtype, device="meta")
            out.append(x)
        return out[0] if len(out) == 1 else tuple(out)

    def roofline_prepare(self, inputs: Any, name: str | None) -> tuple[nn.Module, Any, str]:
        """What ``analyze`` traces instead of the wrapper: the program's module, its inputs and its name."""
        return self.program_module, self._inputs(inputs), name or self.program_name


def load_program(path: str | Path):
    """``torch.export.load`` with one-line errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UnknownModelError(f"{path}: no such torch.export program (.pt2) file")
    import logging

    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its own multi-line report of a bad archive; ours is one line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.load(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RooflineError(f"{path}: not a torch.export program ({type(exc).__name__}: {first[:160]})") from None
    finally:
        logger.setLevel(level)


__all__ = ["ExportedProgramModule", "as_module", "is_exported_program", "load_program"]
