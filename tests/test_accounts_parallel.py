"""Accounts in parallel: `pinterest-etl run --account-workers N` runs each account's extraction as a Dagster step of
its own on the multiprocess executor (assets/account_steps.py), and gives what one worker gives: the same warehouse,
the same API calls, the same account failures."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from assets.conventions import WAREHOUSE_POOL
from pipelines import catalog
from pipelines.accounts import (
    ENVIRONMENT_ACCOUNT,
    Account,
    accounts_from_json,
    accounts_json,
    parse_accounts,
    refuse_shared_step_keys,
)
from pipelines.commands.run import add_parser
from pipelines.dagster_instance import STEPS_INSTANCE_FOLDER
from pipelines.settings import SettingsError
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run
from tests.process_support import cli_env, range_args, read_until, run_cli, start_cli
from tests.test_accounts import WORLD, accounts_env
from tests.test_warehouse_lock import analyst_session

ROOT = Path(__file__).resolve().parents[1]
START, END = TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1)
NAMES = ("brand-a", "brand-b", "brand_c")
THREE_ACCOUNTS = "".join(f"""
[[account]]
name = "{name}"
access_token_env = "{name.upper().replace('-', '_')}_ACCESS_TOKEN"
""" for name in NAMES)
# The simulator's n-th user's development token for the n-th account.
TOKENS = {f"{name.upper().replace('-', '_')}_ACCESS_TOKEN": "pina_SANDBOX" + ("" if n == 1 else f"_{n}")
          for n, name in enumerate(NAMES, start=1)}
EXTRACTIONS = ("organic_raw", "ads_raw")


def _calls(printed: str) -> dict[str, str]:
    """The API calls of each asset as the run's summary prints them."""
    return dict(re.findall(r"^  (\w+): .*\bapi_calls=(\d+)", printed, re.MULTILINE))


