"""A decoder-only language model as roofline sees it: its configuration, its layer kinds, its
parameters (total and active per token) and the transformers modules built on the meta device.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from roofline.errors import RooflineError
from roofline.sources.hf import HfConfig, build_causal_lm, load_config, prefill_module, pretrained_config
from roofline.sources.hf_substitutes import fused_attention

FULL = "full_attention"
SLIDING = "sliding_attention"

# Dtypes the model can be built (traced) in; serving precisions (fp8, fp4...) are in roofline.llm.precision.
ACTIVATION_DTYPES = ("fp16", "bf16", "fp32")


class ContextLengthError(RooflineError):
    """The requested context does not fit the model's maximum (max_position_embeddings)."""


@dataclass(frozen=True)
class Architecture:
    """The numbers that size a decoder-only transformer (from its config)."""

    model_type: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int | None
    vocab_size: int
    max_position_embeddings: int | None
    layer_types: tuple[str, ...]  # per layer: full_attention or sliding_attention
    sliding_window: int | None
    experts: int | None  # routed experts per MoE layer (None: dense)
    experts_per_token: int | None
    tie_word_embeddings: bool
    ffn_types: tuple[str, ...] = ()  # per layer: "dense" or "moe" (empty: all the same)
    # What the KV cache holds per token and layer: ``kv_cache_heads`` x (``key_dim`` + ``value_dim``)
    # entries. Standard attention: kv_heads x (head_dim + head_dim). Multi-head latent attention
    # (DeepSeek-V2/V3): one compressed latent of kv_lora_rank plus the shared rotary key of
    # qk_rope_head_dim, which is what transformers caches and what serving engines keep.
    kv_cache_heads: int = 0
    key_dim: int = 0
    value_dim: int = 0
    latent_attention: bool = False

    @property
    def is_moe(self) -> bool:
        return bool(self.experts) and bool(self.experts_per_token)

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """Per layer its kind: the attention type, followed by ``/dense`` or ``/moe`` when the model
        mixes dense and mixture-of-experts feed-forward layers (DeepSeek-V3's first three layers)."""
        if len(set(self.ffn_types)) > 1:
            return tuple(f"{a}/{f}" for a, f in zip(self.layer_types, self.ffn_types))
        return self.layer_types

    @property
    def kinds(self) -> tuple[str, ...]:
        """Distinct layer kinds, in order of first appearance."""
        return tuple(dict.fromkeys(self.layer_kinds))

    @property
    def kv_elements_per_token(self) -> int:
        """KV-cache entries one token adds to one (full-attention) layer."""
        return self.kv_cache_heads * (self.key_dim + self.value_dim)

    def kv_tokens(self, layer: int, context: int) -> int:
        """Tokens of context layer ``layer`` keeps in its KV cache (a sliding layer keeps its window)."""
        if self.layer_types[layer] == SLIDING and self.sliding_window:
            return min(context, self.sliding_window)
        return context

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["layer_types"] = list(self.layer_types)
        out["ffn_types"] = list(self.ffn_types)
        return out


def attention_of(kind: str) -> str:
    """The attention type of a layer kind (``full_attention/moe`` -> ``full_attention``)."""
    return kind.split("/")[0]


def _ffn_types(text, layers: int, experts) -> tuple[str, ...]:
    """Dense or mixture-of-experts feed-forward per layer, as the transformers implementations decide:
    DeepSeek-V2/V3 keep the first ``first_k_dense_replace`` layers dense; Qwen-MoE models list dense
    layers in ``mlp_only_layers`` and place experts every ``decoder_sparse_step`` layers."""
    if not experts:
        return tuple(["dense"] * layers)
    first_dense = getattr(text, "first_k_dense_replace", None)
    if first_dense is not None:
        return tuple("dense" if i < int(first_dense) else "moe" for i in range(layers))
    only = set(getattr(text, "mlp_only_layers", None) or [])
    step = int(getattr(text, "decoder_sparse_step", None) or 1)
    return tuple("dense" if i in only or (i + 1) % step else "moe" for i in range(layers))


