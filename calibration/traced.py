"""Probe families whose FLOPs and bytes come from the workload counter itself.

Each case here is a small ``nn.Module`` (a grouped convolution, a ``torch.cat``, an embedding
lookup...). Its cost is found by tracing that very module with ``roofline.workload.analyze`` on
fake tensors, the way a network is counted, so the probe and the counter can never disagree:
there is no second copy of a formula in the suite. The same module, built for real, is what the
suite times.

Families (docs/calibration.md, "Probes"):

- data movement, one family per aten kernel a network issues: ``cat`` (concatenation along
  channels), ``clone`` (``.contiguous()`` after a permute, a channel shuffle's transpose or a
  channel slice), ``channel_shuffle``, ``pad`` (``constant_pad_nd``), ``upsample_nearest``,
  ``upsample_bilinear``, ``embedding``, ``index_select``, ``gather``;
- ``view``: chunk / split / slice / permute / view / transpose, which the counter calls views
  (no bytes) but which eager PyTorch dispatches one by one: their per-op cost;
- grouped convolutions ``gconv3x3`` / ``gconv3x3_s2`` (groups 2 to 64), depthwise ``dwconv7x7``,
  small 1x1 convolutions (added to ``conv1x1``), ``layer_norm_cl`` (layer norm over the channels
  of a channels-last view, as ConvNeXt runs it);
- ``module_call``: the cost of calling an ``nn.Module`` in an eager network (``__call__``, hook
  checks, Python), timed directly on chains of modules that issue no op.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .probes import ProbeCase


@dataclass(frozen=True)
class Input:
    """One input tensor of a probe: its shape and dtype, and for an index tensor the exclusive bound."""

    shape: tuple[int, ...]
    dtype: str = "fp32"  # fp32 or int64
    high: int = 0  # int64 inputs: values in [0, high)

    def fake(self) -> Any:
        import torch

        if self.dtype == "int64":
            return torch.zeros(self.shape, dtype=torch.long, device="meta")
        return torch.empty(self.shape, dtype=torch.float32, device="meta")

    def real(self, device: Any) -> Any:
        import torch

        if self.dtype == "int64":
            return torch.randint(0, max(1, self.high), self.shape, dtype=torch.long, device=device)
        return torch.empty(self.shape, dtype=torch.float32, device=device).uniform_(-1.0, 1.0)


class _Call:
    """Builds an ``nn.Module`` whose forward is ``fn(*inputs)`` (the nn import stays lazy)."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def __call__(self) -> Any:
        from torch import nn

        fn = self.fn

        class Probe(nn.Module):
            def forward(self, *xs: Any) -> Any:
                return fn(*xs)

        return Probe()


@dataclass(frozen=True)
class TracedCost:
    flops: int
    bytes: int  # bytes read + written by the ops that are not views
    ops: tuple[str, ...]  # the aten ops the counter recorded (views included)
    views: int  # how many of them are views


_COSTS: dict[tuple[str, tuple[Input, ...]], TracedCost] = {}


def _traced(key: str, build: Callable[[], Any], inputs: tuple[Input, ...]) -> TracedCost:
    import torch

    from roofline.workload import analyze

    with torch.device("meta"):
        module = build()
    workload = analyze(module, tuple(i.fake() for i in inputs), name=key)
    active = [op for op in workload.ops if not op.is_view]
    return TracedCost(sum(op.flops for op in active), sum(op.bytes_read + op.bytes_written for op in active),
                      tuple(op.op for op in workload.ops), sum(op.is_view for op in workload.ops))


def traced_cost(key: str, build: Callable[[], Any], inputs: Sequence[Input]) -> TracedCost:
    """FLOPs and bytes of one call of ``build()`` on ``inputs``, as the workload counter counts them
    (traced once per case name and inputs, then remembered: a plan is built without re-tracing)."""
    inputs = tuple(inputs)
    if (key, inputs) not in _COSTS:
        _COSTS[(key, inputs)] = _traced(key, build, inputs)
    return _COSTS[(key, inputs)]


