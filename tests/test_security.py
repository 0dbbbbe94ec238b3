"""Secrets never leak (files, Dagster event logs, output, --help); token files are 0600 and replaced atomically;
the OAuth redirect listener binds 127.0.0.1 only, checks `state`, takes one code and shuts down."""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import types
import urllib.parse
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from pipelines.clients import check_client_settings, client_from_env
from pipelines.pinterest.credentials import DEFAULT_SCOPES, AppCredentials, CredentialsError, Secret, TokenFile, Tokens
from pipelines.pinterest.errors import ApiError, AuthError, RequestNotSentError, TransportError, UnsafeUrlError
from pipelines.pinterest.oauth import request_tokens
from pipelines.pinterest.urls import BaseUrlError, check_base_url
from pipelines.sandbox.auth import APP_ID, APP_SECRET
from pipelines.settings import SettingsError
from tests.client_support import SIMULATOR_APP, make_client, server_stats
from tests.conftest import PARTITIONS_FIRST, TODAY
from tests.echo_support import USER_ACCOUNT, CaptureListener, EchoServer
from tests.fault_support import FAST_RETRIES, RANGE

CLI = [sys.executable, "-m", "pipelines.cli"]
BASIC_AUTH = base64.b64encode(f"{APP_ID}:{APP_SECRET}".encode()).decode()


def issued_tokens(server) -> dict:
    """Access and refresh tokens issued through the simulator's consent stand-in and code exchange."""
    consent = requests.get(f"{server.root_url}/oauth/", allow_redirects=False, params={
        "client_id": APP_ID, "redirect_uri": "http://127.0.0.1:9/callback", "response_type": "code",
        "scope": ",".join(DEFAULT_SCOPES), "state": "s"})
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(consent.headers["Location"]).query)["code"][0]
    with requests.Session() as session:
        return request_tokens(session, server.base_url, SIMULATOR_APP, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/callback"})


def cli_env(server, home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "DAGSTER_"))}
    env.update(PINTEREST_ETL_HOME=str(home), PINTEREST_API_BASE_URL=server.base_url, PINTEREST_ETL_TODAY=TODAY.isoformat(),
               PINTEREST_START_DATE=PARTITIONS_FIRST.isoformat(), **FAST_RETRIES,
               PINTEREST_RATE_BUDGETS=",".join(f"{c}=1000000" for c in ("org_analytics", "org_read", "org_write",
                                                                        "ads_analytics", "ads_read")), **extra)
    return env


def readable_contents(path: Path) -> bytes:
    """A file's bytes, plus what they hold in readable form: gzip decompressed, Parquet and DuckDB values as
    text (both compress strings, so a secret inside would not show as plain bytes)."""
    content = path.read_bytes()
    if path.suffix == ".gz":
        content += gzip.decompress(content)
    elif path.suffix == ".parquet":
        content += repr(pq.read_table(path).to_pylist()).encode()
    elif path.suffix == ".duckdb":
        with duckdb.connect(str(path), read_only=True) as con:
            for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
                content += repr(con.execute(f'SELECT * FROM "{table}"').fetchall()).encode()
    return content


