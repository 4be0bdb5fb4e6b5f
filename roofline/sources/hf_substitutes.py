"""How Hugging Face models are made traceable on fake tensors: documented substitutes for code paths that
need real values (mixture-of-experts routing) or that hide their matmuls (eager-only attention).

Used by every ``hf:`` model source (``roofline profile hf:...``) and by language-model serving
(roofline.llm), so both count the same ops.
"""
from __future__ import annotations

import types

import torch
from torch import nn


# Architectures transformers builds only with its eager attention for a term that fused kernels
# handle and that costs next to nothing: gpt-oss's attention sinks (one learned logit per head,
# an extra softmax column). They are traced with fused SDPA, which leaves the sink out, so the
# attention matrix is not materialised (serving engines run them in flash kernels). Gemma 2's
# soft-capped logits are not substituted: SDPA rejects the soft-cap.
SDPA_SUBSTITUTE = frozenset({"gpt_oss"})


def fused_attention(model):
    """Switch an eager-only model of SDPA_SUBSTITUTE to fused SDPA for tracing."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in SDPA_SUBSTITUTE:
        return model
    for module in model.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and getattr(cfg, "_attn_implementation", None) == "eager":
            cfg._attn_implementation = "sdpa"
    return model


def balanced_experts_forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                             top_k_weights: torch.Tensor) -> torch.Tensor:
    """Shape-only stand-in for transformers' experts dispatch (which needs the routing values).

    The ``n = tokens x top_k`` (token, expert) assignments go to ``e = min(experts, n)`` experts,
    as evenly as possible (``n mod e`` experts get one more): gate/up projection, activation, down
    projection as batched matmuls over slices of the real expert weights. FLOPs equal those of
    the active experts exactly; weight bytes are those of ``e`` experts (balanced routing: a
    decode step of one sequence reads top_k experts, a large batch reads them all).
    """
    tokens, hidden = hidden_states.shape
    top_k = top_k_index.shape[-1]
    n = tokens * top_k
    e = min(self.num_experts, n)
    base, extra = divmod(n, e)
    x = hidden_states.repeat_interleave(top_k, dim=0)
    up = self.gate_up_proj if getattr(self, "has_gate", True) else self.up_proj
    up_bias = getattr(self, "gate_up_proj_bias" if getattr(self, "has_gate", True) else "up_proj_bias", None)
    transposed = getattr(self, "is_transposed", False)
    outs, row, first = [], 0, 0
    for count, rows in ((extra, base + 1), (e - extra, base)):
        if count == 0 or rows == 0:
            continue
        xg = x[row:row + count * rows].reshape(count, rows, hidden)
        w_up = up[first:first + count]
        h = torch.bmm(xg, w_up if transposed else w_up.transpose(1, 2))
        if getattr(self, "has_bias", False) and up_bias is not None:
            h = h + up_bias[first:first + count].unsqueeze(1)
        width = h.shape[-1]
        flat = h.reshape(-1, width)
        flat = self._apply_gate(flat) if getattr(self, "has_gate", True) else self.act_fn(flat)
        h = flat.reshape(count, rows, -1)
        w_down = self.down_proj[first:first + count]
        h = torch.bmm(h, w_down if transposed else w_down.transpose(1, 2))
        if getattr(self, "has_bias", False) and getattr(self, "down_proj_bias", None) is not None:
            h = h + self.down_proj_bias[first:first + count].unsqueeze(1)
        outs.append(h.reshape(-1, hidden))
        row += count * rows
        first += count
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    out = out * top_k_weights.reshape(-1, 1).to(out.dtype)
    return out.view(tokens, top_k, hidden).sum(dim=1).to(hidden_states.dtype)


def install_moe_substitute(model: nn.Module) -> int:
    """Give every fused experts module the shape-only forward; returns how many were patched."""
    patched = 0
    for module in model.modules():
        if hasattr(module, "num_experts") and hasattr(module, "down_proj") and \
                (hasattr(module, "gate_up_proj") or hasattr(module, "up_proj")) and \
                isinstance(getattr(module, "down_proj"), nn.Parameter):
            module.forward = types.MethodType(balanced_experts_forward, module)
            patched += 1
    return patched


__all__ = ["SDPA_SUBSTITUTE", "fused_attention", "balanced_experts_forward", "install_moe_substitute"]
