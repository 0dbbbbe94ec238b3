"""Bad input, through the real command line: each gets a clear error naming what is wrong and how to fix it,
and nothing is called or written. Answers the API shapes differently: extra fields are tolerated, a missing
field is an error naming the endpoint and the field, ids beyond 64-bit integers stay exact strings."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
import requests

from pipelines import catalog
from pipelines.cli import main
from pipelines.pinterest.credentials import Secret, TokenFile, Tokens
from pipelines.pinterest.errors import ResponseShapeError
from pipelines.sandbox.auth import DEV_ACCESS_TOKEN
from tests.client_support import server_stats
from tests.conftest import PARTITIONS_FIRST, TODAY
from tests.fault_support import RANGE, assert_same_warehouse
from tests.pipeline_support import pipeline_env, query

YESTERDAY = TODAY - dt.timedelta(days=1)


def cli(capsys, *args: str) -> tuple[int, str]:
    """`pinterest-etl ARGS` in this process: its exit code and everything it printed."""
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def files_under(home) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) if home.exists() else []


@pytest.mark.parametrize("args, settings, message", [
    (["--start", "2026-11-20", "--end", "2026-11-10"], {}, "--start 2026-11-20 is after --end 2026-11-10; give the earlier"),
    (["--start", "2026-11-31"], {}, "argument --start: expected a date as YYYY-MM-DD, got '2026-11-31'"),
    (["--end", "last week"], {}, "argument --end: expected a date as YYYY-MM-DD, got 'last week'"),
    (["--end", TODAY.isoformat()], {}, f"--end {TODAY} is not a complete day yet; the last complete UTC day is {YESTERDAY}"),
    (["--end", "2027-02-01"], {}, f"the last complete UTC day is {YESTERDAY}"),
    (["--start", str(PARTITIONS_FIRST - dt.timedelta(days=1))], {},
     f"--start {PARTITIONS_FIRST - dt.timedelta(days=1)} is before the first partition {PARTITIONS_FIRST} (set PINTEREST_START_DATE"),
    ([], {"PINTEREST_START_DATE": "2026-13-01"}, "PINTEREST_START_DATE must be a date as YYYY-MM-DD (got '2026-13-01')"),
    ([], {"PINTEREST_ETL_TODAY": "tomorrow"}, "PINTEREST_ETL_TODAY must be a date as YYYY-MM-DD (got 'tomorrow')"),
    ([], {"PINTEREST_ADS_COLUMNS": "SPEND_IN_MICRO_DOLLAR,CLICKTHROUGH1"},
     "unknown ads column(s) CLICKTHROUGH1 (did you mean CLICKTHROUGH_1"),
    ([], {"PINTEREST_ORGANIC_SPLITS": "APP_TYPE,BY_MOOD"},
     "PINTEREST_ORGANIC_SPLITS: unknown split field(s) BY_MOOD; choose from APP_TYPE"),
    ([], {"PINTEREST_API_BASE_URL": "ftp://api.pinterest.com/v5"},
     "PINTEREST_API_BASE_URL must be an http(s) URL such as https://api.pinterest.com/v5"),
    ([], {"PINTEREST_API_BASE_URL": "api.pinterest.com/v5"}, "PINTEREST_API_BASE_URL must be an http(s) URL"),
    ([], {"PINTEREST_API_BASE_URL": "http://api.pinterest.com/v5"},
     "PINTEREST_API_BASE_URL must use https for api.pinterest.com; plain http is accepted only for a local simulator"),
    ([], {"PINTEREST_APP_ID": "1234567"}, "set both PINTEREST_APP_ID and PINTEREST_APP_SECRET"),
    ([], {"PINTEREST_RETRY_BACKOFF_SECONDS": "fast"}, "PINTEREST_RETRY_BACKOFF_SECONDS must be a number of seconds"),
    ([], {"PINTEREST_HTTP_TIMEOUT_SECONDS": "0"}, "PINTEREST_HTTP_TIMEOUT_SECONDS must be more than 0 seconds"),
    ([], {"PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": "forever"}, "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS must be a number"),
    ([], {"PINTEREST_HTTP_MAX_BODY_MB": "lots"}, "PINTEREST_HTTP_MAX_BODY_MB must be a whole number from 1"),
    ([], {"PINTEREST_MAX_PAGES": "-1"}, "PINTEREST_MAX_PAGES must be a whole number from 1"),
    ([], {"PINTEREST_API_BASE_URL": "http://evil.example\\@127.0.0.1:8787/v5"},
     "PINTEREST_API_BASE_URL must not contain a backslash"),
    ([], {"PINTEREST_ACCESS_TOKEN": "pina_one\npina_two"}, "PINTEREST_ACCESS_TOKEN contains a line break inside the value"),
], ids=lambda value: None)
def test_bad_run_input_is_refused_before_anything_is_called_or_written(make_sandbox, monkeypatch, tmp_path, capsys,
                                                                       args, settings, message):
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, **settings)
    code, printed = cli(capsys, "run", *args)
    assert code == 2 and message in printed, printed
    assert "Traceback" not in printed
    assert server_stats(server)["requests"] == {}
    assert files_under(home) == []


@pytest.mark.parametrize("url", ["https://api.pinterest.com/v5", "http://127.0.0.1:8787/v5", "http://localhost:8787/v5",
                                 "http://[::1]:8787/v5"])
def test_https_and_plain_http_to_this_machine_are_the_accepted_base_urls(url):
    from pipelines.pinterest.urls import check_base_url

    assert check_base_url(url) == url


def test_a_token_file_readable_by_others_is_refused_with_the_chmod_that_fixes_it(make_sandbox, monkeypatch, tmp_path,
                                                                                capsys):
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY)
    token_file = TokenFile(home / "credentials" / "pinterest-token.json")
    token_file.write(Tokens(Secret(DEV_ACCESS_TOKEN)))
    os.chmod(token_file.path, 0o644)
    for command, exit_code in ((["run", "--start", RANGE[0].isoformat()], 2), (["auth", "status"], 1)):
        code, printed = cli(capsys, *command)
        assert code == exit_code
        assert f"refusing to read {token_file.path}: it is readable by other users (mode 644)" in printed
        assert f"run `chmod 600 {token_file.path}`" in printed and "Traceback" not in printed
    assert server_stats(server)["requests"] == {}
    assert files_under(home) == ["credentials/pinterest-token.json"]
    assert stat.S_IMODE(token_file.path.stat().st_mode) == 0o644  # left as it was: the user decides


def test_app_credentials_the_api_rejects_are_named_without_the_secret(make_sandbox, monkeypatch, tmp_path, capsys):
    """Only a refresh token is configured, so the run starts with a refresh, which the API refuses (401)."""
    server = make_sandbox()
    home = tmp_path / "home"
    wrong_secret = "not-the-app-secret-5f1c9"
    pipeline_env(monkeypatch, home, server, TODAY, PINTEREST_APP_ID="1234567", PINTEREST_APP_SECRET=wrong_secret,
                 PINTEREST_ACCESS_TOKEN="")
    for command, step in ((["auth", "refresh"], "pinterest-etl auth: error: "),
                          (["run", "--only", "organic", "--start", RANGE[0].isoformat()],
                           "pinterest-etl run: step organic_dimensions failed: ")):
        code, printed = cli(capsys, *command)
        assert code == 1 and step in printed, printed
        assert "oauth/token: HTTP 401, Pinterest code 2: Authentication failed. (Pinterest rejected the app " \
               "credentials (app id 1234567): check PINTEREST_APP_ID and PINTEREST_APP_SECRET" in printed, printed
        assert wrong_secret not in printed
    assert server_stats(server)["requests"] == {"oauth/token": 2}
    assert not {"raw", "lake", "warehouse.duckdb"} & {p.name for p in home.iterdir()}


@pytest.mark.slow
def test_answers_with_unexpected_extra_fields_give_the_same_warehouse(make_sandbox, monkeypatch, tmp_path, demo_warehouse):
    """Every object of every answer carries a field the official description does not have (an object with
    a list in it): the tables equal the demo warehouse's, built from the same world without it."""
    from pipelines.orchestration import run_range

    server = make_sandbox(extra_fields=True)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run_range(TODAY - dt.timedelta(days=35), YESTERDAY) == 0
    assert_same_warehouse(tmp_path, demo_warehouse)


