"""Whisper speech recognition served as a scenario: an encode phase, then the decoder's prefill and decode.

``batch`` audio windows, each transcribed into ``generate`` tokens:

- **encode**: the encoder over one 30-s window of log-mel features (batch, mel bins, 3000 frames;
  Whisper's encoder takes exactly that many, so ``audio_seconds`` below 30 costs the same: the
  audio is padded, as Whisper pads it); runs once per request;
- **prefill**: the decoder over its prompt (``prompt`` tokens, default the 4-token start sequence
  ``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>``); besides its self-attention
  K/V it computes every layer's cross-attention K/V from the encoder output (two projections of
  1500 x d_model each) and stores them in the cross-attention cache;
- **decode**: ``generate - 1`` steps of one token; each appends to the self-attention cache and
  reads the whole of it, and reads the cross-attention cache (1500 positions per layer) without
  recomputing it. Steps are traced at the first and last KV length and interpolated, and their
  latency averaged, exactly as for decoder-only models (roofline.llm.serving).

The transformers implementation is run on fake tensors with pre-allocated caches passed in as
inputs (roofline.llm.trace's cache layers), so cache reads and writes are priced at the KV dtype
and weights in the weight format by the same pricing policy. Memory: weights + self-attention KV
at the full context (prompt + generate) + the cross-attention KV (1500 positions) for the whole
batch + the largest activation peak. TTFT is encode + prefill (roofline.estimation).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from roofline.errors import RooflineError
from roofline.llm.model import ContextLengthError, ParameterCount
from roofline.llm.precision import KV_BYTES
from roofline.llm.serving import LlmRequest, trapezoid_shares, DECODE_SAMPLES
from roofline.llm.trace import (CATEGORIES, PhaseShape, ServingPricing, _cache_class, _KVLayer, _phase_workload,
                                interpolate, phase_shape, weight_bytes)
from roofline.scenario import SERVING, Phase, PhaseSample, Scenario
from roofline.sources.hf import HfConfig, load_config, transformers_module

# The decoder's start sequence without timestamps: <|startoftranscript|>, the language, the task and
# <|notimestamps|> (openai/whisper, whisper/tokenizer.py, sot_sequence_including_notimestamps).
DEFAULT_PROMPT = 4
# openai/whisper's decoding length when none is given: n_text_ctx // 2 = 448 // 2 tokens
# (whisper/decoding.py, DecodingTask.sample_len).
DEFAULT_GENERATE = 224
WINDOW_S = 30.0  # seconds of audio in the encoder's 3000 frames (10 ms hop)
TRACED_DTYPES = ("fp16", "bf16", "fp32")  # activation dtypes Whisper is built and traced in

class SpeechModelError(RooflineError):
    """A Whisper request or configuration that cannot be estimated."""


@dataclass(frozen=True)
class SpeechArchitecture:
    """The numbers that size Whisper's encoder and decoder (from its config)."""

    model_type: str
    layers: int  # decoder layers (what the KV caches are per)
    encoder_layers: int
    hidden_size: int  # d_model
    attention_heads: int  # decoder heads
    head_dim: int
    mel_bins: int
    frames: int  # encoder input frames (3000)
    encoder_positions: int  # encoder output length = cross-attention context (1500)
    max_target_positions: int
    vocab_size: int

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _architecture(cfg) -> SpeechArchitecture:
    heads = int(cfg.decoder_attention_heads)
    positions = int(cfg.max_source_positions)
    return SpeechArchitecture(model_type=str(cfg.model_type), layers=int(cfg.decoder_layers),
                              encoder_layers=int(cfg.encoder_layers), hidden_size=int(cfg.d_model),
                              attention_heads=heads, head_dim=int(cfg.d_model) // heads,
                              mel_bins=int(cfg.num_mel_bins), frames=2 * positions, encoder_positions=positions,
                              max_target_positions=int(cfg.max_target_positions), vocab_size=int(cfg.vocab_size))


def _torch_dtype(dtype: str):
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]


