"""Several Pinterest accounts (an agency's clients) into one warehouse: the accounts file, isolation of
rows, and one account's failure not stopping the others."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipelines import catalog
from pipelines.accounts import load_accounts, parse_accounts
from pipelines.settings import SettingsError
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run

START, END = TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1)
WORLD = {"users": 2, "pins": 60, "boards": 3, "ad_accounts": 1, "campaigns": 2, "ad_groups": 1, "ads": 2}


def accounts_env(monkeypatch, home: Path, server, accounts_toml: str, **tokens: str) -> None:
    pipeline_env(monkeypatch, home, server, TODAY)
    for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN"):
        monkeypatch.delenv(key)
    home.mkdir(parents=True, exist_ok=True)
    (home / "accounts.toml").write_text(accounts_toml)
    for key, value in tokens.items():
        monkeypatch.setenv(key, value)


TWO_ACCOUNTS = """
[[account]]
name = "brand-a"
access_token_env = "BRAND_A_ACCESS_TOKEN"
refresh_token_env = "BRAND_A_REFRESH_TOKEN"

[[account]]
name = "brand-b"
access_token_env = "BRAND_B_ACCESS_TOKEN"
refresh_token_env = "BRAND_B_REFRESH_TOKEN"
"""
TOKENS = {"BRAND_A_ACCESS_TOKEN": "pina_SANDBOX", "BRAND_A_REFRESH_TOKEN": "pinr_SANDBOX",
          "BRAND_B_ACCESS_TOKEN": "pina_SANDBOX_2", "BRAND_B_REFRESH_TOKEN": "pinr_SANDBOX_2"}


@pytest.mark.parametrize("text, message", [
    ("[[account]]\nname = 'a'\ntoken = 'pina_x'\n", "unknown key(s) token"),
    ("[[account]]\nname = 'Brand A'\n", "'name' must be 1-40 characters"),
    ("[[account]]\nname = 'a'\n[[account]]\nname = 'a'\n", "the name 'a' is used twice"),
    ("accounts = []\n", "unknown top-level key(s) accounts"),
    ("", "no [[account]] table"),
    ("[[account]]\nname = 'a'\naccess_token_env = 'pina_live-token'\n", "names an environment variable, not a value"),
    # A token of letters, digits and `_` looks like a variable name: it was kept and stored in the run's
    # configuration under DAGSTER_HOME.
    ("[[account]]\nname = 'a'\naccess_token_env = 'pina_live_token'\n", "names an environment variable, not a value"),
    ("[[account]]\nname = 'a'\nrefresh_token_env = 'pinr_live_token'\n", "names an environment variable, not a value"),
    ("[[account]]\nname = 'a'\nad_account_ids = [549755885175]\n", "list of numeric ids as strings"),
    ("[[account]\n", "not valid TOML"),
])
def test_a_bad_accounts_file_is_refused_with_the_reason(text, message):
    with pytest.raises(SettingsError) as error:
        parse_accounts(text, "accounts.toml")
    assert message in str(error.value) and "accounts.toml" in str(error.value)
    assert "live-token" not in str(error.value) and "live_token" not in str(error.value)


def test_without_an_accounts_file_there_is_one_account_from_the_environment(tmp_path):
    accounts = load_accounts({"PINTEREST_ETL_HOME": str(tmp_path)})
    assert [a.name for a in accounts] == ["default"] and not accounts[0].from_file
    with pytest.raises(SettingsError, match="PINTEREST_ACCOUNTS_FILE=.*no such file"):
        load_accounts({"PINTEREST_ACCOUNTS_FILE": str(tmp_path / "missing.toml")})


def test_an_account_gets_its_own_credentials_and_token_file(tmp_path):
    account, = parse_accounts(TWO_ACCOUNTS.split("\n\n")[0].replace("brand-a", "b") + "\nad_account_ids = ['7']\n")
    env = account.environment({"PINTEREST_ETL_HOME": str(tmp_path), "PINTEREST_ACCESS_TOKEN": "pina_OTHER",
                               "BRAND_A_ACCESS_TOKEN": "pina_A", "PINTEREST_AD_ACCOUNT_IDS": "1"})
    assert env["PINTEREST_ACCESS_TOKEN"] == "pina_A" and "PINTEREST_REFRESH_TOKEN" not in env
    assert env["PINTEREST_TOKEN_FILE"] == str(tmp_path / "credentials" / "b.json")
    assert env["PINTEREST_AD_ACCOUNT_IDS"] == "7"


@pytest.mark.slow
def test_two_accounts_load_into_one_warehouse_without_mixing_rows(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(**WORLD)
    accounts_env(monkeypatch, tmp_path, server, TWO_ACCOUNTS, **TOKENS)
    assert run(START, END, only=None) == 0

    users = dict(query(tmp_path, "SELECT username, user_id FROM user_accounts"))
    assert set(users) == {"sandbox_studio", "sandbox_studio_2"}
    # Each Pinterest user's and ad account's rows come from its own lake files, named by its id; no entity is in two.
    lake = tmp_path / "lake"
    ad_accounts = [row[0] for row in query(tmp_path, "SELECT ad_account_id FROM ad_accounts")]
    own_files = {"ads": [f"ads.ad_account={a}.parquet" for a in ad_accounts],
                 "organic": [f"organic.user={u}.parquet" for u in users.values()]}
    for table in catalog.FACT_TABLES.values():
        assert sorted(p.name for p in (lake / table.name / f"date={END}").glob("*.parquet")) == sorted(
            own_files[table.source]), table.name
    organic = [t for t in catalog.FACT_TABLES.values() if t.source == "organic"]
    entities_of_user = " UNION ".join(f"SELECT {t.id_column} FROM read_parquet(?)" for t in organic)
    overlap = query(tmp_path, f"SELECT count(*) FROM (({entities_of_user}) INTERSECT ({entities_of_user}))",
                    [str(lake / t.name / f"date={END}" / f"organic.user={u}.parquet") for u in users.values() for t in organic])
    assert overlap == [(0,)]
    # The warehouse holds exactly both accounts' lake rows, each account's pins under its own user.
    for table in catalog.FACT_TABLES.values():
        lake_rows = query(tmp_path, "SELECT count(*) FROM read_parquet(?, union_by_name = true)",
                          [str(lake / table.name / "*/*.parquet")])
        assert query(tmp_path, f"SELECT count(*) FROM {table.name}") == lake_rows, table.name
    assert query(tmp_path, "SELECT count(DISTINCT entity_id) FROM metric_daily WHERE entity_type = 'user_account'") == [(2,)]
    assert query(tmp_path, "SELECT count(*) FROM pins") == [(2 * WORLD["pins"],)]
    assert query(tmp_path, "SELECT count(DISTINCT pin_id) FROM pin_daily") == [(2 * WORLD["pins"],)]
    per_account = query(tmp_path, "SELECT count(DISTINCT ad_account_id) FROM ad_accounts")
    assert per_account == [(2 * WORLD["ad_accounts"],)]
    # Each account's own pins add up to its own account totals (no rows of the other account mixed in).
    for username, user_id in users.items():
        pins_total, account_total = query(tmp_path, """
            SELECT (SELECT sum(impression) FROM pin_daily p JOIN pins USING (pin_id) JOIN boards b USING (board_id)
                    WHERE b.owner_username = ? AND p.date = ?),
                   (SELECT impression FROM user_account_daily WHERE user_id = ? AND split_field = 'NO_SPLIT'
                    AND content_type = 'ORGANIC' AND date = ?)
            """, [username, START, user_id, START])[0]
        assert pins_total is not None and pins_total <= account_total

    # Loading only brand-a again (brand-b removed from the file) keeps brand-b's rows for the same dates.
    before = query(tmp_path, "SELECT count(*) FROM metric_daily")
    (tmp_path / "accounts.toml").write_text(TWO_ACCOUNTS.split("\n\n")[0] + "\n")
    assert run(START, END, only=None) == 0
    assert query(tmp_path, "SELECT count(*) FROM metric_daily") == before
    assert query(tmp_path, "SELECT count(*) FROM user_accounts") == [(2,)]


@pytest.mark.slow  # 3 s and more: run by CI's second phase (make test-slow)
def test_one_failing_account_does_not_stop_the_others(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**WORLD)
    accounts_env(monkeypatch, tmp_path, server, TWO_ACCOUNTS + """
