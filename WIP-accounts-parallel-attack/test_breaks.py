"""Attacks on wip/accounts-parallel (`pinterest-etl run --account-workers N`)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import TODAY, make_sandbox  # noqa: F401 (fixture)
from tests.pipeline_support import run
from tests.process_support import cli_env, range_args, start_cli
from tests.test_accounts import WORLD, accounts_env

ROOT = Path(__file__).resolve().parents[1] if (Path(__file__).resolve().parents[1] / "pipelines").exists() \
    else Path.cwd()
START, END = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
TWO = """
[[account]]
name = "brand-a"
access_token_env = "BRAND_A_ACCESS_TOKEN"

[[account]]
name = "brand-b"
access_token_env = "BRAND_B_ACCESS_TOKEN"
"""
TOKENS = {"BRAND_A_ACCESS_TOKEN": "pina_SANDBOX", "BRAND_B_ACCESS_TOKEN": "pina_SANDBOX_2"}


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries `mark`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_during_a_parallel_run_leaves_no_step_process_nor_temporary_instance(make_sandbox, tmp_path, signum):
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=300)
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), tmp.mkdir()
    (home / "accounts.toml").write_text(TWO)
    mark = f"ATTACK_MARK_{uuid.uuid4().hex}"
    env = cli_env(home, server, TODAY, TMPDIR=str(tmp), **TOKENS, **{mark: "1"})
    for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN"):
        env.pop(key)
    process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", "2"], env)
    deadline = time.monotonic() + 120
    # Wait for the steps' processes: the command, its fork server and at least one step.
    while len(_marked(mark)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()
    time.sleep(3)
    print("BEFORE", len(_marked(mark)), sorted(tmp.iterdir()))
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    Path(f"/tmp/attackpar/err_{int(signum)}.txt").write_text(f"RC {process.returncode}\n{out}\n----\n{err}")
    time.sleep(5)
    left = [pid for pid in _marked(mark) if pid != process.pid]
    if left:
        Path(f"/tmp/attackpar/left_{int(signum)}.txt").write_text("\n".join(
            (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]) for pid in left))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"step/forkserver processes outlive the killed command: {left}"
    assert not list(tmp.glob("pinterest-etl-dagster-*")), list(tmp.iterdir())


import re  # noqa: E402

import requests  # noqa: E402

from tests.pipeline_support import query  # noqa: E402


def _calls(printed: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+): .*\bapi_calls=(\d+)", printed, re.MULTILINE))


def _tables(home: Path) -> dict[str, list[tuple]]:
    tables = {}
    for (name,) in query(home, "SELECT table_name FROM duckdb_tables() ORDER BY table_name"):
        columns = [c for (c,) in query(home, "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name])
                   if not c.endswith("_at") and c != "fingerprint"]
        tables[name] = sorted(query(home, f"SELECT {', '.join(columns)} FROM {name}"), key=repr)
    return tables


def _compare(make_sandbox, monkeypatch, tmp_path, capsys, accounts_toml, tokens, only, world=None, resume=False):
    """Run with 1 then 2 workers (a fresh simulator each, same config); (exit code, calls, tables) of each."""
    seen = {}
    for workers in (1, 2):
        server = make_sandbox(**(world or {**WORLD, "users": 2}))
        home = tmp_path / f"w{workers}"
        accounts_env(monkeypatch, home, server, accounts_toml, **tokens)
        codes = [run(START, END, only=only, workers=workers)]
        printed = [capsys.readouterr()]
        if resume:
            requests.post(f"{server.root_url}/_sandbox/reset").raise_for_status()
            codes.append(run(START, END, only=only, workers=workers))
            printed.append(capsys.readouterr())
        seen[workers] = (codes, [_calls(p.out) for p in printed], _tables(home) if (home / "warehouse.duckdb").exists()
                         else None, printed)
    return seen


SAME_TOKEN = TWO.replace("BRAND_B_ACCESS_TOKEN", "BRAND_A_ACCESS_TOKEN")


def _assert_same(seen):
    one, two = seen[1], seen[2]
    assert two[0] == one[0], ("exit codes", one[0], two[0], two[3][-1].err[-3000:])
    assert two[1] == one[1], ("calls", one[1], two[1])
    assert (two[2] or {}).keys() == (one[2] or {}).keys()
    for table in one[2] or {}:
        assert two[2][table] == one[2][table], table


def test_an_ad_account_shared_by_two_logins_with_two_workers(make_sandbox, monkeypatch, tmp_path, capsys):
    _assert_same(_compare(make_sandbox, monkeypatch, tmp_path, capsys, SAME_TOKEN,
                          {"BRAND_A_ACCESS_TOKEN": "pina_SANDBOX"}, "ads"))


def test_a_daily_quota_stopping_one_account_then_resumed_with_two_workers(make_sandbox, monkeypatch, tmp_path, capsys):
    world = {**WORLD, "users": 2, "daily_quotas": {"org_analytics": 4}}
    _assert_same(_compare(make_sandbox, monkeypatch, tmp_path, capsys, TWO, TOKENS, "organic", world, resume=True))


@pytest.mark.parametrize("granularity", ["run", "op"])  # op: the control, passes
def test_dagster_home_with_run_granularity_pools_passes_the_single_writer_check_but_claims_no_slot(
        make_sandbox, monkeypatch, tmp_path, capsys, granularity):
    """A DAGSTER_HOME whose dagster.yaml limits every pool to 1 at run granularity (a documented Dagster setting):
    the check reads limit == 1 and lets the run start, yet steps of a run claim no op slot, so nothing keeps the
    organic and ads loads (pool `warehouse`) from writing the warehouse side by side."""
    server = make_sandbox(**{**WORLD, "users": 2})
    accounts_env(monkeypatch, tmp_path / "home", server, TWO, **TOKENS)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        f"concurrency:\n  pools:\n    default_limit: 1\n    granularity: {granularity}\ntelemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS", "300")
    # An analyst holds the warehouse open until both loads have started (or 90 s): with one warehouse writer at a
    # time the second load's step cannot start while the first waits for the file.
    import threading

    from tests.test_warehouse_lock import analyst_session

    both_started, code = threading.Event(), None

    def watch():
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not both_started.is_set():
            time.sleep(1)
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                runs = instance.get_runs()
                if runs and {e.step_key for e in instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START)
                             } >= {"organic_warehouse", "ads_warehouse"}:
                    both_started.set()

    with analyst_session(tmp_path / "home" / "warehouse.duckdb") as analyst:
        watcher = threading.Thread(target=watch)
        watcher.start()
        threading.Thread(target=lambda: (watcher.join(), analyst.stdin.write("\n"), analyst.stdin.flush())).start()
        code = run(START, END, only=None, workers=2)
    printed = capsys.readouterr()
    if code != 0 and "must admit one warehouse load at a time" in printed.err:
        return  # refused: the single writer holds
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs()[0].run_id
        bounds = {}
        for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
            if entry.step_key in ("organic_warehouse", "ads_warehouse", "pinterest_report"):
                bounds.setdefault(entry.step_key, []).append(entry.timestamp)
    spans = sorted(bounds.values())
    overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert not overlaps, f"warehouse-pool steps ran side by side in one run: {bounds}"


def _summary(stdout: str) -> str:
    return re.sub(r"\d+\.\d+ s", "T s", re.sub(r"/tmp/\S+", "PATH", stdout))


def test_one_worker_prints_the_same_summary_as_main(make_sandbox, tmp_path):
    """N = 1 is claimed to be exactly as before, same printed summary: run the command of main (/work/main) and
    of this branch (the clone) on the same world and compare their stdout, durations and paths left out."""
    printed = {}
    for name, code_root in (("main", "/work/main"), ("branch", str(Path.cwd()))):
        server = make_sandbox(**WORLD)
        home = tmp_path / name / "home"
        home.mkdir(parents=True)
        env = cli_env(home, server, TODAY, PYTHONPATH=code_root)
        process = start_cli(["run", *range_args(START, END), "--only", "organic"], env)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        printed[name] = _summary(out)
        Path(f"/tmp/attackpar/summary_{name}.txt").write_text(printed[name])
    assert printed["branch"] == printed["main"]


def _spend(server, token: str, calls: int) -> None:
    """Spend `calls` of the token's user's org_analytics daily quota before the run."""
    for _ in range(calls):
        requests.get(f"{server.base_url}/user_account/analytics", headers={"Authorization": f"Bearer {token}"},
                     params={"start_date": START.isoformat(), "end_date": END.isoformat()})


def test_a_daily_quota_stopping_only_one_account_then_resumed_with_two_workers(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """brand-a's user has spent its quota before the run, brand-b's has not: brand-a stops, brand-b completes (and
    is recorded as a sibling of a quota-stopped run); after the quota resets, the resumed run. Same with 2 workers
    as with 1: exit codes, calls, warehouse."""
    seen = {}
    for workers in (1, 2):
        server = make_sandbox(**{**WORLD, "users": 2, "daily_quotas": {"org_analytics": 12}})
        _spend(server, "pina_SANDBOX", 12)
        home = tmp_path / f"w{workers}"
        accounts_env(monkeypatch, home, server, TWO, **TOKENS)
        codes = [run(START, END, only="organic", workers=workers)]
        printed = [capsys.readouterr()]
        requests.post(f"{server.root_url}/_sandbox/reset").raise_for_status()
        codes.append(run(START, END, only="organic", workers=workers))
        printed.append(capsys.readouterr())
        seen[workers] = (codes, [_calls(p.out) for p in printed], _tables(home), printed)
    assert seen[1][0] == [1, 0], seen[1][3][0].err[-2000:]
    _assert_same(seen)


def test_no_secret_under_dagster_home_after_a_parallel_run(make_sandbox, monkeypatch, tmp_path, capsys):
    """Tokens and the app secret never reach DAGSTER_HOME: the pickled op outputs under storage/, the compute
    logs, the event log and run config (runs.db), when the steps run in processes of their own."""
    server = make_sandbox(**{**WORLD, "users": 2})
    accounts_env(monkeypatch, tmp_path / "home", server, TWO, **TOKENS)
    monkeypatch.setenv("PINTEREST_APP_ID", "1234567")
    monkeypatch.setenv("PINTEREST_APP_SECRET", "appsecret-XYZZY-0123456789")
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(Path.cwd() / ".dagster" / "dagster.yaml", dagster_home)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    code = run(START, END, only="organic", workers=2)
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    secrets = [b"pina_SANDBOX", b"appsecret-XYZZY"]
    found = {str(p.relative_to(dagster_home)): [s for s in secrets if s in p.read_bytes()]
             for p in dagster_home.rglob("*") if p.is_file()}
    assert not {k: v for k, v in found.items() if v}
    assert not any(s.decode() in printed.out + printed.err for s in secrets)


def test_a_second_parallel_run_in_the_same_process_uses_the_new_environment(make_sandbox, monkeypatch, tmp_path, capsys):
    """Two parallel runs in one process, the second with another data directory, accounts file and simulator."""
    for n, (toml, tokens) in enumerate([(TWO, TOKENS), (TWO.replace("brand-b", "brand-c").replace("BRAND_B", "BRAND_C"),
                                        {"BRAND_A_ACCESS_TOKEN": "pina_SANDBOX_2", "BRAND_C_ACCESS_TOKEN": "pina_SANDBOX"})]):
        server = make_sandbox(**{**WORLD, "users": 2})
        home = tmp_path / f"home{n}"
        monkeypatch.delenv("BRAND_B_ACCESS_TOKEN", raising=False)
        accounts_env(monkeypatch, home, server, toml, **tokens)
        code = run(START, END, only="organic", workers=2)
        printed = capsys.readouterr()
        assert code == 0, printed.err[-2000:]
        names = sorted(r[0] for r in query(home, "SELECT DISTINCT account FROM user_accounts")) \
            if "account" in [c for (c,) in query(home, "SELECT column_name FROM duckdb_columns() WHERE table_name='user_accounts'")] \
            else None
        assert (home / "raw").exists() and not (tmp_path / f"home{1 - n}" / "raw" / "account=brand-c").exists()
        if n == 1:
            assert (home / "raw" / "account=brand-c").exists() and not (home / "raw" / "account=brand-b").exists(), names


def test_sigkill_during_the_extraction_steps_leaves_no_step_process_writing(make_sandbox, tmp_path):
    """The command killed (SIGKILL, OOM) while the accounts' extraction steps run: with one worker nothing of the
    run survives it (the lake's workers die with it: PR_SET_PDEATHSIG); its step processes must not go on writing
    the data directory, whose run lock died with the command."""
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=400)
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), tmp.mkdir()
    (home / "accounts.toml").write_text(TWO)
    mark = f"ATTACK_MARK_{uuid.uuid4().hex}"
    env = cli_env(home, server, TODAY, TMPDIR=str(tmp), **TOKENS, **{mark: "1"})
    for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN"):
        env.pop(key)
    process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", "2"], env)
    deadline = time.monotonic() + 180
    while not list((home / "raw").glob("account=*/**/user_account*analytics*")) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()
    process.kill()
    process.communicate(timeout=60)
    time.sleep(3)
    left = _marked(mark)
    described = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200] for pid in left]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], described


def test_a_revoked_account_with_only_ads_two_workers_as_one(make_sandbox, monkeypatch, tmp_path, capsys):
    _assert_same(_compare(make_sandbox, monkeypatch, tmp_path, capsys, TWO,
                          {**TOKENS, "BRAND_B_ACCESS_TOKEN": "pina_REVOKED"}, "ads"))


def test_a_parallel_run_holds_the_run_lock_against_a_load(make_sandbox, tmp_path):
    server = make_sandbox(**{**WORLD, "users": 2}, latency_ms=300)
    home = tmp_path / "home"
    home.mkdir()
    (home / "accounts.toml").write_text(TWO)
    env = cli_env(home, server, TODAY, PINTEREST_RUN_LOCK_WAIT_SECONDS="1", **TOKENS)
    for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN"):
        env.pop(key)
    process = start_cli(["run", *range_args(START, END), "--only", "organic", "--account-workers", "2"], env)
    try:
        deadline = time.monotonic() + 180
        while not list((home / "raw").glob("account=*/user_account__analytics")) and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.poll() is None
        from tests.process_support import run_cli
        load = run_cli(["load", *range_args(START, END), "--only", "organic"], env)
        assert load.returncode != 0 and "lock" in load.stderr.lower(), (load.returncode, load.stderr[-1500:])
    finally:
        process.kill()
        process.communicate()


COLLIDING = "".join(f"""
[[account]]
name = "{name}"
access_token_env = "{env}"
""" for name, env in (("a_b_3", "T1"), ("a-b", "T2"), ("a_b", "T3")))


@pytest.mark.parametrize("workers", [1, 2])
def test_every_account_is_extracted_when_step_keys_collide(make_sandbox, monkeypatch, tmp_path, capsys, workers):
    """Valid, distinct names `a_b_3`, `a-b`, `a_b`: mapping_keys gives `a_b_3`, `a_b`, then `a_b` + `_3` for the
    third, which replaces the first account's entry: that account's analytics are never extracted, and nothing
    fails (its check passes, exit 0)."""
    server = make_sandbox(**{**WORLD, "users": 3})
    accounts_env(monkeypatch, tmp_path / "home", server, COLLIDING, T1="pina_SANDBOX", T2="pina_SANDBOX_2",
                 T3="pina_SANDBOX_3")
    code = run(START, END, only="organic", workers=workers)
    printed = capsys.readouterr()
    users = query(tmp_path / "home", "SELECT count(*) FROM user_accounts")
    daily = query(tmp_path / "home", "SELECT count(DISTINCT user_id) FROM user_account_daily")
    assert (code, users, daily) == (0, [(3,)], [(3,)]), (code, users, daily, printed.out[-1500:])


REFRESHING = TWO.replace('access_token_env = "BRAND_A_ACCESS_TOKEN"',
                         'access_token_env = "BRAND_A_ACCESS_TOKEN"\nrefresh_token_env = "BRAND_A_REFRESH_TOKEN"').replace(
    'access_token_env = "BRAND_B_ACCESS_TOKEN"', 'access_token_env = "BRAND_B_ACCESS_TOKEN"\nrefresh_token_env = "BRAND_B_REFRESH_TOKEN"')


def test_expiring_access_tokens_two_workers_as_one(make_sandbox, monkeypatch, tmp_path, capsys):
    """Access tokens that stop working after a few calls (the client refreshes them): 2 workers as 1."""
    seen = _compare(make_sandbox, monkeypatch, tmp_path, capsys, REFRESHING,
                    {**TOKENS, "BRAND_A_REFRESH_TOKEN": "pinr_SANDBOX", "BRAND_B_REFRESH_TOKEN": "pinr_SANDBOX_2"},
                    "organic", {**WORLD, "users": 2, "token_max_calls": 4})
    assert seen[1][0] == [0], seen[1][3][0].err[-1500:]
    _assert_same(seen)


def test_an_unlimited_pool_is_refused_with_an_accurate_message(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**{**WORLD, "users": 2})
    accounts_env(monkeypatch, tmp_path / "home", server, TWO, **TOKENS)
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    code = run(START, END, only="organic", workers=2)
    printed = capsys.readouterr()
    assert code == 1 and "must admit one warehouse load at a time" in printed.err
    assert not (tmp_path / "home" / "raw").exists()
    assert "limited to nothing" not in printed.err, printed.err  # it is not limited at all


def test_one_account_stopped_by_its_quota_prints_the_same_with_two_workers(make_sandbox, monkeypatch, tmp_path, capsys):
    from tests.pipeline_support import pipeline_env
    printed = {}
    for workers in (1, 2):
        server = make_sandbox(**{**WORLD, "daily_quotas": {"org_analytics": 12}})
        _spend(server, "pina_SANDBOX", 12)
        pipeline_env(monkeypatch, tmp_path / f"w{workers}", server, TODAY)
        code = run(START, END, only="organic", workers=workers)
        err = capsys.readouterr().err
        printed[workers] = (code, [re.sub(r"x-pinterest-rid: \w+|/tmp/\S+|\d+ s \([\d.]+ hours\)", "X", line)
                                   for line in err.splitlines() if line.startswith("pinterest-etl run")])
    assert printed[2] == printed[1]
