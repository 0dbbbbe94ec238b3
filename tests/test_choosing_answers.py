"""Choosing one answer per key: a date where no answer takes anything from another keeps its staged rows without
ranking, and gives exactly what ranking gives; a date where answers compete is ranked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet  # noqa: F401 - pa.parquet
import pytest

from pipelines import transform
from pipelines.ads.normalize import ADS
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone

ACCOUNT = "549755885175"
DELIVERING, SILENT = "626000000001", "626000000002"  # campaigns: one with rows on some days, one never
ITS_GROUP, SILENT_GROUP = "2580000000001", "2580000000002"  # an ad group of each
FIRST, GAP, RESTATED = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)
FETCHED = dt.datetime(2026, 11, 28, 6, tzinfo=dt.timezone.utc)
ATTRIBUTION = "CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION"
ID_FIELDS = {"campaign": ("CAMPAIGN_ID", "campaign_ids", "campaigns/analytics"),
             "ad_group": ("AD_GROUP_ID", "ad_group_ids", "ad_groups/analytics")}


def store_list(raw: RawZone, endpoint: str, items: list[dict]) -> None:
    raw.write(endpoint, json.dumps({"items": items, "bookmark": None}).encode(),
              params={"entity_statuses": ["ACTIVE", "PAUSED", "ARCHIVED"]}, path_params={"ad_account_id": ACCOUNT},
              fetched_at=FETCHED - dt.timedelta(minutes=1), request_id="list")


def store_answer(raw: RawZone, level: str, ids: list[str], window: DateRange, delivery: dict[str, list[dt.date]],
                 minutes: int) -> None:
    """An analytics answer of `level` for `ids` over `window`, with a row per entity and day it delivered."""
    id_column, id_parameter, endpoint = ID_FIELDS[level]
    rows = [{id_column: entity, "DATE": day.isoformat(), "SPEND_IN_MICRO_DOLLAR": 1_000_000 + minutes,
             "PAID_IMPRESSION": 100} for entity, days in delivery.items() for day in days]
    raw.write(endpoint, json.dumps(rows).encode(), path_params={"ad_account_id": ACCOUNT}, window=window,
              params={"start_date": str(window.start), "end_date": str(window.end), "granularity": "DAY",
                      "columns": ["SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION"], id_parameter: ids},
              context={"level": level, "ad_account_id": ACCOUNT, "attribution": ATTRIBUTION, "today": "2026-11-28"},
              fetched_at=FETCHED + dt.timedelta(minutes=minutes), request_id=f"{level}-{minutes}")


@pytest.fixture
def staged(tmp_path: Path):
    """Three days of one ad account fetched once: the delivering campaign and its ad group have rows on the first
    and last day and none in between (the campaign's answer then covers its ad group too, as the ad group's own
    answer does), the silent campaign never has one. A later run restated the last day to no delivery."""
    raw = RawZone(tmp_path / "raw")
    store_list(raw, "campaigns/list", [{"id": DELIVERING}, {"id": SILENT}])
    store_list(raw, "ad_groups/list", [{"id": ITS_GROUP, "campaign_id": DELIVERING},
                                       {"id": SILENT_GROUP, "campaign_id": SILENT}])
    whole = DateRange(FIRST, RESTATED)
    store_answer(raw, "campaign", [DELIVERING, SILENT], whole, {DELIVERING: [FIRST, RESTATED]}, minutes=0)
    store_answer(raw, "ad_group", [ITS_GROUP], whole, {ITS_GROUP: [FIRST, RESTATED]}, minutes=1)
    store_answer(raw, "campaign", [DELIVERING, SILENT], DateRange(RESTATED, RESTATED), {}, minutes=60)
    (tmp_path / "staging").mkdir()
    with duckdb.connect() as con:
        yield con, transform.stage(tmp_path / "staging", [raw], whole, ADS)


def ranked(con: duckdb.DuckDBPyConnection, staged, date: dt.date) -> tuple:
    """What ranking every claim of the date chooses."""
    answered = staged.rows.read(date)
    return transform._ranked(con, staged, answered, transform._claims(staged, date, answered))


def rows(table: pa.Table, schema: pa.Schema) -> list[str]:
    """The rows in any order, as the lake writes them (DuckDB names the UTC zone Etc/UTC: the lake casts it back)."""
    return sorted(map(repr, table.cast(schema).to_pylist()))


def same_choice(chosen: tuple, expected: tuple) -> bool:
    """The same wide rows, keys kept final and covered keys without a row."""
    (chosen_rows, kept, without_rows), (chosen_rows2, kept2, without_rows2) = chosen, expected
    return kept == kept2 and all(table.schema.names == other.schema.names
                                 and rows(table, table.schema) == rows(other, table.schema)
                                 for table, other in ((chosen_rows, chosen_rows2), (without_rows, without_rows2)))


@pytest.mark.parametrize("date", [FIRST, GAP], ids=["rows", "parent-covers-child-without-rows"])
def test_a_date_fetched_once_is_chosen_without_ranking_as_ranking_would(staged, monkeypatch, date):
    con, staged = staged
    expected = ranked(con, staged, date)

    def refuse(*args):
        raise AssertionError(f"{date}: ranked although no answer takes anything from another")

    monkeypatch.setattr(transform, "_ranked", refuse)
    chosen = transform.choose_newest(con, staged, date)
    assert same_choice(chosen, expected)
    chosen_rows, kept, without_rows = chosen
    assert (chosen_rows.num_rows, kept) == ((2, 0) if date == FIRST else (0, 0))
    covered_without_rows = {(r["entity_type"], r["entity_id"]) for r in without_rows.to_pylist()}
    assert covered_without_rows == ({("campaign", SILENT), ("ad_group", SILENT_GROUP)} if date == FIRST else
                                    {("campaign", SILENT), ("ad_group", SILENT_GROUP), ("campaign", DELIVERING),
                                     ("ad_group", ITS_GROUP)})


def test_a_restated_date_is_ranked_and_loses_the_rows_the_restatement_left_out(staged, monkeypatch):
    con, staged = staged
    expected = ranked(con, staged, RESTATED)
    calls = []
    monkeypatch.setattr(transform, "_ranked", lambda *args: calls.append(RESTATED) or expected)
    chosen_rows, kept, without_rows = transform.choose_newest(con, staged, RESTATED)
    assert calls == [RESTATED]
    assert (chosen_rows.num_rows, kept) == (0, 0)  # the campaign and its ad group: no delivery
    assert {(r["entity_type"], r["entity_id"]) for r in without_rows.to_pylist()} == {
        ("campaign", SILENT), ("ad_group", SILENT_GROUP), ("campaign", DELIVERING), ("ad_group", ITS_GROUP)}


PIN, USER = "900000000001", "700000000001"


def store_pin_answer(raw: RawZone, day: dt.date, metrics: dict, minutes: int, asked: list[str]) -> None:
    """A bulk pin answer for one READY day of PIN asking the `asked` metrics, fetched `minutes` after FETCHED."""
    window = DateRange(day, day)
    body = {PIN: {"all": {"daily_metrics": [{"date": day.isoformat(), "data_status": "READY", "metrics": metrics}]}}}
    raw.write("multi_pins/analytics", json.dumps(body).encode(), window=window,
              params={"start_date": str(day), "end_date": str(day), "pin_ids": [PIN], "metric_types": asked},
              fetched_at=FETCHED + dt.timedelta(minutes=minutes), request_id=f"pins-{minutes}")


def test_metrics_named_like_the_choosing_machinerys_own_columns_are_kept_through_a_rescue(tmp_path):
    """Two READY answers of a pin's day, the later without SAVE (kept from the earlier: a final value is not wiped
    by a partial answer), with metrics named FILLED, SOURCE and WINNER: names the choosing SQL and the staging
    use for columns of their own, compared without case by DuckDB."""
    from pipelines.lake import Lake
    from pipelines.organic.source import ORGANIC

    raw = RawZone(tmp_path / "raw")
    raw.write("user_account/get", json.dumps({"id": USER, "username": "u"}).encode(),
              fetched_at=FETCHED - dt.timedelta(minutes=1), request_id="user")
    odd = {"FILLED": 7, "SOURCE": 3, "WINNER": 5, "REQUESTED": 6}
    asked = ["IMPRESSION", "SAVE", *odd]
    store_pin_answer(raw, FIRST, {"IMPRESSION": 10, "SAVE": 2, **odd}, minutes=0, asked=asked)
    store_pin_answer(raw, FIRST, {"IMPRESSION": 11, **odd}, minutes=5, asked=asked)
    lake = Lake(tmp_path / "lake")
    summary = transform.normalize_range([raw], lake, DateRange(FIRST, FIRST), ORGANIC, FIRST,
                                        temp_directory=str(tmp_path))
    [path] = lake.files("pin_daily", [FIRST], "organic")
    row = pa.parquet.read_table(path).to_pylist()[0]
    assert {name: row[name] for name in ("pin_id", "impression", "save", "filled", "source", "winner", "requested")} == {
        "pin_id": PIN, "impression": 11, "save": 2, "filled": 7, "source": 3, "winner": 5, "requested": 6}
    assert summary.final_values_kept == {FIRST: 1}