@pytest.mark.slow
def test_a_full_run_with_refreshes_retries_and_errors_leaks_no_secret(make_sandbox, tmp_path):
    """Every access token expires after 6 calls (so tokens rotate several times), 10 % of calls meet a 429 and
    5 % a 5xx, one ad account answers 403; the run is recorded in a real Dagster instance. No token, refresh
    token, app secret or Basic-auth header appears in any file of the data directory (but the token file) or
    of DAGSTER_HOME, nor in anything the commands printed."""
    server = make_sandbox(pins=200, boards=3, campaigns=2, forbidden_ad_accounts=1, token_max_calls=6, throttle_rate=0.1,
                          throttle_retry_after=0.01, fail_rate=0.05)
    start = issued_tokens(server)
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    env = cli_env(server, home, DAGSTER_HOME=str(dagster_home), PINTEREST_ACCESS_TOKEN=start["access_token"],
                  PINTEREST_REFRESH_TOKEN=start["refresh_token"], PINTEREST_APP_ID=APP_ID, PINTEREST_APP_SECRET=APP_SECRET)
    outputs = [subprocess.run([*CLI, *command], capture_output=True, text=True, timeout=300, env=env) for command in (
        ["run", "--start", RANGE[0].isoformat(), "--end", RANGE[1].isoformat()], ["auth", "status"], ["auth", "refresh"])]
    for output in outputs:
        assert output.returncode == 0, output.stderr
    answers = server_stats(server)
    assert answers["requests"]["oauth/token"] >= 3 and answers["responses"]["429"] > 0  # the paths under test ran
    assert "403" in answers["responses"] and "skipped" in outputs[0].stdout + outputs[0].stderr

    leaked = server.state.tokens.known_tokens() | {APP_SECRET, BASIC_AUTH}
    token_file = home / "credentials" / "pinterest-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert json.loads(token_file.read_text())["access_token"] in leaked  # it holds the newest tokens...
    searched = [p for root in (home, dagster_home) for p in root.rglob("*") if p.is_file() and p != token_file]
    assert any(p.suffix == ".gz" for p in searched) and any(p.suffix == ".parquet" for p in searched)
    assert any(p.suffix == ".duckdb" for p in searched) and any(p.suffix == ".db" for p in searched)
    for path in searched:  # ...and nothing else does
        content = readable_contents(path)
        for secret in leaked:
            assert secret.encode() not in content, f"a secret is in {path}"
    for output in outputs:
        for secret in leaked:
            assert secret not in output.stdout + output.stderr


def subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the parser: (), ("run",), ("auth",), ("auth", "login"), ..."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                paths += subcommand_paths(subparser, (*prefix, name))
    return paths


def test_no_help_text_shows_a_secret_from_the_environment(monkeypatch, capsys):
    from pipelines.cli import build_parser, main

    leaked = {name: f"{prefix}{secrets.token_urlsafe(16)}" for name, prefix in (
        ("PINTEREST_ACCESS_TOKEN", "pina_"), ("PINTEREST_REFRESH_TOKEN", "pinr_"), ("PINTEREST_APP_SECRET", "secret-"))}
    for name, value in leaked.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PINTEREST_APP_ID", "1234567")
    paths = subcommand_paths(build_parser())
    assert {("run",), ("auth", "login"), ("auth", "refresh"), ("sql",), ("sandbox",)} <= set(paths)
    for path in paths:
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        shown = capsys.readouterr()
        assert exit_.value.code == 0 and "usage: pinterest-etl" in shown.out, path
        for value in leaked.values():
            assert value not in shown.out + shown.err, path


def test_token_files_are_created_0600_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        file = TokenFile(tmp_path / "credentials" / "token.json")
        file.write(Tokens(Secret("pina_a"), Secret("pinr_a")))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600


