"""A hostile HTTP server on 127.0.0.1 for the client's limits: what a broken or malicious API could do.

The first path segment picks the misbehaviour and the second is its argument (URL-quoted), so one server
serves every test and a client's base URL selects it: `http://127.0.0.1:PORT/<behaviour>/<argument>/v5`.
Behaviours:

- `drip`: 200 with a 1,000-byte body sent one byte every `drip_seconds`;
- `silent`: reads the request and never answers;
- `bomb`: 200 with a gzip body of `bomb_bytes` zeros (a few kB on the wire);
- `bookmarks`: a page of one item and a new bookmark, forever;
- `wait`: every other request 429 with the header of the argument (`Retry-After=nan`), else 200;
- `redirect`: 302 to the argument;
- `report`: a report token, and the report finished with the argument as its download URL;
- `file`: 200 with a small report file (`{"rows": []}`).
"""

from __future__ import annotations

import collections
import gzip
import http.server
import json
import threading
import time
import urllib.parse

REPORT_FILE = b'{"rows": []}'


class HostileServer:
    """Start with `with HostileServer() as server:`; `server.url(behaviour)` is a base URL for a client."""

    def __init__(self, drip_seconds: float = 0.5, bomb_bytes: int = 64 * 1024 * 1024):
        self.drip_seconds = drip_seconds
        self.bomb_body = gzip.compress(b"\0" * bomb_bytes, compresslevel=9)
        self.requests: collections.Counter[str] = collections.Counter()
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
                getattr(self, f"answer_{behaviour}", self.answer_unknown)(argument, query)
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

    return Handler


def wait_until(condition, seconds: float = 10.0) -> bool:
    """Poll `condition` until it is true or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())
