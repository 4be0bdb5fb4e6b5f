"""Continuous batching in steady state: what one replica of a language model sustains at a load.

A replica runs *steps*. Each step is one forward over the tokens of every running sequence (one decode
token each) and of the prompt chunks admitted in that step (chunked prefill sharing the step with
decode, as vLLM and TensorRT-LLM schedule). With ``C`` sequences decoding and a request mix of mean
input length ``E[isl]`` and mean output length ``E[osl]`` (request-weighted):

    requests admitted (and finished) per step   r = C / E[osl]
    prefill tokens per step                     P = r x E[isl]      (= C x ISL / OSL for fixed lengths)
    tokens through the decoder layers           N = C + P
    tokens through the LM head                  C + r               (logits of the decode tokens and of
                                                                     each prompt's last token)

A prompt is prefilled in chunks of at most ``chunk_tokens`` (default :data:`DEFAULT_CHUNK_TOKENS`), one
chunk per step, so its time to first token spans ``ceil(isl / chunk)`` steps.

**Memory (paged KV cache).** Pages are taken as sequences grow, so a replica holds the KV cache of its
running sequences at their mean resident length ``R = sum w osl (isl + (osl + 1) / 2) / sum w osl``
(time-weighted over each sequence's residency):

    max concurrency = floor((usable memory - weights - activations - workspace)
                            / (KV bytes per token x R))

(a sliding-window layer holds ``min(R, window)`` tokens; activations are the peak of the step at that
concurrency; usable memory and workspace are those of roofline.predict.memory).

**Step time: the per-op roofline of one step.** Decode steps are traced (roofline.llm.trace) at two
batch sizes ``b1 < b2`` (a mixture of experts: powers of two bracketing ``N``) and two KV lengths ``L1 < L2`` spanning the mix.
Every op's FLOPs and bytes are bilinear in (batch, KV length), ``q = A + B b + G L + H b L`` (exact for
dense models: linear layers scale with the tokens, attention and KV reads with tokens x length; tests
compare with a traced step op by op; a dense model is traced at batch 1 and :data:`DENSE_BATCH`), and the
step is composed op by op from those four corners:

    q_step = A + B x N + G x L + H x X
    X = C x L + r x E[isl (isl - 1) / 2]                       FLOPs and every byte but the cache reads
                                                               (causal attention pairs of the chunks)
    X = C x L + r x E[chunk x n (n - 1) / 2], n = ceil(isl / chunk)   the part of an op's reads that is
                                                               the KV cache (each chunk reads the
                                                               prompt's earlier KV once)

with ``L = R - 1`` the mean decode KV length, and the head ops (after the last decoder layer) at ``C + r``
tokens. The step's records go through :func:`roofline.predict.predict` like every other workload: its
latency is the step time ``T(C)``, its energy the step energy. Mixture-of-experts weight bytes are not
affine in the batch (the experts touched saturate): between the traced powers of two they are
interpolated linearly, exact at the traced sizes. The activation peak is taken at ``N`` tokens through
every op (an upper estimate: the head sees ``C + r``).

**At a concurrency C** (steps back to back):

    TPOT = T(C);  output tokens/s = C / T(C);  requests/s = C / (E[osl] T(C))
    TTFT_p = W_p + (ceil(isl_p / chunk) + 1) x T(C)     (isl_p: the mix's p-quantile input length; one
                                                        more step to join the running batch)

**At a request rate** ``lam``: the concurrency solving Little's law ``C = lam E[osl] T(C)`` (bisection;
throughput rises with C). A running sequence holds one of ``c = max concurrency`` KV slots for
``s = E[osl] T(C)``; the wait for a slot ``W`` is the M/G/c queue in the Allen-Cunneen approximation:
Erlang C's probability of waiting ``P_w(c, a = lam s)`` with the M/M/c exponential tail, scaled by
``(Ca^2 + Cs^2) / 2`` (Poisson arrivals: Ca^2 = 1; Cs^2 = Var(osl) / E[osl]^2, 0 for fixed lengths):

    W_p = (Ca^2 + Cs^2) / 2 x max(0, ln(P_w / (1 - p))) / (c / s - lam)

This is :data:`QUEUEING_APPROXIMATION`, stated in every result.

**Goodput under SLOs**: the highest request rate whose TTFT p-quantile and TPOT meet both limits
(bisection over the concurrency; a looser limit never lowers it). **Maximum throughput**: the rate at
the KV-limited concurrency.

**Several GPUs per replica** (``parallelism``: roofline.llm.parallel, tensor x pipeline, expert parallel):
the corners are traced on one GPU's shard; the running sequences go through the ``pp`` stages in ``pp``
micro-batches of ``C / pp``, so a step is one GPU's shard over the full depth at the micro-batch plus the
step's collectives (all-reduces of ``N`` tokens, the logits' all-gather, all-to-alls, pipeline sends),
added, not overlapped; memory is per GPU (one stage's layers, its KV of every running sequence); power
and energy are per GPU (collectives at idle power). Figures are per replica; ``_per_gpu`` ones divide
by its GPUs.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from roofline.errors import RooflineError

DEFAULT_CHUNK_TOKENS = 2048  # vLLM's tuning guide names 2048 for inter-token latency (docs/llm.md)
DEFAULT_QUANTILE = 0.99
QUEUEING_APPROXIMATION = (
    "Poisson arrivals; a running sequence holds one of c KV slots (c = the KV-limited concurrency) for "
    "E[osl] x step time; the wait for a slot is M/G/c in the Allen-Cunneen approximation: Erlang C's "
    "probability of waiting with the M/M/c exponential tail, scaled by (Ca^2 + Cs^2) / 2 with Ca^2 = 1 and "
    "Cs^2 = Var(osl) / E[osl]^2; TTFT p-quantile = wait p-quantile + (ceil(isl_p / chunk) + 1) steps; TPOT = the "
    "mean step time at the steady-state concurrency")

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)(?=\.|$)")
_BISECTIONS = 40
DENSE_BATCH = 1024  # the second traced batch size of a dense model (any other gives the same records)


class MixError(RooflineError):
    """A request mix (lengths, or a distribution file) that cannot be used."""


class LoadError(RooflineError):
    """A request rate, SLO, concurrency or chunk size out of range."""


# ------------------------------------------------------------------ request mix

@dataclass(frozen=True)
class RequestClass:
    isl: int  # input (prompt) tokens
    osl: int  # output (generated) tokens
    weight: float = 1.0  # share of the requests (normalised over the mix)


def _length(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MixError(f"{where}{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class RequestMix:
    """Request classes of input and output lengths with their shares; means are request-weighted."""

    classes: tuple[RequestClass, ...]
    source: str = "fixed"

    def __post_init__(self) -> None:
        if not self.classes:
            raise MixError("a request mix needs at least one {isl, osl} entry")

    @classmethod
    def fixed(cls, isl: int, osl: int) -> "RequestMix":
        return cls((RequestClass(_length(isl, "--isl", ""), _length(osl, "--osl", "")),))

    @property
    def _weights(self) -> np.ndarray:
        w = np.array([c.weight for c in self.classes], dtype=float)
        return w / w.sum()

    def mean(self, values) -> float:
        return float(np.dot(self._weights, np.asarray(values, dtype=float)))

    @property
    def mean_isl(self) -> float:
        return self.mean([c.isl for c in self.classes])

    @property
    def mean_osl(self) -> float:
        return self.mean([c.osl for c in self.classes])

    @property
    def osl_cv2(self) -> float:
        """Squared coefficient of variation of the output length (of a KV slot's holding time)."""
        m = self.mean_osl
        return self.mean([(c.osl - m) ** 2 for c in self.classes]) / (m * m)

    @property
    def mean_resident_tokens(self) -> float:
        """Tokens a running sequence holds in the KV cache, averaged over its residency."""
        return self.resident_mean(lambda r: r)

    def resident_mean(self, fn) -> float:
        """The residency-weighted mean of ``fn(resident tokens)`` over the classes."""
        w = self._weights * np.array([c.osl for c in self.classes], dtype=float)
        values = np.array([fn(c.isl + (c.osl + 1) / 2) for c in self.classes], dtype=float)
        return float(np.dot(w, values) / w.sum())

    @property
    def max_context(self) -> int:
        return max(c.isl + c.osl for c in self.classes)

    def isl_quantile(self, p: float) -> int:
        """The input length at quantile ``p`` of the requests (the smallest with cumulative share >= p)."""
        order = sorted(zip([c.isl for c in self.classes], self._weights))
        total = 0.0
        for isl, w in order:
            total += w
            if total >= p - 1e-12:
                return isl
        return order[-1][0]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "classes": [asdict(c) for c in self.classes], "mean_isl": self.mean_isl,
                "mean_osl": self.mean_osl, "mean_resident_tokens": self.mean_resident_tokens}