def traced_case(name: str, stage: str, op_class: str, family: str, build: Callable[[], Any],
                inputs: Sequence[Input], shape: dict[str, int]) -> ProbeCase:
    """A probe case timed on the module ``build()`` and costed by tracing that module."""
    inputs = tuple(inputs)
    cost = traced_cost(name, build, inputs)

    def make(device: Any) -> Callable[[], Any]:
        import torch

        with torch.device(device):
            module = build()
        module.eval()
        xs = [i.real(device) for i in inputs]
        return lambda: module(*xs)

    return ProbeCase(name, stage, op_class, family, "fp32", dict(shape, views=cost.views), cost.flops,
                     cost.bytes, make)


# ---------------------------------------------------------------- data movement

def _nchw(n: int, c: int, h: int, w: int | None = None) -> tuple[int, int, int, int]:
    return (n, c, h, h if w is None else w)


def cat_case(n: int, c1: int, c2: int, h: int) -> ProbeCase:
    import torch

    return traced_case(f"data_movement/cat/N{n}_C{c1}+{c2}_H{h}", "data_movement", "data_movement", "cat",
                       _Call(lambda a, b: torch.cat([a, b], 1)), [Input(_nchw(n, c1, h)), Input(_nchw(n, c2, h))],
                       {"N": n, "C1": c1, "C2": c2, "H": h})


def _permute_contiguous(a: Any) -> Any:
    return a.permute(0, 2, 3, 1).contiguous()


def _shuffle(groups: int) -> Callable[[Any], Any]:
    def fn(a: Any) -> Any:  # torchvision's ShuffleNetV2 channel_shuffle
        n, c, h, w = a.shape
        return a.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    return fn


