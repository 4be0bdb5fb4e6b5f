"""Decoder-only language models from a Hugging Face ``config.json``: ``hf:PRESET`` or ``hf:PATH``.

The real implementation from ``transformers`` (extra ``llm``) is built from the configuration on
the meta device: no weights, no download, no network. Presets are the published ``config.json``
of well-known checkpoints, shipped in ``roofline/sources/presets/*.json``; keys starting with an
underscore (``_source``: the model card the numbers come from, ``_published_params``...) are
provenance, stripped before the configuration is built.

``hf:PATH`` accepts a ``config.json`` file, or a folder that holds one.
"""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roofline.sources.meta_build import on_meta
from roofline.errors import MissingExtraError, RooflineError, UnknownModelError

PRESETS_DIR = Path(__file__).with_name("presets")
EXTRA_HINT = "pip install 'roofline[llm]'"

# Attention implementations whose dispatch the tracer understands (fused SDPA is one aten op).
_ATTENTION = "sdpa"


class UnsupportedArchitectureError(RooflineError):
    """The configuration is not a decoder-only causal language model that transformers can build."""


@dataclass(frozen=True)
class HfConfig:
    """A model configuration and where it came from."""

    name: str  # preset name or file stem, e.g. "llama-3-8b"
    config: dict[str, Any]  # the config.json content, provenance keys removed
    source: str | None = None  # public URL of the model card ("_source"), when recorded
    path: str | None = None  # file it was read from
    provenance: dict[str, Any] = field(default_factory=dict)  # the stripped "_..." keys

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