def test_the_extra_fields_fault_adds_a_field_to_objects_not_to_keys_that_are_data(make_sandbox):
    server = make_sandbox(extra_fields=True, pins=1)
    headers = {"Authorization": f"Bearer {DEV_ACCESS_TOKEN}"}
    pins = requests.get(f"{server.base_url}/pins", headers=headers).json()
    assert "sandbox_unexpected_field" in pins and "sandbox_unexpected_field" in pins["items"][0]
    ready_day = (TODAY - dt.timedelta(days=10)).isoformat()
    window = {"start_date": ready_day, "end_date": ready_day}
    analytics = requests.get(f"{server.base_url}/pins/analytics", headers=headers, params={
        **window, "pin_ids": pins["items"][0]["id"], "metric_types": "IMPRESSION"}).json()
    assert list(analytics) == [pins["items"][0]["id"]] and list(analytics[pins["items"][0]["id"]]) == ["all"]
    block = analytics[pins["items"][0]["id"]]["all"]
    assert "sandbox_unexpected_field" in block and "sandbox_unexpected_field" in block["daily_metrics"][0]
    assert set(block["daily_metrics"][0]["metrics"]) == {"IMPRESSION"}


@pytest.mark.parametrize("field, only, step, message", [
    ("id", "organic", "organic_dimensions", "user_account/get: an item lacks the field 'id'"),
    ("data_status", "organic", "organic_lake", "user_account/analytics: the answer lacks the field 'data_status'"),
    ("id", "ads", "ads_dimensions", "ad_accounts/list: an item lacks the field 'id'"),
    ("CAMPAIGN_ID", "ads", "ads_raw", "campaigns/analytics: a row lacks the field 'CAMPAIGN_ID'"),
    ("DATE", "ads", "ads_lake", "ad_account/analytics: a row lacks the field 'DATE'"),
])
def test_an_answer_missing_a_field_stops_the_run_naming_endpoint_and_field(make_sandbox, monkeypatch, tmp_path, capsys,
                                                                           field, only, step, message):
    """No fact row reaches the lake or the warehouse; the raw zone keeps the answers it received (they are
    what a re-normalization reads once the code copes with the new shape), and dimension snapshots of steps
    that completed before stay (each is a whole file)."""
    server = make_sandbox(drop_field=field, pins=50, ad_accounts=1, campaigns=2)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    code, printed = cli(capsys, "run", "--only", only, "--start", RANGE[0].isoformat(), "--end", RANGE[1].isoformat())
    assert code == 1 and f"pinterest-etl run: step {step} failed: " in printed and message in printed, printed
    assert "KeyError" not in printed
    assert not (tmp_path / "warehouse.duckdb").exists()
    assert not [p for table in catalog.FACT_TABLES for p in (tmp_path / "lake" / table).rglob("*")]