def _tables(home: Path) -> dict[str, list[tuple]]:
    """Every warehouse table's rows, sorted, without the columns that say when a row or file was written."""
    tables = {}
    for (name,) in query(home, "SELECT table_name FROM duckdb_tables() ORDER BY table_name"):
        columns = [c for (c,) in query(home, "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name])
                   if not c.endswith("_at") and c != "fingerprint"]
        rows = query(home, f"SELECT {', '.join(columns)} FROM {name}")
        tables[name] = sorted(rows, key=repr)
    return tables


@pytest.mark.slow  # two runs, one of them a process per step
def test_three_accounts_in_three_workers_load_what_one_worker_loads_with_the_same_calls(
        make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**{**WORLD, "users": 3})
    printed, homes = {}, {}
    for workers in (1, 3):
        homes[workers] = tmp_path / f"workers{workers}"
        accounts_env(monkeypatch, homes[workers], server, THREE_ACCOUNTS, **TOKENS)
        if workers > 1:
            monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
            (tmp_path / "dagster").mkdir()
            shutil.copy(ROOT / ".dagster" / "dagster.yaml", tmp_path / "dagster")  # its pools admit one step each
        assert run(START, END, only=None, workers=workers) == 0
        printed[workers] = capsys.readouterr().out

    assert _calls(printed[3]) == _calls(printed[1]) and set(EXTRACTIONS) <= set(_calls(printed[1]))
    one, three = _tables(homes[1]), _tables(homes[3])
    assert set(one) >= {table.name for table in catalog.FACT_TABLES.values()}
    for table in one:
        assert three[table] == one[table], table
    assert query(homes[3], "SELECT count(*) FROM user_accounts") == [(3,)]
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        run_id = instance.get_runs()[0].run_id
        steps = {entry.step_key for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        _assert_one_step_of_each_pool_at_a_time(instance, run_id)
    for asset in EXTRACTIONS:
        assert {s for s in steps if s.startswith(f"{asset}.extract_account")} == {
            f"{asset}.extract_account[{Account(name).step_key}]" for name in NAMES}


def _assert_one_step_of_each_pool_at_a_time(instance: dg.DagsterInstance, run_id: str) -> None:
    """The warehouse's single writer, and the lake steps (each busy on every core): one step at a time of each."""
    starts = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    spans = {e.step_key: (starts[e.step_key], e.timestamp)
             for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
    for pair in (("organic_lake", "ads_lake"), ("organic_warehouse", "ads_warehouse")):
        (first_start, first_end), (second_start, second_end) = sorted(spans[step] for step in pair)
        assert first_end <= second_start, pair


@pytest.mark.slow  # a process per step
def test_a_failing_account_among_workers_lets_the_others_load_and_fails_the_check_naming_it(
        make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**{**WORLD, "users": 3})
    accounts_env(monkeypatch, tmp_path, server, THREE_ACCOUNTS, **{**TOKENS, "BRAND_B_ACCESS_TOKEN": "pina_REVOKED"})
    assert run(START, END, only="organic", workers=3) == 1
    captured = capsys.readouterr()
    assert "account(s) brand-b failed" in captured.err
    assert "check user_accounts.every_account_succeeded: FAILED (failed_accounts: {'brand-b': 'AuthError: " in captured.out
    # Its extraction step found no dimensions of it; the other two steps extracted theirs.
    assert ("check organic_raw.every_account_succeeded: FAILED (failed_accounts: {'brand-b': \"Failure: no snapshot of "
            "user_accounts for account 'brand-b'") in captured.out
    assert query(tmp_path, "SELECT count(*) FROM user_accounts") == [(2,)]
    assert query(tmp_path, "SELECT count(DISTINCT user_id) FROM user_account_daily") == [(2,)]
    assert "pina_REVOKED" not in captured.out + captured.err


# Valid, distinct names whose `-` and `_` read alike in Dagster's key characters.
LOOKALIKES = "".join(f"""
[[account]]
name = "{name}"
access_token_env = "{variable}"
""" for name, variable in (("a_b_3", "T1"), ("a-b", "T2"), ("a_b", "T3")))


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2: a process per step
def test_accounts_whose_names_read_alike_as_step_keys_are_each_extracted(
        make_sandbox, monkeypatch, tmp_path, capsys, workers):
    """`a_b_3`, `a-b` and `a_b` once became the steps `a_b_3`, `a_b` and `a_b_3` again (a place suffix for the
    third), so the third replaced the first: its analytics were never extracted, and the run said it succeeded."""
    server = make_sandbox(**{**WORLD, "users": 3})
    accounts_env(monkeypatch, tmp_path, server, LOOKALIKES, T1="pina_SANDBOX", T2="pina_SANDBOX_2", T3="pina_SANDBOX_3")
    assert run(START, END, only="organic", workers=workers) == 0, capsys.readouterr().err[-2000:]
    assert query(tmp_path, "SELECT count(*) FROM user_accounts") == [(3,)]
    assert query(tmp_path, "SELECT count(DISTINCT user_id) FROM user_account_daily") == [(3,)]


def _name_of_step_key(key: str) -> str:
    """The one account name whose `Account.step_key` is `key`."""
    name, marked, places = key.partition("_D")
    if not marked:
        return key
    letters = list(name)
    for place in places.split("_"):
        letters[int(place) - 1] = "-"
    return "".join(letters)


# Two valid names that once shared a step key: the same name with `_` for `-` and the same 32 bits of SHA-256
# (found among 60,000 such names), refused halfway through the run as an unexpected error.
ONCE_ONE_KEY = ("a-b-b-b-b_b_b-b-b_b-b_b_b_b_b-b-b-b_b_b", "a-b-b-b_b_b_b-b_b-b_b_b-b_b-b_b-b-b_b_b")


def test_step_keys_are_one_per_account_readable_and_stable():
    """A name without `-` is its own key; one with `-` reads it as `_` and says where the dashes were, so a key
    reads back as one name: no two valid names share a key (every name of up to 4 of `a`, `0`, `-`, `_`)."""
    assert [Account(name).step_key for name in ("brand-a", "brand_a", "a-b-c", "a_b_d3", "default")] == [
        "brand_a_D6", "brand_a", "a_b_c_D2_4", "a_b_d3", "default"]
    names = ["".join(letters) for size in range(1, 5) for letters in itertools.product("a0-_", repeat=size)
             if letters[0] in "a0"]
    names += [*ONCE_ONE_KEY, "a" + "-" * 39]
    for name in names:
        key = Account(name).step_key
        assert re.fullmatch(r"[A-Za-z0-9_]+", key) and _name_of_step_key(key) == name, name
    refuse_shared_step_keys([Account(name) for name in names])


def test_accounts_that_would_share_a_step_are_refused_naming_them():
    """The last guard, run with the settings' check before any call: should two accounts ever get one key, the run
    is refused instead of running one of them."""
    with pytest.raises(SettingsError, match="account 'a_b' and account 'a_b' would share the Dagster step key 'a_b'; "
                                            "rename one of them in the accounts file"):
        refuse_shared_step_keys([Account("a_b"), Account("a_b")])


def test_accounts_whose_names_once_shared_a_step_key_are_each_extracted(make_sandbox, monkeypatch, tmp_path, capsys):
    """Their accounts file was valid (the settings' check accepted it), the dimensions called the API for both, then
    organic_raw refused them: exit 1, nothing extracted, and an "unexpected error" with its traceback."""
    server = make_sandbox(**{**WORLD, "users": 2})
    accounts_env(monkeypatch, tmp_path, server, "".join(
        f'[[account]]\nname = "{name}"\naccess_token_env = "T{n}"\n' for n, name in enumerate(ONCE_ONE_KEY)),
        T0="pina_SANDBOX", T1="pina_SANDBOX_2")
    assert run(START, END, only="organic") == 0, capsys.readouterr().err[-2000:]
    assert query(tmp_path, "SELECT count(DISTINCT user_id) FROM user_account_daily") == [(2,)]


def test_one_worker_times_each_extraction_asset_as_one_step_as_before(make_sandbox, monkeypatch, tmp_path, capsys):
    """The run's timing line names assets, as before their accounts became steps of their own: it printed
    `organic_raw.accounts`, `organic_raw.extract_account[default]` and `organic_raw.collect_accounts` instead."""
    server = make_sandbox(**WORLD)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END, only="organic") == 0
    (timing,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  run: ")]
    assert re.sub(r"\d+\.\d\d s", "T", timing) == ("  run: T; steps: organic_dimensions T, organic_raw T, organic_lake T, "
                                                "top_pins_api T, organic_warehouse T, pinterest_report T")


@pytest.mark.slow  # a run, a process per step
def test_a_dagster_home_whose_pools_admit_any_step_still_runs_one_load_and_one_lake_step_at_a_time(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """A parallel run keeps its own steps of a pool apart, whatever DAGSTER_HOME's dagster.yaml sets: with
    `granularity: run` Dagster claims no pool slot for a run's steps, and with no limit a pool admits them all, so
    relying on them, the organic and ads loads wrote the warehouse side by side (such an instance was refused)."""
    server = make_sandbox(**{**WORLD, "users": 3})
    accounts_env(monkeypatch, tmp_path / "home", server, THREE_ACCOUNTS, **TOKENS)
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("concurrency:\n  pools:\n    granularity: run\n"
                                                      "telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert run(START, END, only=None, workers=3) == 0, capsys.readouterr().err[-2000:]
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        _assert_one_step_of_each_pool_at_a_time(instance, instance.get_runs()[0].run_id)


TWO_ACCOUNTS = THREE_ACCOUNTS.rsplit("[[account]]", 1)[0]
TWO_TOKENS = {variable: TOKENS[variable] for variable in ("BRAND_A_ACCESS_TOKEN", "BRAND_B_ACCESS_TOKEN")}


def _parallel_cli_env(home: Path, server, tmp: Path) -> dict[str, str]:
    """A child `pinterest-etl`'s environment for two accounts of the accounts file in `home`, its TMPDIR `tmp`."""
    home.mkdir(parents=True)
    tmp.mkdir()
    (home / "accounts.toml").write_text(TWO_ACCOUNTS)
    env = cli_env(home, server, TODAY, TMPDIR=str(tmp), **TWO_TOKENS)
    del env["PINTEREST_ACCESS_TOKEN"], env["PINTEREST_REFRESH_TOKEN"]
    return env


@pytest.mark.slow  # two command-line runs, a process per step
def test_the_instance_of_a_killed_parallel_run_is_removed_by_the_next_run(make_sandbox, tmp_path):
    """Killed (SIGKILL, out of memory), a parallel run left its temporary Dagster instance in TMPDIR, where nothing
    ever removed it: it now lives under PINTEREST_ETL_HOME/tmp, and the next run removes it, under the run lock."""
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=200)
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    env = _parallel_cli_env(home, server, tmp)
    args = ["run", *range_args(START, END), "--only", "organic", "--account-workers", "2"]
    process = start_cli(args, env)
    instance = home / "tmp" / STEPS_INSTANCE_FOLDER
    while not (instance / "history").exists() and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.communicate()
    assert instance.exists()

    second = run_cli(args, env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"Removed 1 temporary file(s) an interrupted run left, e.g. {instance}" in second.stdout
    assert not instance.exists() and list((home / "tmp").iterdir()) == []
    assert list(tmp.iterdir()) == []  # nothing of the killed run in TMPDIR either
    assert " - DEBUG - " not in second.stderr  # as quiet as one worker: no "Executing step ... in subprocess."


def _processes_marked(mark: str) -> list[int]:
    """The live processes whose environment holds the variable `mark`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"{mark}=1".encode() in (proc / "environ").read_bytes() \
                    and (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return pids


def _raw_files(home: Path) -> set[Path]:
    return {path for path in (home / "raw").rglob("*") if path.is_file()}


@pytest.mark.slow  # a command-line run, a process per step
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the run's processes in /proc")
def test_killing_the_command_alone_ends_its_step_processes(make_sandbox, tmp_path):
    """The OOM killer (or `kill -9 <pid>`) kills the command's process, not its group: its account steps, the fork
    server and its resource tracker lived on, calling the API and writing 12 raw files over the next 12 s, while
    the run lock was free and the next run could take it and run beside them."""
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=1500)
    home = tmp_path / "home"
    env = {**_parallel_cli_env(home, server, tmp_path / "tmp"), "PINTEREST_ETL_TEST_RUN_MARK": "1"}
    with open(tmp_path / "err.txt", "w") as err:  # not a pipe: its end would wait for every process holding it
        process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", "2"], env,
                            stdout=subprocess.DEVNULL, stderr=err)
    while not any("analytics" in str(path) for path in _raw_files(home)):
        assert process.poll() is None, (tmp_path / "err.txt").read_text()[-2000:]
        time.sleep(0.1)  # until the accounts' steps extract
    process.kill()  # the command's process only
    process.wait()
    for _ in range(50):  # each ends as soon as it sees the command gone (else they lived 12 s more)
        if not _processes_marked("PINTEREST_ETL_TEST_RUN_MARK"):
            break
        time.sleep(0.1)
    left = _processes_marked("PINTEREST_ETL_TEST_RUN_MARK")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []
    written = _raw_files(home)
    time.sleep(1.5)  # one simulated call's latency: an extraction still going would write its answer meanwhile
    assert _raw_files(home) == written


@pytest.mark.slow  # a command-line run, with 2 a process per step
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_a_run_says_it_was_interrupted_with_one_worker_or_two(make_sandbox, tmp_path, workers):
    """Ctrl+C (SIGINT to the command's process group, its step processes too) printed Dagster's
    DagsterExecutionInterruptedError with a traceback, as an unexpected error to report; with 2 workers also the
    tracebacks of the KeyboardInterrupt of Dagster's helper processes that tailed each step's output."""
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=300)
    env = _parallel_cli_env(tmp_path / "home", server, tmp_path / "tmp")
    process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", workers], env,
                        start_new_session=True)
    read_until(process.stderr, "organic_dimensions - account 'brand-a'")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate()
    assert process.returncode == 1
    assert err.endswith("pinterest-etl run: step organic_dimensions failed: interrupted (Ctrl+C or SIGTERM); run the "
                        "same command again to complete the range\n"), err
    assert "Traceback" not in err and "unexpected" not in err and " - DEBUG - " not in err, err


@pytest.mark.slow  # a command-line run, with 2 a process per step
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_load_launched_from_the_ui_holding_the_warehouse_gives_the_same_outcome_with_one_worker_or_two(
        make_sandbox, tmp_path, workers):
    """DAGSTER_HOME (the Makefile's .dagster) where a run launched from the UI loads the warehouse: it holds the
    `warehouse` pool's one slot and the warehouse's lock. One worker claims no slot and waits on the lock, at most
    PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS, then says the warehouse is locked and by which process; two workers
    waited for the slot with no bound and nothing said (also for the slot of a UI run whose worker died and that
    only the `pinterest-etl ui` that launched it judges)."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", dagster_home)  # its pools admit one step each
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        ui_run = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", run_id=str(uuid.uuid4()),
                                                status=dg.DagsterRunStatus.STARTED))
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, ui_run.run_id,
                                                                 "organic_warehouse").is_claimed
    server = make_sandbox(**{**WORLD, "users": 2})
    home = tmp_path / "home"
    env = {**_parallel_cli_env(home, server, tmp_path / "tmp"), "DAGSTER_HOME": str(dagster_home),
           "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS": "1"}
    with analyst_session(home / "warehouse.duckdb") as ui_load:
        process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", workers], env,
                            start_new_session=True)
        try:
            _, err = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"still waiting after 240 s: {process.communicate()[1][-1000:]}")
    assert process.returncode == 1
    assert f"pinterest-etl run: step organic_warehouse failed: WarehouseLockedError: the warehouse " \
           f"{home / 'warehouse.duckdb'} is still locked by process {ui_load.pid} (" in err, err[-2000:]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        claims = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
    assert [(slot.run_id, slot.step_key) for slot in claims] == [(ui_run.run_id, "organic_warehouse")]


@pytest.mark.slow  # two command-line runs, one a process per step
def test_two_workers_print_the_summary_of_one(make_sandbox, tmp_path):
    """The summary listed materializations and checks in the order their steps finished: with 2 workers the same
    run printed user_accounts, boards and pins before the ads dimensions instead of after them (the simulator's
    latency makes organic_dimensions, 6 calls, end before ads_dimensions, 8)."""
    printed = {}
    for workers in ("1", "2"):
        server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=300)
        env = _parallel_cli_env(tmp_path / f"home{workers}", server, tmp_path / f"tmp{workers}")
        result = run_cli(["run", *range_args(START, END), "--account-workers", workers], env)
        assert result.returncode == 0, result.stderr[-2000:]
        printed[workers] = [re.sub(r"\d+\.\d\d s", "T", line).replace(str(tmp_path / f"home{workers}"), "HOME")
                            for line in result.stdout.splitlines()
                            if not line.startswith("  run: ")]  # the timing line: the steps as they ran
    assert printed["2"] == printed["1"]
    assert [line.split(":")[0] for line in printed["1"][1:8]] == [
        "  ad_accounts", "  campaigns", "  ad_groups", "  ads", "  user_accounts", "  boards", "  pins"]