[[account]]
name = "revoked"
access_token_env = "REVOKED_ACCESS_TOKEN"
""", **TOKENS, REVOKED_ACCESS_TOKEN="pina_REVOKED")
    assert run(START, END, only=None) == 1
    captured = capsys.readouterr()
    assert "account(s) revoked failed" in captured.err
    assert "check user_accounts.every_account_succeeded: FAILED" in captured.out
    assert "pina_REVOKED" not in captured.out + captured.err
    # Both healthy accounts are in the warehouse.
    assert query(tmp_path, "SELECT count(*) FROM user_accounts") == [(2,)]
    assert query(tmp_path, "SELECT count(DISTINCT entity_id) FROM metric_daily WHERE entity_type = 'user_account'") == [(2,)]
    assert query(tmp_path, "SELECT count(DISTINCT entity_id) FROM metric_daily WHERE entity_type = 'ad_account'") == [(2,)]


def test_auth_commands_work_on_a_named_account(make_sandbox, tmp_path):
    import json
    import os
    import stat
    import subprocess
    import sys

    server = make_sandbox(users=2)
    (tmp_path / "accounts.toml").write_text(TWO_ACCOUNTS)
    env = {**os.environ, "PINTEREST_API_BASE_URL": server.base_url, "PINTEREST_ETL_HOME": str(tmp_path),
           "PINTEREST_ACCESS_TOKEN": "", "PINTEREST_REFRESH_TOKEN": "", **TOKENS}

    def auth(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipelines.cli", "auth", *args], capture_output=True, text=True,
                              timeout=60, env=env)

    status = auth("status", "--account", "brand-b")
    assert status.returncode == 0, status.stderr
    assert "user @sandbox_studio_2" in status.stdout
    refreshed = auth("refresh", "--account", "brand-b")
    assert refreshed.returncode == 0, refreshed.stderr
    token_file = tmp_path / "credentials" / "brand-b.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and json.loads(token_file.read_text())["refresh_token"]
    assert not (tmp_path / "credentials" / "brand-a.json").exists()
    unknown = auth("status", "--account", "brand-c")
    assert unknown.returncode == 1 and "no account 'brand-c' in the accounts file (accounts: brand-a, brand-b)" in unknown.stderr
