"""Raw answers parse exactly as the standard json module parses them (the fast parser is only a shortcut)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from pipelines.raw_zone import RawZone

BODIES = [
    b'{"98765432109876543210": {"all": {"daily_metrics": []}}}',  # an id beyond 64 bits as a key: text anyway
    b'[{"AD_ID": 98765432109876543210, "SPEND_IN_MICRO_DOLLAR": 5}]',  # beyond 64 bits as a number
    b'[{"AD_ID": -9223372036854775809}]',  # below the smallest 64-bit integer
    b'[{"AD_ID": 18446744073709551615, "CTR": 0.1234567890123456789}]',  # the largest unsigned 64-bit integer
    b'{"all": {"daily_metrics": [{"date": "2026-11-01", "data_status": "READY", "metrics": {"IMPRESSION": 3}}]}}',
]


@pytest.mark.parametrize("body", BODIES)
def test_stored_answers_parse_exactly_as_the_json_module_parses_them(tmp_path, body):
    raw = RawZone(tmp_path)
    path = raw.write("ads/analytics", body, fetched_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc), request_id=None)
    parsed = RawZone.read(path).json()
    assert parsed == json.loads(body)
    assert json.dumps(parsed) == json.dumps(json.loads(body))  # same types: an int stays an int


def test_nan_in_a_stored_answer_parses_as_the_json_module_allows(tmp_path):
    raw = RawZone(tmp_path)
    path = raw.write("ads/analytics", b'[{"CTR": NaN}]', fetched_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc),
                     request_id=None)
    assert math.isnan(RawZone.read(path).json()[0]["CTR"])