def load_mix(path: str | Path) -> RequestMix:
    """A distribution file: a YAML or JSON list of ``{isl, osl, weight}`` (weight optional, default 1)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MixError(f"request mix file {str(path)!r} not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MixError(f"{p.name}: not valid YAML or JSON ({first})") from None
    if not isinstance(data, list) or not data:
        raise MixError(f"{p.name}: expected a non-empty list of {{isl, osl, weight}} entries")
    classes = []
    for i, entry in enumerate(data, 1):
        where = f"{p.name}: entry {i}: "
        if not isinstance(entry, dict):
            raise MixError(f"{where}expected a mapping with isl, osl and weight, got {entry!r}")
        unknown = set(entry) - {"isl", "osl", "weight"}
        if unknown:
            raise MixError(f"{where}unknown key {sorted(unknown)[0]!r} (keys: isl, osl, weight)")
        for key in ("isl", "osl"):
            if key not in entry:
                raise MixError(f"{where}missing {key!r}")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise MixError(f"{where}weight must be a positive number, got {weight!r}")
        classes.append(RequestClass(_length(entry["isl"], "isl", where), _length(entry["osl"], "osl", where),
                                    float(weight)))
    return RequestMix(tuple(classes), source=p.name)


# ------------------------------------------------------------------ results

@dataclass(frozen=True)
class KvLimit:
    """The KV-cache-limited concurrency of one replica, with the terms of its formula (bytes per GPU)."""

    usable_bytes: float | None
    weight_bytes: int
    activation_bytes: int
    workspace_bytes: int
    kv_bytes_per_token: float  # full-attention layers; a sliding layer holds at most its window
    mean_resident_tokens: float
    kv_bytes_per_sequence: float
    max_concurrency: int  # 0: the weights alone do not fit
    limited_by: str = "kv cache"  # or "max concurrency" when a cap was given
    formula: str = ("max concurrency = floor((usable memory - weights - activations - workspace) / (KV bytes per "
                    "token x mean resident tokens per sequence))")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OperatingPoint:
    """One replica in steady state at a concurrency (SI units; per replica unless ``_per_gpu``)."""

    concurrency: float
    step_s: float
    tpot_s: float
    ttft_s: float  # the p-quantile (``quantile``)
    ttft_service_s: float  # without the queueing wait
    queue_wait_s: float  # its p-quantile
    quantile: float
    requests_per_s: float
    output_tokens_per_s: float
    prefill_tokens_per_step: float
    tokens_per_step: float
    kv_utilization: float  # concurrency / KV-limited concurrency
    power_w: float | None  # per GPU, steps back to back
    energy_per_token_j: float | None  # per output token, the whole replica
    gpus_per_replica: int
    bound: str

    @property
    def requests_per_s_per_gpu(self) -> float:
        return self.requests_per_s / self.gpus_per_replica

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self.output_tokens_per_s / self.gpus_per_replica

    def to_dict(self) -> dict[str, Any]:
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}
        out["requests_per_s_per_gpu"] = self.requests_per_s_per_gpu
        out["output_tokens_per_s_per_gpu"] = self.output_tokens_per_s_per_gpu
        return out


# ------------------------------------------------------------------ queueing

def erlang_c(servers: int, offered: float) -> float:
    """Erlang C: the probability that an arrival waits in an M/M/c queue with ``offered`` = lam / mu < c."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    from scipy.special import gammaincc

    # Erlang B = Poisson pmf(c; a) / Poisson cdf(c; a); cdf(c; a) = Q(c + 1, a)
    log_pmf = servers * math.log(offered) - offered - math.lgamma(servers + 1)
    cdf = float(gammaincc(servers + 1, offered))
    if cdf <= 0:
        return 1.0
    b = min(1.0, math.exp(log_pmf) / cdf)
    return servers * b / (servers - offered * (1 - b))


