"""The lake and the raw zone on an S3 store (PINTEREST_LAKE_URI, PINTEREST_RAW_URI), against moto's S3 server on
127.0.0.1 over real HTTP: full runs, re-runs, crashes mid-upload, `load` and `verify` from the store, and every
refusal before any API call.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.data_locations import data_locations
from pipelines.faults import CRASH_AT, STORE_BEFORE_CHECKSUMS, STORE_UPLOAD_UNFINISHED
from pipelines.object_store import StoreError, parse_store
from tests.conftest import TODAY
from tests.process_support import SMALL_WORLD, cli_env, range_args, run_cli, warehouse_contents
from tests.store_support import (
    ACCESS_DENIED,
    INVALID_ACCESS_KEY,
    SECRET_KEY,
    S3Server,
    answering_server,
    closed_port,
    without_aws,
)

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)
RUN = ["run", *range_args(START, END)]


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(make_sandbox_module):
    return make_sandbox_module(**SMALL_WORLD)


@pytest.fixture(scope="module")
def make_sandbox_module():
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from tests.conftest import UNLIMITED

    contexts = []

    def start(**settings):
        context = running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **settings))
        contexts.append(context)
        return context.__enter__()

    yield start
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def store_env(home: Path, world, s3: S3Server, bucket: str, **extra: str) -> dict[str, str]:
    return {**without_aws(cli_env(home, world, TODAY)),
            **s3.env(PINTEREST_LAKE_URI=f"s3://{bucket}/team/lake", PINTEREST_RAW_URI=f"s3://{bucket}/team/raw"),
            **extra}


def lake_keys(s3: S3Server, bucket: str) -> list[str]:
    """The lake's objects, without folder markers (`x/`)."""
    return [k.removeprefix("team/lake/") for k in s3.keys(bucket, "team/lake/") if not k.endswith("/")]


def calls(world) -> int:
    return sum(world.state.stats()["requests"].values())


def test_a_run_writes_the_lake_and_raw_zone_to_the_store_and_a_rerun_replaces_without_duplicates(tmp_path, s3, world):
    bucket = s3.new_bucket()
    env = store_env(tmp_path / "home", world, s3, bucket)
    first = run_cli(RUN, env)
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "home" / "lake").exists() and not (tmp_path / "home" / "raw").exists()
    keys = lake_keys(s3, bucket)
    data = [k for k in keys if k.endswith(".parquet")]
    tables = {k.split("/")[0] for k in data}
    assert {"pin_daily", "user_account_daily", "campaign_daily", "ad_daily", "pins", "campaigns"} <= tables
    # Every date's file of the range is there, each with its checksum written (after it) beside it.
    assert {k.split("/")[1] for k in data if k.startswith("pin_daily/")} == \
        {f"date={START + dt.timedelta(days=n)}" for n in range(7)} - {f"date={TODAY}"}
    for key in data:
        folder, _, name = key.rpartition("/")
        assert f"{folder}/.{name}.sha256" in keys
    # pyarrow marks the prefix as a folder (an empty `team/raw/`) when the write check's object is removed.
    raw = [k for k in s3.keys(bucket, "team/raw/") if not k.endswith("/")]
    assert raw and all(k.endswith(".json.gz") for k in raw)
    header = gzip.decompress(s3.objects(bucket, raw[0])[raw[0]]).split(b"\n", 1)[0]
    assert json.loads(header)["endpoint"]
    before = warehouse_contents(tmp_path / "home", ignore=("extracted_at",))

    second = run_cli(RUN, env)
    assert second.returncode == 0, second.stderr
    assert lake_keys(s3, bucket) == keys  # the same files, replaced: no second copy of any date
    assert warehouse_contents(tmp_path / "home", ignore=("extracted_at",)) == before
    assert len([k for k in s3.keys(bucket, "team/raw/") if not k.endswith("/")]) == 2 * len(raw)  # the raw zone keeps every answer of both runs
    rows = pq.read_table(io.BytesIO(s3.objects(bucket, f"team/lake/{data[0]}")[f"team/lake/{data[0]}"]))
    assert rows.num_rows > 0


