"""Several GPUs serving one model replica: tensor (TP), pipeline (PP) and expert (EP) parallelism.

A replica runs on ``gpus = tp x pp`` GPUs. What ONE GPU does is traced through the same path as a
single GPU (roofline.llm.trace), on a sharded configuration, so every op keeps the formulas of
docs/counting.md:

- **TP** (Megatron-LM, Shoeybi et al. 2019, https://arxiv.org/abs/1909.08053): attention heads and
  KV heads over the ``tp`` GPUs (``heads / tp``; when ``kv_heads < tp`` each GPU keeps one KV head,
  the KV heads replicated ``tp / kv_heads`` times), the MLP intermediate size over ``tp``, the
  embedding and LM head vocabulary-parallel (``ceil(vocab / tp)`` rows). Norms, the router and
  the latent of multi-head latent attention are replicated. Two all-reduces per transformer layer
  (after attention, after the MLP) of ``tokens x hidden`` activations, one after the
  vocabulary-parallel embedding, and an all-gather of the last position's logits;
- **PP** (GPipe, Huang et al. 2019, https://arxiv.org/abs/1811.06965): the layers in ``pp`` equal
  stages; one GPU holds ``layers / pp`` layers. ``batch`` sequences go through the pipeline in
  ``pp`` micro-batches of ``batch / pp`` (one micro-batch of ``batch`` when ``pp`` does not divide
  it). A token of a sequence passes every stage in turn, so a decode step of a sequence takes the
  full depth at the micro-batch plus ``pp - 1`` point-to-point sends of ``tokens x hidden``; with
  ``pp`` micro-batches in flight every stage is busy (steady state: ``batch / TPOT`` tokens/s).
  The prefill of ``m`` micro-batches takes ``(m + pp - 1) / pp`` times the full depth at one
  micro-batch (the GPipe bubble, ``(pp - 1) / (m + pp - 1)`` of the time idle);
- **EP** (mixture of experts): the routed experts are split over ``ep`` GPUs of a stage's TP group
  (``ep`` divides ``tp``; the expert matrices are tensor-parallel over the remaining ``tp / ep``),
  as serving engines do when expert parallelism is enabled on a TP group. A GPU holds
  ``experts / ep`` experts and computes ``top_k / ep`` of each token's expert assignments
  (balanced routing; ``ep`` divides ``top_k``). Two all-to-alls per MoE layer (dispatch, combine):
  a GPU sends its ``tokens / ep`` tokens' ``top_k x hidden`` activations, ``(ep - 1) / ep`` of
  them to other GPUs.

Memory per GPU: its weights (the layers of one stage, plus embedding and LM head: the first and
last stage hold one each, the bound counts both), the KV cache of its layers and KV heads for the
whole batch, the activation peak of its micro-batch and the workspace, against the device's usable
memory (roofline.predict.memory.memory_fit). Collectives are priced on a device in
roofline.predict.collectives; they are added to the phase times, not overlapped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from roofline.errors import RooflineError
from roofline.llm.precision import STORAGE_DTYPE, WEIGHT_BYTES
from roofline.predict.collectives import ALL_GATHER, ALL_REDUCE, ALL_TO_ALL, GPU_LINK, NETWORK, P2P


class ParallelError(RooflineError):
    """A parallel layout the model or the device cannot take (tp not dividing heads, ep on a dense model...)."""


@dataclass(frozen=True)
class Parallelism:
    """``tp`` x ``pp`` GPUs per replica; ``ep`` splits the routed experts over ``ep`` GPUs of the TP group."""

    tp: int = 1
    pp: int = 1
    ep: int = 1

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "ep"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParallelError(f"--{name} must be a positive integer, got {value!r}")
        if self.tp % self.ep:
            raise ParallelError(f"--ep {self.ep} must divide --tp {self.tp}: the experts are split over the "
                                "tensor-parallel GPUs of a pipeline stage")

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def expert_tp(self) -> int:
        """GPUs one expert's matrices are split over."""
        return self.tp // self.ep

    def label(self) -> str:
        parts = [f"TP={self.tp}"] + ([f"PP={self.pp}"] if self.pp > 1 else []) + \
            ([f"EP={self.ep}"] if self.ep > 1 else [])
        return " ".join(parts)

    def to_dict(self) -> dict[str, int]:
        return {"gpus": self.gpus, "tp": self.tp, "pp": self.pp, "ep": self.ep}


