"""An S3 protocol server on 127.0.0.1 for the object-store tests (moto's server mode, a real HTTP server that
speaks S3's REST API and XML), its buckets seen through boto3, and servers that answer as an S3 store must not.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

moto_server = pytest.importorskip("moto.server", reason="moto (the dev extra) runs the local S3 server")
boto3 = pytest.importorskip("boto3", reason="boto3 (installed with moto) inspects the local S3 server's buckets")

ACCESS_KEY, SECRET_KEY = "AKIATESTSTOREKEY0001", "store-secret-Zq81pXv0t9mWc3"


class S3Server:
    """moto's S3 server on a free port of 127.0.0.1, for the test session."""

    def __init__(self):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        self._server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """What a process needs to reach it (the AWS SDKs' variables), plus `extra`."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint, **extra}

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"etl-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix`, by key, with its bytes."""
        client = self.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.client()
        return sorted(o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                      for o in page.get("Contents", []))

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=body)


def without_aws(env: dict[str, str]) -> dict[str, str]:
    """`env` without any AWS setting of the machine running the tests (a profile, a region, keys)."""
    return {k: v for k, v in env.items() if not k.startswith("AWS_")}


class _Answering(http.server.BaseHTTPRequestHandler):
    status, content_type, body = 200, "text/html", b"<html><body>Welcome</body></html>"

    def _answer(self):
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def answering_server(status: int, content_type: str, body: bytes) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request alike; its URL."""
    handler = type("Handler", (_Answering,), {"status": status, "content_type": content_type, "body": body})
    with _serving(handler) as url:
        yield url


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` on a free port of 127.0.0.1, in threads that do not hold the test process; its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# What S3 answers for an access key it does not know.
INVALID_ACCESS_KEY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS '
                      b'Access Key Id you provided does not exist in our records.</Message><RequestId>T1</RequestId>'
                      b'</Error>')
# What S3 answers for a request its policy does not allow (read-only credentials writing).
ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied'
                 b'</Message><RequestId>T2</RequestId></Error>')


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Trickling(http.server.BaseHTTPRequestHandler):
    """Answers 200 with a long body sent two bytes at a time, slowly enough to take for ever but fast enough that
    no low-speed limit of 1 byte/s gives up."""

    def _answer(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(50000):
                self.wfile.write(b"<x")
                self.wfile.flush()
                time.sleep(0.5)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def trickling_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request by trickling (see _Trickling); its URL."""
    with _serving(_Trickling) as url:
        yield url


class FaultyProxy:
    """A proxy on 127.0.0.1 in front of an S3 server, for reading (it does not pass uploads' chunked bodies on),
    that fails or trickles some object reads (a GET of a key, not a listing) as a loaded or broken S3 endpoint does: `fail_reads` answers 503 SlowDown to that many of them,
    `trickle_reads` sends every one two bytes at a time for ever. `reads` counts the object reads seen."""

    def __init__(self, target: str, *, fail_reads: int = 0, trickle_reads: bool = False):
        import http.client
        import urllib.parse

        proxy = self
        self.fail_reads, self.reads = fail_reads, 0
        target_netloc = urllib.parse.urlsplit(target).netloc

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # reads only: no upload
                headers = dict(self.headers)
                path = urllib.parse.urlsplit(self.path)
                if self.command == "GET" and "list-type" not in path.query and path.path.count("/") >= 2 \
                        and path.query == "":
                    proxy.reads += 1
                    if trickle_reads:
                        return _Trickling._answer(self)
                    if proxy.fail_reads > 0:
                        proxy.fail_reads -= 1
                        answer = SLOW_DOWN
                        self.send_response(503)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer)
                        return None
                connection = http.client.HTTPConnection(target_netloc, timeout=30)
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", answer.getheader("Content-Length", "0") if self.command == "HEAD"
                                 else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()
                return None

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self._serving = _serving(Handler)
        self.endpoint = self._serving.__enter__()

    def stop(self) -> None:
        self._serving.__exit__(None, None, None)


# What S3 answers a client it throttles.
SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request '
             b'rate.</Message><RequestId>T3</RequestId></Error>')
