"""Hand-derived FLOP and byte counts for single ops (each expected value worked out by hand)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofline
from roofline.workload import OpClass
from roofline.workload.build import reprice

FP32 = 4


def only(workload, op_class):
    ops = [o for o in workload.ops if o.op_class is op_class]
    assert len(ops) == 1, [o.op for o in workload.ops]
    return ops[0]


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def test_conv_groups_stride_dilation_padding():
    conv = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=2, dilation=2, groups=4)
    w = roofline.analyze(conv, (1, 8, 17, 17))
    op = only(w, OpClass.CONV)
    # H_out = floor((17 + 2*2 - 2*(3-1) - 1) / 2) + 1 = 9
    assert op.outputs[0].shape == (1, 16, 9, 9)
    macs = 1 * 16 * 9 * 9 * (8 // 4) * 3 * 3  # N * C_out * H_out * W_out * C_in/groups * kh * kw = 23,328
    assert op.macs == macs == 23328
    assert op.flops == 2 * macs
    assert op.bytes_read == (8 * 17 * 17 + 16 * 2 * 3 * 3 + 16) * FP32  # input + weight + bias
    assert op.bytes_written == 16 * 9 * 9 * FP32


def test_depthwise_conv():
    conv = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    op = only(roofline.analyze(conv, (2, 32, 10, 10)), OpClass.CONV)
    assert op.macs == 2 * 32 * 10 * 10 * 1 * 9  # 57,600
    assert op.bytes_read == (2 * 32 * 100 + 32 * 9) * FP32


def test_transposed_conv():
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2)
    op = only(roofline.analyze(conv, (1, 4, 5, 5)), OpClass.CONV)
    assert op.outputs[0].shape == (1, 6, 11, 11)  # (5-1)*2 + 3
    # each input point is scattered over the kernel: N * H_in * W_in * k * k * C_in * C_out
    assert op.macs == 1 * 25 * 9 * 4 * 6 == 5400


@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_and_without_bias(bias):
    lin = nn.Linear(64, 32, bias=bias)
    w = roofline.analyze(lin, (8, 64))
    op = only(w, OpClass.MATMUL)
    assert op.op.startswith("aten.addmm" if bias else "aten.mm")
    assert op.macs == 8 * 32 * 64
    assert op.flops == 2 * 8 * 32 * 64  # the bias add is not counted, as in torch's counter
    assert op.bytes_read == (8 * 64 + 32 * 64 + (32 if bias else 0)) * FP32
    assert op.bytes_written == 8 * 32 * FP32
    assert w.params == 64 * 32 + (32 if bias else 0)


def test_bmm():
    op = only(roofline.analyze(Fn(torch.bmm), ((4, 8, 16), (4, 16, 32))), OpClass.MATMUL)
    assert op.macs == 4 * 8 * 32 * 16
    assert op.flops == 2 * op.macs
    assert op.bytes_read == (4 * 8 * 16 + 4 * 16 * 32) * FP32


def test_matmul_operator_is_counted():
    # Module-hook counters miss `@`; the dispatch level sees it.
    w = roofline.analyze(Fn(lambda a, b: a @ b), ((3, 5, 7), (7, 2)))
    assert w.macs == 3 * 5 * 7 * 2


def test_sdpa_not_causal():
    b, h, s, d = 2, 4, 16, 8
    f = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v))
    op = only(roofline.analyze(f, ((b, h, s, d),) * 3), OpClass.ATTENTION)
    assert op.macs == b * h * s * s * d * 2  # q @ k^T and p @ v
    assert op.flops == 4 * b * h * s * s * d  # torch.utils.flop_counter's sdpa formula
    assert op.causal_useful_flops is None


def test_sdpa_causal_counts_full_and_reports_useful_half():
    f = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    # torch's own test: B=4, H=8, S=128, D=64, is_causal=True -> 134,217,728 (the full product)
    w = roofline.analyze(f, ((4, 8, 128, 64),) * 3)
    op = only(w, OpClass.ATTENTION)
    assert op.flops == 134_217_728
    kept = 128 * 129 // 2  # lower triangle including the diagonal
    assert op.causal_useful_flops == 2 * 4 * 8 * kept * (64 + 64)
    assert w.causal_useful_flops == op.causal_useful_flops


def test_batchnorm_eval():
    bn = nn.BatchNorm2d(8)
    op = only(roofline.analyze(bn, (2, 8, 4, 4)), OpClass.NORMALIZATION)
    assert op.flops == 4 * 2 * 8 * 4 * 4  # (x - mean) * invstd * weight + bias
    assert op.macs == 0


def test_layernorm():
    op = only(roofline.analyze(nn.LayerNorm(16), (4, 16)), OpClass.NORMALIZATION)
    assert op.flops == 7 * 4 * 16  # mean 1, variance 3, normalise 1, affine 2


def test_softmax():
    op = only(roofline.analyze(nn.Softmax(dim=-1), (4, 10)), OpClass.REDUCTION)
    assert op.flops == 5 * 40  # max, sub, exp, sum, div


def test_add_with_broadcasting_counts_each_operand_once():
    op = only(roofline.analyze(Fn(torch.add), ((4, 1, 8), (1, 5, 8))), OpClass.ELEMENTWISE)
    assert op.outputs[0].shape == (4, 5, 8)
    assert op.flops == 4 * 5 * 8
    assert op.bytes_read == (4 * 8 + 5 * 8) * FP32
    assert op.bytes_written == 4 * 5 * 8 * FP32


def test_expanded_operand_reads_its_storage_once():
    f = Fn(lambda a, b: a.expand(5, 8) + b)
    op = only(roofline.analyze(f, ((1, 8), (5, 8))), OpClass.ELEMENTWISE)
    assert op.bytes_read == (8 + 40) * FP32


def test_relu_and_activations():
    w = roofline.analyze(nn.Sequential(nn.ReLU(), nn.SiLU(), nn.GELU()), (3, 10))
    assert [o.flops for o in w.ops] == [30, 5 * 30, 5 * 30]


def test_pooling():
    mp = only(roofline.analyze(nn.MaxPool2d(3, stride=2, padding=1), (1, 4, 8, 8)), OpClass.POOLING)
    assert mp.outputs[0].shape == (1, 4, 4, 4)
    assert mp.flops == 9 * 64  # one comparison per kernel element per output
    ap = only(roofline.analyze(nn.AvgPool2d(2), (1, 4, 8, 8)), OpClass.POOLING)
    assert ap.flops == 4 * 64
    # global average pooling dispatches as aten.mean: each input added once, each output divided once
    assert roofline.analyze(nn.AdaptiveAvgPool2d(1), (1, 4, 8, 8)).flops == 256 + 4
    ada = only(roofline.analyze(nn.AdaptiveAvgPool2d(2), (1, 4, 8, 8)), OpClass.POOLING)
    assert ada.flops == 256 + 16


def test_dtype_changes_bytes_not_flops():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    base = roofline.analyze(conv, (1, 16, 8, 8))
    fp16 = roofline.analyze(conv, (1, 16, 8, 8), dtype="fp16")
    int8 = roofline.analyze(conv, (1, 16, 8, 8), dtype="int8")
    assert base.flops == fp16.flops == int8.flops == 2 * 32 * 64 * 16 * 9
    assert fp16.bytes_read * 2 == base.bytes_read
    assert int8.bytes_read * 4 == base.bytes_read
    assert int8.bytes_written * 4 == base.bytes_written
    assert int8.weight_bytes == 32 * 16 * 9
    assert {o.dtype for o in int8.ops} == {"int8"}
    assert reprice(base, "int8").bytes_read == int8.bytes_read


def test_int8_keeps_normalization_in_float():
    w = roofline.analyze(nn.Sequential(nn.Linear(8, 8, bias=False), nn.LayerNorm(8)), (2, 8), dtype="int8")
    mm = only(w, OpClass.MATMUL)
    ln = only(w, OpClass.NORMALIZATION)
    assert mm.dtype == "int8" and mm.bytes_written == 16
    assert ln.dtype == "fp32" and ln.bytes_written == (16 + 2 + 2) * 4  # output, mean and rstd per row


def test_views_cost_nothing_and_are_marked():
    w = roofline.analyze(Fn(lambda x: x.view(4, 6).unsqueeze(0).transpose(0, 1).reshape(24)), (2, 12))
    assert w.ops and all(o.is_view and o.op_class is OpClass.VIEW for o in w.ops)
    assert w.flops == 0 and w.bytes_moved == 0


def test_unsupported_op_counts_bytes_and_is_listed():
    w = roofline.analyze(Fn(lambda x: torch.cummax(x, dim=0)[0]), (10, 3))
    assert "aten.cummax.default" in w.unsupported_ops
    op = next(o for o in w.ops if o.op == "aten.cummax.default")
    assert op.flops == 0 and not op.supported and op.bytes_read == 30 * FP32


def test_fused_bytes_drop_pointwise_chain_intermediates():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    w = roofline.analyze(model, (1, 3, 8, 8))
    act = 8 * 8 * 8 * FP32
    # conv -> bn -> relu: the conv output and the bn output are never materialized
    assert w.bytes_moved - w.bytes_fused == 4 * act
    assert w.bytes_fused < w.bytes_moved


def test_peak_activation_tracks_live_tensors():
    model = nn.Sequential(nn.Linear(100, 1000, bias=False), nn.ReLU(), nn.Linear(1000, 10, bias=False))
    w = roofline.analyze(model, (1, 100))
    # largest moment: the 1000-wide activation and its relu output are both alive, or input + hidden
    assert w.peak_activation_bytes == (1000 + 1000) * FP32


def test_sdpa_kernels_read_is_causal_at_their_own_position():
    from roofline.workload import formulas

    q = torch.empty(1, 2, 8, 4, device="meta")
    efficient = formulas.lookup(torch.ops.aten._scaled_dot_product_efficient_attention.default)
    # (q, k, v, attn_bias, compute_log_sumexp=True, dropout_p, is_causal=False): not causal
    assert efficient.formula((q, q, q, None, True, 0.0, False), {}, []).causal_useful_flops is None
    assert efficient.formula((q, q, q, None, False, 0.0, True), {}, []).causal_useful_flops is not None
    flash = formulas.lookup(torch.ops.aten._scaled_dot_product_flash_attention.default)
    assert flash.formula((q, q, q, 0.0, True), {}, []).causal_useful_flops is not None


def test_cross_attention_projects_keys_over_their_own_length():
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    f = Fn(lambda q, kv: mha(q, kv, kv, need_weights=False)[0])
    w = roofline.analyze(f, ((1, 8, 32), (1, 20, 32)))
    projections = 8 * 32 * 32 * 2 + 20 * 32 * 32 * 2  # q and out over 8 tokens, k and v over 20
    attention = 2 * 8 * 20 * 32  # scores and weighted sum over all heads
    assert w.macs == projections + attention


def test_transformer_encoder_layer_is_fully_supported():
    w = roofline.analyze(nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, batch_first=True), (2, 16, 64))
    assert not w.unsupported_ops and any(o.op_class is OpClass.ATTENTION for o in w.ops)


def test_copy_into_a_tensor_does_not_read_the_destination():
    def fill(x):
        out = torch.empty_like(x)
        out.copy_(x)
        return out

    (op,) = [o for o in roofline.analyze(Fn(fill), (4, 8)).ops if o.op.startswith("aten.copy_")]
    assert op.bytes_read == 32 * FP32 and op.bytes_written == 32 * FP32
