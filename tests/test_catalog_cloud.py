"""Cloud price entries: instance price, devices per instance, derived per-device price, provenance."""
from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
import yaml

from roofline.catalog import DeviceSpec, load_catalog


def _gpu(cloud, fields=("memory",)) -> DeviceSpec:
    return DeviceSpec.from_yaml_dict({
        "id": "g", "name": "G", "vendor": "V", "kind": "gpu", "memory": {"capacity": "80 GiB"},
        "price": {"cloud": cloud},
        "sources": [{"url": "https://example.com", "title": "t", "fields": list(fields)}],
    })


OFFER = {"provider": "AWS", "instance": "p5.48xlarge", "devices": 8, "instance_usd_per_hour": 55.04,
         "region": "us-east-1", "retrieved": "2026-12-01", "source": "https://example.com/pricing"}


def test_per_device_price_is_derived_from_the_instance_price():
    offer = _gpu([OFFER]).price.cloud[0]
    assert offer.usd_per_hour == pytest.approx(55.04 / 8)
    assert offer.devices == 8 and offer.region == "us-east-1" and offer.retrieved == dt.date(2026, 12, 1)


def test_inconsistent_prices_are_refused():
    with pytest.raises(ValidationError, match="does not match instance_usd_per_hour"):
        _gpu([{**OFFER, "usd_per_hour": 12.0}])


def test_an_entry_needs_a_price():
    with pytest.raises(ValidationError, match="needs instance_usd_per_hour and devices"):
        _gpu([{"provider": "AWS", "instance": "p5.48xlarge", "source": "https://example.com"}])


def test_the_entry_source_backs_its_numbers_and_must_be_a_url():
    no_source = {k: v for k, v in OFFER.items() if k != "source"}
    with pytest.raises(ValidationError, match=r"price\.cloud\[0\]\.instance_usd_per_hour: no source"):
        _gpu([no_source])
    _gpu([no_source], fields=("memory", "price.cloud"))  # a device-level source works too
    with pytest.raises(ValidationError, match="source must be an http"):
        _gpu([{**OFFER, "source": "aws pricing page"}])


def test_round_trip_keeps_the_derived_price():
    spec = _gpu([OFFER])
    again = DeviceSpec.from_yaml_dict(yaml.safe_load(spec.to_yaml()))
    assert again == spec


def test_builtin_cloud_entries_are_complete():
    for device in load_catalog():
        for offer in device.price.cloud:
            assert offer.instance and offer.devices and offer.instance_usd_per_hour, device.id
            assert offer.region and offer.retrieved and offer.source, device.id
