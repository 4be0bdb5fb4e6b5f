"""Does the model fit? Weights + peak activations + runtime workspace vs usable device memory.

Runtime workspace (documented in docs/methodology.md): a GPU runtime holds a CUDA/driver context
and library workspaces (cuBLAS, cuDNN) of several hundred MB before any tensor is allocated;
a CPU process holds its libraries and allocator slack. Unified-memory boards and SoCs share
DRAM with the operating system, so part of it is reserved.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from roofline.catalog import DeviceSpec

GiB = 2**30
MiB = 2**20

WORKSPACE_BYTES: dict[str, int] = {
    "gpu": 512 * MiB,  # CUDA context + cuBLAS/cuDNN workspaces
    "cpu": 64 * MiB,  # allocator slack and scratch buffers of the runtime
    "sbc": 64 * MiB,
    "accelerator": 0,
}
# Share of a unified memory kept for the OS and other processes (capped for small boards):
# Metal exposes about 75 % of RAM to the GPU (recommendedMaxWorkingSetSize); a Linux board
# keeps its OS and desktop in the same DRAM.
UNIFIED_RESERVE_FRACTION = 0.25
UNIFIED_RESERVE_CAP_BYTES = {"sbc": 1 * GiB}


@dataclass(frozen=True)
class MemoryFit:
    weight_bytes: int
    activation_bytes: int
    workspace_bytes: int
    required_bytes: int
    capacity_bytes: float | None
    available_bytes: float | None  # after the OS reserve on unified memory
    fits: bool | None  # None: the catalog has no capacity, fit not checked
    note: str | None = None
    kv_cache_bytes: int = 0  # language models: the KV cache at the request's context and batch
    gpus: int = 1  # several GPUs: every figure above is per GPU, against one GPU's memory

    @property
    def headroom_bytes(self) -> float | None:
        return None if self.available_bytes is None else self.available_bytes - self.required_bytes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.gpus == 1:
            del out["gpus"]
        out["headroom_bytes"] = self.headroom_bytes
        return out

    def shortfall_message(self) -> str:
        kv = f" + KV cache {_gb(self.kv_cache_bytes)}" if self.kv_cache_bytes else ""
        per = f" per GPU of {self.gpus}" if self.gpus > 1 else ""
        return (f"needs {_gb(self.required_bytes)}{per} (weights {_gb(self.weight_bytes)}{kv} + activations "
                f"{_gb(self.activation_bytes)} + workspace {_gb(self.workspace_bytes)}), has {_gb(self.available_bytes)}"
                + (" usable" if self.available_bytes != self.capacity_bytes else ""))


def format_bytes(value: float | None) -> str:
    """'18.2 GB' / '512 MB' for messages."""
    if value is None:
        return "?"
    return f"{value / 1e9:.3g} GB" if value >= 1e8 else f"{value / 1e6:.3g} MB"


_gb = format_bytes


def usable_memory(device: DeviceSpec, host_memory_bytes: float | None = None) -> tuple[float | None, str | None]:
    """(bytes a model may use, note).

    CPUs: the system memory of ``DeviceSpec.system_memory`` (``host_memory_bytes`` when given,
    else the file's installed capacity, else the documented default, capped at the platform
    maximum), with the note that states the assumption. Other devices: the runtime-visible size
    (``memory.usable``: nvidia-smi / deviceQuery / cloud data) where the catalog has one, else the
    physical ``memory.capacity``; less the OS reserve on unified memory.
    """
    memory = device.memory
    if device.kind == "cpu":
        system = device.system_memory(host_memory_bytes)
        return system.bytes, system.note
    capacity = memory.runtime_bytes
    notes: list[str] = []
    if memory.usable_bytes is not None:
        ecc = {True: ", ECC on", False: ", ECC off"}.get(memory.ecc, "")
        notes.append(f"runtime-visible memory {format_bytes(memory.usable_bytes)} of "
                     f"{format_bytes(memory.capacity_bytes)} physical{ecc}")
    if capacity is None or not memory.unified:
        return capacity, "; ".join(notes) or None
    reserve = capacity * UNIFIED_RESERVE_FRACTION
    cap = UNIFIED_RESERVE_CAP_BYTES.get(device.kind)
    if cap is not None:
        reserve = min(reserve, cap)
    notes.append(f"unified memory: {format_bytes(reserve)} kept for the OS")
    return capacity - reserve, "; ".join(notes)


def memory_fit(weight_bytes: int, activation_bytes: int, device: DeviceSpec, *, streamed: bool = False,
               kv_cache_bytes: int = 0, host_memory_bytes: float | None = None, gpus: int = 1) -> MemoryFit:
    """The one memory rule of every scenario: weights + activations + KV cache + workspace vs usable memory
    (several GPUs: the figures of one GPU, each GPU holding its own workspace)."""
    workspace = WORKSPACE_BYTES.get(device.kind, 0)
    required = weight_bytes + kv_cache_bytes + activation_bytes + workspace
    capacity = device.memory.capacity_bytes
    if streamed:
        return MemoryFit(weight_bytes, activation_bytes, workspace, required, capacity, capacity, None,
                         "parameters that do not fit on chip stream from the host for every inference",
                         kv_cache_bytes=kv_cache_bytes, gpus=gpus)
    available, note = usable_memory(device, host_memory_bytes)
    if device.kind == "cpu":
        capacity = available  # a CPU's memory is the system's: installed, stated (--host-memory) or assumed
    if available is None:
        return MemoryFit(weight_bytes, activation_bytes, workspace, required, None, None, None,
                         "memory capacity not in the catalog: fit not checked", kv_cache_bytes=kv_cache_bytes, gpus=gpus)
    return MemoryFit(weight_bytes, activation_bytes, workspace, required, capacity, available,
                     required <= available, note, kv_cache_bytes=kv_cache_bytes, gpus=gpus)
