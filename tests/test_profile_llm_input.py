"""`roofline profile hf:...` takes (batch, tokens): an image shape is a one-line error, not a count of
a few tokens."""
import json

import pytest


@pytest.mark.parametrize("args,message", [
    (("--input-shape", "1,3,224,224"), "its input is (batch, tokens)"),
    (("--imgsz", "224"), "--imgsz does not apply"),
])
def test_language_model_refuses_an_image_shape(run_cli, args, message):
    pytest.importorskip("transformers")
    code, out, err = run_cli("profile", "hf:llama-3-8b", *args)
    assert code == 2 and out == "" and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_language_model_counts_the_tokens_it_is_given(run_cli):
    pytest.importorskip("transformers")
    code, out, err = run_cli("profile", "hf:llama-3-8b", "--input-shape", "2,16", "--depth", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shape"] == [2, 16]
    embedding = next(op for op in data["ops"] if op["op"] == "aten.embedding.default")
    assert embedding["outputs"][0]["shape"][:2] == [2, 16]
