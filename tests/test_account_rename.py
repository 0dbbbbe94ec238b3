"""The lake is keyed by the stable Pinterest identity (user id, ad account id), not by the accounts file's names:
renaming an account, moving an ad account to another login, moving from the environment's account to an
accounts file, or upgrading a lake of the name-keyed layout never counts a fact twice (child processes against
the simulator)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from pipelines import catalog
from pipelines.lake import LakeIdentityError, checksum_path, identity, identity_of, keyed
from tests.conftest import TODAY
from tests.process_support import SMALL_WORLD, cli_env, lake_files, range_args, run_cli, warehouse_contents
from tests.wide_lake_support import fact_files, to_long_lake

START, END = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=1)
# Two ad accounts: the user's own and one shared with it, so that one can move between the file's accounts.
WORLD = {**SMALL_WORLD, "ad_accounts": 2}
TOKENS = {"BRAND_ACCESS_TOKEN": "pina_SANDBOX", "BRAND_REFRESH_TOKEN": "pinr_SANDBOX"}


def account_table(name: str, ad_account_ids: list[str] | None = None) -> str:
    ids = f"ad_account_ids = {ad_account_ids!r}\n".replace("'", '"') if ad_account_ids else ""
    return (f'[[account]]\nname = "{name}"\naccess_token_env = "BRAND_ACCESS_TOKEN"\n'
            f'refresh_token_env = "BRAND_REFRESH_TOKEN"\n{ids}\n')


def run(home: Path, env: dict[str, str], *more: str) -> None:
    result = run_cli(["run", *range_args(START, END), *more], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def contents(home: Path) -> dict[str, list[tuple]]:
    """Every warehouse table without the time each row was fetched: equal for equal data."""
    return warehouse_contents(home, ignore=("extracted_at",))


@pytest.fixture
def clean(make_sandbox, tmp_path):
    """A single run of the range over the same world, and that world's simulator."""
    server = make_sandbox(**WORLD)
    home = tmp_path / "clean"
    run(home, cli_env(home, server, TODAY))
    return server, contents(home)


def ad_account_ids(home: Path) -> list[str]:
    return sorted(row[0] for row in warehouse_contents(home)["ad_accounts"])


@pytest.mark.slow
def test_renaming_an_account_counts_no_fact_twice(clean, tmp_path):
    server, expected = clean
    home = tmp_path / "renamed"
    env = cli_env(home, server, TODAY, **TOKENS)
    home.mkdir()
    (home / "accounts.toml").write_text(account_table("brand-a"))
    run(home, env)
    (home / "accounts.toml").write_text(account_table("brand-b"))
    run(home, env)
    assert contents(home) == expected
    run(home, env)  # and it keeps working
    assert contents(home) == expected
    run(home, env, "--from-raw")  # both names' raw answers, each counted once
    assert contents(home) == expected


@pytest.mark.slow
def test_moving_an_ad_account_to_another_account_counts_no_fact_twice(clean, tmp_path):
    server, expected = clean
    home = tmp_path / "moved"
    env = cli_env(home, server, TODAY, **TOKENS)
    home.mkdir()
    own, shared = ad_account_ids(tmp_path / "clean")
    # The same login under two names (ads only: the organic step refuses one user twice), each with its ad account.
    (home / "accounts.toml").write_text(account_table("brand-a", [own, shared]) + account_table("brand-b", [own]))
    run(home, env, "--only", "ads")
    (home / "accounts.toml").write_text(account_table("brand-a", [shared]) + account_table("brand-b", [own]))
    run(home, env, "--only", "ads")
    run(home, env, "--only", "ads", "--from-raw")
    assert _ads_tables(contents(home)) == _ads_tables(expected)


