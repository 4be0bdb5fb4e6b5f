"""The time of a collective between the GPUs of one model replica, from the catalog's interconnect.

Every collective is ``latency + bytes on the busiest link / per-direction bandwidth`` (the
alpha-beta model; Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication
Operations in MPICH", IJHPCA 2005, https://doi.org/10.1177/1094342005051521), with the latency of
NCCL's own cost model (roofline.constants: a base latency per collective plus one per step):

- ring all-reduce of ``S`` bytes over ``T`` GPUs: ``2 (T-1)`` steps, each GPU sends
  ``2 (T-1)/T x S`` bytes;
- all-to-all over ``E`` GPUs: ``E - 1`` steps (one exchange with each peer), each GPU sends the
  bytes given;
- point-to-point (pipeline stages): one step, ``S`` bytes.

Links: inside the GPU-link domain (NVLink/NVSwitch, Infinity Fabric) the per-direction bandwidth of
``gpu_link``; a device without one talks over its PCIe ``host_link``; between nodes the network
(``NETWORK_BANDWIDTH_BYTES_PER_S``, one InfiniBand NDR port per GPU). Collectives are not
overlapped with computation and the algorithm is always the ring (docs/llm.md, "Several GPUs").
"""
from __future__ import annotations

from dataclasses import dataclass

from roofline.catalog import DeviceSpec
from roofline.constants import NCCL_BASE_LATENCY_S, NCCL_STEP_LATENCY_S, NETWORK_BANDWIDTH_BYTES_PER_S

ALL_REDUCE = "all-reduce"
ALL_TO_ALL = "all-to-all"
P2P = "point-to-point"
ALL_GATHER = "all-gather"

GPU_LINK = "gpu_link"  # inside the domain: NVLink / Infinity Fabric, or PCIe when the device has no GPU link
NETWORK = "network"  # between nodes


@dataclass(frozen=True)
class Link:
    """Where a collective runs on a device: its per-direction bandwidth and the per-step latency."""

    name: str  # "nvlink" (any GPU link), "pcie", "network"
    bandwidth_bytes_per_s: float
    step_latency_s: float
    label: str


def link_of(device: DeviceSpec, scope: str) -> Link | None:
    """The link a collective of ``scope`` uses on ``device`` (None: the catalog has no bandwidth for it)."""
    if scope == NETWORK:
        return Link("network", NETWORK_BANDWIDTH_BYTES_PER_S, NCCL_STEP_LATENCY_S["network"],
                    "InfiniBand NDR 400 Gb/s per GPU")
    g = device.gpu_link
    if g.per_direction_bytes_per_s:
        return Link("nvlink", g.per_direction_bytes_per_s, NCCL_STEP_LATENCY_S["nvlink"],
                    f"{g.type or 'GPU link'}, {g.per_direction_bytes_per_s / 1e9:.0f} GB/s per direction")
    h = device.host_link
    if h.bandwidth_bytes_per_s:
        return Link("pcie", h.bandwidth_bytes_per_s, NCCL_STEP_LATENCY_S["pcie"],
                    f"{h.type or 'host link'}, {h.bandwidth_bytes_per_s / 1e9:.0f} GB/s per direction (no GPU link)")
    return None


def domain_size(device: DeviceSpec) -> int | None:
    """GPUs in one all-to-all GPU-link domain (an HGX baseboard: 8), None where the catalog does not say."""
    return device.gpu_link.domain_size if device.gpu_link.per_direction_bytes_per_s else None


def steps(kind: str, ranks: int) -> int:
    if kind == ALL_REDUCE:
        return 2 * (ranks - 1)
    if kind in (ALL_TO_ALL, ALL_GATHER):
        return ranks - 1
    return 1


def wire_bytes(kind: str, message_bytes: float, ranks: int) -> float:
    """Bytes one GPU sends for a collective of ``message_bytes`` (all-reduce: the tensor reduced;
    all-gather: the gathered tensor; all-to-all and point-to-point: what the GPU sends)."""
    if kind == ALL_REDUCE:
        return 2 * (ranks - 1) / ranks * message_bytes
    if kind == ALL_GATHER:
        return (ranks - 1) / ranks * message_bytes
    return message_bytes


def collective_time_s(kind: str, message_bytes: float, ranks: int, link: Link) -> float:
    """Latency plus wire bytes over the per-direction bandwidth of ``link``."""
    if ranks <= 1:
        return 0.0
    latency = NCCL_BASE_LATENCY_S + steps(kind, ranks) * link.step_latency_s
    return latency + wire_bytes(kind, message_bytes, ranks) / link.bandwidth_bytes_per_s


__all__ = ["Link", "link_of", "domain_size", "collective_time_s", "wire_bytes", "steps", "ALL_REDUCE", "ALL_TO_ALL",
           "P2P", "ALL_GATHER", "GPU_LINK", "NETWORK"]