def wait_quantile(servers: int, rate: float, holding_s: float, quantile: float, variability: float) -> float:
    """The ``quantile`` of the wait for one of ``servers`` slots (QUEUEING_APPROXIMATION); inf when saturated."""
    if rate <= 0:
        return 0.0
    offered = rate * holding_s
    if offered >= servers:
        return math.inf
    p_wait = erlang_c(servers, offered)
    if p_wait <= 1 - quantile:
        return 0.0
    spare = servers / holding_s - rate
    if spare <= 0:
        return math.inf
    return variability * math.log(p_wait / (1 - quantile)) / spare


# ------------------------------------------------------------------ the step model

@dataclass
class _Segment:
    """Bilinear coefficients of every op between two traced batch sizes and two KV lengths."""

    b1: int
    b2: int
    base: Any  # the corner workload (b2, L2): structure, dtypes, modules
    coef: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # quantity -> (A, B, G, H)
    kv_ops: np.ndarray  # ops that read or write the cache
    head: np.ndarray  # ops after the last decoder layer
    view: np.ndarray
    peak: tuple[float, float, float, float]


_QUANTITIES = ("flops", "macs", "bytes_read", "bytes_written", "bytes_fused", "working_set_bytes")
_CATS = ("weight", "kv_read", "kv_write")