@dataclass
class WhisperModel:
    """A Whisper configuration; the model is built lazily, on the meta device (no weights)."""

    hf: HfConfig
    config: Any
    arch: SpeechArchitecture
    _modules: dict[str, Any] = field(default_factory=dict, repr=False)
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.hf.name

    @property
    def source(self) -> str | None:
        return self.hf.source

    def model(self, dtype: str = "fp16") -> nn.Module:
        """``WhisperForConditionalGeneration`` in ``dtype`` on the meta device, fused SDPA attention."""
        found = self._modules.get(dtype)
        if found is None:
            transformers = transformers_module()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with torch.device("meta"):
                    found = transformers.WhisperForConditionalGeneration._from_config(
                        self.config, dtype=_torch_dtype(dtype), attn_implementation="sdpa")
            found = found.eval()
            self._modules[dtype] = found
        return found

    def tensor_table(self) -> list[tuple[str, int, int, int, int, bool]]:
        """Every parameter and buffer as (name, elements, dims, bytes per element (fp16), repeat 1, is_parameter);
        shared tensors (the tied output projection) once."""
        table = self.cache.get("tensor_table")
        if table is None:
            model = self.model("fp16")
            seen: set[int] = set()
            table = []
            items = [(n, p, True) for n, p in model.named_parameters(remove_duplicate=False)]
            items += [(n, b, False) for n, b in model.named_buffers(remove_duplicate=False)]
            for name, t, is_param in items:
                if id(t) not in seen:
                    seen.add(id(t))
                    table.append((name, t.numel(), t.dim(), t.element_size(), 1, is_param))
            self.cache["tensor_table"] = table
        return table

    @property
    def parameters(self) -> ParameterCount:
        total = sum(n for _, n, _, _, _, is_param in self.tensor_table() if is_param)
        embedding = sum(n for name, n, _, _, _, is_param in self.tensor_table()
                        if is_param and name.endswith("decoder.embed_tokens.weight"))
        return ParameterCount(total, total, embedding, 0)

    def check_context(self, context: int) -> None:
        limit = self.arch.max_target_positions
        if context > limit:
            raise ContextLengthError(f"hf:{self.name}: prompt + generate = {context:,} tokens exceed the decoder's "
                                     f"{limit:,} positions (max_target_positions)")

    def self_kv_bytes(self, context: int, batch: int, kv_bytes_per_element: float) -> int:
        """Self-attention cache: decoder layers x 2 (K, V) x d_model x context x batch x bytes."""
        a = self.arch
        return int(math.ceil(a.layers * 2 * a.hidden_size * context * batch * kv_bytes_per_element))

    def cross_kv_bytes(self, batch: int, kv_bytes_per_element: float) -> int:
        """Cross-attention cache: decoder layers x 2 (K, V) x d_model x 1500 encoder positions x batch x bytes."""
        a = self.arch
        return int(math.ceil(a.layers * 2 * a.hidden_size * a.encoder_positions * batch * kv_bytes_per_element))


def load_whisper(spec: str) -> WhisperModel:
    """``hf:whisper-small`` or a Whisper ``config.json`` -> a validated model description."""
    from roofline.sources.hf_encoders import build_config

    hf, cfg = build_config(spec.strip().removeprefix("hf:"))
    if getattr(cfg, "model_type", "") != "whisper":
        raise SpeechModelError(f"hf:{hf.name}: model_type {cfg.model_type!r} is not whisper")
    return WhisperModel(hf, cfg, _architecture(cfg))


# ------------------------------------------------------------------ traced modules

