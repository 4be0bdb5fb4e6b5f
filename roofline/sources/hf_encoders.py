"""Hugging Face encoders, vision and speech models from their ``config.json``: ``hf:PRESET`` or ``hf:PATH``.

Everything that is not a decoder-only causal LM (those go to roofline.llm): BERT, RoBERTa,
DistilBERT (text encoders), ViT, DeiT (vision), CLIP (text and vision towers), T5 and Whisper
(encoder-decoders), and other transformers architectures with the same inputs. The model is
built by transformers from the configuration on the meta device (no weights, no network), in
eval mode with fused SDPA attention where the architecture has it, and counted as one forward
pass:

- which class: the checkpoint's ``architectures[0]`` when it is a task head used at inference
  (``...ForImageClassification``, ``...ForSequenceClassification``, ``...ForConditionalGeneration``...);
  pre-training heads (``...ForMaskedLM``, ``...ForPreTraining``) are training objectives, so the
  bare encoder (``AutoModel``) is built instead, as it is deployed for features and embeddings;
- inputs: token ids (integers, zeros) of shape (batch, ``--seq-len``, default 128, at most the
  model's maximum positions) for text; pixel values (batch, channels, ``--imgsz``) for images
  (default the configuration's ``image_size``); log-mel features (batch, mel bins, 3000) for
  Whisper, whose encoder takes exactly 30 s of audio; CLIP gets both an image and ``--seq-len``
  tokens (default its 77 positions);
- encoder-decoders (T5, Whisper) run their encoder on the input and their decoder for one step
  (one decoder token): the first generated token. Longer generation is a loop of such steps.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from roofline.sources.meta_build import on_meta
from roofline.errors import InputShapeError, RooflineError
from roofline.sources.torchvision_models import BuiltModel

DEFAULT_SEQ_LEN = 128
WHISPER_FRAMES = 3000  # 30 s of 10 ms log-mel frames: the input length Whisper's encoder accepts

# heads that are training objectives, not what inference runs
_PRETRAINING_HEADS = ("ForMaskedLM", "ForPreTraining", "ForMaskedImageModeling", "ForNextSentencePrediction")


class EncoderConfigError(RooflineError):
    """The configuration cannot be built as an encoder or encoder-decoder model."""


def is_encoder_spec(spec: str) -> bool:
    """Whether ``hf:SPEC`` names a configuration that is not a decoder-only causal LM."""
    from roofline.sources.hf import _causal_lm_types, load_config, transformers_module

    hf = load_config(spec)
    model_type = hf.model_type
    if not model_type:
        return False  # let the LLM path give its own error
    try:
        transformers_module()
        decoder_only = model_type in _causal_lm_types()
    except Exception:
        return False
    if hf.config.get("is_encoder_decoder"):
        return True
    return not decoder_only


@dataclass(frozen=True)
class Modality:
    kind: str  # "tokens", "image", "audio", "image+tokens", "tokens+decoder", "audio+decoder"
    seq_len: int | None = None  # tokens per sequence (text)
    max_positions: int | None = None
    image_size: int | None = None
    channels: int | None = None
    mel_bins: int | None = None
    frames: int | None = None


def _get(cfg, *names, default=None):
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None:
            return v
    return default


def _modality(cfg) -> Modality:
    model_type = getattr(cfg, "model_type", "")
    if model_type == "whisper" or getattr(cfg, "num_mel_bins", None):
        frames = 2 * int(getattr(cfg, "max_source_positions", WHISPER_FRAMES // 2))
        return Modality("audio+decoder" if getattr(cfg, "is_encoder_decoder", False) else "audio",
                        mel_bins=int(cfg.num_mel_bins), frames=frames)
    text_cfg = getattr(cfg, "text_config", None)
    vision_cfg = getattr(cfg, "vision_config", None)
    if text_cfg is not None and vision_cfg is not None:
        size = _image_size(vision_cfg)
        return Modality("image+tokens", seq_len=_get(text_cfg, "max_position_embeddings", default=77),
                        max_positions=_get(text_cfg, "max_position_embeddings"), image_size=size,
                        channels=int(_get(vision_cfg, "num_channels", default=3)))
    if _get(cfg, "image_size") is not None and _get(cfg, "vocab_size") is None:
        return Modality("image", image_size=_image_size(cfg), channels=int(_get(cfg, "num_channels", default=3)))
    max_pos = _get(cfg, "max_position_embeddings", "n_positions")
    kind = "tokens+decoder" if getattr(cfg, "is_encoder_decoder", False) else "tokens"
    return Modality(kind, seq_len=min(DEFAULT_SEQ_LEN, max_pos) if max_pos else DEFAULT_SEQ_LEN,
                    max_positions=None if getattr(cfg, "relative_attention_num_buckets", None) else max_pos)


def _image_size(cfg) -> int:
    size = _get(cfg, "image_size", default=224)
    if isinstance(size, (list, tuple)):
        size = size[0]
    return int(size)


class EncoderFromShape(nn.Module):
    """One forward pass of an encoder (or one encoder pass and one decoder step) from an input shape.

    Its input is a tensor whose shape sets the model's inputs: (batch, tokens) for text,
    (batch, channels, height, width) for images, (batch, mel bins, frames) for audio; token ids
    are integer zeros of that shape.
    """

    def __init__(self, model: nn.Module, modality: Modality, text_len: int | None = None):
        super().__init__()
        self.model = model
        self.kind = modality.kind
        self.image_size = modality.image_size
        self.text_len = text_len or modality.seq_len
        self.start_token = int(getattr(model.config, "decoder_start_token_id", None) or 0)

    def forward(self, x: torch.Tensor):
        batch = x.shape[0]
        kwargs: dict[str, Any] = {}
        if self.kind in ("tokens", "tokens+decoder"):
            kwargs["input_ids"] = torch.zeros(tuple(x.shape[:2]), dtype=torch.long)
        elif self.kind == "image":
            kwargs["pixel_values"] = x
            if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
                kwargs["interpolate_pos_encoding"] = True
        elif self.kind == "image+tokens":
            kwargs["pixel_values"] = x
            kwargs["input_ids"] = torch.zeros((batch, self.text_len), dtype=torch.long)
            if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
                kwargs["interpolate_pos_encoding"] = True
        elif self.kind in ("audio", "audio+decoder"):
            kwargs["input_features"] = x
        if self.kind.endswith("+decoder"):
            kwargs["decoder_input_ids"] = torch.full((batch, 1), self.start_token, dtype=torch.long)
            kwargs["use_cache"] = False
        return self.model(**kwargs)


def _model_class(transformers, cfg):
    """The class to build: the checkpoint's inference head, or the bare model for pre-training heads."""
    archs = list(getattr(cfg, "architectures", None) or [])
    aliases = {"T5WithLMHeadModel": "T5ForConditionalGeneration"}
    for arch in archs[:1]:
        arch = aliases.get(arch, arch)
        if any(arch.endswith(h) for h in _PRETRAINING_HEADS):
            break
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls, arch
    if getattr(cfg, "is_encoder_decoder", False):
        return transformers.AutoModelForSeq2SeqLM, "AutoModelForSeq2SeqLM"
    return transformers.AutoModel, "AutoModel"


