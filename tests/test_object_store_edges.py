"""An object store that does what the pipeline never does to it: keys no file can be, objects removed by hand, an
endpoint that trickles, settings that nest or are spelled oddly. Against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.data_locations import data_locations
from pipelines.object_mirror import Mirror
from pipelines.object_store import StoreError, parse_store
from pipelines.setting_errors import SettingsError
from tests.store_support import S3Server, trickling_server


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def aws(s3, monkeypatch):
    """The S3 server's settings in this process's environment (pyarrow's client reads the credentials there)."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return s3.env()


def test_keys_no_file_can_be_are_left_out_named_and_never_written_outside_the_copy(tmp_path, s3, aws):
    bucket = s3.new_bucket()
    good = "lake/pin_daily/date=2026-11-01/user=1.parquet"
    odd = ["lake/t/../../../escaped.parquet", "lake/t/./dot.parquet", "lake//empty.parquet",
           "lake/pin_daily",  # an object named like the folder of `good`
           "lake/notes/",  # an object with content named like a folder: listed as `notes`, read as nothing
           f"lake/{'n' * 300}.parquet", f"lake/{'m' * 230}.parquet"]  # a file name; its download's temporary name
    for key in [good, *odd]:
        s3.put(bucket, key, b"bytes of " + key.encode())
    assert sorted(s3.keys(bucket)) == sorted([good, *odd])  # the store keeps the keys as written
    mirror = Mirror(parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", aws), tmp_path / "home" / "copy",
                    append_only=False)
    for _ in range(2):  # every pull, not only the first
        assert mirror.pull() in (0, 1)
        files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
        assert [f for f in files if not f.startswith("home/copy.")] == [f"home/copy/{good.removeprefix('lake/')}"]
        assert sorted(mirror.ignored) == sorted(f"s3://{bucket}/{key.removesuffix('/')}" for key in odd)
    assert not (tmp_path / "escaped.parquet").exists() and not (tmp_path.parent / "escaped.parquet").exists()
    # A push after them sends the copy's files and leaves the odd objects alone.
    (tmp_path / "home" / "copy" / "pin_daily" / "date=2026-11-02").mkdir()
    (tmp_path / "home" / "copy" / "pin_daily" / "date=2026-11-02" / "user=1.parquet").write_bytes(b"new")
    assert mirror.push() == 1
    assert len(s3.keys(bucket)) == 2 + len(odd)


def test_verify_names_each_object_it_cannot_check(tmp_path, s3, aws):
    from pipelines.commands.verify import UNCOPYABLE, find_corrupt_files

    bucket = s3.new_bucket()
    s3.put(bucket, "lake/notes/./readme.txt", b"left here by hand")
    s3.put(bucket, "raw/a//b.json.gz", b"not an answer")
    env = {**aws, "PINTEREST_LAKE_URI": f"s3://{bucket}/lake", "PINTEREST_RAW_URI": f"s3://{bucket}/raw"}
    tmp_path.joinpath("home").mkdir()
    raw_count, lake_count, bad = find_corrupt_files(tmp_path / "home", data_locations(tmp_path / "home", env))
    assert (raw_count, lake_count) == (0, 0)
    assert sorted(bad) == [(f"s3://{bucket}/lake/notes/./readme.txt", UNCOPYABLE),
                           (f"s3://{bucket}/raw/a//b.json.gz", UNCOPYABLE)]


def test_a_raw_answer_removed_from_the_store_is_sent_again_after_the_next_pull_of_its_range(tmp_path, s3, aws):
    import datetime as dt

    from pipelines.planning import DateRange
    from pipelines.raw_zone import RawZone

    bucket = s3.new_bucket()
    env = {**aws, "PINTEREST_LAKE_URI": f"s3://{bucket}/lake", "PINTEREST_RAW_URI": f"s3://{bucket}/raw"}
    locations = data_locations(tmp_path, env)
    zone = RawZone(locations.raw)
    written = [zone.write("user_account_analytics", b'{"all": {}}', window=DateRange(dt.date(2026, 10, 1),
                          dt.date(2026, 10, 2)), fetched_at=dt.datetime.now(dt.timezone.utc), request_id=str(n))
               for n in range(2)]
    assert locations.publish() == 2
    key = f"raw/{written[0].relative_to(locations.raw).as_posix()}"
    s3.client().delete_object(Bucket=bucket, Key=key)  # by hand, or a lifecycle rule
    # Each lake step pulls the raw answers of its range (the listing tells the answer is gone), then pushes.
    assert locations.pull_raw(DateRange(dt.date(2026, 10, 1), dt.date(2026, 10, 2))) == 0
    assert locations.publish() == 1
    assert s3.objects(bucket, key)[key] == written[0].read_bytes()
    assert locations.publish() == 0


def test_a_raw_pull_of_a_range_downloads_only_the_answers_normalizing_it_reads(tmp_path, s3, aws):
    import datetime as dt

    from pipelines.planning import DateRange

    bucket = s3.new_bucket()
    for key in ("raw/ep/window=2026-10-01_2026-10-05/old.json.gz", "raw/ep/window=2026-11-01_2026-11-03/in.json.gz",
                "raw/account=b/ep/window=2026-11-03_2026-11-09/late.json.gz", "raw/ep/window=none/dims.json.gz"):
        s3.put(bucket, key, b"answer")
    env = {**aws, "PINTEREST_LAKE_URI": f"s3://{bucket}/lake", "PINTEREST_RAW_URI": f"s3://{bucket}/raw"}
    locations = data_locations(tmp_path, env)
    assert locations.pull_raw(DateRange(dt.date(2026, 11, 3), dt.date(2026, 11, 4))) == 3
    assert sorted(p.name for p in locations.raw.rglob("*.json.gz")) == ["dims.json.gz", "in.json.gz", "late.json.gz"]


def test_an_endpoint_that_trickles_is_given_up_at_the_deadline_naming_the_uri(tmp_path):
    # In child processes: a request given up stays in flight until its process ends, and pyarrow lets no other
    # S3 client of that process start meanwhile.
    with trickling_server() as url:
        env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "trickle-secret",
               "AWS_REGION": "us-east-1", "PATH": "/usr/bin:/bin", "PINTEREST_ETL_HOME": str(tmp_path / "home"),
               "PINTEREST_LAKE_URI": "s3://bucket/lake", "PINTEREST_RAW_URI": "s3://bucket/raw"}

        def child(code: str) -> subprocess.CompletedProcess:
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-c", "import sys\nfrom pipelines import object_store as s\n"
                                   f"s.TRANSFER_SECONDS = s.LIST_SECONDS = 2\n{code}"],
                                  env=env, timeout=60, capture_output=True, text=True, cwd=Path(__file__).parents[1])
            assert time.monotonic() - started < 30
            assert "trickle-secret" not in done.stdout + done.stderr
            return done

        # A command exits with its message and exit code: the request's thread, still waiting, does not hold the
        # process (pyarrow's S3 finalizer would wait for it for ever).
        verify = child("from pipelines import cli\nsys.exit(cli.main(['verify']))")
        assert verify.returncode == 2, verify.stderr
        assert "s3://bucket/raw (PINTEREST_RAW_URI; endpoint http://127.0.0.1:" in verify.stderr or \
            "s3://bucket/lake (PINTEREST_LAKE_URI; endpoint http://127.0.0.1:" in verify.stderr
        assert "did not finish within 2 s" in verify.stderr
        # A listing, and a second use of a store in the same process: refused at once, not waiting.
        pulled = child("from pathlib import Path\nfrom pipelines.object_mirror import Mirror\n"
                       "store = s.parse_store('s3://bucket/lake', 'PINTEREST_LAKE_URI')\n"
                       "for _ in range(2):\n"
                       f"    try:\n        Mirror(store, Path({str(tmp_path / 'copy')!r}), append_only=False).pull()\n"
                       "    except s.StoreError as error:\n        print(error)\n"
                       "s.exit_now(5)\n")
        assert pulled.returncode == 5, pulled.stderr
        first, second = pulled.stdout.splitlines()
        assert "listing did not finish within 2 s" in first
        assert "cannot use an object store again before it does" in second


