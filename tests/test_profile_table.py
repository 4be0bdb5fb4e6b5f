"""The profile table: call-site attribution of shared modules, call counts, own vs recursive figures,
a MACs column, a total row that is the sum of the rows, and one-line errors for bad counts."""
import json
import math

import pytest
import torch
from torch import nn

import roofline
from roofline.workload.summary import NOT_RUN, group, top, totals


class Block(nn.Module):
    def __init__(self, act: nn.Module, c: int = 4):
        super().__init__()
        self.lin = nn.Linear(c, c, bias=False)
        self.act = act

    def forward(self, x):
        return self.act(self.lin(x))


class SharedAct(nn.Module):
    """Two blocks holding the same ReLU object, as Ultralytics' Conv blocks share one SiLU."""

    def __init__(self):
        super().__init__()
        act = nn.ReLU()
        self.a = Block(act)
        self.b = Block(act)
        self.unused = nn.Linear(4, 3)  # never called: its parameters are in the "(not run)" row

    def forward(self, x):
        return self.b(self.a(x)) + 1


def _rows_by_name(rows):
    return {r.name: r for r in rows}


def test_shared_module_is_attributed_to_each_caller():
    w = roofline.analyze(SharedAct(), (2, 4))
    rows = _rows_by_name(group(w, "layer"))
    assert rows["a.act"].calls == 1 and rows["b.act"].calls == 1
    assert rows["a.act"].flops == rows["b.act"].flops == 2 * 4  # one relu per element of (2, 4)
    assert rows["a.act"].type == rows["b.act"].type == "ReLU"
    # the root issued the "+ 1" itself: own figures only, no parameters of its children
    assert rows["(root)"].flops == 8 and rows["(root)"].params == 0
    assert rows[NOT_RUN].params == 4 * 3 + 3 and rows[NOT_RUN].flops == 0
    assert sum(r.params for r in rows.values()) == w.params


def test_calls_and_output_shape_per_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.grow = nn.Linear(4, 6)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.relu(self.lin(x))
            return self.relu(self.grow(x))

    rows = _rows_by_name(group(roofline.analyze(Twice(), (3, 4)), "layer"))
    relu = rows["relu"]
    assert relu.calls == 2
    assert relu.output_shapes == [(3, 4), (3, 6)]
    assert relu.flops == 3 * 4 + 3 * 6


def _assert_totals_are_sums(rows, workload=None):
    total = totals(rows)
    for attr in ("params", "flops", "macs", "bytes_moved", "bytes_fused", "ops"):
        assert getattr(total, attr) == sum(getattr(r, attr) for r in rows), attr
    if workload is not None:
        assert total.flops == workload.flops and total.macs == workload.macs
        assert total.bytes_moved == workload.bytes_moved and total.params == workload.params


@pytest.mark.parametrize("by,depth", [("layer", None), ("module", None), ("op", None), ("layer", 0), ("layer", 1),
                                      ("layer", 2), ("layer", 9)])
def test_total_row_is_the_sum_of_the_rows(by, depth):
    built = roofline.load_model("resnet18")
    w = roofline.analyze(built.model, built.default_input_shape)
    rows = group(w, by, depth)
    _assert_totals_are_sums(rows, w if by != "op" else None)
    if by == "op":
        assert totals(rows).flops == w.flops
    shown = top(rows, 3)
    _assert_totals_are_sums(shown)


def test_depth_rows_have_own_and_recursive_figures():
    built = roofline.load_model("resnet18")
    w = roofline.analyze(built.model, built.default_input_shape)
    rows = group(w, "layer", 2)
    by_name = _rows_by_name(rows)
    assert max(r.depth for r in rows) == 2
    root = by_name["(root)"]
    assert root.recursive.flops == w.flops and root.recursive.params == w.params
    # a container's recursive figures are its own plus those of the rows below it
    layer1 = by_name["layer1"]
    below = [r for r in rows if r.name.startswith("layer1.")]
    assert [r.name for r in below] == ["layer1.0", "layer1.1"]
    assert layer1.recursive.flops == layer1.flops + sum(r.flops for r in below)
    assert layer1.recursive.params == sum(p.numel() for p in built.model.layer1.parameters())
    # a depth-2 row owns its hidden submodules: own equals recursive
    for r in below:
        assert r.flops == r.recursive.flops and r.params == r.recursive.params
        assert r.macs * 2 <= r.flops
    # the Sequential itself computes nothing between its blocks
    assert layer1.flops == 0 and layer1.params == 0 and layer1.calls == 1


