"""PINTEREST_CA_BUNDLE: the one way to trust another CA (a TLS-inspecting proxy's), as the client's sessions ignore
REQUESTS_CA_BUNDLE; checked up front. Real TLS against a local https server with a self-signed certificate."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import settings
from pipelines.clients import client_from_env
from pipelines.pinterest.errors import CertificateError
from pipelines.run_settings import check_all
from tests.fault_support import FAST_RETRIES

USER_ACCOUNT = {"username": "behind_the_proxy", "account_type": "BUSINESS"}


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (what an inspecting proxy's CA looks like to a client) and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate (the cryptography package is not installed)")
    cert, key = tmp_path / "proxy-ca.pem", tmp_path / "proxy-ca.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class _UserAccount(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        body = json.dumps(USER_ACCOUNT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        return  # a refused handshake is what the test expects


@pytest.fixture
def https_api(certificate) -> Iterator[str]:
    """The base URL of an https API answering every GET with a user account, under the self-signed certificate."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _QuietServer(("127.0.0.1", 0), _UserAccount)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v5"
    finally:
        server.shutdown()
        server.server_close()


def client_env(base_url: str, home: Path, **extra: str) -> dict[str, str]:
    return {"PINTEREST_API_BASE_URL": base_url, "PINTEREST_ACCESS_TOKEN": "pina_TEST", "PINTEREST_ETL_HOME": str(home),
            "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": "3", **FAST_RETRIES, **extra}


def test_a_server_under_an_unknown_ca_is_refused_even_with_requests_ca_bundle_set(https_api, certificate, tmp_path):
    """REQUESTS_CA_BUNDLE stays ignored: the sessions take nothing from the environment."""
    client, _ = client_from_env(client_env(https_api, tmp_path))
    os.environ["REQUESTS_CA_BUNDLE"] = str(certificate[0])
    try:
        with client, pytest.raises(CertificateError, match=r"user_account/get: the TLS certificate of 127\.0\.0\.1 "
                                   r"could not be verified; if a proxy inspects TLS with its own CA, set "
                                   r"PINTEREST_CA_BUNDLE"):
            client.get("user_account/get")
        assert client.stats.retries == 0  # retrying cannot help: the first failure is the answer
    finally:
        del os.environ["REQUESTS_CA_BUNDLE"]


def test_pinterest_ca_bundle_makes_the_client_trust_that_ca(https_api, certificate, tmp_path):
    client, _ = client_from_env(client_env(https_api, tmp_path, PINTEREST_CA_BUNDLE=str(certificate[0])))
    with client:
        assert client.get("user_account/get") == USER_ACCOUNT


def test_pinterest_ca_bundle_may_name_a_directory_of_hashed_certificates(https_api, certificate, tmp_path):
    cert = certificate[0]
    hashed = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert)], check=True, capture_output=True,
                            text=True, timeout=60).stdout.strip()
    directory = tmp_path / "cas"
    directory.mkdir()
    shutil.copy(cert, directory / f"{hashed}.0")
    client, _ = client_from_env(client_env(https_api, tmp_path, PINTEREST_CA_BUNDLE=str(directory)))
    with client:
        assert client.get("user_account/get") == USER_ACCOUNT


@pytest.mark.parametrize("problem", ["missing", "not PEM"])
def test_a_ca_bundle_that_cannot_work_is_refused_before_anything_runs(tmp_path, problem):
    bundle = tmp_path / "bundle.pem"
    if problem == "not PEM":
        bundle.write_text("not a certificate\n")
    env = {"PINTEREST_ETL_HOME": str(tmp_path / "home"), "PINTEREST_CA_BUNDLE": str(bundle)}
    with pytest.raises(settings.SettingsError, match=f"PINTEREST_CA_BUNDLE names {bundle}, which"):
        check_all(env)


def test_auth_login_reads_the_http_limits_and_the_ca_bundle_before_the_consent_page(tmp_path):
    """A limit or a bundle that cannot work ends the login before the consent page is shown, not after."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_")}
    for name, value in (("PINTEREST_HTTP_TIMEOUT_SECONDS", "soon"), ("PINTEREST_CA_BUNDLE", str(tmp_path / "none.pem"))):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "auth", "login", "--no-browser", "--timeout", "5"],
                              capture_output=True, text=True, timeout=60,
                              env={**base, "PINTEREST_ETL_HOME": str(tmp_path), "PINTEREST_API_BASE_URL":
                                   "http://127.0.0.1:9/v5", name: value})
        assert done.returncode != 0 and name in done.stderr, done.stderr
        assert "Open this URL" not in done.stdout


@pytest.mark.parametrize("command, exit_code", [(("run", "--only", "organic"), 2), (("auth", "status"), 1)])
def test_a_ca_bundle_that_is_a_fifo_is_refused_instead_of_hanging_the_settings_check(make_sandbox, tmp_path, command,
                                                                                     exit_code):
    """PINTEREST_CA_BUNDLE naming a named pipe (a process substitution such as <(cat corp-ca.pem)) exists, is
    readable and is not a directory: opening it as certificates blocked until something wrote to it, so every
    command hung in its settings check, forever, with no message. Refused (with each command's exit code for a
    refused setting)."""
    from tests.conftest import TODAY
    from tests.process_support import CLI, cli_env

    server = make_sandbox()
    fifo = tmp_path / "corp-ca.pem"
    os.mkfifo(fifo)
    env = cli_env(tmp_path / "home", server, TODAY, PINTEREST_CA_BUNDLE=str(fifo))
    try:
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the command still hangs after 30 s")
    assert done.returncode == exit_code, done.stderr[-400:]
    assert f"PINTEREST_CA_BUNDLE names {fifo}, which is neither a regular file nor a directory" in done.stderr