@pytest.mark.parametrize("lake, raw", [("s3://bucket", "s3://bucket/raw"), ("s3://bucket/raw", "s3://bucket"),
                                       ("s3://bucket/a", "s3://bucket/a/b/c")])
def test_a_store_at_a_buckets_root_holds_every_prefix_of_it(tmp_path, lake, raw):
    with pytest.raises(StoreError, match="one inside the other"):
        data_locations(tmp_path, {"PINTEREST_LAKE_URI": lake, "PINTEREST_RAW_URI": raw})
    data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/a", "PINTEREST_RAW_URI": "s3://bucket/ab"})


def test_an_endpoint_spelled_in_capitals_is_used_as_meant(tmp_path, s3, aws):
    shouted = s3.endpoint.replace("http://", "HTTP://").replace("127.0.0.1", "127.0.0.1")
    store = parse_store("s3://bucket/lake", "PINTEREST_LAKE_URI", {"AWS_ENDPOINT_URL": shouted})
    assert store.endpoint == s3.endpoint
    bucket = s3.new_bucket()
    parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", {**aws, "AWS_ENDPOINT_URL": shouted}).check()
    with pytest.raises(StoreError, match="must use https"):
        parse_store("s3://bucket/lake", "PINTEREST_LAKE_URI", {"AWS_ENDPOINT_URL": "HTTP://minio.example.com"})