SINGLE = Parallelism()


def make_parallelism(*, gpus: int | None = None, tp: int | None = None, pp: int | None = None,
                     ep: int | None = None) -> Parallelism | None:
    """From the user's --gpus/--tp/--pp/--ep (None: nothing given). ``--gpus N`` alone is ``tp = N``."""
    if gpus is None and tp is None and pp is None and ep is None:
        return None
    for flag, value in (("gpus", gpus), ("tp", tp), ("pp", pp), ("ep", ep)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParallelError(f"--{flag} must be a positive integer, got {value!r}")
    pp = pp or 1
    if tp is None:
        if gpus is None:
            tp = ep or 1
        elif gpus % pp:
            raise ParallelError(f"--gpus {gpus} is not a multiple of --pp {pp}")
        else:
            tp = gpus // pp
    if gpus is not None and gpus != tp * pp:
        raise ParallelError(f"--gpus {gpus} must equal --tp x --pp ({tp} x {pp} = {tp * pp})")
    return Parallelism(tp, pp, ep or 1)


# ------------------------------------------------------------------ sharded configuration

_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def _text(config: dict[str, Any]) -> dict[str, Any]:
    return config["text_config"] if isinstance(config.get("text_config"), dict) else config


def shard_overrides(llm, par: Parallelism) -> dict[str, Any]:
    """The configuration keys of one GPU's shard (validated: one-line errors)."""
    a = llm.arch
    label = f"hf:{llm.name}"
    text = _text(llm.hf.config)
    tp, ep = par.tp, par.ep
    if par.ep > 1 and not a.is_moe:
        raise ParallelError(f"--ep applies to mixture-of-experts models; {label} is dense")
    if a.attention_heads % tp:
        raise ParallelError(f"--tp {tp} must divide the {a.attention_heads} attention heads of {label}")
    if a.kv_heads % tp and tp % a.kv_heads:
        raise ParallelError(f"--tp {tp} and the {a.kv_heads} KV heads of {label}: one must divide the other")
    if a.layers % par.pp:
        raise ParallelError(f"--pp {par.pp} must divide the {a.layers} layers of {label}")
    out: dict[str, Any] = {"num_attention_heads": a.attention_heads // tp, "head_dim": a.head_dim}
    if "num_key_value_heads" in text or a.kv_heads != a.attention_heads:
        out["num_key_value_heads"] = max(a.kv_heads // tp, 1)
    expert_size_key = "moe_intermediate_size" if "moe_intermediate_size" in text else None
    intermediate = text.get("intermediate_size")
    if intermediate:
        # MoE models without a separate expert size (Mixtral, gpt-oss) give the expert's size here
        shard = par.expert_tp if a.is_moe and expert_size_key is None else tp
        if intermediate % shard:
            raise ParallelError(f"--tp {tp} must divide the MLP intermediate size {intermediate} of {label}")
        out["intermediate_size"] = intermediate // shard
    if expert_size_key:
        size = int(text[expert_size_key])
        if size % par.expert_tp:
            raise ParallelError(f"--tp {tp} / --ep {ep} must divide the expert size {size} of {label}")
        out[expert_size_key] = size // par.expert_tp
    shared = text.get("shared_expert_intermediate_size")
    if shared:
        out["shared_expert_intermediate_size"] = int(shared) // tp
    if a.is_moe and ep > 1:
        if a.experts % ep:
            raise ParallelError(f"--ep {ep} must divide the {a.experts} experts of {label}")
        if a.experts_per_token % ep:
            raise ParallelError(f"--ep {ep} must divide the {a.experts_per_token} experts per token of {label} "
                                "(balanced routing gives each GPU top-k / ep of a token's experts)")
        for key in _EXPERT_KEYS:
            if key in text:
                out[key] = int(text[key]) // ep
        out["num_experts_per_tok"] = a.experts_per_token // ep
        if "n_group" in text and text.get("n_group"):
            groups = int(text["n_group"])
            per_gpu = a.experts // ep
            out["n_group"] = math.gcd(groups, per_gpu)
            if "topk_group" in text:
                out["topk_group"] = min(int(text["topk_group"]), out["n_group"])
    out["vocab_size"] = -(-a.vocab_size // tp)
    for token in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if token in text:
            out[token] = None  # ids of the whole vocabulary; a shard's rows are a slice of it
    return out


def sharded_model(llm, par: Parallelism):
    """The LlmModel of one GPU's shard at full depth (cached on ``llm``); ``llm`` itself when single."""
    if par.tp == 1 and par.ep == 1:
        shard_overrides(llm, par)  # the layout's checks (pipeline stages)
        return llm
    key = ("shard", par.tp, par.ep)
    found = llm.cache.get(key)
    if found is not None:
        return found
    from roofline.llm.model import _architecture, LlmModel
    from roofline.sources.hf import pretrained_config

    overrides = shard_overrides(llm, par)
    config = dict(llm.hf.config)
    if isinstance(config.get("text_config"), dict):
        config["text_config"] = {**config["text_config"], **overrides}
    else:
        config.update(overrides)
    hf = replace(llm.hf, config=config)
    cfg = pretrained_config(hf)
    shard = LlmModel(hf, cfg, _architecture(cfg))
    llm.cache[key] = shard
    return shard


def layer_weight_bytes(llm, *, dtype: str, weights: str) -> tuple[int, int]:
    """(bytes of the decoder layers, bytes of the rest: embeddings, final norm, LM head) as
    roofline.llm.trace.weight_bytes counts them."""
    from roofline.llm.trace import _LAYER

    act = WEIGHT_BYTES[STORAGE_DTYPE[dtype]]
    fmt = WEIGHT_BYTES[weights]
    layers = rest = 0.0
    for name, numel, dim, itemsize, repeat, is_param in llm.tensor_table():
        in_layer = _LAYER.search(name) is not None
        size = numel * itemsize * repeat if not is_param else numel * repeat * (fmt if in_layer and dim >= 2 else act)
        if in_layer:
            layers += size
        else:
            rest += size
    return int(math.ceil(layers)), int(math.ceil(rest))


def stage_kv_bytes(llm, context: int, batch: int, kv_bytes_per_element: float, pp: int) -> int:
    """KV cache of the largest pipeline stage (its layers' windows), for ``batch`` sequences."""
    a = llm.arch
    per = a.layers // pp
    tokens = max(sum(a.kv_tokens(i, context) for i in range(s * per, (s + 1) * per)) for s in range(pp))
    return int(math.ceil(tokens * a.kv_elements_per_token * batch * kv_bytes_per_element))


# ------------------------------------------------------------------ communication plan


@dataclass(frozen=True)
class Collective:
    """``count`` collectives of one kind per run of a phase, on ``ranks`` GPUs, over ``scope``.

    ``message_bytes``: the tensor reduced (all-reduce), gathered (all-gather), or the bytes one GPU
    sends (all-to-all, point-to-point)."""

    kind: str
    what: str  # "tensor parallel", "pipeline", "expert parallel"
    count: float
    message_bytes: float
    ranks: int
    scope: str = GPU_LINK

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "count": self.count, "message_bytes": self.message_bytes,
                "ranks": self.ranks, "scope": self.scope}


@dataclass(frozen=True)
class ParallelPlan:
    """How a serving scenario is laid out over GPUs, device-independent; ``reshard`` rebuilds the scenario
    at another layout (ranking picks the smallest TP that fits)."""

    parallelism: Parallelism
    microbatches: int = 1
    micro_batch: int = 1
    collectives: dict[str, tuple[Collective, ...]] = field(default_factory=dict)  # by phase name
    nodes_crossed: int = 0  # pipeline boundaries that leave a GPU-link domain (given a domain size)
    replicated_kv_heads: int = 1  # how many GPUs hold each KV head
    notes: tuple[str, ...] = ()
    reshard: Any = field(default=None, compare=False, repr=False)

    @property
    def gpus(self) -> int:
        return self.parallelism.gpus

    @property
    def is_multi(self) -> bool:
        return self.parallelism.gpus > 1

    def prefill_factor(self) -> float:
        """Prefill time over the full depth of one micro-batch: (m + pp - 1) / pp (the GPipe schedule)."""
        pp = self.parallelism.pp
        return (self.microbatches + pp - 1) / pp

    def to_dict(self) -> dict[str, Any]:
        return {**self.parallelism.to_dict(), "microbatches": self.microbatches, "micro_batch": self.micro_batch,
                "kv_head_replicas": self.replicated_kv_heads,
                "collectives": {k: [c.to_dict() for c in v] for k, v in self.collectives.items()}}


def communication(llm, par: Parallelism, *, micro_batch: int, prompt: int, dtype: str) -> dict[str, tuple]:
    """The collectives of one prefill and one decode step of a micro-batch (see the module docstring)."""
    a = llm.arch
    act = WEIGHT_BYTES[STORAGE_DTYPE[dtype]]
    hidden = a.hidden_size
    moe_layers = sum(1 for f in a.ffn_types if f == "moe") if a.is_moe else 0
    out: dict[str, tuple] = {}
    for phase, query in (("prefill", prompt), ("decode", 1)):
        tokens = micro_batch * query
        c: list[Collective] = []
        if par.tp > 1:
            c.append(Collective(ALL_REDUCE, "tensor parallel: 2 per layer", 2 * a.layers, tokens * hidden * act, par.tp))
            c.append(Collective(ALL_REDUCE, "tensor parallel: vocab-parallel embedding", 1, tokens * hidden * act,
                                par.tp))
            # the last position's logits of every sequence over the (padded) vocabulary: tp shards of vocab / tp
            c.append(Collective(ALL_GATHER, "tensor parallel: LM-head logits", 1,
                                micro_batch * a.vocab_size * par.tp * act, par.tp))
        if par.ep > 1 and moe_layers:
            top_k = a.experts_per_token * par.ep  # the shard computes top_k / ep of each token's experts
            sent = tokens / par.ep * top_k * hidden * act * (par.ep - 1) / par.ep
            c.append(Collective(ALL_TO_ALL, "expert parallel: dispatch and combine, 2 per MoE layer",
                                2 * moe_layers, sent, par.ep))
        if par.pp > 1:
            c.append(Collective(P2P, "pipeline: between stages", par.pp - 1, tokens * hidden * act, 2))
        out[phase] = tuple(c)
    return out


def pipeline_crossings(par: Parallelism, domain: int | None) -> int:
    """Pipeline boundaries that leave a GPU-link domain of ``domain`` GPUs (stages fill a domain first)."""
    if par.pp == 1 or not domain or par.gpus <= domain:
        return 0
    per_node = max(domain // par.tp, 1)
    return math.ceil(par.pp / per_node) - 1


def check_device(par: Parallelism, device) -> None:
    """The layout on ``device``: tensor parallelism stays inside one GPU-link domain; a system entry
    has at most its GPU count."""
    from roofline.predict import DeviceUnusable
    from roofline.predict.collectives import domain_size

    if device.system is not None and par.gpus > device.system.count:
        raise DeviceUnusable("gpus", device.id, f"{par.gpus} GPUs asked for, the system has {device.system.count}")
    domain = domain_size(device)
    if par.tp > 1 and domain is not None and par.tp > domain:
        raise DeviceUnusable("gpus", device.id, f"--tp {par.tp} exceeds the {domain}-GPU {device.gpu_link.type or 'GPU-link'} "
                             "domain (tensor parallelism stays inside one domain; use --pp across nodes)")


def priced(plan: ParallelPlan, phase: str, device) -> list[tuple[Collective, float]]:
    """Each collective of ``phase`` with its time per phase run on ``device`` (count x one collective)."""
    from roofline.predict import DeviceUnusable
    from roofline.predict.collectives import collective_time_s, domain_size, link_of

    out = []
    crossings = pipeline_crossings(plan.parallelism, domain_size(device))
    for c in plan.collectives.get(phase, ()):
        parts = [(c.count, GPU_LINK)]
        if c.kind == P2P and crossings:
            parts = [(c.count - crossings, GPU_LINK), (crossings, NETWORK)]
        total = 0.0
        for count, scope in parts:
            if count <= 0:
                continue
            link = link_of(device, scope)
            if link is None:
                raise DeviceUnusable("missing spec", device.id, "no GPU link or host link bandwidth in the catalog: "
                                     "cannot cost the collectives of several GPUs")
            total += count * collective_time_s(c.kind, c.message_bytes, c.ranks, link)
        out.append((c, total))
    return out


__all__ = ["Parallelism", "ParallelPlan", "ParallelError", "Collective", "make_parallelism", "shard_overrides",
           "sharded_model", "layer_weight_bytes", "stage_kv_bytes", "communication", "pipeline_crossings",
           "check_device", "priced", "SINGLE"]
