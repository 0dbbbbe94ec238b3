"""OAuth end to end against the simulator, the token file, and the `pinterest-etl auth` commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.parse

import pytest
import requests

from pipelines.pinterest.credentials import CredentialsError, Secret, TokenFile, Tokens, load_tokens
from pipelines.pinterest.errors import AuthError
from pipelines.pinterest.oauth import login
from tests.client_support import SIMULATOR_APP, server_stats


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_login_runs_the_authorization_code_flow_end_to_end(make_sandbox):
    server = make_sandbox()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    shown = []

    def browser(url: str) -> None:
        shown.append(url)
        # The simulator's consent stand-in approves at once and redirects to our listener.
        assert requests.get(url, timeout=10).status_code == 200

    tokens = login(server.base_url, SIMULATOR_APP, browser, redirect_uri=redirect_uri, scopes=("pins:read", "boards:read"))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(shown[0]).query)
    assert shown[0].startswith(f"{server.root_url}/oauth/?")
    assert query["client_id"] == ["1234567"] and query["redirect_uri"] == [redirect_uri] and len(query["state"][0]) >= 20
    assert tokens.scope == "boards:read,pins:read" and tokens.refresh_token and tokens.expires_at
    me = requests.get(f"{server.base_url}/pins", headers={"Authorization": f"Bearer {tokens.access_token.reveal()}"})
    assert me.status_code == 200


def test_login_rejects_a_callback_with_the_wrong_state(make_sandbox):
    server = make_sandbox()
    port = free_port()

    def forged(url: str) -> None:
        requests.get(f"http://127.0.0.1:{port}/?code=stolen&state=not-the-one", timeout=10)

    with pytest.raises(CredentialsError, match="different state"):
        login(server.base_url, SIMULATOR_APP, forged, redirect_uri=f"http://127.0.0.1:{port}/")
    assert server_stats(server)["requests"] == {}  # no code was exchanged


def test_login_refuses_a_non_loopback_redirect(make_sandbox):
    server = make_sandbox()
    with pytest.raises(CredentialsError, match="redirect URI"):
        login(server.base_url, SIMULATOR_APP, lambda url: None, redirect_uri="https://example.com/cb")


def test_login_with_a_rejected_app_secret_is_a_clear_auth_error(make_sandbox):
    from pipelines.pinterest.credentials import AppCredentials

    server = make_sandbox()
    port = free_port()
    with pytest.raises(AuthError, match="Authentication failed") as failure:
        login(server.base_url, AppCredentials("1234567", Secret("wrong-secret")), lambda url: requests.get(url, timeout=10),
              redirect_uri=f"http://127.0.0.1:{port}/")
    assert "wrong-secret" not in str(failure.value)


def test_token_file_is_written_0600_and_read_back(tmp_path):
    file = TokenFile(tmp_path / "nested" / "token.json")
    tokens = Tokens(Secret("pina_x"), Secret("pinr_y"), expires_at=123.0, scope="pins:read", issued_at=100.0)
    file.write(tokens)
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert file.read() == tokens
    assert not [p for p in file.path.parent.iterdir() if p.name != "token.json"]  # no temporary file left


def test_a_token_file_readable_by_others_is_refused(tmp_path):
    file = TokenFile(tmp_path / "token.json")
    file.write(Tokens(Secret("pina_x")))
    os.chmod(file.path, 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        file.read()


def test_a_corrupt_token_file_says_how_to_recover(tmp_path):
    path = tmp_path / "token.json"
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(CredentialsError, match="auth login"):
        TokenFile(path).read()


def test_the_token_file_wins_over_the_environment(tmp_path):
    file = TokenFile(tmp_path / "token.json")
    file.write(Tokens(Secret("pina_file")))
    tokens, source = load_tokens({"PINTEREST_ACCESS_TOKEN": "pina_env"}, file)
    assert tokens.access_token.reveal() == "pina_file" and "token file" in source
    tokens, source = load_tokens({"PINTEREST_ACCESS_TOKEN": "pina_env"}, TokenFile(tmp_path / "none.json"))
    assert tokens.access_token.reveal() == "pina_env" and source == "environment"


def test_secrets_never_print():
    assert "pina_abc" not in repr(Tokens(Secret("pina_abc"), Secret("pinr_def")))
    assert "pina_abc" not in str(Secret("pina_abc"))


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "auth", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_auth_status_and_refresh_commands_never_print_tokens(make_sandbox, tmp_path):
    server = make_sandbox()
    env = {"PINTEREST_API_BASE_URL": server.base_url, "PINTEREST_ACCESS_TOKEN": "pina_SANDBOX",
           "PINTEREST_REFRESH_TOKEN": "pinr_SANDBOX", "PINTEREST_ETL_HOME": str(tmp_path)}
    status = cli("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "works: yes (user @sandbox_studio" in status.stdout and "environment" in status.stdout
    refreshed = cli("refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    token_file = tmp_path / "credentials" / "pinterest-token.json"
    saved = json.loads(token_file.read_text())
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    after = cli("status", env=env)
    assert after.returncode == 0 and "token file" in after.stdout
    for output in (status, refreshed, after):
        text = output.stdout + output.stderr
        for secret in ("pina_SANDBOX", "pinr_SANDBOX", "sandbox-secret", saved["access_token"], saved["refresh_token"]):
            assert secret not in text


def test_auth_status_without_credentials_explains_what_to_set(tmp_path):
    result = cli("status", env={"PINTEREST_ETL_HOME": str(tmp_path), "PINTEREST_ACCESS_TOKEN": "",
                                "PINTEREST_REFRESH_TOKEN": ""})
    assert result.returncode == 1
    assert "PINTEREST_ACCESS_TOKEN" in result.stderr and "auth login" in result.stderr and "Traceback" not in result.stderr


def test_auth_rejects_a_plain_http_base_url_for_a_remote_host(tmp_path):
    result = cli("status", env={"PINTEREST_ETL_HOME": str(tmp_path), "PINTEREST_ACCESS_TOKEN": "pina_x",
                                "PINTEREST_API_BASE_URL": "http://api.example.com/v5"})
    assert result.returncode == 1 and "https" in result.stderr


def test_endpoint_descriptions_match_the_official_description(spec):
    from pipelines.pinterest.endpoints import ENDPOINTS

    for described in ENDPOINTS.values():
        operation = spec["paths"][described.path][described.method.lower()]
        assert operation["operationId"] == described.name
        assert operation["x-ratelimit-category"] == described.category, described.name


def refresh_with(server, app) -> AuthError:
    """The AuthError of refreshing the development tokens against `server` with `app`'s credentials."""
    from pipelines.pinterest.oauth import TokenManager

    manager = TokenManager(Tokens(Secret("pina_SANDBOX"), Secret("pinr_SANDBOX")), requests.Session(), server.base_url,
                           app, None)
    with pytest.raises(AuthError) as failure:
        manager.refresh()
    return failure.value


