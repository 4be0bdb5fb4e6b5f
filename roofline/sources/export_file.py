"""``torch.export`` programs saved with ``torch.export.save``: ``roofline profile program.pt2``.

The program is loaded with ``torch.export.load`` (its weights come with it) and traced like an
eager model; its default input is its first example input's shape.
"""
from __future__ import annotations

from pathlib import Path

from roofline.sources.torchvision_models import BuiltModel


def is_export_spec(spec: str) -> bool:
    return spec.strip().lower().endswith(".pt2")


def build(spec: str) -> BuiltModel:
    from roofline.workload.export import ExportedProgramModule, load_program

    path = Path(spec.strip()).expanduser()
    program = load_program(path)
    module = ExportedProgramModule(program, path.name)
    return BuiltModel(module, path.name, module.default_input_shape(), {"source": "torch.export", "path": str(path)})
