"""Settings refused before any call and naming what to fix, from attacks on the settings object: an account
without credentials, digits Python cannot read, an empty ads column list, a token file that is a directory, an
accounts file that is not UTF-8 or not a regular file, an account's own variable names; commands that need only a
client are not stopped by a setting they do not read; no token is ever Dagster configuration, and the embedded
simulator's flag brings its development tokens only, refused while real credentials are configured."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env
from tests.test_settings_object import TWO_ACCOUNTS, run_command

DAY = TODAY - dt.timedelta(days=2)


def test_an_account_whose_token_variable_is_unset_is_refused_before_any_call(make_sandbox, monkeypatch, tmp_path,
                                                                              capsys):
    """brand-b names BRAND_B_ACCESS_TOKEN, which is not set (a typo, a missing export), and has no token file: it
    could never make a call, so the run is refused before brand-a spends any, naming brand-b and how to log it in."""
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, BRAND_A_ACCESS_TOKEN="pina_SANDBOX",
                 PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    monkeypatch.delenv("BRAND_B_ACCESS_TOKEN", raising=False)
    home.mkdir()
    (home / "accounts.toml").write_text(TWO_ACCOUNTS)
    code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(),
                                "--end", DAY.isoformat())
    calls = sum(server_stats(server)["requests"].values()) if server_stats(server)["requests"] else 0
    assert code == 2 and "brand-b" in printed and calls == 0, (code, calls, printed[-1500:])

@pytest.mark.parametrize("variable, value", [("PINTEREST_MAX_PAGES", "²"), ("PINTEREST_HTTP_MAX_BODY_MB", "²"),
                                             ("PINTEREST_FRESHNESS_DEADLINE_HOUR", "²"),
                                             ("PINTEREST_RATE_BUDGETS", "org_analytics=²")])
def test_a_digit_python_cannot_make_a_number_of_is_refused_naming_the_variable(make_sandbox, monkeypatch, tmp_path,
                                                                                capsys, variable, value):
    """'²' is a digit to str.isdigit() but not to int(): refused naming the variable, not with Python's message."""
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, **{variable: value})
    code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and variable in printed, printed
    assert server_stats(server)["requests"] == {}

@pytest.mark.parametrize("command", [("auth", "status"), ("auth", "refresh"), ("probe",)])
def test_a_setting_the_command_does_not_use_does_not_change_its_exit_code(make_sandbox, monkeypatch, tmp_path, capsys,
                                                                          command):
    """`auth status`, `auth refresh` and `probe` read only the settings of a client (and the probe's own): a bad
    daily-schedule cron, which none of them reads, does not stop them."""
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_SCHEDULE_CRON="bogus")
    code, printed = run_command(capsys, *command)
    assert code == 0, printed[-400:]

def test_a_token_file_that_is_a_directory_is_refused_naming_the_variable(make_sandbox, monkeypatch, tmp_path, capsys):
    """PINTEREST_TOKEN_FILE naming a directory is refused naming the variable (it was a traceback)."""
    server = make_sandbox()
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_TOKEN_FILE=str(folder))
    code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and "PINTEREST_TOKEN_FILE" in printed and "Traceback" not in printed, printed[-500:]
    assert server_stats(server)["requests"] == {}

@pytest.mark.parametrize("value", [",", " "])
def test_an_ads_column_list_with_no_column_is_refused_before_any_call(make_sandbox, monkeypatch, tmp_path, capsys,
                                                                      value):
    """PINTEREST_ADS_COLUMNS=',' (or ' ') names no column: refused before any call (it spent the dimension calls,
    then the API refused the analytics call)."""
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_ADS_COLUMNS=value)
    code, printed = run_command(capsys, "run", "--only", "ads", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and "PINTEREST_ADS_COLUMNS" in printed, printed[-400:]
    assert server_stats(server)["requests"] == {}

def test_an_accounts_file_that_is_not_utf8_is_refused_naming_it(make_sandbox, monkeypatch, tmp_path, capsys):
    """An accounts file saved as UTF-16 (a Windows editor's 'Unicode') is refused naming the file and the variable."""
    server = make_sandbox()
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(TWO_ACCOUNTS, encoding="utf-16")
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_ACCOUNTS_FILE=str(accounts))
    code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and ("PINTEREST_ACCOUNTS_FILE" in printed or str(accounts) in printed), printed[-400:]

