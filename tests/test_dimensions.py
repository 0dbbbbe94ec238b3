"""Dimension extraction: listings normalized page by page add up to the whole listing, refused accounts leave nothing."""

from __future__ import annotations

import pyarrow.compute as pc

from pipelines.ads.dimensions import extract_ads_dimensions
from pipelines.organic.dimensions import extract_dimensions
from pipelines.raw_zone import RawZone
from tests.client_support import make_client


def test_every_page_of_the_pins_listing_gives_its_pins_once(make_sandbox, tmp_path):
    server = make_sandbox(pins=600)  # three pages of 250
    raw = RawZone(tmp_path / "raw")
    with make_client(server) as client:
        pins = extract_dimensions(client, raw).pins
    assert sorted(pins.column("pin_id").to_pylist()) == sorted(server.state.world.pin_ids)
    assert pins.column("pin_id").num_chunks == 1
    assert len(list(raw.root.glob("pins__list/*/*.json.gz"))) == 3


def test_a_forbidden_ad_account_leaves_none_of_its_entities(make_sandbox, tmp_path):
    server = make_sandbox(ad_accounts=2, forbidden_ad_accounts=1)
    readable, forbidden = server.state.world.ad_account_ids
    with make_client(server) as client:
        dimensions = extract_ads_dimensions(client, RawZone(tmp_path / "raw"))
    assert list(dimensions.refused) == [forbidden] and dimensions.refused[forbidden].startswith("HTTP 403")
    assert dimensions.ad_accounts.column("ad_account_id").to_pylist() == [readable]
    for name in ("campaigns", "ad_groups", "ads"):
        table = getattr(dimensions, name)
        assert table.num_rows > 0
        assert pc.unique(table.column("ad_account_id")).to_pylist() == [readable], name
