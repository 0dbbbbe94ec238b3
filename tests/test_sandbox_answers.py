"""The simulator's analytics answers, built column-wise and encoded with orjson, parse to exactly the values of the
straightforward construction (one dict per pin-day or row, in Python loops; kept here as the oracle): same keys in
the same order, ints as ints, the same floats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import types

import numpy as np
import pytest

from pipelines import api_enums as enums
from pipelines.sandbox import organic_model as om
from pipelines.sandbox.ads_model import derived_columns
from pipelines.sandbox.api_ads import ATTRIBUTE_LEVELS, ID_COLUMN, ads_of, attribute_value, attribution_from_query
from pipelines.sandbox.api_organic import STANDARD_METRICS, VIDEO_METRICS, pin_totals
from pipelines.sandbox.json_body import encode_json
from pipelines.sandbox.world import day_to_iso
from tests.conftest import TODAY

WINDOW = {"start_date": (TODAY - dt.timedelta(days=89)).isoformat(), "end_date": TODAY.isoformat()}
# Worlds with pins created inside the window (BEFORE_PIN_CREATED days), ads starting and ending in it, video pins.
WORLDS = {
    "young": {"seed": 3, "pins": 60, "epoch": TODAY - dt.timedelta(days=20)},
    "older": {"seed": 11, "pins": 40, "ad_accounts": 1, "campaigns": 3, "ad_groups": 2, "ads": 2,
              "epoch": TODAY - dt.timedelta(days=60)},
}
ADS_COLUMNS = ["CAMPAIGN_NAME", "AD_GROUP_ID", "PIN_ID", "SPEND_IN_MICRO_DOLLAR", "SPEND_IN_DOLLAR", "TOTAL_IMPRESSION",
               "CTR", "CPM_IN_DOLLAR", "CPC_IN_MICRO_DOLLAR", "TOTAL_CHECKOUT", "CHECKOUT_ROAS", "TOTAL_CONVERSIONS"]


def as_parsed(body) -> str:
    """JSON text of parsed values, which tells 1 from 1.0 and keeps the order of keys."""
    return json.dumps(json.loads(body))


def days_of(start_date: str, end_date: str) -> np.ndarray:
    return np.arange(dt.date.fromisoformat(start_date).toordinal(), dt.date.fromisoformat(end_date).toordinal() + 1)


def reference_block(dates: list[str], statuses: np.ndarray, counts: dict, metrics: list[str]) -> dict:
    values = om.with_derived(counts)
    daily = []
    for j, date in enumerate(dates):
        status = str(statuses[j])
        metrics_of_day = {m: values[m][j].item() for m in metrics} if status in (om.READY, om.ESTIMATE) else {}
        daily.append({"date": date, "data_status": status, "metrics": metrics_of_day})
    summary = om.with_derived({m: v.sum(keepdims=True) for m, v in counts.items()})
    return {"daily_metrics": daily, "summary_metrics": {m: summary[m][0].item() for m in metrics}}


def reference_pin_answer(state, pin: int, metrics: list[str], split_field: str, app_type: str, days: np.ndarray) -> dict:
    index = np.array([pin])
    counts = {m: v[0] for m, v in state.organic.reported_pin_counts(index, days).items()}
    statuses = state.organic.pin_statuses(index, days)[0]
    key = int(state.world.pin_keys[pin])
    if app_type != "ALL":
        counts = om.split_counts(counts, state.organic.split_shares("APP_TYPE", days, key))[app_type]
    own = VIDEO_METRICS if state.world.pin_is_video[pin] else STANDARD_METRICS
    if split_field == "APP_TYPE" and app_type != "ALL":
        buckets = {app_type: counts}
    elif split_field == "APP_TYPE":
        buckets = om.split_counts(counts, state.organic.split_shares("APP_TYPE", days, key))
    else:
        buckets = {"all": counts}
    _, lifetime = pin_totals(types.SimpleNamespace(state=state), index)
    lifetime_metrics = {m: int(lifetime[m][0]) for m in ("TOTAL_COMMENTS", "TOTAL_REACTIONS")}
    dates = [day_to_iso(d) for d in days.tolist()]
    return {name: {**reference_block(dates, statuses, c, [m for m in metrics if m in own]), "lifetime_metrics": lifetime_metrics}
            for name, c in buckets.items()}


def reference_rows(state, level: str, entities: list[int], columns: list[str], days: np.ndarray, granularity: str,
                   query: dict, *, zero_fill: bool = False) -> list[dict]:
    """Rows of an ads answer at DAY, WEEK, MONTH or TOTAL granularity, one entity and one bucket at a time."""
    w = state.world
    counts = state.ads.entity_counts([ads_of(w, level, e) for e in entities], days,
                                     attribution_from_query({k: [str(v)] for k, v in query.items()}))
    dates = [dt.date.fromordinal(d) for d in days.tolist()]
    starts = {"DAY": dates, "WEEK": [d - dt.timedelta(days=d.weekday()) for d in dates],
              "MONTH": [d.replace(day=1) for d in dates], "TOTAL": [None] * len(dates)}[granularity]
    labels = list(dict.fromkeys(None if s is None else s.isoformat() for s in starts))
    bucket_of_day = np.array([labels.index(None if s is None else s.isoformat()) for s in starts])
    counts = {m: np.stack([v[:, bucket_of_day == b].sum(axis=1) for b in range(len(labels))], axis=1) for m, v in counts.items()}
    values = derived_columns(counts)
    delivered = counts["IMPRESSION_1"] + counts["IMPRESSION_2"] + counts["SPEND_IN_MICRO_DOLLAR"] > 0
    rows = []
    for e, entity in enumerate(entities):
        attributes = {c: attribute_value(w, c, level, entity) for c in columns if c in ATTRIBUTE_LEVELS}
        for b, label in enumerate(labels):
            if delivered[e, b]:
                row = {ID_COLUMN[level]: attribute_value(w, ID_COLUMN[level], level, entity)}
                if label is not None:
                    row["DATE"] = label
                row.update({c: v for c, v in attributes.items() if v is not None})
                row.update({c: values[c][e, b].item() for c in columns
                            if c not in ATTRIBUTE_LEVELS and c in values and (values[c][e, b] or zero_fill)})
                rows.append(row)
    return rows


@pytest.mark.parametrize("world", WORLDS)
def test_bulk_pin_answers_equal_the_answers_built_pin_day_by_pin_day(make_sandbox, api, world):
    server = make_sandbox(**WORLDS[world])
    state = server.state
    pins = list(range(0, len(state.world.pin_ids), 3))
    metrics = list(dict.fromkeys(enums.PIN_STANDARD_METRIC_TYPES + enums.PIN_VIDEO_METRIC_TYPES))
    for app_type in ("ALL", "WEB"):
        answer = api.get(f"{server.base_url}/pins/analytics", params={
            **WINDOW, "pin_ids": ",".join(state.world.pin_ids[p] for p in pins), "metric_types": "ALL", "app_types": app_type})
        assert answer.status_code == 200
        reference = {state.world.pin_ids[p]: reference_pin_answer(state, p, metrics, "NO_SPLIT", app_type, days_of(**WINDOW))
                     for p in pins}
        assert as_parsed(answer.content) == as_parsed(json.dumps(reference))


def test_a_pin_split_by_app_type_equals_the_answer_built_bucket_by_bucket(make_sandbox, api):
    server = make_sandbox(**WORLDS["young"])
    state = server.state
    metrics = ["IMPRESSION", "SAVE_RATE", "VIDEO_AVG_WATCH_TIME", "PROFILE_VISIT"]
    for pin in (0, 1, 2):
        answer = api.get(f"{server.base_url}/pins/{state.world.pin_ids[pin]}/analytics",
                         params={**WINDOW, "metric_types": ",".join(metrics), "split_field": "APP_TYPE"})
        reference = reference_pin_answer(state, pin, metrics, "APP_TYPE", "ALL", days_of(**WINDOW))
        assert as_parsed(answer.content) == as_parsed(json.dumps(reference))


@pytest.mark.parametrize("granularity", ["DAY", "WEEK", "MONTH", "TOTAL"])
def test_ads_answers_equal_the_rows_built_entity_by_entity(make_sandbox, api, granularity):
    server = make_sandbox(**WORLDS["older"])
    w = server.state.world
    account = w.ad_account_ids[0]
    query = {**WINDOW, "granularity": granularity, "columns": ",".join(ADS_COLUMNS), "click_window_days": 7}
    for level, path, parameter, ids in (("campaign", "campaigns", "campaign_ids", w.campaign_ids),
                                        ("ad_group", "ad_groups", "ad_group_ids", w.ad_group_ids),
                                        ("ad", "ads", "ad_ids", w.ad_ids)):
        answer = api.get(f"{server.base_url}/ad_accounts/{account}/{path}/analytics", params={**query, parameter: ",".join(ids)})
        reference = reference_rows(server.state, level, list(range(len(ids))), ADS_COLUMNS, days_of(**WINDOW), granularity,
                                   {"click_window_days": 7})
        assert reference  # the world delivered in the window
        assert as_parsed(answer.content) == as_parsed(json.dumps(reference))


def test_a_csv_report_has_the_values_of_the_rows_built_entity_by_entity(make_sandbox, api):
    server = make_sandbox(**WORLDS["older"], report_polls=0)
    w = server.state.world
    account = w.ad_account_ids[0]
    body = {"start_date": WINDOW["start_date"], "end_date": "2026-11-27", "granularity": "DAY", "level": "AD_GROUP",
            "columns": ADS_COLUMNS, "report_format": "CSV"}
    token = api.post(f"{server.base_url}/ad_accounts/{account}/reports", json=body).json()["token"]
    status = api.get(f"{server.base_url}/ad_accounts/{account}/reports", params={"token": token}).json()
    text = api.get(status["url"]).text
    rows = reference_rows(server.state, "ad_group", list(range(len(w.ad_group_ids))), ADS_COLUMNS,
                          days_of(WINDOW["start_date"], "2026-11-27"), "DAY", {}, zero_fill=True)
    header = ["DATE", *ADS_COLUMNS]
    assert list(csv.reader(io.StringIO(text))) == [header] + [[str(row.get(c, "")) for c in header] for row in rows]


def test_encoded_floats_parse_back_to_the_same_floats():
    values = [0.1 + 0.2, 1e-05, 1e16, 5e-324, 1.7976931348623157e308, 123456789.123, 2 / 3, np.float64(0.7) * 3, 0.0, 7]
    parsed = json.loads(encode_json(values))
    assert parsed == values
    assert [type(v) for v in parsed] == [float] * 9 + [int]


def test_what_orjson_refuses_is_encoded_by_the_json_module():
    assert encode_json({"id": 2**70, "n": 1}) == b'{"id":1180591620717411303424,"n":1}'
    assert encode_json({3: "three"}) == b'{"3":"three"}'
