"""A hostile HTTP server on 127.0.0.1 for the client's limits: what a broken or malicious API could do.

The first path segment picks the misbehaviour and the second is its argument (URL-quoted), so one server
serves every test and a client's base URL selects it: `http://127.0.0.1:PORT/<behaviour>/<argument>/v5`.
Behaviours:

- `drip`: 200 with a 1,000-byte body sent one byte every `drip_seconds`;
- `drip-status`: the status line sent one byte every `drip_seconds` (the headers never come);
- `drip-headers`: the status line at once, then endless headers sent one byte every `drip_seconds`;
- `drip-gzip`: 200 with `Content-Encoding: gzip` and a body whose gzip header (which decodes to nothing)
  is sent one byte every `drip_seconds`;
- `silent`: reads the request and never answers;
- `bomb`: 200 with a gzip body of `bomb_bytes` zeros (a few kB on the wire);
- `bookmarks`: a page of one item and a new bookmark, forever;
- `wait`: every other request 429 with the header of the argument (`Retry-After=nan`), else 200;
- `redirect`: 302 to the argument;
- `report`: a report token, and the report finished with the argument as its download URL;
- `file`: 200 with a small report file (`{"rows": []}`).
- `late`: 200 with its headers at once and a small report file after the argument's seconds (the
  connection kept open for the next request).

`TlsDripServer` drips a TLS handshake instead, for an https URL.
"""

from __future__ import annotations

import collections
import gzip
import http.server
import json
import socket
import threading
import time
import urllib.parse

REPORT_FILE = b'{"rows": []}'
# The start of a TLS handshake record announcing 16 kB: a client waits for all of it before it can go on.
TLS_RECORD_START = b"\x16\x03\x03\x40\x00"


class HostileServer:
    """Start with `with HostileServer() as server:`; `server.url(behaviour)` is a base URL for a client."""

    def __init__(self, drip_seconds: float = 0.5, bomb_bytes: int = 64 * 1024 * 1024):
        self.drip_seconds = drip_seconds
        self.bomb_body = gzip.compress(b"\0" * bomb_bytes, compresslevel=9)
        self.requests: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.authorizations: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="hostile-server", daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def url(self, behaviour: str, argument: str = "-") -> str:
        return f"{self.root}/{behaviour}/{urllib.parse.quote(argument, safe='')}/v5"

    def count(self, behaviour: str, authorization: str | None) -> None:
        with self._lock:
            self.requests[behaviour] += 1
            if authorization:
                self.authorizations.append(authorization)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._http.shutdown()
        self._http.server_close()


def _handler(server: HostileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            return

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server.connections += 1

        def do_GET(self) -> None:  # noqa: N802 - stdlib signature
            self.serve()

        def do_POST(self) -> None:  # noqa: N802 - stdlib signature
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.serve()

        def serve(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            behaviour, _, rest = parts.path.strip("/").partition("/")
            argument = urllib.parse.unquote(rest.partition("/")[0])
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
            server.count(behaviour, self.headers.get("Authorization"))
            try:
                getattr(self, f"answer_{behaviour.replace('-', '_')}", self.answer_unknown)(argument, query)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
                self.close_connection = True

        def send(self, status: int, body: bytes, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def answer_unknown(self, argument: str, query: dict) -> None:
            self.send(404, b'{"code": 404, "message": "no such behaviour"}')

        def answer_drip(self, argument: str, query: dict) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if server.stop.wait(server.drip_seconds):
                    return
                self.wfile.write(b" ")
                self.wfile.flush()

        def drip(self, data: bytes) -> None:
            """`data` one byte every `drip_seconds`; then the connection is closed."""
            self.close_connection = True
            for byte in data:
                if server.stop.wait(server.drip_seconds):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        def answer_drip_status(self, argument: str, query: dict) -> None:
            self.drip(b"HTTP/1.1 200 OK" + b" " * 60_000)

        def answer_drip_headers(self, argument: str, query: dict) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            self.wfile.flush()
            self.drip(b"X-Slow: " + b"a" * 60_000)

        def answer_drip_gzip(self, argument: str, query: dict) -> None:
            # A gzip header with a 60,000-byte file name: all of it decodes to no byte of content.
            header = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff" + b"a" * 60_000 + b"\x00"
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(header)))
            self.end_headers()
            self.wfile.flush()
            self.drip(header)

        def answer_silent(self, argument: str, query: dict) -> None:
            server.stop.wait()
            self.close_connection = True

        def answer_bomb(self, argument: str, query: dict) -> None:
            self.send(200, server.bomb_body, Content_Encoding="gzip", Content_Type="application/json")

        def answer_bookmarks(self, argument: str, query: dict) -> None:
            page = int(query.get("bookmark", "page-0").removeprefix("page-")) + 1
            self.send(200, json.dumps({"items": [{"id": str(page)}], "bookmark": f"page-{page}"}).encode())

        def answer_wait(self, argument: str, query: dict) -> None:
            if server.requests["wait"] % 2:
                name, _, value = argument.partition("=")
                self.send(429, b'{"code": 8, "message": "rate limited"}', **{name.replace("-", "_"): value})
            else:
                self.send(200, b'{"username": "hostile"}')

        def answer_redirect(self, argument: str, query: dict) -> None:
            self.send(302, b"", Location=argument)

        def answer_report(self, argument: str, query: dict) -> None:
            self.send(200, json.dumps({"token": "report-1", "report_status": "FINISHED", "url": argument}).encode())

        def answer_file(self, argument: str, query: dict) -> None:
            self.send(200, REPORT_FILE)

        def answer_late(self, argument: str, query: dict) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(REPORT_FILE)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(float(argument))
            self.wfile.write(REPORT_FILE)

    return Handler


class TlsDripServer:
    """A TCP server on 127.0.0.1 that answers a TLS ClientHello with a handshake record sent one byte every
    `drip_seconds` (a client's TLS handshake never ends). `url` is an https base URL for a client."""

    def __init__(self, drip_seconds: float = 0.2):
        self.drip_seconds = drip_seconds
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, name="tls-drip-server", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}/v5"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed: the server stops
                return
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)  # the ClientHello
                for byte in TLS_RECORD_START + b"\0" * 16384:
                    if self.stop.wait(self.drip_seconds):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:  # the client gave up, as it should
                return

    def __enter__(self) -> TlsDripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._listener.close()


def wait_until(condition, seconds: float = 10.0) -> bool:
    """Poll `condition` until it is true or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())