def test_resnet50_relu_called_three_times():
    built = roofline.load_model("resnet50")
    w = roofline.analyze(built.model, built.default_input_shape)
    relu = _rows_by_name(group(w, "layer"))["layer1.0.relu"]
    # after bn1 and bn2 (64 channels) and after the residual add (256 channels), at 56x56
    assert relu.calls == 3
    assert relu.output_shapes == [(1, 64, 56, 56), (1, 64, 56, 56), (1, 256, 56, 56)]
    assert relu.flops == (2 * 64 + 256) * 56 * 56
    # the Bottleneck's own row is the residual add: no parameters of its children
    block = _rows_by_name(group(w, "layer"))["layer1.0"]
    assert block.params == 0 and block.flops == 256 * 56 * 56


def test_yolo_activation_calls_land_in_their_own_conv_block():
    pytest.importorskip("ultralytics")
    built = roofline.load_model("ultralytics:yolo11n.yaml")
    w = roofline.analyze(built.model, (1, 3, 320, 320))
    silu_records = [o for o in w.ops if o.op.startswith("aten.silu")]
    layer_rows = [r for r in group(w, "layer") if r.type == "SiLU"]
    assert len(layer_rows) == len(silu_records) > 50
    assert all(r.calls == 1 and r.name.endswith(".act") for r in layer_rows)
    conv_blocks = [r for r in group(w, "module") if r.type == "Conv"]
    assert len(conv_blocks) >= 5
    for r in conv_blocks:
        # conv + batch norm + SiLU: the block's elementwise FLOPs are its own SiLU, 5 per output element
        assert r.op_classes["elementwise"] == 5 * math.prod(r.output_shape), r.name


def test_cli_depth_table_labels_and_total(run_cli):
    code, out, err = run_cli("profile", "resnet50", "--depth", "2")
    assert code == 0, err
    for label in ("calls", "params (own)", "GFLOPs (own)", "GMACs (own)", "params (recursive)",
                  "GFLOPs (recursive)", "GMACs (recursive)"):
        assert label in out
    total_line = next(line for line in out.splitlines() if line.startswith("│ total"))
    cells = [c.strip() for c in total_line.strip("│").split("│")]
    assert "25,557,032" in cells  # parameters: the sum of the own column is the model's
    assert "4.0892" in cells  # MACs, the figure torchvision publishes for resnet50 (4.09)


def test_cli_json_rows_and_totals(run_cli):
    code, out, _ = run_cli("profile", "resnet18", "--depth", "1", "--json")
    assert code == 0
    data = json.loads(out)
    rows = data["rows"]
    assert data["depth"] == 1 and all("recursive" in r and "calls" in r and "macs" in r for r in rows)
    for key in ("params", "flops", "macs"):
        assert data["totals_of_rows"][key] == sum(r[key] for r in rows) == data[key]
    assert data["totals_of_rows"]["bytes_moved"] == sum(r["bytes_moved"] for r in rows) == \
        data["bytes_read"] + data["bytes_written"]
    code, out, _ = run_cli("profile", "resnet18", "--top", "2", "--json")
    data = json.loads(out)
    assert len(data["rows"]) == 2 and data["totals_of_rows"]["flops"] == sum(r["flops"] for r in data["rows"])


def test_cli_layer_table_shows_calls_and_shapes(run_cli):
    code, out, _ = run_cli("profile", "resnet50")
    line = next(line for line in out.splitlines() if "layer1.0.relu " in line)
    assert "│     3 │" in line and "1x64x56x56 (2 calls), 1x256x56x56" in line


def test_api_rejects_bad_top():
    from roofline.errors import RooflineError

    w = roofline.analyze(nn.Linear(4, 4), (1, 4))
    with pytest.raises(RooflineError):
        top(group(w), -3)
    with pytest.raises(RooflineError):
        group(w, "layer", -1)
