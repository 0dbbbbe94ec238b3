"""API answers, live and stored, parse exactly as the standard json module parses them (the fast parser is only a shortcut)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math

import pytest

from pipelines.pinterest.json_values import loads
from pipelines.raw_zone import RawZone
from tests.client_support import make_client
from tests.hostile_server_support import HostileServer, Reply

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


EDGE_BODIES = [
    *BODIES,
    b'[NaN, Infinity, -Infinity]',  # the json module's extensions, which orjson refuses
    b'[1e400, -1e400]',  # beyond a float: infinities for the json module, refused by orjson
    b'"\\ud800"',  # a lone surrogate escape
    b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte order mark
    b'{"a": 1, "a": 2}',  # a repeated key: the last one
    b'[-0, -0.0, 0.1, 1.5e-400, 123456789012345678.5e3]',
    b'[9223372036854775807, -9223372036854775808, 9999999999999999999]',  # the 64-bit limits, 19 digits unsigned
    b'["12345678901234567890"]',  # 20 digits in a string: the standard parser, the same value
    b'[' * 1100 + b']' * 1100,  # nested deeper than orjson goes
]
BROKEN_BODIES = [b'', b'{"a": 1', b'{}x', b'"\xff"', b'[' * 100_000 + b']' * 100_000, b'{"a": NaN']


def parsed_or_error(parse, body):
    try:
        return "value", json.dumps(parse(body))  # json.dumps tells an int from a float
    except (ValueError, RecursionError) as error:
        return "error", type(error), str(error)


@pytest.mark.parametrize("body", EDGE_BODIES + BROKEN_BODIES)
def test_loads_gives_the_json_modules_value_or_the_same_error(body):
    assert parsed_or_error(loads, body) == parsed_or_error(json.loads, body)


def test_the_client_parses_an_answer_exactly_as_the_json_module_does(tmp_path):
    body = b'{"id": 98765432109876543210, "username": "wide", "ratio": NaN, "count": 9223372036854775807}'
    with HostileServer(lambda request: Reply(200, body)) as server:
        answer = make_client(server, tmp_path).fetch("user_account/get")
    assert answer.content == body
    assert json.dumps(answer.data) == json.dumps(json.loads(body))


@pytest.mark.parametrize("level", [1, 5, 9])
def test_answers_stored_at_any_compression_level_read_the_same(tmp_path, level):
    raw = RawZone(tmp_path)
    path = raw.write("multi_pins/analytics", BODIES[0], params={"pin_ids": ["1"]}, window=None,
                     fetched_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc), request_id="r1")
    written = RawZone.read(path)
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=level))
    assert RawZone.read(path) == written and RawZone.check_file(path) is None
