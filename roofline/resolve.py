"""From what a user names to a scenario: a model name, an ``nn.Module``, a Workload or a Scenario.

A :class:`ScenarioSource` builds the model once and gives the scenario at any batch size and dtype
(one trace per batch size; dtypes are re-priced from the same trace where the scenario allows it).
Which scenario a model gets is decided here, once: ``hf:`` decoder-only language models get the
serving scenario (prefill + decode), everything else a forward pass. Options that do not apply to
the chosen scenario are a one-line error, never silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roofline.errors import RooflineError
from roofline.scenario import Scenario, forward_scenario
from roofline.workload.types import Workload


@dataclass(frozen=True)
class ModelOptions:
    """The model and input options every command takes (None: the model's default)."""

    imgsz: int | None = None
    input_shape: tuple[int, ...] | str | None = None
    prompt: int | None = None
    generate: int | None = None
    weights: str | None = None
    kv_dtype: str | None = None
    seq_len: int | None = None  # hf: text encoders: tokens per sequence
    audio_seconds: float | None = None  # hf: Whisper: seconds of audio in the window (at most 30)

    def given(self, *names: str) -> list[str]:
        return [f"--{n.replace('_', '-')}" for n in names if getattr(self, n) is not None]


_SERVING_ONLY = ("prompt", "generate", "weights", "kv_dtype")
_FORWARD_ONLY = ("imgsz", "input_shape", "seq_len")


def is_speech_model(model: Any) -> bool:
    """Whether ``model`` names an ``hf:`` Whisper configuration (encode, then the decoder's prefill and decode)."""
    if not isinstance(model, str) or not model.strip().startswith("hf:"):
        return False
    from roofline.sources.hf import is_whisper_spec

    return is_whisper_spec(model)


def is_serving_model(model: Any) -> bool:
    """Whether ``model`` names a decoder-only language model served token by token (``hf:`` encoders,
    vision and speech configs are one forward pass)."""
    if not isinstance(model, str) or not model.strip().startswith("hf:"):
        return False  # decided without importing the model sources (and torch)
    from roofline.sources import is_language_model

    return is_language_model(model)


class ScenarioSource:
    """A model built once, giving its scenario at any batch size and dtype."""

    def __init__(self, model: Any, options: ModelOptions | None = None, *, name: str | None = None):
        self.options = options or ModelOptions()
        self.model = model
        self._fixed: Scenario | None = None
        self._traced: dict[tuple, Workload] = {}  # (input shape, counting dtype) -> workload
        self._llm = None
        self._speech = None
        self._module = None
        self._default_shape = None
        self._stride = None
        self._spec: str | None = None
        self._cache_key: str | None = None
        self._cache_entry: dict | None = None  # roofline.workload_cache: traced workloads of this model on disk
        if isinstance(model, Scenario) or isinstance(model, Workload):
            if self.options != ModelOptions():
                raise RooflineError("model options do not apply to an already traced workload or scenario")
            self._fixed = model if isinstance(model, Scenario) else forward_scenario(model)
            self.kind = self._fixed.kind
            self.label = self._fixed.model
            return
        if isinstance(model, str) and is_speech_model(model):
            given = self.options.given(*_FORWARD_ONLY)
            if given:
                raise RooflineError(f"{model}: give --audio-seconds/--prompt/--generate/--batch for a speech model, "
                                    f"not {'/'.join(given)}")
            from roofline.llm.whisper import load_whisper

            self._speech = load_whisper(model.strip())
            self.kind = "serving"
            self.label = f"hf:{self._speech.name}"
            return
        if self.options.audio_seconds is not None:
            raise RooflineError(f"only hf: Whisper models take --audio-seconds (not {_label(model)!r})")
        if is_serving_model(model):
            given = self.options.given(*_FORWARD_ONLY)
            if given:
                raise RooflineError(f"{model}: give --prompt/--generate/--batch for a language model, not "
                                    f"{'/'.join(given)}")
            from roofline.llm.model import load_llm

            self._llm = load_llm(model.strip())
            self.kind = "serving"
            self.label = f"hf:{self._llm.name}"
            return
        given = self.options.given(*_SERVING_ONLY)
        if given:
            raise RooflineError(f"only hf: language models take {', '.join(given)} (not {_label(model)!r})")
        self.kind = "forward"
        if isinstance(model, str):
            from roofline import workload_cache

            self._spec, self.label = model, name or model
            if workload_cache.enabled():
                self._cache_key = workload_cache.model_key(model, seq_len=self.options.seq_len, label=self.label)
            entry = workload_cache.load(self._cache_key) if self._cache_key else None
            if entry is not None:  # traced before by this very code: the model is built only if a new shape needs it
                self._cache_entry = entry
                self._default_shape, self._stride = entry["default_shape"], entry["stride"]
            else:
                self._build()
        else:
            from torch import nn

            if not isinstance(model, nn.Module):
                raise RooflineError(f"cannot estimate a {type(model).__name__}: give a model name, an nn.Module, "
                                    "a Workload or a Scenario")
            self._module, self.label = model, name or type(model).__name__

    def _build(self) -> None:
        from roofline.sources import load_model

        built = load_model(self._spec, seq_len=self.options.seq_len)
        self._module, self._default_shape = built.model, built.default_input_shape
        self._stride = built.meta.get("stride") if isinstance(built.meta, dict) else None
        if self._cache_key and self._cache_entry is None:
            self._cache_entry = {"default_shape": self._default_shape, "stride": self._stride, "workloads": {}}

    @property
    def module(self):
        """The built nn.Module of a forward-pass model (None for language models and traced inputs)."""
        if self._module is None and self._spec is not None and self.kind == "forward":
            self._build()
        return self._module

    def input_shape(self, batch: int | None = None) -> tuple[int, ...]:
        from roofline.sources.shapes import resolve_input_shape

        return resolve_input_shape(self.label, self._default_shape, imgsz=self.options.imgsz,
                                   input_shape=self.options.input_shape, batch=batch, stride=self._stride)

    def scenario(self, batch: int | None = None, dtype: str | None = None, parallelism: Any = None) -> Scenario:
        if parallelism is not None and self._llm is None:
            raise RooflineError(f"--gpus/--tp/--pp/--ep apply to hf: language models, not {self.label!r}")
        if self._fixed is not None:
            if batch is not None and batch != self._fixed.batch:
                raise RooflineError(f"{self.label}: a traced workload has a fixed batch of {self._fixed.batch}")
            return self._fixed
        if self._speech is not None:
            from roofline.llm.whisper import make_speech_request, speech_scenario

            o = self.options
            request = make_speech_request(audio_seconds=o.audio_seconds, prompt=o.prompt, generate=o.generate,
                                          batch=batch, dtype=dtype, weights=o.weights, kv_dtype=o.kv_dtype)
            return speech_scenario(self._speech, request)
        if self._llm is not None:
            from roofline.llm.serving import make_request, serving_scenario

            o = self.options
            request = make_request(prompt=o.prompt, generate=o.generate, batch=batch, dtype=dtype, weights=o.weights,
                                   kv_dtype=o.kv_dtype)
            return serving_scenario(self._llm, request, parallelism)
        return forward_scenario(self.workload(batch, dtype))

    def workload(self, batch: int | None = None, dtype: str | None = None) -> Workload:
        """The forward pass at ``batch`` priced for ``dtype`` (one trace per batch size)."""
        from roofline.workload.dtypes import normalize_dtype

        dtype = normalize_dtype(dtype)
        if self._module is None and self._cache_entry is None:
            raise RooflineError(f"{self.label}: not a forward-pass model")
        shape = self.input_shape(batch)
        key = (shape, dtype)
        found = self._traced.get(key)
        if found is None and self._cache_entry is not None:
            found = self._cache_entry["workloads"].get(key)
        if found is None:
            from roofline.workload.build import analyze, reprice  # torch: only when something is traced

            same_shape = next((w for (s, _), w in self._traced.items() if s == shape and w.trace is not None), None)
            if same_shape is not None:
                found = reprice(same_shape, dtype)
            else:
                found = analyze(self.module, shape, dtype=dtype, name=self.label)
            if self._cache_entry is not None:
                from roofline import workload_cache

                self._cache_entry["workloads"][key] = workload_cache.storable(found)
                workload_cache.store(self._cache_key, self._cache_entry)
        self._traced[key] = found
        return found


def _label(model: Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


def load_scenario(model: Any, *, batch: int | None = None, dtype: str | None = None,
                  options: ModelOptions | None = None, name: str | None = None, parallelism: Any = None) -> Scenario:
    """The scenario of ``model`` (a name, an nn.Module with ``options.input_shape``, a Workload, a Scenario);
    ``parallelism`` (roofline.llm.parallel.Parallelism): one GPU of a multi-GPU replica of a language model."""
    return ScenarioSource(model, options, name=name).scenario(batch, dtype, parallelism)


def resolve_device(device: Any, catalog: Any = None):
    """A DeviceSpec from a spec or a catalog id (unknown ids: one-line error with suggestions)."""
    from roofline.catalog import DeviceSpec, load_catalog

    if isinstance(device, DeviceSpec):
        return device
    return (catalog if catalog is not None else load_catalog()).get(str(device).strip())


def resolve_devices(devices: Any = None, *, catalog: Any = None, kinds: Any = None) -> list:
    """DeviceSpecs from specs or catalog ids; None = the whole catalog, optionally only ``kinds``
    (an unknown kind is a one-line error). Duplicates are dropped, order kept."""
    from roofline.catalog import load_catalog

    if catalog is None:
        catalog = load_catalog()
    kinds = tuple(kinds or ())
    for k in kinds:
        catalog.by_kind(k)  # unknown kind: one-line error with a suggestion
    if devices is None:
        specs = list(catalog)
    else:
        specs = [resolve_device(d, catalog) for d in devices]
    if kinds:
        specs = [d for d in specs if d.kind in kinds]
    seen: set[str] = set()
    unique = []
    for d in specs:
        if d.id not in seen:
            seen.add(d.id)
            unique.append(d)
    return unique


__all__ = ["ModelOptions", "ScenarioSource", "load_scenario", "resolve_device", "resolve_devices", "is_serving_model",
           "is_speech_model"]
