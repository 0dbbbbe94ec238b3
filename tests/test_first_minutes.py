"""The first five minutes: a successful run ends with what to do next (the report, the UI, two queries that answer,
where the data is); a known error is one paragraph without a traceback (`--debug`, before or after the command,
shows it); an unexpected one keeps its traceback and says how to report it; the install prints no warning."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from dagster._utils.error import serializable_error_info_from_exc_info

from pipelines.cli import build_parser, main
from pipelines.known_errors import ADVICE, REPORT_HINT, step_failure_text
from pipelines.next_steps import EXAMPLE_QUERIES, cli_command, example_queries, next_steps
from pipelines.warehouse import WarehouseLockedError
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env
from tests.process_support import SMALL_WORLD, range_args
from tests.test_warehouse_lock import analyst_session

ROOT = Path(__file__).resolve().parents[1]
START, END = TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)
LOCKED = "pinterest-etl run: step organic_warehouse failed: WarehouseLockedError: the warehouse "


def next_steps_block(printed: str) -> list[str]:
    """The lines after `What next:`, the end of a successful run's output."""
    _, found, block = printed.partition("\nWhat next:\n")
    assert found, printed
    return block.rstrip("\n").split("\n")


def test_a_successful_run_ends_with_the_report_the_ui_two_queries_that_answer_and_where_the_data_is(
        make_sandbox, monkeypatch, tmp_path, capsys):
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, make_sandbox(**SMALL_WORLD), TODAY)
    monkeypatch.chdir(tmp_path)  # outside the repository: no worked queries to name (the next test)
    assert main(["run", *range_args(START, END)]) == 0
    lines = next_steps_block(capsys.readouterr().out)
    assert len(lines) <= 8
    labels = dict(line.strip().split("  ", 1) for line in lines)
    assert set(labels) == {"report", "Dagster UI", "query", "data"}
    report = Path(unquote(urlparse(labels["report"].strip()).path))
    assert labels["report"].strip().startswith("file:///") and report == (home / "report.html").resolve()
    assert report.is_file()
    assert labels["Dagster UI"].strip() == "make ui  (or: pinterest-etl ui), then open http://127.0.0.1:3000"
    data = re.fullmatch(r"\s*warehouse (\S+), Parquet lake (\S+), raw API answers (\S+)", labels["data"])
    assert [Path(p) for p in data.groups()] == [home.resolve() / n for n in ("warehouse.duckdb", "lake", "raw")]
    assert all(Path(p).exists() for p in data.groups())
    queries = [re.fullmatch(r'\s*query\s+pinterest-etl sql "(.+)"', line).group(1) for line in lines if "query" in line]
    assert queries == list(example_queries(None))
    for sql in (sql for pair in EXAMPLE_QUERIES.values() for sql in pair):  # those of --only runs too
        assert main(["sql", sql]) == 0
        answer = capsys.readouterr().out
        assert re.search(r"\((\d+) rows\)", answer).group(1) != "0", answer


def test_the_commands_are_shown_as_the_user_can_type_them(monkeypatch):
    installed = Path(sys.executable).parent / "pinterest-etl"
    monkeypatch.setenv("PATH", "/nonexistent")  # `make run`: the virtual environment is not on PATH
    assert cli_command(str(installed)) == str(installed)
    monkeypatch.setenv("PATH", str(installed.parent))
    assert cli_command(str(installed)) == "pinterest-etl"
    assert cli_command(str(ROOT / "pipelines" / "cli.py")) == "pinterest-etl"  # python -m pipelines.cli
    lines = next_steps_block(next_steps(ROOT / "data", "ads", ".venv/bin/pinterest-etl"))
    assert [line.split()[1] for line in lines if line.startswith("  query")] == [".venv/bin/pinterest-etl"] * 2


def test_run_from_the_repository_names_its_worked_queries(make_sandbox, monkeypatch, tmp_path, capsys):
    pipeline_env(monkeypatch, tmp_path / "home", make_sandbox(**SMALL_WORLD), TODAY)
    monkeypatch.chdir(ROOT)  # where docs/queries.sql is
    assert main(["run", *range_args(END, END, "--only", "organic")]) == 0
    worked = [line for line in next_steps_block(capsys.readouterr().out) if line.startswith("  worked")]
    name = re.fullmatch(r"  worked\s+pinterest-etl sql --file docs/queries.sql --name (\S+)  \(.+\)", worked[0]).group(1)
    assert main(["sql", "--file", "docs/queries.sql", "--name", name]) == 0