def simulator_answer(server, path: str, **params) -> dict | list:
    response = requests.get(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {DEV_ACCESS_TOKEN}"},
                            params=params)
    assert response.status_code == 200
    return response.json()


def without(value, field: str):
    """A copy of a JSON answer with `field` removed from every object in it."""
    if isinstance(value, list):
        return [without(v, field) for v in value]
    if isinstance(value, dict):
        return {k: without(v, field) for k, v in value.items() if k != field}
    return value


def test_normalizers_name_the_endpoint_and_the_missing_field(sandbox):
    from pipelines.ads.dimensions import normalize as normalize_ads_entities
    from pipelines.ads.normalize import normalize_rows
    from pipelines.organic.dimensions import normalize_boards, normalize_pins, normalize_user_account
    from pipelines.organic.normalize import normalize_pin_analytics, normalize_user_account_analytics

    now = dt.datetime.now(dt.timezone.utc)
    window = {"start_date": (TODAY - dt.timedelta(days=7)).isoformat(), "end_date": YESTERDAY.isoformat()}
    pins = simulator_answer(sandbox, "/pins")["items"]
    account_id = sandbox.state.world.ad_account_ids[0]
    cases = [
        (lambda: normalize_user_account(without(simulator_answer(sandbox, "/user_account"), "id"), now),
         "user_account/get: an item lacks the field 'id'"),
        (lambda: normalize_boards(without(simulator_answer(sandbox, "/boards")["items"], "id"), now),
         "boards/list: an item lacks the field 'id'"),
        (lambda: normalize_pins(without(pins, "id"), now), "pins/list: an item lacks the field 'id'"),
        (lambda: normalize_user_account_analytics(without(simulator_answer(sandbox, "/user_account/analytics", **window),
                                                          "daily_metrics"), "1", "NO_SPLIT", now),
         "user_account/analytics: the answer lacks the field 'daily_metrics'"),
        (lambda: normalize_user_account_analytics(without(simulator_answer(sandbox, "/user_account/analytics", **window),
                                                          "date"), "1", "NO_SPLIT", now),
         "user_account/analytics: the answer lacks the field 'date'"),
        (lambda: normalize_pin_analytics(without(simulator_answer(sandbox, "/pins/analytics", **window, pin_ids=pins[0]["id"],
                                                                  metric_types="IMPRESSION"), "all"), now),
         "multi_pins/analytics: the answer lacks the field 'all'"),
        (lambda: normalize_ads_entities("campaigns", without(simulator_answer(
            sandbox, f"/ad_accounts/{account_id}/campaigns")["items"], "id"), now),
         "campaigns/list: an item lacks the field 'id'"),
        (lambda: normalize_rows(without(simulator_answer(sandbox, f"/ad_accounts/{account_id}/analytics", **window,
                                                         granularity="DAY", columns="SPEND_IN_MICRO_DOLLAR"), "AD_ACCOUNT_ID"),
                                "ad_account", "CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION", 30, now, TODAY, None,
                                "ad_account/analytics"),
         "ad_account/analytics: a row lacks the field 'AD_ACCOUNT_ID'"),
    ]
    for normalize, message in cases:
        with pytest.raises(ResponseShapeError) as failure:
            normalize()
        assert message in str(failure.value)