def build_config(spec: str):
    """(HfConfig, transformers configuration) for an encoder ``hf:`` spec."""
    from roofline.sources.hf import load_config, transformers_module

    transformers = transformers_module()
    hf = load_config(spec)
    values = dict(hf.config)
    model_type = values.pop("model_type", "")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        raise EncoderConfigError(f"hf:{hf.name}: unknown model_type {model_type!r} (transformers "
                                 f"{transformers.__version__} does not know it)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = transformers.AutoConfig.for_model(model_type, **values)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EncoderConfigError(f"hf:{hf.name}: transformers rejects this config: {first}") from None
    return hf, cfg


def _build_module(transformers, cfg, name: str) -> tuple[nn.Module, str]:
    cls, label = _model_class(transformers, cfg)
    last: Exception | None = None
    for attention in ("sdpa", "eager"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with on_meta():
                    if hasattr(cls, "from_config"):
                        model = cls.from_config(cfg, attn_implementation=attention)
                    else:
                        model = cls._from_config(cfg, attn_implementation=attention)
            return model.eval(), label
        except Exception as exc:
            last = exc
    first = str(last).strip().splitlines()[0] if last is not None and str(last).strip() else "?"
    raise EncoderConfigError(f"hf:{name}: transformers could not build {label}: {first}") from None


def build(spec: str, *, seq_len: int | None = None) -> BuiltModel:
    """``load_model("hf:...")`` for an encoder, vision, speech or encoder-decoder configuration."""
    from roofline.sources.hf import transformers_module

    transformers = transformers_module()
    hf, cfg = build_config(spec)
    model, label = _build_module(transformers, cfg, hf.name)
    modality = _modality(cfg)
    text_len = None
    if seq_len is not None:
        if seq_len <= 0:
            raise InputShapeError(f"--seq-len must be a positive integer, got {seq_len}")
        if "tokens" not in modality.kind:
            raise InputShapeError(f"hf:{hf.name} takes {modality.kind} input, not tokens: --seq-len does not apply "
                                  "(use --imgsz or --input-shape)")
        text_len = seq_len
    if modality.max_positions and (text_len or modality.seq_len or 0) > modality.max_positions:
        raise InputShapeError(f"hf:{hf.name}: {text_len} tokens exceed its {modality.max_positions} positions "
                              "(max_position_embeddings)")
    module = EncoderFromShape(model, modality, text_len)
    if modality.kind in ("tokens", "tokens+decoder"):
        shape: tuple[int, ...] = (1, text_len or modality.seq_len or DEFAULT_SEQ_LEN)
    elif modality.kind.startswith("audio"):
        shape = (1, modality.mel_bins or 80, modality.frames or WHISPER_FRAMES)
    else:
        shape = (1, modality.channels or 3, modality.image_size or 224, modality.image_size or 224)
    meta = {"source": hf.source, "model_type": hf.model_type, "class": label, "input": modality.kind,
            "published_params": hf.provenance.get("_published_params"),
            "published_params_source": hf.provenance.get("_published_params_source")}
    return BuiltModel(module, f"hf:{hf.name}", shape, meta)


__all__ = ["build", "build_config", "is_encoder_spec", "EncoderFromShape", "EncoderConfigError", "DEFAULT_SEQ_LEN",
           "WHISPER_FRAMES"]
