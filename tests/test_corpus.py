"""The public validation corpus: every row is sourced and well formed; validate --corpus predicts a subset."""
import json
from collections import Counter

import pytest
import yaml

from roofline.corpus import CORPUS_DIR, CorpusError, CorpusRow, end_to_end, evaluate, load_corpus, summarise


@pytest.fixture(scope="module")
def rows():
    return load_corpus()


def test_the_corpus_is_large_and_broad(rows):
    assert len(rows) >= 200
    assert len({r.device for r in rows}) >= 20
    assert {r.runtime for r in rows} == {"eager", "compiled"}
    assert {r.task for r in rows} == {"forward", "prefill", "decode"}
    batches = Counter(r.batch == 1 for r in rows)
    assert batches[True] >= 50 and batches[False] >= 50


def test_every_row_is_sourced_quoted_and_states_its_uncertainty(rows):
    for r in rows:
        assert r.source.startswith("https://") and r.quote.strip() and r.uncertain.strip(), r.id
        assert r.runtime_name.strip(), r.id


def test_most_rows_name_a_catalog_device(rows):
    from roofline.catalog import load_catalog

    ids = set(load_catalog().ids())
    known = [r for r in rows if r.device in ids]
    assert len(known) >= 0.8 * len(rows)
    assert len({r.device for r in known}) >= 20


@pytest.mark.parametrize("change,message", [
    ({"source": "http://example.com"}, "https"),
    ({"value": 0}, "greater than 0"),
    ({"metric": "tokens_per_s"}, "forward row measures"),
    ({"input": [2, 3, 224, 224]}, "does not start with the batch"),
    ({"quote": ""}, "at least 1 character"),
])
def test_malformed_rows_are_refused_with_their_field(tmp_path, rows, change, message):
    good = next(r for r in rows if r.task == "forward" and r.batch == 1).model_dump(mode="json")
    bad = {**good, **change}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump([bad]))
    with pytest.raises(CorpusError, match=message) as info:
        load_corpus(tmp_path)
    assert "\n" not in str(info.value) and "row 1" in str(info.value)


def test_duplicate_ids_are_refused(tmp_path, rows):
    good = rows[0].model_dump(mode="json")
    (tmp_path / "dup.yaml").write_text(yaml.safe_dump([good, good]))
    with pytest.raises(CorpusError, match="duplicate id"):
        load_corpus(tmp_path)


def _subset(rows):
    wanted = [r for r in rows if r.model == "resnet50" and r.task == "forward"][:6]
    wanted += [r for r in rows if r.model == "ultralytics:yolo11n.yaml"][:3]
    return wanted


def test_evaluate_predicts_a_subset_and_summarises_it(rows):
    results = evaluate(_subset(rows))
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) >= 6
    for r in ok:
        assert r.predicted > 0 and r.ratio == pytest.approx(r.predicted / r.measured)
    summary = {s.device_class: s for s in summarise(results)}
    assert summary["all"].rows == len(results)
    assert 0 <= summary["all"].within_2x <= 1 and summary["all"].median_abs_error >= 0


def test_a_decode_latency_is_the_whole_request_and_a_decode_rate_one_step(rows):
    # the corpus words every decode latency as the whole generation (prefill and all new tokens)
    whole = [r for r in rows if r.task == "decode" and r.metric == "latency_s"]
    assert whole and all(end_to_end(r) for r in whole)
    assert not any(end_to_end(r) for r in rows if r.metric == "tokens_per_s" or r.task != "decode")
    row = whole[0].model_copy(update={"model": "hf:llama-3.2-1b", "device": "nvidia-h100-sxm", "dtype": "bf16"})
    [result] = evaluate([row])
    from roofline import estimate

    e = estimate("hf:llama-3.2-1b", "nvidia-h100-sxm", prompt=row.input.prompt, generate=row.input.generate,
                 dtype="bf16", runtime=row.runtime)
    assert result.predicted == pytest.approx(e.latency_s)  # prefill + every decode step, not one step
    assert e.latency_s > row.input.generate * e.metrics["tpot_s"] * 0.99


def test_validate_corpus_json_on_a_subset(run_cli, tmp_path, rows):
    (tmp_path / "subset.yaml").write_text(yaml.safe_dump([r.model_dump(mode="json") for r in _subset(rows)]))
    code, out, err = run_cli("validate", "--corpus", str(tmp_path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["rows"]) == len(_subset(rows))
    assert {s["device_class"] for s in data["summary"]} >= {"all"}
    row = next(r for r in data["rows"] if r["status"] == "ok")
    assert row["predicted"] > 0 and row["measured"] > 0 and row["source"].startswith("https://")
    code, out, err = run_cli("validate", "--corpus", str(tmp_path))
    assert code == 0 and "within 2x" in out


def test_validate_corpus_bad_path_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("validate", "--corpus", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1


def _is_classifier(row):
    return row.task == "forward" and not row.model.startswith(("ultralytics:", "hf:")) and len(row.input) == 4


def test_eager_cpu_rows_separate_board_from_model_class(rows):
    # the eager CPU parameters need the same model class on several boards and eager rows on a server CPU
    from roofline.catalog import load_catalog
    from roofline.corpus import device_class

    catalog = load_catalog()
    eager = [r for r in rows if r.runtime == "eager" and r.device in set(catalog.ids())]
    classes = {r.device: device_class(catalog.get(r.device)) for r in eager}
    boards = {r.device for r in eager if classes[r.device] == "edge-cpu"}
    both = {d for d in boards
            if any(_is_classifier(r) for r in eager if r.device == d)
            and any(r.model.startswith("ultralytics:") for r in eager if r.device == d)}
    assert len(both) >= 2, both  # classification and YOLO rows on each of two boards
    servers = [r for r in eager if classes[r.device] == "cpu"]
    assert len(servers) >= 5 and any(_is_classifier(r) for r in servers)


def test_the_coral_parameter_cache_is_read_by_the_npu_model():
    import torch
    import torchvision

    from roofline import estimate
    from roofline.catalog import load_catalog

    coral = load_catalog().get("google-coral-usb-accelerator")
    cache_bytes = sum(c.total_bytes or 0.0 for c in coral.memory.caches)
    assert 4e6 <= cache_bytes <= 16e6  # Coral publishes "~8 MB"
    with torch.device("meta"):
        weights = sum(p.numel() for p in torchvision.models.vgg16().parameters())  # int8: one byte each
    e = estimate("vgg16", coral.id, dtype="int8", runtime="compiled")
    [note] = [n for n in e.notes if n.startswith("on-chip memory model")]
    streamed_mb = float(note.split(" MB of weights beyond")[0].rsplit(" ", 1)[-1])
    assert f"the {cache_bytes / 1e6:.0f} MB on-chip memory" in note
    assert streamed_mb == pytest.approx((weights - cache_bytes) / 1e6, rel=0.02)