def _bilinear(q11, q21, q12, q22, b1, b2, l1, l2):
    h = (q22 - q21 - q12 + q11) / ((b2 - b1) * (l2 - l1))
    b = (q21 - q11) / (b2 - b1) - h * l1
    g = (q12 - q11) / (l2 - l1) - h * b1
    a = q11 - b * b1 - g * l1 - h * b1 * l1
    return a, b, g, h


class ContinuousBatching:
    """One replica of ``model`` on ``device`` serving ``mix`` with continuous batching (module docstring).

    ``model``: an ``hf:`` name or an LlmModel; ``device``: a catalog id or a DeviceSpec. ``parallelism``:
    GPUs per replica (an object with ``tp`` and ``pp``; None: one GPU).
    """

    def __init__(self, model: Any, device: Any, *, mix: RequestMix | None = None, dtype: str | None = None,
                 weights: str | None = None, kv_dtype: str | None = None, runtime: Any = None, tier: Any = None,
                 chunk_tokens: int = DEFAULT_CHUNK_TOKENS, quantile: float = DEFAULT_QUANTILE,
                 max_concurrency: int | None = None, parallelism: Any = None, catalog: Any = None):
        from roofline.llm.model import load_llm
        from roofline.llm.precision import KV_BYTES, resolve_precision
        from roofline.llm.trace import weight_bytes
        from roofline.predict.efficiency import parse_runtime, parse_tier
        from roofline.resolve import resolve_device

        if isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, int) or chunk_tokens < 1:
            raise LoadError(f"--chunk must be a positive number of tokens, got {chunk_tokens!r}")
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
            raise LoadError(f"the TTFT quantile must be in (0, 1), got {quantile!r}")
        if max_concurrency is not None and (isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
                                            or max_concurrency < 1):
            raise LoadError(f"--max-concurrency must be a positive integer, got {max_concurrency!r}")
        self.llm = load_llm(model) if isinstance(model, str) else model
        self.device = resolve_device(device, catalog)
        self.mix = mix or RequestMix.fixed(1024, 256)
        self.llm.check_context(self.mix.max_context)
        self.dtype, self.weights, self.kv_dtype = resolve_precision(dtype, weights, kv_dtype)
        self.kv_bytes = KV_BYTES[self.kv_dtype]
        self.runtime = parse_runtime(runtime or "compiled")
        self.tier = parse_tier(tier)
        self.chunk = chunk_tokens
        self.quantile = float(quantile)
        self.cap = max_concurrency
        from roofline.llm.parallel import check_device, layer_weight_bytes, sharded_model

        self.parallelism = as_parallelism(parallelism)
        par = self.parallelism
        self.gpus_per_replica = par.gpus
        self.shard = sharded_model(self.llm, par)  # one GPU's shard (the model itself on one GPU)
        if par.gpus > 1:
            check_device(par, self.device)
            layers, rest = layer_weight_bytes(self.shard, dtype=self.dtype, weights=self.weights)
            self.weight_bytes = layers // par.pp + rest  # per GPU: one stage's layers, embedding and head
        else:
            self.weight_bytes = weight_bytes(self.llm, dtype=self.dtype, weights=self.weights)
        isl = [c.isl for c in self.mix.classes]
        ctx = [c.isl + c.osl for c in self.mix.classes]
        self.l1 = max(1, min(isl))
        self.l2 = max(max(ctx) - 1, self.l1 + 1)
        self.kv_past = self.mix.mean_resident_tokens - 1  # mean decode KV length
        mix_ = self.mix
        r = 1.0 / mix_.mean_osl  # requests per step per running sequence
        self._r = r
        self._pairs = r * mix_.mean([c.isl * (c.isl - 1) / 2 for c in mix_.classes])
        self._entries = r * mix_.mean([self.chunk * n * (n - 1) / 2
                                       for n in (math.ceil(c.isl / self.chunk) for c in mix_.classes)])
        self._segments: dict[int, _Segment] = {}
        self._steps: dict[float, Any] = {}
        self._limit: KvLimit | None = None

    # -- tracing and composition
    def _trace(self, batch: int, past: int):
        from roofline.llm.trace import trace_phase

        return trace_phase(self.shard, batch=batch, query=1, past=past, dtype=self.dtype, weights=self.weights,
                           kv_dtype=self.kv_dtype)

    def _segment(self, tokens: float) -> _Segment:
        if self.shard.arch.is_moe:  # the experts touched saturate: piecewise between powers of two
            b1 = 1 if tokens < 2 else 2 ** int(math.floor(math.log2(tokens)))
            b2 = 2 * b1
        else:  # bilinear everywhere: one pair of batch sizes serves every step
            b1, b2 = 1, DENSE_BATCH
        seg = self._segments.get(b1)
        if seg is not None:
            return seg
        corners = {(b, l): self._trace(b, l) for b in (b1, b2) for l in (self.l1, self.l2)}
        base = corners[b2, self.l2]
        n = len(base.ops)
        if any(len(w.ops) != n or any(x.op != y.op for x, y in zip(w.ops, base.ops)) for w in corners.values()):
            from roofline.llm.trace import PhaseError

            raise PhaseError("decode traces at two batch sizes or KV lengths differ in structure; cannot compose a step")

        def arr(w, name):
            if name in _CATS:
                return np.asarray(w.cache["category_bytes_by_op"][name], dtype=float)
            return np.fromiter((getattr(op, name) for op in w.ops), dtype=float, count=n)

        coef = {}
        for name in (*_QUANTITIES, *_CATS):
            q = {k: arr(w, name) for k, w in corners.items()}
            coef[name] = _bilinear(q[b1, self.l1], q[b2, self.l1], q[b1, self.l2], q[b2, self.l2], b1, b2,
                                   self.l1, self.l2)
        peaks = {k: float(w.peak_activation_bytes) for k, w in corners.items()}
        peak = _bilinear(peaks[b1, self.l1], peaks[b2, self.l1], peaks[b1, self.l2], peaks[b2, self.l2], b1, b2,
                         self.l1, self.l2)
        kv_ops = (coef["kv_read"][3] != 0) | (coef["kv_write"][3] != 0) | (arr(base, "kv_read") > 0) | \
            (arr(base, "kv_write") > 0)
        layers = [i for i, op in enumerate(base.ops) if _LAYER.search(op.module)]
        head = np.zeros(n, dtype=bool)
        if layers:
            head[layers[-1] + 1:] = True
        view = np.fromiter((op.is_view for op in base.ops), dtype=bool, count=n)
        seg = _Segment(b1, b2, base, coef, kv_ops, head, view, peak)
        self._segments[b1] = seg
        return seg

    def _terms(self, concurrency: float) -> tuple[float, float, float, float, float]:
        """(sequences, tokens, head tokens, attention pairs, KV entries) of one micro-batch of the step: the
        running sequences split into ``pp`` micro-batches (one on a single stage), at least one sequence."""
        c = max(float(concurrency) / self.parallelism.pp, 1.0)
        r = c * self._r
        tokens = c + r * self.mix.mean_isl
        head_tokens = c + r
        pairs = c * self.kv_past + c * self._pairs
        entries = c * self.kv_past + c * self._entries
        return c, tokens, head_tokens, pairs, entries

    def _values(self, concurrency: float) -> tuple[_Segment, dict[str, np.ndarray], float]:
        c, tokens, head_tokens, pairs, entries = self._terms(concurrency)
        seg = self._segment(tokens)
        per_op_tokens = np.where(seg.head, head_tokens, tokens)
        out = {}
        h_kv = seg.coef["kv_read"][3]  # the part of an op's reads that is the cache: once per chunk
        for name, (a, b, g, h) in seg.coef.items():
            if name in ("bytes_read", "bytes_fused"):
                length = h_kv * entries + (h - h_kv) * pairs
            elif name == "kv_read":
                length = h * entries
            elif name == "working_set_bytes":
                length = h * np.where(seg.kv_ops, entries, pairs)
            else:  # FLOPs, writes (scores, masks), weights: per attention pair
                length = h * pairs
            out[name] = np.maximum(np.rint(a + b * per_op_tokens + g * self.kv_past + length), 0.0)
        a, b, g, h = seg.peak
        peak = max(a + b * tokens + g * self.kv_past + h * pairs, 0.0)
        return seg, out, peak

    def decode_workload(self, batch: int, past: int):
        """A pure decode step (``batch`` sequences at KV length ``past``) composed from the traced corners:
        equal to ``trace_phase(batch=batch, query=1, past=past)`` op by op where the records are affine."""
        seg = self._segment(batch)
        v = {}
        for name, (a, b, g, h) in seg.coef.items():
            v[name] = np.maximum(np.rint(a + b * batch + g * past + h * batch * past), 0.0)
        ops = [replace(op, flops=int(v["flops"][i]), macs=int(v["macs"][i]), bytes_read=int(v["bytes_read"][i]),
                       bytes_written=int(v["bytes_written"][i]), bytes_fused=int(v["bytes_fused"][i]),
                       working_set_bytes=int(v["working_set_bytes"][i]))
               for i, op in enumerate(seg.base.ops)]
        return ops

    def step_workload(self, concurrency: float):
        """The records of one steady-state step at ``concurrency`` running sequences (a Workload)."""
        seg, v, peak = self._values(concurrency)
        ops = [replace(op, flops=int(v["flops"][i]), macs=int(v["macs"][i]), bytes_read=int(v["bytes_read"][i]),
                       bytes_written=int(v["bytes_written"][i]), bytes_fused=int(v["bytes_fused"][i]),
                       working_set_bytes=int(v["working_set_bytes"][i]),
                       causal_useful_flops=None)
               for i, op in enumerate(seg.base.ops)]
        return self._workload(seg, ops, v, peak, concurrency)

    def _workload(self, seg: _Segment, ops, v, peak: float, concurrency: float):
        from roofline.predict.model import op_arrays

        _, tokens, _, _, _ = self._terms(concurrency)
        w = replace(seg.base, ops=ops, peak_activation_bytes=int(round(peak)), batch=max(1, int(round(tokens))),
                    input_shapes=[(max(1, int(round(tokens))), 1)],
                    bytes_by_category={k: int(v[k].sum()) for k in _CATS}, cache={})
        if ops is seg.base.ops:
            # the step's own numbers in the arrays the predictor reads (the records stay the corner's structure)
            arrays = op_arrays(seg.base)
            bytes_unfused = v["bytes_read"] + v["bytes_written"]
            w.cache["op_arrays"] = replace(arrays, flops=v["flops"], bytes_unfused=bytes_unfused,
                                           bytes_fused=v["bytes_fused"], working_set=v["working_set_bytes"],
                                           active=~seg.view & ((v["flops"] > 0) | (bytes_unfused > 0)))
        w.cache["step_concurrency"] = float(concurrency)
        return w

    def _predict(self, concurrency: float):
        """The per-op prediction of one GPU's step at ``concurrency`` (its micro-batch, full depth)."""
        key = round(max(float(concurrency) / self.parallelism.pp, 1.0), 9) * self.parallelism.pp
        found = self._steps.get(key)
        if found is None:
            from roofline.predict import predict

            seg, v, peak = self._values(key)
            found = predict(self._workload(seg, seg.base.ops, v, peak, key), self.device, runtime=self.runtime,
                            tier=self.tier)
            self._steps[key] = found
        return found

    def collective_s(self, concurrency: float) -> float:
        """Time of one step's collectives (tensor-parallel all-reduces, the logits' all-gather, expert all-to-alls,
        pipeline sends: roofline.llm.parallel), added to the step, not overlapped; 0 on one GPU."""
        par = self.parallelism
        if par.gpus == 1:
            return 0.0
        from roofline.llm.parallel import ParallelPlan, communication, priced

        _, tokens, head_tokens, _, _ = self._terms(concurrency)
        items = communication(self.shard, par, micro_batch=head_tokens, prompt=tokens / head_tokens,
                              dtype=self.dtype)["prefill"]
        return sum(t for _, t in priced(ParallelPlan(par, collectives={"step": items}), "step", self.device))

    def step_s(self, concurrency: float) -> float:
        """Predicted time of one steady-state step at ``concurrency`` running sequences: one GPU's step over the
        full depth at its micro-batch plus the step's collectives (the time between two tokens of a sequence)."""
        return self._predict(concurrency).latency_s + self.collective_s(concurrency)

    # -- memory
    def kv_limit(self) -> KvLimit:
        if self._limit is not None:
            return self._limit
        from roofline.predict.memory import WORKSPACE_BYTES, usable_memory

        a = self.shard.arch
        pp = self.parallelism.pp
        per = a.layers // pp
        per_token = per * a.kv_elements_per_token * self.kv_bytes
        windows = [a.sliding_window if t == "sliding_attention" and a.sliding_window else None for t in a.layer_types]

        def per_sequence(resident: float) -> float:
            # the largest pipeline stage's layers (each stage keeps every running sequence's KV of its layers)
            return max(sum(min(resident, w) if w else resident for w in windows[s * per:(s + 1) * per])
                       for s in range(pp)) * a.kv_elements_per_token * self.kv_bytes

        kv_seq = self.mix.resident_mean(per_sequence)
        usable, _ = usable_memory(self.device)
        workspace = WORKSPACE_BYTES.get(self.device.kind, 0)

        def fits(c: int) -> bool:
            _, _, peak = self._values(c)
            return self.weight_bytes + peak + workspace + c * kv_seq <= usable

        if usable is None:
            raise LoadError(f"{self.device.id}: memory capacity not in the catalog: the KV-limited concurrency "
                            "cannot be computed")
        upper = int((usable - self.weight_bytes - workspace) // kv_seq) if usable > self.weight_bytes + workspace \
            else 0
        lo, hi = 0, max(upper, 0)
        if hi >= 1 and fits(hi):
            lo = hi
        elif hi >= 1 and fits(1):
            lo = 1
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        limited = "kv cache"
        best = lo
        if self.cap is not None and best > self.cap:
            best, limited = self.cap, "max concurrency"
        peak = self._values(max(best, 1))[2] if best >= 1 else self._values(1)[2]
        self._limit = KvLimit(usable, self.weight_bytes, int(round(peak)), workspace, per_token,
                              self.mix.mean_resident_tokens, kv_seq, best, limited)
        return self._limit

    # -- figures
    def at_concurrency(self, concurrency: float, rate: float | None = None) -> OperatingPoint:
        """The steady state with ``concurrency`` sequences decoding. ``rate``: Poisson arrivals at that rate
        (requests/s, the open loop of :meth:`at_rate`); None: a closed loop (a request enters as one
        finishes, as a benchmark at fixed concurrency runs), no wait for a KV slot."""
        limit = self.kv_limit()
        if limit.max_concurrency < 1:
            raise LoadError(f"{self.device.id}: the model does not fit ({_gb(self.weight_bytes)} of weights, "
                            f"{_gb(limit.usable_bytes)} usable)")
        c = float(concurrency)
        if not math.isfinite(c) or c < 0:
            raise LoadError(f"the concurrency must be a non-negative number of sequences, got {concurrency!r}")
        if c > limit.max_concurrency * (1 + 1e-9):
            raise LoadError(f"{self.device.id}: {c:g} running sequences exceed the KV-limited concurrency of "
                            f"{limit.max_concurrency}")
        p = self._predict(c)
        comm = self.collective_s(c)
        step = p.latency_s + comm
        mix = self.mix
        sustained = c / (mix.mean_osl * step)
        holding = mix.mean_osl * step
        variability = (1.0 + mix.osl_cv2) / 2
        wait = 0.0 if rate is None else wait_quantile(limit.max_concurrency, rate, holding, self.quantile,
                                                      variability)
        service = (math.ceil(mix.isl_quantile(self.quantile) / self.chunk) + 1) * step
        # per GPU: its trace's energy (each stage runs 1/pp of the depth for each of pp micro-batches), the
        # collectives at idle power
        power = (p.energy.energy_j + comm * (p.energy.idle_w or 0.0)) / step if p.energy.energy_j is not None else None
        tokens_per_s = c / step
        return OperatingPoint(
            concurrency=c, step_s=step, tpot_s=step, ttft_s=wait + service, ttft_service_s=service, queue_wait_s=wait,
            quantile=self.quantile, requests_per_s=sustained, output_tokens_per_s=tokens_per_s,
            prefill_tokens_per_step=max(c, 1.0) * self._r * mix.mean_isl,
            tokens_per_step=max(c, 1.0) * (1 + self._r * mix.mean_isl),
            kv_utilization=c / limit.max_concurrency, power_w=power,
            energy_per_token_j=(power * self.gpus_per_replica / tokens_per_s) if power is not None else None,
            gpus_per_replica=self.gpus_per_replica, bound=p.bound)

    def rate(self, concurrency: float) -> float:
        """Requests/s sustained with ``concurrency`` sequences decoding."""
        return float(concurrency) / (self.mix.mean_osl * self.step_s(concurrency))

    def max_throughput(self) -> OperatingPoint:
        """The steady state at the KV-limited concurrency: the highest sustainable throughput."""
        return self.at_concurrency(self.kv_limit().max_concurrency)

    def concurrency_for(self, rate: float) -> float:
        """The concurrency serving ``rate`` requests/s (Little's law); LoadError above the maximum."""
        _check_rate(rate)
        cmax = self.kv_limit().max_concurrency
        if cmax < 1:
            raise LoadError(f"{self.device.id}: the model does not fit")
        top = self.rate(cmax)
        if rate > top * (1 + 1e-12):
            raise LoadError(f"{self.device.id}: {rate:g} requests/s exceeds the replica's maximum of {top:.4g}")
        lo, hi = 0.0, float(cmax)
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.rate(mid) < rate else (lo, mid)
        return hi

    def at_rate(self, rate: float) -> OperatingPoint:
        """TTFT and TPOT when the replica serves ``rate`` requests/s."""
        return self.at_concurrency(self.concurrency_for(rate), rate)

    def goodput(self, *, ttft_s: float | None = None, tpot_s: float | None = None) -> OperatingPoint | None:
        """The highest request rate meeting both SLOs (TTFT at the quantile, TPOT); None when none does."""
        for name, value in (("TTFT", ttft_s), ("TPOT", tpot_s)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise LoadError(f"the {name} limit must be a positive number of seconds, got {value!r}")
        cmax = self.kv_limit().max_concurrency
        if cmax < 1:
            return None

        def meets(c: float) -> OperatingPoint | None:
            point = self.at_concurrency(c, self.rate(c))
            ok = (ttft_s is None or point.ttft_s <= ttft_s) and (tpot_s is None or point.tpot_s <= tpot_s)
            return point if ok else None

        best = meets(float(cmax))
        if best is not None:
            return best
        lo_point = meets(1e-6)
        if lo_point is None:
            return None
        lo, hi = 1e-6, float(cmax)
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            point = meets(mid)
            if point is not None:
                lo, lo_point = mid, point
            else:
                hi = mid
        return lo_point

    def to_dict(self) -> dict[str, Any]:
        return {"model": f"hf:{self.llm.name}", "device": self.device.id, "dtype": self.dtype, "weights": self.weights,
                "kv_dtype": self.kv_dtype, "runtime": self.runtime.value, "chunk_tokens": self.chunk,
                "ttft_quantile": self.quantile, "parallelism": self.parallelism.to_dict(), "mix": self.mix.to_dict(),
                "kv_limit": self.kv_limit().to_dict(), "queueing": QUEUEING_APPROXIMATION}


def as_parallelism(parallelism: Any):
    """A Parallelism from None (one GPU), a GPU count (tensor parallel over them) or a Parallelism."""
    from roofline.llm.parallel import SINGLE, Parallelism, make_parallelism

    if parallelism is None:
        return SINGLE
    if isinstance(parallelism, Parallelism):
        return parallelism
    if isinstance(parallelism, int) and not isinstance(parallelism, bool):
        return make_parallelism(gpus=parallelism)
    raise LoadError(f"parallelism must be a GPU count or a Parallelism(tp, pp, ep), got {parallelism!r}")


def _check_rate(rate: Any) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        raise LoadError(f"the request rate must be a positive number of requests/s, got {rate!r}")


def _gb(value: float | None) -> str:
    return "?" if value is None else f"{value / 1e9:.3g} GB"


__all__ = ["ContinuousBatching", "RequestMix", "RequestClass", "load_mix", "KvLimit", "OperatingPoint", "MixError",
           "LoadError", "DENSE_BATCH", "as_parallelism", "erlang_c", "wait_quantile", "DEFAULT_CHUNK_TOKENS", "DEFAULT_QUANTILE",
           "QUEUEING_APPROXIMATION"]