def test_a_prefix_too_long_for_s3_keys_is_refused_before_anything_runs():
    with pytest.raises(StoreError, match="at most 600"):
        parse_store(f"s3://bucket/{'p' * 700}", "PINTEREST_LAKE_URI", {})
    assert parse_store(f"s3://bucket/{'p' * 600}", "PINTEREST_LAKE_URI", {}).prefix == "p" * 600


def test_the_daily_tick_reads_the_stores_lake_not_only_this_machines_copy(tmp_path, s3, aws, monkeypatch):
    """Runs on other machines (a run launcher's pods) write the store: an ads date not final there holds the tick's
    range back on a machine whose copy never saw it; a store that cannot be reached leaves the tick its default."""
    import datetime as dt

    import dagster as dg

    from assets.schedules import daily_schedule
    from tests.store_support import closed_port
    from tests.test_operations import _ads_lake_file

    bucket = s3.new_bucket()
    _ads_lake_file(tmp_path / "elsewhere", dt.date(2026, 10, 12), final=False)
    store = parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", aws)
    assert Mirror(store, tmp_path / "elsewhere" / "lake", append_only=False).push() == 1
    for name in ("PINTEREST_ORGANIC_REPULL_DAYS", "PINTEREST_ADS_REPULL_DAYS", "PINTEREST_ADS_CLICK_WINDOW_DAYS",
                 "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS", "PINTEREST_ADS_VIEW_WINDOW_DAYS", "PINTEREST_RAW_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path / "here"))
    monkeypatch.setenv("PINTEREST_LAKE_URI", f"s3://{bucket}/lake")

    def tick() -> dg.RunRequest:
        # The context closed with the instance: its log handler (the warning's) outlives neither.
        with dg.instance_for_test() as instance, dg.build_schedule_context(
                instance=instance, scheduled_execution_time=dt.datetime(2026, 11, 28, 6, tzinfo=dt.timezone.utc)) \
                as context:
            return daily_schedule(context)

    s3.put(bucket, "lake/pin_daily/date=2026-10-12/organic.user=1.parquet", b"not read by the tick")
    s3.put(bucket, "lake/ad_daily/date=2026-08-01/ads.ad_account=549764000545.parquet", b"beyond the reach")
    assert tick().partition_key_range.start == "2026-10-12"
    copy = data_locations(tmp_path / "here", {"PINTEREST_LAKE_URI": f"s3://{bucket}/lake", **aws}).lake
    assert [p.relative_to(copy).as_posix() for p in copy.rglob("*.parquet")] == \
        ["ad_account_daily/date=2026-10-12/ads.ad_account=549764000545.parquet"]  # only what the tick reads
    monkeypatch.setenv("PINTEREST_LAKE_URI", f"s3://{bucket}/other")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    assert tick().partition_key_range.start == "2026-10-26"


@pytest.mark.parametrize("value", ["s3:/bucket/raw", "s3:bucket/raw", "s3 ://bucket/raw", "S3:/bucket", "gs:/bucket",
                                   "s3//bucket/raw", "\u04553://bucket/raw", "s3\uff1a//bucket/raw", "file:/tmp/raw"])
def test_a_mistyped_uri_is_refused_not_taken_for_a_local_folder(value):
    with pytest.raises(StoreError, match="PINTEREST_RAW_URI looks like a mistyped URI"):
        parse_store(value, "PINTEREST_RAW_URI", {})
    assert parse_store("./s3:/bucket/raw", "PINTEREST_RAW_URI", {}) is None  # a folder, written as one


@pytest.mark.parametrize("value, folder", [("FILE:///srv/raw", "/srv/raw"), ("file://localhost/srv/raw", "/srv/raw"),
                                           ("file:///srv/raw%20zone", "/srv/raw zone"), ("file://srv/raw", None),
                                           ("file://other.host/srv/raw", None)])
def test_a_file_uri_names_a_folder_of_this_machine_or_is_refused(tmp_path, value, folder):
    env = {"PINTEREST_LAKE_URI": "s3://bucket/lake", "PINTEREST_RAW_URI": value}
    if folder is None:
        with pytest.raises(SettingsError, match="is not a file URI of this machine"):
            data_locations(tmp_path, env)
    else:
        assert data_locations(tmp_path, env).raw == Path(folder)
    with pytest.raises(StoreError, match="%-escapes"):
        parse_store("s3://bucket/te%2Fam/lake", "PINTEREST_LAKE_URI", {})


def test_a_local_folder_may_not_be_inside_the_stores_local_copies(tmp_path):
    copy = data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/lake"}).lake
    for raw in (copy / "raw", tmp_path / "stores", tmp_path):
        with pytest.raises(StoreError, match="one inside the other"):
            data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/lake", "PINTEREST_RAW_URI": str(raw)})
    assert data_locations(tmp_path, {"PINTEREST_LAKE_URI": "s3://bucket/lake",
                                     "PINTEREST_RAW_URI": str(tmp_path / "raw")}).raw == tmp_path / "raw"


def test_the_write_check_leaves_an_object_named_like_the_prefix_as_it_was(s3, aws):
    bucket = s3.new_bucket()
    s3.put(bucket, "raw/", b"a user's object at the prefix's own name")
    parse_store(f"s3://{bucket}/raw", "PINTEREST_RAW_URI", aws).check()
    assert s3.objects(bucket, "raw/")["raw/"] == b"a user's object at the prefix's own name"
    assert not [k for k in s3.keys(bucket) if not k.endswith("/")] or s3.keys(bucket) == ["raw/"]


def test_a_read_the_store_throttles_is_tried_again(tmp_path, s3, aws, monkeypatch):
    from tests.store_support import FaultyProxy

    bucket = s3.new_bucket()
    for n in range(3):
        s3.put(bucket, f"lake/t/date=2026-11-0{n + 1}/x.parquet", b"object %d" % n)
    proxy = FaultyProxy(s3.endpoint, fail_reads=2)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        store = parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", {**aws, "AWS_ENDPOINT_URL": proxy.endpoint})
        assert Mirror(store, tmp_path / "copy", append_only=False).pull() == 3
        assert proxy.fail_reads == 0 and proxy.reads == 2 + 3
        assert (tmp_path / "copy" / "t" / "date=2026-11-02" / "x.parquet").read_bytes() == b"object 1"
    finally:
        proxy.stop()


def test_a_pull_from_a_store_that_trickles_gives_up_after_one_deadline_not_one_per_object(tmp_path, s3):
    from tests.store_support import FaultyProxy

    bucket = s3.new_bucket()
    for n in range(40):
        s3.put(bucket, f"lake/t/date=2026-10-{n % 28 + 1:02d}/x{n}.parquet", b"object")
    proxy = FaultyProxy(s3.endpoint, trickle_reads=True)
    try:
        env = {**s3.env(AWS_ENDPOINT_URL=proxy.endpoint), "PATH": "/usr/bin:/bin"}
        script = ("import sys, time\nfrom pathlib import Path\nfrom pipelines import object_store as s\n"
                  "from pipelines.object_mirror import Mirror\ns.TRANSFER_SECONDS = 2\nstarted = time.monotonic()\n"
                  f"store = s.parse_store('s3://{bucket}/lake', 'PINTEREST_LAKE_URI')\n"
                  f"try:\n    Mirror(store, Path({str(tmp_path / 'copy')!r}), append_only=False).pull()\n"
                  "except s.StoreError as error:\n    print(round(time.monotonic() - started), error)\n"
                  "s.exit_now(0)\n")
        done = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True, text=True,
                              cwd=Path(__file__).parents[1])
        seconds, _, message = done.stdout.partition(" ")
        assert "did not finish within 2 s" in message, done.stderr
        # 8 transfers at a time: the first 8 each reach their deadline together, the other 32 are not started.
        assert int(seconds) < 15 and proxy.reads <= 8 * 3
    finally:
        proxy.stop()