def test_ids_beyond_64_bit_integers_stay_exact_strings_from_the_api_to_the_warehouse(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(wide_ids=True, pins=150, ad_accounts=1, campaigns=2)
    world = server.state.world
    assert all(len(i) == 20 and int(i) > 2**64 for i in [world.user_id, *world.pin_ids, *world.ad_ids, *world.campaign_ids])
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    from pipelines.orchestration import run_range

    assert run_range(*RANGE, only=None) == 0
    assert {r[0] for r in query(tmp_path, "SELECT pin_id FROM pins")} == set(world.pin_ids)
    assert {r[0] for r in query(tmp_path, "SELECT DISTINCT pin_id FROM pin_daily")} == set(world.pin_ids)
    assert query(tmp_path, "SELECT DISTINCT user_id FROM user_account_daily") == [(world.user_id,)]
    assert {r[0] for r in query(tmp_path, "SELECT ad_id FROM ads")} == set(world.ad_ids)
    assert {r[0] for r in query(tmp_path, "SELECT DISTINCT campaign_id FROM campaign_daily")} <= set(world.campaign_ids)
    promoted = query(tmp_path, "SELECT DISTINCT a.pin_id FROM ad_daily a JOIN pins p USING (pin_id)")
    assert promoted and {r[0] for r in promoted} <= set(world.pin_ids)
    id_types = query(tmp_path, "SELECT DISTINCT data_type FROM information_schema.columns "
                               "WHERE column_name LIKE '%\\_id' ESCAPE '\\' OR column_name = 'entity_id'")
    assert id_types == [("VARCHAR",)]


def test_a_20_digit_id_sent_as_a_json_number_is_kept_exactly():
    from pipelines.ads.normalize import normalize_rows
    from pipelines.organic.dimensions import normalize_user_account

    now = dt.datetime.now(dt.timezone.utc)
    body = json.loads('{"id": 98765432109876543210, "username": "wide"}')
    assert normalize_user_account(body, now).column("user_id").to_pylist() == ["98765432109876543210"]
    rows = json.loads('[{"AD_ID": 12345678901234567890, "DATE": "2026-11-20", "SPEND_IN_MICRO_DOLLAR": 5}]')
    normalized = normalize_rows(rows, "ad", "CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION", 30, now, TODAY, None,
                                "ads/analytics")
    assert normalized.rows.column("entity_id").to_pylist() == ["12345678901234567890"]


@pytest.mark.parametrize("args, start_date, message", [
    ([], "2027-01-01", f"PINTEREST_START_DATE=2027-01-01 (the default start when --start is not given) is after the "
                       f"default --end {YESTERDAY} (yesterday, the last complete UTC day); set PINTEREST_START_DATE"),
    (["--end", "2026-11-10"], "2026-11-20", "PINTEREST_START_DATE=2026-11-20 (the default start when --start is not "
                                            "given) is after --end 2026-11-10"),
    (["--start", TODAY.isoformat()], None, f"--start {TODAY} is after the default --end {YESTERDAY} (yesterday"),
    (["--end", "2026-07-01"], None, f"the default start {TODAY - dt.timedelta(days=89)} (the oldest date requested "
                                    "from the API, 89 days back, when --start is not given) is after --end 2026-07-01; "
                                    "give --start too"),
], ids=["future-start-date", "start-date-after-end", "start-after-default-end", "end-before-default-start"])
def test_a_range_error_names_the_setting_each_bound_came_from(make_sandbox, monkeypatch, tmp_path, capsys, args,
                                                               start_date, message):
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, **({"PINTEREST_START_DATE": start_date} if start_date else {}))
    code, printed = cli(capsys, "run", *args)
    assert code == 2 and message in printed, printed
    if "--start" not in args:
        assert "--start 2" not in printed  # no --start was given, so no message may name one
    assert server_stats(server)["requests"] == {}
    assert files_under(home) == []


