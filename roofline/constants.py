"""Physical and accounting constants, and the cost defaults every command and API shares.

A year is 365.25 days (31,557,600 s; 8,766 h). The cost defaults are referenced by the Python API
(``roofline.decide.costs.CostAssumptions``) and by the CLI options, so they are written once, here.
"""
from __future__ import annotations

HOURS_PER_YEAR = 365.25 * 24
SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600
JOULES_PER_KWH = 3.6e6

DEFAULT_ELECTRICITY_USD_PER_KWH = 0.15
DEFAULT_YEARS = 3.0
DEFAULT_UTILIZATION = 0.5

# Collective communication (roofline.predict.collectives). NCCL's own cost model, ring algorithm with the
# LL protocol (the one it picks for the small messages of decoding), in src/graph/tuning.cc of
# https://github.com/NVIDIA/nccl/blob/b6475625fbcaa2c3c0e50eed2fa1255d7514d4a2/src/graph/tuning.cc :
# baseLat[Ring][LL] = 6.6 us per collective, hwLat[NVLINK|PCI|NET][Ring][LL] = 0.6 / 1.0 / 2.7 us per
# step, and a ring all-reduce takes 2 (ranks - 1) steps.
NCCL_BASE_LATENCY_S = 6.6e-6
NCCL_STEP_LATENCY_S = {"nvlink": 0.6e-6, "pcie": 1.0e-6, "network": 2.7e-6}
# Between nodes: one 400 Gb/s InfiniBand NDR port per GPU (DGX H100/H200: "four OSFP ports serving eight
# single-port NVIDIA ConnectX-7 VPI ... up to 400 Gb/s InfiniBand/Ethernet",
# https://docs.nvidia.com/dgx-basepod/reference-architecture-infrastructure-foundation-enterprise-ai/latest/core-components.html ;
# eight of those ports form the InfiniBand compute fabric,
# https://docs.nvidia.com/dgx-basepod/deployment-guide-dgx-basepod/latest/network-overview.html):
# 400e9 bit/s / 8 = 50e9 bytes/s per direction per GPU.
NETWORK_BANDWIDTH_BYTES_PER_S = 400e9 / 8

__all__ = ["NCCL_BASE_LATENCY_S", "NCCL_STEP_LATENCY_S", "NETWORK_BANDWIDTH_BYTES_PER_S", "HOURS_PER_YEAR", "SECONDS_PER_YEAR", "JOULES_PER_KWH", "DEFAULT_ELECTRICITY_USD_PER_KWH", "DEFAULT_YEARS",
           "DEFAULT_UTILIZATION"]