def test_a_secret_of_an_aws_profile_is_never_shown_in_a_store_error(tmp_path, monkeypatch):
    from pipelines import object_store

    # A file the AWS SDK reads and a strict INI parser refuses: a key before any section, a section twice.
    (tmp_path / "credentials").write_text("aws_security_token = EARLYTOKEN77\n[default]\naws_access_key_id = AKIAPROFILE\n"
                                          "aws_secret_access_key = profile-secret-8Hq\n[default]\n"
                                          "aws_session_token = PROFILESESSIONTOKEN+abc/def==X\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    shown = object_store._shown("bad request; token was PROFILESESSIONTOKEN+abc/def==X key profile-secret-8Hq "
                                "then EARLYTOKEN77")
    assert "PROFILESESSIONTOKEN" not in shown and "profile-secret" not in shown and "EARLYTOKEN" not in shown
    assert "****" in shown


def test_a_full_disk_during_a_pull_is_told_as_this_machines_and_leaves_no_temporary(tmp_path, s3, aws, monkeypatch):
    import errno
    import os

    from pipelines.atomic_files import DataWriteError

    bucket = s3.new_bucket()
    s3.put(bucket, "lake/t/date=2026-11-01/x.parquet", b"object")
    mirror = Mirror(parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", aws), tmp_path / "copy",
                    append_only=False)

    def full(_):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched, \
            pytest.raises(DataWriteError, match=r"could not write .*x\.parquet: .*The copy of s3://"):
        patched.setattr(os, "fsync", full)
        mirror.pull()
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []
    assert mirror.pull() == 1


