"""Cloud prices in the built-in catalog: the entries themselves, and what rank, plan and the report's
Pareto chart do with them.

The figures spot-checked below are the on-demand rows read from the public copies the entries cite
(their ``source`` urls, pinned to a commit); the per-device price is checked against instance price /
devices computed here, not against the loader's own derivation.
"""
from __future__ import annotations

import json
import math
import re
from urllib.parse import urlparse

import pytest
from roofline.catalog import load_catalog
from roofline.cli import main
from roofline.constants import SECONDS_PER_YEAR
from roofline.decide.costs import BASIS_CLOUD, BASIS_FULL, BASIS_NONE

PROVIDER_HOSTS = ("aws.amazon.com", "cloud.google.com", "azure.microsoft.com", "lambda.ai", "lambdalabs.com",
                  "coreweave.com", "runpod.io")

# device id -> (provider, instance, devices, instance USD/h, region) as read from the cited rows
READ = {
    "nvidia-a100-40gb-sxm": ("AWS", "p4d.24xlarge", 8, 21.957642, "us-east-1"),
    "nvidia-a100-80gb-sxm": ("AWS", "p4de.24xlarge", 8, 27.44705, "us-east-1"),
    "nvidia-h100-sxm": ("AWS", "p5.48xlarge", 8, 55.04, "us-east-1"),
    "nvidia-h200-sxm": ("AWS", "p5en.48xlarge", 8, 63.296, "us-east-1"),
    "nvidia-b200": ("AWS", "p6-b200.48xlarge", 8, 113.9328, "us-east-1"),
    "nvidia-b300": ("AWS", "p6-b300.48xlarge", 8, 142.416, "us-west-2"),
    "nvidia-l4": ("AWS", "g6.xlarge", 1, 0.8048, "us-east-1"),
    "nvidia-l40s": ("AWS", "g6e.12xlarge", 4, 10.49264, "us-east-1"),
    "nvidia-t4": ("AWS", "g4dn.xlarge", 1, 0.526, "us-east-1"),
    "nvidia-v100-sxm2-16gb": ("AWS", "p3.8xlarge", 4, 12.24, "us-east-1"),
    "google-tpu-v5e": ("Google Cloud", "tpu-v5litepod-1", 1, 1.2, "us-east1"),
    "google-tpu-v6e": ("Google Cloud", "tpu-v6e-1", 1, 2.7, "us-east1"),
    "aws-graviton3": ("AWS", "c7g.8xlarge", 0.5, 1.16, "us-east-1"),
    "aws-graviton4": ("AWS", "c8g.metal-24xl", 1, 3.82848, "us-east-1"),
    "amd-mi300x": ("RunPod", "1x_MI300X_SECURE", 1, 2.39, "US"),
    "nvidia-a100-80gb-pcie": ("RunPod", "1x_A100-80GB_SECURE", 1, 1.39, "US"),
    "nvidia-h100-pcie": ("Lambda", "gpu_1x_h100_pcie", 1, 3.29, "us-east-1"),
    "nvidia-rtx-a6000": ("Lambda", "gpu_1x_a6000", 1, 1.09, "us-east-1"),
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("device_id", sorted(READ))
def test_first_offer_is_the_row_read(catalog, device_id):
    provider, instance, devices, price, region = READ[device_id]
    offer = catalog.get(device_id).price.cloud[0]  # the offer cost columns use
    assert (offer.provider, offer.instance, offer.region) == (provider, instance, region)
    assert offer.devices == devices
    assert offer.instance_usd_per_hour == pytest.approx(price, rel=1e-12)
    assert offer.usd_per_hour == pytest.approx(price / devices, rel=1e-12)


def test_per_gpu_rates_of_the_read_rows():
    # the derivations written in the entries' notes, done by hand
    assert 55.04 / 8 == pytest.approx(6.88)
    assert 63.296 / 8 == pytest.approx(7.912)
    assert 113.9328 / 8 == pytest.approx(14.2416)
    assert 1.16 / 0.5 == pytest.approx(2.32)


def test_h100_sizes_and_providers(catalog):
    offers = {o.instance: o for o in catalog.get("nvidia-h100-sxm").price.cloud}
    assert offers["p5.4xlarge"].devices == 1
    assert offers["p5.4xlarge"].usd_per_hour == pytest.approx(offers["p5.48xlarge"].usd_per_hour)
    lam = offers["gpu_8x_h100_sxm5"]
    assert (lam.provider, lam.devices) == ("Lambda", 8)
    assert lam.usd_per_hour == pytest.approx(31.92 / 8)


def test_every_offer_is_dated_sourced_and_says_where_it_comes_from(catalog):
    offers = [(d.id, o) for d in catalog for o in d.price.cloud]
    assert len(offers) >= len(READ)
    for device_id, o in offers:
        assert o.retrieved is not None and o.region and o.instance, device_id
        host = urlparse(o.source).hostname or ""
        if not host.endswith(PROVIDER_HOSTS):
            # a copy made by someone else: the note says so, and the url is pinned to one commit
            assert o.note and "third-party" in o.note.lower(), device_id
            assert re.search(r"/blob/[0-9a-f]{40}/", o.source), (device_id, o.source)
        # the note writes the derivation instance price / devices
        assert o.note and "per device" in o.note, device_id


def test_no_device_mixes_up_its_instance_count(catalog):
    for d in catalog:
        for o in d.price.cloud:
            if d.kind == "cpu":
                assert 0 < o.devices <= 2, d.id
            else:
                assert float(o.devices).is_integer() and 1 <= o.devices <= 8, d.id


def _run(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _rank_json(capsys, *args):
    out = _run(capsys, "rank", "resnet18", "--devices", "nvidia-h100-sxm,raspberry-pi-5,nvidia-rtx-4090", "--json", *args)
    return {r["device"]: r for r in json.loads(out)["ranked"]}


def test_rank_json_rows_carry_their_basis(capsys):
    rows = _rank_json(capsys)
    assert rows["nvidia-h100-sxm"]["cost_basis"] == BASIS_CLOUD
    assert rows["raspberry-pi-5"]["cost_basis"] == BASIS_FULL
    assert rows["nvidia-rtx-4090"]["cost_basis"] == BASIS_FULL
    h100 = rows["nvidia-h100-sxm"]
    # cloud cost = USD/h / 3600 / (throughput x utilisation 0.5), per million inferences
    expected = 1e6 * (55.04 / 8) / 3600 / (h100["throughput_per_s"] * 0.5)
    assert h100["cost_usd_per_million_units"] == pytest.approx(expected, rel=1e-9)
    assert h100["cost_complete"] is True


def test_rank_cost_basis_cloud_prices_only_cloud_offers(capsys):
    rows = _rank_json(capsys, "--cost-basis", "cloud")
    assert rows["nvidia-h100-sxm"]["cost_basis"] == BASIS_CLOUD
    for device in ("raspberry-pi-5", "nvidia-rtx-4090"):  # purchase prices only
        assert rows[device]["cost_basis"] == BASIS_NONE
        assert rows[device]["cost_usd_per_million_units"] is None


def test_rank_table_marks_the_cloud_basis(capsys):
    out = _run(capsys, "rank", "resnet18", "--devices", "nvidia-l4,raspberry-pi-5")
    l4 = next(line for line in out.splitlines() if "nvidia-l4" in line)
    pi = next(line for line in out.splitlines() if "raspberry-pi-5" in line)
    assert "☁" in l4 and "☁" not in pi
    assert "cost basis auto" in " ".join(out.split())


def test_plan_cost_basis_cloud_rents_every_hour(capsys):
    out = _run(capsys, "plan", "resnet18", "--qps", "20", "--devices", "nvidia-l4,raspberry-pi-5", "--cost-basis", "cloud",
               "--json")
    rows = {r["device"]: r for r in json.loads(out)["rows"]}
    l4 = rows["nvidia-l4"]
    assert l4["cost_basis"] == BASIS_CLOUD and l4["cloud_usd_per_hour"] == pytest.approx(0.8048)
    hours = 3 * SECONDS_PER_YEAR / 3600
    assert l4["tco_usd"] == pytest.approx(l4["units"] * 0.8048 * hours, rel=1e-9)
    assert rows["raspberry-pi-5"]["cost_basis"] == BASIS_NONE and rows["raspberry-pi-5"]["tco_usd"] is None


@pytest.fixture(scope="module")
def section(catalog):
    pytest.importorskip("matplotlib")
    from roofline.report import build_report

    devices = [catalog.get(d) for d in ("nvidia-h100-sxm", "nvidia-l4", "nvidia-rtx-4090", "raspberry-pi-5",
                                        "nvidia-jetson-agx-orin-64gb")]
    return build_report(["resnet18"], devices).sections[0]


def test_pareto_chart_puts_cloud_and_purchase_on_one_axes_with_the_basis_in_the_legend(section):
    from roofline.report.charts import PARETO_LEGEND, pareto_figure

    bases = {r.device: r.cost_basis for r in section.rows}
    assert bases["nvidia-h100-sxm"] == BASIS_CLOUD and bases["nvidia-rtx-4090"] == BASIS_FULL
    fig = pareto_figure(section)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert PARETO_LEGEND[BASIS_CLOUD] in legend and PARETO_LEGEND[BASIS_FULL] in legend
    assert "cloud price" in PARETO_LEGEND[BASIS_CLOUD] and "purchase" in PARETO_LEGEND[BASIS_FULL]
    points = {label: collection.get_offsets().tolist()
              for collection, label in zip(ax.collections, [c.get_label() for c in ax.collections])}
    for device, basis in (("nvidia-h100-sxm", BASIS_CLOUD), ("nvidia-l4", BASIS_CLOUD),
                          ("nvidia-rtx-4090", BASIS_FULL), ("raspberry-pi-5", BASIS_FULL)):
        row = section.row(device)
        drawn = points[PARETO_LEGEND[basis]]
        assert any(math.isclose(x, row.latency_s) and math.isclose(y, row.cost_usd_per_million) for x, y in drawn), device
    # one log cost axis covers both kinds of cost
    low, high = ax.get_ylim()
    costs = [section.row(d).cost_usd_per_million for d in ("nvidia-h100-sxm", "raspberry-pi-5")]
    assert low <= min(costs) and max(costs) <= high


def test_pareto_front_may_mix_bases(section):
    from roofline.report.charts import pareto_front

    front = pareto_front(section.rows)
    assert front and all(r.cost_basis in (BASIS_CLOUD, BASIS_FULL) for r in front)
    # the front is ordered fastest first and each step is cheaper than the last
    assert [r.latency_s for r in front] == sorted(r.latency_s for r in front)
    assert all(a.cost_usd_per_million > b.cost_usd_per_million for a, b in zip(front, front[1:]))