def test_no_token_is_a_field_of_the_pinterest_resource_and_an_embedded_run_stores_none(make_sandbox, monkeypatch,
                                                                                        tmp_path):
    """The UI's launchpad offers a resource's fields and every run records its configuration: the resource has no
    token field (the embedded simulator is a flag, its public development tokens are never configuration), and a
    run pointed at a simulator that way stores no token in the instance."""
    import dagster as dg

    from assets.resources import PinterestResource
    from pipelines.definitions import defs
    from pipelines.sandbox.auth import DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN

    # run_accounts: the accounts a run read when it started, which name variables (accounts_json: no secret).
    assert set(PinterestResource.model_fields) == {"concurrency", "api_base_url", "embedded_simulator", "run_accounts"}
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = defs.resolve_job_def("pinterest_daily").execute_in_process(
            run_config={"resources": {"pinterest": {"config": {"api_base_url": server.base_url,
                                                                 "embedded_simulator": True}}}},
            instance=instance, partition_key=DAY.isoformat(), op_selection=["organic_dimensions"])
        stored = instance.get_run_by_id(result.run_id).run_config
    assert result.success and server_stats(server)["requests"]
    kept = [p for p in (tmp_path / "dagster").rglob("*") if p.is_file()
            and (DEV_ACCESS_TOKEN.encode() in p.read_bytes() or DEV_REFRESH_TOKEN.encode() in p.read_bytes())]
    assert DEV_ACCESS_TOKEN not in repr(stored) and kept == []


def test_the_embedded_simulator_flag_is_refused_for_a_url_that_is_not_this_machine(monkeypatch, tmp_path):
    import dagster as dg

    from assets.resources import PinterestResource

    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    with pytest.raises(dg.DagsterResourceFunctionError) as raised:
        with dg.build_resources({"pinterest": PinterestResource(api_base_url="https://api.pinterest.com/v5",
                                                                embedded_simulator=True)}):
            pass
    assert "embedded_simulator is set for https://api.pinterest.com/v5" in str(raised.value.__cause__)


def test_an_accounts_app_secret_in_the_command_line_of_the_warehouse_lock_holder_is_not_shown(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """The command line of the process holding the warehouse is shown with every secret hidden: also an account's
    app secret, held in the variable its app_secret_env names (it was shown as is)."""
    import subprocess
    import sys

    import duckdb

    server = make_sandbox()
    home = tmp_path / "home"
    secret = "agency-app-secret-6f1c2d"
    pipeline_env(monkeypatch, home, server, TODAY, BRAND_A_ACCESS_TOKEN="pina_SANDBOX", PINTEREST_ACCESS_TOKEN="",
                 PINTEREST_REFRESH_TOKEN="", AGENCY_APP_ID="1234567", AGENCY_APP_SECRET=secret,
                 PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="1")
    home.mkdir()
    (home / "accounts.toml").write_text('[[account]]\nname = "brand-a"\naccess_token_env = "BRAND_A_ACCESS_TOKEN"\n'
                                        'app_id_env = "AGENCY_APP_ID"\napp_secret_env = "AGENCY_APP_SECRET"\n')
    duckdb.connect(str(home / "warehouse.duckdb")).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time;c=duckdb.connect(sys.argv[2]);"
                               "print('ready',flush=True);time.sleep(60)", f"--secret={secret}",
                               str(home / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(),
                                    "--end", DAY.isoformat())
    finally:
        holder.kill()
        holder.wait()
    assert "locked by" in printed, printed[-800:]
    assert secret not in printed, [line for line in printed.splitlines() if secret in line][:1]


@pytest.mark.parametrize("variable, value", [("PINTEREST_HTTP_TIMEOUT_SECONDS", "\u0666\u0660"),
                                             ("PINTEREST_RUN_LOCK_WAIT_SECONDS", "1_0"),
                                             ("PINTEREST_RETRY_BACKOFF_SECONDS", "\u0661"),
                                             ("PINTEREST_REPORT_POLL_SECONDS", "1e0")])
def test_a_number_of_seconds_python_reads_but_a_person_would_not_write_is_refused(tmp_path, variable, value):
    """float() reads other scripts' digits ('٦٠' is 60), underscores ('1_0' is 10) and exponents: the seconds
    settings accepted them, where the whole-number settings refuse them. Only 0-9 and a point are read."""
    from pipelines.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=f"{variable} must be a number of seconds"):
        Settings.from_env({variable: value, "PINTEREST_ETL_HOME": str(tmp_path)})
    assert Settings.from_env({variable: " 1.5 ", "PINTEREST_ETL_HOME": str(tmp_path)})