class EncoderPass(nn.Module):
    """The encoder over log-mel features (batch, mel bins, frames): its last hidden state."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.lm.model.encoder(input_features=features).last_hidden_state


class DecoderPhase(nn.Module):
    """The decoder on ``query`` new tokens with ``past`` tokens in its self-attention cache; the
    cross-attention cache is filled by this call (prefill) or already holds the encoder's K/V (decode).
    Logits of the last position only, as in generation."""

    def __init__(self, lm: nn.Module, past: int, cross_ready: bool, positions: int):
        super().__init__()
        self.lm = lm
        self.past = past
        self.cross_ready = cross_ready
        self.positions = positions

    def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor, *kv: torch.Tensor):
        from transformers.cache_utils import EncoderDecoderCache

        Cache = _cache_class()
        layers = len(kv) // 4
        own = Cache(layers=[_KVLayer(kv[4 * i], kv[4 * i + 1], self.past, None) for i in range(layers)])
        cross_past = self.positions if self.cross_ready else 0
        cross = Cache(layers=[_KVLayer(kv[4 * i + 2], kv[4 * i + 3], cross_past, None) for i in range(layers)])
        cache = EncoderDecoderCache(own, cross)
        q = input_ids.shape[1]
        positions = torch.arange(self.past, self.past + q).unsqueeze(0).expand(input_ids.shape[0], q)
        out = self.lm.model.decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states, cache=cache,
                                    position_ids=positions, use_cache=True)
        return self.lm.proj_out(out.last_hidden_state[:, -1:])


def _streamed(traced, categories: dict[str, np.ndarray], resident: int):
    """Ops that read weights or KV entries: a working set of everything that streams through once per pass."""
    from dataclasses import replace

    ops = []
    for n, op in enumerate(traced.ops):
        touches = any(categories[c][n] for c in CATEGORIES)
        ops.append(replace(op, index=n, working_set_bytes=max(op.working_set_bytes, resident) if touches
                           else op.working_set_bytes))
    return ops


def trace_encode(model: WhisperModel, *, batch: int, dtype: str, weights: str, kv_dtype: str):
    """The encode phase: the encoder over ``batch`` windows of 3000 frames."""
    key = ("encode", batch, dtype, weights, kv_dtype)
    if key in model.cache:
        return model.cache[key]
    from roofline.workload.build import analyze

    a = model.arch
    lm = model.model(dtype)
    features = torch.empty((batch, a.mel_bins, a.frames), dtype=_torch_dtype(dtype), device="meta")
    policy = ServingPricing(weights=weights, kv_dtype=kv_dtype, causal=False, dtype=dtype)
    traced = analyze(EncoderPass(lm), (features,), name=f"hf:{model.name}", policy=policy)
    cats = policy.per_op
    ops = _streamed(traced, cats, weight_bytes(model, dtype=dtype, weights=weights))
    shape = PhaseShape("encode", batch, a.encoder_positions, 0)
    w = _phase_workload(model, shape, ops, {c: round(float(v.sum())) for c, v in cats.items()},
                        traced.peak_activation_bytes, dtype=dtype, weights=weights, unsupported=traced.unsupported_ops)
    w.input_shapes = [(batch, a.mel_bins, a.frames)]
    w.cache["category_bytes_by_op"] = cats
    model.cache[key] = w
    return w


def trace_decoder(model: WhisperModel, *, batch: int, query: int, past: int, dtype: str, weights: str,
                  kv_dtype: str):
    """The decoder prefill (``past == 0``: computes and stores the cross-attention K/V) or a decode step."""
    key = ("decoder", batch, query, past, dtype, weights, kv_dtype)
    if key in model.cache:
        return model.cache[key]
    from roofline.workload.build import analyze

    a = model.arch
    lm = model.model(dtype)
    torch_dtype = _torch_dtype(dtype)
    kv = []
    for _ in range(a.layers):
        kv += [torch.empty((batch, a.attention_heads, past + query, a.head_dim), dtype=torch_dtype, device="meta")
               for _ in range(2)]
        kv += [torch.empty((batch, a.attention_heads, a.encoder_positions, a.head_dim), dtype=torch_dtype,
                           device="meta") for _ in range(2)]
    ids = torch.empty((batch, query), dtype=torch.long, device="meta")
    encoded = torch.empty((batch, a.encoder_positions, a.hidden_size), dtype=torch_dtype, device="meta")
    prefill = past == 0
    shape = PhaseShape("prefill" if prefill else "decode", batch, query, past)
    policy = ServingPricing(weights=weights, kv_dtype=kv_dtype, causal=prefill and query > 1, dtype=dtype)
    module = DecoderPhase(lm, past, cross_ready=not prefill, positions=a.encoder_positions)
    traced = analyze(module, (ids, encoded, *kv), name=f"hf:{model.name}", policy=policy)
    cats = policy.per_op
    resident = weight_bytes(model, dtype=dtype, weights=weights) + int(cats["kv_read"].sum() + cats["kv_write"].sum())
    ops = _streamed(traced, cats, resident)
    w = _phase_workload(model, shape, ops, {c: round(float(v.sum())) for c, v in cats.items()},
                        traced.peak_activation_bytes, dtype=dtype, weights=weights, unsupported=traced.unsupported_ops)
    w.cache["category_bytes_by_op"] = cats
    model.cache[key] = w
    return w


# ------------------------------------------------------------------ the scenario

@dataclass(frozen=True)
class SpeechRequest:
    """``batch`` windows of ``audio_seconds`` (at most 30 s) each transcribed into ``generate`` tokens."""

    request: LlmRequest
    audio_seconds: float = WINDOW_S


def make_speech_request(*, audio_seconds: float | None = None, prompt: int | None = None,
                        generate: int | None = None, batch: int | None = None, dtype: str | None = None,
                        weights: str | None = None, kv_dtype: str | None = None) -> SpeechRequest:
    """Validate user input (one-line errors); Whisper's own defaults for the prompt and the output length."""
    from roofline.llm.serving import make_request

    seconds = WINDOW_S if audio_seconds is None else audio_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= WINDOW_S:
        raise SpeechModelError(f"--audio-seconds must be in (0, {WINDOW_S:g}]: Whisper's encoder takes one "
                               f"{WINDOW_S:g}-s window (got {audio_seconds!r}); longer audio is transcribed window "
                               "by window, one request each")
    request = make_request(prompt=DEFAULT_PROMPT if prompt is None else prompt,
                           generate=DEFAULT_GENERATE if generate is None else generate, batch=batch, dtype=dtype,
                           weights=weights, kv_dtype=kv_dtype)
    if request.dtype not in TRACED_DTYPES:
        raise SpeechModelError(f"Whisper is estimated with fp16, bf16 or fp32 activations, not --dtype "
                               f"{request.dtype} (weight-only formats: --weights int8, int4...)")
    return SpeechRequest(request, float(seconds))