def test_token_files_are_replaced_atomically_never_half_written(tmp_path):
    file = TokenFile(tmp_path / "token.json")
    file.write(Tokens(Secret("pina_a"), Secret("pinr_a")))
    first_inode = file.path.stat().st_ino
    file.write(Tokens(Secret("pina_b"), Secret("pinr_b")))
    assert file.path.stat().st_ino != first_inode  # a new file renamed over the old one, not rewritten in place
    with pytest.raises(TypeError):  # the write fails half-way through the JSON
        file.write(Tokens(Secret("pina_c"), Secret("pinr_c"), scope=object()))
    assert file.read() == Tokens(Secret("pina_b"), Secret("pinr_b"))
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]  # no temporary file left


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp and tcp6 (hex, as the
    kernel prints them: 0100007F is 127.0.0.1)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, port_hex = local.partition(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def start_login(server, home: Path, port: int) -> tuple[subprocess.Popen, str]:
    """`pinterest-etl auth login --no-browser` with its redirect on `port`; returns it and the consent URL."""
    process = subprocess.Popen([*CLI, "auth", "login", "--no-browser", "--timeout", "60",
                                "--redirect-uri", f"http://localhost:{port}/callback"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(server, home))
    for line in process.stdout:
        if line.strip().startswith("http"):
            return process, line.strip()
    raise AssertionError(f"no consent URL printed: {process.stderr.read()}")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc/net/tcp (Linux)")
def test_auth_login_listens_on_loopback_only_takes_one_code_and_shuts_down(make_sandbox, tmp_path):
    server = make_sandbox()
    port = free_port()
    process, consent_url = start_login(server, tmp_path, port)
    try:
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only, even for a localhost redirect URI
        stray = requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=10)
        assert stray.status_code == 404 and process.poll() is None  # a stray request does not use up the listener
        # The consent stand-in approves and redirects the browser to the listener with the code and the state.
        approved = requests.get(consent_url, timeout=10)
        assert approved.status_code == 200 and "authorized" in approved.text
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert listening_addresses(port) == set()
    with pytest.raises(requests.ConnectionError):  # the listener is gone: a second code finds nobody
        requests.get(f"http://127.0.0.1:{port}/callback?code=another&state=x", timeout=10)
    assert server_stats(server)["requests"] == {"oauth/token": 1}
    token_file = tmp_path / "credentials" / "pinterest-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    saved = json.loads(token_file.read_text())
    assert f"Tokens saved to {token_file} (mode 0600)" in out
    assert saved["access_token"] not in out + err and saved["refresh_token"] not in out + err


def test_auth_login_refuses_a_callback_with_a_wrong_state(make_sandbox, tmp_path):
    server = make_sandbox()
    port = free_port()
    process, consent_url = start_login(server, tmp_path, port)
    try:
        forged = requests.get(f"http://127.0.0.1:{port}/callback?code=stolen&state=not-the-one", timeout=10)
        assert forged.status_code == 400
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    assert "the consent page answered with a different state (possible CSRF); nothing was saved" in err
    assert server_stats(server)["requests"] == {}  # the code was never exchanged
    assert not (tmp_path / "credentials").exists()
    assert "state=" in consent_url  # the real consent URL carried the state the listener expected



def leaked_anywhere(secret: str, outputs: list[subprocess.CompletedProcess], *roots: Path) -> list[str]:
    """Where `secret` shows: in a command's output or in any file under `roots` (in readable form)."""
    places = [f"output of {' '.join(o.args[3:5])}" for o in outputs if secret in o.stdout + o.stderr]
    for root in roots:
        places += [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in readable_contents(p)]
    return places


@pytest.mark.slow
def test_a_token_with_a_trailing_newline_is_used_stripped_with_a_warning_and_never_shown(make_sandbox, tmp_path):
    """The newline a token file or a paste leaves behind made `requests` raise InvalidHeader quoting the whole
    `Authorization` value into stderr, Dagster's event log and the compute logs."""
    server = make_sandbox(pins=20, boards=2, ad_accounts=1, campaigns=2, ad_groups=1, ads=1)
    token = issued_tokens(server)["access_token"]
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    env = cli_env(server, home, DAGSTER_HOME=str(dagster_home), PINTEREST_ACCESS_TOKEN=f"{token}\n")
    run = subprocess.run([*CLI, "run", "--start", RANGE[1].isoformat(), "--end", RANGE[1].isoformat()],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "PINTEREST_ACCESS_TOKEN had whitespace around it" in run.stderr
    assert server_stats(server)["requests"]  # the run called the API with the stripped token
    assert leaked_anywhere(token, [run], home, dagster_home) == []


@pytest.mark.parametrize("variable", ["PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN", "PINTEREST_APP_SECRET"])
def test_a_secret_with_an_inner_newline_is_refused_naming_the_variable_never_the_value(make_sandbox, tmp_path, variable):
    server = make_sandbox()
    secret = f"pina_{secrets.token_urlsafe(12)}\n{secrets.token_urlsafe(12)}"
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    env = {**cli_env(server, home, DAGSTER_HOME=str(dagster_home), PINTEREST_ACCESS_TOKEN="pina_SANDBOX",
                     PINTEREST_APP_ID=APP_ID, PINTEREST_APP_SECRET=APP_SECRET), variable: secret}
    run = subprocess.run([*CLI, "run"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 2
    assert f"{variable} contains a line break inside the value" in run.stderr
    assert server_stats(server)["requests"] == {}
    for part in secret.split("\n"):
        assert leaked_anywhere(part, [run], tmp_path) == []


def test_a_token_file_with_an_inner_control_character_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"access_token": "pina_abc\tdef"}))
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as failure:
        TokenFile(path).read()
    assert str(failure.value).startswith(f"access_token in {path} contains a space or tab inside the value")
    assert "pina_abc" not in str(failure.value)


def test_a_token_the_token_endpoint_returns_with_a_line_break_is_refused_without_showing_it():
    with pytest.raises(CredentialsError, match="the access token of the token endpoint's answer contains a line") as failure:
        Tokens.from_token_response({"access_token": "pina_new\nline", "expires_in": 3600})
    assert "pina_new" not in str(failure.value)


def test_an_error_building_a_request_never_carries_a_header_value(make_sandbox):
    """Tokens that bypass validation (built in code) still cannot leak: the library's InvalidHeader, which
    quotes the header, becomes our own message, with no exception of the library attached."""
    server = make_sandbox()
    token = f"pina_{secrets.token_urlsafe(16)}"
    with make_client(server, tokens=Tokens(Secret(f"{token}\n"))) as client, \
            pytest.raises(RequestNotSentError) as failure:
        client.get("user_account/get")
    assert str(failure.value) == ("user_account/get: the request could not be sent (InvalidHeader); check the URL and "
                                  "the credentials' format")
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    assert server_stats(server)["requests"] == {}


def test_a_base_url_that_parsers_read_differently_is_refused_before_any_connection(make_sandbox, tmp_path):
    """`http://127.0.0.1:TRAP\\@127.0.0.1:SIMULATOR/v5` was the simulator to the check (urlsplit) and the trap
    to requests (urllib3): the bearer token went to the trap. Now nothing connects anywhere."""
    server = make_sandbox()
    simulator = urllib.parse.urlsplit(server.base_url)
    with socket.create_server(("127.0.0.1", 0)) as trap:
        trap.setblocking(False)
        base_url = f"http://127.0.0.1:{trap.getsockname()[1]}\\@{simulator.netloc}/v5"
        env = {**cli_env(server, tmp_path / "etl", PINTEREST_ACCESS_TOKEN="pina_SANDBOX"),
               "PINTEREST_API_BASE_URL": base_url}
        run = subprocess.run([*CLI, "run"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert run.returncode == 2
        assert "PINTEREST_API_BASE_URL must not contain a backslash" in run.stderr
        with pytest.raises(BlockingIOError):
            trap.accept()
    assert server_stats(server)["requests"] == {}


@pytest.mark.parametrize("base_url, reason", [
    ("http://user:pass@127.0.0.1:8787/v5", "must not contain user info"),
    ("http://127.0.0.1:8787/v5?x=1", "must not have a query"),
    ("https://api.pinterest.com\t/v5", "must not contain whitespace or a control character"),
    ("https://pintérest.com/v5", "must not contain a non-ASCII character"),
    ("http://[::ffff:10.0.0.1]/v5", "must use https for ::ffff:10.0.0.1"),
])
def test_base_urls_parsers_could_read_differently_are_refused(base_url, reason):
    with pytest.raises(BaseUrlError, match=f"PINTEREST_API_BASE_URL {reason}"):
        check_base_url(base_url)


def test_the_token_endpoint_of_a_plain_http_base_url_is_refused_before_the_secret_is_sent():
    with requests.Session() as session, pytest.raises(UnsafeUrlError, match="the OAuth token endpoint"):
        request_tokens(session, "http://api.example.com/v5", SIMULATOR_APP, {"grant_type": "refresh_token"})


PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def fresh_secrets() -> dict[str, str]:
    """Random credentials shaped like nothing known (no pina_ prefix), so only knowing them can hide them."""
    return {name: secrets.token_urlsafe(18) for name in ("access", "refresh", "app_secret")}


def echo_client(base_url: str, values: dict[str, str], **options):
    return make_client(None, base_url=base_url, tokens=Tokens(Secret(values["access"]), Secret(values["refresh"])),
                       app=AppCredentials("7654321", Secret(values["app_secret"])), **options)


def forms_of(values: dict[str, str]) -> set[str]:
    """Every form of the credentials a server may echo: each value, `id:secret`, the Basic value."""
    basic = base64.b64encode(f"7654321:{values['app_secret']}".encode()).decode()
    return {*values.values(), f"7654321:{values['app_secret']}", basic}


@pytest.mark.parametrize("variable", PROXY_VARIABLES)
def test_a_proxy_in_the_environment_never_receives_a_request(monkeypatch, variable):
    """With HTTP_PROXY or ALL_PROXY set, `requests` sent the bearer token, and the refresh token and app secret
    of a refresh, in plain text to the proxy. Now the client connects to the API itself; the proxy gets nothing."""
    values = fresh_secrets()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with EchoServer() as api, CaptureListener() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        with echo_client(api.url("ok"), values) as client:
            assert client.get("user_account/get") == USER_ACCOUNT
            with pytest.raises(AuthError):
                client.tokens.refresh()
            assert client.download(f"{api.url('ok')}/report.json")
    assert proxy.received == []
    assert api.authorizations[0] == f"Bearer {values['access']}"


def test_a_netrc_entry_never_replaces_the_authorization_header_nor_reaches_a_download(monkeypatch, tmp_path):
    """`requests` replaced the bearer header with the .netrc login of the API's host, and sent that password
    along every report download hop."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    values = fresh_secrets()
    with EchoServer() as api, echo_client(api.url("ok"), values) as client:
        client.get("user_account/get")
        client.download(f"{api.url('ok')}/report.json")
    assert api.authorizations == [f"Bearer {values['access']}", ""]


def test_the_explicit_https_proxy_sees_only_a_connect_to_the_host_never_a_header(monkeypatch, tmp_path):
    """PINTEREST_HTTPS_PROXY is the one proxy the client uses, for https URLs only, through a CONNECT tunnel:
    the proxy learns the host name, never a header. A local http base URL goes direct."""
    with CaptureListener() as proxy, EchoServer() as api:
        env = {"PINTEREST_API_BASE_URL": "https://api.example.invalid/v5", "PINTEREST_ACCESS_TOKEN": "t0k3n-value",
               "PINTEREST_HTTPS_PROXY": proxy.url, "PINTEREST_ETL_HOME": str(tmp_path), "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": "2",
               "PINTEREST_RETRY_BACKOFF_SECONDS": "0.01"}
        client, _ = client_from_env(env)
        with client, pytest.raises(TransportError):
            client.get("user_account/get")
        assert proxy.received and all(request.startswith(b"CONNECT api.example.invalid:443 ") for request in proxy.received)
        assert not any(b"t0k3n-value" in request or b"Authorization" in request for request in proxy.received)
        seen = len(proxy.received)
        client, _ = client_from_env({**env, "PINTEREST_API_BASE_URL": api.url("ok")})
        with client:
            assert client.get("user_account/get") == USER_ACCOUNT
        assert len(proxy.received) == seen


def test_a_proxy_variable_the_client_ignores_is_named_with_what_to_do(tmp_path, caplog):
    env = {"PINTEREST_ACCESS_TOKEN": "t", "PINTEREST_ETL_HOME": str(tmp_path), "HTTPS_PROXY": "http://proxy.corp:3128"}
    client_from_env(env)[0].close()
    assert "HTTPS_PROXY is set but not used" in caplog.text and "set PINTEREST_HTTPS_PROXY" in caplog.text


@pytest.mark.parametrize("value", ["proxy.corp:3128", "socks5://proxy.corp:1080", "http://proxy.corp:3128/path",
                                   "http://user:pa ss@proxy.corp:3128", "http://proxy.corp"])
def test_an_unusable_https_proxy_setting_is_refused_without_showing_it(value):
    with pytest.raises(SettingsError, match="PINTEREST_HTTPS_PROXY must be a proxy URL") as failure:
        check_client_settings({"PINTEREST_HTTPS_PROXY": value, "PINTEREST_ACCESS_TOKEN": "t"})
    assert value not in str(failure.value)


@pytest.mark.parametrize("behaviour", ["echo-401", "echo-400"])
def test_an_error_answer_echoing_the_credentials_shows_none_of_them(behaviour, caplog):
    """The server quotes the bearer header (and, in the refresh a 401 forces, the form and the Basic value)
    in its error message; the error and the log carry `****` instead."""
    values = fresh_secrets()
    with EchoServer() as api, echo_client(api.url(behaviour), values) as client, \
            pytest.raises(ApiError) as failure:
        client.get("user_account/get")
    assert "****" in str(failure.value) and len(failure.value.api_message) <= 400
    shown = str(failure.value) + repr(failure.value) + caplog.text
    assert [secret for secret in forms_of(values) if secret in shown] == []


def test_a_server_message_cannot_forge_a_log_line_or_hide_a_glued_token(caplog):
    """A 400 whose message holds a newline and a fake log line, terminal escapes, a bidirectional override and a
    token glued to other text: the error shows one line, escaped, with the token masked."""
    with EchoServer() as api, echo_client(api.url("forge"), fresh_secrets()) as client, \
            pytest.raises(ApiError) as failure:
        client.get("user_account/get")
    shown = str(failure.value)
    assert "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown and "\u2028" not in shown
    assert "pina_SSSSSSSSSS" not in shown + caplog.text and "tokenx_****" in shown
    assert "bad request\\x0a2026-11-30" in shown  # the newline is shown escaped, in place


@pytest.mark.slow
def test_a_cli_run_and_auth_commands_against_an_echoing_api_leak_no_secret(tmp_path):
    """`pinterest-etl run`, `auth status` and `auth refresh` against an API that quotes every credential it
    receives in its errors: no credential in their output, DAGSTER_HOME or PINTEREST_ETL_HOME."""
    values = fresh_secrets()
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    with EchoServer() as api:
        env = cli_env(types.SimpleNamespace(base_url=api.url("echo-401")), home, DAGSTER_HOME=str(dagster_home),
                      PINTEREST_ACCESS_TOKEN=values["access"], PINTEREST_REFRESH_TOKEN=values["refresh"],
                      PINTEREST_APP_ID="7654321", PINTEREST_APP_SECRET=values["app_secret"])
        outputs = [subprocess.run([*CLI, *command], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
                   for command in (["run", "--start", RANGE[1].isoformat(), "--end", RANGE[1].isoformat()],
                                   ["auth", "status"], ["auth", "refresh"])]
        env["PINTEREST_API_BASE_URL"] = api.url("echo-400")
        outputs.append(subprocess.run([*CLI, "auth", "status"], capture_output=True, text=True, timeout=120, env=env))
    assert [output.returncode != 0 for output in outputs] == [True] * 4
    assert "invalid_grant: grant_type=refresh_token&refresh_token=****" in outputs[2].stderr  # the refusal is shown...
    assert any(p.is_file() for p in dagster_home.rglob("*")) and "bad request; you sent Bearer ****" in outputs[3].stderr
    for secret in forms_of(values):  # ...its credentials are not
        assert leaked_anywhere(secret, outputs, home, dagster_home) == []


def test_a_value_from_an_answer_is_shown_masked_escaped_and_cut():
    from pipelines.pinterest.errors import shown_value

    assert shown_value("pinr_abc and Basic dXNlcjpwdw==") == "**** and Basic ****"
    assert shown_value("READY\n2026-01-01 ERROR forged line\x1b[2J") == "READY\\x0a2026-01-01 ERROR forged line\\x1b[2J"
    assert shown_value(float("inf")) == "Infinity" and shown_value(None) == "null" and shown_value("12") == "12"
    assert shown_value("x" * 1000) == "x" * 80 + "… (1000 chars)"