@pytest.mark.parametrize("kind", ["dangling-symlink", "fifo", "directory"])
def test_an_accounts_file_at_the_default_place_that_is_not_a_regular_file_is_not_silently_ignored(
        monkeypatch, tmp_path, capsys, kind):
    """PINTEREST_ETL_HOME/accounts.toml exists but is not a regular file (a symbolic link to a secrets mount that is
    not mounted, a named pipe, a folder): it was taken as 'no accounts file', the run found no credentials and loaded
    the embedded simulator's made-up data into the home meant for the agency's real accounts. An explicit
    PINTEREST_ACCOUNTS_FILE of the same kind is refused too, as what it is rather than 'no such file'."""
    import os

    home = tmp_path / "home"
    for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN", "PINTEREST_TOKEN_FILE", "PINTEREST_API_BASE_URL",
                "PINTEREST_ACCOUNTS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    monkeypatch.setenv("PINTEREST_ETL_TODAY", TODAY.isoformat())
    home.mkdir()
    accounts = home / "accounts.toml"
    if kind == "dangling-symlink":
        accounts.symlink_to(tmp_path / "unmounted" / "accounts.toml")
    elif kind == "fifo":
        os.mkfifo(accounts)
    else:
        accounts.mkdir()
    code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert code == 2 and f"{accounts} is not a regular file" in printed, (code, printed[-600:])
    assert not (home / "warehouse.duckdb").exists() and not (home / "lake").exists()
    if kind != "dangling-symlink":
        monkeypatch.setenv("PINTEREST_ACCOUNTS_FILE", str(accounts))
        code, printed = run_command(capsys, "run", "--only", "organic", "--start", DAY.isoformat(),
                                    "--end", DAY.isoformat())
        assert code == 2 and f"PINTEREST_ACCOUNTS_FILE={accounts} is not a regular file" in printed, printed[-600:]


def _execute_with_flag(tmp_path, base_url):
    """The daily job's first step, run with the resource's embedded_simulator flag (as the launchpad sets it)."""
    import dagster as dg

    from pipelines.definitions import defs

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        return defs.resolve_job_def("pinterest_daily").execute_in_process(
            run_config={"resources": {"pinterest": {"config": {"api_base_url": base_url, "embedded_simulator": True}}}},
            instance=instance, partition_key=DAY.isoformat(), op_selection=["organic_dimensions"], raise_on_error=False)


def _refusal(result) -> str:
    """The message of the error that failed the run (at the resource's setup)."""
    import dagster as dg

    failures = [event for event in result.all_events
                if event.event_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RESOURCE_INIT_FAILURE)]
    return "".join(str(event.event_specific_data.error.to_string()) for event in failures)


@pytest.mark.parametrize("configured", ["token variables", "accounts file", "token file"])
def test_the_embedded_simulator_flag_is_refused_when_real_credentials_are_configured(make_sandbox, monkeypatch,
                                                                                       tmp_path, configured):
    """The embedded simulator is used only when no credentials are configured. The flag, set from the launchpad or
    run config of a deployment with real credentials, silently replaced them with the development tokens and
    wrote the simulator's made-up user and boards into the real home's lake."""
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    monkeypatch.setenv("PINTEREST_API_BASE_URL", "https://api.pinterest.com/v5")
    home.mkdir()
    if configured == "token variables":
        monkeypatch.setenv("PINTEREST_ACCESS_TOKEN", "pina_REAL_production_token_1")
        named = "(PINTEREST_ACCESS_TOKEN)"
    elif configured == "accounts file":
        monkeypatch.setenv("BRAND_A_ACCESS_TOKEN", "pina_REAL_production_token_1")
        (home / "accounts.toml").write_text(TWO_ACCOUNTS)
        named = f"(the accounts file {home / 'accounts.toml'})"
    else:
        _token_file(home, "pina_REAL_from_token_file_42")
        named = f"(the token file {home / 'credentials' / 'pinterest-token.json'})"
    result = _execute_with_flag(tmp_path, server.base_url)
    assert not result.success and not (home / "lake").exists()
    assert f"embedded_simulator is set, but real Pinterest credentials are configured {named}" in _refusal(result)
    assert "pina_REAL" not in _refusal(result) and server_stats(server)["requests"] == {}


