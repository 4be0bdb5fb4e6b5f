"""ONNX files are counted from their graph with the torch tracer's conventions."""
import json
import warnings

import pytest
import torch

import roofline
from roofline.errors import RooflineError
from roofline.sources import load_model
from roofline.workload.build import reprice

onnx = pytest.importorskip("onnx")
torchvision = pytest.importorskip("torchvision")
from onnx import TensorProto, helper  # noqa: E402


def _randomise(model):
    """Distinct values everywhere, so that the exporter cannot merge equal initializers."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model


def _export(model, path, shape=(1, 3, 224, 224), **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript exporter runs offline; no constant folding keeps the module's ops
        # (batch norm not folded into the conv), as the torch trace sees them
        torch.onnx.export(model, (torch.randn(shape),), str(path), dynamo=False, do_constant_folding=False,
                          **kwargs)
    return path


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", pytest.param("vit_b_16", marks=pytest.mark.slow)])
def test_exported_torchvision_models_count_like_the_torch_trace(name, tmp_path):
    model = _randomise(torchvision.models.get_model(name).eval())
    path = _export(model, tmp_path / f"{name}.onnx")
    ref = roofline.analyze(model, (1, 3, 224, 224))
    built = load_model(str(path))
    assert built.default_input_shape == (1, 3, 224, 224)
    ours = roofline.analyze(built.model, built.default_input_shape)
    assert abs(ours.flops - ref.flops) <= 0.01 * ref.flops
    assert abs(ours.matmul_flops - ref.matmul_flops) <= 0.01 * ref.matmul_flops
    assert abs(ours.bytes_moved - ref.bytes_moved) <= 0.05 * ref.bytes_moved
    assert ours.params == ref.params
    assert not ours.unsupported_ops
    # the same typed Workload: re-priced under another dtype, bytes halve for floating tensors
    half = reprice(ours, "fp16")
    assert half.flops == ours.flops and half.bytes_moved < 0.6 * ours.bytes_moved


def test_dynamic_batch_from_input_shape_and_batch(tmp_path, run_cli):
    model = _randomise(torchvision.models.resnet18().eval())
    path = _export(model, tmp_path / "r18.onnx", input_names=["images"], dynamic_axes={"images": {0: "batch"}})
    one = roofline.analyze(load_model(str(path)).model, (1, 3, 224, 224))
    four = roofline.analyze(load_model(str(path)).model, (4, 3, 224, 224))
    assert four.matmul_flops == 4 * one.matmul_flops
    code, out, err = run_cli("profile", str(path), "--batch", "8", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shape"] == [8, 3, 224, 224] and data["matmul_flops"] == 8 * one.matmul_flops


def test_static_dimension_mismatch_is_a_one_line_error(tmp_path, run_cli):
    path = _export(torchvision.models.resnet18().eval(), tmp_path / "r18.onnx")
    code, out, err = run_cli("profile", str(path), "--input-shape", "1,3,256,256")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def _tiny_graph(path, middle):
    """x (1, 4, 8, 8) -> Conv 3x3 -> middle node -> Relu."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 3, 3], [0.1] * 144)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv", pads=[1, 1, 1, 1]), middle,
             helper.make_node("Relu", ["m"], ["y"], name="/act/Relu")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w],
                              value_info=[helper.make_tensor_value_info("m", TensorProto.FLOAT, [1, 4, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme", 1)])
    onnx.save(model, str(path))
    return path


def test_hand_built_graph_counts_by_hand(tmp_path):
    path = _tiny_graph(tmp_path / "tiny.onnx", helper.make_node("Sigmoid", ["c"], ["m"], name="/gate/Sigmoid"))
    w = roofline.analyze(load_model(str(path)).model, (1, 4, 8, 8))
    conv_macs = 1 * 8 * 8 * 4 * 4 * 3 * 3
    assert w.macs == conv_macs
    assert w.flops == 2 * conv_macs + 4 * 256 + 256  # sigmoid 4 per element, relu 1
    assert w.params == 144 and w.weight_bytes == 144 * 4
    conv = next(op for op in w.ops if op.op == "onnx::Conv")
    assert conv.bytes_read == (256 + 144) * 4 and conv.bytes_written == 256 * 4
    assert conv.module == "conv"


def test_unknown_op_is_reported_by_name(tmp_path, run_cli):
    path = _tiny_graph(tmp_path / "custom.onnx", helper.make_node("Frobnicate", ["c"], ["m"], domain="acme",
                                                                  name="/mystery/Frobnicate"))
    w = roofline.analyze(load_model(str(path)).model, (1, 4, 8, 8))
    assert w.unsupported_ops == {"onnx::acme::Frobnicate": 1}
    odd = next(op for op in w.ops if op.op == "onnx::acme::Frobnicate")
    assert odd.flops == 0 and not odd.supported and odd.bytes_read == 256 * 4  # its bytes still count
    assert any(op.op == "onnx::Relu" for op in w.ops)  # the graph goes on after it
    code, out, err = run_cli("profile", str(path))
    assert code == 0
    assert "acme::Frobnicate" in err


def test_malformed_file_is_a_one_line_error(tmp_path, run_cli):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not protobuf\xff\xff\xff")
    with pytest.raises(RooflineError):
        load_model(str(bad))
    code, out, err = run_cli("profile", str(bad))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "broken.onnx" in err
    code, out, err = run_cli("profile", str(tmp_path / "missing.onnx"))
    assert code == 2 and err.count("\n") == 1


def test_measure_refuses_a_graph(tmp_path, run_cli):
    path = _tiny_graph(tmp_path / "tiny.onnx", helper.make_node("Sigmoid", ["c"], ["m"]))
    code, out, err = run_cli("profile", str(path), "--measure")
    assert code == 2 and "counted, not run" in err


def test_einsum_silu_and_reshape_copies_by_hand(tmp_path):
    """Einsum as a matmul; x * Sigmoid(x) as one SiLU; a reshape of a transposed tensor copies, as in torch."""
    nodes = [helper.make_node("Einsum", ["a", "b"], ["c"], equation="bij,bjk->bik", name="/mm/Einsum"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="/act/Sigmoid"),
             helper.make_node("Mul", ["c", "s"], ["m"], name="/act/Mul"),
             helper.make_node("Transpose", ["m"], ["t"], perm=[0, 2, 1], name="/t/Transpose"),
             helper.make_node("Reshape", ["t", "shape"], ["y"], name="/r/Reshape")]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 6 * 5])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 5, 4]),
                                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 30])], [shape])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    w = roofline.analyze(load_model(str(path)).model, ((2, 5, 4), (2, 4, 6)))
    assert w.macs == 2 * 5 * 4 * 6
    silu = [op for op in w.ops if op.op_class.value == "elementwise"]
    assert len(silu) == 1 and silu[0].flops == 5 * 60 and silu[0].bytes_read == 60 * 4
    reshape = next(op for op in w.ops if op.op == "onnx::Reshape")
    assert not reshape.is_view and reshape.bytes_written == 60 * 4  # not expressible as a view: copied
    transpose = next(op for op in w.ops if op.op == "onnx::Transpose")
    assert transpose.is_view and transpose.bytes_read == 0