def speech_scenario(model: str | WhisperModel, speech: SpeechRequest | None = None) -> Scenario:
    """The encode, prefill and decode phases of ``speech`` (traced once, cached on the model)."""
    m = load_whisper(model) if isinstance(model, str) else model
    speech = speech or make_speech_request()
    r = speech.request
    m.check_context(r.context)
    key = ("scenario", speech)
    if key in m.cache:
        return m.cache[key]
    kw = dict(dtype=r.dtype, weights=r.weights, kv_dtype=r.kv_dtype)
    encode = trace_encode(m, batch=r.batch, **kw)
    prefill = trace_decoder(m, batch=r.batch, query=r.prompt, past=0, **kw)
    first, last = r.prompt, r.prompt + max(r.generate - 2, 0)
    a = trace_decoder(m, batch=r.batch, query=1, past=first, **kw)
    b = trace_decoder(m, batch=r.batch, query=1, past=last, **kw) if last != first else a
    count = 1 if last == first else min(DECODE_SAMPLES, last - first + 1)
    lengths = [first] if count == 1 else [round(first + (last - first) * i / (count - 1)) for i in range(count)]
    shares = trapezoid_shares(count)
    points = [interpolate(m, a, b, length) for length in lengths]
    mean_kv = sum(s * phase_shape(p).past for s, p in zip(shares, points))
    frames = m.arch.encoder_positions
    phases = (
        Phase("encode", 1.0, (PhaseSample(1.0, encode),),
              {"tokens": r.batch * frames, "kv_length": 0, "audio_seconds": speech.audio_seconds}),
        Phase("prefill", 1.0, (PhaseSample(1.0, prefill),),
              {"tokens": r.batch * r.prompt, "kv_length": 0, "cross_kv_length": frames}),
        Phase("decode", float(r.generate - 1), tuple(PhaseSample(s, p) for s, p in zip(shares, points)),
              {"tokens": r.batch, "kv_length": int(round(mean_kv)), "cross_kv_length": frames}),
    )
    kv_bytes = KV_BYTES[r.kv_dtype]
    self_kv = m.self_kv_bytes(r.context, r.batch, kv_bytes)
    cross_kv = m.cross_kv_bytes(r.batch, kv_bytes)
    scenario = Scenario(
        model=f"hf:{m.name}", kind=SERVING, phases=phases, batch=r.batch, dtype=r.dtype, unit="token",
        units_per_run=float(r.batch * r.generate), requests_per_run=r.batch,
        weight_bytes=weight_bytes(m, dtype=r.dtype, weights=r.weights), extra_memory_bytes=self_kv + cross_kv,
        default_runtime="compiled",
        options={**r.to_dict(), "context": r.context, "audio_seconds": speech.audio_seconds,
                 "self_kv_bytes": self_kv, "cross_kv_bytes": cross_kv})
    m.cache[key] = scenario
    return scenario


__all__ = ["WhisperModel", "SpeechArchitecture", "SpeechRequest", "SpeechModelError", "load_whisper",
           "make_speech_request", "speech_scenario", "trace_encode", "trace_decoder", "DEFAULT_PROMPT",
           "DEFAULT_GENERATE", "WINDOW_S"]