def test_a_run_stopped_by_a_locked_warehouse_prints_one_paragraph_no_traceback_and_no_next_steps(
        make_sandbox, monkeypatch, tmp_path, capsys):
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, make_sandbox(**SMALL_WORLD), TODAY, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="0.2")
    with analyst_session(home / "warehouse.duckdb"):
        code = main(["run", *range_args(END, END, "--only", "organic")])
    printed = capsys.readouterr()
    assert code == 1
    assert "What next:" not in printed.out
    assert "Traceback" not in printed.out + printed.err and "Stack Trace" not in printed.err
    assert " - ERROR - " not in printed.err  # Dagster's own failure events are left to --debug
    failures = [line for line in printed.err.splitlines() if line.startswith("pinterest-etl run:")]
    assert len(failures) == 1 and failures[0].startswith(LOCKED), printed.err
    assert failures[0].endswith(f"load it without API calls: `pinterest-etl load --start {END} --end {END} --only organic`")


def test_a_refused_token_is_one_paragraph_saying_how_to_check_and_renew_the_credentials(
        make_sandbox, monkeypatch, tmp_path, capsys):
    pipeline_env(monkeypatch, tmp_path / "home", make_sandbox(**SMALL_WORLD), TODAY, PINTEREST_ACCESS_TOKEN="pina_WRONG")
    monkeypatch.delenv("PINTEREST_REFRESH_TOKEN")
    assert main(["run", *range_args(END, END, "--only", "organic")]) == 1
    printed = capsys.readouterr()
    assert "What next:" not in printed.out and "Stack Trace" not in printed.err and "pina_WRONG" not in printed.err
    failures = [line for line in printed.err.splitlines() if line.startswith("pinterest-etl run:")]
    assert failures == ["pinterest-etl run: step organic_dimensions failed: AuthError: user_account/get: HTTP 401, "
                        "Pinterest code 2: Authentication failed. (x-pinterest-rid: 0000000000000001). "
                        f"{ADVICE['AuthError']}"]


@pytest.mark.parametrize("args", [["--debug", "run"], ["run", "--debug"]], ids=["before", "after"])
def test_debug_before_or_after_the_command_shows_the_traceback_of_a_locked_warehouse(
        make_sandbox, monkeypatch, tmp_path, capsys, args):
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, make_sandbox(**SMALL_WORLD), TODAY, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="0.2")
    with analyst_session(home / "warehouse.duckdb"):
        code = main([*args, *range_args(END, END, "--only", "organic")])
    printed = capsys.readouterr().err
    assert code == 1
    assert "Stack Trace:" in printed and 'in load\n    raise WarehouseLockedError(' in printed
    assert LOCKED in printed


@pytest.mark.parametrize("args", [["--debug", "auth", "status"], ["auth", "--debug", "status"], ["auth", "status", "--debug"],
                                  ["sql", "SELECT 1", "--debug"], ["--debug", "sandbox", "--tour"]])
def test_debug_is_taken_before_or_after_every_command(args):
    assert build_parser().parse_args(args).debug is True
    assert build_parser().parse_args([a for a in args if a != "--debug"]).debug is False


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_a_refused_setting_is_one_line_and_its_traceback_only_with_debug(monkeypatch, capsys, debug):
    monkeypatch.setenv("PINTEREST_ETL_TODAY", "tomorrow")
    assert main([*debug, "run"]) == 2
    printed = capsys.readouterr().err
    assert printed.endswith("pinterest-etl run: error: PINTEREST_ETL_TODAY must be a date as YYYY-MM-DD (got 'tomorrow')\n")
    assert ("Traceback (most recent call last)" in printed) == bool(debug)


def failure_info(error: BaseException):
    try:
        raise error
    except type(error):
        return serializable_error_info_from_exc_info(sys.exc_info())


def test_a_known_step_error_adds_nothing_to_its_message_and_an_unexpected_one_its_traceback_and_how_to_report():
    assert step_failure_text(failure_info(WarehouseLockedError("locked"))) == ""
    unexpected = step_failure_text(failure_info(KeyError("pin_id")))
    assert "Traceback" not in unexpected  # Dagster's own rendering of a stack
    assert "KeyError: 'pin_id'" in unexpected and "\n  File " in unexpected and unexpected.endswith(REPORT_HINT)


@pytest.mark.slow
def test_building_and_installing_the_project_prints_no_warning(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("pipelines", "assets"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", tmp_path / "venv"], check=True)
    outputs = []
    for pip in (["wheel", "--no-deps", "--wheel-dir", tmp_path / "wheels", source],
                ["--python", tmp_path / "venv/bin/python", "install", "--no-deps", "--editable", source]):
        done = subprocess.run([sys.executable, "-m", "pip", "--quiet", *pip], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    # This machine's pip configuration names package indexes that do not exist: pip's notes about them are not
    # the project's.
    lines = [line for output in outputs for line in output.splitlines() if not line.startswith("WARNING: Location '")]
    assert not [line for line in lines if re.search(r"warn|deprecat", line, re.IGNORECASE)], "\n".join(lines)
    assert len(list((tmp_path / "wheels").glob("pinterest_analytics_etl-*.whl"))) == 1