def test_load_and_verify_on_another_machine_read_the_store(tmp_path, s3, world):
    bucket = s3.new_bucket()
    assert run_cli(RUN, store_env(tmp_path / "first", world, s3, bucket)).returncode == 0
    expected = warehouse_contents(tmp_path / "first")
    # A second machine: an empty data directory, the same store. `load` calls no API and builds the warehouse
    # from the store's lake alone.
    second = store_env(tmp_path / "second", world, s3, bucket)
    world.state.reset()
    loaded = run_cli(["load", *range_args(START, END)], second)
    assert loaded.returncode == 0, loaded.stderr
    assert calls(world) == 0
    assert warehouse_contents(tmp_path / "second") == expected

    verified = run_cli(["verify"], second)
    assert verified.returncode == 0, verified.stderr
    assert "Every file is intact." in verified.stdout
    assert f"s3://{bucket}/team/lake" in verified.stdout and f"s3://{bucket}/team/raw" in verified.stdout

    # An object changed in the store (not through the pipeline) is found, named by its URI.
    victim = next(k for k in s3.keys(bucket, "team/lake/pin_daily/") if k.endswith(".parquet"))
    original = s3.objects(bucket, victim)[victim]
    s3.put(bucket, victim, original[:-20] + b"\0" * 20)
    damaged = run_cli(["verify"], second)
    assert damaged.returncode == 1
    assert f"BAD s3://{bucket}/{victim}:" in damaged.stderr
    s3.put(bucket, victim, original)

    # A damaged file of a machine's local copy is never pushed: the next step's pull puts the store's back.
    copy = data_locations(tmp_path / "second", second).lake
    other = next(p for p in sorted(copy.rglob("*.parquet")) if "campaign_daily" in str(p))
    good = other.read_bytes()
    other.write_bytes(good[:-10])
    assert run_cli(["load", *range_args(START, END)], second).returncode == 0
    assert other.read_bytes() == good
    assert warehouse_contents(tmp_path / "second") == expected
    key = f"team/lake/{other.relative_to(copy).as_posix()}"
    assert s3.objects(bucket, key)[key] == good
    assert run_cli(["verify"], second).returncode == 0

    # A third machine rebuilds daily tables lost from the store's lake out of its raw zone (no API calls): its
    # lake steps pull the answers of the range, which that machine never fetched.
    lost = {k: v for k, v in s3.objects(bucket, "team/lake/").items() if k.split("/")[2] in ("pin_daily", "ad_daily")}
    for key in lost:
        s3.client().delete_object(Bucket=bucket, Key=key)
    third = store_env(tmp_path / "third", world, s3, bucket)
    world.state.reset()
    rebuilt = run_cli(["run", "--from-raw", *range_args(START, END)], third)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert calls(world) == 0
    assert sorted(k for k in s3.keys(bucket, "team/lake/") if k in lost) == sorted(lost)
    assert warehouse_contents(tmp_path / "third", ignore=("extracted_at",)) == \
        warehouse_contents(tmp_path / "first", ignore=("extracted_at",))


@pytest.mark.slow
@pytest.mark.parametrize("point", [STORE_UPLOAD_UNFINISHED, STORE_BEFORE_CHECKSUMS])
def test_a_run_killed_mid_upload_leaves_every_object_whole_and_the_next_run_repairs(tmp_path, s3, world, point):
    bucket = s3.new_bucket()
    env = store_env(tmp_path / "home", world, s3, bucket)
    assert run_cli(RUN, env).returncode == 0
    previous = s3.objects(bucket, "team/lake/")
    later = {**env, "PINTEREST_ETL_TODAY": (TODAY + dt.timedelta(days=3)).isoformat()}
    # Organic only: the lake's second push with data is the lake step's (after the dimensions'), which
    # replaces the range's files by new versions (days PROCESSING three days earlier are READY now).
    again = ["run", *range_args(START, END, "--only", "organic")]
    crashed = run_cli(again, {**later, CRASH_AT: f"{point}@{5 if point == STORE_UPLOAD_UNFINISHED else 2}"})
    assert crashed.returncode != 0
    now = s3.objects(bucket, "team/lake/")
    assert set(previous) <= set(now)  # nothing of the lake lost
    changed = [key for key in now if key.endswith(".parquet") and now[key] != previous.get(key)]
    if point == STORE_BEFORE_CHECKSUMS:  # the kill came after a push's data files
        assert [key for key in changed if key in previous]  # files replaced, their checksums not
    for key, body in now.items():  # every object is whole: its old bytes or a complete new file
        if key.endswith(".parquet"):
            pq.read_table(io.BytesIO(body))
    if point == STORE_BEFORE_CHECKSUMS:  # the new files are up, their checksums one version behind: verify says so
        stale = run_cli(["verify"], later)
        assert stale.returncode == 1 and "a run stopped between writing it and its checksum" in stale.stderr
    repaired = run_cli(RUN, later)
    assert repaired.returncode == 0, repaired.stderr
    verified = run_cli(["verify"], later)
    assert verified.returncode == 0, verified.stderr