def _channel_slice(a: Any) -> Any:
    return a[:, : a.shape[1] // 2].contiguous()


def clone_case(kind: str, n: int, c: int, h: int) -> ProbeCase:
    fn = {"permute": _permute_contiguous, "shuffle": _shuffle(2), "slice": _channel_slice}[kind]
    return traced_case(f"data_movement/clone/{kind}_N{n}_C{c}_H{h}", "data_movement", "data_movement", "clone",
                       _Call(fn), [Input(_nchw(n, c, h))], {"N": n, "C": c, "H": h})


def channel_shuffle_case(n: int, c: int, h: int, groups: int = 2) -> ProbeCase:
    import torch.nn.functional as F

    return traced_case(f"data_movement/channel_shuffle/N{n}_C{c}_H{h}_g{groups}", "data_movement",
                       "data_movement", "channel_shuffle", _Call(lambda a: F.channel_shuffle(a, groups)),
                       [Input(_nchw(n, c, h))], {"N": n, "C": c, "H": h, "groups": groups})


def pad_case(n: int, c: int, h: int, p: int = 1) -> ProbeCase:
    import torch.nn.functional as F

    return traced_case(f"data_movement/pad/N{n}_C{c}_H{h}_p{p}", "data_movement", "data_movement", "pad",
                       _Call(lambda a: F.pad(a, (p, p, p, p))), [Input(_nchw(n, c, h))],
                       {"N": n, "C": c, "H": h, "pad": p})


def upsample_case(mode: str, n: int, c: int, h: int) -> ProbeCase:
    import torch.nn.functional as F

    if mode == "nearest":
        fn = _Call(lambda a: F.interpolate(a, scale_factor=2, mode="nearest"))
    else:
        fn = _Call(lambda a: F.interpolate(a, scale_factor=2, mode="bilinear", align_corners=False))
    # the counter gives bilinear interpolation FLOPs and classes it with pooling (the predictor's
    # "reduction" class); nearest is a pure copy
    op_class = "data_movement" if mode == "nearest" else "reduction"
    return traced_case(f"data_movement/upsample_{mode}/N{n}_C{c}_H{h}", "data_movement", op_class,
                       f"upsample_{mode}", fn, [Input(_nchw(n, c, h))], {"N": n, "C": c, "H": h})


def embedding_case(vocab: int, dim: int, tokens: int) -> ProbeCase:
    def build() -> Any:
        from torch import nn

        return nn.Embedding(vocab, dim)

    return traced_case(f"data_movement/embedding/V{vocab}_D{dim}_T{tokens}", "data_movement", "data_movement",
                       "embedding", build, [Input((1, tokens), "int64", vocab)],
                       {"vocab": vocab, "dim": dim, "tokens": tokens})


def index_select_case(rows: int, cols: int, picks: int) -> ProbeCase:
    return traced_case(f"data_movement/index_select/R{rows}_C{cols}_P{picks}", "data_movement", "data_movement",
                       "index_select", _Call(lambda a, i: a.index_select(0, i)),
                       [Input((rows, cols)), Input((picks,), "int64", rows)], {"rows": rows, "cols": cols,
                                                                              "picks": picks})


def gather_case(rows: int, cols: int, picks: int) -> ProbeCase:
    return traced_case(f"data_movement/gather/R{rows}_C{cols}_P{picks}", "data_movement", "data_movement", "gather",
                       _Call(lambda a, i: a.gather(1, i)), [Input((rows, cols)), Input((rows, picks), "int64", cols)],
                       {"rows": rows, "cols": cols, "picks": picks})


# shapes from ShuffleNetV2, DenseNet, GoogLeNet/Inception, YOLO necks, ConvNeXt and BERT
_CAT = ((1, 64, 64, 56), (1, 116, 116, 28), (1, 128, 32, 28), (1, 232, 232, 14), (1, 512, 512, 7), (1, 64, 64, 80),
        (8, 116, 116, 28), (8, 64, 64, 56))
_CLONE = (("permute", 1, 96, 56), ("permute", 1, 192, 28), ("permute", 1, 384, 14), ("permute", 1, 768, 7),
          ("shuffle", 1, 232, 28), ("shuffle", 1, 464, 14), ("shuffle", 8, 232, 28), ("slice", 8, 232, 28),
          ("slice", 2, 464, 14), ("permute", 8, 96, 56))
_SHUFFLE = ((1, 232, 28), (1, 464, 14), (1, 928, 7), (8, 232, 28))
_PAD = ((1, 32, 112), (1, 64, 56), (1, 256, 14), (8, 64, 56))
_UPSAMPLE = ((1, 256, 20), (1, 128, 40), (1, 64, 80), (8, 128, 40))
_EMBEDDING = ((30522, 768, 128), (30522, 768, 16), (512, 768, 128), (50257, 768, 1), (2, 768, 128))
_INDEX = ((4096, 256, 1024), (30522, 768, 128), (1024, 64, 64), (512, 1024, 512))
_GATHER = ((256, 1024, 512), (64, 4096, 64), (1024, 64, 64), (512, 1024, 128))


def data_movement_cases(full: bool) -> list[ProbeCase]:
    """The data-movement stage: every family at the shapes above (``full``) or a subset of them."""
    take = (lambda shapes: shapes) if full else (lambda shapes: shapes[::2])
    cases = [cat_case(*s) for s in take(_CAT)]
    cases += [clone_case(*s) for s in take(_CLONE)]
    cases += [channel_shuffle_case(*s) for s in (_SHUFFLE if full else _SHUFFLE[:3])]
    cases += [pad_case(*s) for s in (_PAD if full else _PAD[:3])]
    for mode in ("nearest", "bilinear"):
        cases += [upsample_case(mode, *s) for s in (_UPSAMPLE if full else _UPSAMPLE[:3])]
    cases += [embedding_case(*s) for s in (_EMBEDDING if full else _EMBEDDING[:4])]
    cases += [index_select_case(*s) for s in _INDEX]
    cases += [gather_case(*s) for s in _GATHER]
    return cases


# ---------------------------------------------------------------- pooling

def pool_case(kind: str, n: int, c: int, h: int, k: int, stride: int, padding: int = 0,
              ceil_mode: bool = False) -> ProbeCase:
    """``nn.MaxPool2d`` / ``nn.AvgPool2d`` at a network's shape. Eager CPU max pooling over NCHW runs
    at a few ns per window element at one thread (resnet's 3x3/2 stem pool on 64x112x112: about
    6.5 ms, 30x what its bytes cost at cache bandwidth), which no other probe shows."""
    def build() -> Any:
        from torch import nn

        cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
        return cls(k, stride, padding, ceil_mode=ceil_mode)

    tag = f"k{k}s{stride}p{padding}" + ("_ceil" if ceil_mode else "")
    return traced_case(f"reduction/{kind}_pool/N{n}_C{c}_H{h}_{tag}", "reduction", "reduction", f"{kind}_pool",
                       build, [Input(_nchw(n, c, h))],
                       {"N": n, "C": c, "H": h, "k": k, "stride": stride, "padding": padding, "ceil": int(ceil_mode)})


# (N, C, H, k, stride, padding, ceil_mode): the stem pools of ResNet, SqueezeNet, GoogLeNet, Inception-v3
# and DenseNet, GoogLeNet's stride-1 branch pools, and the average pools of DenseNet's transitions and
# Inception's branches
_MAX_POOL = ((1, 64, 112, 3, 2, 1, False), (1, 64, 111, 3, 2, 0, True), (1, 192, 56, 3, 2, 0, True),
             (1, 480, 28, 3, 1, 1, True), (1, 64, 147, 3, 2, 0, False), (8, 64, 112, 3, 2, 1, False),
             (1, 256, 27, 3, 2, 0, True), (1, 832, 14, 2, 2, 0, True))
_AVG_POOL = ((1, 128, 56, 2, 2, 0, False), (1, 192, 35, 3, 1, 1, False), (1, 256, 28, 2, 2, 0, False),
             (1, 768, 17, 3, 1, 1, False), (8, 128, 56, 2, 2, 0, False), (1, 512, 14, 2, 2, 0, False))


def pooling_cases(full: bool) -> list[ProbeCase]:
    take = (lambda shapes: shapes) if full else (lambda shapes: shapes[::2])
    return [pool_case("max", *s) for s in take(_MAX_POOL)] + [pool_case("avg", *s) for s in take(_AVG_POOL)]


# ---------------------------------------------------------------- convolutions and channels-last norm

def grouped_conv_case(n: int, c: int, h: int, groups: int, k: int = 3, stride: int = 1, c_out: int | None = None,
                      family: str | None = None) -> ProbeCase:
    c_out = c_out or c

    def build() -> Any:
        from torch import nn

        return nn.Conv2d(c, c_out, k, stride, k // 2, groups=groups, bias=False)

    depthwise = groups == c and c_out == c
    fam = family or (f"dwconv{k}x{k}" if depthwise else f"gconv{k}x{k}") + ("_s2" if stride == 2 else "")
    op_class = "depthwise_conv" if depthwise else "conv"
    return traced_case(f"conv/{fam}/N{n}_C{c}_O{c_out}_H{h}_k{k}_s{stride}_g{groups}", "conv", op_class, fam, build,
                       [Input(_nchw(n, c, h))], {"N": n, "C_in": c, "C_out": c_out, "H": h, "W": h, "k": k,
                                                 "stride": stride, "groups": groups})


# (C, H, groups, stride): ResNeXt (32 groups), RegNet (group width 8-64 -> 2..64 groups), ShuffleNetV1
_GCONV = ((128, 56, 32, 1), (256, 28, 32, 1), (512, 14, 32, 1), (1024, 7, 32, 1), (64, 56, 2, 1), (96, 28, 4, 1),
          (192, 14, 8, 1), (432, 14, 18, 1), (1008, 7, 63, 1), (256, 28, 16, 1), (128, 56, 64, 1), (256, 56, 32, 2),
          (512, 28, 32, 2), (224, 56, 8, 2), (1024, 14, 32, 2))
# depthwise 7x7 (ConvNeXt: 96/192/384/768 channels at 56/28/14/7)
_DW7 = ((96, 56), (192, 28), (384, 14), (768, 7), (32, 56))
# small 1x1 convolutions: ShuffleNetV2 branches, SqueezeNet squeeze/expand, MobileNet heads
_SMALL_1X1 = ((24, 24, 56), (58, 58, 28), (116, 116, 14), (232, 232, 7), (64, 16, 55), (16, 64, 55), (128, 32, 27),
              (48, 192, 13), (24, 144, 56), (8, 8, 28))


def extra_conv_cases(full: bool) -> list[ProbeCase]:
    cases = []
    for c, h, g, s in (_GCONV if full else _GCONV[::2]):
        cases.append(grouped_conv_case(1, c, h, g, 3, s))
    for c, h in (_DW7 if full else _DW7[:4]):
        cases.append(grouped_conv_case(1, c, h, c, 7, 1))
    for c_in, c_out, h in (_SMALL_1X1 if full else _SMALL_1X1[::2]):
        cases.append(grouped_conv_case(1, c_in, h, 1, 1, 1, c_out, family="conv1x1"))
    batches = (8,) if full else ()
    for b in batches:
        for c, h, g, s in _GCONV[:4]:
            cases.append(grouped_conv_case(b, c, h, g, 3, s))
        for c, h in _DW7[:2]:
            cases.append(grouped_conv_case(b, c, h, c, 7, 1))
    return cases


def layer_norm_cl_case(n: int, c: int, h: int) -> ProbeCase:
    import torch.nn.functional as F

    def build() -> Any:
        from torch import nn

        norm = nn.LayerNorm(c)

        class ChannelsLastNorm(nn.Module):  # torchvision's ConvNeXt LayerNorm2d
            def __init__(self) -> None:
                super().__init__()
                self.norm = norm

            def forward(self, x: Any) -> Any:
                return F.layer_norm(x.permute(0, 2, 3, 1), (c,), self.norm.weight, self.norm.bias)

        return ChannelsLastNorm()

    return traced_case(f"normalization/layer_norm_cl/N{n}_C{c}_H{h}", "normalization", "normalization",
                       "layer_norm_cl", build, [Input(_nchw(n, c, h))], {"N": n, "C": c, "H": h})


_LN_CL = ((1, 96, 56), (1, 192, 28), (1, 384, 14), (1, 768, 7), (8, 96, 56), (8, 384, 14))


def layer_norm_cl_cases(full: bool) -> list[ProbeCase]:
    return [layer_norm_cl_case(*s) for s in (_LN_CL if full else _LN_CL[:4])]


# ---------------------------------------------------------------- per-op costs outside the op counts

def view_case(kind: str, count: int) -> ProbeCase:
    """``count`` view ops in a row on a small tensor: the per-call cost of an op that moves no data."""

    def fn(a: Any) -> Any:
        out = a
        for _ in range(count):
            out = {"chunk": lambda t: t.chunk(2, 1)[0], "split": lambda t: t.split(8, 1)[0],
                   "slice": lambda t: t[:, :8], "permute": lambda t: t.permute(0, 1, 3, 2),
                   "view": lambda t: t.view(t.shape), "transpose": lambda t: t.transpose(2, 3)}[kind](out)
        return out

    return traced_case(f"dispatch/view/{kind}_x{count}", "dispatch", "view", "view", _Call(fn),
                       [Input((1, 16, 4, 4))], {"count": count})


def module_call_case(count: int) -> ProbeCase:
    """A chain of ``count`` modules that issue no op (``nn.Identity`` in an ``nn.Sequential``)."""

    def build() -> Any:
        from torch import nn

        return nn.Sequential(*(nn.Identity() for _ in range(count)))

    return traced_case(f"dispatch/module_call/x{count}", "dispatch", "module", "module_call", build,
                       [Input((1,))], {"count": count})


def call_cost_cases(full: bool) -> list[ProbeCase]:
    counts = (8, 32, 128) if full else (8, 64)
    cases = [module_call_case(k) for k in counts]
    kinds = ("chunk", "split", "slice", "permute", "view", "transpose")
    cases += [view_case(kind, k) for kind in kinds for k in ((4, 16) if full else (16,))]
    return cases


def per_call_cost(points: Sequence[tuple[int, float]]) -> float | None:
    """Seconds per call from (calls, seconds) points: the least-squares slope, so a fixed cost of the
    whole chain (the outer call, the timing loop) is not charged to each call; one point: its mean."""
    pts = [(k, t) for k, t in points if k > 0 and t > 0]
    if not pts:
        return None
    if len({k for k, _ in pts}) < 2:
        return sum(t / k for k, t in pts) / len(pts)
    n = len(pts)
    mk = sum(k for k, _ in pts) / n
    mt = sum(t for _, t in pts) / n
    var = sum((k - mk) ** 2 for k, _ in pts)
    slope = sum((k - mk) * (t - mt) for k, t in pts) / var
    return slope if slope > 0 else sum(t / k for k, t in pts) / n