def _token_file(home, access_token: str):
    """PINTEREST_ETL_HOME/credentials/pinterest-token.json (0600) holding `access_token` and a refresh token."""
    import json

    token_file = home / "credentials" / "pinterest-token.json"
    token_file.parent.mkdir(parents=True, mode=0o700)
    token_file.write_text(json.dumps({"access_token": access_token, "refresh_token": "pinr_" + access_token[5:]}))
    token_file.chmod(0o600)
    return token_file


def test_the_embedded_simulator_flag_never_sends_the_token_files_real_token(monkeypatch, tmp_path):
    """The flag is to bring the simulator's public development tokens, but an existing token file won over them
    (choose_tokens), so with the flag and a local URL (any program listening on this machine) the real access
    token of PINTEREST_ETL_HOME/credentials/pinterest-token.json went to it over plain http, then the refresh
    token to /oauth/token."""
    import http.server
    import threading

    seen: list[str] = []

    class Capture(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(str(self.headers) + self.rfile.read(length).decode("latin-1"))
            body = b'{"code": 2, "message": "Authentication failed."}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        home = tmp_path / "home"
        for key in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN", "PINTEREST_TOKEN_FILE", "PINTEREST_APP_ID",
                    "PINTEREST_APP_SECRET", "DAGSTER_HOME", "PINTEREST_ACCOUNTS_FILE"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
        monkeypatch.setenv("PINTEREST_ETL_TODAY", TODAY.isoformat())
        monkeypatch.setenv("PINTEREST_START_DATE", "2025-11-01")
        monkeypatch.setenv("PINTEREST_HTTP_CALL_TIMEOUT_SECONDS", "5")
        _token_file(home, "pina_REAL_from_token_file_42")
        result = _execute_with_flag(tmp_path, f"http://127.0.0.1:{server.server_address[1]}/v5")
    finally:
        server.shutdown()
        server.server_close()
    assert not result.success and seen == []


def test_with_the_embedded_simulator_flag_a_token_file_of_development_tokens_is_neither_used_nor_written(
        make_sandbox, monkeypatch, tmp_path):
    """A token file holding the simulator's own development tokens is no real credential: the flag is not
    refused, and the run calls with the development tokens alone, leaving the file as it was."""
    from pipelines.sandbox.auth import DEV_ACCESS_TOKEN

    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    token_file = _token_file(home, DEV_ACCESS_TOKEN)
    before = token_file.read_bytes()
    result = _execute_with_flag(tmp_path, server.base_url)
    assert result.success and server_stats(server)["requests"] and token_file.read_bytes() == before


@pytest.mark.parametrize("variable", ["PINTEREST_ETL_HOME", "PINTEREST_ACCOUNTS_FILE", "PINTEREST_CA_BUNDLE"])
def test_a_path_too_long_for_the_file_system_is_refused_naming_the_variable_not_showing_it(tmp_path, variable):
    """A path with a part over 255 bytes (a token pasted instead of a path, say) ended the check with a traceback
    showing the path."""
    from pipelines.run_settings import check_all
    from pipelines.settings import SettingsError

    long_path = str(tmp_path / ("pina_" + "x" * 300))
    env = {"PINTEREST_ETL_HOME": str(tmp_path / "home"), "PINTEREST_ACCESS_TOKEN": "pina_x", variable: long_path}
    with pytest.raises(SettingsError, match=f"^{variable} names a path the file system cannot look up") as refused:
        check_all(env)
    assert "pina_xxx" not in str(refused.value)
