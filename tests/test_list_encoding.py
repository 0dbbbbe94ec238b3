"""Id lists travel comma-joined (`pin_ids=1,2,3`), as Pinterest's own SDK sends them: every id is answered by the
default simulator (which refuses repeated keys, like an API known to accept only comma-joined lists) and by one
that reads a single value per key, where repeated keys lose ids. Real HTTP against the simulator."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.pinterest.endpoints import encode_query
from pipelines.pinterest.errors import InvalidRequestError
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run

WINDOW = {"start_date": TODAY - dt.timedelta(days=29), "end_date": TODAY - dt.timedelta(days=1)}
PIN_METRICS = {"metric_types": ["IMPRESSION", "SAVE"]}
AD_COLUMNS = {"columns": ["SPEND_IN_MICRO_DOLLAR"], "granularity": "DAY"}


def first_pin_ids(client, count: int) -> list[str]:
    return [pin["id"] for pin in client.paginate("pins/list")][:count]


def bulk_pin_analytics(client, pin_ids: list[str], list_encoding: str = "comma"):
    return client.fetch("multi_pins/analytics", params={**WINDOW, **PIN_METRICS, "pin_ids": pin_ids},
                        list_encoding=list_encoding).data


@pytest.mark.parametrize("reading", ["reject", "last"])
def test_a_bulk_pin_call_for_100_pins_answers_all_100(make_sandbox, reading):
    server = make_sandbox(pins=250, repeated_list_keys=reading)
    with make_client(server) as client:
        pin_ids = first_pin_ids(client, 100)
        answer = bulk_pin_analytics(client, pin_ids)
    assert sorted(answer) == sorted(pin_ids)
    assert server_stats(server)["requests"] == {"pins/list": 1, "multi_pins/analytics": 1}


def test_an_ads_analytics_call_for_250_ad_ids_answers_every_ad_against_a_one_value_per_key_server(make_sandbox):
    server = make_sandbox(pins=100, ad_accounts=1, campaigns=90, repeated_list_keys="last")
    with make_client(server) as client:
        account = next(client.paginate("ad_accounts/list"))["id"]
        ad_ids = [ad["id"] for ad in client.paginate("ads/list", {"ad_account_id": account})]
        assert len(ad_ids) > 250
        with_rows = {row["AD_ID"] for row in client.get("ads/analytics", {"ad_account_id": account},
                                                         {**WINDOW, **AD_COLUMNS, "ad_ids": ad_ids[:250]})}
        with_rows |= {row["AD_ID"] for row in client.get("ads/analytics", {"ad_account_id": account},
                                                          {**WINDOW, **AD_COLUMNS, "ad_ids": ad_ids[250:]})}
        assert len(with_rows) >= 250  # enough ads with spend in the window for one full call
        wanted = sorted(with_rows)[:250]
        rows = client.get("ads/analytics", {"ad_account_id": account}, {**WINDOW, **AD_COLUMNS, "ad_ids": wanted})
    assert sorted({row["AD_ID"] for row in rows}) == wanted
    assert server_stats(server)["requests"]["ads/analytics"] == 3


def test_repeated_keys_lose_ids_on_a_server_that_reads_one_value_per_key(make_sandbox):
    """The danger comma-joining avoids: the answer is a success, with one pin of the hundred asked for."""
    server = make_sandbox(pins=250, repeated_list_keys="last")
    with make_client(server) as client:
        pin_ids = first_pin_ids(client, 100)
        answer = bulk_pin_analytics(client, pin_ids, list_encoding="repeated")
    assert sorted(answer) == [pin_ids[-1]]


def test_repeated_keys_are_refused_by_default_with_a_400_naming_the_parameter(make_sandbox):
    server = make_sandbox(pins=250)
    with make_client(server) as client:
        pin_ids = first_pin_ids(client, 3)
        with pytest.raises(InvalidRequestError) as refusal:
            bulk_pin_analytics(client, pin_ids, list_encoding="repeated")
    assert refusal.value.status == 400 and refusal.value.code == 1
    assert "Parameter 'pin_ids' was sent 3 times; send a list as one comma-joined value" in str(refusal.value)
    assert server_stats(server)["requests"] == {"pins/list": 1, "multi_pins/analytics": 1}


def test_repeated_keys_are_read_in_full_by_a_lenient_server(make_sandbox):
    server = make_sandbox(pins=250, repeated_list_keys="all")
    with make_client(server) as client:
        pin_ids = first_pin_ids(client, 100)
        assert sorted(bulk_pin_analytics(client, pin_ids, list_encoding="repeated")) == sorted(pin_ids)


def test_an_unknown_list_encoding_is_refused_before_any_call(make_sandbox):
    server = make_sandbox(pins=10)
    with make_client(server) as client, pytest.raises(ValueError, match="list_encoding must be one of comma, repeated"):
        bulk_pin_analytics(client, ["1"], list_encoding="semicolon")
    assert server_stats(server)["requests"] == {}


def test_each_list_parameter_travels_as_pinterests_sdk_sends_it():
    """The SDK comma-joins id lists and hands entity_statuses (and creative_types) as lists to parameters its generated
    client sends as repeated keys; columns and metric types are comma-joined by the description itself."""
    params = {"campaign_ids": ["1", "2"], "entity_statuses": ["ACTIVE", "ARCHIVED"], "columns": ["SPEND_IN_DOLLAR", "CTR"],
              "creative_types": ["REGULAR", "VIDEO"], "page_size": 250}
    assert encode_query(params) == [("campaign_ids", "1,2"), ("entity_statuses", "ACTIVE"), ("entity_statuses", "ARCHIVED"),
                                    ("columns", "SPEND_IN_DOLLAR,CTR"), ("creative_types", "REGULAR"),
                                    ("creative_types", "VIDEO"), ("page_size", "250")]


@pytest.mark.parametrize("reading", ["reject", "last"])
def test_the_simulator_reads_entity_statuses_sent_as_repeated_keys_in_full_as_the_sdk_sends_them(make_sandbox, reading):
    """Its strict reading refused the SDK's own `entity_statuses=ACTIVE&entity_statuses=ARCHIVED` with a 400."""
    server = make_sandbox(ad_accounts=1, campaigns=40, repeated_list_keys=reading)
    with make_client(server) as client:
        account = next(client.paginate("ad_accounts/list"))["id"]
        statuses = {campaign["status"] for campaign in client.paginate(
            "campaigns/list", {"ad_account_id": account}, {"entity_statuses": ["ACTIVE", "PAUSED", "ARCHIVED"]})}
    assert statuses == {"ACTIVE", "PAUSED", "ARCHIVED"}


@pytest.mark.slow
def test_a_run_against_a_one_value_per_key_server_loads_every_pin_and_passes_the_ads_checks(make_sandbox, monkeypatch,
                                                                                             tmp_path, capsys):
    server = make_sandbox(repeated_list_keys="last")
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(WINDOW["start_date"], WINDOW["end_date"], only=None) == 0
    assert query(tmp_path, "SELECT count(DISTINCT pin_id) FROM pin_daily") == [(500,)]
    printed = capsys.readouterr().out
    # An ad, ad group or campaign id lost from a call would leave its parent's totals bigger than its children's.
    for check in ("ads_add_up_to_ad_groups", "ad_groups_add_up_to_campaigns", "campaigns_add_up_to_accounts"):
        assert f".{check}: passed" in printed