@pytest.mark.slow  # a command-line run, with 2 a process per step
@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_account_added_to_the_accounts_file_during_a_run_is_the_next_runs(make_sandbox, tmp_path, workers):
    """The run's accounts are read once when it starts: with one worker an account added while the run extracts was
    the next run's, but with 2 each step's process read the file again as it started, so organic_raw's `accounts`
    step found brand_c, which had no dimension snapshot, and the run failed ("no snapshot of user_accounts for
    account 'brand_c'")."""
    server = make_sandbox(**{**WORLD, "users": 3}, latency_ms=400)
    home = tmp_path / "home"
    env = {**_parallel_cli_env(home, server, tmp_path / "tmp"), "BRAND_C_ACCESS_TOKEN": TOKENS["BRAND_C_ACCESS_TOKEN"]}
    process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", workers], env)
    read_until(process.stderr, "organic_dimensions - account 'brand-a'")  # the dimensions' calls have begun
    (home / "accounts.toml").write_text(THREE_ACCOUNTS)
    out, err = process.communicate()
    assert process.returncode == 0, err[-2000:]
    assert "brand_c" not in out + err
    assert query(home, "SELECT count(DISTINCT user_id) FROM user_account_daily") == [(2,)]


def test_a_run_hands_its_steps_the_accounts_it_read_and_no_secret():
    """What the run's configuration (which the UI shows and Dagster stores) holds of the accounts it started with:
    every field of each, the environment's account too, and nothing else of the file, not even a comment."""
    accounts = parse_accounts("""
[[account]]
name = "brand-a"  # its token: pina_WRITTEN_IN_A_COMMENT
access_token_env = "BRAND_A_ACCESS_TOKEN"
refresh_token_env = "BRAND_A_REFRESH_TOKEN"
token_file = "credentials/a.json"
app_id_env = "A_APP_ID"
app_secret_env = "A_APP_SECRET"
ad_account_ids = ["549755885175"]

[[account]]
name = "brand_b"
access_token_env = "BRAND_B_ACCESS_TOKEN"
""")
    for listed in (accounts, [ENVIRONMENT_ACCOUNT]):
        assert accounts_from_json(accounts_json(listed)) == listed
    assert "pina_" not in accounts_json(accounts)


@pytest.mark.parametrize("text, accepted", [("1", 1), ("4", 4), ("0", None), ("33", None), ("x", None)])
def test_account_workers_is_a_whole_number_from_1_to_32(text, accepted, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    if accepted is None:
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--account-workers", text])
        assert "--account-workers must be a whole number from 1" in capsys.readouterr().err
    else:
        assert parser.parse_args(["run", "--account-workers", text]).account_workers == accepted