def _ads_tables(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    ads = ("ad_accounts", "campaigns", "ad_groups", "ads",
           *(t.name for t in catalog.FACT_TABLES.values() if t.source == "ads"))
    return {name: rows for name, rows in tables.items() if name in ads}


@pytest.mark.slow
def test_moving_from_the_environment_account_to_an_accounts_file_counts_no_fact_twice(clean, tmp_path):
    server, expected = clean
    home = tmp_path / "moved"
    env = cli_env(home, server, TODAY, **TOKENS)
    run(home, env)
    (home / "accounts.toml").write_text(account_table("brand-a"))
    run(home, env)
    assert contents(home) == expected
    run(home, env, "--from-raw")
    assert contents(home) == expected


@pytest.mark.slow
def test_a_lake_of_the_name_keyed_layout_is_taken_over_without_a_double_count(clean, tmp_path):
    server, expected = clean
    home = tmp_path / "legacy"
    env = cli_env(home, server, TODAY, **TOKENS)
    home.mkdir()
    (home / "accounts.toml").write_text(account_table("brand-a"))
    run(home, env)
    # What the earlier layout wrote: every file named after the account, no record of identities; facts in the
    # long layout (metric_daily/, daily_status/: one file per date and source, both ad accounts' rows in it).
    dates = {(dt.date.fromisoformat(p.parent.name.removeprefix("date=")), table.source)
             for table in catalog.FACT_TABLES.values() for p in (home / "lake" / table.name).glob("date=*/*.parquet")}
    to_long_lake(home, {(date, source): f"{source}.brand-a" for date, source in dates})
    for path in lake_files(home).values():
        if identity_of(path) is None:  # a long file, named after the account already
            checksum_path(path).unlink()
            continue
        legacy = path.with_name(re.sub(r"\.(user|ad_account)=[0-9]+\.parquet$", ".brand-a.parquet", path.name))
        if legacy.exists():  # an ads date or snapshot of two ad accounts: the earlier layout had one file for both
            legacy_rows = legacy.with_name(legacy.name + ".part")
            path.rename(legacy_rows)
            _append_parquet(legacy, legacy_rows)
        else:
            path.rename(legacy)
        path.with_name(f".{path.name}.sha256").unlink()
    for manifest in (home / "lake" / "_accounts").iterdir():
        manifest.unlink()
    assert all(".brand-a.parquet" in name for name in lake_files(home))
    assert {name.split("/")[0] for name in fact_files(home)} == {"metric_daily", "daily_status"}

    run(home, env)
    assert contents(home) == expected
    names = list(lake_files(home))
    assert not [n for n in names if "brand-a" in n]  # every legacy file taken over, none left to count again
    assert any("organic.user=" in n for n in names) and any("ads.ad_account=" in n for n in names)


def _append_parquet(target: Path, extra: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.concat_tables([pq.read_table(target), pq.read_table(extra)]), target)
    extra.unlink()


@pytest.mark.parametrize("kind, pinterest_id", [("user", "../../etc"), ("user", "12 34"), ("ad_account", ""),
                                                ("ad_account", "١٢٣"), ("user", None), ("board", "123")])
def test_an_id_that_is_not_a_numeric_pinterest_id_names_no_lake_file(kind, pinterest_id):
    with pytest.raises(LakeIdentityError, match="is not a numeric Pinterest id"):
        identity(kind, pinterest_id)
    assert keyed("organic", identity("user", "1000000000000000001")) == "organic.user=1000000000000000001"


@pytest.mark.slow
def test_a_key_restated_to_no_delivery_leaves_the_legacy_file_of_its_date_too(make_sandbox, tmp_path):
    """A date's ads file of the name-keyed layout loses the keys a newer answer covers without a row (an ad and its
    ad group restated to no delivery), not only those an identity's file holds: the levels still add up."""
    import json

    from pipelines.raw_zone import RawZone
    from tests.pipeline_support import query

    server = make_sandbox(**{**SMALL_WORLD, "campaigns": 4, "ad_groups": 2})
    home = tmp_path / "legacy"
    env = cli_env(home, server, TODAY)
    run(home, env, "--only", "ads")
    date, ad, group, campaign = query(home, "SELECT date, ad_id, ad_group_id, campaign_id FROM ad_daily "
                                            "WHERE paid_impression > 0 "
                                            "ORDER BY date, ad_id LIMIT 1")[0]
    to_long_lake(home, {(date, "ads"): "ads"})  # the date's ads facts in the long layout's legacy file, ads.parquet
    for path in (home / "lake").glob(f"*/date={date.isoformat()}/ads.parquet"):
        checksum_path(path).unlink()
    raw = RawZone(home / "raw")
    records = [r for p in raw.all_files() if (r := raw.read(p)).endpoint.endswith("/analytics")]
    ad_row = next(row for r in records if r.endpoint == "ads/analytics" for row in json.loads(r.body)
                  if str(row["AD_ID"]) == ad and row["DATE"][:10] == date.isoformat())
    for record in records:  # each answer again, a minute later: the ad and its ad group (its only ad) lost it all
        rows = []
        for row in json.loads(record.body):
            if row["DATE"][:10] == date.isoformat():
                if str(row.get("AD_ID")) == ad or str(row.get("AD_GROUP_ID")) == group:
                    continue
                if record.context["level"] in ("campaign", "ad_account") and (
                        record.context["level"] == "ad_account" or str(row["CAMPAIGN_ID"]) == campaign):
                    for column in ("SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "CLICKTHROUGH_1"):
                        row[column] = row.get(column, 0) - ad_row.get(column, 0)
            rows.append(row)
        raw.write(record.endpoint, json.dumps(rows).encode(), params=record.params, path_params=record.path_params,
                  window=record.window, context=record.context, fetched_at=record.fetched_at + dt.timedelta(minutes=1),
                  request_id="test")
    run(home, env, "--only", "ads", "--from-raw")
    assert query(home, "SELECT count(*) FROM daily_status WHERE date = ? AND entity_id IN (?, ?)",
                 [date, ad, group]) == [(0,)]
