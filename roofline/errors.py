"""User-facing errors: each carries a one-line message that the CLI prints without a traceback."""
from __future__ import annotations


class RooflineError(Exception):
    """Base class for errors caused by user input (bad model name, malformed file, wrong unit...)."""

    exit_code: int = 2


class UnknownModelError(RooflineError):
    pass


class InputShapeError(RooflineError):
    pass


class TraceError(RooflineError):
    """The model's forward raised while being traced; the message names the module."""


class MissingExtraError(RooflineError):
    """An optional dependency is not installed; the message names the extra to install."""


class CatalogError(RooflineError):
    """A device file is malformed or a device id is unknown."""


class UnitError(RooflineError):
    """A quantity has the wrong unit or cannot be parsed."""