def _architecture(cfg) -> Architecture:
    text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    layers = int(text.num_hidden_layers)
    heads = int(text.num_attention_heads)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    window = getattr(text, "sliding_window", None)
    types = getattr(text, "layer_types", None)
    if types:
        layer_types = tuple(SLIDING if "sliding" in str(t) else FULL for t in types)
    else:
        layer_types = tuple([SLIDING if window else FULL] * layers)
    experts = (getattr(text, "num_local_experts", None) or getattr(text, "num_experts", None)
               or getattr(text, "n_routed_experts", None))
    top_k = getattr(text, "num_experts_per_tok", None)
    latent = getattr(text, "kv_lora_rank", None)
    if latent:
        kv_cache = (1, int(latent), int(getattr(text, "qk_rope_head_dim", 0) or 0))
    else:
        kv_cache = (kv_heads, int(head_dim), int(head_dim))
    return Architecture(
        model_type=str(cfg.model_type),
        layers=layers,
        hidden_size=int(text.hidden_size),
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=int(head_dim),
        intermediate_size=getattr(text, "intermediate_size", None),
        vocab_size=int(text.vocab_size),
        max_position_embeddings=getattr(text, "max_position_embeddings", None),
        layer_types=layer_types,
        sliding_window=int(window) if window else None,
        experts=int(experts) if experts else None,
        experts_per_token=int(top_k) if top_k else None,
        tie_word_embeddings=bool(getattr(cfg, "tie_word_embeddings", False)),
        ffn_types=_ffn_types(text, layers, experts),
        kv_cache_heads=kv_cache[0],
        key_dim=kv_cache[1],
        value_dim=kv_cache[2],
        latent_attention=bool(latent),
    )


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of the full model and those one token uses (MoE: only its top-k experts)."""

    total: int
    active: int  # per token
    embedding: int  # input embedding table (a lookup, not a matmul)
    expert: int  # routed-expert parameters, all experts, all layers

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "active": self.active, "embedding": self.embedding, "expert": self.expert}


@dataclass
class LlmModel:
    """A configuration resolved and validated; modules are built lazily, on the meta device."""

    hf: HfConfig
    config: Any  # transformers PretrainedConfig
    arch: Architecture
    _modules: dict[str, Any] = field(default_factory=dict, repr=False)
    cache: dict = field(default_factory=dict, repr=False)  # traced phases, keyed by their parameters

    @property
    def name(self) -> str:
        return self.hf.name

    @property
    def source(self) -> str | None:
        return self.hf.source

    @property
    def model_type(self) -> str:
        return self.arch.model_type

    # ---------------------------------------------------------------- modules

    def full_model(self):
        """The whole model, all layers, on the meta device (fp16): parameters and module table."""
        model = self._modules.get("full")
        if model is None:
            model = build_causal_lm(self.config, dtype="fp16")
            self._modules["full"] = model
        return model

    def traced_model(self, dtype: str):
        """The model cut to one decoder layer per layer kind (what is traced), in ``dtype``."""
        key = f"kinds:{dtype}"
        model = self._modules.get(key)
        if model is None:
            kinds = self.arch.kinds
            overrides: dict[str, Any] = {"num_hidden_layers": len(kinds)}
            text = self.config.get_text_config() if hasattr(self.config, "get_text_config") else self.config
            if getattr(text, "layer_types", None):
                overrides["layer_types"] = [attention_of(k) for k in kinds]
            dense = [j for j, k in enumerate(kinds) if k.endswith("/dense")]
            if len(set(self.arch.ffn_types)) > 1:
                if getattr(text, "first_k_dense_replace", None) is not None:
                    if dense != list(range(len(dense))):
                        raise RooflineError(f"hf:{self.name}: dense layers after expert layers cannot be cut "
                                            "to one layer per kind (first_k_dense_replace)")
                    overrides["first_k_dense_replace"] = len(dense)
                else:
                    overrides["mlp_only_layers"] = dense
                    overrides["decoder_sparse_step"] = 1
            cfg = pretrained_config(self.hf, **overrides)
            model = fused_attention(build_causal_lm(cfg, dtype=dtype))
            self._modules[key] = model
        return model

    def depth_model(self, dtype: str):
        """All layers, in ``dtype`` (for a full-depth trace)."""
        key = f"full:{dtype}"
        model = self._modules.get(key)
        if model is None:
            model = fused_attention(build_causal_lm(self.config, dtype=dtype))
            self._modules[key] = model
        return model

    def prefill_module(self, dtype: str = "fp16"):
        """An nn.Module taking a (batch, tokens) shape: the prefill of that many tokens, last logits."""
        return prefill_module(self.depth_model(dtype))

    # ---------------------------------------------------------------- sizes

    def tensor_table(self) -> list[tuple[str, int, int, int, int, bool]]:
        """Every parameter and buffer of the full model as (name, elements, dims, bytes per element in the
        traced fp16 model, how many layers repeat it, is_parameter), read from the model cut to one layer
        per kind: a layer's tensors count once per layer of its kind (exact for these architectures;
        tests compare with the full model)."""
        table = self.cache.get("tensor_table")
        if table is not None:
            return table
        model = self.traced_model("fp16")
        counts = {j: sum(1 for t in self.arch.layer_kinds if t == kind) for j, kind in enumerate(self.arch.kinds)}
        layer = re.compile(r"(?:^|\.)layers\.(\d+)(?=\.|$)")
        table = []
        seen: set[int] = set()
        items = [(n, p, True) for n, p in model.named_parameters(remove_duplicate=False)]
        items += [(n, b, False) for n, b in model.named_buffers(remove_duplicate=False)]
        for name, t, is_param in items:
            if id(t) in seen:
                continue
            seen.add(id(t))
            m = layer.search(name)
            repeat = counts.get(int(m.group(1)), 1) if m else 1
            table.append((name, t.numel(), t.dim(), t.element_size(), repeat, is_param))
        self.cache["tensor_table"] = table
        return table

    @cached_property
    def parameters(self) -> ParameterCount:
        model = self.traced_model("fp16")
        embed = model.get_input_embeddings()
        embed_names = {f"model.embed_tokens.{n}" for n, _ in embed.named_parameters()} if embed is not None else set()
        embed_ids = {id(p) for p in embed.parameters()} if embed is not None else set()
        by_name = dict(model.named_parameters(remove_duplicate=False))
        total = embedding = expert = 0
        for name, numel, dim, _, repeat, is_param in self.tensor_table():
            if not is_param:
                continue
            n = numel * repeat
            total += n
            if id(by_name.get(name)) in embed_ids or name in embed_names:
                embedding += n
            if _is_routed_expert(name, by_name[name], self.arch):
                expert += n
        active = total
        if self.arch.is_moe and expert:
            active = total - expert + expert * self.arch.experts_per_token // self.arch.experts
        return ParameterCount(total, active, embedding, expert)

    def check_context(self, context: int) -> None:
        limit = self.arch.max_position_embeddings
        if limit and context > limit:
            raise ContextLengthError(f"hf:{self.name}: a context of {context:,} tokens exceeds the model's maximum of "
                                     f"{limit:,} (max_position_embeddings)")

    def kv_cache_bytes(self, context: int, batch: int, kv_bytes_per_element: float) -> int:
        """Entries per token (2 x kv_heads x head_dim; multi-head latent attention: kv_lora_rank +
        qk_rope_head_dim) x layers x context x batch x bytes, per layer's window."""
        a = self.arch
        tokens = sum(a.kv_tokens(i, context) for i in range(a.layers))
        return int(math.ceil(tokens * a.kv_elements_per_token * batch * kv_bytes_per_element))


def _is_routed_expert(name: str, p, arch: Architecture) -> bool:
    """Parameters of the routed experts: a leading dimension of ``experts`` under an ``experts`` module."""
    if not arch.is_moe:
        return False
    parts = name.split(".")
    return "experts" in parts and p.dim() >= 2 and (p.shape[0] == arch.experts or
                                                     any(x.isdigit() for x in parts[parts.index("experts") + 1:]))


def load_llm(spec: str) -> LlmModel:
    """``hf:PRESET`` or ``hf:PATH`` -> a validated model description (nothing is downloaded)."""
    hf = load_config(spec)
    cfg = pretrained_config(hf)
    return LlmModel(hf, cfg, _architecture(cfg))


__all__ = ["LlmModel", "Architecture", "attention_of", "ParameterCount", "load_llm", "ContextLengthError", "FULL", "SLIDING",
           "ACTIVATION_DTYPES"]