def test_a_damaged_or_lost_manifest_costs_one_comparison_and_no_false_pending_files(tmp_path, s3, aws):
    bucket = s3.new_bucket()
    mirror = Mirror(parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", aws), tmp_path / "copy",
                    append_only=False)
    (tmp_path / "copy" / "t").mkdir(parents=True)
    (tmp_path / "copy" / "t" / "x.parquet").write_bytes(b"pushed")
    assert mirror.push() == 1
    manifest = tmp_path / "copy.manifest.json"
    for damaged in ("[]", '{"store": 1, "files": []}', "{not json", "", "[" * 100000 + "]" * 100000):
        manifest.write_text(damaged)
        assert mirror.pending() == []  # the store has it
        assert mirror.pull() == 1  # compared whole once: downloaded again
    manifest.unlink()
    assert mirror.pending() == []


def test_what_a_store_error_means_is_read_from_whole_words():
    from pipelines.object_store import _meaning

    # A HEAD signed with expired temporary credentials: S3 answers 400 without a body.
    assert "may have expired" in _meaning("When reading information for key 'lake/x' in bucket 'b': AWS Error UNKNOWN "
                                          "(HTTP status 400) during HeadObject operation: No response body.")
    # A `403` inside a key's hex is not an HTTP status.
    assert "does not answer" in _meaning("When uploading object with key 'lake/.c/7cfb4fe464ab403ca88d': AWS Error "
                                         "NETWORK_CONNECTION during PutObject operation: curlCode: 52, Empty reply")
    assert "access was denied" in _meaning("AWS Error ACCESS_DENIED during PutObject operation: Access Denied")


def test_an_object_that_became_a_folder_or_the_reverse_is_pulled_in_its_new_shape(tmp_path, s3, aws):
    bucket = s3.new_bucket()
    mirror = Mirror(parse_store(f"s3://{bucket}/lake", "PINTEREST_LAKE_URI", aws), tmp_path / "copy",
                    append_only=False)
    s3.put(bucket, "lake/t/date=2026-11-01/x.parquet", b"a file")
    s3.put(bucket, "lake/t/d/x.parquet", b"a file in a folder")
    assert mirror.pull() == 2
    client = s3.client()
    client.delete_object(Bucket=bucket, Key="lake/t/date=2026-11-01/x.parquet")
    s3.put(bucket, "lake/t/date=2026-11-01/x.parquet/y.parquet", b"now a folder")
    client.delete_object(Bucket=bucket, Key="lake/t/d/x.parquet")
    s3.put(bucket, "lake/t/d", b"now a file")
    for _ in range(2):
        mirror.pull()
        assert (tmp_path / "copy" / "t" / "date=2026-11-01" / "x.parquet" / "y.parquet").read_bytes() == b"now a folder"
        assert (tmp_path / "copy" / "t" / "d").read_bytes() == b"now a file"
        assert mirror.ignored == []
    # A file of the copy not pushed yet where the store now has a folder keeps its place; the object is named.
    (tmp_path / "copy" / "t" / "e").write_bytes(b"written here, not pushed")
    s3.put(bucket, "lake/t/e/z.parquet", b"the store's")
    mirror.pull()
    assert (tmp_path / "copy" / "t" / "e").read_bytes() == b"written here, not pushed"
    assert mirror.ignored == [f"s3://{bucket}/lake/t/e/z.parquet"]