def test_a_remembered_first_partition_is_named_by_its_file(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY)
    monkeypatch.delenv("PINTEREST_START_DATE")
    home.mkdir()
    (home / "start_date").write_text("2027-01-01\n")
    code, printed = cli(capsys, "run")
    assert code == 2, printed
    assert f"the first partition 2027-01-01 kept in {home / 'start_date'} (the default start when --start is not " \
           f"given) is after the default --end {YESTERDAY}" in printed
    assert server_stats(server)["requests"] == {}


@pytest.mark.parametrize("command, settings, message", [
    ("run", {"PINTEREST_ORGANIC_REPULL_DAYS": "abc"}, "PINTEREST_ORGANIC_REPULL_DAYS must be a whole number of days"),
    ("run --only organic", {"PINTEREST_ADS_REPULL_DAYS": "0"}, "PINTEREST_ADS_REPULL_DAYS must be a whole number"),
    ("run", {"PINTEREST_FRESHNESS_DEADLINE_HOUR": "25"}, "PINTEREST_FRESHNESS_DEADLINE_HOUR must be an hour from 0 to 23"),
    ("run", {"PINTEREST_SCHEDULE_CRON": "bogus"}, "PINTEREST_SCHEDULE_CRON must be a cron expression of five fields"),
    ("run", {"PINTEREST_ACCOUNTS_FILE": "/nonexistent"}, "PINTEREST_ACCOUNTS_FILE=/nonexistent: no such file"),
    ("load", {"PINTEREST_ACCOUNTS_FILE": "/nonexistent"}, "PINTEREST_ACCOUNTS_FILE=/nonexistent: no such file"),
    ("ui", {"PINTEREST_ACCOUNTS_FILE": "/nonexistent"}, "PINTEREST_ACCOUNTS_FILE=/nonexistent: no such file"),
    ("run", {"PINTEREST_TOKEN_FILE": "/nonexistent/x", "PINTEREST_ACCESS_TOKEN": "", "PINTEREST_REFRESH_TOKEN": ""},
     "PINTEREST_TOKEN_FILE=/nonexistent/x: no such file; create it with `pinterest-etl auth login`"),
    ("run", {"PINTEREST_ETL_HOME": "back\\slash/home"}, "PINTEREST_ETL_HOME must not contain a backslash"),
    ("load", {"PINTEREST_ETL_HOME": "back\\slash/home"}, "PINTEREST_ETL_HOME must not contain a backslash"),
], ids=lambda value: None)
@pytest.mark.slow
def test_every_setting_is_checked_before_a_command_calls_or_writes_anything(make_sandbox, tmp_path, command, settings,
                                                                           message):
    from tests.process_support import cli_env, run_cli

    server = make_sandbox()
    home = tmp_path / "home"
    (tmp_path / "dagster").mkdir()
    env = cli_env(home, server, TODAY, DAGSTER_HOME=str(tmp_path / "dagster"), **settings)
    if "PINTEREST_ETL_HOME" in settings:
        env["PINTEREST_ETL_HOME"] = str(tmp_path / settings["PINTEREST_ETL_HOME"])
    done = run_cli([*command.split(), "--port", "1"] if command == "ui" else command.split(), env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"pinterest-etl {command.split()[0]}: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert server_stats(server)["requests"] == {}
    assert files_under(tmp_path) == [] and not home.exists() and not (tmp_path / "back").exists()


@pytest.mark.parametrize("command", [["run"], ["load"], ["sql", "SELECT 1"], ["report"], ["verify"]])
def test_a_malformed_env_file_is_one_line_for_every_command(tmp_path, command):
    from tests.process_support import run_cli

    home = tmp_path / "home"
    (tmp_path / ".env").write_text("PINTEREST_ETL_TODAY=2026-11-28\nthis line has no equals sign\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "DAGSTER_"))}
    done = run_cli(command, {**env, "PINTEREST_ETL_HOME": str(home)}, timeout=60)
    assert (done.returncode, done.stderr) == (2, f"pinterest-etl {command[0]}: error: .env:2: expected KEY=VALUE\n")
    assert not home.exists()


def test_a_dagster_home_that_is_not_a_directory_is_one_line_naming_it(make_sandbox, tmp_path):
    from tests.process_support import cli_env, run_cli

    server = make_sandbox()
    missing = tmp_path / "no-such-dagster-home"
    env = cli_env(tmp_path / "home", server, TODAY, DAGSTER_HOME=str(missing))
    done = run_cli(["run"], env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (f"pinterest-etl run: error: DAGSTER_HOME={str(missing)!r} is not a directory; create it "
                           f"(`mkdir -p {missing}`, and copy .dagster/dagster.yaml into it for the project's instance "
                           "settings) or unset DAGSTER_HOME\n")
    assert server_stats(server)["requests"] == {}
    assert files_under(tmp_path) == []