def list_presets() -> list[str]:
    """Names of the shipped presets (``hf:llama-3-8b``...)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def _read_json(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UnknownModelError(f"hf:{label}: cannot read {path} ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RooflineError(f"hf:{label}: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise RooflineError(f"hf:{label}: {path} must hold a JSON object (a transformers config.json)")
    return data


def load_config(spec: str) -> HfConfig:
    """Resolve ``spec`` (a preset name, a config.json path or a folder holding one); no network."""
    spec = spec.strip().removeprefix("hf:")
    if not spec:
        raise UnknownModelError("hf: needs a preset name or a path to a config.json; presets: "
                                + ", ".join(list_presets()))
    preset = PRESETS_DIR / f"{spec.lower()}.json"
    path = Path(spec).expanduser()
    if preset.is_file() and not path.exists():
        data, name, where = _read_json(preset, spec), spec.lower(), preset
    elif path.is_dir():
        where = path / "config.json"
        if not where.is_file():
            raise UnknownModelError(f"hf:{spec}: no config.json in {path}")
        data, name = _read_json(where, spec), path.name
    elif path.is_file():
        data, name, where = _read_json(path, spec), path.stem if path.stem != "config" else path.parent.name, path
    else:
        import difflib

        close = difflib.get_close_matches(spec.lower(), list_presets(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join('hf:' + c for c in close)}?" if close else ""
        raise UnknownModelError(f"unknown model 'hf:{spec}'{hint} Give a preset ({', '.join(list_presets())}) "
                                "or a path to a config.json (no download: copy the file next to you)")
    provenance = {k: v for k, v in data.items() if k.startswith("_")}
    config = {k: v for k, v in data.items() if not k.startswith("_")}
    source = provenance.get("_source")
    return HfConfig(name, config, str(source) if source else None, str(where), provenance)


def is_whisper_spec(spec: str) -> bool:
    """Whether ``hf:SPEC`` is a Whisper encoder-decoder configuration (served as encode, prefill and decode
    by roofline.llm.whisper); an unreadable spec is not (its own path reports it)."""
    try:
        hf = load_config(spec)
    except RooflineError:
        return False
    return hf.model_type == "whisper" and bool(hf.config.get("is_encoder_decoder", True))


# ------------------------------------------------------------------ transformers

def transformers_module():
    """Import transformers, or say which extra installs it."""
    try:
        import transformers
    except ImportError as exc:
        raise MissingExtraError(f"transformers is not installed: {EXTRA_HINT}") from exc
    major = str(getattr(transformers, "__version__", "0")).split(".")[0]
    if major.isdigit() and int(major) < 5:
        raise MissingExtraError(f"transformers {transformers.__version__} is too old for LLM estimates (its cache "
                                "and experts interfaces): pip install -U 'transformers>=5'")
    return transformers


def _causal_lm_types() -> set[str]:
    """Decoder-only causal LMs: the causal-LM architectures that are not encoders with a decoder
    mode (BERT-like masked LMs) nor encoder-decoders (BART-like)."""
    from transformers.models.auto import modeling_auto as auto

    causal = set(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    encoders = set(auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES) | set(auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    return causal - encoders


def pretrained_config(hf: HfConfig, **overrides: Any):
    """The transformers configuration object, validated as a decoder-only causal LM."""
    transformers = transformers_module()
    model_type = hf.model_type
    label = f"hf:{hf.name}"
    if not model_type:
        raise UnsupportedArchitectureError(f"{label}: config has no model_type; a decoder-only transformers "
                                           "config.json is expected (e.g. llama, mistral, qwen2, mixtral)")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        raise UnsupportedArchitectureError(f"{label}: unknown model_type {model_type!r} (transformers "
                                           f"{transformers.__version__} does not know it)")
    if model_type not in _causal_lm_types():
        raise UnsupportedArchitectureError(f"{label}: model_type {model_type!r} is not a decoder-only causal "
                                           "language model (supported: llama, mistral, qwen2, gemma, mixtral... "
                                           "any AutoModelForCausalLM architecture)")
    values = copy.deepcopy(hf.config)
    values.pop("model_type", None)
    values.update(overrides)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = transformers.AutoConfig.for_model(model_type, **values)
    except Exception as exc:  # a malformed value in the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedArchitectureError(f"{label}: transformers rejects this config: {first}") from None
    if getattr(cfg, "is_encoder_decoder", False):
        raise UnsupportedArchitectureError(f"{label}: {model_type!r} is an encoder-decoder model; only "
                                           "decoder-only causal language models are supported")
    text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for attr in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        if not isinstance(getattr(text, attr, None), int):
            raise UnsupportedArchitectureError(f"{label}: config lacks {attr}; not a decoder-only transformer "
                                               "this tool can size")
    cfg._attn_implementation = _ATTENTION
    return cfg


def build_causal_lm(cfg, *, dtype: str = "fp16"):
    """Instantiate ``AutoModelForCausalLM`` from ``cfg`` on the meta device (no memory, no weights)."""
    transformers = transformers_module()
    import torch

    torch_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    last: Exception | None = None
    # fused SDPA first (one attention op per layer); architectures transformers runs only with its
    # eager attention (e.g. soft-capped logits) fall back to it
    for attention in (_ATTENTION, "eager"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with on_meta():
                    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch_dtype,
                                                                          attn_implementation=attention)
            return model.eval()
        except Exception as exc:
            last = exc
            if "attention implementation" not in str(exc) and "sdpa" not in str(exc).lower():
                break
    first = str(last).strip().splitlines()[0] if last is not None and str(last).strip() else type(last).__name__
    raise UnsupportedArchitectureError(f"{getattr(cfg, 'model_type', '?')}: transformers could not build the "
                                       f"model: {first}") from None


def prefill_module(lm):
    """An nn.Module taking a (batch, tokens) shape: the prefill of that many tokens, last logits only."""
    from torch import nn
    import torch

    class PrefillFromShape(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.lm = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ids = torch.zeros(tuple(x.shape[:2]), dtype=torch.long)
            return self.lm(input_ids=ids, use_cache=False, logits_to_keep=1).logits

    return PrefillFromShape(lm)


def build(spec: str):
    """``load_model("hf:...")``: the causal LM as a prefill module for ``roofline profile``.

    Its input is a shape (batch, tokens); the forward feeds token ids of that shape and returns
    the logits of the last position. Serving phases (prefill, decode with a KV cache) are in
    :mod:`roofline.llm`.
    """
    from roofline.sources.torchvision_models import BuiltModel

    from roofline.sources.hf_substitutes import fused_attention, install_moe_substitute

    hf = load_config(spec)
    cfg = pretrained_config(hf)
    lm = fused_attention(build_causal_lm(cfg, dtype="fp16"))
    install_moe_substitute(lm)  # mixture of experts: the shape-only experts dispatch (docs/llm.md)
    module = prefill_module(lm)
    return BuiltModel(module, f"hf:{hf.name}", (1, 128), {"source": hf.source, "model_type": cfg.model_type})


__all__ = ["HfConfig", "load_config", "list_presets", "is_whisper_spec", "pretrained_config", "build_causal_lm", "build", "prefill_module",
           "UnsupportedArchitectureError", "PRESETS_DIR", "EXTRA_HINT"]