def test_a_machine_that_lost_its_copy_pulls_the_lake_and_pushes_only_what_it_changed(tmp_path, s3, world):
    bucket = s3.new_bucket()
    env = store_env(tmp_path / "home", world, s3, bucket)
    assert run_cli(RUN, env).returncode == 0
    locations = data_locations(tmp_path / "home", {**env})
    import shutil

    shutil.rmtree(locations.lake)
    (locations.lake.parent / f"{locations.lake.name}.manifest.json").unlink()
    only_ads = run_cli(["run", *range_args(END, END, "--only", "ads")], env)
    assert only_ads.returncode == 0, only_ads.stderr
    # The organic files came back from the store (pulled), untouched by an ads-only run.
    assert sorted(p.relative_to(locations.lake).as_posix() for p in locations.lake.rglob("*.parquet")
                  if "pin_daily" in str(p)) == \
        [k for k in lake_keys(s3, bucket) if k.startswith("pin_daily/") and k.endswith(".parquet")]


@pytest.mark.parametrize("case", ["no bucket", "refused key", "read-only", "not S3", "no answer"])
def test_a_store_that_cannot_be_used_stops_the_run_before_any_api_call_naming_uri_and_setting(tmp_path, s3, world,
                                                                                             case):
    home = tmp_path / "home"
    bucket = s3.new_bucket() if case != "no bucket" else "etl-missing-bucket"
    servers = {"refused key": (403, "application/xml", INVALID_ACCESS_KEY),
               "read-only": (403, "application/xml", ACCESS_DENIED),
               "not S3": (200, "text/html", b"<html><body>It works!</body></html>")}
    world.state.reset()
    if case in servers:
        with answering_server(*servers[case]) as url:
            result = run_cli(RUN, store_env(home, world, s3, bucket, AWS_ENDPOINT_URL=url), timeout=120)
    elif case == "no answer":
        endpoint = f"http://127.0.0.1:{closed_port()}"
        result = run_cli(RUN, store_env(home, world, s3, bucket, AWS_ENDPOINT_URL=endpoint), timeout=120)
    else:
        result = run_cli(RUN, store_env(home, world, s3, bucket), timeout=120)
    assert result.returncode == 1
    assert f"s3://{bucket}/team/" in result.stderr and "PINTEREST_" in result.stderr and "_URI" in result.stderr
    expected = {"no bucket": "the bucket does not exist", "refused key": "the credentials were refused",
                "read-only": "access was denied", "not S3": "not an S3 API", "no answer": "does not answer"}[case]
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert calls(world) == 0
    assert not (home / "raw").exists() and not (home / "lake").exists()
    assert not any(home.rglob("*.parquet")) and not any(home.rglob("*.json.gz"))
    assert SECRET_KEY not in result.stdout + result.stderr


def test_a_store_lake_of_an_earlier_layout_stops_the_run_with_one_line_naming_the_object(tmp_path, s3, world):
    bucket = s3.new_bucket()
    s3.put(bucket, "team/lake/metric_daily/date=2026-11-01/default.parquet", b"a long-layout file")
    world.state.reset()
    result = run_cli(RUN, store_env(tmp_path / "home", world, s3, bucket))
    assert result.returncode == 1
    # Refused when the run's storage is set up (its pull), before any step: the last line says so, whole.
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"pinterest-etl run: the run's resources could not be set up: StoreError: s3://{bucket}/team/lake "
        f"(PINTEREST_LAKE_URI; endpoint {s3.endpoint}) holds 1 lake file(s) of an earlier version's layout (such as "
        f"s3://{bucket}/team/lake/metric_daily/date=2026-11-01/default.parquet)")
    assert calls(world) == 0


@pytest.mark.parametrize("value, expected", [
    ("gs://bucket/lake", "its S3-compatible API"),
    ("abfs://container@account.dfs.core.windows.net/lake", "not supported"),
    ("s3://Bad_Bucket/lake", "not an S3 bucket name"),
    ("s3://bucket/a/../b", "not a plain key prefix"),
    ("s3://bucket//lake", "not a plain key prefix"),
    ("s3://key:secret@bucket/lake", "without user info"),
    ("s3://bucket/lake?versionId=1", "without user info, query or fragment"),
])
def test_a_uri_this_version_cannot_use_is_refused_with_the_reason(value, expected):
    with pytest.raises(StoreError, match="PINTEREST_LAKE_URI") as refused:
        parse_store(value, "PINTEREST_LAKE_URI", {})
    assert expected in str(refused.value)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("endpoint, expected", [
    ("http://minio.example.com:9000", "must use https"),
    ("https://user:pw@minio.example.com", "must not contain user info"),
    ("https://minio.example.com/bucket", "scheme, host and port only"),
    ("http://127.0.0.1.evil.example:9000", "must use https"),
])
def test_an_endpoint_that_would_send_credentials_unsafely_is_refused(endpoint, expected):
    with pytest.raises(StoreError, match=expected) as refused:
        parse_store("s3://bucket/lake", "PINTEREST_LAKE_URI", {"AWS_ENDPOINT_URL": endpoint})
    assert "pw" not in str(refused.value)


