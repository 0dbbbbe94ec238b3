"""Settings are read once into one object (pipelines/settings.py `Settings`, per account: pipelines/run_settings.py),
and every variable it reads is refused when bad before anything is called: the list of variables comes from the
object's fields, so a new setting cannot miss the check."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.settings import Settings, SettingsError
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env

ROOT = Path(__file__).resolve().parents[1]
TWO_ACCOUNTS = """
[[account]]
name = "brand-a"
access_token_env = "BRAND_A_ACCESS_TOKEN"

[[account]]
name = "brand-b"
access_token_env = "BRAND_B_ACCESS_TOKEN"
"""
# A value refused for each variable the settings read (with the other variables it needs to be refused alone).
BAD = {
    "PINTEREST_ETL_HOME": {"PINTEREST_ETL_HOME": "back\\slash/home"},
    "PINTEREST_ETL_TODAY": {"PINTEREST_ETL_TODAY": "tomorrow"},
    "PINTEREST_START_DATE": {"PINTEREST_START_DATE": "2026-13-01"},
    "PINTEREST_API_BASE_URL": {"PINTEREST_API_BASE_URL": "ftp://api.pinterest.com/v5"},
    "PINTEREST_ACCESS_TOKEN": {"PINTEREST_ACCESS_TOKEN": "pina two words"},
    "PINTEREST_REFRESH_TOKEN": {"PINTEREST_REFRESH_TOKEN": "pinr two words"},
    "PINTEREST_APP_ID": {"PINTEREST_APP_ID": "12:34", "PINTEREST_APP_SECRET": "secret"},
    "PINTEREST_APP_SECRET": {"PINTEREST_APP_SECRET": "secret"},
    "PINTEREST_TOKEN_FILE": {"PINTEREST_TOKEN_FILE": "/nonexistent/token.json", "PINTEREST_ACCESS_TOKEN": "",
                             "PINTEREST_REFRESH_TOKEN": ""},
    "PINTEREST_ACCOUNTS_FILE": {"PINTEREST_ACCOUNTS_FILE": "/nonexistent/accounts.toml"},
    "PINTEREST_HTTPS_PROXY": {"PINTEREST_HTTPS_PROXY": "socks5://proxy"},
    "PINTEREST_CA_BUNDLE": {"PINTEREST_CA_BUNDLE": "/nonexistent/ca.pem"},
    "PINTEREST_HTTP_TIMEOUT_SECONDS": {"PINTEREST_HTTP_TIMEOUT_SECONDS": "-1"},
    "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": {"PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": "a minute"},
    "PINTEREST_HTTP_MAX_BODY_MB": {"PINTEREST_HTTP_MAX_BODY_MB": "0"},
    "PINTEREST_MAX_PAGES": {"PINTEREST_MAX_PAGES": "many"},
    "PINTEREST_RETRY_BACKOFF_SECONDS": {"PINTEREST_RETRY_BACKOFF_SECONDS": "0"},
    "PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS": {"PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS": "0.5"},
    "PINTEREST_RATE_BUDGETS": {"PINTEREST_RATE_BUDGETS": "org_analytics=fast"},
    "PINTEREST_AD_ACCOUNT_IDS": {"PINTEREST_AD_ACCOUNT_IDS": "my-ad-account"},
    "PINTEREST_ORGANIC_SPLITS": {"PINTEREST_ORGANIC_SPLITS": "BY_MOOD"},
    "PINTEREST_CONTENT_TYPES": {"PINTEREST_CONTENT_TYPES": "PAID"},
    "PINTEREST_ADS_COLUMNS": {"PINTEREST_ADS_COLUMNS": "CLICKTHROUGH1"},
    "PINTEREST_ADS_CLICK_WINDOW_DAYS": {"PINTEREST_ADS_CLICK_WINDOW_DAYS": "2"},
    "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS": {"PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS": "45"},
    "PINTEREST_ADS_VIEW_WINDOW_DAYS": {"PINTEREST_ADS_VIEW_WINDOW_DAYS": "one"},
    "PINTEREST_ADS_CONVERSION_REPORT_TIME": {"PINTEREST_ADS_CONVERSION_REPORT_TIME": "NOW"},
    "PINTEREST_REPORT_POLL_SECONDS": {"PINTEREST_REPORT_POLL_SECONDS": "0"},
    "PINTEREST_ORGANIC_REPULL_DAYS": {"PINTEREST_ORGANIC_REPULL_DAYS": "abc"},
    "PINTEREST_ADS_REPULL_DAYS": {"PINTEREST_ADS_REPULL_DAYS": "90"},
    "PINTEREST_FRESHNESS_DEADLINE_HOUR": {"PINTEREST_FRESHNESS_DEADLINE_HOUR": "25"},
    "PINTEREST_SCHEDULE_CRON": {"PINTEREST_SCHEDULE_CRON": "bogus"},
    "PINTEREST_NORMALIZE_WORKERS": {"PINTEREST_NORMALIZE_WORKERS": "17"},
    "PINTEREST_ACCOUNT_WORKERS": {"PINTEREST_ACCOUNT_WORKERS": "0"},
    "PINTEREST_RUN_LOCK_WAIT_SECONDS": {"PINTEREST_RUN_LOCK_WAIT_SECONDS": "a while"},
    "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS": {"PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS": "-2"},
    "PINTEREST_LAKE_URI": {"PINTEREST_LAKE_URI": "gs://bucket/lake"},
    "PINTEREST_RAW_URI": {"PINTEREST_RAW_URI": "s3://Bad_Bucket/raw"},
}


def run_command(capsys, *args: str) -> tuple[int, str]:
    """`pinterest-etl ARGS` in this process: its exit code and everything it printed."""
    code = main(list(args))
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_every_variable_the_settings_read_has_a_refused_value_here():
    assert sorted(BAD) == sorted(Settings.variables())


def test_a_bad_value_of_any_setting_is_refused_before_any_call(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox()
    for variable, bad in BAD.items():
        with monkeypatch.context() as patch:
            pipeline_env(patch, tmp_path / "home", server, TODAY, **bad)
            code, printed = run_command(capsys, "run")
        assert code == 2 and "pinterest-etl run: error: " in printed and variable in printed, (variable, printed)
    assert server_stats(server)["requests"] == {}
    assert not (tmp_path / "home").exists()


def test_a_bad_repull_window_is_refused_before_any_call(make_sandbox, monkeypatch, tmp_path, capsys):
    """It is read by the last steps (the warehouse loads), after every API call of a run."""
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_ADS_REPULL_DAYS="120")
    code, printed = run_command(capsys, "run")
    assert code == 2 and "PINTEREST_ADS_REPULL_DAYS must be a whole number of days from 1 to 89" in printed
    assert server_stats(server)["requests"] == {}


def test_a_bad_setting_of_one_account_is_refused_before_any_account_calls(make_sandbox, monkeypatch, tmp_path,
                                                                         capsys):
    """Each account's settings are read from its own environment, all of them before the first call (not when its
    turn comes, after the accounts before it spent their calls)."""
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, BRAND_A_ACCESS_TOKEN="pina_SANDBOX",
                 BRAND_B_ACCESS_TOKEN="pina two words", PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    home.mkdir()
    (home / "accounts.toml").write_text(TWO_ACCOUNTS)
    code, printed = run_command(capsys, "run")
    assert code == 2, printed
    assert "pinterest-etl run: error: account 'brand-b': BRAND_B_ACCESS_TOKEN contains" in printed, printed
    assert "two words" not in printed
    assert server_stats(server)["requests"] == {}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.update([node.module] if node.module != "pipelines" else [f"pipelines.{a.name}" for a in node.names])
    return names


def test_the_client_package_imports_nothing_of_the_pipeline_above_it():
    """pipelines/pinterest/ is the API client alone: the standard library, third-party packages and itself."""
    above = {path.name: sorted(name for name in _imported_modules(path)
                               if name.split(".")[0] == "pipelines" and not name.startswith("pipelines.pinterest"))
             for path in sorted((ROOT / "pipelines" / "pinterest").glob("*.py"))}
    assert {name: modules for name, modules in above.items() if modules} == {}


def test_the_embedded_simulator_reaches_the_resource_as_configuration_and_the_environment_stays_as_it_was(
        monkeypatch, tmp_path):
    import dagster as dg

    from assets.resources import PinterestResource
    from pipelines.embedded import embedded_simulator_if_needed

    for name in [name for name in os.environ if name.startswith("PINTEREST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    monkeypatch.setenv("PINTEREST_ETL_TODAY", TODAY.isoformat())
    before = dict(os.environ)
    with embedded_simulator_if_needed() as simulator:
        assert dict(os.environ) == before
        with dg.build_resources({"pinterest": PinterestResource().with_simulator(simulator)}) as resources:
            account, = resources.pinterest.accounts()
            assert resources.pinterest.account_settings(account).api_base_url == simulator.base_url
            client, source = resources.pinterest.client(account)
            with client:
                assert client.get("user_account/get")["username"] and source == "environment"
    assert dict(os.environ) == before


def test_the_repr_of_the_settings_shows_no_secret(tmp_path):
    """A Settings object (or a run's, RunSettings) logged or shown in a traceback's locals names no token, app
    secret or proxy password."""
    from pipelines.run_settings import RunSettings

    secrets = {"PINTEREST_ACCESS_TOKEN": "pina_ACCESSSECRET", "PINTEREST_REFRESH_TOKEN": "pinr_REFRESHSECRET",
               "PINTEREST_APP_SECRET": "APPSECRETVALUE", "PINTEREST_HTTPS_PROXY": "http://me:PROXYPASSWORD@proxy.example.com:3128"}
    env = {**secrets, "PINTEREST_APP_ID": "1234", "PINTEREST_ETL_HOME": str(tmp_path)}
    settings = Settings.from_env(env)
    assert settings.https_proxy == secrets["PINTEREST_HTTPS_PROXY"]
    shown = repr(settings) + str(settings) + repr(RunSettings.from_env(env))
    assert [name for name, value in secrets.items() if value.split("@")[0].split(":")[-1] in shown] == []


def test_an_ad_account_allow_list_without_any_id_is_refused_not_read_as_no_ad_account(tmp_path):
    """`PINTEREST_AD_ACCOUNT_IDS=","` would otherwise filter every ad account out and load nothing, silently."""
    for value in (",", " , ,", ", "):
        with pytest.raises(SettingsError, match=r"PINTEREST_AD_ACCOUNT_IDS lists no ad account id .*unset it"):
            Settings.from_env({"PINTEREST_AD_ACCOUNT_IDS": value, "PINTEREST_ETL_HOME": str(tmp_path)})
    assert Settings.from_env({"PINTEREST_AD_ACCOUNT_IDS": " 12, ,34 ", "PINTEREST_ETL_HOME": str(tmp_path)}) \
        .ad_account_ids == frozenset({"12", "34"})