def test_a_refresh_token_refused_with_code_283_is_named_and_the_app_credentials_are_not_blamed(make_sandbox):
    server = make_sandbox(refresh_tokens_revoked=True)
    error = refresh_with(server, SIMULATOR_APP)
    assert (error.status, error.code) == (401, 283)
    assert str(error).startswith("oauth/token: HTTP 401, Pinterest code 283: The authorization grant is invalid "
                                 "(Pinterest refused the refresh token: it has expired or was revoked; run "
                                 "`pinterest-etl auth login` to authorize again)")
    assert "app credentials" not in str(error) and "PINTEREST_APP_SECRET" not in str(error)
    assert not {"pina_SANDBOX", "pinr_SANDBOX", "sandbox-secret"} & set(str(error).split())
    assert server_stats(server)["requests"] == {"oauth/token": 1}  # a refused grant is not retried


def test_a_refresh_refused_for_the_app_credentials_still_names_them(make_sandbox):
    from pipelines.pinterest.credentials import AppCredentials

    error = refresh_with(make_sandbox(refresh_tokens_revoked=True), AppCredentials("1234567", Secret("wrong-secret")))
    assert (error.status, error.code) == (401, 2)
    assert "Pinterest rejected the app credentials (app id 1234567): check PINTEREST_APP_ID and PINTEREST_APP_SECRET" \
        in str(error)
    assert "wrong-secret" not in str(error)