def test_the_lake_and_raw_zone_may_not_share_a_prefix(tmp_path):
    env = {"PINTEREST_LAKE_URI": "s3://bucket/data", "PINTEREST_RAW_URI": "s3://bucket/data/raw"}
    with pytest.raises(StoreError, match="one inside the other"):
        data_locations(tmp_path, env)
    env = {"PINTEREST_LAKE_URI": str(tmp_path / "x"), "PINTEREST_RAW_URI": str(tmp_path / "x")}
    with pytest.raises(StoreError, match="one inside the other"):
        data_locations(tmp_path, env)
    # Another endpoint is another store: the same URIs do not collide, nor do their local copies.
    apart = data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/lake",
                                      "AWS_ENDPOINT_URL": "https://one.example"})
    other = data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/lake",
                                      "AWS_ENDPOINT_URL": "https://two.example"})
    assert apart.lake != other.lake


def test_local_folders_elsewhere_hold_the_lake_and_raw_zone(tmp_path, world):
    env = {**cli_env(tmp_path / "home", world, TODAY), "PINTEREST_LAKE_URI": str(tmp_path / "elsewhere" / "lake"),
           "PINTEREST_RAW_URI": f"file://{tmp_path / 'elsewhere' / 'raw'}"}
    result = run_cli(["run", *range_args(END, END, "--only", "organic")], env)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "elsewhere" / "lake" / "pin_daily").rglob("*.parquet"))
    assert any((tmp_path / "elsewhere" / "raw").rglob("*.json.gz"))
    assert not (tmp_path / "home" / "lake").exists() and not (tmp_path / "home" / "raw").exists()
    verified = run_cli(["verify"], env)
    assert verified.returncode == 0 and str(tmp_path / "elsewhere" / "lake") in verified.stdout


@pytest.mark.slow  # a process per step
def test_two_accounts_in_two_workers_push_and_pull_one_copy_without_losing_a_file(tmp_path, s3, make_sandbox):
    from tests.test_accounts import WORLD
    from tests.test_accounts_parallel import NAMES, THREE_ACCOUNTS, TOKENS

    server = make_sandbox(**{**WORLD, "users": 3})
    bucket = s3.new_bucket()
    home = tmp_path / "home"
    home.mkdir()
    (home / "accounts.toml").write_text(THREE_ACCOUNTS)
    env = {k: v for k, v in store_env(home, server, s3, bucket).items()
           if k not in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN")} | TOKENS
    result = run_cli([*RUN, "--account-workers", "2"], env, timeout=600)
    assert result.returncode == 0, result.stderr
    copy = data_locations(home, env).lake
    local = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file() and
                   (not p.name.startswith(".") or p.name.endswith(".sha256")))
    assert local == lake_keys(s3, bucket)  # every file each step process wrote reached the store
    assert {f"account={name}" for name in NAMES[1:]} <= {k.split("/")[2] for k in s3.keys(bucket, "team/raw/")}
    elsewhere = {**env, "PINTEREST_ETL_HOME": str(tmp_path / "elsewhere")}
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "accounts.toml").write_text(THREE_ACCOUNTS)
    assert run_cli(["load", *range_args(START, END)], elsewhere).returncode == 0
    assert warehouse_contents(tmp_path / "elsewhere") == warehouse_contents(home)


def test_a_pull_keeps_what_the_copy_wrote_and_did_not_push_yet_and_restores_what_was_removed_by_hand(
        tmp_path, s3, monkeypatch):
    from pipelines.object_mirror import Mirror

    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = s3.new_bucket()
    store = parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", s3.env())
    first = Mirror(store, tmp_path / "copy", append_only=False)
    (tmp_path / "copy" / "t" / "date=2026-11-01").mkdir(parents=True)
    kept = tmp_path / "copy" / "t" / "date=2026-11-01" / "a.parquet"
    kept.write_bytes(b"one")
    assert first.push() == 1
    pending = tmp_path / "copy" / "t" / "date=2026-11-02" / "b.parquet"
    pending.parent.mkdir()
    pending.write_bytes(b"written by another step, not pushed yet")
    kept.unlink()  # removed by hand: the store still has it
    assert first.pull() == 1
    assert kept.read_bytes() == b"one" and pending.exists()
    # The store's newer version wins over the copy's; a file removed from the store goes from the copy.
    s3.put(bucket, "lake/t/date=2026-11-01/a.parquet", b"two, from another machine")
    assert first.pull() == 1 and kept.read_bytes() == b"two, from another machine"
    assert first.push() == 1  # the pending file
    s3.client().delete_object(Bucket=bucket, Key="lake/t/date=2026-11-02/b.parquet")
    first.pull()
    assert not pending.exists() and kept.exists()
    assert [k for k in s3.keys(bucket, "lake/") if not k.endswith("/")] == ["lake/t/date=2026-11-01/a.parquet"]
