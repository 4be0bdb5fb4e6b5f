"""hf: encoders, vision, speech and encoder-decoder configurations, built on meta from their config."""
import json

import pytest

import roofline
from roofline.errors import RooflineError
from roofline.sources import is_language_model, load_model

pytest.importorskip("transformers")

# Published parameter counts:
# BERT-base: 110M, Devlin et al., https://arxiv.org/abs/1810.04805 (section 3, BERT-BASE L=12, H=768, A=12)
# ViT-B/16 (ImageNet-1k classifier): 86,567,656, https://pytorch.org/vision/stable/models/generated/torchvision.models.vit_b_16.html
PUBLISHED = {"bert-base-uncased": 110e6, "vit-base-patch16-224": 86_567_656}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_parameters_match_published_counts(name):
    built = load_model(f"hf:{name}")
    assert all(p.device.type == "meta" for p in built.model.parameters())  # no weights
    workload = roofline.analyze(built.model, built.default_input_shape)
    assert workload.params == pytest.approx(PUBLISHED[name], rel=0.005)
    assert workload.matmul_flops > 0 and not workload.unsupported_ops


def test_text_encoder_takes_integer_token_ids_of_seq_len():
    built = load_model("hf:bert-base-uncased", seq_len=64)
    assert built.default_input_shape == (1, 64)
    w = roofline.analyze(built.model, (2, 64))
    embedding = next(op for op in w.ops if op.op.startswith("aten.embedding"))
    assert embedding.inputs[1].dtype == "int64" and embedding.inputs[1].shape == (2, 64)
    # one encoder layer by hand: q, k, v, output projections, attention, two FFN matmuls
    t, d, ffn = 2 * 64, 768, 3072
    layer = sum(op.flops for op in w.ops if op.module.startswith("model.encoder.layer.0.")
                and op.op_class.value in ("matmul", "attention"))
    assert layer == 4 * 2 * t * d * d + 2 * 2 * (64 * 64 * 2 * d) + 2 * 2 * t * d * ffn


def test_whisper_small_encoder_layer_flops_by_hand():
    built = load_model("hf:whisper-small")
    assert built.default_input_shape == (1, 80, 3000)  # 30 s of log-mel frames, as Whisper's encoder takes
    w = roofline.analyze(built.model, built.default_input_shape)
    frames, d, ffn = 1500, 768, 3072  # after the stride-2 conv: max_source_positions tokens
    by_hand = (4 * 2 * frames * d * d       # q, k, v and output projections
               + 2 * frames * frames * 2 * d  # scores q @ k^T and p @ v over all 12 heads (64 each)
               + 2 * 2 * frames * d * ffn)   # fc1 and fc2
    layer = [op for op in w.ops if op.module.startswith("model.model.encoder.layers.0.")]
    assert sum(op.flops for op in layer if op.op_class.value in ("matmul", "attention")) == by_hand
    assert all(op.module.startswith("model.model.encoder.layers.") for op in w.ops
               if ".encoder.layers." in op.module)
    # the two input convolutions: 80 -> 768 (k=3, 3000 frames) and 768 -> 768 (k=3, stride 2)
    convs = [op for op in w.ops if op.op_class.value == "conv"]
    assert sum(op.macs for op in convs) == 3000 * 768 * 80 * 3 + 1500 * 768 * 768 * 3


@pytest.mark.parametrize("name,kind", [("roberta-base", "tokens"), ("distilbert-base-uncased", "tokens"),
                                       ("clip-vit-base-patch32", "image+tokens"), ("t5-small", "tokens+decoder")])
def test_other_presets_build_and_count(name, kind):
    built = load_model(f"hf:{name}")
    assert built.meta["input"] == kind
    w = roofline.analyze(built.model, built.default_input_shape)
    assert w.matmul_flops > 0 and not w.unsupported_ops
    assert w.params == sum(p.numel() for p in built.model.parameters())


def test_clip_runs_both_towers():
    w = roofline.analyze(*(lambda b: (b.model, b.default_input_shape))(load_model("hf:clip-vit-base-patch32",
                                                                                  seq_len=16)))
    modules = {op.module.split(".")[1] for op in w.ops if op.module.count(".") > 1}
    assert {"text_model", "vision_model"} <= modules


def test_decoder_only_configs_keep_the_llm_path():
    assert is_language_model("hf:llama-3-8b")
    assert not is_language_model("hf:bert-base-uncased") and not is_language_model("hf:whisper-small")
    assert not is_language_model("resnet50")


def test_config_json_path(tmp_path):
    cfg = {"model_type": "vit", "hidden_size": 192, "num_hidden_layers": 2, "num_attention_heads": 3,
           "intermediate_size": 768, "image_size": 64, "patch_size": 16, "num_channels": 3}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    built = load_model(f"hf:{tmp_path}")
    assert built.default_input_shape == (1, 3, 64, 64)
    w = roofline.analyze(built.model, built.default_input_shape)
    tokens = (64 // 16) ** 2 + 1
    patch = 2 * 16 * 192 * 16 * 16 * 3  # the patch-embedding conv over 16 patches
    per_layer = 4 * 2 * tokens * 192 * 192 + 2 * tokens * tokens * 2 * 192 + 2 * 2 * tokens * 192 * 768
    pooler = 2 * 192 * 192  # AutoModel's pooler: a dense layer on the class token
    assert w.matmul_flops == patch + 2 * per_layer + pooler


def test_cli_seq_len_and_one_line_errors(run_cli):
    code, out, err = run_cli("profile", "hf:bert-base-uncased", "--seq-len", "32", "--json", "--top", "1")
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [1, 32]
    for args in (("hf:bert-base-uncased", "--seq-len", "4096"), ("hf:vit-base-patch16-224", "--seq-len", "8"),
                 ("resnet18", "--seq-len", "8"), ("hf:bert-base-uncased", "--imgsz", "224")):
        code, out, err = run_cli("profile", *args)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, args


def test_unknown_model_type_is_an_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-model", "is_encoder_decoder": True}))
    with pytest.raises(RooflineError):
        load_model(f"hf:{tmp_path}")

