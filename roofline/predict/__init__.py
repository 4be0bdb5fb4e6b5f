"""Prediction: latency, throughput, energy and memory fit of a workload on a device."""
import sys
import types

from roofline.predict.efficiency import ERROR_BANDS, ExecutionModel, Runtime, Tier
from roofline.predict.energy import Energy
from roofline.predict.memory import MemoryFit
from roofline.predict.model import DeviceUnusable, OpPrediction, Prediction, predict

__all__ = ["predict", "Prediction", "OpPrediction", "MemoryFit", "Energy", "Runtime", "Tier", "ExecutionModel",
           "DeviceUnusable", "ERROR_BANDS"]


class _CallablePackage(types.ModuleType):
    """Importing this package binds ``roofline.predict`` to it, shadowing the function of the same
    name that the public API promises; calling the package calls the function."""

    def __call__(self, *args, **kwargs):
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
